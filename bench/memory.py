"""Figure 5: peak memory (RSS).

Agent: a one-node cluster holding one large SSTable (a 4 GiB Data.db at BENCH_SCALE=16 or
with BENCH_AGENT_FILE=4G; 256 MiB x BENCH_SCALE otherwise) and 10,000 small files (1,112
small SSTables of 9 components), backed up once. The agent is restarted with an empty
state directory just before, and its peak (VmHWM in /proc/<pid>/status) read just after.

Coordinator: a 100-node cluster with 200 tables, each holding one small SSTable on every
node, backed up once; the coordinator's peak RSS comes from wait4 (ru_maxrss). The tables
hold the same bytes on every node, so blobs are deduplicated and the run stays short; the
coordinator never sees files, only nodes and tables, so its memory does not depend on it.
"""

import os

from common import MB, MiB, log, rmtree, timed, tree_bytes

SMALL_SSTABLES = 1112          # x 9 components = 10,008 files


def run_agent(bed, big_bytes, work, compressibility):
    bed.create_table('mem', 'big', rf=1)
    bed.create_table('mem', 'small', rf=1)
    n = bed.nodes[0]
    log('memory: writing a %.0f MiB Data.db and %d small SSTables' % (big_bytes / MiB,
                                                                       SMALL_SSTABLES))
    bed.write('mem', 'big', big_bytes, n, compressibility=compressibility, flush=True)
    for _ in range(SMALL_SSTABLES):         # one at a time: concurrent flushes may merge
        bed.write('mem', 'small', 512, n, compressibility=compressibility, flush=True)
    repo = os.path.join(work, 'mem-agent-repo')
    rmtree(repo)
    cfg = bed.config('file://' + repo, 'cairn-mem.yaml')
    bed.restart_agents(clear_state=True)
    bed.reset_agents_peak_rss()
    cpu0 = bed.agents_cpu()
    r = timed(bed.cairn_argv(cfg, 'backup', '--json'), timeout=3600)
    cpu = bed.agents_cpu() - cpu0
    doc = r.json()
    peak = bed.agents_peak_rss_kib()[0]
    stored, _ = tree_bytes([os.path.join(repo, 'blobs')], skip=())
    rmtree(repo)
    return {
        'data_db_bytes': big_bytes, 'small_sstables': SMALL_SSTABLES,
        'files': doc['files'], 'bytes': doc['bytes'], 'stored_bytes': stored,
        'agent_peak_rss_kib': peak, 'coordinator_peak_rss_kib': r.maxrss_kib,
        'wall_s': round(r.wall, 3), 'agent_cpu_s': round(cpu, 3),
        'mb_s': doc['bytes'] / MB / r.wall,
    }


def run_coordinator(bed, tables, work):
    names = ['w%03d' % i for i in range(tables)]
    for t in names:
        bed.create_table('wide', t, rf=1)
    log('memory: %d nodes x %d tables, writing %d small SSTables'
        % (len(bed.nodes), tables, len(bed.nodes) * tables))

    def node(n):
        # The same seed for a table on every node: identical bytes, stored once.
        for i, t in enumerate(names):
            bed.write('wide', t, 512, n, seed=1000 + i, flush=True)
    bed.parallel(node, bed.nodes, workers=6)
    repo = os.path.join(work, 'mem-coord-repo')
    rmtree(repo)
    cfg = bed.config('file://' + repo, 'cairn-mem.yaml')
    bed.reset_agents_peak_rss()
    r = timed(bed.cairn_argv(cfg, 'backup', '--keyspace', 'wide', '--json'), timeout=3600)
    doc = r.json()
    rmtree(repo)
    return {
        'nodes': len(bed.nodes), 'tables': tables, 'files': doc['files'],
        'coordinator_peak_rss_kib': r.maxrss_kib,
        'agent_peak_rss_kib_max': max(bed.agents_peak_rss_kib()),
        'wall_s': round(r.wall, 3), 'coordinator_cpu_s': round(r.cpu, 3),
        'skew_ms': doc.get('skew_ms'),
    }
