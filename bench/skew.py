"""Figure 4: snapshot skew as the coordinator records it (`skew_ms` of `cairn backup
--json`: the latest node's snapshot time minus the earliest's), with 3, 30 and 100 nodes.

Each cluster holds one tiny table (keyspace `skew`), so the snapshot itself is cheap and
the skew is the fan-out's. Every emulated node is a Python process and all of them share
this machine's two cores, which a real cluster never does; so the same snapshot is also
timed without cairn, as a baseline, alternating with cairn: a thread per node sends the
REST snapshot call at once, and the skew is the spread of the moments the calls return
(which is also what each agent records: the time its REST call returned).
"""

import threading
import time

from common import BenchError, Run, alternate, median, timed

KEYSPACE = 'skew'


def prepare(bed):
    bed.create_table(KEYSPACE, 's', rf=1)
    bed.parallel(lambda n: bed.write(KEYSPACE, 's', 4096, n, seed=1, flush=True), bed.nodes,
                 workers=8)


def direct_skew(bed, tag):
    """Every node's REST snapshot at once from its own thread; spread of the returns."""
    done = {}
    barrier = threading.Barrier(len(bed.nodes))
    errors = []

    def one(n):
        barrier.wait()
        try:
            bed.c.call(n, 'POST', '/storage_service/snapshots', {'tag': tag, 'kn': KEYSPACE,
                                                                 'sf': 'true'})
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(str(e))
        done[n['name']] = time.time()
    threads = [threading.Thread(target=one, args=(n,)) for n in bed.nodes]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    if errors:
        raise BenchError('direct snapshot failed: %s' % errors[0])
    bed.clear_snapshot(tag)
    return Run(wall, extra={'skew_ms': (max(done.values()) - min(done.values())) * 1000})


def run(bed, reps, work):
    cfg = bed.config('file://%s/skew-repo' % bed.dir, 'cairn-skew.yaml')
    state = {'i': 0}

    def cairn():
        state['i'] += 1
        r = timed(bed.cairn_argv(cfg, 'backup', '--keyspace', KEYSPACE, '--tag',
                                 'skew%d' % state['i'], '--json'))
        r.extra = r.json()
        return r

    def direct():
        state['i'] += 1
        return direct_skew(bed, 'direct%d' % state['i'])

    cairn()     # untimed: warms the repository and the agents
    runs = alternate([('cairn', cairn), ('direct', direct)], reps,
                     label='skew %d nodes' % len(bed.nodes))
    skews = {k: [r.extra['skew_ms'] for r in v] for k, v in runs.items()}
    return {
        'nodes': len(bed.nodes),
        'skew_ms': skews['cairn'],
        'median_skew_ms': median(skews['cairn']),
        'max_skew_ms': max(skews['cairn']),
        'direct_skew_ms': skews['direct'],
        'median_direct_skew_ms': median(skews['direct']),
        'backup_wall_s': median([r.wall for r in runs['cairn']]),
    }
