"""`cairn restore`: back to the same nodes, onto another shape, filtered, damaged, resumed."""

import os
import signal
import subprocess
import unittest

import repocheck
from harness import BIN, SSTABLE_SETS, Bed, shared_sets, wait_for

MiB = 1 << 20
TABLES = [('shop', 'orders'), ('shop', 'items'), ('logs', 'events')]


def all_files_sha(bed, keyspace, table):
    """SHA-256 of every live component file of the table, over all nodes."""
    out = []
    for node in bed.nodes:
        for d in node['data_dirs']:
            ksdir = os.path.join(d, keyspace)
            if not os.path.isdir(ksdir):
                continue
            for tdir in os.listdir(ksdir):
                if not tdir.startswith(table + '-'):
                    continue
                full = os.path.join(ksdir, tdir)
                out += [repocheck.sha256_file(os.path.join(full, f)) for f in os.listdir(full)
                        if os.path.isfile(os.path.join(full, f))]
    return sorted(out)


class RestoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2)
        for ks, t in TABLES:
            cls.bed.create_table(ks, t)
        for i in range(3):
            cls.bed.write('shop', 'orders', 2 * MiB, seed=10 + i)
            cls.bed.write('shop', 'items', 256 * 1024, seed=20 + i)
        cls.bed.write('logs', 'events', 1 * MiB, seed=30)
        cls.sets = []
        try:
            cls.sets = shared_sets()
        except unittest.SkipTest:
            pass
        for name in cls.sets:
            table = 'real_' + name.replace('-', '_')
            cls.bed.create_table('fixtures', table)
            cls.bed.plant('fixtures', table, os.path.join(SSTABLE_SETS, name), cls.bed.nodes[0])
        cls.fixture_tables = [('fixtures', 'real_' + n.replace('-', '_')) for n in cls.sets]
        cls.per_node = {(ks, t, n['host_id']): cls.bed.digest(ks, t, n)
                        for ks, t in TABLES + cls.fixture_tables for n in cls.bed.nodes}
        cls.fixture_files = {(ks, t): all_files_sha(cls.bed, ks, t)
                             for ks, t in cls.fixture_tables}
        p = cls.bed.cairn('backup', '--tag', 'base')
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def restore(self, *args, bed=None, expect=0):
        p, out = (bed or self.bed).cairn_json('restore', *args)
        self.assertEqual(p.returncode, expect, p.stderr)
        return out

    def drop(self, tables):
        for ks, t in tables:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))

    def test_01_same_nodes_refresh(self):
        self.drop(TABLES + self.fixture_tables)
        for ks, t in TABLES:
            r = self.bed.cql("SELECT id FROM system_schema.tables WHERE keyspace_name = '%s' "
                             "AND table_name = '%s'" % (ks, t))
            self.assertEqual(len(r.rows), 0)
        out = self.restore('base', '--schema')
        self.assertEqual(out['method'], 'refresh')
        self.assertEqual(out['nodes'], 3)
        for (ks, t, host), want in self.per_node.items():
            node = [n for n in self.bed.nodes if n['host_id'] == host][0]
            self.assertEqual(self.bed.digest(ks, t, node), want, '%s.%s on %s' % (ks, t, host))
        for n in self.bed.nodes:
            self.assertTrue(all(x['mode'] == 'refresh' for x in self.bed.loads(n)))
        # The real SSTable sets, every component, byte for byte.
        for key, want in self.fixture_files.items():
            self.assertEqual(all_files_sha(self.bed, *key), want, key)

    def test_02_other_shape_load_and_stream(self):
        repo = 'file://' + self.bed.repo_dir()
        with Bed(nodes=4, data_dirs=1, dcs='dc1:2,dc2:2', cluster_name='other',
                 repository=repo) as other:
            out = self.restore('latest', '--from-cluster', 'itest', '--schema', bed=other)
            self.assertEqual(out['method'], 'load-and-stream')
            self.assertEqual(out['nodes'], 4)
            for ks, t in TABLES + self.fixture_tables:
                have = set(other.cluster_digest(ks, t))
                want = {h for n in self.bed.nodes for h in self.per_node[(ks, t, n['host_id'])]}
                self.assertTrue(want <= have, '%s.%s: missing %s' % (ks, t, want - have))
            # Refresh cannot serve another shape, and says so.
            p = other.cairn('restore', 'latest', '--from-cluster', 'itest', '--method', 'refresh',
                            '--into-nonempty')
            self.assertEqual(p.returncode, 1)
            self.assertIn('load-and-stream', p.stderr)

    def test_03_keyspace_filter(self):
        repo = 'file://' + self.bed.repo_dir()
        with Bed(nodes=2, data_dirs=1, cluster_name='filtered', repository=repo) as other:
            out = self.restore('base', '--from-cluster', 'itest', '--schema', '--keyspace', 'logs',
                               bed=other)
            self.assertEqual(out['tables'], 1)
            self.assertTrue(other.cluster_digest('logs', 'events'))
            p = other.cql("SELECT id FROM system_schema.tables WHERE keyspace_name = 'shop' "
                          "AND table_name = 'orders'")
            self.assertEqual(len(p.rows), 0)

    def test_04_corrupt_blob_changes_nothing(self):
        repo_dir = self.bed.repo_dir()
        # Damage one Data.db blob of logs.events.
        p, show = self.bed.cairn_json('show', 'base', '--files')
        victim = [f for f in show['files_list'] if f['keyspace'] == 'logs'
                  and f['name'].endswith('Data.db')][0]
        # A small file is a member of a pack (format 2): its bytes are damaged there.
        path, start, length = repocheck.stored_place(repo_dir, victim)
        with open(path, 'rb') as f:
            good = f.read()
        bad = bytearray(good)
        bad[start + length // 2] ^= 0x55
        try:
            with open(path, 'wb') as f:
                f.write(bad)
            with Bed(nodes=1, data_dirs=1, cluster_name='damaged',
                     repository='file://' + repo_dir) as other:
                p = other.cairn('restore', 'base', '--from-cluster', 'itest', '--schema')
                self.assertEqual(p.returncode, 1)
                self.assertIn(victim['blob'], p.stderr)
                self.assertIn('logs.events', p.stderr)
                self.assertEqual(other.loads(other.nodes[0]), [])
                # Every byte is verified before anything changes: not even the schema was
                # created (docs/restore.md).
                rows = other.cql("SELECT keyspace_name FROM system_schema.keyspaces").rows
                self.assertNotIn('logs', [r[0] for r in rows])
                # Nothing left behind in upload/.
                for d in other.nodes[0]['data_dirs']:
                    for root, _, files in os.walk(os.path.join(d, 'logs')):
                        if os.path.basename(root) == 'upload':
                            self.assertEqual(files, [])
        finally:
            with open(path, 'wb') as f:
                f.write(good)

    def test_05_missing_blob_refused_before_any_change(self):
        repo_dir = self.bed.repo_dir()
        p, show = self.bed.cairn_json('show', 'base', '--files')
        victim = [f for f in show['files_list'] if f['keyspace'] == 'shop'][0]
        path, _, _ = repocheck.stored_place(repo_dir, victim)
        os.rename(path, path + '.away')
        try:
            p = self.bed.cairn('restore', 'base')
            self.assertEqual(p.returncode, 1)
            self.assertIn(victim['blob'], p.stderr)
            self.assertIn('nothing was restored', p.stderr)
        finally:
            os.rename(path + '.away', path)

    def test_06_killed_restore_resumes(self):
        repo = 'file://' + self.bed.repo_dir()
        with Bed(nodes=1, data_dirs=1, cluster_name='resume', repository=repo) as other:
            node = other.nodes[0]
            other.rest(node, 'POST', '/emulator/settings', load_delay=1.5)
            # A short grace: the killed agent's node fails soon (default 180 s).
            cfg = other.write_config('grace.yaml', other.read_config() + 'grace: 5\n')
            cmd = [os.path.join(BIN, 'cairn'), '-c', cfg, 'restore', 'base',
                   '--from-cluster', 'itest', '--schema', '--json']
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            wait_for(lambda: len(other.loads(node)) >= 1, 60, 'the first load')
            # Kill the agent between loads: what it loaded is recorded.
            os.kill(other.agent_pid(node), signal.SIGKILL)
            proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 1)
            done_before = len(other.loads(node))
            other.restart_agent(node)
            other.rest(node, 'POST', '/emulator/settings', load_delay=0)
            p, out = other.cairn_json('restore', 'base', '--from-cluster', 'itest', '--schema')
            self.assertEqual(p.returncode, 0, p.stderr)
            loads = other.loads(node)
            tables = [(x['keyspace'], x['table']) for x in loads if x['status'] == 'ok']
            self.assertEqual(len(tables), len(set(tables)), 'a table was loaded twice')
            self.assertEqual(len(set(tables)), len(TABLES) + len(self.fixture_tables))
            self.assertGreaterEqual(done_before, 1)

    def test_07_killed_coordinator_reattaches(self):
        repo = 'file://' + self.bed.repo_dir()
        with Bed(nodes=1, data_dirs=1, cluster_name='reattach', repository=repo) as other:
            node = other.nodes[0]
            other.rest(node, 'POST', '/emulator/settings', load_delay=1.0)
            cmd = [os.path.join(BIN, 'cairn'), '-c', other.config, 'restore', 'base',
                   '--from-cluster', 'itest', '--schema', '--json']
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            wait_for(lambda: len(other.loads(node)) >= 1, 60, 'the first load')
            proc.kill()
            proc.communicate()
            # The agent's job goes on; the same command again follows it to the end.
            p, out = other.cairn_json('restore', 'base', '--from-cluster', 'itest', '--schema')
            self.assertEqual(p.returncode, 0, p.stderr)
            tables = [(x['keyspace'], x['table']) for x in other.loads(node)
                      if x['status'] == 'ok']
            self.assertEqual(len(tables), len(set(tables)), 'a table was loaded twice')
            self.assertEqual(len(set(tables)), len(TABLES) + len(self.fixture_tables))


if __name__ == '__main__':
    unittest.main()
