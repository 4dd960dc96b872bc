"""The repository lifecycle: delete, retention (expire), snapshots, list and info.

Retention runs over a simulated month: cluster manifests with chosen tags and start
times are written straight into a repository (protoc --encode | zstd, the format of
docs/repository-format.md), on file:// and on s3:// (moto_server, skipped when absent),
and `cairn expire` must keep exactly the backups restic's rules keep. Against an
emulated cluster: retention after a real backup and --no-retention, delete refused
while a restore runs, and the snapshots a killed backup leaves, listed and cleared.
"""

import datetime
import glob
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import s3env
from harness import BIN, SOURCE, Bed, wait_for

CAIRN = os.path.join(BIN, 'cairn')
PROTO = os.path.join(SOURCE, 'proto')
BUCKET = 'cairn-e2e'
DAY = 86400 * 1000
NOV1 = 1793491200000  # 2026-11-01T00:00:00Z


def encode(message, text):
    raw = subprocess.run(['protoc', '-I', PROTO, '--encode=cairn.repo.' + message, 'repo.proto'],
                         input=text.encode(), capture_output=True, check=True).stdout
    return subprocess.run(['zstd', '-q', '-c'], input=raw, capture_output=True,
                          check=True).stdout


def cluster_manifest(tag, start_ms, stored=None):
    text = ('format_version: 1 cluster: "itest" tag: "%s" start_ms: %d end_ms: %d files: 3 '
            'bytes: 3000 uploaded_bytes: 3000 tables: 1 ' % (tag, start_ms, start_ms + 60000))
    if stored is not None:
        text += 'stored_bytes: %d ' % stored
    text += ('nodes { host_id: "h1" manifest_key: "backups/itest/%s/nodes/h1.manifest" '
             'manifest_sha256: "%s" }' % (tag, '0' * 64))
    return encode('ClusterManifest', text)


def day_tag(ms):
    return 'd-' + datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        '%Y-%m-%d')


# Daily backups at 02:00 from Oct 25 to Nov 30: keep_daily 7, keep_weekly 3 and
# keep_monthly 2 keep Nov 24..30, Nov 22 (ISO week 47) and Oct 31 (October).
MONTH = [NOV1 - 7 * DAY + i * DAY + 2 * 3600 * 1000 for i in range(37)]
MONTH_KEPT = {'d-2026-11-%02d' % d for d in range(24, 31)} | {'d-2026-11-22', 'd-2026-10-31'}


