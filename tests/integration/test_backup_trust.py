"""A backup that says "complete" is restorable, and nothing runs twice by accident.

Each test reproduces a way cairn once reported success for something it had not done,
or did a thing twice; docs/cli.md and docs/restore.md say what the operator sees now.
"""

import signal
import time
import unittest

from harness import Bed, wait_for

MiB = 1 << 20


class BackupTrustTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2)
        cls.bed.seed_sample()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def test_default_tags_never_collide(self):
        tags = []
        for _ in range(3):
            p, s = self.bed.cairn_json('backup')
            self.assertEqual(p.returncode, 0, p.stderr)
            tags.append(s['tag'])
        self.assertEqual(len(set(tags)), 3, tags)
        self.assertEqual(tags, sorted(tags), 'default tags sort by time')

    def test_second_concurrent_backup_is_refused(self):
        # Fresh data, so that the first backup has something to upload slowly.
        self.bed.write('shop', 'orders', 4 * MiB, seed=800)
        first = self.bed.start_cairn('backup', '--tag', 'slow-one', '--rate-limit', '1')
        try:
            wait_for(lambda: any(self.bed.snapshot_of(n, 'slow-one') for n in self.bed.nodes),
                     timeout=60, what='the first backup to snapshot')
            p = self.bed.cairn('backup', '--tag', 'second-one')
            self.assertEqual(p.returncode, 1, p.stderr)
            # It names the running backup: its tag, host and pid.
            self.assertIn('slow-one', p.stderr)
            self.assertIn('pid %d' % first.pid, p.stderr)
            self.assertEqual([], [d for n in self.bed.nodes for d in self.bed.snapshot_of(n,
                                                                                 'second-one')])
        finally:
            first.send_signal(signal.SIGINT)
            first.communicate(timeout=120)

    def test_rerun_of_a_killed_backup_holds_its_own_snapshot(self):
        # Fresh data, so that the upload is still running when the backup is killed.
        self.bed.write('shop', 'orders', 4 * MiB, seed=700)
        proc = self.bed.start_cairn('backup', '--tag', 'rerun', '--rate-limit', '1')
        wait_for(lambda: all(self.bed.snapshot_of(n, 'rerun') for n in self.bed.nodes),
                 timeout=60, what='the snapshots')
        time.sleep(1.0)  # the upload jobs have started
        proc.kill()
        proc.communicate()
        # New data, then the same tag again: the backup must hold what its own snapshot
        # holds, not what the killed attempt's jobs had listed.
        self.bed.write('shop', 'orders', 256 * 1024, seed=900)
        p, s = self.bed.cairn_json('backup', '--tag', 'rerun', timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        p, show = self.bed.cairn_json('show', 'rerun', '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        live = set()
        for n in self.bed.nodes:
            live |= set(h for h in self.bed.digest('shop', 'orders', n))
        stored = set(f['blob'] for f in show['files_list']
                     if (f['keyspace'], f['table']) == ('shop', 'orders') and
                     f['name'].endswith('Data.db'))
        self.assertEqual(live, stored)
        for n in self.bed.nodes:
            self.assertEqual(self.bed.snapshot_of(n, 'rerun'), [])


if __name__ == '__main__':
    unittest.main()
