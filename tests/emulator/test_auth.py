"""Roles, grants and service levels: created through CQL, described as ScyllaDB 2025.1+
does (and not at all by an older release)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import auth, cqlparse                  # noqa: E402
from scyllaemu.cqlclient import ServerError           # noqa: E402

DESC = 'DESCRIBE SCHEMA WITH INTERNALS'
DESC_PW = 'DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS'


def auth_rows(c, query):
    return [tuple(r) for r in c.query(query).rows if r[0] is None]


class ParseTest(unittest.TestCase):
    def test_statements(self):
        st = cqlparse.parse("CREATE ROLE IF NOT EXISTS \"Bob\" WITH SALTED_HASH = '$6$x' AND "
                            "LOGIN = true AND SUPERUSER = false;")
        self.assertEqual((st.kind, st.name, st.hash, st.login, st.if_not_exists),
                         ('create_role', 'Bob', '$6$x', True, True))
        self.assertEqual(cqlparse.parse("CREATE ROLE r WITH HASHED PASSWORD = 'h'").hash, 'h')
        st = cqlparse.parse('GRANT SELECT ON TABLE ks.t TO r')
        self.assertEqual((st.permission, st.resource, st.role), ('SELECT', ('data', 'ks', 't'),
                                                                 'r'))
        st = cqlparse.parse('GRANT ALL PERMISSIONS ON ALL KEYSPACES TO r')
        self.assertEqual((st.permission, st.resource), ('ALL', ('data', None, None)))
        self.assertEqual(cqlparse.parse('GRANT a TO b').kind, 'grant_role')
        self.assertEqual(cqlparse.parse('CREATE SERVICE_LEVEL sl WITH SHARES = 100').options,
                         'SHARES = 100')
        self.assertEqual(cqlparse.parse('ATTACH SERVICE LEVEL sl TO r').service_level, 'sl')
        self.assertTrue(cqlparse.parse(DESC_PW).passwords)
        for bad in ("CREATE ROLE r WITH PASSWORD = 1", "CREATE ROLE r WITH LOGIN = 'yes'",
                    'ATTACH SERVICE sl TO r', 'DESCRIBE SCHEMA WITH INTERNALS AND',
                    "CREATE ROLE r WITH COLOUR = 'red'"):
            with self.assertRaises(cqlparse.CqlError, msg=bad):
                cqlparse.parse(bad)

    def test_release(self):
        self.assertTrue(auth.describes_auth('2025.1.0-0.20250130.abc'))
        self.assertTrue(auth.describes_auth('2026.4.0'))
        self.assertFalse(auth.describes_auth('2024.2.5'))
        self.assertFalse(auth.describes_auth('6.2.3'))


class AuthObjectsTest(ClusterTestCase):
    nodes = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.cluster.cql(0) as c:
            for q in ["CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1}",
                      'CREATE TABLE ks.t (pk int PRIMARY KEY, v text)',
                      "CREATE ROLE alice WITH PASSWORD = 'pw' AND LOGIN = true",
                      "CREATE ROLE reader",
                      "CREATE ROLE \"Bob\" WITH SALTED_HASH = '$6$abc$def' AND LOGIN = true",
                      'GRANT reader TO alice',
                      'GRANT SELECT ON ks.t TO reader',
                      'GRANT MODIFY ON KEYSPACE ks TO alice',
                      'CREATE SERVICE LEVEL gold WITH SHARES = 500',
                      'ATTACH SERVICE LEVEL gold TO alice']:
                c.query(q)

    def cql(self, node=0):
        c = self.cluster.cql(node)
        self.addCleanup(c.close)
        return c

    def test_described_with_null_keyspace(self):
        rows = auth_rows(self.cql(1), DESC)        # the other node sees them too
        types = [r[1] for r in rows]
        self.assertEqual(types, sorted(types, key=['role', 'grant_role', 'grant_permission',
                                                   'service_level',
                                                   'service_level_attachment'].index))
        self.assertIn((None, 'role', 'cassandra', 'CREATE ROLE IF NOT EXISTS cassandra WITH '
                       'LOGIN = true AND SUPERUSER = true;'), rows)
        self.assertIn((None, 'role', 'Bob', 'CREATE ROLE "Bob" WITH LOGIN = true AND '
                       'SUPERUSER = false;'), rows)
        self.assertIn((None, 'grant_role', 'alice', 'GRANT reader TO alice;'), rows)
        self.assertIn((None, 'grant_permission', 'reader', 'GRANT SELECT ON ks.t TO reader;'),
                      rows)
        self.assertIn((None, 'grant_permission', 'alice',
                       'GRANT MODIFY ON KEYSPACE ks TO alice;'), rows)
        self.assertIn((None, 'service_level', 'gold', 'CREATE SERVICE LEVEL gold WITH '
                       'SHARES = 500;'), rows)
        self.assertIn((None, 'service_level_attachment', 'gold',
                       'ATTACH SERVICE LEVEL gold TO alice;'), rows)
        self.assertFalse([r for r in rows if 'SALTED_HASH' in r[3]])

    def test_passwords_add_the_salted_hashes(self):
        rows = {r[2]: r[3] for r in auth_rows(self.cql(), DESC_PW) if r[1] == 'role'}
        self.assertEqual(rows['Bob'], "CREATE ROLE \"Bob\" WITH SALTED_HASH = '$6$abc$def' AND "
                                      "LOGIN = true AND SUPERUSER = false;")
        self.assertRegex(rows['alice'], r"^CREATE ROLE alice WITH SALTED_HASH = '\$6\$[0-9a-f]+"
                                        r"\$[0-9a-f]+' AND LOGIN = true AND SUPERUSER = false;$")
        self.assertNotIn("'pw'", rows['alice'])
        self.assertEqual(rows['reader'], 'CREATE ROLE reader WITH LOGIN = false AND '
                                         'SUPERUSER = false;')
        self.assertIn('SALTED_HASH', rows['cassandra'])

    def test_replayed_hash_is_kept(self):
        c = self.cql()
        before = {r[2]: r[3] for r in auth_rows(c, DESC_PW) if r[1] == 'role'}['alice']
        c.query(before.replace('alice', 'alice2'))
        after = {r[2]: r[3] for r in auth_rows(c, DESC_PW) if r[1] == 'role'}['alice2']
        self.assertEqual(after, before.replace('alice', 'alice2'))

    def test_auth_leaves_the_schema_version(self):
        version = self.ok('GET', '/emulator/info')['schema_version']
        self.cql().query('CREATE ROLE versionless')
        self.assertEqual(self.ok('GET', '/emulator/info')['schema_version'], version)

    def test_errors(self):
        c = self.cql()
        for q, fragment in [('CREATE ROLE alice', 'Role alice already exists'),
                            ('CREATE ROLE cassandra', 'Role cassandra already exists'),
                            ('GRANT SELECT ON ks.t TO nobody', "Role nobody doesn't exist"),
                            ('GRANT nobody TO alice', "Role nobody doesn't exist"),
                            ('GRANT SELECT ON ks.nope TO alice', "Resource ks.nope doesn't"),
                            ('GRANT SELECT ON KEYSPACE nope TO alice', "Resource KEYSPACE nope"),
                            ('GRANT SELECT ON t TO alice', 'No keyspace has been specified'),
                            ('CREATE SERVICE LEVEL gold', 'Service Level gold already exists'),
                            ('ATTACH SERVICE LEVEL lead TO alice', 'lead does not exist'),
                            ('ATTACH SERVICE LEVEL gold TO nobody', "nobody doesn't exist")]:
            with self.assertRaises(ServerError, msg=q) as e:
                c.query(q)
            self.assertEqual(e.exception.code, 0x2200, q)
            self.assertIn(fragment, e.exception.message, q)
        self.assertEqual(c.query('CREATE ROLE IF NOT EXISTS cassandra').kind, 'void')
        with self.assertRaises(ServerError):
            c.query('DROP ROLE nobody')
        self.assertEqual(c.query('DROP ROLE IF EXISTS nobody').kind, 'void')

    def test_drop_role_takes_its_grants(self):
        c = self.cql()
        for q in ['CREATE ROLE gone', 'GRANT SELECT ON ks.t TO gone', 'GRANT gone TO alice',
                  'DROP ROLE gone']:
            c.query(q)
        self.assertFalse([r for r in auth_rows(c, DESC) if 'gone' in r[2] + r[3]])
        self.assertEqual(c.query('CREATE SERVICE_LEVEL IF NOT EXISTS gold').kind, 'void')

    def test_older_release_describes_no_auth(self):
        """Before 2025.1: AND PASSWORDS and SALTED_HASH are syntax errors, no auth rows."""
        self.ok('POST', '/emulator/settings', {'release_version': '6.2.3'})
        self.addCleanup(self.ok, 'POST', '/emulator/settings',
                        {'release_version': '2025.1.0-0.20250130.abc'})
        self.assertEqual(self.ok('GET', '/storage_service/scylla_release_version'), '6.2.3')
        c = self.cql()
        with self.assertRaises(ServerError) as e:
            c.query(DESC_PW)
        self.assertEqual(e.exception.code, 0x2000)
        self.assertEqual(auth_rows(c, DESC), [])
        self.assertTrue([r for r in c.query(DESC).rows if r[0] == 'ks'])
        with self.assertRaises(ServerError) as e:
            c.query("CREATE ROLE old WITH SALTED_HASH = 'x'")
        self.assertEqual(e.exception.code, 0x2000)
        self.assertTrue(auth_rows(self.cql(1), DESC))     # the other node is still 2025.1


if __name__ == '__main__':
    unittest.main()
