"""CQL over TLS: nodes with client_encryption_options (and require_client_auth) are
backed up and their schema restored by agents with scylla.cql_tls; an agent without it,
or with the wrong CA, fails the backup saying which setting to change; the files are
read at every connection, so a renewal needs no restart."""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

from harness import BIN, SOURCE, Bed, wait_for

sys.path.insert(0, os.path.join(SOURCE, 'tests', 'emulator'))
from scyllaemu import tlscerts            # noqa: E402

ORDERS = "SELECT id FROM system_schema.tables WHERE keyspace_name = 'shop' " \
         "AND table_name = 'orders'"


class CqlTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=1, data_dirs=1, cql_tls='client-auth')
        cls.node = cls.bed.nodes[0]
        cls.bed.create_table('shop', 'orders', rf=1)
        cls.bed.write('shop', 'orders', 256 * 1024, seed=7)
        with open(os.path.join(cls.bed.dir, cls.node['name'], 'agent.yaml')) as f:
            cls.agent_yaml = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def reconfigured(self, text):
        """The node's agent runs on agent.yaml text until the test ends."""
        old = self.bed.reconfigure_agent(self.node, text)
        self.addCleanup(self.bed.reconfigure_agent, self.node, old)

    def test_1_backup_and_schema_restore(self):
        self.assertIn('  cql_tls:\n', self.agent_yaml)
        p = self.bed.cairn('backup', '--tag', 'base')
        self.assertEqual(p.returncode, 0, p.stderr)
        want = self.bed.digest('shop', 'orders', self.node)
        self.bed.cql('DROP TABLE shop.orders')
        self.assertEqual(self.bed.cql(ORDERS).rows, [])
        p, out = self.bed.cairn_json('restore', 'base', '--schema')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.bed.cql(ORDERS).rows), 1)
        self.assertEqual(self.bed.digest('shop', 'orders', self.node), want)

    def test_2_agent_without_cql_tls(self):
        self.reconfigured(re.sub(r'  cql_tls:\n(    .*\n)+', '', self.agent_yaml))
        p = self.bed.cairn('backup', '--tag', 'plain')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('client_encryption_options', p.stderr)
        self.assertIn('set scylla.cql_tls in the agent configuration', p.stderr)

    def test_3_wrong_ca(self):
        certs = os.path.join(self.bed.dir, 'cql-certs')
        other = tlscerts.make_ca(os.path.join(self.bed.dir, 'other-ca'))
        self.reconfigured(self.agent_yaml.replace(os.path.join(certs, 'ca.crt'), other))
        p = self.bed.cairn('backup', '--tag', 'wrong-ca')
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r'CQL TLS handshake with %s:%d failed: certificate verify '
                         r'failed \([^)]*\): check scylla\.cql_tls\.ca'
                         % (re.escape(self.node['address']), self.node['cql_port']))

    def test_4_check_config(self):
        certs = os.path.join(self.bed.dir, 'cql-certs')
        loose = os.path.join(self.bed.dir, 'loose.key')
        shutil.copyfile(os.path.join(certs, 'client.key'), loose)
        os.chmod(loose, 0o644)
        missing = os.path.join(self.bed.dir, 'no-such-ca.crt')
        os.makedirs(self.bed.repo_dir(), exist_ok=True)  # made by the first backup
        cases = [
            (self.agent_yaml.replace(os.path.join(certs, 'client.key'), loose), 0,
             'loose.key (scylla.cql_tls.key): every user can read this private key'),
            (self.agent_yaml.replace(os.path.join(certs, 'ca.crt'), missing), 2,
             'no-such-ca.crt (scylla.cql_tls.ca): does not exist'),
            (self.agent_yaml.replace(os.path.join(certs, 'client.key'),
                                     os.path.join(certs, 'ca.key')), 2,
             'is not the key of scylla.cql_tls.cert'),
            (re.sub(r'    ca: .*\n', '', self.agent_yaml), 2,
             'scylla.cql_tls.cert is set but CQL TLS is off'),
        ]
        for text, code, line in cases:
            path = self.bed.write_config('check.yaml', text)
            p = subprocess.run([os.path.join(BIN, 'cairn-agent'), '--check-config', '-c', path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, code, p.stdout + p.stderr)
            self.assertIn(line, p.stderr)

    def test_5_files_read_at_every_connection(self):
        ca = os.path.join(self.bed.dir, 'cql-certs', 'ca.crt')
        renewed = os.path.join(self.bed.dir, 'renewed-ca.crt')
        shutil.copyfile(tlscerts.make_ca(os.path.join(self.bed.dir, 'other-ca')), renewed)
        self.reconfigured(self.agent_yaml.replace(ca, renewed))
        p = self.bed.cairn('backup', '--tag', 'before-renewal')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('check scylla.cql_tls.ca', p.stderr)
        # SIGHUP reports a file that cannot be used ...
        with open(renewed, 'w') as f:
            f.write('not a certificate\n')
        log = os.path.join(self.bed.dir, self.node['name'], 'agent.log')
        os.kill(self.bed.agent_pid(self.node), signal.SIGHUP)
        want = 'reload: scylla.cql_tls.ca %s holds no PEM CA certificate' % renewed

        def logged():
            with open(log) as f:
                return want in f.read()
        wait_for(logged, what='the agent to log %r' % want)
        # ... and the next connection reads the renewed file, without a restart.
        shutil.copyfile(ca, renewed)
        p = self.bed.cairn('backup', '--tag', 'after-renewal')
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == '__main__':
    unittest.main()
