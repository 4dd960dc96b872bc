"""CQL native protocol v4: every message the emulator handles, and schema through DDL."""

import os
import re
import socket
import struct
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import cql                            # noqa: E402
from scyllaemu.cqlclient import CqlClient, ServerError  # noqa: E402


def raw_frame(version, opcode, body=b'', flags=0, stream=1):
    return struct.pack('>BBhBi', version, flags, stream, opcode, len(body)) + body


def read_frame(sock):
    data = b''
    while len(data) < 9:
        chunk = sock.recv(9 - len(data))
        if not chunk:
            raise ConnectionError('closed')
        data += chunk
    version, flags, stream, op, length = struct.unpack('>BBhBi', data)
    body = b''
    while len(body) < length:
        body += sock.recv(length - len(body))
    return version, op, body


class ProtocolTest(ClusterTestCase):
    nodes = 1

    def connect(self, **kw):
        n = self.cluster.nodes[0]
        return CqlClient(n['address'], n['cql_port'], **kw)

    def raw(self):
        n = self.cluster.nodes[0]
        s = socket.create_connection((n['address'], n['cql_port']), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_options_and_startup(self):
        with self.connect(startup=False) as c:
            self.assertIn('3.3.1', c.options()['CQL_VERSION'])
            self.assertEqual(c.startup(), 'ready')
            self.assertTrue(c.register(('SCHEMA_CHANGE', 'TOPOLOGY_CHANGE', 'STATUS_CHANGE')))

    def test_query_before_startup_is_a_protocol_error(self):
        with self.connect(startup=False) as c:
            with self.assertRaises(ServerError) as e:
                c.query('DESC SCHEMA')
            self.assertEqual(e.exception.code, 0x000A)

    def test_unsupported_versions_answered_in_v4(self):
        for version in (5, 0x42):
            s = self.raw()
            s.sendall(raw_frame(version, cql.STARTUP, cql.p_short(1) + cql.p_string('CQL_VERSION')
                                + cql.p_string('3.0.0')))
            v, op, body = read_frame(s)
            self.assertEqual((v, op), (0x84, cql.ERROR))
            r = cql.Reader(body)
            self.assertEqual(r.int(), 0x000A)
            self.assertIn('Invalid or unsupported protocol version (%d)' % version, r.string())

    def test_compression_is_refused(self):
        s = self.raw()
        s.sendall(raw_frame(4, cql.STARTUP, cql.p_short(2) + cql.p_string('CQL_VERSION') +
                            cql.p_string('3.0.0') + cql.p_string('COMPRESSION') +
                            cql.p_string('lz4')))
        _, op, body = read_frame(s)
        self.assertEqual(op, cql.ERROR)
        self.assertEqual(cql.Reader(body).int(), 0x000A)
        s2 = self.raw()
        s2.sendall(raw_frame(4, cql.OPTIONS, flags=0x01))
        _, op, _ = read_frame(s2)
        self.assertEqual(op, cql.ERROR)

    def test_prepare_and_unknown_opcodes(self):
        with self.connect() as c:
            with self.assertRaises(ServerError) as e:
                c.call(cql.PREPARE, cql.p_int(4) + b'DESC')
            self.assertEqual(e.exception.code, 0x2200)
            with self.assertRaises(ServerError) as e:
                c.call(0x42, b'')
            self.assertEqual(e.exception.code, 0x000A)
            # The connection is still usable after errors.
            self.assertEqual(c.query('SELECT key FROM system.local').rows, [['local']])

    def test_custom_payload_flag_is_skipped(self):
        s = self.raw()
        startup = cql.p_short(1) + cql.p_string('CQL_VERSION') + cql.p_string('3.0.0')
        s.sendall(raw_frame(4, cql.STARTUP, startup))
        self.assertEqual(read_frame(s)[1], cql.READY)
        q = b'SELECT key FROM system.local'
        body = cql.p_short(1) + cql.p_string('k') + cql.p_bytes(b'v') + \
            cql.p_int(len(q)) + q + cql.p_short(1) + b'\x00'
        s.sendall(raw_frame(4, cql.QUERY, body, flags=0x04))
        self.assertEqual(read_frame(s)[1], cql.RESULT)

    def test_system_tables(self):
        n = self.cluster.nodes[0]
        with self.connect() as c:
            local = c.query("SELECT * FROM system.local WHERE key='local'").dicts()[0]
            self.assertEqual(str(local['host_id']), n['host_id'])
            self.assertEqual(local['data_center'], n['dc'])
            self.assertEqual(local['rpc_address'], n['address'])
            self.assertEqual(sorted(local['tokens'], key=int), n['tokens'])
            self.assertEqual(local['cluster_name'], self.cluster.cluster_name)
            self.assertEqual(c.query('SELECT * FROM system.peers').rows, [])
            ks = c.query('SELECT keyspace_name, replication FROM system_schema.keyspaces').dicts()
            self.assertIn({'keyspace_name': 'system', 'replication':
                           {'class': 'org.apache.cassandra.locator.LocalStrategy'}}, ks)
            with self.assertRaises(ServerError) as e:
                c.query('SELECT * FROM system.peers_v2')
            self.assertEqual(e.exception.code, 0x2200)
            with self.assertRaises(ServerError) as e:
                c.query('SELECT nope FROM system.local')
            self.assertEqual(e.exception.code, 0x2200)
            self.assertEqual(c.query("SELECT * FROM system_schema.functions WHERE "
                                     "keyspace_name = 'x'").rows, [])


class AuthTest(ClusterTestCase):
    cluster_options = {'username': 'cassandra', 'password': 's3cret'}

    def test_password_authenticator(self):
        n = self.cluster.nodes[0]
        with CqlClient(n['address'], n['cql_port'], startup=False) as c:
            _, op, body = c.request(cql.STARTUP, cql.p_short(1) + cql.p_string('CQL_VERSION') +
                                    cql.p_string('3.0.0'))
            self.assertEqual(op, cql.AUTHENTICATE)
            self.assertEqual(cql.Reader(body).string(),
                             'org.apache.cassandra.auth.PasswordAuthenticator')
            with self.assertRaises(ServerError) as e:
                c.query('DESC SCHEMA')
            self.assertEqual(e.exception.code, 0x000A)
            with self.assertRaises(ServerError) as e:
                c.call(cql.AUTH_RESPONSE, cql.p_bytes(b'\x00cassandra\x00wrong'))
            self.assertEqual(e.exception.code, 0x0100)
            op, body = c.call(cql.AUTH_RESPONSE, cql.p_bytes(b'\x00cassandra\x00s3cret'))
            self.assertEqual(op, cql.AUTH_SUCCESS)
            self.assertEqual(c.query('DESC SCHEMA').rows, [])

    def test_client_helper_authenticates(self):
        with self.cluster.cql(0) as c:
            self.assertEqual(c.query('SELECT key FROM system.local').rows, [['local']])
        with self.assertRaises(ServerError):
            self.cluster.cql(0, password='bad').close()


class SchemaTest(ClusterTestCase):
    nodes = 2
    cluster_options = {'data_dirs': 2}

    def cql(self, node=0):
        c = self.cluster.cql(node)
        self.addCleanup(c.close)
        return c

    def table_dirs(self, ks, name, table_id):
        return [os.path.join(d, ks, '%s-%s' % (name, uuid.UUID(str(table_id)).hex))
                for n in self.cluster.nodes for d in n['data_dirs']]

    def test_keyspace_lifecycle(self):
        c = self.cql()
        r = c.query("CREATE KEYSPACE life WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 2}")
        self.assertEqual((r.kind, r.change), ('schema_change', ('CREATED', 'KEYSPACE', 'life')))
        with self.assertRaises(ServerError) as e:
            c.query("CREATE KEYSPACE life WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 1}")
        self.assertEqual(e.exception.code, 0x2400)
        self.assertTrue(e.exception.body.endswith(cql.p_string('life') + cql.p_string('')))
        r = c.query("CREATE KEYSPACE IF NOT EXISTS life WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.assertEqual(r.kind, 'void')
        self.assertIn('life', self.ok('GET', '/storage_service/keyspaces', {'type': 'user'},
                                      node=1))
        self.assertEqual(c.query('DROP KEYSPACE life').change, ('DROPPED', 'KEYSPACE', 'life'))
        self.assertEqual(c.query('DROP KEYSPACE IF EXISTS life').kind, 'void')
        with self.assertRaises(ServerError) as e:
            c.query('DROP KEYSPACE life')
        self.assertEqual(e.exception.code, 0x2200)
        with self.assertRaises(ServerError) as e:
            c.query("CREATE KEYSPACE bad WITH replication = {'class': 'NoSuchStrategy'}")
        self.assertEqual(e.exception.code, 0x2300)

    def test_table_with_id_everywhere(self):
        c = self.cql()
        c.query("CREATE KEYSPACE tid WITH replication = {'class': 'NetworkTopologyStrategy', "
                "'dc1': 2}")
        table_id = uuid.UUID('5ee5d2f0-e825-11f1-9f03-2dc32eb8cb77')
        r = c.query('CREATE TABLE tid.t (pk int PRIMARY KEY, v text) WITH ID = %s AND '
                    "comment = 'hello'" % table_id)
        self.assertEqual(r.change, ('CREATED', 'TABLE', 'tid', 't'))
        for d in self.table_dirs('tid', 't', table_id):
            self.assertTrue(os.path.isdir(d), d)
        c2 = self.cql(1)                       # the other node sees it at once
        q = 'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?'
        self.assertEqual(c2.query(q, ['tid', 't']).rows, [[table_id]])
        self.assertEqual(c2.query("SELECT id FROM system_schema.tables WHERE keyspace_name = "
                                  "'tid' AND table_name = 't'").columns, [('id', 'uuid')])
        rows = [r for r in c2.query('DESCRIBE SCHEMA WITH INTERNALS').rows if r[0] == 'tid']
        self.assertEqual(rows[1], ['tid', 'table', 't',
                                   'CREATE TABLE tid.t (pk int PRIMARY KEY, v text) WITH ID = %s '
                                   "AND comment = 'hello';" % table_id])
        rows = [r for r in c2.query('DESC SCHEMA').rows if r[0] == 'tid']
        self.assertEqual(rows[1][3],
                         "CREATE TABLE tid.t (pk int PRIMARY KEY, v text) WITH comment = 'hello';")
        with self.assertRaises(ServerError) as e:
            c.query('CREATE TABLE tid.other (pk int PRIMARY KEY) WITH ID = %s' % table_id)
        self.assertEqual(e.exception.code, 0x2200)
        with self.assertRaises(ServerError) as e:
            c2.query('CREATE TABLE tid.t (pk int PRIMARY KEY)')
        self.assertEqual(e.exception.code, 0x2400)
        self.assertEqual(c2.query('CREATE TABLE IF NOT EXISTS tid.t (pk int PRIMARY KEY)').kind,
                         'void')

    def test_use_and_unqualified_names(self):
        c = self.cql()
        c.query("CREATE KEYSPACE IF NOT EXISTS usek WITH replication = {'class': "
                "'SimpleStrategy', 'replication_factor': 1}")
        with self.assertRaises(ServerError) as e:
            c.query('CREATE TABLE plain (a int PRIMARY KEY)')
        self.assertEqual(e.exception.code, 0x2200)
        self.assertEqual(c.query('USE usek').keyspace, 'usek')
        c.query('CREATE TABLE IF NOT EXISTS plain (a int PRIMARY KEY)')
        c.query('CREATE TYPE addr (street text, city text)')
        c.query('CREATE INDEX ON plain (a)')
        c.query('CREATE MATERIALIZED VIEW pv AS SELECT * FROM plain WHERE a IS NOT NULL '
                'PRIMARY KEY (a)')
        rows = [r for r in self.cql(1).query('DESC SCHEMA').rows if r[0] == 'usek']
        self.assertEqual([(r[1], r[2]) for r in rows],
                         [('keyspace', 'usek'), ('type', 'addr'), ('table', 'plain'),
                          ('index', 'plain_a_idx'), ('view', 'pv')])
        stmts = [r[3] for r in rows]
        self.assertEqual(stmts[0], "CREATE KEYSPACE usek WITH replication = {'class': "
                                   "'SimpleStrategy', 'replication_factor': 1};")
        self.assertEqual(stmts[1], 'CREATE TYPE usek.addr (street text, city text);')
        self.assertEqual(stmts[2], 'CREATE TABLE usek.plain (a int PRIMARY KEY);')
        self.assertEqual(stmts[3], 'CREATE INDEX ON usek.plain (a);')
        self.assertEqual(stmts[4], 'CREATE MATERIALIZED VIEW usek.pv AS SELECT * FROM usek.plain '
                                   'WHERE a IS NOT NULL PRIMARY KEY (a);')
        names = self.ok('GET', '/column_family/name')
        self.assertIn('usek:plain_a_idx_index', names)
        self.assertIn('usek:pv', names)
        with self.assertRaises(ServerError) as e:
            c.query('DROP TABLE plain')                # a view depends on it
        self.assertEqual(e.exception.code, 0x2200)
        self.assertEqual(c.query('DROP MATERIALIZED VIEW pv').change,
                         ('DROPPED', 'TABLE', 'usek', 'pv'))
        self.assertEqual(c.query('DROP INDEX plain_a_idx').change,
                         ('UPDATED', 'TABLE', 'usek', 'plain'))

    def test_drop_and_recreate_leaves_old_directory(self):
        c = self.cql()
        c.query("CREATE KEYSPACE IF NOT EXISTS dr WITH replication = {'class': "
                "'SimpleStrategy', 'replication_factor': 2}")
        c.query('CREATE TABLE dr.t (a int PRIMARY KEY)')
        old_id = c.query("SELECT id FROM system_schema.tables WHERE keyspace_name='dr' AND "
                         "table_name='t'").rows[0][0]
        self.cluster.write('dr', 't', 50000, flush=True)
        self.assertEqual(c.query('DROP TABLE dr.t').change, ('DROPPED', 'TABLE', 'dr', 't'))
        self.assertNotIn('dr:t', self.ok('GET', '/column_family/name', node=1))
        for d in self.table_dirs('dr', 't', old_id):
            self.assertTrue(os.path.isdir(d))
            names = [n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n))]
            self.assertEqual(names, [], 'live SSTables are deleted')
        snaps = {e['key'] for e in self.ok('GET', '/storage_service/snapshots', node=1)}
        auto = [s for s in snaps if re.match(r'^\d{13}-t$', s)]
        self.assertEqual(len(auto), 1, snaps)
        c.query('CREATE TABLE dr.t (a int PRIMARY KEY, b int)')
        new_id = c.query("SELECT id FROM system_schema.tables WHERE keyspace_name='dr' AND "
                         "table_name='t'").rows[0][0]
        self.assertNotEqual(new_id, old_id)
        ks_dir = os.path.join(self.cluster.nodes[1]['data_dirs'][0], 'dr')
        self.assertEqual(sorted(os.listdir(ks_dir)),
                         sorted(['t-' + old_id.hex, 't-' + new_id.hex]))
        # Writes go to the current directory only.
        self.cluster.write('dr', 't', 1000, flush=True, node='node2')
        live = self.cluster.call(1, 'GET', '/emulator/sstables', {'keyspace': 'dr', 'table': 't'})
        self.assertTrue(all(new_id.hex in s['directory'] for s in live['sstables']))

    def test_errors(self):
        c = self.cql()
        for q, code in [('CREATE TABEL x (a int PRIMARY KEY)', 0x2000),
                        ('SELEC * FROM system.local', 0x2000),
                        ("INSERT INTO ks.t (a) VALUES (1)", 0x2200),
                        ('CREATE TABLE nokeyspace.t (a int PRIMARY KEY)', 0x2200),
                        ('CREATE TABLE system.mine (a int PRIMARY KEY)', 0x2100),
                        ('DROP TABLE system_schema.nope', 0x2100),
                        ('USE nokeyspace', 0x2200),
                        ('DESCRIBE TABLES', 0x2200),
                        ("SELECT * FROM system.local; DROP KEYSPACE x", 0x2000)]:
            with self.subTest(q):
                with self.assertRaises(ServerError) as e:
                    c.query(q)
                self.assertEqual(e.exception.code, code, e.exception.message)


if __name__ == '__main__':
    unittest.main()