class RepoOnly:
    """Tests that need a repository and a configuration, no cluster. Subclasses give
    url, put(key, data), keys(prefix) and config_extra."""

    config_extra = ''

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='cairn-life-')
        self.fresh_repository()
        self.config(retention='')
        p = self.cairn('repo', 'init')
        self.assertEqual(p.returncode, 0, p.stderr)

    def tearDown(self):
        subprocess.run(['rm', '-rf', self.dir])

    def config(self, retention):
        text = ('cluster: itest\nrepository: "%s"\ninsecure: true\nagents:\n  - 127.0.0.1:9\n'
                % self.url) + self.config_extra + retention
        self.cfg = os.path.join(self.dir, 'cairn.yaml')
        with open(self.cfg, 'w') as f:
            f.write(text)

    def cairn(self, *args, stdin=subprocess.DEVNULL):
        return subprocess.run([CAIRN, '-c', self.cfg] + list(args), capture_output=True,
                              text=True, timeout=120, stdin=stdin)

    def cairn_json(self, *args):
        p = self.cairn(*args, '--json')
        try:
            return p, json.loads(p.stdout)
        except ValueError:
            raise AssertionError('no JSON from cairn %s (exit %d):\n%s\n%s'
                                 % (' '.join(args), p.returncode, p.stdout, p.stderr))

    def backup(self, tag, start_ms, stored=None):
        self.put('backups/itest/%s/nodes/h1.manifest' % tag, b'node manifest')
        self.put('backups/itest/%s/backup.manifest' % tag, cluster_manifest(tag, start_ms, stored))

    def tags(self):
        p, items = self.cairn_json('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        return {i['tag'] for i in items}

    # --- retention ---------------------------------------------------------------------

    def test_month_of_backups_expires_to_the_policy(self):
        for t in MONTH:
            self.backup(day_tag(t), t)
        self.config('retention:\n  keep_daily: 7\n  keep_weekly: 3\n  keep_monthly: 2\n')
        p, dry = self.cairn_json('expire', '--dry-run')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(dry['dry_run'])
        self.assertEqual({b['tag'] for b in dry['backups'] if b['keep']}, MONTH_KEPT)
        self.assertFalse(any(b['deleted'] for b in dry['backups']))
        self.assertEqual(len(self.tags()), 37)  # a dry run deletes nothing
        newest = dry['backups'][0]
        self.assertEqual(newest['tag'], 'd-2026-11-30')
        self.assertEqual(newest['reasons'],
                         ['newest', 'daily 2026-11-30', 'weekly 2026-W49', 'monthly 2026-11'])
        by_tag = {b['tag']: b for b in dry['backups']}
        self.assertEqual(by_tag['d-2026-11-22']['reasons'], ['weekly 2026-W47'])
        self.assertEqual(by_tag['d-2026-10-31']['reasons'], ['monthly 2026-10'])
        self.assertEqual(dry['policy'], {'keep_daily': 7, 'keep_weekly': 3, 'keep_monthly': 2})

        p, done = self.cairn_json('expire')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sum(b['deleted'] for b in done['backups']), 37 - len(MONTH_KEPT))
        self.assertEqual(self.tags(), MONTH_KEPT)
        # The node manifests of expired backups went with them.
        self.assertEqual({k.split('/')[2] for k in self.keys('backups/')}, MONTH_KEPT)
        p = self.cairn('expire')  # again: nothing more to do
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('9 kept, 0 deleted', p.stdout)

    def test_keep_last_and_within(self):
        for t in MONTH[-10:]:
            self.backup(day_tag(t), t)
        self.config('retention:\n  keep_last: 2\n  keep_within: 4d\n')
        p = self.cairn('expire', '--dry-run')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('newest, last 2, within 4d', p.stdout)
        self.assertIn('would delete', p.stdout)
        p, out = self.cairn_json('expire')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.tags(), {'d-2026-11-%02d' % d for d in (27, 28, 29, 30)})

    def test_expire_without_a_policy_is_a_configuration_error(self):
        self.backup('a', NOV1)
        p = self.cairn('expire')
        self.assertEqual(p.returncode, 2)
        self.assertIn('no retention policy', p.stderr)
        self.assertEqual(self.tags(), {'a'})

    def test_bad_retention_keys(self):
        self.config('retention:\n  keep_within: 30 days\n')
        p = self.cairn('list')
        self.assertEqual(p.returncode, 2)
        self.assertIn('retention.keep_within is not a duration', p.stderr)
        self.config('retention:\n  keep_daily: -1\n')
        p = self.cairn('list')
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r'cairn\.yaml:\d+:\d+: .*keep_daily')
        self.config('retention:\n  keep_hourly: 3\n')
        p = self.cairn('list')
        self.assertEqual(p.returncode, 2)
        self.assertIn('keep_hourly', p.stderr)

    # --- delete ----------------------------------------------------------------------

    def test_delete(self):
        self.backup('a', NOV1)
        self.backup('b', NOV1 + DAY)
        p = self.cairn('delete', 'a')
        self.assertEqual(p.returncode, 2)
        self.assertIn('--yes', p.stderr)
        self.assertEqual(self.tags(), {'a', 'b'})
        p, out = self.cairn_json('delete', 'a', '--yes')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out, [{'tag': 'a', 'deleted': True, 'complete': True, 'objects': 1}])
        self.assertEqual(self.tags(), {'b'})
        self.assertEqual(self.keys('backups/itest/a/'), [])

    def test_delete_of_a_missing_tag(self):
        self.backup('b', NOV1)
        p = self.cairn('delete', '--yes', 'nosuch')
        self.assertEqual(p.returncode, 1)
        self.assertIn('no backup tagged nosuch of cluster itest', p.stderr)
        p, out = self.cairn_json('delete', '--yes', 'nosuch', 'b')
        self.assertEqual(p.returncode, 1)
        # In the order of deletion: complete backups newest first, then the rest.
        self.assertEqual([(o['tag'], o['deleted'], o.get('missing', False)) for o in out],
                         [('b', True, False), ('nosuch', False, True)])
        self.assertEqual(self.tags(), set())

    def test_delete_finishes_a_half_deleted_backup(self):
        self.put('backups/itest/half/nodes/h1.manifest', b'left over')
        p, out = self.cairn_json('delete', '--yes', 'half')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out[0]['complete'], False)
        self.assertEqual(self.keys('backups/'), [])

    def test_restore_lease_blocks_delete_and_expire(self):
        self.backup('old', NOV1)
        self.backup('new', NOV1 + DAY)
        expires = int(time.time() * 1000) + 600000
        self.put('locks/shared-00000000000000aa.lease',
                 ('cairn-lease 1\nkind: shared\nowner: cairn restore itest/old on h pid 1\n'
                  'expires_ms: %d\nwritten_ms: %d\n' % (expires, expires - 600000)).encode())
        p = self.cairn('delete', '--yes', 'old')
        self.assertEqual(p.returncode, 1)
        self.assertIn('being restored', p.stderr)
        self.config('retention:\n  keep_last: 1\n')
        p, out = self.cairn_json('expire')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([(b['tag'], b['keep'], b['reasons']) for b in out['backups']],
                         [('new', True, ['newest', 'last 1']), ('old', True, ['being restored'])])
        self.assertEqual(self.tags(), {'old', 'new'})

    # --- list and info ---------------------------------------------------------------

    def test_list_and_info(self):
        self.backup('before', NOV1)  # made before manifests recorded stored bytes
        self.backup('after', NOV1 + DAY, stored=1536)
        self.put('blobs/aa/' + 'aa' * 32, b'x' * 100)
        self.put('blobs/bb/' + 'bb' * 32, b'y' * 23)
        p, items = self.cairn_json('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([(i['tag'], i['stored_bytes']) for i in items],
                         [('after', 1536), ('before', None)])
        p = self.cairn('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('ADDED', p.stdout)
        self.assertIn('2 backups, 1.50 KiB added to the repository (1 older backup not counted)',
                      p.stdout)
        self.config('retention:\n  keep_daily: 7\n  keep_within: 30d\n')
        p, info = self.cairn_json('info')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(info['format_version'], 2)
        self.assertRegex(info['repository_id'], r'^[0-9a-f-]{36}$')
        self.assertEqual((info['backups'], info['blobs'], info['stored_bytes']), (2, 2, 123))
        self.assertEqual(info['retention'], {'keep_daily': 7, 'keep_within': '30d'})
        p = self.cairn('info')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('keep_daily 7, keep_within 30d', p.stdout)


class FileRepoTest(RepoOnly, unittest.TestCase):
    def fresh_repository(self):
        self.root = os.path.join(self.dir, 'repo')
        self.url = 'file://' + self.root

    def put(self, key, data):
        path = os.path.join(self.root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)

    def keys(self, prefix):
        out = []
        for root, _, files in os.walk(os.path.join(self.root, prefix)):
            out += [os.path.relpath(os.path.join(root, f), self.root) for f in files
                    if not f.startswith('.')]
        return sorted(out)


    def test_delete_asks_on_a_terminal(self):
        import pty
        self.backup('a', NOV1)
        self.backup('b', NOV1 + DAY)
        for answer, code, left in ((b'no\n', 1, {'a', 'b'}), (b'yes\n', 0, {'b'})):
            master, slave = pty.openpty()
            proc = subprocess.Popen([CAIRN, '-c', self.cfg, 'delete', 'a'], stdin=slave,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.close(slave)
            os.write(master, answer)
            out, err = proc.communicate(timeout=60)
            os.close(master)
            self.assertEqual(proc.returncode, code, err)
            self.assertIn(b"type 'yes' to delete", err)
            self.assertEqual(self.tags(), left)

    def test_help(self):
        for cmd in ('delete', 'expire', 'snapshots', 'info'):
            p = self.cairn(cmd, '--help')
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('usage: cairn ' + cmd, p.stdout)
            p = self.cairn(cmd, '--bogus')
            self.assertEqual(p.returncode, 2)


class S3RepoTest(RepoOnly, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not s3env.moto_available():
            raise unittest.SkipTest('moto_server is not installed (pip install "moto[server]"): '
                                    'the s3:// lifecycle tests need it')
        cls.tmp = tempfile.mkdtemp(prefix='cairn-life-s3-')
        cls.s3 = s3env.S3Env(log_path=os.path.join(cls.tmp, 'moto.log'))
        key_id, secret = cls.s3.moto.keys['cairn']
        cls.config_extra = ('s3:\n  access_key_id: %s\n  secret_access_key: "%s"\n'
                            '  region: us-east-1\n' % (key_id, secret))
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()
        subprocess.run(['rm', '-rf', cls.tmp])

    def fresh_repository(self):
        S3RepoTest.n += 1
        self.prefix = 'life/%d' % S3RepoTest.n
        self.url = 's3://%s/%s?endpoint=%s' % (BUCKET, self.prefix, self.s3.moto.endpoint)
        self.client = self.s3.moto.s3()

    def put(self, key, data):
        self.client.put_object(Bucket=BUCKET, Key=self.prefix + '/' + key, Body=data)

    def keys(self, prefix):
        out = []
        for page in self.client.get_paginator('list_objects_v2').paginate(
                Bucket=BUCKET, Prefix=self.prefix + '/' + prefix):
            out += [o['Key'][len(self.prefix) + 1:] for o in page.get('Contents', [])]
        return sorted(out)


class ClusterTest(unittest.TestCase):
    """With an emulated cluster and real agents, on file://."""

    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=1)
        cls.bed.create_table('shop', 'orders')
        cls.bed.write('shop', 'orders', 256 * 1024, seed=7)
        cls.base = cls.bed.read_config()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def setUp(self):
        self.bed.write_config('cairn.yaml', self.base)

    def list_tags(self):
        p, items = self.bed.cairn_json('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        return [i['tag'] for i in items]

    def delete_all(self):
        tags = self.list_tags()
        if tags:
            p = self.bed.cairn('delete', '--yes', *tags)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_retention_after_backup(self):
        self.delete_all()
        self.bed.write_config('cairn.yaml', self.base + 'retention:\n  keep_last: 2\n')
        for tag in ('r1', 'r2', 'r3'):
            p, out = self.bed.cairn_json('backup', '--tag', tag)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(out['tag'], tag)  # one document: retention reports on stderr
        self.assertEqual(self.list_tags(), ['r3', 'r2'])
        self.assertIn('r1', p.stderr)
        p = self.bed.cairn('backup', '--tag', 'r4', '--no-retention')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.list_tags(), ['r4', 'r3', 'r2'])
        p, items = self.bed.cairn_json('list')
        # r2 found every blob in place: it added nothing (bar nothing the agents wrote).
        added = {i['tag']: i['stored_bytes'] for i in items}
        self.assertEqual(added['r3'], 0)
        self.delete_all()

    def test_first_backup_records_bytes_added(self):
        self.delete_all()
        self.bed.write('shop', 'orders', 64 * 1024, seed=int(time.time()) % 100000)
        p, out = self.bed.cairn_json('backup', '--tag', 'fresh')
        self.assertEqual(p.returncode, 0, p.stderr)
        p, items = self.bed.cairn_json('list')
        self.assertGreater(items[0]['stored_bytes'], 0)
        self.delete_all()

    def test_delete_refused_while_restore_runs(self):
        p = self.bed.cairn('backup', '--tag', 'rs')
        self.assertEqual(p.returncode, 0, p.stderr)
        for n in self.bed.nodes:
            self.bed.fault(n, 'POST', '/storage_service/sstables/', status=0, hang=6, count=1)
        proc = subprocess.Popen([CAIRN, '-c', self.bed.config, 'restore', 'rs', '--into-nonempty'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lease = os.path.join(self.bed.repo_dir(), 'locks')
            wait_for(lambda: glob.glob(os.path.join(lease, 'shared-*.lease')), timeout=60,
                     what='the restore lease')
            p, out = self.bed.cairn_json('delete', '--yes', 'rs')
            self.assertEqual(p.returncode, 1)
            self.assertIn('being restored', out[0]['error'])
        finally:
            _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(glob.glob(os.path.join(lease, '*.lease')), [])  # released
        p = self.bed.cairn('delete', '--yes', 'rs')
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_snapshots_of_a_killed_backup(self):
        for n in self.bed.nodes:  # the operator's own snapshot: never touched
            self.bed.rest(n, 'POST', '/storage_service/snapshots', tag='mine', kn='shop')
        # A backup killed while it uploads (slowly: new data, rate-limited) leaves its
        # snapshot on every node. Its tag is the default cairn_<time>Z: a --tag backup
        # is recognised once the repository has a manifest under its tag.
        self.bed.write('shop', 'orders', 512 * 1024, seed=int(time.time()) % 100000 + 1000)
        proc = subprocess.Popen([CAIRN, '-c', self.bed.config, 'backup', '--rate-limit', '0.01'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def killed_tags(n):
            return {os.path.basename(d) for d in self.bed.snapshot_dirs(n)
                    if os.path.basename(d).startswith('cairn_')}
        try:
            wait_for(lambda: all(killed_tags(n) for n in self.bed.nodes), timeout=60,
                     what='the snapshots')
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        (tag,) = killed_tags(self.bed.nodes[0])
        # Its lease is still live: the snapshot belongs to a running backup.
        p, out = self.bed.cairn_json('snapshots', '--clear')
        self.assertEqual(p.returncode, 0, p.stderr)
        snaps = {s['tag']: s for s in out['snapshots']}
        self.assertEqual(snaps[tag]['state'], 'running')
        self.assertEqual(snaps[tag]['cleared_nodes'], 0)
        self.assertEqual(snaps[tag]['nodes'], 3)
        self.assertEqual(out['other_tags'], 1)
        # Once the lease has gone (expired), --clear removes it everywhere.
        for f in glob.glob(os.path.join(self.bed.repo_dir(), 'locks', '*.lease')):
            os.unlink(f)
        p, out = self.bed.cairn_json('snapshots')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([(s['tag'], s['state']) for s in out['snapshots']],
                         [(tag, 'incomplete')])
        p = self.bed.cairn('snapshots', '--clear')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('3 of 3 nodes', p.stdout)
        for n in self.bed.nodes:
            self.assertEqual(killed_tags(n), set())
            self.assertTrue(any(d.endswith('/mine') for d in self.bed.snapshot_dirs(n)))
        p, out = self.bed.cairn_json('snapshots')
        self.assertEqual(out['snapshots'], [])
        self.assertIn(self.bed.cairn('delete', '--yes', tag).returncode, (0, 1))


if __name__ == '__main__':
    unittest.main()
