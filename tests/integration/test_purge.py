"""`cairn purge` on file:// and on moto: mark and sweep that never touches a complete backup.

Purge reclaims exactly the unreferenced bytes past the grace period (blobs, node
manifests of backups that never completed, writers' temporaries, on S3 unfinished
multipart uploads); it refuses while a backup holds its lease; killed at any moment it
leaves every listed backup restorable, which `cairn verify --read-data` then confirms.
"""

import hashlib
import os
import random
import signal
import subprocess
import time
import unittest

import repocheck
from harness import BIN, Bed, moto_bed, wait_for

HOUR = 3600


def backdate(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def plant_blob(repo, payload, age=2 * HOUR):
    """An unreferenced object under a valid blob name, last written `age` seconds ago."""
    blob_id = hashlib.sha256(payload).hexdigest()
    path = repocheck.blob_path(repo, blob_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(payload)
    backdate(path, age)
    return blob_id, len(payload)


def plant_lease(repo, kind, owner, age=0, ttl_ms=120000):
    os.makedirs(os.path.join(repo, 'locks'), exist_ok=True)
    path = os.path.join(repo, 'locks', '%s-%016x.lease' % (kind, random.getrandbits(64)))
    with open(path, 'w') as f:
        f.write('cairn-lease 1\nkind: %s\nowner: %s\nexpires_ms: %d\nwritten_ms: 1000\n'
                % (kind, owner, 1000 + ttl_ms))
    backdate(path, age)
    return path


class PurgeFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2, data_dirs=1)
        cls.repo = cls.bed.repo_dir()
        cls.bed.seed_sample()
        p, _ = cls.bed.cairn_json('backup', '--tag', 'base')
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def purge(self, *args, expect=0):
        p, out = self.bed.cairn_json('purge', *args)
        self.assertEqual(p.returncode, expect, p.stderr)
        return out

    def assert_all_verify(self):
        p, out = self.bed.cairn_json('verify', '--read-data')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(out['ok'])
        return out

    def test_01_nothing_to_remove(self):
        before = repocheck.blobs(self.repo)
        out = self.purge('--grace', '0')
        self.assertEqual(out['blobs_removed'], 0)
        self.assertEqual(out['backups'], 1)
        self.assertEqual(out['blobs'], len(before))
        # Every file entry of the backup and its schema blob, as its manifest counts them.
        p, show = self.bed.cairn_json('show', 'base')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out['referenced_entries'], show['files'] + 1)
        self.assertEqual(repocheck.blobs(self.repo), before)
        # One listing of blobs/, deletes only in batches, counts in --json.
        for k in ('list', 'get', 'delete', 'put'):
            self.assertIn(k, out['requests'])
        self.assertEqual(out['requests']['delete'], 1)  # its own lease
        self.assertEqual([f for f in os.listdir(os.path.join(self.repo, 'locks'))
                          if not f.startswith('.')] if os.path.isdir(
                              os.path.join(self.repo, 'locks')) else [], [])

    def test_02_reclaims_exactly_the_unreferenced_bytes(self):
        before = repocheck.blobs(self.repo)
        garbage = [plant_blob(self.repo, os.urandom(1000 + i)) for i in range(7)]
        young, _ = plant_blob(self.repo, b'put by a backup still running', age=60)
        # A backup that never completed: a node manifest without a cluster manifest.
        crashed = os.path.join(self.repo, 'backups', 'itest', 'crashed', 'nodes')
        os.makedirs(crashed)
        with open(os.path.join(crashed, 'x.manifest'), 'wb') as f:
            f.write(b'z' * 321)
        backdate(os.path.join(crashed, 'x.manifest'), 2 * HOUR)
        # A writer's temporary, dead two hours ago.
        tmp = os.path.join(os.path.dirname(repocheck.blob_path(self.repo, garbage[0][0])),
                           '.tmp-99-1-deadbeef')
        with open(tmp, 'wb') as f:
            f.write(b't' * 55)
        backdate(tmp, 2 * HOUR)

        dry = self.purge('--dry-run', '--grace', '1h')
        self.assertTrue(dry['dry_run'])
        self.assertEqual(dry['blobs_removed'], 7)
        self.assertTrue(os.path.exists(tmp))
        self.assertEqual(len(repocheck.blobs(self.repo)), len(before) + 8)

        out = self.purge('--grace', '1h')
        self.assertEqual(out['blobs_removed'], 7)
        self.assertEqual(out['blob_bytes_removed'], sum(n for _, n in garbage))
        self.assertEqual(out['blobs_kept_in_grace'], 1)
        self.assertEqual(out['manifests_removed'], 1)
        self.assertEqual(out['manifest_bytes_removed'], 321)
        self.assertEqual(out['leftovers_removed'], 1)
        self.assertEqual(out['bytes_freed'], sum(n for _, n in garbage) + 321 + 55)
        self.assertEqual(repocheck.blobs(self.repo), before | {young})
        self.assertFalse(os.path.exists(tmp))
        self.assertFalse(os.path.exists(crashed))
        # The human form says what went and what it freed.
        plant_blob(self.repo, b'one more')
        p = self.bed.cairn('purge', '--grace', '1h')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('removed blob', p.stdout)
        self.assertIn('freed', p.stdout)
        os.unlink(repocheck.blob_path(self.repo, young))
        self.assert_all_verify()

    def test_03_refused_while_a_backup_holds_its_lease(self):
        lease = plant_lease(self.repo, 'shared', 'cairn backup nightly on db1 pid 7')
        junk, _ = plant_blob(self.repo, b'would be garbage')
        try:
            p = self.bed.cairn('purge', '--grace', '0')
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn('cairn backup nightly on db1', p.stderr)
            self.assertIn(junk, repocheck.blobs(self.repo))
            # The same lease, not renewed for longer than its ttl by the store's clock,
            # is a crashed writer's: purge removes it and goes ahead.
            backdate(lease, 200)
            out = self.purge('--grace', '0')
            self.assertEqual(out['leases_removed'], 1)
            self.assertNotIn(junk, repocheck.blobs(self.repo))
        finally:
            if os.path.exists(lease):
                os.unlink(lease)

    def test_04_purge_during_a_real_backup(self):
        # A slow backup of new data; purge, started meanwhile, is refused or, if the
        # backup already finished, runs: either way no blob of it is lost.
        self.bed.write('shop', 'orders', 4 << 20, seed=900)
        bk = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', self.bed.config, 'backup',
                               '--tag', 'during', '--rate-limit', '1'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        locks = os.path.join(self.repo, 'locks')
        wait_for(lambda: bk.poll() is not None or (
            os.path.isdir(locks) and any(f.startswith('shared-') for f in os.listdir(locks))),
            timeout=60, what='the backup lease')
        p = self.bed.cairn('purge', '--grace', '0', '--json')
        if bk.poll() is None:
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn('cairn backup cluster=itest tag=during', p.stderr)
        _, err = bk.communicate(timeout=300)
        self.assertEqual(bk.returncode, 0, err)
        self.purge('--grace', '0')
        self.assert_all_verify()

    def test_05_killed_at_any_moment(self):
        random.seed(os.getpid())
        for round_ in range(3):
            for i in range(1500):
                plant_blob(self.repo, b'garbage %d %d' % (round_, i))
            p = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', self.bed.config, 'purge',
                                  '--grace', '1h'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0.0, 0.4))
            p.send_signal(signal.SIGKILL)
            p.wait()
            # The killed purge's lease stays until it expires by the store's clock.
            locks = os.path.join(self.repo, 'locks')
            for f in os.listdir(locks) if os.path.isdir(locks) else []:
                backdate(os.path.join(locks, f), 300)
            self.assert_all_verify()
        out = self.purge('--grace', '1h')
        self.assertGreaterEqual(out['leases_removed'], 0)
        self.assertEqual(len(repocheck.blobs(self.repo)), out['blobs'] - out['blobs_removed'])
        self.assert_all_verify()

    def test_06_purged_blobs_are_uploaded_again(self):
        # Every backup deleted and purged: the blobs and packs the last backup named are
        # gone, and the next backup must not take them as present (its parent is gone
        # with them). It uploads every byte again and is whole.
        p, items = self.bed.cairn_json('list')
        for item in items:
            self.assertEqual(self.bed.cairn('delete', '--yes', item['tag']).returncode, 0)
        self.purge('--grace', '0')
        self.assertEqual(repocheck.packs(self.repo), set())
        p, s = self.bed.cairn_json('backup', '--tag', 'after-purge')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(s['uploaded_bytes'], s['bytes'])
        self.assertTrue(repocheck.packs(self.repo))
        self.assert_all_verify()


