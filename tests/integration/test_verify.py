"""`cairn verify` on file:// and moto: manifests, blob existence, blob contents, repair.

Verify finds a flipped byte (with --read-data), a deleted blob (from the listing alone)
and a truncated node manifest, says which backup and table each problem belongs to, and
exits 1; --repair deletes the corrupt blob, and the next backup uploads it again from
the nodes, after which the repository verifies clean.
"""

import os
import shutil
import subprocess
import unittest

import repocheck
from harness import Bed, moto_bed


class VerifyFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2, data_dirs=1)
        cls.repo = cls.bed.repo_dir()
        cls.bed.seed_sample()
        p, _ = cls.bed.cairn_json('backup', '--tag', 'v1')
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def verify(self, *args, expect=0):
        p, out = self.bed.cairn_json('verify', *args)
        self.assertEqual(p.returncode, expect, p.stdout + p.stderr)
        self.assertEqual(out['ok'], expect == 0)
        return out

    def schema_blob(self, tag):
        path = os.path.join(self.repo, 'backups', 'itest', tag, 'backup.manifest')
        text = repocheck.decode_manifest(self.bed_source(), path, 'ClusterManifest')
        for line in text.splitlines():
            if line.strip().startswith('schema_blob:'):
                return line.split('"')[1]
        return None

    def bed_source(self):
        from harness import SOURCE
        return SOURCE

    def test_01_clean(self):
        out = self.verify('--read-data')
        self.assertEqual([b['tag'] for b in out['backups']], ['v1'])
        # Blobs of their own and pack members, each read once.
        self.assertGreater(out['packs_listed'], 0)
        self.assertGreater(out['blobs_read'], out['blobs_listed'])
        self.assertEqual(out['requests']['head'], 0)
        self.verify('v1', '--read-data=30')
        self.verify('latest')
        p = self.bed.cairn('verify', 'nosuch')
        self.assertEqual(p.returncode, 1)
        self.assertIn('nosuch', p.stderr)
        self.assertEqual(self.bed.cairn('verify', '--read-data=0').returncode, 2)
        self.assertEqual(self.bed.cairn('verify', 'v1', '--all').returncode, 2)
        p = self.bed.cairn('verify')
        self.assertEqual(p.returncode, 0)
        self.assertIn('all is well', p.stdout)

    def test_02_flipped_byte_deleted_blob_then_repair_and_backup(self):
        # Two blobs of SSTable files (the schema blob of v1 is not uploaded again by a
        # later backup whose schema text differs).
        schema = self.schema_blob('v1')
        blobs = [b for b in sorted(repocheck.blobs(self.repo)) if b != schema]
        flipped, deleted = blobs[0], blobs[1]
        path = repocheck.blob_path(self.repo, flipped)
        with open(path, 'rb') as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        with open(path, 'wb') as f:
            f.write(data)
        os.unlink(repocheck.blob_path(self.repo, deleted))

        # Without reading data: the deleted blob, from one listing.
        out = self.verify(expect=1)
        probs = out['backups'][0]['problems']
        self.assertEqual([(p['blob'], p['problem']) for p in probs], [(deleted, 'missing')])
        self.assertTrue(probs[0]['node'])
        self.assertEqual(out['damaged'], ['itest/v1'])
        # Reading data: the flipped byte too, with its table and file.
        out = self.verify('--read-data', expect=1)
        bad = {p['blob']: p for p in out['backups'][0]['problems']}
        self.assertIn('corrupt', bad[flipped]['problem'])
        self.assertEqual(out['corrupt_blobs'], [flipped])
        self.assertTrue(os.path.exists(path))
        # --repair deletes the corrupt blob and names the backups still damaged.
        p = self.bed.cairn('verify', '--read-data', '--repair')
        self.assertEqual(p.returncode, 1)
        self.assertIn('repaired: deleted 1 corrupt blobs', p.stdout)
        self.assertIn('itest/v1', p.stdout)
        self.assertFalse(os.path.exists(path))
        # ... and marks v1, so that the next backup does not take it as its parent.
        self.assertTrue(os.path.exists(
            os.path.join(self.repo, 'backups', 'itest', 'v1', 'damaged')))
        # The next backup uploads both again from the nodes: the repository is whole.
        p, _ = self.bed.cairn_json('backup', '--tag', 'v2')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(flipped, repocheck.blobs(self.repo))
        self.assertIn(deleted, repocheck.blobs(self.repo))
        out = self.verify('--read-data')
        self.assertEqual(sorted(b['tag'] for b in out['backups']), ['v1', 'v2'])

    def test_03_truncated_manifest(self):
        nodes = os.path.join(self.repo, 'backups', 'itest', 'v1', 'nodes')
        victim = os.path.join(nodes, sorted(os.listdir(nodes))[0])
        saved = victim + '.saved'
        shutil.copy(victim, saved)
        try:
            with open(victim, 'r+b') as f:
                f.truncate(os.path.getsize(victim) // 2)
            out = self.verify('v1', expect=1)
            probs = out['backups'][0]['problems']
            self.assertTrue(any('manifest' in p['problem'] for p in probs), probs)
            # The damaged manifest stops a purge before it deletes anything.
            before = repocheck.blobs(self.repo)
            p = self.bed.cairn('purge', '--grace', '0')
            self.assertEqual(p.returncode, 1)
            self.assertIn('nothing was deleted', p.stderr)
            self.assertEqual(repocheck.blobs(self.repo), before)
        finally:
            shutil.move(saved, victim)
        self.verify('--all')


class VerifyS3Test(unittest.TestCase):
    BUCKET = 'cairn-e2e'
    PREFIX = 'verify'

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.s3, cls.url, cls.bed = moto_bed(cls.BUCKET, cls.PREFIX, 'verify')
        cls.bed.seed_sample()
        cls.client = cls.s3.moto.s3()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()
        cls.s3.stop()
        subprocess.run(['rm', '-rf', cls.tmp])

    def test_corrupt_repair_backup_clean(self):
        p, _ = self.bed.cairn_json('backup', '--tag', 's1')
        self.assertEqual(p.returncode, 0, p.stderr)
        keys = []
        for page in self.client.get_paginator('list_objects_v2').paginate(
                Bucket=self.BUCKET, Prefix='%s/blobs/' % self.PREFIX):
            keys += [o['Key'] for o in page.get('Contents', [])]
        victim = sorted(keys)[0]
        body = bytearray(self.client.get_object(Bucket=self.BUCKET, Key=victim)['Body'].read())
        body[len(body) // 2] ^= 0x10
        self.client.put_object(Bucket=self.BUCKET, Key=victim, Body=bytes(body))
        p, out = self.bed.cairn_json('verify', '--read-data', '--repair')
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(out['corrupt_blobs'], [victim.rsplit('/', 1)[1]])
        self.assertTrue(out['repaired'])
        # One listing of blobs/, one GET per blob, one DeleteObjects batch.
        self.assertEqual(out['requests']['head'], 0)
        # cairn.repo, the cluster manifest and two node manifests, then one per blob.
        self.assertEqual(out['requests']['get'], out['blobs_read'] + 4)
        p, _ = self.bed.cairn_json('backup', '--tag', 's2')
        self.assertEqual(p.returncode, 0, p.stderr)
        p, out = self.bed.cairn_json('verify', '--read-data')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == '__main__':
    unittest.main()
