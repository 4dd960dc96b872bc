"""Materialized views and secondary indexes through a backup and a restore.

ScyllaDB builds views from their base tables and refuses SSTables uploaded into them
(the emulator does the same). A backup records the views and indexes instead of their
SSTables; `restore --schema` creates the base tables, loads them, then creates the
views, which ScyllaDB builds, and reports the build. While the data loads, tombstone GC
is off on the restored tables, and back on once every node has loaded. Increments
empty the views' backups/ directories, where ScyllaDB links their flushes too.
"""

import os
import unittest

from harness import Bed

KS = 'mvks'
ROWS = {'a': 'red', 'b': 'blue', 'c': 'red'}


class ViewsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2, data_dirs=1)
        cls.bed.cql("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 2}" % KS)
        cls.bed.cql('CREATE TABLE %s.base (k text PRIMARY KEY, v text)' % KS)
        cls.bed.cql('CREATE MATERIALIZED VIEW %s.byv AS SELECT * FROM %s.base WHERE v IS NOT '
                    'NULL AND k IS NOT NULL PRIMARY KEY (v, k)' % (KS, KS))
        cls.bed.cql('CREATE INDEX vidx ON %s.base (v)' % KS)
        cls.bed.write_rows(KS, 'base', put=ROWS)
        cls.bed.write_rows(KS, 'base', delete=['c'])
        cls.want = {'a': 'red', 'b': 'blue'}
        for n in cls.bed.nodes:
            assert cls.bed.rows(KS, 'byv', n) == cls.want
        p, cls.backup = cls.bed.cairn_json('backup', '--tag', 'v1')
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def test_01_views_are_recorded_not_backed_up(self):
        p, show = self.bed.cairn_json('show', 'v1', '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        tables = {f['table'] for f in show['files_list']}
        self.assertEqual(tables, {'base'})
        self.assertEqual({(t['keyspace'], t['table']) for t in show['tables']}, {(KS, 'base')})
        views = {(v['keyspace'], v['name'], v['kind'], v['base']) for v in show['views']}
        self.assertEqual(views, {(KS, 'byv', 'view', 'base'),
                                 (KS, 'vidx_index', 'index', 'base')})

    def test_02_restore_creates_views_after_the_data(self):
        repo = 'file://' + self.bed.repo_dir()
        with Bed(nodes=1, data_dirs=1, cluster_name='target', repository=repo) as other:
            p, out = other.cairn_json('restore', 'v1', '--from-cluster', 'itest', '--schema')
            self.assertEqual(p.returncode, 0, p.stderr)
            node = other.nodes[0]
            self.assertEqual(other.rows(KS, 'base', node), self.want)
            # Built by the target from the loaded base table.
            self.assertEqual(other.rows(KS, 'byv', node), self.want)
            self.assertEqual(other.rows(KS, 'vidx_index', node), self.want)
            builds = {(v['keyspace'], v['name']): v for v in out['views']}
            self.assertEqual(set(builds), {(KS, 'byv'), (KS, 'vidx_index')})
            for v in builds.values():
                self.assertEqual(v['nodes'], 1, v)
            loads = other.loads(node)
            self.assertEqual({(r['keyspace'], r['table']) for r in loads}, {(KS, 'base')})
            # Tombstones kept while loading, collected again once the restore is over.
            self.assertEqual({r['tombstone_gc'] for r in loads}, {False})
            self.assertIs(other.rest(node, 'GET', '/column_family/tombstone_gc/%s:base' % KS),
                          True)

    def backups_files(self, table):
        return [f for n in self.bed.nodes for d in n['data_dirs']
                for root, _, files in os.walk(os.path.join(d, KS))
                if os.path.basename(root) == 'backups'
                and os.path.basename(os.path.dirname(root)).startswith(table + '-')
                for f in files]

    def test_03_increments_empty_the_views_backups(self):
        p = self.bed.cairn('incremental', 'enable')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.bed.write_rows(KS, 'base', put={'d': 'green'})
        for n in self.bed.nodes:  # the views' memtables too
            self.bed.rest(n, 'POST', '/storage_service/keyspace_flush/' + KS)
        self.assertTrue(self.backups_files('byv'), 'ScyllaDB links views\' flushes too')
        self.assertTrue(self.backups_files('vidx_index'))
        p, out = self.bed.cairn_json('backup', '--incremental', '--tag', 'v1-i1')
        self.assertEqual(p.returncode, 0, p.stderr)
        p, show = self.bed.cairn_json('show', 'v1-i1', '--files')
        self.assertEqual({f['table'] for f in show['files_list']}, {'base'})
        for t in ('base', 'byv', 'vidx_index'):
            self.assertEqual(self.backups_files(t), [], t)


if __name__ == '__main__':
    unittest.main()
