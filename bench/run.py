#!/usr/bin/env python3
"""`make bench`: cairn against baselines, on emulated clusters, in one session.

    python3 bench/run.py [--build-dir build-bench] [--out FILE] [--work-dir DIR]
                         [--only full,incremental,restore,pitr,skew,memory,s3,lifecycle]
                         [--reps N]

Environment:
    BENCH_SCALE          data size multiplier (default 1; 16 gives 16 GB full backups and
                         the 4 GiB Data.db of the agent memory case)
    BENCH_REPS           repetitions of every timed comparison (default 3, at least 3)
    BENCH_AGENT_FILE     size of the large Data.db of the agent memory case (e.g. 4G)
    BENCH_SKEW_NODES     cluster sizes for the skew figure (default 3,30,100)
    BENCH_WIDE_TABLES    tables of the coordinator memory case (default 200)
    BENCH_PITR_INCREMENTS  increments of the point-in-time restore figure (default 100)
    BENCH_COMPRESSIBILITY  of the emulated SSTable bytes, 0.0 (random) to 1.0 (default 0.5)
    BENCH_LIFECYCLE_BLOBS, BENCH_LIFECYCLE_BACKUPS  the synthetic repository of purge and
                         verify (default 200000 and 1000; 10000000 and 10000 is the issue's)
    BENCH_LIFECYCLE_WINDOW  blobs each of its backups references (default 1% of the blobs)

Prints a Markdown table on standard output (progress on standard error) and writes every
figure, the machine and the commit as JSON (default BUILD_DIR/bench-results.json).
See docs/performance.md.
"""

import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from common import MiB, log  # noqa: E402

SECTIONS = ('full', 'incremental', 'restore', 'pitr', 'skew', 'memory', 's3', 'lifecycle')


def parse_size(text):
    text = str(text).strip().upper().rstrip('B').rstrip('I')
    mult = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip('KMG')) * mult)


def params(scale):
    env = os.environ
    return {
        'scale': scale,
        'tables': 2,                                 # per node, in keyspace `bench`
        'sstables': 10,                              # per table per node
        'sstable_bytes': int(32 * MiB * scale),      # 3 nodes x 20 x 32 MiB = 2 GB at 1
        # Figure 6: figure 1's layout (2 tables x 10 SSTables a node) with half the bytes
        # (moto keeps every object in memory): 3 x 20 x 16 MiB = 1 GB at 1.
        's3_sstable_bytes': int(16 * MiB * scale),
        'compressibility': float(env.get('BENCH_COMPRESSIBILITY', '0.5')),
        'agent_file_bytes': parse_size(env['BENCH_AGENT_FILE']) if env.get('BENCH_AGENT_FILE')
        else int(min(4 << 30, 256 * MiB * scale)),
        'skew_nodes': [int(x) for x in env.get('BENCH_SKEW_NODES', '3,30,100').split(',') if x],
        'wide_tables': int(env.get('BENCH_WIDE_TABLES', '200')),
        # Figure 8: a base and this many increments, each one new SSTable a node of
        # sstable_bytes / 8 (together 62% of the base's bytes at 100).
        'pitr_increments': int(env.get('BENCH_PITR_INCREMENTS', '100')),
    }


