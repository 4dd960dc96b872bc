"""Figures 2, 3 and 8: incremental backups, restores and restores of a point in time, each
against a full backup measured in the same session, on the 3-node cluster of figure 1.

Incremental (`cairn backup --incremental`, ScyllaDB's incremental backups), every
repetition: ScyllaDB's incremental backups switched on (`cairn incremental enable`, as an
operator does; backups/ then collects every flushed SSTable), backups/ checked empty;
(1) full backup into a fresh repository, the agents restarted with an empty hash cache;
(2) `backup --incremental` with no new data; (3) 1% new data (one new SSTable a node of 1%
of the node's bytes, written and flushed untimed), then `backup --incremental`; (4) a
plain backup of the unchanged cluster into the same repository (info: the dedup path an
increment replaces). Each increment removes the links it recorded from backups/, so
backups/ is empty again after (3) (checked). The data grows by 1% per repetition; each
ratio compares the steps of one repetition.

Restore, every repetition: (1) full backup into a fresh repository; (2) the tables
dropped and created again (empty, untimed), then `cairn restore --method load-and-stream`;
(3) the same with `--method refresh`, after which every node holds exactly the SSTables
of (1) again (checked with the emulator's digests).

Point in time, once: a full base backup, then 100 increments, each after one new small
SSTable a node (1/8 of figure 1's SSTable size), then a plain full backup `flat` of the
same state (the same SSTables); then every repetition, in rotated order, `cairn restore
--at <the last increment's point>` (base + 100 increments) and `cairn restore flat`, both
`--method refresh` into emptied tables, each followed by a digest check.

Before every timed step: sync, and drop the page cache of the data and the repository.
Ratios are taken within each repetition; their median is reported.
"""

import datetime
import os
import time

from common import (MB, BenchError, Run, alternate, evict, failure, log, median, rmtree,
                    timed)
from full import KEYSPACE


def rfc3339(ms):
    """A point in milliseconds since the epoch as `cairn restore --at` takes it."""
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


def backups_files(bed, keyspace=KEYSPACE):
    """Every file in a backups/ directory of a table of `keyspace`, on any node."""
    out = []
    for d in bed.data_dirs():
        ksdir = os.path.join(d, keyspace)
        for t in os.listdir(ksdir) if os.path.isdir(ksdir) else []:
            b = os.path.join(ksdir, t, 'backups')
            if os.path.isdir(b):
                out += [os.path.join(b, f) for f in os.listdir(b)]
    return out


def clear_backups(bed, keyspace=KEYSPACE):
    """Removes what backups/ holds (links left by an earlier step); returns how many."""
    files = backups_files(bed, keyspace)
    for f in files:
        os.unlink(f)
    return len(files)


def set_incremental(bed, cfg, on):
    """`cairn incremental enable|disable`: ScyllaDB's incremental backups at runtime on
    every node, as an operator switches them on."""
    timed(bed.cairn_argv(cfg, 'incremental', 'enable' if on else 'disable'))


