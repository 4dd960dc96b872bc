"""Backups to s3:// on moto_server (which checks every signature), end to end.

Three emulated nodes back up to a bucket, list, show and restore from it; the objects
`aws s3 ls --recursive` shows follow docs/repository-format.md; wrong credentials, a
missing bucket and an agent without access fail clearly and leave no backup; errors
injected between cairn and the store are retried and the backup completes; an agent
uploading four large files at once stays within its memory bound.
"""

import hashlib
import os
import re
import subprocess
import tempfile
import unittest

import repocheck
import s3env
from harness import BUILD, SOURCE, Bed, rfc3339

MiB = 1 << 20
BUCKET = 'cairn-e2e'
PREFIX = 'prod/cairn'
TABLES = [('shop', 'orders'), ('shop', 'items'), ('logs', 'events')]

# docs/repository-format.md, relative to the repository's prefix.
LAYOUT = [
    re.compile(r'^cairn\.repo$'),
    re.compile(r'^blobs/([0-9a-f]{2})/\1[0-9a-f]{62}$'),
    re.compile(r'^packs/([0-9a-f]{2})/\1[0-9a-f]{62}$'),
    re.compile(r'^backups/itest/[A-Za-z0-9_.-]+/nodes/[0-9a-f-]{36}\.manifest$'),
    re.compile(r'^backups/itest/[A-Za-z0-9_.-]+/backup\.manifest$'),
]