class PurgeS3Test(unittest.TestCase):
    BUCKET = 'cairn-e2e'
    PREFIX = 'purge'

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.s3, cls.url, cls.bed = moto_bed(cls.BUCKET, cls.PREFIX, 'purge')
        cls.bed.seed_sample()
        cls.client = cls.s3.moto.s3()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()
        cls.s3.stop()
        subprocess.run(['rm', '-rf', cls.tmp])

    def keys(self, under=''):
        out = []
        for page in self.client.get_paginator('list_objects_v2').paginate(
                Bucket=self.BUCKET, Prefix='%s/%s' % (self.PREFIX, under)):
            out += [o['Key'] for o in page.get('Contents', [])]
        return out

    def test_purge_and_verify_on_s3(self):
        p, _ = self.bed.cairn_json('backup', '--tag', 's3one')
        self.assertEqual(p.returncode, 0, p.stderr)
        blobs = set(self.keys('blobs/'))
        junk = []
        for i in range(5):
            data = b'unreferenced %d' % i
            h = hashlib.sha256(data).hexdigest()
            key = '%s/blobs/%s/%s' % (self.PREFIX, h[:2], h)
            self.client.put_object(Bucket=self.BUCKET, Key=key, Body=data)
            junk.append(key)
        up = self.client.create_multipart_upload(Bucket=self.BUCKET,
                                                 Key='%s/blobs/ab/abandoned' % self.PREFIX)
        time.sleep(1.1)  # LastModified has whole seconds: be older than our own lease
        p, out = self.bed.cairn_json('purge', '--grace', '0')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out['blobs_removed'], 5)
        self.assertEqual(out['leftovers_removed'], 1)
        self.assertEqual(set(self.keys('blobs/')), blobs)
        self.assertEqual(out['requests']['multipart_abort'], 1)
        uploads = self.client.list_multipart_uploads(Bucket=self.BUCKET).get('Uploads', [])
        self.assertNotIn(up['UploadId'], [u['UploadId'] for u in uploads])
        # One listing pass over blobs/, one DeleteObjects batch for the five.
        self.assertEqual(out['requests']['delete'], 2)  # the batch, and the lease
        self.assertLessEqual(out['requests']['list'], 8)
        p, out = self.bed.cairn_json('verify', '--read-data')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(out['ok'])
        self.assertEqual(out['requests']['head'], 0)  # existence from the listing
        # A purge refused while a backup's lease is live, on S3 too.
        lease = '%s/locks/shared-00000000000000aa.lease' % self.PREFIX
        self.client.put_object(Bucket=self.BUCKET, Key=lease, Body=(
            'cairn-lease 1\nkind: shared\nowner: s3 backup\nexpires_ms: 121000\n'
            'written_ms: 1000\n').encode())
        p = self.bed.cairn('purge', '--grace', '0')
        self.assertEqual(p.returncode, 1)
        self.assertIn('s3 backup', p.stderr)
        self.client.delete_object(Bucket=self.BUCKET, Key=lease)


if __name__ == '__main__':
    unittest.main()
