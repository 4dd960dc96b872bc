"""Dropped columns (ALTER TABLE ... DROP/ADD, DESCRIBE WITH INTERNALS) and a node's
schema propagation lag (/emulator/schema_lag)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu.cqlclient import ServerError           # noqa: E402

KS = "CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}"


def described(client, ks, name):
    for row in client.query('DESCRIBE SCHEMA WITH INTERNALS').dicts():
        if row['keyspace_name'] == ks and row['name'] == name:
            return row['create_statement']
    return None


class DroppedColumnsTest(ClusterTestCase):
    nodes = 1

    def cql(self):
        c = self.cluster.cql(0)
        self.addCleanup(c.close)
        return c

    def test_one_statement_per_query(self):
        c = self.cql()
        with self.assertRaises(ServerError) as e:
            c.query(KS % 'two' + "; CREATE TABLE two.t (k int PRIMARY KEY)")
        self.assertEqual(e.exception.code, 0x2000)
        with self.assertRaises(ServerError):
            c.query('DESCRIBE SCHEMA;;')
        c.query(KS % 'two' + ';')         # one trailing ';' is fine

    def test_dropped_column_described_as_scylladb_does(self):
        c = self.cql()
        c.query(KS % 'dc')
        c.query('CREATE TABLE dc.t (k int, c int, a text, b int, PRIMARY KEY (k, c)) '
                "WITH comment = 'x'")
        c.query('ALTER TABLE dc.t DROP a USING TIMESTAMP 1700000000000000')
        c.query('ALTER TABLE dc.t DROP b')
        c.query('ALTER TABLE dc.t ADD b int')
        stmt = described(c, 'dc', 't')
        create, drop_a, drop_b, add_b, tail = stmt.split(';')
        # The dropped column stands in the CREATE, so that the DROP has it to drop.
        self.assertRegex(create, r"^CREATE TABLE dc.t \(k int, c int, b int, a text, PRIMARY "
                                 r"KEY \(k, c\)\) WITH ID = [0-9a-f-]{36} AND comment = 'x'$")
        self.assertEqual(drop_a, '\nALTER TABLE dc.t DROP a USING TIMESTAMP 1700000000000000')
        self.assertRegex(drop_b, r'^\nALTER TABLE dc.t DROP b USING TIMESTAMP \d{16}$')
        self.assertEqual(add_b, '\nALTER TABLE dc.t ADD b int')
        self.assertEqual(tail, '')
        # Without internals: the table as it is now.
        plain = [r for r in c.query('DESCRIBE SCHEMA').dicts()
                 if r['keyspace_name'] == 'dc' and r['name'] == 't']
        self.assertEqual(plain[0]['create_statement'],
                         "CREATE TABLE dc.t (k int, c int, b int, PRIMARY KEY (k, c)) WITH "
                         "comment = 'x';")
        # Played back statement by statement on an empty keyspace, it describes the same.
        c.query('DROP TABLE dc.t')
        for piece in stmt.split(';'):
            if piece.strip():
                c.query(piece)
        self.assertEqual(described(c, 'dc', 't'), stmt)

    def test_alter_errors(self):
        c = self.cql()
        c.query(KS % 'ae')
        c.query('CREATE TABLE ae.t (k int PRIMARY KEY, v int)')
        for text, code in [('ALTER TABLE ae.t DROP k', 0x2200),
                           ('ALTER TABLE ae.t DROP nope', 0x2200),
                           ('ALTER TABLE ae.t ADD v int', 0x2200),
                           ('ALTER TABLE ae.none DROP v', 0x2200),
                           ("ALTER TABLE ae.t WITH comment = 'c'", 0x2200)]:
            with self.subTest(text), self.assertRaises(ServerError) as e:
                c.query(text)
            self.assertEqual(e.exception.code, code)


class SchemaLagTest(ClusterTestCase):
    nodes = 3
    LAG_MS = 1500

    def versions(self, node):
        with self.cluster.cql(node) as c:
            local = c.query('SELECT schema_version FROM system.local').rows[0][0]
            peers = {p: v for p, v in c.query('SELECT peer, schema_version FROM system.peers')
                     .rows}
        return local, peers

    def tables(self, node):
        return self.ok('GET', '/column_family/name', node=node)

    def test_lagging_node_sees_changes_late(self):
        self.ok('POST', '/emulator/schema_lag', {'ms': self.LAG_MS}, node=1)
        self.addCleanup(self.ok, 'POST', '/emulator/schema_lag', {'ms': 0}, node=1)
        self.assertEqual(self.ok('GET', '/emulator/info', node=1)['schema_lag_ms'], self.LAG_MS)
        before = self.versions(0)[0]
        with self.cluster.cql(0) as c:
            c.query(KS % 'lag')
            c.query('CREATE TABLE lag.t (k int PRIMARY KEY)')
            changed = time.monotonic()
        node2 = self.cluster.nodes[1]['address']
        local0, peers0 = self.versions(0)
        local1, peers1 = self.versions(1)
        if time.monotonic() - changed < self.LAG_MS / 1000 * 0.8:
            # Within the lag: node2 has the old schema, everywhere it shows.
            self.assertNotEqual(local0, before)
            self.assertEqual(local1, before)
            self.assertEqual(str(peers0[node2]), str(before))
            self.assertEqual(str(peers1[self.cluster.nodes[0]['address']]), str(local0))
            self.assertNotIn('lag:t', self.tables(1))
            self.assertIn('lag:t', self.tables(2))
            with self.cluster.cql(1) as c:
                self.assertIsNone(described(c, 'lag', 't'))
                self.assertEqual(c.query("SELECT id FROM system_schema.tables WHERE "
                                         "keyspace_name = 'lag' AND table_name = 't'").rows, [])
            status, doc = self.api('POST', '/storage_service/sstables/lag', {'cf': 't'}, node=1)
            self.assertEqual(status, 400, doc)
        # After the lag every node has the change and one version.
        deadline = time.monotonic() + 30
        while self.versions(1)[0] != local0 and time.monotonic() < deadline:
            time.sleep(0.1)
        local1, peers1 = self.versions(1)
        self.assertEqual(local1, local0)
        self.assertEqual(set(map(str, peers1.values())), {str(local0)})
        self.assertEqual(set(map(str, self.versions(2)[1].values())), {str(local0)})
        self.assertIn('lag:t', self.tables(1))

    def test_own_changes_seen_at_once(self):
        self.ok('POST', '/emulator/schema_lag', {'ms': 60000}, node=2)
        self.addCleanup(self.ok, 'POST', '/emulator/schema_lag', {'ms': 0}, node=2)
        with self.cluster.cql(2) as c:
            c.query(KS % 'own')
            c.query('CREATE TABLE own.t (k int PRIMARY KEY)')
            self.assertIsNotNone(described(c, 'own', 't'))
        self.assertIn('own:t', self.tables(2))

    def test_bad_lag(self):
        self.assertApiError(400, 'ms', 'POST', '/emulator/schema_lag', {'ms': -1})


if __name__ == '__main__':
    unittest.main()
