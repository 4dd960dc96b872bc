"""A restore changes nothing until every byte it will load is verified, refuses to add
to tables that hold data, and loads nothing twice after a crash.

Each test reproduces a way cairn once reported success for something it had not done,
or did a thing twice; docs/cli.md and docs/restore.md say what the operator sees now.
"""

import os
import signal
import subprocess
import unittest

import repocheck
from harness import BIN, Bed, wait_for

MiB = 1 << 20


class RestoreTrustTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = Bed(nodes=3, data_dirs=1)
        cls.src.seed_sample()
        p = cls.src.cairn('backup', '--tag', 'good')
        assert p.returncode == 0, p.stderr
        cls.repo = cls.src.repo_dir()

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()

    def target(self):
        """A fresh 3-node cluster that reads the source's repository."""
        bed = Bed(nodes=3, data_dirs=1, cluster_name='target', repository='file://' + self.repo)
        self.addCleanup(bed.stop)
        return bed

    def test_damaged_blob_changes_nothing_on_the_target(self):
        p, show = self.src.cairn_json('show', 'good', '--files')
        data = [f for f in show['files_list'] if f['name'].endswith('Data.db')]
        entry = data[len(data) // 2]
        victim = entry['blob']
        path, start, length = repocheck.stored_place(self.repo, entry)
        with open(path, 'rb') as f:
            saved = f.read()
        self.addCleanup(lambda: open(path, 'wb').write(saved))
        raw = bytearray(saved)
        raw[start + length // 2] ^= 0xFF
        with open(path, 'wb') as f:
            f.write(raw)
        t = self.target()
        p = t.cairn('restore', 'good', '--from-cluster', 'itest', '--schema')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(victim, p.stderr)
        self.assertIn('good', p.stderr)
        # Nothing loaded, and no schema created.
        for n in t.nodes:
            self.assertEqual(t.loads(n), [])
        rows = t.cql("SELECT keyspace_name FROM system_schema.keyspaces").rows
        self.assertNotIn('shop', [r[0] for r in rows])

    def test_dry_run_changes_nothing_and_prints_the_plan(self):
        t = self.target()
        p, plan = t.cairn_json('restore', 'good', '--from-cluster', 'itest', '--schema',
                               '--dry-run')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(plan['method'], 'load-and-stream')
        self.assertEqual(plan['nodes'], 3)
        self.assertGreater(plan['files'], 0)
        self.assertIn('shop', ' '.join(plan['schema_changes']))
        for n in t.nodes:
            self.assertEqual(t.loads(n), [])
        rows = t.cql("SELECT keyspace_name FROM system_schema.keyspaces").rows
        self.assertNotIn('shop', [r[0] for r in rows])

    def test_restore_onto_tables_with_data_is_refused(self):
        t = self.target()
        p = t.cairn('restore', 'good', '--from-cluster', 'itest', '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = t.cairn('restore', 'good', '--from-cluster', 'itest')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('already hold data', p.stderr)
        self.assertIn('--into-nonempty', p.stderr)


class RestoreKillTest(unittest.TestCase):
    def test_agent_killed_mid_download_loads_nothing_twice(self):
        src = Bed(nodes=2, data_dirs=1)
        self.addCleanup(src.stop)
        src.create_table('shop', 'orders')
        for i in range(6):
            src.write('shop', 'orders', 2 * MiB, seed=700 + 10 * i)
        p = src.cairn('backup', '--tag', 'base')
        self.assertEqual(p.returncode, 0, p.stderr)
        want = src.cluster_digest('shop', 'orders')
        t = Bed(nodes=2, data_dirs=1, cluster_name='target',
                repository='file://' + src.repo_dir())
        self.addCleanup(t.stop)
        victim = t.nodes[0]
        # A short grace: the killed agent is declared failed in seconds, not minutes.
        quick = t.write_config('quick.yaml', t.read_config() + 'grace: 5\n')
        proc = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', quick, 'restore', 'base',
                                 '--from-cluster', 'itest', '--schema'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        ndir = os.path.join(t.dir, victim['name'])

        def downloading():
            # The first phase downloads into the agent's staging area (docs/restore.md);
            # an agent that downloads straight into upload/ is caught there.
            for d in victim['data_dirs'] + [os.path.join(ndir, 'agent-state')]:
                for root, _, files in os.walk(d):
                    if (root.endswith('/upload') or '/stage/' in root) and files:
                        return True
            return False
        wait_for(downloading, timeout=120, what='a download into the staging area or upload/')
        os.kill(t.agent_pid(victim), signal.SIGKILL)
        proc.communicate(timeout=600)
        self.assertNotEqual(proc.returncode, 0)
        t.restart_agent(victim)
        p = t.cairn('restore', 'base', '--from-cluster', 'itest', '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        loaded = sorted(s['data_sha256'] for n in t.nodes for rec in t.loads(n)
                        for s in rec['sstables'] if rec['status'] == 'ok')
        self.assertEqual(loaded, sorted(want), 'every source Data.db loaded exactly once')
        for n in t.nodes:
            for d in n['data_dirs']:
                for root, _, files in os.walk(d):
                    if root.endswith('/upload'):
                        self.assertEqual(files, [], root)
        # Staged files are removed once the restore is finished.
        for n in t.nodes:
            stage = os.path.join(t.dir, n['name'], 'agent-state', 'restore')
            left = [f for _, _, fs in os.walk(stage) for f in fs]
            self.assertEqual(left, [], stage)


if __name__ == '__main__':
    unittest.main()
