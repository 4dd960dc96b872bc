"""`cairn backup --incremental` and `cairn restore --at`: ScyllaDB's incremental backups.

A full backup, then increments of what ScyllaDB linked into backups/ since: each restores
as the base plus its chain, byte for byte what the nodes held at its point, and the links
it recorded leave backups/ once it is recorded. One table holds rows (the emulator's
/emulator/rows): a partition deleted after the base stays deleted at every later point,
and a compaction in the middle of the chain changes nothing a read returns.
"""

import os
import signal
import unittest

import repocheck
from harness import Bed, rfc3339, wait_for

MiB = 1 << 20
TABLES = [('shop', 'orders'), ('logs', 'events')]
ROWS = ('shop', 'carts')


def backups_files(bed):
    """Every file in a backups/ directory of any node."""
    return [os.path.join(root, f) for n in bed.nodes for d in n['data_dirs']
            for root, _, files in os.walk(d) if os.path.basename(root) == 'backups'
            for f in files]


class IncrementalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2)
        for ks, t in TABLES:
            cls.bed.create_table(ks, t)
        cls.bed.write('shop', 'orders', 1 * MiB, seed=10)
        cls.bed.write('logs', 'events', 256 * 1024, seed=20)
        cls.bed.create_table(*ROWS)
        cls.bed.write_rows(*ROWS, put={k: '1' for k in 'abcde'})
        cls.points = {}  # tag -> per-node digests at its point

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def digests(self):
        """The Data.db files of the byte tables and what a read of the rows table returns,
        on every node: what a restore to this point must give back."""
        out = {(ks, t, n['host_id']): self.bed.digest(ks, t, n)
               for ks, t in TABLES for n in self.bed.nodes}
        out.update({ROWS + (n['host_id'],): self.bed.rows(*ROWS, n) for n in self.bed.nodes})
        return out

    def backup(self, *args, expect=0):
        p, out = self.bed.cairn_json('backup', *args)
        self.assertEqual(p.returncode, expect, p.stderr)
        return out

    def test_01_increment_needs_a_full_backup(self):
        p = self.bed.cairn('backup', '--incremental', '--tag', 'too-early')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('no complete backup', p.stderr)
        self.assertIn('cairn backup', p.stderr)

    def test_02_increment_needs_incremental_backups_on(self):
        self.backup('--tag', 'base')
        self.__class__.points['base'] = self.digests()
        p = self.bed.cairn('backup', '--incremental', '--tag', 'off')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('incremental backups are off', p.stderr)
        self.assertIn('incremental_backups: true', p.stderr)
        self.assertIn('cairn incremental enable', p.stderr)

    def test_03_enable(self):
        p = self.bed.cairn('incremental', 'enable')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('until ScyllaDB restarts', p.stderr)
        p, st = self.bed.cairn_json('status')
        self.assertTrue(all(n['incremental_backups'] for n in st['nodes']), st['nodes'])

    def test_04_chain(self):
        self.bed.write('shop', 'orders', 512 * 1024, seed=30)
        # A partition deleted and another overwritten after the base: the increment
        # holds the tombstone, so no later point brings b back.
        self.bed.write_rows(*ROWS, put={'a': '2'}, delete=['b'])
        p, st = self.bed.cairn_json('status')
        self.assertTrue(all(n['backups_bytes'] > 0 for n in st['nodes']), st['nodes'])
        out = self.backup('--incremental', '--tag', 'i1')
        self.assertGreater(out['uploaded_bytes'], 0)
        self.__class__.points['i1'] = self.digests()
        # What the increment recorded left backups/, ScyllaDB's links and all.
        self.assertEqual(backups_files(self.bed), [])
        self.bed.write('shop', 'orders', 256 * 1024, seed=40)
        self.bed.write('logs', 'events', 128 * 1024, seed=50)
        self.bed.write_rows(*ROWS, put={'f': '1'}, delete=['c'])
        self.backup('--incremental', '--tag', 'i2')
        self.__class__.points['i2'] = self.digests()
        self.assertEqual(self.points['i2'][ROWS + (self.bed.nodes[0]['host_id'],)],
                         {'a': '2', 'd': '1', 'e': '1', 'f': '1'})
        self.assertEqual(backups_files(self.bed), [])
        # A compaction in the chain: the rows table becomes one SSTable that no backup
        # holds (ScyllaDB links flushes only into backups/), which changes no read.
        for n in self.bed.nodes:
            self.bed.compact(*ROWS, n)
        self.assertEqual(self.digests(), self.points['i2'])
        # Nothing new: the increment uploads nothing.
        out = self.backup('--incremental', '--tag', 'i3')
        self.assertEqual(out['uploaded_bytes'], 0)
        self.__class__.points['i3'] = self.points['i2']
        p, listed = self.bed.cairn_json('list')
        by_tag = {b['tag']: b for b in listed}
        self.assertEqual(by_tag['base']['kind'], 'full')
        for tag, prev in (('i1', 'base'), ('i2', 'i1'), ('i3', 'i2')):
            self.assertEqual(by_tag[tag]['kind'], 'incremental')
            self.assertEqual(by_tag[tag]['base_tag'], 'base')
            self.assertEqual(by_tag[tag]['previous_tag'], prev)
        self.__class__.point_ms = {t: by_tag[t]['point_ms'] for t in by_tag}
        p = self.bed.cairn('list')
        self.assertIn('restorable points', p.stdout)
        # An increment shows what it holds: the SSTables flushed since the one before.
        p, shown = self.bed.cairn_json('show', 'i2')
        self.assertEqual((shown['base_tag'], shown['previous_tag']), ('base', 'i1'))
        self.assertEqual(sum(t['files'] for t in shown['tables']), by_tag['i2']['files'])
        p = self.bed.cairn('show', 'i2')
        self.assertIn('increment of base base, after i1', p.stdout)

    def test_04b_killed_increment_loses_nothing(self):
        self.bed.write('shop', 'orders', 3 * MiB, seed=60, compressibility=0.0)
        # After the compaction: a delete of a key the compacted SSTable holds.
        self.bed.write_rows(*ROWS, put={'g': '1'}, delete=['a'])
        waiting = sorted(backups_files(self.bed))
        self.assertTrue(waiting)
        p = self.bed.start_cairn('backup', '--incremental', '--tag', 'ik', '--rate-limit', '1')

        def uploading():
            st = self.bed.cairn_json('status')[1]
            return any(n.get('jobs') for n in st['nodes'])
        wait_for(uploading, timeout=60, what='the increment to upload')
        p.send_signal(signal.SIGKILL)
        p.communicate()
        # Nothing is recorded, so nothing leaves backups/.
        self.assertEqual(sorted(backups_files(self.bed)), waiting)
        p, listed = self.bed.cairn_json('list')
        self.assertNotIn('ik', [b['tag'] for b in listed])
        # The same increment again takes over: recorded, and then removed.
        self.backup('--incremental', '--tag', 'ik')
        self.__class__.points['ik'] = self.digests()
        self.assertEqual(backups_files(self.bed), [])
        p, listed = self.bed.cairn_json('list')
        by_tag = {b['tag']: b for b in listed}
        self.assertEqual(by_tag['ik']['previous_tag'], 'i3')
        self.__class__.point_ms['ik'] = by_tag['ik']['point_ms']

    def test_04c_killed_agent_loses_nothing(self):
        victim = self.bed.nodes[1]
        self.bed.write('shop', 'orders', 3 * MiB, seed=70, compressibility=0.0)
        self.bed.write_rows(*ROWS, put={'h': '1'})
        waiting = sorted(backups_files(self.bed))
        waiting_bytes = sum(os.stat(f).st_size for f in waiting)
        quick = self.bed.write_config('grace.yaml', self.bed.read_config() + 'grace: 5\n')
        p = self.bed.start_cairn('backup', '--incremental', '--tag', 'ia', '--rate-limit', '1',
                                 config=quick)

        def uploading():
            st = self.bed.cairn_json('status')[1]
            return any(n.get('jobs') for n in st['nodes'])
        wait_for(uploading, timeout=60, what='the increment to upload')
        killed = self.bed.agent_pid(victim)
        os.kill(killed, signal.SIGKILL)
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn(victim['address'], err)
        # The surviving nodes uploaded, but nothing is recorded: every link stays.
        self.assertEqual(sorted(backups_files(self.bed)), waiting)
        self.assertNotIn('ia', [b['tag'] for b in self.bed.cairn_json('list')[1]])
        self.bed.restart_agent(victim)
        out = self.backup('--incremental', '--tag', 'ia')
        self.__class__.points['ia'] = self.digests()
        # It records exactly what waited: nothing an earlier increment holds, nothing twice.
        self.assertEqual(out['files'], len(waiting))
        self.assertEqual(out['bytes'], waiting_bytes)
        self.assertEqual(backups_files(self.bed), [])
        # Only the killed agent's temporaries are left, for the next purge.
        for tmp in repocheck.stray_temporaries(self.bed.repo_dir()):
            self.assertTrue(os.path.basename(tmp).startswith('.tmp-%d-' % killed), tmp)
        by_tag = {b['tag']: b for b in self.bed.cairn_json('list')[1]}
        self.assertEqual(by_tag['ia']['previous_tag'], 'ik')
        self.__class__.point_ms['ia'] = by_tag['ia']['point_ms']

    def restore_and_compare(self, args, want):
        for ks, t in TABLES + [ROWS]:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p, out = self.bed.cairn_json('restore', *args, '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.digests(), want, args)
        return out

    def test_05_restore_at_each_point(self):
        for tag in ('base', 'i1', 'i2', 'ik', 'ia'):
            self.restore_and_compare(['--at', rfc3339(self.point_ms[tag])], self.points[tag])
        # Between two points: the earlier one.
        self.restore_and_compare(['--at', rfc3339(self.point_ms['i2'] - 1)], self.points['i1'])
        # A tag restores its chain too, and a point before every backup is refused.
        self.restore_and_compare(['i3'], self.points['i3'])
        p = self.bed.cairn('restore', '--at', rfc3339(self.point_ms['base'] - 60000))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('oldest point', p.stderr)

    def test_06_bad_times_are_refused(self):
        for bad in ('yesterday', '2026-12-07T18:00:00', '-15x', '2026-13-01T00:00:00Z'):
            p = self.bed.cairn('restore', '--at', bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn('RFC 3339', p.stderr)

    def test_07_retention_keeps_the_chain(self):
        # keep_last 1 keeps the newest increment, and with it its chain down to the base.
        cfg = self.bed.read_config() + '\nretention:\n  keep_last: 1\n'
        path = self.bed.write_config('keep1.yaml', cfg)
        p, out = self.bed.cairn_json('expire', '--dry-run', config=path)
        self.assertEqual(p.returncode, 0, p.stderr)
        kept = {b['tag'] for b in out['backups'] if b['keep']}
        self.assertEqual(kept, {'base', 'i1', 'i2', 'i3', 'ik', 'ia'}, out)

    def test_08_delete_keeps_chains_whole(self):
        tags = lambda: [b['tag'] for b in self.bed.cairn_json('list')[1]]  # noqa: E731
        before = tags()
        # A backup an increment needs goes only with it, and the order of the command
        # line does not matter: the increment goes first.
        p = self.bed.cairn('delete', '--yes', 'ik')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('backup ik is needed by increment ia', p.stderr)
        self.assertIn('cairn delete ia ik', p.stderr)
        self.assertEqual(tags(), before)
        p = self.bed.cairn('delete', '--yes', 'i3', 'ik')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('needed by increment ia', p.stderr)
        self.assertIn('backup i3 is not deleted: increment ik', p.stderr)
        self.assertEqual(tags(), before)

    def restoring(self, tag):
        """A restore of tag that takes its time: each load waits 2 s on every node."""
        for n in self.bed.nodes:
            self.bed.rest(n, 'POST', '/emulator/settings', load_delay=2)
        self.addCleanup(lambda: [self.bed.rest(n, 'POST', '/emulator/settings', load_delay=0)
                                 for n in self.bed.nodes])
        for ks, t in TABLES + [ROWS]:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p = self.bed.start_cairn('restore', tag, '--schema')
        self.addCleanup(p.communicate)
        locks = os.path.join(self.bed.repo_dir(), 'locks')

        def lease():
            for f in os.listdir(locks) if os.path.isdir(locks) else []:
                with open(os.path.join(locks, f)) as lf:
                    if f.endswith('.lease') and 'restore' in lf.read():
                        return True
            return False
        wait_for(lease, timeout=60, what='the restore lease')
        return p

    def test_09_a_restored_chain_outlives_delete_and_expire(self):
        # A full backup after the chain uploads only what no link holds. The nodes hold
        # what the last restore loaded (i3's chain): the base's SSTables and those the
        # increments shipped, which the chain names, so nothing goes up again.
        out = self.backup('--tag', 'full2')
        self.assertEqual(out['uploaded_bytes'], 0, out)
        p = self.restoring('i2')
        # Deleting the chain under the restore: what comes after i2 goes, i2 is refused,
        # and so is what it needs.
        d = self.bed.cairn('delete', '--yes', 'base', 'i1', 'i2', 'i3', 'ik', 'ia')
        self.assertEqual(d.returncode, 1, d.stderr)
        for tag in ('ia', 'ik', 'i3'):
            self.assertIn('deleted %s ' % tag, d.stdout)
        self.assertIn('backup i2 is being restored', d.stderr)
        self.assertIn('backup i1 is not deleted: increment i2', d.stderr)
        self.assertIn('backup base is not deleted: increment i1', d.stderr)
        # Retention that keeps only full2: what the restore reads stays, with its reason.
        cfg = self.bed.write_config('keep-full2.yaml',
                                    self.bed.read_config() + '\nretention:\n  keep_last: 1\n')
        e, out = self.bed.cairn_json('expire', config=cfg)
        self.assertEqual(e.returncode, 0, e.stderr)
        got = {b['tag']: (b['keep'], b['deleted'], b['reasons']) for b in out['backups']}
        self.assertEqual(sorted(got), ['base', 'full2', 'i1', 'i2'])
        self.assertEqual(got['i2'][:2], (True, False))
        self.assertIn('being restored', got['i2'][2])
        for tag in ('i1', 'base'):
            self.assertEqual(got[tag][:2], (True, False), got)
            self.assertIn('needed by i2', got[tag][2])
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, err)
        # Once the restore is over the next run takes the rest, newest first.
        e, out = self.bed.cairn_json('expire', config=cfg)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertEqual([b['tag'] for b in self.bed.cairn_json('list')[1]], ['full2'])


if __name__ == '__main__':
    unittest.main()
