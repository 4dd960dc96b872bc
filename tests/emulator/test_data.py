"""The data directory under cairn's feet: flush, compaction, snapshots, backups."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import sstables                       # noqa: E402


class DataDirTest(ClusterTestCase):
    nodes = 2
    cluster_options = {'data_dirs': 2}

    def setUp(self):
        # A fresh table per test keeps the tests independent.
        self.table = self.id().rsplit('.', 1)[-1].replace('test_', '')[:40]
        info = self.make_table('data', self.table, rf=2)
        self.dirs = info['directories']

    def live(self, node=0):
        return self.cluster.call(node, 'GET', '/emulator/sstables',
                                 {'keyspace': 'data', 'table': self.table})['sstables']

    def write(self, nbytes, node=0, **kw):
        params = {'keyspace': 'data', 'table': self.table, 'bytes': nbytes}
        params.update(kw)
        return self.ok('POST', '/emulator/write', params, node=node)

    def test_write_goes_to_memtable_until_flush(self):
        r = self.write(100000)
        self.assertEqual(r['memtable_bytes'], 100000)
        self.assertEqual(self.live(), [])
        self.ok('POST', '/storage_service/keyspace_flush/data', {'cf': self.table})
        live = self.live()
        self.assertEqual(len(live), 1)
        self.assertEqual(live[0]['size'], 100000)
        self.assertEqual(live[0]['version'], 'me')
        self.assertTrue(sstables.UUID_GENERATION_RE.match(live[0]['generation']))
        # Flushing an empty memtable seals nothing.
        self.ok('POST', '/storage_service/keyspace_flush/data')
        self.assertEqual(len(self.live()), 1)

    def test_flushes_spread_over_data_dirs(self):
        for _ in range(4):
            self.write(5000, flush='true')
        live = self.live()
        self.assertEqual(len(live), 4)
        self.assertEqual(sorted({s['directory'] for s in live}), sorted(self.dirs))
        for s in live:
            sst = sstables.scan_dir(s['directory'])[0]
            for x in sst:
                sstables.verify_sstable(x)

    def test_same_seed_same_bytes_on_every_node(self):
        self.cluster.write('data', self.table, 70000, seed=42, flush=True)
        d = self.cluster.digest('data', self.table)['data.' + self.table]
        self.assertEqual(len(d['all']), 2)
        self.assertEqual(d['nodes']['node1'], d['nodes']['node2'])

    def test_compaction_replaces_sstables(self):
        for i in range(3):
            self.write(20000 + i, flush='true', seed=i)
        before = self.live()
        paths = {os.path.join(s['directory'], s['data']) for s in before}
        r = self.ok('POST', '/emulator/compact', {'keyspace': 'data', 'table': self.table})
        self.assertEqual(set(r['removed']), paths)
        after = self.live()
        self.assertEqual(len(after), 1)
        self.assertEqual(after[0]['size'], sum(s['size'] for s in before))
        for p in paths:
            self.assertFalse(os.path.exists(p))
        # No TOC.txt.tmp or orphan left behind.
        for d in self.dirs:
            self.assertEqual(sstables.scan_dir(d)[1], [])

    def rows(self, node=0):
        return self.ok('GET', '/emulator/rows', {'keyspace': 'data', 'table': self.table},
                       node=node)['rows']

    def put_rows(self, **kw):
        params = {'keyspace': 'data', 'table': self.table}
        params.update(kw)
        return self.ok('POST', '/emulator/rows', params)

    def test_rows_merge_newest_first_and_tombstones_hide(self):
        self.put_rows(put='a=1,b=1,c=1', flush='true')
        self.put_rows(put='a=2', delete='b', flush='true')
        self.assertEqual(self.rows(), {'a': '2', 'c': '1'})
        self.put_rows(put='d=1')                             # still in the memtable
        self.assertEqual(self.rows(), {'a': '2', 'c': '1', 'd': '1'})
        self.assertEqual(self.rows(node=1), {})              # another node, nothing written
        # Compaction concatenates Data.db: the rows and the tombstone survive it, and bytes
        # written beside them do not get in the way.
        self.write(70000, flush='true')
        self.ok('POST', '/emulator/compact', {'keyspace': 'data', 'table': self.table})
        self.assertEqual(len(self.live()), 1)
        self.assertEqual(self.rows(), {'a': '2', 'c': '1', 'd': '1'})
        # Without the SSTable that holds the tombstone, the deleted key is back.
        data = self.put_rows(delete='c', flush='true')['flushed'][0]
        self.assertEqual(self.rows(), {'a': '2', 'd': '1'})
        os.rename(data[:-len('Data.db')] + 'TOC.txt', data + '.hidden')
        self.assertEqual(self.rows(), {'a': '2', 'c': '1', 'd': '1'})

    def test_rows_refuses_an_empty_or_malformed_write(self):
        for kw in ({}, {'put': 'novalue'}, {'put': '=v'}):
            st, doc = self.api('POST', '/emulator/rows',
                               dict(keyspace='data', table=self.table, **kw))
            self.assertEqual(st, 400, (kw, doc))

    def test_snapshot_hard_links_survive_compaction(self):
        self.write(30000, flush='true')
        self.write(40000)                                   # still in the memtable
        self.ok('POST', '/storage_service/snapshots',
                {'tag': 'snap1', 'kn': 'data', 'cf': self.table})
        live = self.live()
        self.assertEqual(len(live), 2, 'the snapshot flushed the memtable first')
        seen = 0
        for s in live:
            snapdir = os.path.join(s['directory'], 'snapshots', 'snap1')
            for comp in s['components']:
                name = s['data'].replace('Data.db', comp)
                a = os.stat(os.path.join(s['directory'], name))
                b = os.stat(os.path.join(snapdir, name))
                self.assertEqual((a.st_ino, a.st_dev), (b.st_ino, b.st_dev), name)
                seen += 1
        self.assertEqual(seen, 18)
        manifests = {}
        for d in self.dirs:
            snapdir = os.path.join(d, 'snapshots', 'snap1')
            with open(os.path.join(snapdir, 'manifest.json')) as f:
                manifests[d] = json.load(f)
            self.assertEqual(set(manifests[d]), {'files'})
            with open(os.path.join(snapdir, 'schema.cql')) as f:
                schema = f.read()
            self.assertIn('CREATE TABLE data.%s' % self.table, schema)
            self.assertIn('ID = ', schema)
            extra = set(os.listdir(snapdir)) - {'manifest.json', 'schema.cql'}
            self.assertTrue(all(sstables.parse_name(n) for n in extra))
        self.assertEqual(sorted(f for m in manifests.values() for f in m['files']),
                         sorted(s['data'] for s in live))
        details = {e['key']: e['value'] for e in self.ok('GET', '/storage_service/snapshots')}
        mine = [v for v in details['snap1'] if v['cf'] == self.table][0]
        self.assertEqual(mine['ks'], 'data')
        self.assertEqual(mine['live'], 0)
        total = mine['total']
        self.assertGreater(total, 70000)
        # Compaction deletes the live files; the snapshot keeps the inodes alive.
        self.ok('POST', '/emulator/compact', {'keyspace': 'data', 'table': self.table})
        for s in live:
            snap = os.path.join(s['directory'], 'snapshots', 'snap1', s['data'])
            self.assertFalse(os.path.exists(os.path.join(s['directory'], s['data'])))
            self.assertEqual(os.stat(snap).st_nlink, 1)
        details = {e['key']: e['value'] for e in self.ok('GET', '/storage_service/snapshots')}
        mine = [v for v in details['snap1'] if v['cf'] == self.table][0]
        self.assertEqual(mine['live'], total)

    def test_snapshot_errors(self):
        self.assertApiError(500, 'You must supply a snapshot name.', 'POST',
                            '/storage_service/snapshots', {'kn': 'data'})
        self.ok('POST', '/storage_service/snapshots', {'tag': 'dup', 'kn': 'data',
                                                      'cf': self.table})
        self.assertApiError(500, 'Keyspace data: snapshot dup already exists.', 'POST',
                            '/storage_service/snapshots', {'tag': 'dup', 'kn': 'data'})
        self.assertApiError(400, 'Only one keyspace', 'POST', '/storage_service/snapshots',
                            {'tag': 'x', 'kn': 'data,system', 'cf': self.table})
        self.assertApiError(400, "Can't find a keyspace", 'POST', '/storage_service/snapshots',
                            {'tag': 'x', 'kn': 'nope'})
        self.assertApiError(400, "Can't find a column family", 'POST',
                            '/storage_service/snapshots', {'tag': 'x', 'kn': 'data', 'cf': 'no'})
        self.ok('DELETE', '/storage_service/snapshots', {'tag': 'dup', 'kn': 'data'})

    def test_skip_flush_and_delete(self):
        self.write(10000)
        self.ok('POST', '/storage_service/snapshots',
                {'tag': 'noflush', 'kn': 'data', 'cf': self.table, 'sf': 'true'})
        for d in self.dirs:
            with open(os.path.join(d, 'snapshots', 'noflush', 'manifest.json')) as f:
                self.assertEqual(json.load(f), {'files': []})
        self.ok('POST', '/storage_service/snapshots',
                {'tag': 'second', 'kn': 'data', 'cf': self.table})
        self.ok('DELETE', '/storage_service/snapshots', {'tag': 'noflush', 'kn': 'data',
                                                        'cf': self.table})
        for d in self.dirs:
            self.assertEqual(os.listdir(os.path.join(d, 'snapshots')), ['second'])
        # No tag: every snapshot of the table goes.
        self.ok('DELETE', '/storage_service/snapshots', {'kn': 'data', 'cf': self.table})
        for d in self.dirs:
            self.assertEqual(os.listdir(os.path.join(d, 'snapshots')), [])
        self.assertApiError(400, "Can't find a keyspace", 'DELETE', '/storage_service/snapshots',
                            {'kn': 'nope'})

    def test_snapshot_of_everything_includes_system_tables(self):
        self.ok('POST', '/storage_service/snapshots', {'tag': 'all-ks'}, node=1)
        details = {e['key']: e['value'] for e in self.ok('GET', '/storage_service/snapshots',
                                                         node=1)}
        kss = {v['ks'] for v in details['all-ks']}
        self.assertIn('system', kss)
        self.assertIn('data', kss)
        self.ok('DELETE', '/storage_service/snapshots', {'tag': 'all-ks'}, node=1)
        details = {e['key'] for e in self.ok('GET', '/storage_service/snapshots', node=1)}
        self.assertNotIn('all-ks', details)

    def test_incremental_backups_link_flushed_sstables(self):
        self.write(10000, flush='true')
        self.ok('POST', '/storage_service/incremental_backups', {'value': 'true'})
        try:
            self.write(11000, flush='true')
            self.write(12000)
            self.ok('POST', '/storage_service/snapshots',
                    {'tag': 'inc', 'kn': 'data', 'cf': self.table})      # flushes too
            self.ok('POST', '/emulator/compact', {'keyspace': 'data', 'table': self.table})
        finally:
            self.ok('POST', '/storage_service/incremental_backups', {'value': 'false'})
        backups = []
        for d in self.dirs:
            bdir = os.path.join(d, 'backups')
            if os.path.isdir(bdir):
                backups += [n for n in os.listdir(bdir) if n.endswith('Data.db')]
        self.assertEqual(len(backups), 2, 'the two flushes made with the flag on, not the '
                         'compaction output nor the earlier flush')
        for d in self.dirs:
            for n in os.listdir(os.path.join(d, 'backups')) if os.path.isdir(
                    os.path.join(d, 'backups')) else []:
                self.assertEqual(os.stat(os.path.join(d, 'backups', n)).st_nlink, 2)


class NumericGenerationTest(ClusterTestCase):
    cluster_options = {'numeric_generations': True}

    def test_flush_names_are_numbers(self):
        self.make_table('n', 't')
        for _ in range(3):
            self.cluster.write('n', 't', 1000, flush=True)
        live = self.cluster.call(0, 'GET', '/emulator/sstables', {'keyspace': 'n', 'table': 't'})
        self.assertEqual(sorted(int(s['generation']) for s in live['sstables']), [1, 2, 3])
        self.assertTrue(all(s['data'].startswith('me-') for s in live['sstables']))


if __name__ == '__main__':
    unittest.main()
