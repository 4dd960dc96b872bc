"""Materialized views and secondary indexes: kept from their base, built, never loaded."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import rows, sstables                 # noqa: E402


class ViewTest(ClusterTestCase):
    nodes = 2

    def setUp(self):
        self.ks = self.id().rsplit('.', 1)[-1].replace('test_', 'v')[:40]
        c = self.cql()
        c.query("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 2}" % self.ks)
        c.query('CREATE TABLE %s.base (k text PRIMARY KEY, v text)' % self.ks)

    def cql(self, node=0):
        c = self.cluster.cql(node)
        self.addCleanup(c.close)
        return c

    def create_views(self):
        c = self.cql()
        c.query('CREATE MATERIALIZED VIEW %s.byv AS SELECT * FROM %s.base WHERE v IS NOT NULL '
                'AND k IS NOT NULL PRIMARY KEY (v, k)' % (self.ks, self.ks))
        c.query('CREATE INDEX vidx ON %s.base (v)' % self.ks)

    def rows(self, table, node=0):
        return self.ok('GET', '/emulator/rows', {'keyspace': self.ks, 'table': table},
                       node=node)['rows']

    def put(self, node=0, **kw):
        params = {'keyspace': self.ks, 'table': 'base'}
        params.update(kw)
        return self.ok('POST', '/emulator/rows', params, node=node)

    def statuses(self, view, node=0):
        return {s['key']: s['value'] for s in
                self.ok('GET', '/storage_service/view_build_statuses/%s/%s' % (self.ks, view),
                        node=node)}

    def built(self, view, node=0):
        """Waits until every node has built the view (each builds in the background, in
        rounds of 0.1 s); the bound on the rounds only guards against a hang."""
        for _ in range(600):
            if set(self.statuses(view, node).values()) == {'SUCCESS'}:
                return
            time.sleep(0.05)
        self.fail('view %s never built: %s' % (view, self.statuses(view, node)))

    def test_writes_reach_the_views(self):
        self.create_views()
        self.put(put='a=1,b=2', flush='true')
        self.put(delete='a')
        for view in ('byv', 'vidx_index'):
            self.assertEqual(self.rows(view), {'b': '2'}, view)

    def test_a_new_view_is_built_from_the_data_on_every_node(self):
        self.put(put='a=1', flush='true')
        self.put(put='b=2', node=1)                      # still in node 2's memtable
        self.create_views()
        for node in (0, 1):
            self.built('byv', node)
            self.built('vidx_index', node)
        self.assertEqual(self.rows('byv', 0), {'a': '1'})
        self.assertEqual(self.rows('vidx_index', 1), {'b': '2'})
        st, doc = self.api('GET', '/storage_service/view_build_statuses/%s/base' % self.ks)
        self.assertEqual(st, 400, doc)

    def test_a_load_into_a_view_is_refused_and_a_load_into_the_base_updates_it(self):
        self.create_views()
        self.built('byv')
        info = self.ok('GET', '/emulator/sstables', {'keyspace': self.ks, 'table': 'byv'})
        self.assertEqual(info['sstables'], [])
        st, doc = self.api('POST', '/storage_service/sstables/%s' % self.ks, {'cf': 'byv'})
        self.assertEqual(st, 500, doc)
        self.assertIn('materialized view', doc['message'])
        # SSTables loaded into the base produce view updates.
        directory = os.path.dirname(self.put(put='y=1', flush='true')['flushed'][0])
        sstables.write_sstable(os.path.join(directory, 'upload'), 'me', '7',
                               [rows.encode([['x', 1, '9']])])
        self.assertEqual(self.rows('byv'), {'y': '1'})
        self.ok('POST', '/storage_service/sstables/%s' % self.ks, {'cf': 'base'})
        self.assertEqual(self.rows('base'), {'x': '9', 'y': '1'})
        self.assertEqual(self.rows('byv'), {'x': '9', 'y': '1'})
        self.assertEqual(self.rows('vidx_index'), {'x': '9', 'y': '1'})

    def test_tombstone_gc_switch_is_recorded_by_loads(self):
        name = '/column_family/tombstone_gc/%s:base' % self.ks
        self.assertIs(self.ok('GET', name), True)
        self.ok('DELETE', name)
        self.assertIs(self.ok('GET', name), False)
        self.assertIs(self.ok('GET', name, node=1), True, 'a switch of one node')
        self.ok('DELETE', '/emulator/loads')
        self.ok('POST', '/storage_service/sstables/%s' % self.ks, {'cf': 'base'})
        self.ok('POST', name)
        self.ok('POST', '/storage_service/sstables/%s' % self.ks, {'cf': 'base'})
        self.assertEqual([r['tombstone_gc'] for r in self.ok('GET', '/emulator/loads')],
                         [False, True])
        st, doc = self.api('GET', '/column_family/tombstone_gc/nocolon')
        self.assertEqual(st, 400, doc)


if __name__ == '__main__':
    unittest.main()
