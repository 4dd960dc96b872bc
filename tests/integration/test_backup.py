"""`cairn backup`, `list` and `show` on 3 emulated nodes with two data directories each."""

import os
import signal
import subprocess
import time
import unittest

import repocheck
from harness import BIN, SOURCE, SSTABLE_SETS, Bed, shared_sets, wait_for

MiB = 1 << 20


def live_files(bed, keyspace=None):
    """(path, sha256, size) of every live SSTable file on every node."""
    out = []
    for node in bed.nodes:
        for d in node['data_dirs']:
            for ks in os.listdir(d):
                if keyspace and ks != keyspace:
                    continue
                ksdir = os.path.join(d, ks)
                for tdir in os.listdir(ksdir):
                    full = os.path.join(ksdir, tdir)
                    for f in os.listdir(full):
                        p = os.path.join(full, f)
                        if os.path.isfile(p):
                            out.append((p, repocheck.sha256_file(p), os.path.getsize(p)))
    return out


class BackupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # test_12's small filesystem is a repository the agents serve too.
        cls.bed = Bed(nodes=3, data_dirs=2, serve=['file://{dir}/small'])
        cls.repo = cls.bed.repo_dir()
        cls.bed.seed_sample()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def backup(self, *args, expect=0):
        p, out = self.bed.cairn_json('backup', *args)
        self.assertEqual(p.returncode, expect, p.stderr)
        return p, out

    def assert_repo_sound(self, crashed=False):
        # A writer killed mid-upload may leave a temporary, never an object.
        if not crashed:
            self.assertEqual(repocheck.stray_temporaries(self.repo), [])
        for b in repocheck.blobs(self.repo):
            ok, _ = repocheck.verify_blob(self.repo, b)
            self.assertTrue(ok, 'blob %s does not decompress to its name' % b)
        self.assertEqual(repocheck.verify_packs(SOURCE, self.repo), [])

    def test_01_full_backup_keeps_every_byte(self):
        before = live_files(self.bed)
        p, s = self.backup('--tag', 'first', '--keep-snapshot')
        self.assertEqual(s['tag'], 'first')
        self.assertEqual(s['nodes'], 3)
        self.assertEqual(s['tables'], 3)
        self.assertGreater(s['files'], 0)
        self.assertGreaterEqual(s['skew_ms'], 0)
        self.assert_repo_sound()
        # Every snapshot file's bytes are in the repository, under their SHA-256; the
        # small files in packs, one per table and node here.
        have = repocheck.contents(SOURCE, self.repo)
        self.assertTrue(repocheck.packs(self.repo))
        self.assertLessEqual(len(repocheck.packs(self.repo)), 3 * 3)
        snapshot_files = 0
        for node in self.bed.nodes:
            for snap in self.bed.snapshot_dirs(node):
                self.assertTrue(snap.endswith('/first'), snap)
                for f in os.listdir(snap):
                    if f in ('schema.cql', 'manifest.json'):
                        continue
                    snapshot_files += 1
                    self.assertIn(repocheck.sha256_file(os.path.join(snap, f)), have, f)
        self.assertEqual(snapshot_files, s['files'])
        # Identical files (on two nodes, say) are stored once; two nodes racing for the
        # same new blob may both send it, so the distinct bytes are a lower bound.
        distinct = {}
        for node in self.bed.nodes:
            for snap in self.bed.snapshot_dirs(node):
                for f in os.listdir(snap):
                    if f not in ('schema.cql', 'manifest.json'):
                        p_ = os.path.join(snap, f)
                        distinct[repocheck.sha256_file(p_)] = os.path.getsize(p_)
        self.assertLessEqual(sum(distinct.values()), s['uploaded_bytes'])
        self.assertLessEqual(s['uploaded_bytes'], s['bytes'])
        # Files that existed before the backup are all in it (the flush adds none here).
        for path, sha, _ in before:
            self.assertIn(sha, have, path)
        # The manifests read with standard tools.
        cm = os.path.join(self.repo, 'backups', 'itest', 'first', 'backup.manifest')
        text = repocheck.decode_manifest(SOURCE, cm, 'ClusterManifest')
        self.assertIn('tag: "first"', text)
        for node in self.bed.nodes:
            nm = os.path.join(self.repo, 'backups', 'itest', 'first', 'nodes',
                              node['host_id'] + '.manifest')
            ntext = repocheck.decode_manifest(SOURCE, nm, 'NodeManifest')
            self.assertIn(node['host_id'], ntext)
            self.assertIn('Data.db', ntext)
        subprocess.run(['rm', '-rf'] + [x for n in self.bed.nodes
                                        for x in self.bed.snapshot_dirs(n)], check=True)

    def test_02_second_backup_uploads_nothing(self):
        p, s = self.backup('--tag', 'second')
        self.assertEqual(s['uploaded_bytes'], 0)
        # No request per file: the last backup's manifests say what the repository holds
        # (one GET per node), and no blob or pack is written (the puts are the manifests
        # and the lease).
        total = sum(v for k, v in s['requests'].items() if k != 'retries')
        self.assertLess(total, s['files'] / 4, s['requests'])
        self.assertEqual(s['requests']['head'], 0, s['requests'])
        # Node manifests, cluster manifest, lease: the schema dump is the parent's.
        self.assertLessEqual(s['requests']['put'], len(self.bed.nodes) + 2)
        self.assertGreater(s['bytes'], 0)
        for node in self.bed.nodes:
            self.assertEqual(self.bed.snapshot_dirs(node), [], 'snapshot left behind')

    def test_03_only_new_sstables_travel(self):
        have = repocheck.contents(SOURCE, self.repo)
        self.bed.write('shop', 'orders', 1 * MiB, node=self.bed.nodes[0], seed=900)
        self.bed.compact('shop', 'items', self.bed.nodes[1])
        expected = {}
        for path, sha, size in live_files(self.bed):
            if sha not in have:
                expected[sha] = size
        self.assertTrue(expected)
        p, s = self.backup('--tag', 'third')
        self.assertEqual(s['uploaded_bytes'], sum(expected.values()))
        self.assertEqual(repocheck.contents(SOURCE, self.repo) - have, set(expected))
        self.assert_repo_sound()

    def test_04_list_and_show(self):
        p, items = self.bed.cairn_json('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        tags = [x['tag'] for x in items]
        self.assertEqual(tags[:3], ['third', 'second', 'first'])
        for x in items:
            self.assertEqual(x['nodes'], 3)
            self.assertEqual(x['cluster'], 'itest')
        p, show = self.bed.cairn_json('show', 'latest', '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(show['tag'], 'third')
        self.assertEqual(len(show['nodes']), 3)
        self.assertEqual({(t['keyspace'], t['table']) for t in show['tables']},
                         {('shop', 'orders'), ('shop', 'items'), ('logs', 'events')})
        self.assertEqual(len(show['files_list']), show['files'])
        self.assertGreater(show['schema_size'], 0)
        p = self.bed.cairn('show', 'nope')
        self.assertEqual(p.returncode, 1)
        self.assertIn('no complete backup', p.stderr)

    def test_05_keyspace_filter(self):
        p, s = self.backup('--tag', 'only-logs', '--keyspace', 'logs')
        self.assertEqual(s['tables'], 1)
        p, s = self.backup('--tag', 'no-items', '--exclude', 'shop.items')
        self.assertEqual(s['tables'], 2)
        p = self.bed.cairn('backup', '--keyspace', 'nothing*')
        self.assertEqual(p.returncode, 1)
        self.assertIn('no user table matches', p.stderr)

    def test_06_corrupt_data_is_reported(self):
        node = self.bed.nodes[2]
        self.bed.write('logs', 'events', 256 * 1024, node=node, seed=777)
        victim = [p for p, _, _ in live_files(self.bed, 'logs')
                  if p.startswith(tuple(node['data_dirs'])) and p.endswith('Data.db')][0]
        with open(victim, 'r+b') as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xff]))
        p = self.bed.cairn('backup', '--tag', 'with-corruption')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('CORRUPT', p.stderr)
        self.assertIn(os.path.basename(victim), p.stderr)
        self.assertIn('logs.events', p.stderr)
        p = self.bed.cairn('show', 'with-corruption', '--files')
        self.assertIn('CORRUPT', p.stdout)
        # Later backups would report it again: remove the damaged table's data.
        self.bed.compact('logs', 'events', node)

    def test_07_existing_tag_refused(self):
        p = self.bed.cairn('backup', '--tag', 'first')
        self.assertEqual(p.returncode, 1)
        self.assertIn('already exists', p.stderr)

    def test_08_real_sstable_sets(self):
        sets = shared_sets()
        node = self.bed.nodes[0]
        for name in sets:
            table = 'real_' + name.replace('-', '_')
            self.bed.create_table('fixtures', table)
            self.bed.plant('fixtures', table, os.path.join(SSTABLE_SETS, name), node)
        p, s = self.backup('--tag', 'fixtures', '--keyspace', 'fixtures')
        self.assertEqual(s['tables'], len(sets))
        have = repocheck.contents(SOURCE, self.repo)
        for name in sets:
            src = os.path.join(SSTABLE_SETS, name)
            for f in os.listdir(src):
                if f == 'SOURCE.txt' or not os.path.isfile(os.path.join(src, f)):
                    continue
                sha = repocheck.sha256_file(os.path.join(src, f))
                self.assertIn(sha, have, '%s/%s' % (name, f))
                ok, size = repocheck.verify_content(SOURCE, self.repo, sha)
                self.assertTrue(ok)
                self.assertEqual(size, os.path.getsize(os.path.join(src, f)))

    def agents_read(self):
        """Bytes the agents have read through read(2) and its kin (/proc/PID/io rchar)."""
        total = 0
        for node in self.bed.nodes:
            with open('/proc/%d/io' % self.bed.agent_pid(node)) as f:
                total += next(int(line.split()[1]) for line in f if line.startswith('rchar:'))
        return total

    def test_09_each_new_byte_read_once(self):
        # New SSTables are read once, hashed and compressed in the same pass; before,
        # an upload hashed a file, then read it all again to compress it.
        self.bed.write('shop', 'orders', 6 * MiB, seed=950, compressibility=0.3)
        before = self.agents_read()
        p, s = self.backup('--tag', 'readonce')
        read = self.agents_read() - before
        self.assertGreater(s['uploaded_bytes'], 12 * MiB)
        self.assertGreaterEqual(read, s['uploaded_bytes'])
        self.assertLess(read, s['uploaded_bytes'] * 1.25 + 2 * MiB,
                        'agents read %d bytes to upload %d' % (read, s['uploaded_bytes']))
        self.assert_repo_sound()

    def test_10_scylla_error_fails_the_backup(self):
        victim = self.bed.nodes[2]
        self.bed.fault(victim, 'POST', '/storage_service/snapshots', status=500,
                       message='injected: snapshot refused')
        p = self.bed.cairn('backup', '--tag', 'scylla-error')
        self.assertEqual(p.returncode, 1)
        self.assertIn(victim['host_id'], p.stderr)
        self.assertIn('injected: snapshot refused', p.stderr)
        self.assertNotIn('scylla-error', repocheck.cluster_manifests(self.repo, 'itest'))
        # The nodes that did snapshot have theirs cleared.
        for node in self.bed.nodes:
            self.assertEqual(self.bed.snapshot_dirs(node), [])

    def test_11_compaction_during_upload_changes_nothing(self):
        node = self.bed.nodes[0]
        self.bed.write('shop', 'orders', 8 * MiB, node=node, seed=5150, compressibility=0.0)
        before = {sha for path, sha, _ in live_files(self.bed, 'shop')}
        proc = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', self.bed.config, 'backup',
                                 '--tag', 'during-compaction', '--rate-limit', '4', '--json'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: self.bed.snapshot_dirs(node), 30, 'the snapshot')
        self.bed.compact('shop', 'orders', node)
        out, err = proc.communicate(timeout=180)
        self.assertEqual(proc.returncode, 0, err)
        # The backup holds the files of the snapshot, not the compacted ones.
        p, show = self.bed.cairn_json('show', 'during-compaction', '--files')
        backed = {f['blob'] for f in show['files_list'] if f['keyspace'] == 'shop'}
        self.assertEqual(backed, before)
        self.assert_repo_sound()

    def test_12_full_repository_fails_cleanly(self):
        # A repository on a filesystem that is full: a 16 MiB tmpfs, when this machine
        # lets us mount one.
        mnt = os.path.join(self.bed.dir, 'small')
        os.makedirs(mnt)
        if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt],
                          capture_output=True).returncode != 0:
            self.skipTest('cannot mount a small tmpfs here (needs root); the full-disk path '
                          'is covered by unit.test_store')
        try:
            text = ''.join('repository: file://%s\n' % mnt if line.startswith('repository:')
                           else line for line in self.bed.read_config().splitlines(True))
            cfg = self.bed.write_config('full.yaml', text)
            p = self.bed.cairn('backup', '--tag', 'disk-full', config=cfg)
            self.assertEqual(p.returncode, 1)
            self.assertIn('full', p.stderr)
            self.assertNotIn('disk-full', repocheck.cluster_manifests(mnt, 'itest'))
            self.assertEqual(repocheck.stray_temporaries(mnt), [])
            for node in self.bed.nodes:
                self.assertEqual(self.bed.snapshot_dirs(node), [])
        finally:
            subprocess.run(['umount', mnt], capture_output=True)

    def test_99_agent_killed_mid_upload(self):
        # Last: the agent it kills is restarted by hand, outside the launcher.
        # Enough fresh data, slowed down, that the kill lands during the upload.
        self.bed.create_table('big', 'blobs')
        self.bed.write('big', 'blobs', 48 * MiB, seed=4242, compressibility=0.0)
        victim = self.bed.nodes[1]
        # A short grace: the killed agent's node fails soon (default 180 s).
        cfg = self.bed.write_config('grace.yaml', self.bed.read_config() + 'grace: 5\n')
        proc = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', cfg, 'backup',
                                 '--tag', 'interrupted', '--rate-limit', '8', '--json'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        os.kill(self.bed.agent_pid(victim), signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn(victim['address'], err)
        self.assertNotIn('interrupted', repocheck.cluster_manifests(self.repo, 'itest'))
        p, items = self.bed.cairn_json('list')
        self.assertNotIn('interrupted', [x['tag'] for x in items])
        # The surviving nodes' snapshots of the tag are cleared.
        for node in self.bed.nodes:
            if node is not victim:
                self.assertEqual(self.bed.snapshot_dirs(node), [])
        # Restart the agent; the next backup completes and sends only what was missing.
        self.bed.restart_agent(victim)
        p, s = self.backup('--tag', 'resumed')
        self.assertLess(s['uploaded_bytes'], s['bytes'])
        self.assertGreater(s['uploaded_bytes'], 0)
        self.assert_repo_sound(crashed=True)


if __name__ == '__main__':
    unittest.main()
