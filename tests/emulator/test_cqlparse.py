"""Unit tests of the CQL statement parser and of the stored statement text."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scyllaemu import cqlparse                        # noqa: E402
from scyllaemu.cqlparse import CqlError               # noqa: E402

TID = '5ee5d2f0-e825-11f1-9f03-2dc32eb8cb77'


def stored(text, keyspace='ks'):
    return cqlparse.render(cqlparse.parse(text), keyspace)


class ParseTest(unittest.TestCase):
    def test_id_option_is_cut_wherever_it_stands(self):
        cases = {
            'CREATE TABLE t (a int PRIMARY KEY) WITH ID = %s' % TID:
                'CREATE TABLE ks.t (a int PRIMARY KEY)',
            "CREATE TABLE t (a int PRIMARY KEY) WITH ID = %s AND comment = 'c'" % TID:
                "CREATE TABLE ks.t (a int PRIMARY KEY) WITH comment = 'c'",
            "CREATE TABLE t (a int PRIMARY KEY) WITH comment = 'c' AND ID = %s" % TID:
                "CREATE TABLE ks.t (a int PRIMARY KEY) WITH comment = 'c'",
            "CREATE TABLE t (a int PRIMARY KEY) WITH comment = 'c' AND id = %s AND "
            "gc_grace_seconds = 5" % TID:
                "CREATE TABLE ks.t (a int PRIMARY KEY) WITH comment = 'c' AND gc_grace_seconds = 5",
            'CREATE TABLE t (a int, b int, PRIMARY KEY (a, b)) WITH ID = %s AND CLUSTERING '
            'ORDER BY (b DESC);' % TID:
                'CREATE TABLE ks.t (a int, b int, PRIMARY KEY (a, b)) WITH CLUSTERING ORDER BY '
                '(b DESC)',
        }
        for text, want in cases.items():
            with self.subTest(text):
                self.assertEqual(cqlparse.parse(text).id, uuid.UUID(TID))
                self.assertEqual(stored(text), want)

    def test_if_not_exists_dropped_and_names_qualified(self):
        self.assertEqual(stored('CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY)'),
                         'CREATE TABLE ks.t (a int PRIMARY KEY)')
        self.assertEqual(stored('CREATE TABLE IF NOT EXISTS other.t (a int PRIMARY KEY)'),
                         'CREATE TABLE other.t (a int PRIMARY KEY)')
        self.assertEqual(stored("CREATE KEYSPACE IF NOT EXISTS k WITH replication = "
                                "{'class': 'SimpleStrategy', 'replication_factor': 1}", None),
                         "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', "
                         "'replication_factor': 1}")
        self.assertEqual(stored('CREATE MATERIALIZED VIEW IF NOT EXISTS v AS SELECT * FROM t '
                                'WHERE a IS NOT NULL PRIMARY KEY (a) WITH ID = %s' % TID,
                                'Mixed'),
                         'CREATE MATERIALIZED VIEW "Mixed".v AS SELECT * FROM "Mixed".t WHERE '
                         'a IS NOT NULL PRIMARY KEY (a)')
        self.assertEqual(stored('create index if not exists on t ( v )'),
                         'create index on ks.t ( v )')

    def test_identifiers_strings_and_comments(self):
        s = cqlparse.parse('CREATE TABLE "Quoted""Name".t2 ( "A" int PRIMARY KEY ) -- note\n'
                           "WITH comment = 'it''s /* not a comment */' /* real */")
        self.assertEqual((s.keyspace, s.name), ('Quoted"Name', 't2'))
        s = cqlparse.parse('CREATE TABLE KS.Tab (a int PRIMARY KEY)')
        self.assertEqual((s.keyspace, s.name), ('ks', 'tab'))
        s = cqlparse.parse("CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopology"
                           "Strategy', 'dc1': 3, 'dc2': 2} AND durable_writes = false AND "
                           "tablets = {'enabled': true}")
        self.assertEqual(s.replication, {'class': 'NetworkTopologyStrategy', 'dc1': '3',
                                         'dc2': '2'})
        self.assertFalse(s.durable_writes)
        self.assertTrue(s.tablets)

    def test_with_internals_adds_the_id(self):
        self.assertEqual(cqlparse.with_id("CREATE TABLE ks.t (a int PRIMARY KEY) WITH "
                                          "comment = 'x'", 'table', TID),
                         "CREATE TABLE ks.t (a int PRIMARY KEY) WITH ID = %s AND comment = 'x'"
                         % TID)
        self.assertEqual(cqlparse.with_id('CREATE TABLE ks.t (a int PRIMARY KEY)', 'table', TID),
                         'CREATE TABLE ks.t (a int PRIMARY KEY) WITH ID = %s' % TID)

    def test_select_and_bound_values(self):
        s = cqlparse.parse('SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND '
                           'table_name = ? LIMIT 3 ALLOW FILTERING', [b'ks', b't'])
        self.assertEqual((s.keyspace, s.table, s.columns, s.limit),
                         ('system_schema', 'tables', ['id'], 3))
        self.assertEqual([(c, v.raw) for c, v in s.where], [('keyspace_name', b'ks'),
                                                           ('table_name', b't')])
        with self.assertRaises(CqlError) as e:
            cqlparse.parse('SELECT * FROM system.local WHERE key = ?', [])
        self.assertEqual(e.exception.code, CqlError.INVALID)

    def test_describe_forms(self):
        self.assertFalse(cqlparse.parse('DESC SCHEMA').internals)
        self.assertTrue(cqlparse.parse('describe schema with internals;').internals)
        for bad in ('DESC FULL SCHEMA', 'DESC KEYSPACES', 'DESCRIBE TABLE ks.t'):
            with self.assertRaises(CqlError) as e:
                cqlparse.parse(bad)
            self.assertEqual(e.exception.code, CqlError.INVALID)

    def test_drops(self):
        s = cqlparse.parse('DROP TABLE IF EXISTS ks.t')
        self.assertEqual((s.kind, s.keyspace, s.name, s.if_exists), ('drop_table', 'ks', 't', True))
        s = cqlparse.parse('DROP MATERIALIZED VIEW v')
        self.assertEqual((s.kind, s.keyspace, s.name), ('drop_view', None, 'v'))
        self.assertEqual(cqlparse.parse('DROP KEYSPACE k').keyspace, 'k')

    def test_syntax_errors(self):
        for bad in ('', 'CREATE', 'CREATE TABLE t (a int', "SELECT 'unterminated FROM x",
                    'CREATE TABLE t (a int PRIMARY KEY) WITH', 'SELECT * FROM a; SELECT 1',
                    'CREATE TABLE t (a int PRIMARY KEY)) ', 'CREATE KEYSPACE k WITH x = {1:}'):
            with self.subTest(bad):
                with self.assertRaises(CqlError) as e:
                    cqlparse.parse(bad)
                self.assertEqual(e.exception.code, CqlError.SYNTAX, e.exception.message)


if __name__ == '__main__':
    unittest.main()
