"""`cairn backup --incremental` and `cairn restore --at`: ScyllaDB's incremental backups.

A full backup, then increments of what ScyllaDB linked into backups/ since: each restores
as the base plus its chain, byte for byte what the nodes held at its point, and the links
it recorded leave backups/ once it is recorded.
"""

import datetime
import os
import signal
import unittest

from harness import Bed, wait_for

MiB = 1 << 20
TABLES = [('shop', 'orders'), ('logs', 'events')]


def backups_files(bed):
    """Every file in a backups/ directory of any node."""
    return [os.path.join(root, f) for n in bed.nodes for d in n['data_dirs']
            for root, _, files in os.walk(d) if os.path.basename(root) == 'backups'
            for f in files]


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


class IncrementalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2)
        for ks, t in TABLES:
            cls.bed.create_table(ks, t)
        cls.bed.write('shop', 'orders', 1 * MiB, seed=10)
        cls.bed.write('logs', 'events', 256 * 1024, seed=20)
        cls.points = {}  # tag -> per-node digests at its point

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def digests(self):
        return {(ks, t, n['host_id']): self.bed.digest(ks, t, n)
                for ks, t in TABLES for n in self.bed.nodes}

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
        p, st = self.bed.cairn_json('status')
        self.assertTrue(all(n['backups_bytes'] > 0 for n in st['nodes']), st['nodes'])
        out = self.backup('--incremental', '--tag', 'i1')
        self.assertGreater(out['uploaded_bytes'], 0)
        self.__class__.points['i1'] = self.digests()
        # What the increment recorded left backups/, ScyllaDB's links and all.
        self.assertEqual(backups_files(self.bed), [])
        self.bed.write('shop', 'orders', 256 * 1024, seed=40)
        self.bed.write('logs', 'events', 128 * 1024, seed=50)
        self.backup('--incremental', '--tag', 'i2')
        self.__class__.points['i2'] = self.digests()
        self.assertEqual(backups_files(self.bed), [])
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

    def restore_and_compare(self, args, want):
        for ks, t in TABLES:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p, out = self.bed.cairn_json('restore', *args, '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.digests(), want, args)
        return out

    def test_05_restore_at_each_point(self):
        for tag in ('base', 'i1', 'i2', 'ik'):
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
        self.assertEqual(kept, {'base', 'i1', 'i2', 'i3', 'ik'}, out)


if __name__ == '__main__':
    unittest.main()
