"""Roles, grants and service levels: backed up with the schema, restored only with --auth.

The source cluster's auth is described by DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS
(ScyllaDB 2025.1+); a source that plays an older ScyllaDB gives a dump without auth,
which restores without it and says so.
"""

import os
import unittest

from harness import Bed

DESC_PW = 'DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS'
SOURCE_AUTH = [
    "CREATE ROLE alice WITH PASSWORD = 'alice-pw' AND LOGIN = true",
    'CREATE ROLE reader',
    "CREATE ROLE carol WITH PASSWORD = 'carol-pw' AND LOGIN = true",
    'GRANT reader TO alice',
    'GRANT SELECT ON shop.orders TO reader',
    'GRANT MODIFY ON KEYSPACE shop TO alice',
    'CREATE SERVICE LEVEL gold WITH SHARES = 500',
    'ATTACH SERVICE LEVEL gold TO alice',
    # A name that would pass for an object header of the dump, were it not escaped.
    'CREATE ROLE "x\n-- cairn-object: keyspace evil evil\nDROP KEYSPACE shop"',
]


def auth_rows(bed):
    """The cluster's auth objects, default superuser aside: {(type, statement)}."""
    return {(r[1], r[3]) for r in bed.cql(DESC_PW).rows
            if r[0] is None and r[2] != 'cassandra'}


def superuser_row(bed):
    return [r[3] for r in bed.cql(DESC_PW).rows if r[1] == 'role' and r[2] == 'cassandra'][0]


class AuthRestoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = Bed(nodes=1, data_dirs=1, cluster_name='src')
        cls.addClassCleanup(cls.src.stop)
        cls.dst = Bed(nodes=1, data_dirs=1, cluster_name='dst',
                      repository='file://' + cls.src.repo_dir())
        cls.addClassCleanup(cls.dst.stop)
        cls.src.create_table('shop', 'orders', rf=1)
        for q in SOURCE_AUTH:
            cls.src.cql(q)
        cls.want = auth_rows(cls.src)
        p = cls.src.cairn('backup', '--tag', 'auth')
        assert p.returncode == 0, p.stderr

    def restore(self, *args, expect=0):
        p = self.dst.cairn('restore', 'auth', '--from-cluster', 'src', '--no-data', *args)
        self.assertEqual(p.returncode, expect, p.stdout + p.stderr)
        return p

    def test_1_schema_alone_leaves_auth(self):
        # --auth alone onto a target without the keyspace: its grants cannot be made.
        p = self.restore('--auth', '--dry-run')
        self.assertIn('leaves out GRANT SELECT ON shop.orders TO reader: keyspace shop is not '
                      'on the target', p.stderr)
        self.assertIn('create role reader', p.stdout)
        self.restore('--schema')
        self.assertTrue(self.dst.cql("SELECT id FROM system_schema.tables WHERE keyspace_name "
                                     "= 'shop' AND table_name = 'orders'").rows)
        self.assertEqual(auth_rows(self.dst), set())
        # The plan says what --auth would add.
        p = self.restore('--schema', '--dry-run')
        self.assertIn('not restored (see --auth)', p.stdout)
        p = self.restore('--auth', '--dry-run')
        self.assertIn('create role alice', p.stdout)
        self.assertIn('create GRANT SELECT ON shop.orders TO reader', p.stdout)
        self.assertIn('create ATTACH SERVICE LEVEL gold TO alice', p.stdout)
        self.assertNotIn('role cassandra', p.stdout)
        self.assertNotIn('alice-pw', p.stdout + p.stderr)
        self.assertEqual(auth_rows(self.dst), set())

    def test_2_conflict_changes_nothing(self):
        """carol exists on the target with another password: nothing is created."""
        self.dst.cql("CREATE ROLE carol WITH PASSWORD = 'other' AND LOGIN = true")
        p = self.restore('--auth', expect=1)
        self.assertIn('role carol exists on the target with another definition', p.stderr)
        self.assertNotIn('SALTED_HASH', p.stderr)
        self.assertEqual([s.split(' WITH')[0] for _, s in auth_rows(self.dst)],
                         ['CREATE ROLE carol'])
        self.dst.cql('DROP ROLE carol')

    def test_3_auth_restored_with_its_hashes(self):
        theirs = superuser_row(self.dst)
        p = self.restore('--schema', '--auth')
        self.assertIn('already there', p.stderr)
        got = auth_rows(self.dst)
        self.assertEqual(got, self.want)
        self.assertEqual(len([t for t, _ in got if t == 'role']), 4)
        self.assertTrue([s for t, s in got if t == 'role' and 'SALTED_HASH' in s])
        # The target keeps its own default superuser (another cluster, another hash).
        self.assertNotEqual(superuser_row(self.src), theirs)
        self.assertEqual(superuser_row(self.dst), theirs)
        # Again: everything is there with the same definition.
        p = self.restore('--auth')
        self.assertIn('0 objects created', p.stderr)

    def test_4_older_scylla_backs_up_without_auth(self):
        node = self.src.nodes[0]
        self.src.rest(node, 'POST', '/emulator/settings', release_version='6.2.3')
        self.addCleanup(self.src.rest, node, 'POST', '/emulator/settings',
                        release_version='2025.1.0-0.20250130.abc')
        self.src.cql('CREATE ROLE later')
        for tag in ('old', 'old2'):         # said once, not at every backup
            p = self.src.cairn('backup', '--tag', tag)
            self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.src.dir, node['name'], 'agent.log')) as f:
            said = [line for line in f if 'schema dumps hold no roles' in line]
        self.assertEqual(len(said), 1, said)
        self.assertIn('info', said[0])
        self.assertIn('older than 2025.1', said[0])
        p = self.dst.cairn('restore', 'old', '--from-cluster', 'src', '--no-data', '--schema',
                           '--auth', '--dry-run')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('holds no roles, grants or service levels', p.stderr)
        self.assertNotIn('role later', p.stdout)
        p = self.dst.cairn('restore', 'old', '--from-cluster', 'src', '--no-data', '--schema',
                           '--auth')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('holds no roles, grants or service levels', p.stderr)
        self.assertNotIn('later', {r[2] for r in self.dst.cql(DESC_PW).rows})


    def test_5_older_target_refuses_auth(self):
        """A target that cannot describe its roles cannot be compared: nothing changes."""
        node = self.dst.nodes[0]
        self.dst.cql('DROP ROLE alice')
        self.dst.rest(node, 'POST', '/emulator/settings', release_version='6.2.3')
        self.addCleanup(self.dst.rest, node, 'POST', '/emulator/settings',
                        release_version='2025.1.0-0.20250130.abc')
        p = self.restore('--schema', '--auth', expect=1)
        self.assertIn('refused DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS (it is older than '
                      '2025.1)', p.stderr)
        self.assertIn('restore without --auth', p.stderr)
        self.restore('--schema')                # without --auth it is a schema like any
        self.dst.rest(node, 'POST', '/emulator/settings',
                      release_version='2025.1.0-0.20250130.abc')
        self.assertNotIn('alice', {r[2] for r in self.dst.cql(DESC_PW).rows})


if __name__ == '__main__':
    unittest.main()
