"""Real SSTable sets from ScyllaDB's tests: planted, snapshotted and loaded unchanged."""

import filecmp
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import SSTABLE_SETS, ClusterTestCase, shared_missing_reason   # noqa: E402
from scyllaemu import sstables                                            # noqa: E402


def real_sets():
    if shared_missing_reason(SSTABLE_SETS):
        return []
    return sorted(d for d in os.listdir(SSTABLE_SETS)
                  if os.path.isdir(os.path.join(SSTABLE_SETS, d)))


@unittest.skipIf(shared_missing_reason(SSTABLE_SETS), shared_missing_reason(SSTABLE_SETS))
class RealSSTablesTest(ClusterTestCase):
    nodes = 2

    def test_there_are_sets(self):
        self.assertGreaterEqual(len(real_sets()), 9)

    def test_plant_snapshot_and_compare(self):
        for name in real_sets():
            with self.subTest(set=name):
                src_dir = os.path.join(SSTABLE_SETS, name)
                src = sstables.scan_dir(src_dir)[0]
                self.assertEqual(len(src), 1)
                src = src[0]
                table = name.replace('-', '_')
                self.make_table('real', table)
                planted = self.ok('POST', '/emulator/plant', {'keyspace': 'real', 'table': table,
                                                             'path': src_dir})
                self.assertEqual(len(planted), 1)
                files = planted[0]['files']
                self.assertEqual(len(files), len(src.components))
                new_prefix = files[0].rsplit('-', 1)[0] + '-'
                version, gen, fmt, _ = sstables.parse_name(files[0])
                self.assertEqual((version, fmt), (src.version, src.format))
                self.assertNotEqual(gen, src.generation)
                self.ok('POST', '/storage_service/snapshots',
                        {'tag': 'real', 'kn': 'real', 'cf': table})
                snapdir = os.path.join(planted[0]['directory'], 'snapshots', 'real')
                for comp in src.components:
                    original = src.path(comp)
                    snap = os.path.join(snapdir, new_prefix + comp)
                    self.assertTrue(filecmp.cmp(original, snap, shallow=False), snap)
                    live = os.path.join(planted[0]['directory'], new_prefix + comp)
                    self.assertEqual(os.stat(live).st_ino, os.stat(snap).st_ino)
                sha, _ = sstables.verify_sstable(sstables.scan_dir(snapdir)[0][0])
                self.assertEqual([sha], self.cluster.digest('real', table)['real.' + table]['all'])

    def test_real_sets_load_from_upload(self):
        for name in real_sets():
            with self.subTest(set=name):
                src_dir = os.path.join(SSTABLE_SETS, name)
                table = 'up_' + name.replace('-', '_')
                self.make_table('real', table)
                planted = self.ok('POST', '/emulator/plant', {'keyspace': 'real', 'table': table,
                                                             'path': src_dir, 'dest': 'upload'},
                                  node=1)
                self.assertTrue(planted[0]['directory'].endswith('/upload'))
                self.assertEqual(sorted(planted[0]['files']),
                                 sorted(f for f in os.listdir(src_dir) if f != 'SOURCE.txt'))
                self.ok('POST', '/storage_service/sstables/real', {'cf': table}, node=1)
                data = [f for f in os.listdir(src_dir) if f.endswith('-Data.db')][0]
                want = sstables.file_sha256(os.path.join(src_dir, data))
                d = self.cluster.digest('real', table)['real.' + table]
                self.assertEqual(d['nodes']['node2'], [want])


if __name__ == '__main__':
    unittest.main()
