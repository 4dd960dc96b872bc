"""Figure 6: S3, against moto_server on loopback: requests per backup and per SSTable, and
throughput against `rclone copy` to the same endpoint.

moto_server logs one line per request (method, path, status); the benchmark counts the
lines each run adds. Both contenders copy the same snapshot (keyspace `s3` of the
3-node cluster, figure 1's layout of 2 tables x 10 SSTables a node with 16 MiB x scale
Data.db, taken once through the REST API) into a fresh prefix of one bucket,
alternating, and the prefix is deleted after every run (moto keeps objects in memory).
moto is a Python process on the same two cores, so the absolute rates say more about
moto than about either client; the ratio and the request counts are the figures.

Then, once (untimed): ScyllaDB's incremental backups switched on (`cairn incremental
enable`), a full backup of the same keyspace into a new prefix, and `cairn backup
--incremental` with no new data: its requests, per node.
"""

import os
import re
import shutil
import socket
import subprocess
import time
from collections import Counter

from common import (MB, BenchError, alternate, evict, log, median, timed, timed_group,
                    tree_bytes)

KEYSPACE = 's3'
SRC_TAG = 's3src'
BUCKET = 'cairn-bench'
ACCESS_KEY = 'benchaccesskey'
SECRET_KEY = 'benchsecretkey'
LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d+)')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, work):
        self.port = free_port()
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        self.log_path = os.path.join(work, 'moto.log')
        self.proc = None

    def start(self):
        exe = shutil.which('moto_server')
        if not exe:
            raise BenchError('moto_server is not installed')
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen([exe, '-H', '127.0.0.1', '-p', str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError('moto_server did not start')
                time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def offset(self):
        self.log.flush()
        return os.path.getsize(self.log_path)

    def requests(self, start, end=None):
        """Requests logged between two offsets: {'total', 'by_method', 'errors'}."""
        with open(self.log_path, 'rb') as f:
            f.seek(start)
            text = f.read((end - start) if end else -1).decode(errors='replace')
        by = Counter()
        errors = 0
        for m in LINE.finditer(text):
            by[m.group(1)] += 1
            if int(m.group(3)) >= 500:
                errors += 1
        return {'total': sum(by.values()), 'by_method': dict(by), 'errors_5xx': errors}


def rclone_env(endpoint):
    env = dict(os.environ)
    env.pop('AWS_CA_BUNDLE', None)      # rclone refuses a custom CA bundle for plain http
    env.update({'RCLONE_CONFIG_MOTO_TYPE': 's3', 'RCLONE_CONFIG_MOTO_PROVIDER': 'Other',
                'RCLONE_CONFIG_MOTO_ENDPOINT': endpoint, 'RCLONE_CONFIG_MOTO_REGION': 'us-east-1',
                'RCLONE_CONFIG_MOTO_ACCESS_KEY_ID': ACCESS_KEY,
                'RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY': SECRET_KEY,
                'RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE': 'true'})
    return env


def cairn_env():
    """Credentials for the agents (started after this) and the coordinator: the standard
    variables, which the s3:// driver reads when its configuration has none."""
    os.environ.update({'AWS_ACCESS_KEY_ID': ACCESS_KEY, 'AWS_SECRET_ACCESS_KEY': SECRET_KEY})
    os.environ.pop('AWS_SESSION_TOKEN', None)


def cairn_s3_config(bed, endpoint, prefix):
    """The coordinator configuration for an s3:// repository on moto; the endpoint,
    region and addressing ride in the location."""
    return bed.config('s3://%s/%s?endpoint=%s&region=us-east-1&path_style=true'
                      % (BUCKET, prefix, endpoint), 'cairn-s3.yaml')


def populate(bed, p):
    tables = ['s%d' % i for i in range(p['tables'])]
    for t in tables:
        bed.create_table(KEYSPACE, t, rf=3)

    def node(n):
        for t in tables:
            for _ in range(p['sstables']):
                bed.write(KEYSPACE, t, p['s3_sstable_bytes'], n,
                          compressibility=p['compressibility'], flush=True)
    bed.parallel(node, bed.nodes, workers=len(bed.nodes))
    bed.snapshot(SRC_TAG, KEYSPACE)


def incremental_requests(bed, moto, purge):
    """The requests of one `backup --incremental` with no new data: incremental backups
    on, a full backup (the base) into a new prefix, then the increment, counted."""
    prefix = 'cairn-incr'
    cfg = cairn_s3_config(bed, moto.endpoint, prefix)
    timed(bed.cairn_argv(cfg, 'incremental', 'enable'))
    try:
        timed(bed.cairn_argv(cfg, 'backup', '--keyspace', KEYSPACE, '--json'))
        o0 = moto.offset()
        r = timed(bed.cairn_argv(cfg, 'backup', '--incremental', '--keyspace', KEYSPACE,
                                 '--json'))
        req = moto.requests(o0)
        summary = r.json()
    finally:
        timed(bed.cairn_argv(cfg, 'incremental', 'disable'), check=False)
        purge(prefix)
    if summary.get('files') or summary.get('uploaded_bytes'):
        raise BenchError('the increment with no new data recorded %s files, uploaded %s bytes'
                         % (summary.get('files'), summary.get('uploaded_bytes')))
    nodes = len(bed.nodes)
    return {'requests': req, 'total': req['total'], 'per_node': req['total'] / nodes,
            'nodes': nodes, 'wall_s': round(r.wall, 4), 'summary': summary}


def run(bed, p, work, reps, rclone_conf):
    populate(bed, p)
    srcs = {n['name']: bed.snapshot_dirs(n, KEYSPACE, SRC_TAG) for n in bed.nodes}
    nbytes, nfiles = tree_bytes([d for v in srcs.values() for d in v])
    nsstables = sum(1 for v in srcs.values() for d in v for f in os.listdir(d)
                    if f.endswith('-Data.db'))
    moto = Moto(work).start()
    cairn_env()
    out = {'bytes': nbytes, 'files': nfiles, 'sstables': nsstables, 'endpoint': 'moto_server'}
    try:
        env = rclone_env(moto.endpoint)
        rc = ['rclone', '--config', rclone_conf]
        timed(rc + ['mkdir', 'moto:' + BUCKET], env=env)
        state = {'i': 0}

        def purge(prefix):
            timed(rc + ['purge', 'moto:%s/%s' % (BUCKET, prefix)], env=env, check=False)

        def rclone():
            state['i'] += 1
            prefix = 'rclone-%d' % state['i']
            argvs = [rc + ['copy', os.path.join(dd, KEYSPACE),
                           'moto:%s/%s/%s/%s' % (BUCKET, prefix, n['name'], os.path.basename(dd)),
                           '--include', '/*/snapshots/%s/**' % SRC_TAG]
                     for n in bed.nodes for dd in n['data_dirs']]
            o0 = moto.offset()
            r = timed_group(argvs, env=env)
            r.extra = {'requests': moto.requests(o0)}
            purge(prefix)
            return r

        def cairn():
            state['i'] += 1
            prefix = 'cairn-%d' % state['i']
            cfg = cairn_s3_config(bed, moto.endpoint, prefix)
            o0 = moto.offset()
            r = timed(bed.cairn_argv(cfg, 'backup', '--keyspace', KEYSPACE, '--json'),
                      check=False)
            if r.rc != 0:
                raise BenchError('cairn backup to s3:// failed (exit %d): %s'
                                 % (r.rc, r.stderr.strip()[-800:]))
            r.extra = {'requests': moto.requests(o0), 'summary': r.json()}
            # The same again, nothing changed (untimed): what a backup of an unchanged
            # cluster costs in requests, the last backup its parent.
            o1 = moto.offset()
            timed(bed.cairn_argv(cfg, 'backup', '--keyspace', KEYSPACE, '--json'))
            r.extra['unchanged_requests'] = moto.requests(o1)
            purge(prefix)
            return r

        def before(name):
            if name == 'cairn':
                bed.restart_agents(clear_state=True)
            evict(bed.data_dirs())

        try:
            before('cairn')
            cairn()                         # untimed: does the s3:// driver work at all?
        except BenchError as e:
            out['cairn_error'] = str(e).splitlines()[0][:300]
            log('s3: cairn not measured: %s' % out['cairn_error'])
        contenders = [('rclone', rclone)] + ([] if 'cairn_error' in out else [('cairn', cairn)])
        runs = alternate(contenders, reps, before_each=before, label='s3')
        out['runs'] = {k: [{'wall_s': round(r.wall, 4), 'cpu_s': round(r.cpu, 4),
                            **r.extra} for r in v] for k, v in runs.items()}
        for k, v in runs.items():
            out['%s_mb_s' % k] = nbytes / MB / median([r.wall for r in v])
            out['%s_requests' % k] = median([r.extra['requests']['total'] for r in v])
            out['%s_requests_per_sstable' % k] = out['%s_requests' % k] / nsstables
        if 'cairn' in runs:
            out['cairn_unchanged_requests'] = median(
                [r.extra['unchanged_requests']['total'] for r in runs['cairn']])
            out['cairn_unchanged_requests_per_sstable'] = (out['cairn_unchanged_requests'] /
                                                           nsstables)
            out['ratio_vs_rclone'] = median([b.wall / c.wall for b, c in
                                             zip(runs['rclone'], runs['cairn'])])
            try:
                out['incremental'] = incremental_requests(bed, moto, purge)
                log('s3: backup --incremental with no new data: %d requests, %.1f per node'
                    % (out['incremental']['total'], out['incremental']['per_node']))
            except BenchError as e:
                out['incremental'] = {'error': str(e).strip().splitlines()[0][:300]}
                log('s3: increment not measured: %s' % out['incremental']['error'])
    finally:
        moto.stop()
        bed.clear_snapshot(SRC_TAG)
    return out