def guarded(name, fn, *args):
    """A section that fails is reported as not measured, with its reason; the rest go on."""
    t0 = time.monotonic()
    try:
        out = fn(*args)
    except Exception as e:              # noqa: BLE001 - reported as not measured
        log('%s: not measured: %s' % (name, e))
        traceback.print_exc(file=sys.stderr)
        out = {'error': str(e).strip().splitlines()[0][:400] if str(e).strip() else repr(e)}
    log('%s: %.0f s' % (name, time.monotonic() - t0))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description='cairn benchmarks (docs/performance.md)')
    ap.add_argument('--build-dir', default=os.path.join(common.SOURCE, 'build-bench'))
    ap.add_argument('--out')
    ap.add_argument('--work-dir')
    ap.add_argument('--only', help='comma list of: ' + ','.join(SECTIONS))
    ap.add_argument('--reps', type=int, default=int(os.environ.get('BENCH_REPS', '3')))
    a = ap.parse_args(argv)
    build = os.path.abspath(a.build_dir)
    bin_dir = os.path.join(build, 'bin')
    out_path = a.out or os.path.join(build, 'bench-results.json')
    work = os.path.abspath(a.work_dir or os.path.join(build, 'bench-work'))
    only = set(a.only.split(',')) if a.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        ap.error('unknown section(s): %s' % ', '.join(sorted(unknown)))
    if a.reps < 3:
        log('warning: fewer than 3 repetitions (%d): medians of so few runs are noisy' % a.reps)
    for exe in ('cairn', 'cairn-agent'):
        if not os.access(os.path.join(bin_dir, exe), os.X_OK):
            ap.error('%s/%s missing: build first (make bench does)' % (bin_dir, exe))
    scale = float(os.environ.get('BENCH_SCALE', '1'))
    p = params(scale)
    common.rmtree(work)
    os.makedirs(work)
    # The restore step holds the data 3 times at its peak (the originals kept by the
    # drop, the downloaded files, the streamed copies) plus the repository.
    full_bytes = 3 * p['tables'] * p['sstables'] * p['sstable_bytes']
    if 'pitr' in only:                  # its increments stay in the cluster
        full_bytes += 3 * p['pitr_increments'] * (p['sstable_bytes'] // 8)
    need = int(3.5 * full_bytes * 1.1) + (1 << 30)
    st = os.statvfs(work)
    if st.f_bavail * st.f_frsize < need:
        log('%s has %.0f GB free; BENCH_SCALE=%g needs about %.0f GB: use a smaller '
            'BENCH_SCALE or --work-dir elsewhere' % (work, st.f_bavail * st.f_frsize / 1e9,
                                                    scale, need / 1e9))
        return 2
    rclone_conf = os.path.join(work, 'rclone.conf')
    open(rclone_conf, 'w').close()

    res = {'commit': common.commit(), 'scale': scale, 'reps': a.reps, 'params': p,
           'machine': common.machine(work),
           'tools': {'cp': common.tool_version(['cp', '--version']),
                     'rclone': common.tool_version(['rclone', 'version']),
                     'cairn': common.tool_version([os.path.join(bin_dir, 'cairn'), 'version'])},
           'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    t0 = time.monotonic()

    from bed import Bed
    import full
    import incr_restore
    import lifecycle
    import memory
    import s3
    import skew

    # The 3-node cluster: figures 1, 2, 3, 6, 8 and the 3-node skew.
    need3 = only & {'full', 'incremental', 'restore', 'pitr', 's3'} or (
        'skew' in only and 3 in p['skew_nodes'])
    skews = []
    if need3:
        with Bed(os.path.join(work, 'c3'), 3, bin_dir, '127.43.1.1') as bed:
            tables = None
            if only & {'full', 'incremental', 'restore', 'pitr'}:
                if 'full' in only:
                    res['full_backup'] = guarded('full backup', lambda: full.run(
                        bed, p, work, a.reps, rclone_conf))
                    if isinstance(res['full_backup'], tuple):
                        res['full_backup'], tables = res['full_backup']
                if tables is None:
                    tables = full.populate(bed, p)
                if 'incremental' in only:
                    res['incremental'] = guarded('incremental', incr_restore.run_incremental,
                                                 bed, p, tables, work, a.reps)
                if 'restore' in only:
                    res['restore'] = guarded('restore', incr_restore.run_restore,
                                             bed, p, tables, work, a.reps)
                if 'pitr' in only:      # last: its increments grow the tables
                    res['pitr'] = guarded('pitr', incr_restore.run_pitr,
                                          bed, p, tables, work, a.reps)
            if 's3' in only:
                res['s3'] = guarded('s3', s3.run, bed, p, work, a.reps, rclone_conf)
            if 'skew' in only and 3 in p['skew_nodes']:
                skew.prepare(bed)
                r = guarded('skew 3', skew.run, bed, max(a.reps, 5), work)
                r.setdefault('nodes', 3)
                skews.append(r)
    if 'memory' in only:
        res.setdefault('memory', {})
        with Bed(os.path.join(work, 'c1'), 1, bin_dir, '127.43.2.1') as bed:
            res['memory']['agent'] = guarded('agent memory', memory.run_agent, bed,
                                             p['agent_file_bytes'], work, p['compressibility'])
    for k, nodes in enumerate(n for n in p['skew_nodes'] if n != 3):
        last = nodes == max(p['skew_nodes'])
        if 'skew' not in only and not ('memory' in only and last):
            continue
        try:
            with Bed(os.path.join(work, 'c%d' % nodes), nodes, bin_dir,
                     '127.43.%d.1' % (3 + k)) as bed:
                if 'skew' in only:
                    skew.prepare(bed)
                    r = guarded('skew %d' % nodes, skew.run, bed, max(a.reps, 5), work)
                    r.setdefault('nodes', nodes)
                    skews.append(r)
                if 'memory' in only and last:
                    res['memory']['coordinator'] = guarded(
                        'coordinator memory', memory.run_coordinator, bed, p['wide_tables'], work)
        except Exception as e:          # noqa: BLE001 - a cluster that cannot start
            log('%d-node cluster: %s' % (nodes, e))
            skews.append({'nodes': nodes, 'error': str(e).splitlines()[0][:300]})
    if skews:
        res['skew'] = skews
    if 'lifecycle' in only:
        res['lifecycle'] = guarded('lifecycle', lifecycle.run, os.path.join(bin_dir, 'cairn'),
                                   work, build)

    res['duration_s'] = round(time.monotonic() - t0, 1)
    res['machine']['loadavg_at_end'] = [float(x) for x in open('/proc/loadavg').read().split()[:3]]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, 'w') as f:
        json.dump(res, f, indent=1, sort_keys=True)
    import report
    print(report.markdown(res))
    log('results in %s (%.0f s)' % (out_path, res['duration_s']))
    common.rmtree(work)
    return 0


if __name__ == '__main__':
    sys.exit(main())