class _Steps:
    def __init__(self, bed, repo, cfg):
        self.bed, self.repo, self.cfg = bed, repo, cfg

    def backup(self, tag, *args):
        bed = self.bed
        evict(bed.data_dirs() + [self.repo])
        cpu0 = bed.agents_cpu()
        r = timed(bed.cairn_argv(self.cfg, 'backup', '--tag', tag, '--json', *args))
        r.cpu += bed.agents_cpu() - cpu0
        r.extra = r.json()
        return r

    def restore(self, tag, method, tables, keep=None):
        """Empties the tables, then restores `tag` (or, a list, the arguments that choose
        what to restore: ['--at', TIME]); the dropped tables' directories are deleted
        after the timed run, or appended to `keep` for the caller."""
        bed = self.bed
        old = bed.recreate_tables(KEYSPACE, tables, rf=3)
        bed.clear_restore_records()
        evict(bed.data_dirs() + [self.repo])
        cpu0 = bed.agents_cpu()
        what = list(tag) if isinstance(tag, (list, tuple)) else [tag]
        argv = bed.cairn_argv(self.cfg, 'restore', *what, '--method', method, '--json')
        r = timed(argv, check=False)
        r.cpu += bed.agents_cpu() - cpu0
        if keep is not None:
            keep.extend(old)
        else:
            for d in old:
                rmtree(d)
        if r.rc != 0:
            raise BenchError(failure(argv, r.rc, r.stderr))
        r.extra = r.json()
        return r

    def emulator_load(self, originals, tables, las):
        """The emulator's own share of a restore: the original SSTables (kept by the drop's
        auto-snapshot in `originals`) linked into upload/ of the emptied tables, then the
        REST load called on every node at once, one table after another, as cairn does.
        No cairn at all: what any restore tool would wait for on this emulator."""
        bed = self.bed
        old = bed.recreate_tables(KEYSPACE, tables, rf=3)
        for n in bed.nodes:
            for t in tables:
                info = bed.c.call(n, 'GET', '/emulator/sstables', {'keyspace': KEYSPACE,
                                                                   'table': t})
                upload = os.path.join(info['directories'][0], 'upload')
                for od in originals:
                    if not (od.startswith(n['data_dirs'][0] + os.sep) and
                            os.path.basename(od).split('-')[0] == t):
                        continue
                    snaps = os.path.join(od, 'snapshots')
                    for tag in os.listdir(snaps) if os.path.isdir(snaps) else []:
                        if tag != '%s-%s' % (tag.split('-')[0], t):
                            continue            # only the drop's auto-snapshot
                        for f in os.listdir(os.path.join(snaps, tag)):
                            if f not in ('schema.cql', 'manifest.json'):
                                os.link(os.path.join(snaps, tag, f), os.path.join(upload, f))
        evict(bed.data_dirs())
        errors = []

        def node(n):
            for t in tables:
                st, doc = bed.c.api(n, 'POST', '/storage_service/sstables/' + KEYSPACE,
                                    {'cf': t, 'load_and_stream': 'true' if las else 'false'},
                                    timeout=3600)
                if st != 200:
                    errors.append('%s: HTTP %d %s' % (n['name'], st, doc))
        t0 = time.monotonic()
        bed.parallel(node, bed.nodes, workers=len(bed.nodes))
        r = Run(time.monotonic() - t0)
        for d in old:
            rmtree(d)
        if errors:
            raise BenchError('emulator load failed: %s' % errors[0])
        return r


def _docs(steps):
    return {k: [{'wall_s': round(r.wall, 4), 'cpu_s': round(r.cpu, 4),
                 'maxrss_kib': r.maxrss_kib, 'summary': r.extra or None} for r in v]
            for k, v in steps.items()}


def run_incremental(bed, p, tables, work, reps):
    """Full backup, then `backup --incremental` with no new data, then 1% new data and
    `backup --incremental`, then a plain backup of the unchanged cluster (info)."""
    steps = {k: [] for k in ('full', 'incr0', 'incr1', 'again')}
    problems = []
    new_per_node = []
    cfg = None
    try:
        for rep in range(reps):
            repo = os.path.join(work, 'incr-repo-%d' % rep)
            rmtree(repo)
            s = _Steps(bed, repo, bed.config('file://' + repo, 'cairn-incr.yaml'))
            cfg = s.cfg
            bed.restart_agents(clear_state=True)
            # On before the full backup, so that backups/ collects every SSTable flushed
            # since (a no-op from the second repetition on). backups/ is empty here: the
            # previous repetition's last increment removed what it recorded.
            set_incremental(bed, cfg, True)
            left = clear_backups(bed)
            if left:
                problems.append('rep %d: %d files in backups/ before the full backup '
                                '(removed)' % (rep, left))
            full = s.backup('full%d' % rep)
            inc0 = s.backup('inc%da' % rep, '--incremental')
            if inc0.extra.get('uploaded_bytes') or inc0.extra.get('files'):
                problems.append('rep %d: the increment with no new data recorded %s files, '
                                'uploaded %s bytes' % (rep, inc0.extra.get('files'),
                                                       inc0.extra.get('uploaded_bytes')))
            # 1% new data: one new SSTable a node of 1% of that node's bytes (untimed).
            nbytes = max(4096, int(0.01 * full.extra['bytes'] / len(bed.nodes)))
            table = tables[rep % len(tables)]
            bed.parallel(lambda n: bed.write(KEYSPACE, table, nbytes, n,
                                             compressibility=p['compressibility'], flush=True),
                         bed.nodes, workers=len(bed.nodes))
            new_per_node.append(nbytes)
            inc1 = s.backup('inc%db' % rep, '--incremental')
            if not inc1.extra.get('uploaded_bytes'):
                problems.append('rep %d: the increment with 1%% new data uploaded nothing'
                                % rep)
            left = backups_files(bed)
            if left:
                problems.append('rep %d: %d files left in backups/ after the increments'
                                % (rep, len(left)))
            again = s.backup('again%d' % rep)
            for k, r in (('full', full), ('incr0', inc0), ('incr1', inc1), ('again', again)):
                steps[k].append(r)
            log('incremental rep %d/%d: full %.2f s; --incremental, no new data %.3f s, '
                '1%% new %.3f s; plain backup, unchanged %.2f s'
                % (rep + 1, reps, full.wall, inc0.wall, inc1.wall, again.wall))
            rmtree(repo)
    finally:
        if cfg:
            set_incremental(bed, cfg, False)
            clear_backups(bed)
    for pr in problems:
        log('incremental: ' + pr)

    def frac(k):
        return median([r.wall / f.wall for r, f in zip(steps[k], steps['full'])])
    return {
        'new_bytes_per_node': new_per_node,
        'runs': _docs(steps),
        'median_s': {k: median([r.wall for r in v]) for k, v in steps.items()},
        'incr0_fraction': frac('incr0'),
        'incr1_fraction': frac('incr1'),
        'again_fraction': frac('again'),
        # What the 1% increment holds and uploaded, as a share of the full backup's bytes.
        'incr1_bytes_fraction': median([i.extra['bytes'] / f.extra['bytes']
                                        for i, f in zip(steps['incr1'], steps['full'])]),
        'incr1_uploaded_fraction': median([i.extra['uploaded_bytes'] / f.extra['bytes']
                                           for i, f in zip(steps['incr1'], steps['full'])]),
        'incr0_ms': median([r.wall * 1000 for r in steps['incr0']]),
        'incr1_ms': median([r.wall * 1000 for r in steps['incr1']]),
        'problems': problems,
    }


