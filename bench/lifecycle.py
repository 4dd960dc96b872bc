"""Figure 7: purge and verify in bounded memory, on a synthetic repository.

A file:// repository written directly in the format of docs/repository-format.md (no
cluster involved): BENCH_LIFECYCLE_BLOBS fake blobs (default 200,000; the objects are
never read, so their bytes are short stand-ins under valid names) and
BENCH_LIFECYCLE_BACKUPS complete backups (default 1,000) of 3 nodes each. Backup k
references a window of BENCH_LIFECYCLE_WINDOW blobs that slides along the blob ids,
as daily backups of a changing cluster do; the last 10% of the blobs are referenced by
nothing. `cairn verify --all` (existence from one listing) and then `cairn purge
--grace 0` run once each; their peak RSS (wait4's ru_maxrss) and request counts are
reported against the 64 MiB bound. The issue's scale, 10 million blobs and 10,000
backups, is BENCH_LIFECYCLE_BLOBS=10000000 BENCH_LIFECYCLE_BACKUPS=10000: it writes
10 million files and is not run by default.
"""

import hashlib
import os
import struct
import subprocess
import time
import uuid

from common import log, rmtree, timed

NODES = 3
CLUSTER = 'bench'


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field, n):
    return _varint(field << 3) + _varint(n)


def _bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return _varint(field << 3 | 2) + _varint(len(b)) + b


def blob_id(i):
    return hashlib.sha256(struct.pack('<Q', i)).hexdigest()


def _node_manifest(tag, host, ids):
    files = b''.join(_bytes(4, _bytes(1, 'me-%d-big-Data.db' % k) + _int(2, 100) +
                            _bytes(3, b)) for k, b in enumerate(ids))
    table = _bytes(1, 'ks') + _bytes(2, 't') + files
    return (_int(1, 1) + _bytes(2, CLUSTER) + _bytes(3, tag) + _bytes(4, host) +
            _bytes(15, table))


def _compress(paths):
    """zstd (with its checksum, as cairn writes) over many files per call."""
    for i in range(0, len(paths), 500):
        subprocess.run(['zstd', '-q', '-f', '--rm', '-1'] + paths[i:i + 500], check=True)
    for p in paths:
        os.rename(p + '.zst', p)


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def build(repo, n_blobs, n_backups, window):
    t0 = time.monotonic()
    os.makedirs(repo)
    info = _int(1, 1) + _bytes(2, str(uuid.uuid4())) + _int(3, int(time.time() * 1000))
    with open(os.path.join(repo, 'cairn.repo'), 'wb') as f:
        f.write(info)
    log('lifecycle: writing %d blobs' % n_blobs)
    for s in range(256):
        os.makedirs(os.path.join(repo, 'blobs', '%02x' % s))
    for i in range(n_blobs):
        b = blob_id(i)
        with open(os.path.join(repo, 'blobs', b[:2], b), 'wb') as f:
            f.write(b'x' * 64)
    live = int(n_blobs * 0.9)
    step = max(1, (live - window) // max(1, n_backups - 1))
    hosts = [str(uuid.UUID(int=h + 1)) for h in range(NODES)]
    log('lifecycle: writing %d backups of %d nodes, %d blobs each' % (n_backups, NODES, window))
    entries = 0
    for k in range(n_backups):
        tag = 'b%05d' % k
        base = os.path.join(repo, 'backups', CLUSTER, tag)
        os.makedirs(os.path.join(base, 'nodes'))
        first = min(k * step, live - window)
        ids = [blob_id(first + j) for j in range(window)]
        per = (len(ids) + NODES - 1) // NODES
        paths = []
        for h, host in enumerate(hosts):
            p = os.path.join(base, 'nodes', host + '.manifest')
            with open(p, 'wb') as f:
                f.write(_node_manifest(tag, host, ids[h * per:(h + 1) * per]))
            paths.append(p)
        _compress(paths)
        refs = b''
        for h, host in enumerate(hosts):
            key = 'backups/%s/%s/nodes/%s.manifest' % (CLUSTER, tag, host)
            n = len(ids[h * per:(h + 1) * per])
            refs += _bytes(14, _bytes(1, host) + _bytes(2, key) + _bytes(3, _sha(paths[h])) +
                           _int(8, n))
            entries += n
        cm = os.path.join(base, 'backup.manifest')
        with open(cm, 'wb') as f:
            f.write(_int(1, 1) + _bytes(2, CLUSTER) + _bytes(3, tag) + _int(4, k) +
                    _int(5, k + 1) + refs)
        _compress([cm])
    log('lifecycle: repository written in %.0f s' % (time.monotonic() - t0))
    return {'blobs': n_blobs, 'backups': n_backups, 'nodes': NODES, 'window': window,
            'referenced_entries': entries, 'unreferenced_blobs': n_blobs - min(
                live, (n_backups - 1) * step + window)}


def run(cairn, work):
    env = os.environ
    n_blobs = int(env.get('BENCH_LIFECYCLE_BLOBS', '200000'))
    n_backups = int(env.get('BENCH_LIFECYCLE_BACKUPS', '1000'))
    window = int(env.get('BENCH_LIFECYCLE_WINDOW', str(max(NODES, n_blobs // 100))))
    repo = os.path.join(work, 'lifecycle-repo')
    rmtree(repo)
    out = build(repo, n_blobs, n_backups, window)
    cfg = os.path.join(work, 'cairn-lifecycle.yaml')
    with open(cfg, 'w') as f:
        f.write('cluster: %s\nrepository: file://%s\ninsecure: true\nagents: ["127.0.0.1:1"]\n'
                % (CLUSTER, repo))
    v = timed([cairn, '-c', cfg, 'verify', '--all', '--json'], timeout=7200)
    vd = v.json()
    p = timed([cairn, '-c', cfg, 'purge', '--grace', '0', '--json'], timeout=7200)
    pd = p.json()
    rmtree(repo)
    out.update({
        'verify_peak_rss_kib': v.maxrss_kib, 'verify_wall_s': round(v.wall, 2),
        'verify_requests': vd['requests'], 'verify_ok': vd['ok'],
        'purge_peak_rss_kib': p.maxrss_kib, 'purge_wall_s': round(p.wall, 2),
        'purge_requests': pd['requests'], 'purge_blobs_removed': pd['blobs_removed'],
        'purge_bloom_bytes': pd['bloom_bytes'], 'purge_bloom_expected_fp': pd['bloom_expected_fp'],
    })
    return out