class S3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not s3env.moto_available():
            raise unittest.SkipTest('moto_server is not installed (pip install "moto[server]"): '
                                    'the s3:// end-to-end tests need it')
        cls.tmp = tempfile.mkdtemp(prefix='cairn-s3-')
        cls.s3 = s3env.S3Env(log_path=os.path.join(cls.tmp, 'moto.log'))
        cls.endpoint = cls.s3.moto.endpoint
        cls.url = 's3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, cls.endpoint)
        # Agents find their credentials in the environment they start with; the
        # coordinator gets its own through the s3: map of its configuration.
        saved = dict(os.environ)
        os.environ.update(cls.s3.env('agent'))
        try:
            # The agents serve the listed repositories only (agent.yaml `repositories`):
            # the same one through the fault proxy, and those the failure tests name.
            serve = ['s3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, cls.s3.proxy.endpoint),
                     's3://cairn-missing/x?endpoint=%s' % cls.endpoint,
                     's3://cairn-test/denied?endpoint=%s' % cls.endpoint]
            cls.bed = Bed(nodes=3, data_dirs=2, repository=cls.url, serve=serve)
        except Exception:
            cls.s3.stop()
            raise
        finally:
            os.environ.clear()
            os.environ.update(saved)
        for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'):
            os.environ.pop(k, None)
        cls.base_config = cls.bed.read_config()
        cls.bed.write_config('cairn.yaml', cls.config_text(cls.url))
        cls.bed.seed_sample()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()
        cls.s3.stop()
        subprocess.run(['rm', '-rf', cls.tmp])

    @classmethod
    def config_text(cls, repository, user='cairn', secret=None, s3_extra=()):
        key_id, real = cls.s3.moto.keys[user]
        lines = [line for line in cls.base_config.splitlines()
                 if not line.startswith('repository:')]
        lines += ['repository: "%s"' % repository,
                  's3:',
                  '  access_key_id: %s' % key_id,
                  '  secret_access_key: "%s"' % (secret or real),
                  '  region: us-east-1'] + list(s3_extra)
        return '\n'.join(lines) + '\n'

    def config(self, name, repository, **kw):
        return self.bed.write_config(name, self.config_text(repository, **kw))

    def objects(self, prefix=PREFIX + '/'):
        """Every key under prefix, as `aws s3 ls --recursive` lists them."""
        key_id, secret = self.s3.moto.keys['cairn']
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
                   AWS_DEFAULT_REGION='us-east-1')
        p = subprocess.run(['aws', '--endpoint-url', self.endpoint, 's3', 'ls', '--recursive',
                            's3://%s/%s' % (BUCKET, prefix)],
                           capture_output=True, text=True, env=env, timeout=120)
        if p.returncode == 1 and not p.stdout:
            return {}  # nothing under the prefix
        self.assertEqual(p.returncode, 0, p.stderr)
        out = {}
        for line in p.stdout.splitlines():
            _, _, size, key = line.split(None, 3)
            out[key] = int(size)
        return out

    def fetch(self, key):
        return self.s3.moto.s3().get_object(Bucket=BUCKET, Key=key)['Body'].read()

    def backup(self, *args, config=None, expect=0):
        p, out = self.bed.cairn_json('backup', *args, config=config)
        self.assertEqual(p.returncode, expect, p.stderr)
        return out

    def assert_no_backup(self, tag):
        keys = [k for k in self.objects() if '/backups/itest/%s/' % tag in k]
        self.assertFalse([k for k in keys if k.endswith('backup.manifest')], keys)

    def test_01_backup_list_show(self):
        s = self.backup('--tag', 's3first')
        self.assertEqual(s['nodes'], 3)
        # A file costs no HEAD, and small files go in packs: a PUT per large file and
        # per pack, not per file (format 1 made about 3 requests per file here).
        self.assertLess(sum(s['requests'].values()), s['files'] / 3, s['requests'])
        self.assertEqual(s['tables'], 3)
        self.assertGreater(s['files'], 0)
        self.assertGreater(s['uploaded_bytes'], 0)
        p, items = self.bed.cairn_json('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('s3first', [x['tag'] for x in items])
        p, show = self.bed.cairn_json('show', 's3first', '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(show['nodes']), 3)
        self.assertEqual(len(show['files_list']), show['files'])
        # Nothing half-done is left in the bucket: no multipart upload, no lease.
        uploads = self.s3.moto.s3().list_multipart_uploads(Bucket=BUCKET).get('Uploads', [])
        self.assertEqual(uploads, [])
        self.assertFalse([k for k in self.objects() if '/locks/' in k])

    def test_02_objects_follow_the_format(self):
        objects = self.objects()
        self.assertTrue(objects)
        for key in objects:
            self.assertTrue(key.startswith(PREFIX + '/'), key)
            rel = key[len(PREFIX) + 1:]
            self.assertTrue(any(p.match(rel) for p in LAYOUT), 'unexpected object %s' % key)
        blobs = [k for k in objects if '/blobs/' in k]
        self.assertTrue(blobs)
        self.assertEqual(repocheck_blob_check(self), [])
        # A pack is named by the SHA-256 of its bytes; `zstd -d` reads all its members.
        packs = [k for k in objects if '/packs/' in k]
        self.assertTrue(packs)
        for key in packs:
            raw = self.fetch(key)
            self.assertEqual(hashlib.sha256(raw).hexdigest(), key.rsplit('/', 1)[1])
            subprocess.run(['zstd', '-dc'], input=raw, capture_output=True, check=True)
        # The manifests read with zstd and protoc, as the format says.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'backup.manifest')
            with open(path, 'wb') as f:
                f.write(self.fetch('%s/backups/itest/s3first/backup.manifest' % PREFIX))
            text = repocheck.decode_manifest(SOURCE, path, 'ClusterManifest')
            self.assertIn('tag: "s3first"', text)
            for node in self.bed.nodes:
                key = '%s/backups/itest/s3first/nodes/%s.manifest' % (PREFIX, node['host_id'])
                self.assertIn(key, objects)
                with open(path, 'wb') as f:
                    f.write(self.fetch(key))
                self.assertIn('Data.db', repocheck.decode_manifest(SOURCE, path, 'NodeManifest'))

    def test_03_second_backup_uploads_nothing(self):
        s = self.backup('--tag', 's3second')
        self.assertEqual(s['uploaded_bytes'], 0)
        # Nothing asked per file: the last backup's node manifests are the index (one
        # GET per node); what remains is the backup's own fixed cost.
        self.assertLess(sum(s['requests'].values()), s['files'] / 5, s['requests'])
        # Neither the tag nor the unchanged schema dump costs a HEAD: the parent's
        # listing and cluster manifest say both.
        self.assertEqual(s['requests']['head'], 0, s['requests'])
        # A node costs one request, its node manifest's PUT: its agent takes cairn.repo
        # from memory (the coordinator names the id it read) and its parent's manifest
        # from its own copy (which hashes to the parent's recorded SHA-256). The rest
        # is the coordinator's: cairn.repo and the parent's cluster manifest (GET); the
        # lease, this cluster manifest (PUT); the lease's, the parent's and the node
        # manifests' listings; the lease's release.
        r, n = s['requests'], len(self.bed.nodes)
        self.assertEqual(r['get'], 2, r)
        self.assertEqual(r['put'], n + 2, r)
        self.assertEqual(r['list'], 3, r)
        self.assertEqual(r['delete'], 1, r)
        self.assertEqual(sum(r.values()), n + 8, r)

    def test_04_faults_are_retried(self):
        self.bed.write('shop', 'orders', 3 * MiB, seed=777, compressibility=0.0)
        proxy = self.s3.proxy
        proxy.clear()
        proxy.add({'method': 'PUT', 'action': 'status', 'status': 500, 'every': 3, 'count': 4},
                  {'method': 'PUT', 'action': 'status', 'status': 503, 'code': 'SlowDown',
                   'every': 4, 'count': 4},
                  {'method': 'HEAD', 'action': 'status', 'status': 503, 'code': 'SlowDown',
                   'every': 5, 'count': 4},
                  {'method': 'HEAD', 'action': 'drop', 'after': 2, 'every': 7, 'count': 3},
                  {'method': 'GET', 'action': 'drop', 'every': 3, 'count': 3},
                  {'method': 'GET', 'match': 'list-type', 'action': 'status', 'status': 500,
                   'count': 2})
        url = 's3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, proxy.endpoint)
        cfg = self.config('proxied.yaml', url)
        s = self.backup('--tag', 's3faults', config=cfg)
        self.assertGreater(s['uploaded_bytes'], 0)
        fired = [r for r in proxy.seen() if r['fault']]
        self.assertGreaterEqual(len(fired), 10, fired)
        self.assertTrue({'status', 'drop'} <= {r['fault'] for r in fired})
        proxy.clear()
        p, items = self.bed.cairn_json('list')
        self.assertIn('s3faults', [x['tag'] for x in items])
        self.assertEqual(repocheck_blob_check(self), [])

    def test_04b_counts_are_what_the_server_saw(self):
        # The --json counts are every request sent, the lease's release included (it
        # used to be sent after the report and so missed).
        self.bed.write('shop', 'orders', 1 * MiB, seed=778)
        proxy = self.s3.proxy
        proxy.clear()
        url = 's3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, proxy.endpoint)
        cfg = self.config('counted.yaml', url)
        s = self.backup('--tag', 's3counted', '--no-retention', config=cfg)
        seen = proxy.seen()
        proxy.clear()
        self.assertGreater(s['uploaded_bytes'], 0)
        kinds = {}
        for r in seen:
            kinds[r['method']] = kinds.get(r['method'], 0) + 1
        self.assertEqual(sum(s['requests'].values()), len(seen), (s['requests'], kinds))
        self.assertEqual(s['requests']['delete'],
                         len([r for r in seen if r['method'] == 'DELETE']))

    def test_05_wrong_secret(self):
        cfg = self.config('wrong-secret.yaml', self.url, secret='not-the-secret')
        p = self.bed.cairn('backup', '--tag', 's3wrong', config=cfg)
        self.assertNotEqual(p.returncode, 0)
        key_id = self.s3.moto.keys['cairn'][0]
        self.assertIn('SignatureDoesNotMatch', p.stderr)
        self.assertIn(key_id, p.stderr)
        self.assertIn(BUCKET, p.stderr)
        self.assertNotIn('not-the-secret', p.stderr + p.stdout)
        self.assert_no_backup('s3wrong')

    def test_06_missing_bucket(self):
        cfg = self.config('missing.yaml', 's3://cairn-missing/x?endpoint=%s' % self.endpoint)
        p = self.bed.cairn('backup', '--tag', 's3missing', config=cfg)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('bucket cairn-missing does not exist', p.stderr)
        p = self.bed.cairn('list', config=cfg)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('bucket cairn-missing does not exist', p.stderr)

    def test_07_agent_without_access(self):
        # The coordinator may write cairn-test; the agents' key may not.
        url = 's3://cairn-test/denied?endpoint=%s' % self.endpoint
        cfg = self.config('denied.yaml', url)
        p = self.bed.cairn('backup', '--tag', 's3denied', config=cfg)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r'S3 refused to \w+ s3://cairn-test/denied/')
        self.assertIn(self.s3.moto.keys['agent'][0], p.stderr)
        listed = self.s3.moto.s3().list_objects_v2(Bucket='cairn-test', Prefix='denied/')
        keys = [o['Key'] for o in listed.get('Contents', [])]
        self.assertFalse([k for k in keys if k.endswith('backup.manifest')], keys)

    def test_08_agent_memory_with_four_large_files(self):
        node = self.bed.nodes[0]
        # One table, since the agent uploads a table's files in parallel.
        self.bed.create_table('big', 'wide')
        for i in range(4):
            self.bed.write('big', 'wide', 48 * MiB, node=node, seed=900 + i, compressibility=0.0)
        # A slow store: every blob's PUT waits, so all four files are spooled (each
        # named only after its last byte) and held at once.
        proxy = self.s3.proxy
        proxy.clear()
        proxy.add({'method': 'PUT', 'match': '/blobs/', 'action': 'delay', 'seconds': 1.0,
                   'count': 1000})
        url = 's3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, proxy.endpoint)
        s = self.backup('--tag', 's3big', '--keyspace', 'big',
                        config=self.config('slow.yaml', url))
        delayed = [r for r in proxy.seen() if r['fault'] == 'delay']
        proxy.clear()
        self.assertGreaterEqual(s['uploaded_bytes'], 4 * 48 * MiB)
        # Each 48 MiB file is one PUT from its spool file, not a multipart upload.
        self.assertGreaterEqual(len(delayed), 4)
        self.assertEqual(s['requests'].get('part_put', 0), 0, s['requests'])
        self.assertEqual(s['requests'].get('multipart', 0), 0, s['requests'])
        with open('/proc/%d/status' % self.bed.agent_pid(node)) as f:
            hwm = int(re.search(r'VmHWM:\s+(\d+) kB', f.read()).group(1))
        print('agent peak RSS after uploading 4 x 48 MiB at once: %d MiB' % (hwm // 1024))
        if not sanitized():
            self.assertLess(hwm, 64 * 1024)
        state = os.path.join(self.bed.dir, node['name'], 'agent-state')
        self.assertFalse([f for f in os.listdir(state) if f.startswith('.spool')])

    def test_09_restore(self):
        digests = {(ks, t, n['host_id']): self.bed.digest(ks, t, n)
                   for ks, t in TABLES for n in self.bed.nodes}
        self.backup('--tag', 's3restore')
        for ks, t in TABLES:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p, out = self.bed.cairn_json('restore', 's3restore', '--schema', '--keyspace', 'shop',
                                     '--keyspace', 'logs')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out['nodes'], 3)
        for (ks, t, host), want in digests.items():
            node = [n for n in self.bed.nodes if n['host_id'] == host][0]
            self.assertEqual(self.bed.digest(ks, t, node), want, '%s.%s on %s' % (ks, t, host))

    def test_10_location_may_not_move_the_endpoint(self):
        # This machine's endpoint is moto's; the location names the proxy in front of it.
        url = 's3://%s/%s?endpoint=%s' % (BUCKET, PREFIX, self.s3.proxy.endpoint)
        own = '  endpoint: %s' % self.endpoint
        p = self.bed.cairn('list', config=self.config('pinned.yaml', url, s3_extra=[own]))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('names S3 endpoint %s, but this machine\'s is %s'
                      % (self.s3.proxy.endpoint, self.endpoint), p.stderr)
        self.assertIn('s3.allow_location_overrides', p.stderr)
        p = self.bed.cairn('list', config=self.config('noverify.yaml', self.url + '&verify_tls=false',
                                                      s3_extra=[own]))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('sets verify_tls=false', p.stderr)
        # The same endpoint is the machine's own; overrides let the location choose.
        p = self.bed.cairn('list', config=self.config('same.yaml', self.url, s3_extra=[own]))
        self.assertEqual(p.returncode, 0, p.stderr)
        allowed = [own, '  allow_location_overrides: true', '  stall_timeout: 5']
        p = self.bed.cairn('list', config=self.config('allowed.yaml', url, s3_extra=allowed))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.bed.cairn('list', config=self.config('badstall.yaml', self.url,
                                                      s3_extra=['  stall_timeout: 0']))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('stall_timeout', p.stderr)

    def test_11_increments(self):
        # The cluster's last backup on S3 is the base of a chain; an increment ships what
        # ScyllaDB linked into backups/, and one with nothing new costs one request a
        # node (its node manifest) besides the backup's own.
        p = self.bed.cairn('incremental', 'enable')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.bed.write('shop', 'orders', 1 * MiB, seed=1100)
        s = self.backup('--incremental', '--tag', 's3incr1')
        self.assertGreater(s['uploaded_bytes'], 0)
        digests = {(ks, t, n['host_id']): self.bed.digest(ks, t, n)
                   for ks, t in TABLES for n in self.bed.nodes}
        left = [f for n in self.bed.nodes for d in n['data_dirs']
                for root, _, files in os.walk(d) if os.path.basename(root) == 'backups'
                for f in files]
        self.assertEqual(left, [], 'what the increment recorded left backups/')
        s = self.backup('--incremental', '--tag', 's3incr2')
        self.assertEqual(s['uploaded_bytes'], 0)
        r, n = s['requests'], len(self.bed.nodes)
        self.assertEqual(sum(r.values()), n + 8, r)
        p, items = self.bed.cairn_json('list')
        by_tag = {x['tag']: x for x in items}
        self.assertEqual(by_tag['s3incr2']['previous_tag'], 's3incr1')
        self.assertEqual(by_tag['s3incr2']['kind'], 'incremental')
        p = self.bed.cairn('incremental', 'disable')
        self.assertEqual(p.returncode, 0, p.stderr)
        # The chain restores from the bucket: base and increments, as the nodes held them.
        for ks, t in TABLES:
            self.bed.cql('DROP TABLE %s.%s' % (ks, t))
        p, out = self.bed.cairn_json('restore', '--at', rfc3339(by_tag['s3incr2']['point_ms']),
                                     '--schema', '--keyspace', 'shop', '--keyspace', 'logs')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out['tag'], 's3incr2')
        self.assertEqual({(ks, t, n['host_id']): self.bed.digest(ks, t, n)
                          for ks, t in TABLES for n in self.bed.nodes}, digests)


def sanitized():
    """Whether the build under test runs with AddressSanitizer, which inflates memory."""
    try:
        with open(os.path.join(BUILD, 'CMakeCache.txt')) as f:
            return 'CAIRN_SANITIZE:BOOL=ON' in f.read()
    except OSError:
        return False


def repocheck_blob_check(test):
    """Blobs whose bytes do not hash to their name, and pack members (as the node
    manifests place them) whose bytes do not hash to their blob id."""
    bad = []
    objects = test.objects()
    for key in objects:
        if '/blobs/' not in key:
            continue
        raw = subprocess.run(['zstd', '-dc'], input=test.fetch(key), capture_output=True).stdout
        if hashlib.sha256(raw).hexdigest() != key.rsplit('/', 1)[1]:
            bad.append(key)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'node.manifest')
        for key in objects:
            if not key.endswith('.manifest') or '/nodes/' not in key:
                continue
            with open(path, 'wb') as f:
                f.write(test.fetch(key))
            text = repocheck.decode_manifest(SOURCE, path, 'NodeManifest')
            for entry in repocheck.FILE_ENTRY.findall(text):
                pack = repocheck.field(entry, 'pack')
                if not pack:
                    continue
                off = int(repocheck.field(entry, 'pack_offset'))
                frame = test.fetch('%s/packs/%s/%s' % (PREFIX, pack[:2], pack))[
                    off:off + int(repocheck.field(entry, 'pack_length'))]
                raw = subprocess.run(['zstd', '-dc'], input=frame, capture_output=True).stdout
                if hashlib.sha256(raw).hexdigest() != repocheck.field(entry, 'blob'):
                    bad.append('%s: %s in pack %s' % (key, repocheck.field(entry, 'name'), pack))
    return bad


if __name__ == '__main__':
    unittest.main()
