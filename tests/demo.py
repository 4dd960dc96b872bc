#!/usr/bin/env python3
"""make demo: cairn's main job on local emulated clusters, end to end.

Starts a 3-node emulated ScyllaDB cluster with an agent per node (mutual TLS), writes
data, backs it up, writes more and backs up again (showing how little travels the second
time), then restores the latest backup with its schema into a new cluster of another
shape (4 nodes in two DCs, new host ids) and compares the content digests.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
CLUSTER_PY = os.path.join(HERE, 'emulator', 'cluster.py')
SHARED_SETS = os.path.join(SOURCE, '..', 'shared', 'scylla', 'sstables')
MiB = 1 << 20


def step(text):
    print('\n\033[1m== %s\033[0m' % text if sys.stdout.isatty() else '\n== %s' % text,
          flush=True)


def shown(args):
    """The command as the reader would type it from the checkout."""
    return ' '.join('python3' if a == sys.executable else
                    os.path.relpath(a) if a.startswith(SOURCE) else a for a in args)


def run(args, quiet=False):
    """Runs a command the reader may repeat; quiet keeps its output unless it fails."""
    print('$ ' + shown(args), flush=True)
    p = subprocess.run(args, capture_output=quiet, text=True)
    if p.returncode != 0:
        if quiet:
            sys.stderr.write(p.stdout + p.stderr)
        sys.exit('demo: the command above failed (exit %d)' % p.returncode)
    return p


def cairn_json(args):
    """A cairn command whose --json answer the demo summarises instead of printing."""
    p = run(args + ['--json'], quiet=True)
    return json.loads(p.stdout)


def human(n):
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return '%.1f %s' % (n, unit) if unit != 'B' else '%d B' % n
        n /= 1024.0


def rest(node, method, route, show=True, **params):
    url = 'http://%s:%d%s?%s' % (node['address'], node['rest_port'], route,
                                 urllib.parse.urlencode(params))
    if show:
        print("$ curl -X %s '%s'" % (method, url), flush=True)
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=120) as r:
        body = r.read()
    return json.loads(body) if body else None


def start(d, nodes, base, name, bin_dir, extra=()):
    run([sys.executable, CLUSTER_PY, 'start', '--dir', d, '--nodes', str(nodes),
         '--data-dirs', '2', '--base-address', base, '--cluster-name', name,
         '--with-agents', '--bin-dir', bin_dir] + list(extra), quiet=True)
    with open(os.path.join(d, 'cluster.json')) as f:
        nodes = json.load(f)['nodes']
    print('started %d emulated nodes (%s) and their agents; the coordinator\'s configuration '
          'is %s' % (len(nodes), ', '.join(n['address'] for n in nodes),
                     os.path.relpath(os.path.join(d, 'cairn.yaml'))))
    return nodes


def backup(cairn, cfg, tag):
    """Backs up and says what travelled: read on the nodes, uploaded, stored."""
    out = cairn_json([cairn, '-c', cfg, 'backup', '--tag', tag])
    listed = {b['tag']: b for b in cairn_json([cairn, '-c', cfg, 'list'])}
    stored = listed[tag].get('stored_bytes')
    print('backup %s: read %s (%d files on %d nodes), uploaded %s the repository lacked, '
          'stored %s compressed; %.1f s'
          % (tag, human(out['bytes']), out['files'], out['nodes'], human(out['uploaded_bytes']),
             human(stored) if stored is not None else '?', out['duration_ms'] / 1000.0))


def digests(nodes, tables):
    """Per table, the multiset of Data.db SHA-256 over the whole cluster."""
    out = {}
    for ks, t in tables:
        out[(ks, t)] = sorted(h for n in nodes for h in rest(
            n, 'GET', '/emulator/digest', show=False, keyspace=ks,
            table=t)['%s.%s' % (ks, t)])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--dir', default=os.path.join(SOURCE, 'demo-run'))
    args = ap.parse_args()
    bin_dir = os.path.abspath(os.path.join(args.build, 'bin'))
    cairn = os.path.join(bin_dir, 'cairn')
    src_dir, dst_dir = os.path.join(args.dir, 'source'), os.path.join(args.dir, 'target')
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    try:
        step('a 3-node emulated cluster, one cairn-agent per node, mutual TLS')
        src = start(src_dir, 3, '127.77.1.1', 'demo', bin_dir)
        cfg = os.path.join(src_dir, 'cairn.yaml')
        run([cairn, '-c', cfg, 'status'])

        step('data: two tables written on every node, and real SSTables if ../shared is there')
        tables = [('shop', 'orders'), ('shop', 'customers')]
        for ks, t in tables:
            rest(src[0], 'POST', '/emulator/create_table', keyspace=ks, table=t, rf=3)
        for i, n in enumerate(src):
            rest(n, 'POST', '/emulator/write', show=i == 0, keyspace='shop', table='orders',
                 bytes=24 * MiB, seed=10 + i, compressibility=0.5, flush='true')
            rest(n, 'POST', '/emulator/write', show=i == 0, keyspace='shop', table='customers',
                 bytes=4 * MiB, seed=20 + i, compressibility=0.8, flush='true')
        print('(and the same writes on the other nodes)')
        if os.path.isdir(SHARED_SETS):
            rest(src[0], 'POST', '/emulator/create_table', keyspace='fixtures', table='lz4',
                 rf=3)
            rest(src[0], 'POST', '/emulator/plant', keyspace='fixtures', table='lz4',
                 path=os.path.abspath(os.path.join(SHARED_SETS, 'mc-lz4')))
            tables.append(('fixtures', 'lz4'))

        step('backup 1: everything is new')
        backup(cairn, cfg, 'demo-1')

        step('more writes on one node, then backup 2: only the new SSTables travel')
        rest(src[1], 'POST', '/emulator/write', keyspace='shop', table='orders', bytes=2 * MiB,
             seed=99, compressibility=0.5, flush='true')
        backup(cairn, cfg, 'demo-2')
        run([cairn, '-c', cfg, 'list'])
        before = digests(src, tables)

        step('restore the latest backup, schema included, into a new 4-node cluster in 2 DCs')
        repo = 'file://' + os.path.join(src_dir, 'repo')
        dst = start(dst_dir, 4, '127.77.2.1', 'demo-new', bin_dir,
                    ['--dcs', 'dc1:2,dc2:2', '--repository', repo])
        dcfg = os.path.join(dst_dir, 'cairn.yaml')
        run([cairn, '-c', dcfg, 'restore', 'latest', '--from-cluster', 'demo', '--schema'])
        after = digests(dst, tables)

        step('content digests: every Data.db of the source is back in the target')
        ok = True
        print('%-22s %14s %14s  %s' % ('TABLE', 'SOURCE FILES', 'TARGET FILES', 'RESULT'))
        for key in tables:
            same = sorted(before[key]) == sorted(after[key])
            ok = ok and same
            print('%-22s %14d %14d  %s' % ('.'.join(key), len(before[key]), len(after[key]),
                                           'identical' if same else 'DIFFERENT'))
        if not ok:
            sys.exit('demo: the restored cluster does not hold the backed-up data')
        print('\ndemo complete: backup, incremental backup and restore onto another shape.')
        print('The clusters are stopped; %s keeps their files, the repository under '
              'source/repo.' % os.path.relpath(args.dir))
    finally:
        for d in (dst_dir, src_dir):
            if os.path.exists(os.path.join(d, 'cluster.json')):
                subprocess.run([sys.executable, CLUSTER_PY, 'stop', '--dir', d],
                               capture_output=True)


if __name__ == '__main__':
    main()
