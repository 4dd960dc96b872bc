"""The agent refuses whoever the cluster CA did not vouch for, and survives bad input."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import unittest

from harness import BIN, Bed

SP_REQ_HEADER = b'\x00SP\x00\x00\x30\x00\x00'  # nng SP header, protocol REQ (0x30)


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3)
        cls.node = cls.bed.nodes[0]
        cls.certs = os.path.join(cls.bed.dir, 'certs')

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def assert_still_serving(self):
        p, st = self.bed.cairn_json('status')
        self.assertTrue(st['ready'], st['problems'])

    def tls_client(self, cert=True):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, 'ca.crt'))
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(os.path.join(self.certs, 'coordinator.crt'),
                                os.path.join(self.certs, 'coordinator.key'))
        raw = socket.create_connection((self.node['address'], self.node['agent_port']), 5)
        return ctx.wrap_socket(raw)

    def test_client_from_another_ca_is_refused(self):
        other = os.path.join(self.bed.dir, 'other-ca')
        subprocess.run([os.path.join(BIN, 'cairn'), 'certs', 'init', '--dir', other], check=True,
                       capture_output=True)
        subprocess.run([os.path.join(BIN, 'cairn'), 'certs', 'issue', '--dir', other,
                        '--coordinator', 'coordinator'], check=True, capture_output=True)
        text = self.bed.read_config().replace(self.certs, other)
        cfg = self.bed.write_config('other-ca.yaml', text)
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        self.assertTrue(all('TLS' in x for x in st['problems']), st['problems'])
        self.assert_still_serving()

    def test_agent_certificate_cannot_drive_other_agents(self):
        # A node's own key, stolen, must not let anyone drive the other agents.
        other = self.bed.nodes[1]['address']
        text = self.bed.read_config().replace(
            'coordinator.crt', '%s.crt' % other).replace('coordinator.key', '%s.key' % other)
        cfg = self.bed.write_config('agent-as-client.yaml', text)
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        self.assertTrue(all('TLS' in x for x in st['problems']), st['problems'])
        self.assert_still_serving()

    def test_client_without_certificate_is_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            s = self.tls_client(cert=False)
            # TLS 1.3 reports a refused client certificate on the first read.
            s.sendall(SP_REQ_HEADER)
            if not s.recv(8):
                raise ConnectionError('closed')
        self.assert_still_serving()

    def test_plaintext_client_is_refused(self):
        text = self.bed.read_config() + 'insecure: true\n'
        cfg = self.bed.write_config('plain.yaml', text)
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        self.assert_still_serving()

    def test_garbage_before_tls(self):
        s = socket.create_connection((self.node['address'], self.node['agent_port']), 5)
        s.sendall(os.urandom(4096))
        s.settimeout(5)
        try:
            s.recv(100)
        except OSError:
            pass
        s.close()
        self.assert_still_serving()

    def sp_session(self):
        s = self.tls_client()
        s.sendall(SP_REQ_HEADER)
        hdr = s.recv(8)
        self.assertEqual(hdr[:4], b'\x00SP\x00')
        return s

    def test_garbage_message_gets_an_error_answer(self):
        s = self.sp_session()
        body = b'\x80\x00\x00\x01' + os.urandom(200)  # request id, then junk
        s.sendall(struct.pack('>Q', len(body)) + body)
        s.settimeout(10)
        n = struct.unpack('>Q', s.recv(8))[0]
        reply = b''
        while len(reply) < n:
            reply += s.recv(n - len(reply))
        # The answer echoes the request id and carries a refusal.
        self.assertEqual(reply[:4], b'\x80\x00\x00\x01')
        self.assertIn(b'undecodable', reply)
        s.close()
        self.assert_still_serving()

    def test_truncated_message(self):
        s = self.sp_session()
        s.sendall(struct.pack('>Q', 1000) + b'\x80\x00\x00\x02' + b'x' * 10)
        s.close()
        self.assert_still_serving()

    def test_oversized_message(self):
        s = self.sp_session()
        s.sendall(struct.pack('>Q', 1 << 40) + b'\x80\x00\x00\x03' + b'x' * 1000)
        s.settimeout(10)
        try:
            self.assertEqual(s.recv(100), b'')  # the agent hangs up
        except OSError:
            pass
        s.close()
        self.assert_still_serving()


class AgentStartupTest(unittest.TestCase):
    """An agent that could not serve refuses to start and says why on the terminal (and in
    its log); --check-config finds the same problems without starting."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='cairn-startup-')
        cls.certs = os.path.join(cls.dir, 'certs')
        cairn = os.path.join(BIN, 'cairn')
        subprocess.run([cairn, 'certs', 'init', '--dir', cls.certs], check=True,
                       capture_output=True)
        for host in ('127.0.0.2', '127.0.0.3'):
            subprocess.run([cairn, 'certs', 'issue', '--dir', cls.certs, '--agent', host],
                           check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def config(self, name, ca=None, key=None, state=None):
        c = os.path.join(self.certs, '127.0.0.2')
        path = os.path.join(self.dir, name + '.yaml')
        with open(path, 'w') as f:
            f.write('cluster: c1\nlisten: tls+tcp://127.0.0.1:0\n'
                    'tls:\n  ca: %s\n  cert: %s.crt\n  key: %s\n'
                    'state_dir: %s\nlog_file: %s\nrepositories:\n  - location: file://%s\n'
                    % (ca or os.path.join(self.certs, 'ca.crt'), c, key or c + '.key',
                       state or os.path.join(self.dir, name + '-state'),
                       os.path.join(self.dir, name + '.log'), self.dir))
        return path

    def start(self, cfg, *args):
        return subprocess.run([os.path.join(BIN, 'cairn-agent'), '--config', cfg] + list(args),
                              capture_output=True, text=True, timeout=60)

    def refuses(self, name, words, **kw):
        cfg = self.config(name, **kw)
        for args in ((), ('--check-config',)):
            p = self.start(cfg, *args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            for w in words:
                self.assertIn(w, p.stderr, args)
        with open(os.path.join(self.dir, name + '.log')) as f:
            self.assertIn(words[0], f.read())

    def test_mismatched_key(self):
        self.refuses('mismatch', ['is not the key of certificate'],
                     key=os.path.join(self.certs, '127.0.0.3.key'))

    def test_unreadable_ca(self):
        self.refuses('noca', ['tls.ca', 'none.crt'], ca=os.path.join(self.dir, 'none.crt'))
        not_pem = os.path.join(self.dir, 'garbage.crt')
        with open(not_pem, 'w') as f:
            f.write('not a certificate\n')
        self.refuses('garbageca', ['tls.ca', 'no PEM certificate'], ca=not_pem)

    def test_uncreatable_state_dir(self):
        plain = os.path.join(self.dir, 'plain-file')
        open(plain, 'w').close()
        self.refuses('nostate', ['state_dir', 'cannot be created'],
                     state=os.path.join(plain, 'state'))

    def test_good_configuration(self):
        p = self.start(self.config('good'), '--check-config')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'good-state')))


if __name__ == '__main__':
    unittest.main()
