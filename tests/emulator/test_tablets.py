"""Tablet keyspaces: the 2026.1 snapshot manifest and loads that ScyllaDB streams."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import snapmanifest, sstables          # noqa: E402

REPLICATION = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}"


class SnapManifestTest(unittest.TestCase):
    def test_release_decides_the_form(self):
        self.assertEqual(snapmanifest.release_tuple('2026.1.0-0.20260110.abc'), (2026, 1))
        self.assertEqual(snapmanifest.release_tuple('2025.4.2'), (2025, 4))
        self.assertEqual(snapmanifest.release_tuple('garbage'), (0, 0))
        doc = snapmanifest.document('2025.4.2', None, None, 't', [], False, 3, None)
        self.assertEqual(doc, {'files': []})

    def test_tablet_count_covers_the_nodes(self):
        self.assertEqual([snapmanifest.tablet_count(n) for n in (1, 2, 3, 5)], [1, 2, 4, 8])


class TabletsTest(ClusterTestCase):
    nodes = 3
    cluster_options = {'data_dirs': 2, 'release_version': '2026.1.0-0.20260110.abc'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.cluster.cql() as c:
            c.query("CREATE KEYSPACE tks WITH replication = %s AND tablets = {'enabled': true}"
                    % REPLICATION)
            c.query("CREATE KEYSPACE vks WITH replication = %s" % REPLICATION)
            for ks in ('tks', 'vks'):
                c.query('CREATE TABLE %s.t (pk blob PRIMARY KEY, v blob)' % ks)

    def snapshot_manifests(self, node, ks, tag):
        n = self.cluster.nodes[node]
        out = []
        for d in n['data_dirs']:
            for tdir in os.listdir(os.path.join(d, ks)):
                path = os.path.join(d, ks, tdir, 'snapshots', tag, 'manifest.json')
                if os.path.exists(path):
                    with open(path) as f:
                        out.append((os.path.dirname(path), json.load(f)))
        return out

    def test_snapshot_manifest_2026_form(self):
        for i in range(3):  # one SSTable per data directory
            self.cluster.write('tks', 't', 30000, node=0, seed=10 + i, flush=True)
            self.cluster.write('vks', 't', 30000, node=0, seed=20 + i, flush=True)
        self.ok('POST', '/storage_service/snapshots', {'tag': 'rich', 'kn': 'tks,vks'})
        n = self.cluster.nodes[0]
        for ks in ('tks', 'vks'):
            found = self.snapshot_manifests(0, ks, 'rich')
            self.assertEqual(len(found), 1, 'one manifest.json for the table\'s snapshot')
            _, doc = found[0]
            self.assertEqual(doc['node'], {'host_id': n['host_id'], 'datacenter': n['dc'],
                                           'rack': n['rack']})
            self.assertEqual(doc['snapshot']['name'], 'rich')
            self.assertEqual(doc['table']['keyspace_name'], ks)
            self.assertEqual(doc['table']['table_name'], 't')
            self.assertEqual(doc['table'].get('tablet_count'), 4 if ks == 'tks' else None)
            # Every SSTable of the snapshot, over both data directories, with its sizes.
            snap = []
            for d in n['data_dirs']:
                for tdir in os.listdir(os.path.join(d, ks)):
                    snap += sstables.scan_dir(os.path.join(d, ks, tdir, 'snapshots', 'rich'))[0]
            self.assertGreaterEqual(len(snap), 3)
            by_toc = {x['toc_name']: x for x in doc['sstables']}
            self.assertEqual(sorted(by_toc), sorted(s.prefix + 'TOC.txt' for s in snap))
            for s in snap:
                x = by_toc[s.prefix + 'TOC.txt']
                self.assertEqual(x['data_size'], os.stat(s.data_path).st_size)
                self.assertEqual(x['index_size'], os.stat(s.path('Index.db')).st_size)
                token = snapmanifest.content_token(sstables.file_sha256(s.data_path))
                self.assertEqual((x['first_token'], x['last_token']), (token, token))
                self.assertEqual(len(x['id']), 36)

    def upload(self, node, seed):
        """One SSTable written into the node's upload/ of tks.t; its Data.db SHA-256."""
        info = self.cluster.call(node, 'GET', '/emulator/sstables', {'keyspace': 'tks',
                                                                     'table': 't'})
        up = os.path.join(info['directories'][0], 'upload')
        sst = sstables.write_sstable(up, 'me', sstables.GenerationAllocator().next(),
                                     sstables.generate_data(seed, 0.0, 20000))
        return sstables.file_sha256(sst.data_path)

    def test_refresh_of_a_tablet_table_is_streamed_to_every_replica(self):
        for i in range(3):
            self.ok('DELETE', '/emulator/loads', node=i)
        before = self.cluster.digest('tks', 't')['tks.t']['nodes']
        sha = self.upload(1, 777)
        self.ok('POST', '/storage_service/sstables/tks', {'cf': 't'}, node=1)
        rec = self.ok('GET', '/emulator/loads', node=1)
        self.assertEqual(len(rec), 1)
        self.assertEqual((rec[0]['mode'], rec[0]['forced']), ('load_and_stream', True))
        after = self.cluster.digest('tks', 't')['tks.t']['nodes']
        for name, shas in after.items():  # RF 3 on 3 nodes: every node is a replica
            self.assertEqual(sorted(shas), sorted(before[name] + [sha]), name)
        # Asked for, it is not forced; a vnode keyspace's refresh stays one.
        self.upload(2, 778)
        self.ok('POST', '/storage_service/sstables/tks', {'cf': 't', 'load_and_stream': 'true'},
                node=2)
        rec = self.ok('GET', '/emulator/loads', node=2)
        self.assertEqual((rec[0]['mode'], rec[0]['forced']), ('load_and_stream', False))
        self.ok('POST', '/storage_service/sstables/vks', {'cf': 't'}, node=2)
        rec = self.ok('GET', '/emulator/loads', node=2)
        self.assertEqual((rec[1]['mode'], rec[1]['forced']), ('refresh', False))


if __name__ == '__main__':
    unittest.main()
