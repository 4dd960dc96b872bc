"""Figure 1: full backup throughput of a 3-node cluster into a file:// repository,
against `cp -r` + `sync`, `rclone copy` (+ `sync`) and `restic backup` (+ `sync`) of the
very same snapshot files.

The snapshot the baselines copy is taken once through the REST API (tag `benchsrc`);
every `cairn backup` snapshots the same, unchanged SSTables again, so all contenders
read the same inodes. Every run writes into a new, empty destination; before every run
the benchmark syncs and drops the page cache of the data directories (posix_fadvise), so
all contenders start from the same cache state.

Contenders, interleaved in every repetition:
  cp        one `cp -r` per node (all nodes at once, as cairn's agents run), then `sync`
  rclone    one `rclone copy` per node (defaults: 4 transfers, hash check), then `sync`
  restic    one `restic backup` per node into its own new repository (created untimed;
            Debian's restic, default settings: content-defined chunking, deduplication,
            zstd "auto" compression, AES-256 encryption), then `sync`
  cairn     `cairn backup` into a fresh repository, agents restarted with an empty state
            directory (cold hash cache: every byte hashed, compressed, written, fsynced)
  cairn-hc  the same with the agents' hash cache warm (hashing skipped; still a full upload)
"""

import os
import shutil

from common import (MB, BenchError, alternate, evict, log, median, rmtree, timed,
                    timed_group, tree_bytes)

KEYSPACE = 'bench'
SRC_TAG = 'benchsrc'


def populate(bed, p):
    """Tables x SSTables per node, distinct bytes on every node (no cross-node dedup)."""
    tables = ['t%d' % i for i in range(p['tables'])]
    for t in tables:
        bed.create_table(KEYSPACE, t, rf=3)

    def node(n):
        # One write at a time on a node: concurrent flushes of one table may merge.
        for _ in range(p['sstables']):
            for t in tables:
                bed.write(KEYSPACE, t, p['sstable_bytes'], n,
                          compressibility=p['compressibility'], flush=True)
    bed.parallel(node, bed.nodes, workers=len(bed.nodes))
    return tables


