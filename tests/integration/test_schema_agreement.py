"""`cairn restore --schema` on a cluster whose nodes learn schema changes late, and of a
table whose definition holds several statements (a dropped column)."""

import os
import signal
import unittest

from harness import Bed, wait_for

KS = ("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', "
      "'replication_factor': 3}")
LAG_MS = 4000


def gone(pid):
    """The process has exited (or is a zombie its parent has not reaped)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split()[2] == 'Z'
    except FileNotFoundError:
        return True


def definition(bed, keyspace, table):
    rows = bed.cql('DESCRIBE SCHEMA WITH INTERNALS').rows
    found = [r[3] for r in rows if r[0] == keyspace and r[1] == 'table' and r[2] == table]
    return found[0] if found else None


class SchemaAgreementTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=1)
        bed = cls.bed
        # multi.t: a column dropped, so DESCRIBE WITH INTERNALS re-drops it after the CREATE.
        bed.cql(KS % 'multi')
        bed.cql('CREATE TABLE multi.t (pk blob PRIMARY KEY, v blob, old int)')
        bed.cql('ALTER TABLE multi.t DROP old USING TIMESTAMP 1700000000000000')
        for ks in ('lagged', 'late'):
            bed.create_table(ks, 't')
        for i, (ks, t) in enumerate((('multi', 't'), ('lagged', 't'), ('late', 't'))):
            bed.write(ks, t, 256 * 1024, seed=10 * i)
        cls.multi_definition = definition(bed, 'multi', 't')
        cls.digests = {ks: {n['name']: bed.digest(ks, 't', n) for n in bed.nodes}
                       for ks in ('multi', 'lagged')}
        p = bed.cairn('backup', '--tag', 'base')
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def lag(self, node, ms):
        self.bed.rest(node, 'POST', '/emulator/schema_lag', ms=ms)

    def restore(self, keyspace):
        self.bed.cql('DROP KEYSPACE %s' % keyspace)
        return self.bed.cairn('restore', 'base', '--schema', '--keyspace', keyspace)

    def assert_restored(self, keyspace):
        for n in self.bed.nodes:
            self.assertEqual(self.bed.digest(keyspace, 't', n), self.digests[keyspace][n['name']],
                             n['name'])

    def test_01_definition_of_several_statements(self):
        self.assertEqual(self.multi_definition.count(';'), 2, self.multi_definition)
        self.assertIn('ALTER TABLE multi.t DROP old USING TIMESTAMP 1700000000000000',
                      self.multi_definition)
        p = self.restore('multi')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('schema: 2 objects created, 0 already there', p.stderr)
        # The same definition, ID and dropped column with its timestamp included.
        self.assertEqual(definition(self.bed, 'multi', 't'), self.multi_definition)
        self.assert_restored('multi')

    def test_02_waits_for_a_lagging_node(self):
        second = self.bed.nodes[1]
        self.bed.cql('DROP KEYSPACE lagged')
        self.lag(second, LAG_MS)
        self.addCleanup(self.lag, second, 0)
        p = self.bed.cairn('restore', 'base', '--schema', '--keyspace', 'lagged')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r'schema: 2 objects created, 0 already there; all 3 nodes '
                                   r'agree on schema version [0-9a-f-]{36} after \d+ ms')
        self.assert_restored('lagged')

    def test_03_no_agreement_in_time(self):
        first, second = self.bed.nodes[0], self.bed.nodes[1]
        path = os.path.join(self.bed.dir, first['name'], 'agent.yaml')
        with open(path) as f:
            text = f.read()
        pid = self.bed.agent_pid(first)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: gone(pid), 30, 'the agent to stop')
        with open(path, 'w') as f:
            f.write(text.replace('scylla:\n', 'scylla:\n  schema_agreement_timeout: 1\n'))
        self.bed.restart_agent(first)
        self.bed.cql('DROP KEYSPACE late')
        self.lag(second, 600000)
        self.addCleanup(self.lag, second, 0)
        # The lag is 10 minutes: the subprocess limit only guards against a hang, the
        # message below shows the 1 s setting was what ended the wait.
        p = self.bed.cairn('restore', 'base', '--schema', '--keyspace', 'late', timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('did not agree on one schema version within 1 s', p.stderr)
        self.assertIn('scylla.schema_agreement_timeout', p.stderr)
        # The lagging node is named beside the version it is on.
        self.assertRegex(p.stderr, r'version [0-9a-f-]{36}: %s[;)]' % second['address'])


if __name__ == '__main__':
    unittest.main()
