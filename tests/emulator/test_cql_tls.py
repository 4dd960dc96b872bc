"""CQL over TLS: a node started with --cql-tls-cert serves TLS only, as ScyllaDB does with
client_encryption_options; with --cql-tls-ca it also requires a client certificate."""

import os
import socket
import ssl
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import cql, tlscerts                  # noqa: E402
from scyllaemu.cqlclient import CqlClient            # noqa: E402

STARTUP = struct.pack('>BBhBi', 4, 0, 1, cql.STARTUP, 22) + cql.p_short(1) + \
    cql.p_string('CQL_VERSION') + cql.p_string('3.0.0')


def recv_all(sock):
    """Everything the server sends until it closes (bounded by the socket timeout)."""
    data = b''
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


class TlsTest(ClusterTestCase):
    cluster_options = {'cql_tls': 'tls'}

    def node(self):
        return self.cluster.nodes[0]

    def test_tls_client_connects(self):
        with self.cluster.cql(0) as c:
            self.assertIsInstance(c.sock, ssl.SSLSocket)
            self.assertEqual(c.query('SELECT key FROM system.local').rows, [['local']])

    def test_plain_client_is_dropped(self):
        n = self.node()
        with socket.create_connection((n['address'], n['cql_port']), timeout=10) as s:
            s.sendall(STARTUP)
            answer = recv_all(s)
        # No CQL frame: at most a TLS alert record (0x15, version 3.x).
        self.assertFalse(answer[:1] == b'\x84', answer)
        if answer:
            self.assertEqual(answer[:2], b'\x15\x03', answer)
        with self.assertRaises((ConnectionError, OSError)):
            CqlClient(n['address'], n['cql_port']).close()

    def test_client_checking_another_ca_fails(self):
        other = os.path.join(self.tmp, 'other-ca')
        ctx = ssl.create_default_context(cafile=tlscerts.make_ca(other))
        n = self.node()
        with self.assertRaises(ssl.SSLCertVerificationError):
            CqlClient(n['address'], n['cql_port'], ssl_context=ctx).close()

    def test_node_certificate_names_its_address(self):
        n = self.node()
        ctx = ssl.create_default_context(cafile=os.path.join(self.cluster.cql_certs_dir,
                                                             'ca.crt'))
        with socket.create_connection((n['address'], n['cql_port']), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=n['address']) as t:
                self.assertIsNotNone(t.getpeercert())


class PlainNodeTest(ClusterTestCase):
    """A TLS client of a plain node is answered as ScyllaDB answers it: with a protocol
    error read from the header alone, at once, not after waiting for a body."""

    def test_client_hello_gets_a_cql_error(self):
        n = self.cluster.nodes[0]
        ctx = ssl.create_default_context()
        with socket.create_connection((n['address'], n['cql_port']), timeout=10) as s:
            with self.assertRaises(ssl.SSLError) as e:
                ctx.wrap_socket(s, server_hostname=n['address'])
        self.assertIn('WRONG_VERSION_NUMBER', str(e.exception))


class ClientAuthTest(ClusterTestCase):
    cluster_options = {'cql_tls': 'client-auth'}

    def test_client_certificate_required(self):
        with self.cluster.cql(0) as c:       # the cluster's context holds client.crt
            self.assertEqual(c.query('SELECT key FROM system.local').rows, [['local']])
        n = self.cluster.nodes[0]
        ctx = ssl.create_default_context(cafile=os.path.join(self.cluster.cql_certs_dir,
                                                             'ca.crt'))
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            # TLS 1.3: the refusal arrives with the first answer, not in the handshake.
            with CqlClient(n['address'], n['cql_port'], ssl_context=ctx) as c:
                c.query('SELECT key FROM system.local')


if __name__ == '__main__':
    unittest.main()
