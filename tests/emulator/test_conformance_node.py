"""Conformance of the CQL server with a real driver (Node.js cassandra-driver).

The driver is installed with `npm ci` into a cache directory outside the source tree
(CAIRN_EMU_NPM_DIR, default <repo>/build/emulator-npm) the first time; the test is
skipped with a message when node/npm are missing or the install fails.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import emutest                                       # noqa: E402

CONFORMANCE = os.path.join(HERE, 'conformance')
NPM_DIR = os.environ.get('CAIRN_EMU_NPM_DIR', os.path.join(emutest.REPO, 'build', 'emulator-npm'))


def install_driver():
    """Return (node_modules path, None) or (None, reason to skip)."""
    node, npm = shutil.which('node'), shutil.which('npm')
    if not node or not npm:
        return None, 'node and npm are needed for the driver conformance test'
    modules = os.path.join(NPM_DIR, 'node_modules')
    if os.path.isdir(os.path.join(modules, 'cassandra-driver')):
        return modules, None
    os.makedirs(NPM_DIR, exist_ok=True)
    for name in ('package.json', 'package-lock.json'):
        shutil.copy(os.path.join(CONFORMANCE, name), os.path.join(NPM_DIR, name))
    try:
        res = subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'],
                             cwd=NPM_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=300)
    except subprocess.TimeoutExpired:
        return None, 'npm ci timed out: cannot install cassandra-driver'
    if res.returncode != 0 or not os.path.isdir(os.path.join(modules, 'cassandra-driver')):
        return None, 'npm could not install cassandra-driver: %s' % res.stdout.decode(
            errors='replace')[-500:]
    return modules, None


class NodeDriverConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.modules, reason = install_driver()
        if reason:
            raise unittest.SkipTest(reason)
        cls.tmp = tempfile.mkdtemp(prefix='cairn-emu-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def run_script(self, cluster, keyspace, credentials=None):
        n = cluster.nodes[0]
        argv = ['node', os.path.join(CONFORMANCE, 'conformance.js'), '--address', n['address'],
                '--port', str(n['cql_port']), '--dc', n['dc'], '--keyspace', keyspace]
        if credentials:
            argv += ['--username', credentials[0], '--password', credentials[1]]
        env = dict(os.environ, NODE_PATH=self.modules)
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             timeout=120)
        self.assertEqual(res.returncode, 0, res.stderr.decode(errors='replace'))
        return json.loads(res.stdout.decode().strip().splitlines()[-1])

    def check(self, cluster, report, keyspace):
        self.assertEqual(report['protocol_version'], 4)
        self.assertEqual(sorted(report['hosts']),
                         sorted('%s:%d' % (n['address'], n['cql_port']) for n in cluster.nodes))
        self.assertIn('system_schema', report['keyspaces_seen_by_metadata'])
        self.assertEqual(report['local_host_id'], cluster.nodes[0]['host_id'])
        # The id the driver read is the one of the directory on every node.
        info = cluster.call(len(cluster.nodes) - 1, 'GET', '/emulator/sstables',
                            {'keyspace': keyspace, 'table': 'events'})
        self.assertEqual(info['id'], report['table_id'])
        for d in info['directories']:
            self.assertTrue(os.path.isdir(d))

    def test_driver_without_authentication(self):
        c = emutest.start_cluster(os.path.join(self.tmp, 'open'), 2)
        self.addCleanup(c.stop)
        report = self.run_script(c, 'conf_open')
        self.check(c, report, 'conf_open')
        self.assertNotIn('bad_password', report)

    def test_driver_with_password_authenticator(self):
        c = emutest.start_cluster(os.path.join(self.tmp, 'auth'), 1, username='cassandra',
                                  password='cassandra')
        self.addCleanup(c.stop)
        report = self.run_script(c, 'conf_auth', ('cassandra', 'cassandra'))
        self.check(c, report, 'conf_auth')
        self.assertEqual(report['bad_password'], 'AuthenticationError')


if __name__ == '__main__':
    unittest.main()