def run(bed, p, work, reps, rclone_conf):
    for tool in ('rclone', 'restic'):
        if not shutil.which(tool):
            raise BenchError('%s is not installed: CAIRN_BENCH_DEPS=1 scripts/deps.sh installs it'
                             % tool)
    tables = populate(bed, p)
    bed.snapshot(SRC_TAG, KEYSPACE)
    srcs = {n['name']: bed.snapshot_dirs(n, KEYSPACE, SRC_TAG) for n in bed.nodes}
    nbytes, nfiles = tree_bytes([d for v in srcs.values() for d in v])
    log('full backup: %d files, %.1f MB over %d nodes' % (nfiles, nbytes / MB, len(bed.nodes)))
    state = {'i': 0}

    def dest(name):
        state['i'] += 1
        d = os.path.join(work, 'full-%s-%d' % (name, state['i']))
        rmtree(d)
        os.makedirs(d)
        return d

    def cp():
        d = dest('cp')
        argvs = []
        for n in bed.nodes:
            cmds = []
            for s in srcs[n['name']]:
                table_dir = os.path.basename(os.path.dirname(os.path.dirname(s)))
                to = os.path.join(d, n['name'], table_dir)
                cmds.append('mkdir -p "%s" && cp -r "%s" "%s/"' % (to, s, to))
            argvs.append(['sh', '-c', ' && '.join(cmds)])
        r = timed_group(argvs, then=['sync'])
        got, _ = tree_bytes([d])
        rmtree(d)
        if got != nbytes:
            raise BenchError('cp copied %d bytes instead of %d' % (got, nbytes))
        return r

    def rclone():
        d = dest('rclone')
        argvs = []
        for n in bed.nodes:
            for dd in n['data_dirs']:
                argvs.append(['rclone', '--config', rclone_conf, 'copy',
                              os.path.join(dd, KEYSPACE),
                              os.path.join(d, n['name'], os.path.basename(dd)),
                              '--include', '/*/snapshots/%s/**' % SRC_TAG])
        r = timed_group(argvs, then=['sync'])
        got, _ = tree_bytes([d])
        rmtree(d)
        if got != nbytes:
            raise BenchError('rclone copied %d bytes instead of %d' % (got, nbytes))
        return r

    def restic():
        d = dest('restic')
        env = dict(os.environ, RESTIC_PASSWORD='bench', RESTIC_CACHE_DIR=os.path.join(d, 'cache'))
        argvs = []
        for n in bed.nodes:
            repo = os.path.join(d, n['name'])
            timed(['restic', 'init', '--repo', repo, '-q'], env=env)
            argvs.append(['restic', '--repo', repo, 'backup', '-q'] + srcs[n['name']])
        r = timed_group(argvs, then=['sync'], env=env)
        rmtree(d)
        return r

    def cairn(label):
        def fn():
            d = dest(label)
            cfg = bed.config('file://' + d)
            cpu0 = bed.agents_cpu()
            r = timed(bed.cairn_argv(cfg, 'backup', '--json'))
            r.cpu += bed.agents_cpu() - cpu0
            doc = r.json()
            r.extra = {'summary': doc, 'agent_peak_rss_kib': max(bed.agents_peak_rss_kib()),
                       'stored_bytes': sum(tree_bytes([os.path.join(d, k)], skip=())[0]
                                           for k in ('blobs', 'packs'))}
            rmtree(d)
            if doc['bytes'] != nbytes:
                raise BenchError('cairn backed up %d bytes instead of %d' % (doc['bytes'], nbytes))
            return r
        return fn

    def before(name):
        if name == 'cairn':
            bed.restart_agents(clear_state=True)      # a cold hash cache
        evict(bed.data_dirs())

    # A first backup, untimed: checks that everything works and warms the hash cache.
    cairn('warmup')()
    contenders = [('cp -r + sync', cp), ('rclone copy + sync', rclone),
                  ('restic backup + sync', restic), ('cairn', cairn('cairn')),
                  ('cairn-hc', cairn('cairn-hc'))]
    names = {'cp -r + sync': 'cp', 'rclone copy + sync': 'rclone',
             'restic backup + sync': 'restic', 'cairn': 'cairn', 'cairn-hc': 'cairn-hc'}
    runs = alternate(contenders, reps, before_each=lambda n: before(names[n]), label='full')
    runs = {names[k]: v for k, v in runs.items()}
    bed.clear_snapshot(SRC_TAG)

    out = {'bytes': nbytes, 'files': nfiles, 'nodes': len(bed.nodes), 'tables': len(tables),
           'runs': {k: [_run_doc(r) for r in v] for k, v in runs.items()}}
    med = {k: median([r.wall for r in v]) for k, v in runs.items()}
    out['median_s'] = med
    out['mb_s'] = {k: nbytes / MB / v for k, v in med.items()}
    out['cpu_s_per_gb'] = {k: median([r.cpu for r in v]) / (nbytes / 1e9)
                           for k, v in runs.items()}
    # Ratios per repetition (side by side), then their median.
    for base in ('cp', 'rclone', 'restic'):
        out['ratio_vs_%s' % base] = median([b.wall / c.wall for b, c in
                                            zip(runs[base], runs['cairn'])])
        out['ratio_hc_vs_%s' % base] = median([b.wall / c.wall for b, c in
                                               zip(runs[base], runs['cairn-hc'])])
    out['cairn_duration_ms'] = median([r.extra['summary']['duration_ms'] for r in runs['cairn']])
    out['stored_bytes'] = median([r.extra['stored_bytes'] for r in runs['cairn']])
    out['agent_peak_rss_kib'] = max(r.extra['agent_peak_rss_kib'] for r in runs['cairn'])
    return out, tables


def _run_doc(r):
    d = {'wall_s': round(r.wall, 4), 'cpu_s': round(r.cpu, 4), 'maxrss_kib': r.maxrss_kib}
    if r.extra.get('summary'):
        d['summary'] = r.extra['summary']
    return d
