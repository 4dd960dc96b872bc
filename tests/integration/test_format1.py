"""A repository of format 1 (before packs), written by cairn 0.1.0, stays readable.

tests/data/format1-repo is that repository as cairn 0.1.0 left it: one backup
(`format1`) of a one-node cluster `fmt1` with one table, fixture.kv, of two SSTables;
tests/data/format1.json records what its table held. The test works on a copy.
"""

import json
import os
import shutil
import tempfile
import unittest

import repocheck
from harness import SOURCE, Bed

FIXTURE = os.path.join(SOURCE, 'tests', 'data')


class Format1Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURE, 'format1.json')) as f:
            cls.want = json.load(f)
        cls.tmp = tempfile.mkdtemp(prefix='cairn-fmt1-')
        cls.repo = os.path.join(cls.tmp, 'repo')
        shutil.copytree(os.path.join(FIXTURE, 'format1-repo'), cls.repo)
        cls.bed = Bed(nodes=1, data_dirs=1, cluster_name=cls.want['cluster'],
                      repository='file://' + cls.repo)

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_01_read_verify_show(self):
        p, info = self.bed.cairn_json('info')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(info['format_version'], 1)
        p, out = self.bed.cairn_json('verify', '--read-data')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(out['ok'])
        self.assertEqual(out['packs_listed'], 0)
        p, show = self.bed.cairn_json('show', self.want['tag'], '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(show['files_list']), self.want['files'])
        self.assertFalse([f for f in show['files_list'] if 'pack' in f])

    def test_02_restore_then_back_up_in_format_2(self):
        p, out = self.bed.cairn_json('restore', self.want['tag'], '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        node = self.bed.nodes[0]
        self.assertEqual(self.bed.digest(self.want['keyspace'], self.want['table'], node),
                         self.want['digest'])
        # The next backup writes format 2 beside format 1: packs, and both verify.
        p, s = self.bed.cairn_json('backup', '--tag', 'after')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(repocheck.packs(self.repo))
        self.assertEqual(repocheck.verify_packs(SOURCE, self.repo), [])
        p, out = self.bed.cairn_json('verify', '--read-data')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(sorted(b['tag'] for b in out['backups']), ['after', self.want['tag']])


if __name__ == '__main__':
    unittest.main()
