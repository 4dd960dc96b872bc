"""SIGHUP makes the agent use renewed certificates without a restart, and a reload
with unusable files keeps the certificates it had."""

import os
import shutil
import signal
import subprocess
import unittest

from harness import BIN, Bed, wait_for


def read(path):
    with open(path) as f:
        return f.read()


class AgentReloadTest(unittest.TestCase):
    def setUp(self):
        self.bed = Bed(nodes=1)
        self.addCleanup(self.bed.stop)
        self.node = self.bed.nodes[0]
        self.certs = os.path.join(self.bed.dir, 'certs')
        self.pid = self.bed.agent_pid(self.node)
        self.log = os.path.join(self.bed.dir, self.node['name'], 'agent.log')

    def new_ca(self, name):
        """A second cluster CA with a certificate for the agent and the coordinator, and a
        coordinator configuration that trusts it."""
        d = os.path.join(self.bed.dir, name)
        cairn = os.path.join(BIN, 'cairn')
        subprocess.run([cairn, 'certs', 'init', '--dir', d], check=True, capture_output=True)
        for who in (['--agent', self.node['address']], ['--coordinator', 'coordinator']):
            subprocess.run([cairn, 'certs', 'issue', '--dir', d] + who, check=True,
                           capture_output=True)
        cfg = self.bed.write_config(name + '.yaml', self.bed.read_config().replace(self.certs, d))
        return d, cfg

    def ready(self, config=None):
        p, st = self.bed.cairn_json('status', config=config)
        return p.returncode == 0 and st['ready']

    def hup_and_wait(self, line):
        """SIGHUP, then wait for the agent to log the line that says it handled it."""
        with open(self.log) as f:
            before = f.read().count(line)
        os.kill(self.pid, signal.SIGHUP)

        def logged():
            with open(self.log) as f:
                return f.read().count(line) > before
        wait_for(logged, what='the agent to log %r' % line)

    def install(self, src):
        """Copies src's CA and agent certificate over the files the agent was started with."""
        addr = self.node['address']
        for name in ('ca.crt', addr + '.crt', addr + '.key'):
            shutil.copyfile(os.path.join(src, name), os.path.join(self.certs, name))

    def test_renewed_certificates_take_effect_on_sighup(self):
        self.assertTrue(self.ready())
        new, new_cfg = self.new_ca('renewed')
        self.install(new)
        # Not read yet: the agent still presents the old certificate.
        self.assertFalse(self.ready(new_cfg))
        self.hup_and_wait('SIGHUP: reloaded')
        self.assertTrue(self.ready(new_cfg))
        self.assertFalse(self.ready())  # the old CA no longer signs the agent's certificate
        self.assertEqual(self.bed.agent_pid(self.node), self.pid)
        os.kill(self.pid, 0)  # the same process, still running

    def test_sighup_reopens_the_log_file(self):
        # What logrotate does: move the file away, then signal.
        rotated = self.log + '.1'
        os.rename(self.log, rotated)
        os.kill(self.pid, signal.SIGHUP)
        wait_for(lambda: os.path.exists(self.log), what='the agent to reopen its log file')
        wait_for(lambda: 'SIGHUP: reloaded' in read(self.log),
                 what='the reload logged to the new file')
        with open(rotated) as f:
            self.assertNotIn('SIGHUP', f.read())
        self.assertTrue(self.ready())

    def test_broken_key_keeps_the_previous_certificates(self):
        self.assertTrue(self.ready())
        key = os.path.join(self.certs, self.node['address'] + '.key')
        with open(key, 'w') as f:
            f.write('-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n')
        self.hup_and_wait('the previous certificates stay in use')
        self.assertTrue(self.ready())
        os.remove(key)
        self.hup_and_wait('the previous certificates stay in use')
        self.assertTrue(self.ready())
        with open(self.log) as f:
            self.assertIn('cannot read %s' % key, f.read())


if __name__ == '__main__':
    unittest.main()