def run_restore(bed, p, tables, work, reps):
    """Full backup, then restore it with load-and-stream, then with refresh."""
    steps = {k: [] for k in ('full', 'las', 'refresh', 'emu_las', 'emu_refresh')}
    problems = []
    for rep in range(reps):
        repo = os.path.join(work, 'restore-repo-%d' % rep)
        rmtree(repo)
        s = _Steps(bed, repo, bed.config('file://' + repo, 'cairn-restore.yaml'))
        bed.restart_agents(clear_state=True)
        full = s.backup('full%d' % rep)
        before = bed.c.digest(KEYSPACE)
        originals = []
        las = s.restore('full%d' % rep, 'load-and-stream', tables, keep=originals)
        steps['emu_las'].append(s.emulator_load(originals, tables, las=True))
        steps['emu_refresh'].append(s.emulator_load(originals, tables, las=False))
        for d in originals:
            rmtree(d)
        ref = s.restore('full%d' % rep, 'refresh', tables)
        after = bed.c.digest(KEYSPACE)
        for name in before:
            if before[name]['nodes'] != after.get(name, {}).get('nodes'):
                problems.append('rep %d: %s differs after the refresh restore' % (rep, name))
        for r in (las, ref):
            if r.extra.get('bytes') != full.extra['bytes']:
                problems.append('rep %d: a restore reported %s bytes, the backup %s'
                                % (rep, r.extra.get('bytes'), full.extra['bytes']))
        for k, r in (('full', full), ('las', las), ('refresh', ref)):
            steps[k].append(r)
        log('restore rep %d/%d: full backup %.2f s, load-and-stream %.2f s (emulator alone '
            '%.2f s), refresh %.2f s (emulator alone %.2f s)'
            % (rep + 1, reps, full.wall, las.wall, steps['emu_las'][-1].wall, ref.wall,
               steps['emu_refresh'][-1].wall))
        rmtree(repo)
    for pr in problems:
        log('restore: ' + pr)

    def mbs(r):
        return r.extra['bytes'] / MB / r.wall
    return {
        'runs': _docs(steps),
        'median_s': {k: median([r.wall for r in v]) for k, v in steps.items()},
        'full_mb_s': median([mbs(r) for r in steps['full']]),
        'las_mb_s': median([mbs(r) for r in steps['las']]),
        'refresh_mb_s': median([mbs(r) for r in steps['refresh']]),
        # Same bytes restored as backed up: the throughput ratio is the time ratio.
        'las_ratio': median([f.wall / r.wall for f, r in zip(steps['full'], steps['las'])]),
        'refresh_ratio': median([f.wall / r.wall for f, r in zip(steps['full'],
                                                                 steps['refresh'])]),
        # The emulator's own load (REST call alone, no cairn), for the same SSTables.
        'emulator_las_s': median([r.wall for r in steps['emu_las']]),
        'emulator_refresh_s': median([r.wall for r in steps['emu_refresh']]),
        'problems': problems,
    }


