"""The front doors of both programs: usage, version, and the exit codes of docs/cli.md
(0 success, 1 failure, 2 bad usage or configuration), with no cluster at all."""

import os
import subprocess
import tempfile
import unittest

from harness import BIN

CAIRN = os.path.join(BIN, 'cairn')
AGENT = os.path.join(BIN, 'cairn-agent')


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='cairn-cli-')
        self.addCleanup(subprocess.run, ['rm', '-rf', self.dir])

    def test_no_command_prints_usage_and_exits_2(self):
        p = run(CAIRN)
        self.assertEqual(p.returncode, 2)
        self.assertIn('usage: cairn', p.stderr)
        self.assertEqual(p.stdout, '')

    def test_help_goes_to_stdout(self):
        for args in (['--help'], ['-h'], ['help']):
            p = run(CAIRN, *args)
            self.assertEqual(p.returncode, 0, args)
            self.assertIn('usage: cairn', p.stdout)
            self.assertIn('restore TAG|latest', p.stdout)

    def test_version(self):
        p = run(CAIRN, 'version')
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r'^cairn \d+\.\d+\.\d+\n$')
        p = run(AGENT, '--version')
        self.assertEqual(p.returncode, 0)
        self.assertIn('cairn-agent', p.stdout)

    def test_unknown_option_and_command(self):
        p = run(CAIRN, '--frobnicate', 'status')
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown option '--frobnicate'", p.stderr)
        p = run(CAIRN, 'frobnicate')
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", p.stderr)

    def test_missing_configuration_is_a_configuration_error(self):
        missing = os.path.join(self.dir, 'nope.yaml')
        p = run(CAIRN, '-c', missing, 'status')
        self.assertEqual(p.returncode, 2)
        self.assertIn(missing, p.stderr)

    def test_default_configuration_is_read_from_the_working_directory(self):
        with open(os.path.join(self.dir, 'cairn.yaml'), 'w') as f:
            f.write('cluster: cli\nbogus_key: 1\n')
        p = run(CAIRN, 'list', cwd=self.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn('cairn.yaml', p.stderr)
        self.assertIn('bogus_key', p.stderr)

    def test_broken_s3_settings_fail_before_the_command(self):
        path = os.path.join(self.dir, 's3.yaml')
        with open(path, 'w') as f:
            f.write('cluster: cli\nrepository: s3://bucket/x\ninsecure: true\n'
                    'agents: ["127.0.0.1:1"]\ns3: {part_size_mib: 1}\n')
        p = run(CAIRN, '-c', path, 'list')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('part_size', p.stderr)

    def test_certs_without_arguments_is_usage(self):
        p = run(CAIRN, 'certs')
        self.assertEqual(p.returncode, 2)
        self.assertIn('certs', p.stderr)

    def test_agent_without_configuration(self):
        p = run(AGENT, '--config', os.path.join(self.dir, 'agent.yaml'))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('agent.yaml', p.stderr)


if __name__ == '__main__':
    unittest.main()
