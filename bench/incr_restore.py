"""Figures 2 and 3: incremental backups and restores, each against a full backup
measured in the same repetition, on the 3-node cluster of figure 1.

Incremental, every repetition: (1) full backup into a fresh repository, the agents
restarted with an empty hash cache; (2) incremental backup with no new data (same
repository, warm hash cache); (3) 5% new data as new SSTables on every node (untimed),
then an incremental backup. The data grows by 5% per repetition; each ratio compares
the steps of one repetition.

Restore, every repetition: (1) full backup into a fresh repository; (2) the tables
dropped and created again (empty, untimed), then `cairn restore --method load-and-stream`;
(3) the same with `--method refresh`, after which every node holds exactly the SSTables
of (1) again (checked with the emulator's digests).

Before every timed step: sync, and drop the page cache of the data and the repository.
Ratios are taken within each repetition; their median is reported.
"""

import os
import time

from common import MB, BenchError, Run, evict, failure, log, median, rmtree, timed
from full import KEYSPACE


class _Steps:
    def __init__(self, bed, repo, cfg):
        self.bed, self.repo, self.cfg = bed, repo, cfg

    def backup(self, tag):
        bed = self.bed
        evict(bed.data_dirs() + [self.repo])
        cpu0 = bed.agents_cpu()
        r = timed(bed.cairn_argv(self.cfg, 'backup', '--tag', tag, '--json'))
        r.cpu += bed.agents_cpu() - cpu0
        r.extra = r.json()
        return r

    def restore(self, tag, method, tables, keep=None):
        """Empties the tables, then restores; the dropped tables' directories are deleted
        after the timed run, or appended to `keep` for the caller."""
        bed = self.bed
        old = bed.recreate_tables(KEYSPACE, tables, rf=3)
        bed.clear_restore_records()
        evict(bed.data_dirs() + [self.repo])
        cpu0 = bed.agents_cpu()
        argv = bed.cairn_argv(self.cfg, 'restore', tag, '--method', method, '--json')
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
    """Full, then incremental with no new data, then 5% new SSTables and incremental."""
    steps = {k: [] for k in ('full', 'incr0', 'incr5')}
    new_per_node = max(1, round(0.05 * p['tables'] * p['sstables']))
    for rep in range(reps):
        repo = os.path.join(work, 'incr-repo-%d' % rep)
        rmtree(repo)
        s = _Steps(bed, repo, bed.config('file://' + repo, 'cairn-incr.yaml'))
        bed.restart_agents(clear_state=True)
        full = s.backup('full%d' % rep)
        inc0 = s.backup('inc%da' % rep)
        for n in bed.nodes:
            for k in range(new_per_node):
                bed.write(KEYSPACE, tables[k % len(tables)], p['sstable_bytes'], n,
                          compressibility=p['compressibility'], flush=True)
        inc5 = s.backup('inc%db' % rep)
        for k, r in (('full', full), ('incr0', inc0), ('incr5', inc5)):
            steps[k].append(r)
        log('incremental rep %d/%d: full %.2f s, no new data %.2f s, 5%% new %.2f s'
            % (rep + 1, reps, full.wall, inc0.wall, inc5.wall))
        rmtree(repo)
    return {
        'new_sstables_per_node': new_per_node,
        'runs': _docs(steps),
        'median_s': {k: median([r.wall for r in v]) for k, v in steps.items()},
        'incr0_fraction': median([i.wall / f.wall for i, f in zip(steps['incr0'], steps['full'])]),
        'incr5_fraction': median([i.wall / f.wall for i, f in zip(steps['incr5'], steps['full'])]),
        'incr5_uploaded_fraction': median([i.extra['uploaded_bytes'] / i.extra['bytes']
                                           for i in steps['incr5']]),
        'incr0_ms': median([r.wall * 1000 for r in steps['incr0']]),
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
