"""Tablet keyspaces (ScyllaDB 2026.1): the snapshot's manifest.json kept, tablets recorded,
and a restore onto the same nodes that loads them by load-and-stream."""

import codecs
import json
import os
import re
import unittest

import repocheck
from harness import SOURCE, Bed

KiB = 1 << 10
REPLICATION = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}"
TABLES = [('tks', 't'), ('vks', 't')]  # a keyspace with tablets, one without


def table_entries(text):
    """{(keyspace, table): the TableEntry's text} of a decoded node manifest."""
    out = {}
    for chunk in text.split('\ntables {')[1:]:
        out[(repocheck.field(chunk, 'keyspace'), repocheck.field(chunk, 'name'))] = chunk
    return out


def snapshot_manifest(entry):
    """The TableEntry's snapshot_manifest, parsed; None when it has none."""
    m = re.search(r'^  snapshot_manifest: "(.*)"$', entry, re.M)
    if not m:
        return None
    return json.loads(codecs.escape_decode(m.group(1).encode())[0].decode())


class TabletsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=2, release_version='2026.1.0-0.20260110.abc')
        cls.bed.cql("CREATE KEYSPACE tks WITH replication = %s AND tablets = {'enabled': true}"
                    % REPLICATION)
        cls.bed.cql('CREATE KEYSPACE vks WITH replication = %s' % REPLICATION)
        for ks, t in TABLES:
            cls.bed.cql('CREATE TABLE %s.%s (pk blob PRIMARY KEY, v blob)' % (ks, t))
            for k in range(2):  # two SSTables per node
                cls.bed.write(ks, t, 96 * KiB, seed=100 * k + (10 if ks == 'tks' else 50))
        cls.per_node = {(ks, t, n['host_id']): cls.bed.digest(ks, t, n)
                        for ks, t in TABLES for n in cls.bed.nodes}
        p = cls.bed.cairn('backup', '--tag', 'tb')
        assert p.returncode == 0, p.stderr
        cls.backup = os.path.join(cls.bed.repo_dir(), 'backups', 'itest', 'tb')

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def test_01_node_manifests_keep_the_snapshot_manifest(self):
        for n in self.bed.nodes:
            text = repocheck.decode_manifest(
                SOURCE, os.path.join(self.backup, 'nodes', n['host_id'] + '.manifest'),
                'NodeManifest')
            entries = table_entries(text)
            for ks, t in TABLES:
                doc = snapshot_manifest(entries[(ks, t)])
                self.assertIsNotNone(doc, '%s.%s on %s' % (ks, t, n['host_id']))
                self.assertEqual(doc['node']['host_id'], n['host_id'])
                self.assertEqual((doc['table']['keyspace_name'], doc['table']['table_name']),
                                 (ks, t))
                self.assertEqual('tablet_count' in doc['table'], ks == 'tks')
                # It describes the SSTables the entry holds, over both data directories.
                datas = re.findall(r'name: "(\S+)-Data\.db"', entries[(ks, t)])
                self.assertEqual(len(datas), 2)
                self.assertEqual(sorted(x['toc_name'] for x in doc['sstables']),
                                 sorted(d + '-TOC.txt' for d in datas))

    def test_02_cluster_manifest_records_tablets(self):
        text = repocheck.decode_manifest(SOURCE, os.path.join(self.backup, 'backup.manifest'),
                                         'ClusterManifest')
        found = dict(re.findall(r'keyspaces \{\s*name: "(\w+)"\s*tablets: (\w+)\s*\}', text))
        self.assertEqual(found, {'tks': 'true', 'vks': 'false'})

    def test_03_dry_run_shows_the_method_per_keyspace(self):
        p, out = self.bed.cairn_json('restore', 'tb', '--dry-run', '--into-nonempty')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out['method'], 'mixed')
        self.assertEqual(out['keyspace_methods'], {'tks': 'load-and-stream', 'vks': 'refresh'})
        p = self.bed.cairn('restore', 'tb', '--dry-run', '--into-nonempty')
        self.assertIn('keyspace  tks: load-and-stream (tablets)', p.stdout)

    def test_04_method_refresh_refused_for_tablet_keyspaces(self):
        p = self.bed.cairn('restore', 'tb', '--method', 'refresh', '--into-nonempty')
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn('cannot load keyspaces that use tablets (tks)', p.stderr)
        for n in self.bed.nodes:
            self.assertEqual(self.bed.loads(n), [])

    def test_05_same_nodes_loads_tablets_by_load_and_stream(self):
        for ks, t in TABLES:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p, out = self.bed.cairn_json('restore', 'tb', '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        everything = sorted(h for n in self.bed.nodes
                            for h in self.per_node[('tks', 't', n['host_id'])])
        for n in self.bed.nodes:
            modes = {(x['keyspace'], x['mode'], x['forced']) for x in self.bed.loads(n)}
            self.assertLessEqual(modes, {('tks', 'load_and_stream', False),
                                         ('vks', 'refresh', False)}, n['name'])
            # The vnode keyspace: each node its own files back. The tablet keyspace: with
            # RF 3 on 3 nodes every node is a replica of everything, and holds all of it.
            self.assertEqual(self.bed.digest('vks', 't', n),
                             self.per_node[('vks', 't', n['host_id'])], n['name'])
            self.assertEqual(sorted(self.bed.digest('tks', 't', n)), everything, n['name'])
        self.assertEqual(out['method'], 'mixed')


if __name__ == '__main__':
    unittest.main()
