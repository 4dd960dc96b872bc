"""A client with a valid certificate still cannot make an agent act outside its own
configuration: other repositories, `..`, NUL bytes hidden in names, repeated tables.

Requests are written with `protoc --encode` from proto/agent.proto and sent over the
agent's own transport (nng's SP framing inside mutual TLS), as a coordinator would.
"""

import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import unittest

from harness import BUILD, SOURCE, Bed

SP_REQ_HEADER = b'\x00SP\x00\x00\x30\x00\x00'


def encode(text):
    p = subprocess.run(['protoc', '-I', os.path.join(SOURCE, 'proto'), '--encode',
                        'cairn.rpc.Request', 'agent.proto'], input=text.encode(),
                       capture_output=True, check=True)
    return p.stdout


def decode(raw):
    p = subprocess.run(['protoc', '-I', os.path.join(SOURCE, 'proto'), '--decode',
                        'cairn.rpc.Response', 'agent.proto'], input=raw,
                       capture_output=True, check=True)
    return p.stdout.decode()


@unittest.skipUnless(shutil.which('protoc'), 'protoc is not installed')
class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=1)
        cls.bed.create_table('shop', 'orders', rf=1)
        cls.bed.write('shop', 'orders', 64 * 1024, seed=1)
        cls.node = cls.bed.nodes[0]
        cls.certs = os.path.join(cls.bed.dir, 'certs')
        cls.next_id = 1

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def call(self, body_text, cluster=None):
        """Sends one Request (text format, envelope added) and returns the decoded
        Response text."""
        env = 'version: 1\ncluster: "%s"\nrequest_id: %d\n' % (
            cluster if cluster is not None else self.bed.cluster_name, self.next_id + 1)
        return self.send(encode(env + body_text))

    def send(self, payload):
        """Sends one encoded Request and returns the decoded Response text."""
        type(self).next_id += 1
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, 'ca.crt'))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(self.certs, 'coordinator.crt'),
                            os.path.join(self.certs, 'coordinator.key'))
        raw = socket.create_connection((self.node['address'], self.node['agent_port']), 10)
        with ctx.wrap_socket(raw) as s:
            s.sendall(SP_REQ_HEADER)
            self.assertEqual(s.recv(8)[:4], b'\x00SP\x00')
            body = struct.pack('>I', 0x80000000 | self.next_id) + payload
            s.sendall(struct.pack('>Q', len(body)) + body)
            s.settimeout(60)
            n = struct.unpack('>Q', self.recv_exact(s, 8))[0]
            reply = self.recv_exact(s, n)
        return decode(reply[4:])

    @staticmethod
    def recv_exact(s, n):
        out = b''
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                raise ConnectionError('agent closed the connection')
            out += chunk
        return out

    def refused(self, answer, *words):
        self.assertIn('code: -', answer)
        for w in words:
            self.assertIn(w, answer)

    def upload(self, repository, tag='hostile', tables='tables { keyspace: "shop" name: "orders" }'):
        return self.call('upload { tag: "%s" repository: "%s" %s }' % (tag, repository, tables))

    def test_unlisted_repository_is_refused(self):
        other = os.path.join(self.bed.dir, 'other-repo')
        os.makedirs(other)
        answer = self.upload('file://' + other)
        self.refused(answer, 'does not serve')
        self.assertEqual(os.listdir(other), [])

    def test_dotdot_location_is_refused(self):
        sneaky = 'file://%s/../%s/repo' % (self.bed.repo_dir(), os.path.basename(self.bed.dir))
        answer = self.upload(sneaky)
        self.refused(answer)

    def test_nul_in_cluster_name_is_refused(self):
        answer = self.call('describe {}', cluster=self.bed.cluster_name + '\\000x')
        self.refused(answer, 'NUL')

    def test_nul_in_snapshot_tag_is_refused(self):
        answer = self.call('snapshot { tag: "okay\\000/../../x" '
                           'tables { keyspace: "shop" name: "orders" } }')
        self.refused(answer, 'NUL')
        self.assertEqual([d for d in self.bed.snapshot_dirs(self.node)
                          if d.endswith('/okay')], [])

    def test_bad_table_id_is_refused(self):
        answer = self.call('flush { tables { keyspace: "shop" name: "orders" id: "../../x" } }')
        self.refused(answer, 'table id')

    def test_repeated_tables_are_done_once(self):
        answer = self.call('snapshot { tag: "twice" '
                           'tables { keyspace: "shop" name: "orders" } '
                           'tables { keyspace: "shop" name: "orders" } }')
        self.assertIn('code: 0', answer)
        self.call('clear_snapshot { tag: "twice" }')

    def envelope(self):
        name = self.bed.cluster_name.encode()
        return (b'\x08\x01' + b'\x12' + varint(len(name)) + name + b'\x18\x01')

    def test_large_messages_keep_memory_bounded(self):
        # Just under the 16 MiB message limit, of the shapes that cost protobuf-c the
        # most to unpack: millions of empty tables, of one-letter keyspaces, of empty
        # file entries. Each is refused before it is unpacked; the agent stays small.
        size = 15 << 20
        shapes = [
            (b'\x5a', b'\x0a\x00'),                       # flush { tables {} ... }
            (b'\x92\x01', b'\x1a\x01a'),                  # apply_schema { keyspaces: "a" ... }
            (b'\x8a\x01', b'\x22\x02\x1a\x00'),            # restore { tables { files {} } ... }
        ]
        for op, item in shapes * 2:
            body = item * (size // len(item))
            answer = self.send(self.envelope() + op + varint(len(body)) + body)
            self.refused(answer, 'MiB to decode')
        # Near the most that is decoded: half a million keyspaces, refused only after.
        repo = b'file:///nowhere'
        body = (b'\x0a' + varint(len(repo)) + repo + b'\x12\x01x' + b'\x1a\x01a' * 500000)
        for _ in range(3):
            answer = self.send(self.envelope() + b'\x92\x01' + varint(len(body)) + body)
            self.refused(answer, 'does not serve')
        with open('/proc/%d/status' % self.bed.agent_pid(self.node)) as f:
            rss = int(re.search(r'VmRSS:\s+(\d+) kB', f.read()).group(1))
        print('agent RSS after 9 hostile messages: %d MiB' % (rss // 1024))
        if not sanitized():  # AddressSanitizer keeps freed memory in quarantine
            self.assertLess(rss, 128 * 1024, 'agent RSS %d kB after hostile messages' % rss)
        self.assertIn('code: 0', self.call('describe {}'))


def sanitized():
    """Whether the build under test runs with AddressSanitizer, which inflates memory."""
    try:
        with open(os.path.join(BUILD, 'CMakeCache.txt')) as f:
            return 'CAIRN_SANITIZE:BOOL=ON' in f.read()
    except OSError:
        return False


def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


if __name__ == '__main__':
    unittest.main()
