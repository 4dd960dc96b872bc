"""Loading SSTables from upload/: refresh, load-and-stream, bad sets, one load at a time."""

import bisect
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import sstables                       # noqa: E402


class LoadTest(ClusterTestCase):
    nodes = 3
    cluster_options = {'data_dirs': 2}

    def setUp(self):
        self.table = self.id().rsplit('.', 1)[-1].replace('test_', '')[:40]
        info = self.make_table('up', self.table, rf=1)
        self.table_dir_name = os.path.basename(info['directories'][0])
        self.gens = sstables.GenerationAllocator()
        for i in range(3):
            self.ok('DELETE', '/emulator/loads', node=i)

    def tearDown(self):
        for n in self.cluster.nodes:
            self.cluster.mark_up(n['name'])
        self.ok('POST', '/emulator/settings', {'load_delay': 0})

    def upload_dir(self, node=0, k=0):
        n = self.cluster.nodes[node]
        return os.path.join(n['data_dirs'][k], 'up', self.table_dir_name, 'upload')

    def put(self, count, node=0, seed0=0, size=20000, numeric=False, k=0):
        """Write `count` SSTables straight into upload/, as an agent would."""
        out = []
        for i in range(count):
            gen = str(100 + i) if numeric else self.gens.next()
            sst = sstables.write_sstable(self.upload_dir(node, k), 'me', gen,
                                         sstables.generate_data(seed0 + i, 0.0, size + i))
            out.append((sst, sstables.file_sha256(sst.data_path)))
        return out

    def load(self, node=0, **params):
        p = {'cf': self.table}
        p.update(params)
        return self.api('POST', '/storage_service/sstables/up', p, node=node)

    def digest(self):
        return self.cluster.digest('up', self.table)['up.' + self.table]

    def primary(self, sha):
        """The primary replica of the token derived from the content, by describe_ring."""
        token = int.from_bytes(bytes.fromhex(sha[:16]), 'big', signed=True)
        ring = self.ok('GET', '/storage_service/describe_ring/up')
        ends = [int(r['end_token']) for r in ring]
        i = bisect.bisect_left(ends, token) % len(ends)
        return ring[i]['endpoints'][0]

    def test_refresh_moves_files_under_new_generations(self):
        uploaded = self.put(3, numeric=True)
        inodes = {sha: os.stat(s.data_path).st_ino for s, sha in uploaded}
        status, body = self.load()
        self.assertEqual((status, body), (200, None))
        self.assertEqual(os.listdir(self.upload_dir()), [])
        d = self.digest()
        self.assertEqual(d['nodes']['node1'], sorted(sha for _, sha in uploaded))
        self.assertEqual(d['nodes']['node2'], [])
        live = self.cluster.call(0, 'GET', '/emulator/sstables',
                                 {'keyspace': 'up', 'table': self.table})['sstables']
        for s in live:
            self.assertNotIn(s['generation'], ('100', '101', '102'))
            path = os.path.join(s['directory'], s['data'])
            sha = sstables.file_sha256(path)
            self.assertEqual(os.stat(path).st_ino, inodes[sha], 'a refresh moves files')
        rec = self.ok('GET', '/emulator/loads')
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]['mode'], 'refresh')
        self.assertEqual(rec[0]['status'], 'ok')
        self.assertEqual(sorted(x['data_sha256'] for x in rec[0]['sstables']),
                         d['nodes']['node1'])

    def test_load_from_every_data_dir(self):
        a = self.put(1, k=0)
        b = self.put(1, k=1, seed0=50)
        self.assertEqual(self.load()[0], 200)
        self.assertEqual(self.digest()['nodes']['node1'], sorted([a[0][1], b[0][1]]))

    def test_bad_sets_fail_and_stay(self):
        def corrupt(s):
            with open(s.data_path, 'r+b') as f:
                f.write(b'corrupt!')

        def stray_file(s):
            with open(os.path.join(s.directory, 'notes.txt'), 'w'):
                pass

        cases = {
            'crc': corrupt,
            'missing': lambda s: os.unlink(s.path('Filter.db')),
            'incomplete': lambda s: os.rename(s.path('TOC.txt'), s.path('TOC.txt.tmp')),
            'badname': stray_file,
        }
        expect = {'crc': 'checksum mismatch', 'missing': 'Filter.db listed in TOC.txt is missing',
                  'incomplete': 'does not belong to a complete SSTable',
                  'badname': 'notes.txt does not belong'}
        for name, damage in cases.items():
            with self.subTest(name):
                self.put(1, seed0=200)
                bad = self.put(1, seed0=300)[0][0]
                damage(bad)
                before = sorted(os.listdir(self.upload_dir()))
                status, body = self.load()
                self.assertEqual(status, 500)
                self.assertEqual(body['code'], 500)
                self.assertTrue(body['message'].startswith('Failed to load new sstables: '))
                self.assertIn(expect[name], body['message'])
                self.assertEqual(sorted(os.listdir(self.upload_dir())), before)
                self.assertEqual(self.digest()['all'], [])
                for f in os.listdir(self.upload_dir()):
                    os.unlink(os.path.join(self.upload_dir(), f))
        rec = self.ok('GET', '/emulator/loads')
        self.assertEqual([r['status'] for r in rec], ['failed'] * 4)

    def test_unknown_table_is_400(self):
        self.assertApiError(400, "Can't find a column family", 'POST',
                            '/storage_service/sstables/up', {'cf': 'nope'})
        self.assertApiError(400, "Can't find a keyspace", 'POST',
                            '/storage_service/sstables/nope', {'cf': 'x'})
        self.assertApiError(400, 'cannot be used with load_and_stream', 'POST',
                            '/storage_service/sstables/up',
                            {'cf': self.table, 'load_and_stream': 'true', 'skip_cleanup': 'true'})

    def test_load_and_stream_spreads_by_content(self):
        uploaded = self.put(12, node=1, seed0=1000)
        status, _ = self.load(node=1, load_and_stream='true', primary_replica_only='true')
        self.assertEqual(status, 200)
        self.assertEqual(os.listdir(self.upload_dir(1)), [])
        d = self.digest()
        self.assertEqual(d['all'], sorted(sha for _, sha in uploaded))
        by_addr = {n['address']: n['name'] for n in self.cluster.nodes}
        for _, sha in uploaded:
            self.assertIn(sha, d['nodes'][by_addr[self.primary(sha)]])
        self.assertGreater(sum(1 for v in d['nodes'].values() if v), 1)
        rec = self.ok('GET', '/emulator/loads', node=1)[0]
        self.assertEqual(rec['mode'], 'load_and_stream')
        self.assertTrue(rec['primary_replica_only'])
        self.assertEqual(len(rec['sstables']), 12)
        self.assertEqual(self.ok('GET', '/emulator/loads', node=0), [])
        # Streamed files are new files, never links to the uploaded ones.
        for n in self.cluster.nodes:
            for s in self.cluster.call(n, 'GET', '/emulator/sstables',
                                       {'keyspace': 'up', 'table': self.table})['sstables']:
                self.assertEqual(os.stat(os.path.join(s['directory'], s['data'])).st_nlink, 1)

    def test_load_and_stream_scope_node_keeps_everything_local(self):
        uploaded = self.put(4, node=2, seed0=2000)
        self.assertEqual(self.load(node=2, load_and_stream='1', scope='node')[0], 200)
        self.assertEqual(self.digest()['nodes']['node3'], sorted(sha for _, sha in uploaded))
        self.assertApiError(400, 'Invalid scope', 'POST', '/storage_service/sstables/up',
                            {'cf': self.table, 'load_and_stream': 'true', 'scope': 'planet'})

    def test_streaming_to_a_down_node_fails(self):
        me = self.cluster.nodes[0]['address']
        for seed in range(3000, 3100):
            sst, sha = self.put(1, seed0=seed)[0]
            if self.primary(sha) != me:
                break
            sstables.remove_sstable(sst)
        target = self.primary(sha)
        self.cluster.mark_down(target)
        status, body = self.load(load_and_stream='true')
        self.assertEqual(status, 500)
        self.assertIn('%s failed: the node is down' % target, body['message'])
        self.assertEqual(len(os.listdir(self.upload_dir())), 9)
        self.cluster.mark_up(target)
        self.assertEqual(self.load(load_and_stream='true')[0], 200)

    def test_second_concurrent_load_is_refused(self):
        self.put(1, seed0=4000)
        self.ok('POST', '/emulator/settings', {'load_delay': 1.0})
        first = {}
        t = threading.Thread(target=lambda: first.update(r=self.load()))
        t.start()
        deadline = time.monotonic() + 10
        while not self.ok('GET', '/emulator/info')['loading'] and time.monotonic() < deadline:
            time.sleep(0.01)
        status, body = self.load()
        t.join()
        self.assertEqual(first['r'][0], 200)
        self.assertEqual((status, body['message']),
                         (500, 'Already loading SSTables. Try again later'))
        # Another node loads independently.
        self.assertEqual(self.load(node=1)[0], 200)

    def test_planted_real_format_sets_load(self):
        # An `mc` set with numeric generation is accepted and keeps its version letters.
        src = self.put(1, numeric=True, seed0=5000)[0][0]
        os.rename(src.path('TOC.txt'), src.path('TOC.txt.x'))
        for c in src.components:
            if c != 'TOC.txt':
                os.rename(src.path(c), src.path(c).replace('/me-', '/mc-'))
        os.rename(src.path('TOC.txt.x'), src.path('TOC.txt').replace('/me-', '/mc-'))
        self.assertEqual(self.load()[0], 200)
        live = self.cluster.call(0, 'GET', '/emulator/sstables',
                                 {'keyspace': 'up', 'table': self.table})['sstables']
        self.assertEqual([s['version'] for s in live], ['mc'])
        self.assertEqual(sstables.file_sha256(os.path.join(live[0]['directory'], live[0]['data'])),
                         self.digest()['all'][0])


if __name__ == '__main__':
    unittest.main()