def run_pitr(bed, p, tables, work, reps):
    """A base plus `pitr_increments` increments, and `flat`, a full backup of the same
    state; then restore --at the last increment's point against restore flat."""
    count = p['pitr_increments']
    nbytes = max(4096, p['sstable_bytes'] // 8)
    repo = os.path.join(work, 'pitr-repo')
    rmtree(repo)
    s = _Steps(bed, repo, bed.config('file://' + repo, 'cairn-pitr.yaml'))
    problems = []
    incs = []
    t0 = time.monotonic()
    set_incremental(bed, s.cfg, True)
    try:
        left = clear_backups(bed)
        if left:
            problems.append('%d files in backups/ before the base backup (removed)' % left)
        base = s.backup('pitr-base')
        for i in range(count):
            table = tables[i % len(tables)]
            bed.parallel(lambda n: bed.write(KEYSPACE, table, nbytes, n,
                                             compressibility=p['compressibility'], flush=True),
                         bed.nodes, workers=len(bed.nodes))
            r = timed(bed.cairn_argv(s.cfg, 'backup', '--incremental', '--tag',
                                     'pitr-i%03d' % (i + 1), '--json'))
            r.extra = r.json()
            if not r.extra.get('uploaded_bytes'):
                problems.append('increment %d uploaded nothing' % (i + 1))
            incs.append(r)
            if (i + 1) % 25 == 0:
                log('pitr: %d of %d increments (%.0f s)' % (i + 1, count,
                                                            time.monotonic() - t0))
        left = backups_files(bed)
        if left:
            problems.append('%d files left in backups/ after the increments' % len(left))
    finally:
        set_incremental(bed, s.cfg, False)
    build_s = time.monotonic() - t0
    flat = s.backup('flat')
    listed = {b['tag']: b for b in timed(bed.cairn_argv(s.cfg, 'list', '--json')).json()}
    last_tag = 'pitr-i%03d' % count
    last = listed[last_tag]
    if (last.get('kind'), last.get('base_tag')) != ('incremental', 'pitr-base'):
        raise BenchError('%s is not an increment of pitr-base: %s' % (last_tag, last))
    if listed['flat']['point_ms'] <= last['point_ms']:
        raise BenchError('flat\'s point (%d) is not after %s\'s (%d): restore --at would not '
                         'tell them apart' % (listed['flat']['point_ms'], last_tag,
                                              last['point_ms']))
    at = rfc3339(last['point_ms'])
    chain_bytes = base.extra['bytes'] + sum(r.extra['bytes'] for r in incs)
    if chain_bytes != flat.extra['bytes']:
        problems.append('the chain holds %d bytes, flat %d' % (chain_bytes, flat.extra['bytes']))
    before = bed.c.digest(KEYSPACE)
    log('pitr: base + %d increments in %.0f s (%.1f MB), flat %.1f MB; restore --at %s'
        % (count, build_s, chain_bytes / MB, flat.extra['bytes'] / MB, at))

    def check(name, r, want_tag):
        if r.extra.get('tag') != want_tag:
            problems.append('%s restored %s, not %s' % (name, r.extra.get('tag'), want_tag))
        if r.extra.get('bytes') != flat.extra['bytes']:
            problems.append('%s restored %s bytes, flat holds %s'
                            % (name, r.extra.get('bytes'), flat.extra['bytes']))
        after = bed.c.digest(KEYSPACE)
        for t in before:
            if before[t]['nodes'] != after.get(t, {}).get('nodes'):
                problems.append('%s: %s differs after the restore' % (name, t))

    def restore_at():
        r = s.restore(['--at', at], 'refresh', tables)
        check('restore --at', r, last_tag)
        return r

    def restore_flat():
        r = s.restore('flat', 'refresh', tables)
        check('restore flat', r, 'flat')
        return r
    runs = alternate([('at', restore_at), ('flat', restore_flat)], reps, label='pitr')
    rmtree(repo)
    for pr in problems:
        log('pitr: ' + pr)
    return {
        'increments': count,
        'increment_new_bytes_per_node': nbytes,
        'chain_build_s': round(build_s, 1),
        'increment_median_s': median([r.wall for r in incs]),
        'base_bytes': base.extra['bytes'],
        'bytes': flat.extra['bytes'],
        'files': flat.extra['files'],
        'at': at,
        'runs': _docs({'at': runs['at'], 'flat': runs['flat']}),
        'median_s': {k: median([r.wall for r in v]) for k, v in runs.items()},
        'ratio': median([a.wall / f.wall for a, f in zip(runs['at'], runs['flat'])]),
        'problems': problems,
    }
