"""Figure 7: purge and verify in bounded memory, on a synthetic repository.

A file:// repository in the format of docs/repository-format.md (no cluster involved),
written by cairn-benchgen (bench/benchgen.c, built here on demand) with the project's
own manifest writers: BENCH_LIFECYCLE_BLOBS blobs (default 200,000; the objects are never
read, so they are empty stand-ins under valid names) and BENCH_LIFECYCLE_BACKUPS complete
backups (default 1,000) of 3 nodes each. Backup k references a window of
BENCH_LIFECYCLE_WINDOW blobs (default 1% of them) that slides along the blob ids, as daily
backups of a changing cluster do; the last 10% of the blobs are referenced by nothing.
`cairn verify --all` (existence from one listing), `cairn purge --grace 0` and a second
`cairn verify --all` run once each; the first two's peak RSS (VmHWM) and request counts
are reported against the 64 MiB bound, and the results are checked: both verifies find
every backup whole, and purge removed the unreferenced blobs but for at most the Bloom
filter's expected false positives (never more than there are). A failed check fails the
section. The issue's scale, 10 million blobs and 10,000 backups, is
BENCH_LIFECYCLE_BLOBS=10000000 BENCH_LIFECYCLE_BACKUPS=10000: 10 million files, not run by
default.
"""

import json
import math
import os
import subprocess

from common import BenchError, log, rmtree, timed

CLUSTER = 'bench'


def build_benchgen(build):
    """cairn-benchgen is not part of the default build (EXCLUDE_FROM_ALL)."""
    subprocess.run(['cmake', '--build', build, '--target', 'cairn-benchgen'], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build, 'bin', 'cairn-benchgen')


def generate(benchgen, repo, n_blobs, n_backups, window):
    log('lifecycle: writing %d blobs and %d backups of 3 nodes, %d blobs each'
        % (n_blobs, n_backups, window))
    g = timed([benchgen, '--repo', repo, '--blobs', str(n_blobs), '--backups', str(n_backups),
               '--window', str(window)], timeout=4 * 3600)
    out = json.loads(g.stdout)
    log('lifecycle: repository written in %.0f s' % g.wall)
    out['generate_wall_s'] = round(g.wall, 1)
    return out


def check(out):
    """Raises on a result that is not what the repository holds."""
    bad = []
    if not out['verify_ok']:
        bad.append('verify before purge found damage')
    if not out['verify_after_ok']:
        bad.append('verify after purge found damage: purge deleted a referenced blob')
    unref, removed = out['unreferenced_blobs'], out['purge_blobs_removed']
    # A false positive keeps a garbage blob; allow 4 standard deviations above the
    # expected number (binomial), so that a correct purge fails about never.
    mean = unref * out['purge_bloom_expected_fp']
    slack = int(math.ceil(mean + 4 * math.sqrt(mean) + 1))
    if removed > unref:
        bad.append('purge removed %d blobs, more than the %d unreferenced' % (removed, unref))
    elif unref - removed > slack:
        bad.append('purge kept %d unreferenced blobs; the Bloom filter explains at most %d'
                   % (unref - removed, slack))
    if out['purge_referenced_entries'] != out['referenced_entries']:
        bad.append('purge counted %d referenced entries, the repository has %d'
                   % (out['purge_referenced_entries'], out['referenced_entries']))
    out['checks'] = 'ok' if not bad else '; '.join(bad)
    if bad:
        raise BenchError('lifecycle: ' + '; '.join(bad))


def run(cairn, work, build):
    env = os.environ
    n_blobs = int(env.get('BENCH_LIFECYCLE_BLOBS', '200000'))
    n_backups = int(env.get('BENCH_LIFECYCLE_BACKUPS', '1000'))
    window = int(env.get('BENCH_LIFECYCLE_WINDOW', str(max(3, n_blobs // 100))))
    repo = os.path.join(work, 'lifecycle-repo')
    rmtree(repo)
    out = generate(build_benchgen(build), repo, n_blobs, n_backups, window)
    cfg = os.path.join(work, 'cairn-lifecycle.yaml')
    with open(cfg, 'w') as f:
        f.write('cluster: %s\nrepository: file://%s\ninsecure: true\nagents: ["127.0.0.1:1"]\n'
                % (CLUSTER, repo))
    log('lifecycle: verify --all')
    v = timed([cairn, '-c', cfg, 'verify', '--all', '--json'], timeout=7200, check=False)
    vd = v.json()
    log('lifecycle: purge --grace 0 (%.0f s verify)' % v.wall)
    p = timed([cairn, '-c', cfg, 'purge', '--grace', '0', '--json'], timeout=7200)
    pd = p.json()
    log('lifecycle: verify --all after purge (%.0f s purge)' % p.wall)
    v2 = timed([cairn, '-c', cfg, 'verify', '--all', '--json'], timeout=7200, check=False)
    v2d = v2.json()
    out.update({
        'verify_peak_rss_kib': v.maxrss_kib, 'verify_wall_s': round(v.wall, 2),
        'verify_requests': vd['requests'], 'verify_ok': v.rc == 0 and vd['ok'],
        'verify_backups': len(vd['backups']),
        'purge_peak_rss_kib': p.maxrss_kib, 'purge_wall_s': round(p.wall, 2),
        'purge_requests': pd['requests'], 'purge_blobs_removed': pd['blobs_removed'],
        'purge_referenced_entries': pd['referenced_entries'],
        'purge_bloom_bytes': pd['bloom_bytes'], 'purge_bloom_expected_fp': pd['bloom_expected_fp'],
        'verify_after_peak_rss_kib': v2.maxrss_kib, 'verify_after_ok': v2.rc == 0 and v2d['ok'],
    })
    # The figures before the repository goes: removing 10 million files takes minutes.
    log('lifecycle: %s' % json.dumps(out, sort_keys=True))
    rmtree(repo)
    check(out)
    return out
