"""An agent acts only on what it was asked for and where its configuration allows.

Each test reproduces a way cairn once reported success for something it had not done,
or did a thing twice; docs/cli.md and docs/restore.md say what the operator sees now.
"""

import os
import re
import subprocess
import unittest

from harness import Bed, wait_for

class AgentTrustTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2)
        cls.bed.seed_sample()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def test_table_without_snapshot_fails_the_node(self):
        # The snapshot of a node vanishes under cairn's feet before its upload lists it.
        # Tables are listed one at a time, in order: at 0.2 MiB/s the first (logs.events,
        # 1 MiB) takes about 5 s, so the others are listed well after the removal even on
        # a busy machine (at 1 MiB/s a sanitized run once listed them all first).
        victim = self.bed.nodes[0]
        proc = self.bed.start_cairn('backup', '--tag', 'vanished', '--rate-limit', '0.2',
                                    '--json')
        wait_for(lambda: len(self.bed.snapshot_of(victim, 'vanished')) >= 3, timeout=60,
                 what='the snapshots on node 0')
        for d in self.bed.snapshot_of(victim, 'vanished'):
            subprocess.run(['rm', '-rf', d], check=True)
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn('has no snapshot', err)
        self.assertIn(victim['host_id'], err)
        p, listed = self.bed.cairn_json('list')
        self.assertNotIn('vanished', [b['tag'] for b in listed])

    def test_repository_outside_the_agents_configuration_is_refused(self):
        other = os.path.join(self.bed.dir, 'elsewhere')
        os.makedirs(other)
        text = re.sub(r'(?m)^repository:.*$', 'repository: file://%s' % other,
                      self.bed.read_config())
        cfg = self.bed.write_config('elsewhere.yaml', text)
        p = self.bed.cairn('backup', '--tag', 'elsewhere', config=cfg)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('does not serve', p.stderr)
        self.assertNotIn('cairn repo init', p.stderr)
        # Nothing was written there by any agent.
        written = [os.path.join(r, f) for r, _, fs in os.walk(other) for f in fs]
        self.assertFalse([w for w in written if '/blobs/' in w or 'nodes/' in w], written)



if __name__ == '__main__':
    unittest.main()
