"""The front doors of both programs: usage, version, and the exit codes of docs/cli.md
(0 success, 1 failure, 2 bad usage or configuration), with no cluster at all."""

import os
import re
import shutil
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


# Every command and subcommand, as typed, with the options its help must describe.
COMMANDS = {
    ('status',): ['--json', '--watch', '--interval S'],
    ('backup',): ['--tag T', '--keyspace GLOB', '--exclude GLOB', '--keep-snapshot',
                  '--parallel N', '--rate-limit MiB/s', '--no-retention',
                  '--metrics-file PATH', '--json'],
    ('list',): ['--json'],
    ('show',): ['--files', '--json'],
    ('restore',): ['--from-cluster NAME', '--keyspace GLOB', '--exclude GLOB', '--schema',
                   '--auth', '--no-data', '--method M', '--into-nonempty', '--dry-run', '--parallel N',
                   '--metrics-file PATH', '--json'],
    ('delete',): ['--yes', '--json'],
    ('expire',): ['--dry-run', '--json'],
    ('snapshots',): ['--clear', '--json'],
    ('info',): ['--json'],
    ('purge',): ['--dry-run', '--grace DURATION', '--metrics-file PATH', '--json'],
    ('verify',): ['--all', '--read-data[=PERCENT]', '--repair', '--metrics-file PATH', '--json'],
    ('repo', 'init'): [],
    ('certs', 'init'): ['--dir DIR'],
    ('certs', 'issue'): ['--dir DIR', '--agent HOST', '--coordinator NAME'],
    ('check-config',): [],
    ('version',): [],
}


class CommandHelpTest(unittest.TestCase):
    """`cairn CMD --help` needs no configuration and describes every option; a bad option
    is named the same way by every command, with its usage, exit 2."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='cairn-help-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, 'repo'))
        self.cfg = os.path.join(self.dir, 'cluster.yaml')
        with open(self.cfg, 'w') as f:
            f.write('cluster: cli\nrepository: file://%s/repo\ninsecure: true\n'
                    'agents: ["127.0.0.1:1"]\n' % self.dir)

    def test_help_of_every_command_without_configuration(self):
        # cwd holds no cairn.yaml, and /etc/cairn/cluster.yaml is not there either.
        for cmd, options in COMMANDS.items():
            for flag in ('--help', '-h'):
                p = run(CAIRN, *cmd, flag, cwd=self.dir)
                self.assertEqual(p.returncode, 0, (cmd, p.stderr))
                self.assertEqual(p.stderr, '', cmd)
                self.assertTrue(p.stdout.startswith('usage: cairn %s' % ' '.join(cmd)),
                                (cmd, p.stdout))
                for o in options + ['-h, --help']:
                    # Each option on its own line, with words after it.
                    self.assertRegex(p.stdout, r'(?m)^  %s +\S' % re.escape(o), (cmd, o))
            p = run(CAIRN, 'help', *cmd, cwd=self.dir)
            self.assertEqual(p.returncode, 0, cmd)
            self.assertTrue(p.stdout.startswith('usage: cairn %s' % ' '.join(cmd)))

    def test_help_anywhere_in_the_arguments(self):
        p = run(CAIRN, '-c', os.path.join(self.dir, 'none.yaml'), 'backup', '--tag', 'x', '-h')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('--rate-limit MiB/s', p.stdout)
        p = run(CAIRN, 'certs', '--help')
        self.assertEqual(p.returncode, 0)
        self.assertIn('cairn certs issue --help', p.stdout)
        p = run(CAIRN, 'help', 'frobnicate')
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", p.stderr)

    def test_unknown_option_of_every_command(self):
        # With a configuration, and with none at all: options are checked first.
        for cmd, config in [(c, a) for c in COMMANDS for a in (['-c', self.cfg], [])]:
            p = run(CAIRN, *config, *cmd, '--frobnicate', cwd=self.dir)
            self.assertEqual(p.returncode, 2, (cmd, p.stderr))
            self.assertTrue(p.stderr.startswith(
                "cairn %s: unknown option '--frobnicate'\nusage: cairn %s"
                % (' '.join(cmd), ' '.join(cmd))), (cmd, p.stderr))
            self.assertNotIn('unrecognized', p.stderr)
            self.assertEqual(p.stdout, '', cmd)

    def test_options_other_commands_take_are_refused(self):
        p = run(CAIRN, 'info', '--keyspace', 'ks', cwd=self.dir)
        self.assertEqual(p.returncode, 2)
        self.assertTrue(p.stderr.startswith("cairn info: unknown option '--keyspace'\n"))

    def test_option_without_its_value(self):
        for cmd, opt in ((('backup',), '--tag'), (('restore', 'latest'), '--method'),
                         (('purge',), '--grace'), (('certs', 'issue'), '--dir')):
            p = run(CAIRN, '-c', self.cfg, *cmd, opt)
            self.assertEqual(p.returncode, 2, (cmd, p.stderr))
            self.assertTrue(p.stderr.startswith("cairn %s: option '%s' needs a value\n"
                                                % (cmd[0] if cmd[0] != 'certs'
                                                   else ' '.join(cmd), opt)), p.stderr)
            self.assertNotIn('requires an argument', p.stderr)

    def test_agent_options(self):
        p = run(AGENT, '--help')
        self.assertEqual(p.returncode, 0)
        for o in ('-c, --config FILE', '--check-config', '--version', '-h, --help'):
            self.assertIn(o, p.stdout)
        p = run(AGENT, '--frobnicate')
        self.assertEqual(p.returncode, 2)
        self.assertTrue(p.stderr.startswith("cairn-agent: unknown option '--frobnicate'\n"
                                            "usage: cairn-agent"), p.stderr)
        p = run(AGENT, '--config')
        self.assertEqual(p.returncode, 2)
        self.assertIn("cairn-agent: option '--config' needs a value", p.stderr)


class ConfigurationTest(unittest.TestCase):
    """Relative paths read from the configuration's directory; check-config; a bad
    repository location is a configuration error."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='cairn-conf-')
        os.chmod(cls.dir, 0o755)  # a check run as another user must reach it
        cls.certs = os.path.join(cls.dir, 'certs')
        subprocess.run([CAIRN, 'certs', 'init', '--dir', cls.certs], check=True,
                       capture_output=True)
        subprocess.run([CAIRN, 'certs', 'issue', '--dir', cls.certs, '--coordinator', 'ops'],
                       check=True, capture_output=True)
        os.chmod(cls.certs, 0o755)
        os.mkdir(os.path.join(cls.dir, 'repo'))
        os.chmod(os.path.join(cls.dir, 'repo'), 0o777)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, name, repository=None, key='certs/ops.key', body=''):
        conf = os.path.join(self.dir, 'conf')
        os.makedirs(conf, exist_ok=True)
        path = os.path.join(conf, name)
        with open(path, 'w') as f:
            f.write('cluster: cli\nrepository: "%s"\nagents: ["127.0.0.1:1"]\n'
                    'tls:\n  ca: ../certs/ca.crt\n  cert: ../certs/ops.crt\n  key: ../%s\n%s'
                    % (repository or 'file://%s/repo' % self.dir, key, body))
        os.chmod(path, 0o644)
        return path

    def test_relative_paths_from_another_directory(self):
        cfg = self.write('good.yaml')
        for args in (['-c', cfg, 'check-config'], ['-c', cfg, '--check-config']):
            p = run(CAIRN, *args, cwd='/')
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, '%s: configuration OK\n' % cfg)

    def test_check_config_names_every_problem_and_its_fix(self):
        plain = os.path.join(self.dir, 'plain-file')
        open(plain, 'w').close()
        cfg = self.write('bad.yaml', repository='file://%s/repo' % plain, key='certs/none.key')
        p = run(CAIRN, '-c', cfg, 'check-config', cwd='/')
        self.assertEqual(p.returncode, 2, p.stderr)
        key = os.path.join(self.dir, 'conf', '..', 'certs', 'none.key')
        self.assertIn('%s (tls.key): does not exist: create it, or correct tls.key' % key,
                      p.stderr)
        self.assertIn('%s/repo (repository): a part of the path is not a directory' % plain,
                      p.stderr)
        self.assertIn('2 problems', p.stderr)
        self.assertNotIn('configuration OK', p.stdout)

    def test_check_config_as_a_user_who_cannot_read_the_key(self):
        if os.geteuid() != 0 or not shutil.which('setpriv'):
            self.skipTest('needs root and setpriv to run the check as another user')
        cfg = self.write('other-user.yaml')
        key = os.path.join(self.dir, 'conf', '..', 'certs', 'ops.key')
        os.chmod(os.path.join(self.certs, 'ops.key'), 0o600)
        p = run('setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                CAIRN, '-c', cfg, 'check-config', cwd='/')
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('%s (tls.key): not readable by user nobody: chown nobody %s' % (key, key),
                      p.stderr)

    def test_world_readable_key_is_a_warning(self):
        cfg = self.write('open-key.yaml')
        os.chmod(os.path.join(self.certs, 'ops.key'), 0o644)
        self.addCleanup(os.chmod, os.path.join(self.certs, 'ops.key'), 0o600)
        p = run(CAIRN, '-c', cfg, 'check-config')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('every user can read this private key: chmod 600', p.stderr)

    def test_agent_check_config_names_every_problem(self):
        plain = os.path.join(self.dir, 'plain-file')
        open(plain, 'w').close()
        conf = os.path.join(self.dir, 'conf')
        os.makedirs(conf, exist_ok=True)
        cfg = os.path.join(conf, 'agent-bad.yaml')
        with open(cfg, 'w') as f:
            f.write('cluster: cli\nlisten: tls+tcp://127.0.0.1:1\n'
                    'tls:\n  ca: ../certs/none-ca.crt\n  cert: ../certs/none.crt\n'
                    '  key: ../certs/ops.key\nstate_dir: %s/state\n'
                    'repositories:\n  - location: file://%s/missing-repo\n'
                    % (plain, self.dir))
        p = run(AGENT, '-c', cfg, '--check-config', cwd='/')
        self.assertEqual(p.returncode, 2, p.stderr)
        certs = os.path.join(conf, '..', 'certs')
        self.assertIn('%s/none-ca.crt (tls.ca): does not exist' % certs, p.stderr)
        self.assertIn('%s/none.crt (tls.cert): does not exist' % certs, p.stderr)
        self.assertIn('%s/missing-repo (repositories): does not exist' % self.dir, p.stderr)
        self.assertIn('state_dir %s/state cannot be created' % plain, p.stderr)
        self.assertIn('%s: 4 problems' % cfg, p.stderr)
        self.assertEqual(p.stdout, '')
        # Fixed, the same file passes; a key that is not the certificate's is found once
        # the files open.
        with open(cfg, 'w') as f:
            f.write('cluster: cli\nlisten: tls+tcp://127.0.0.1:1\n'
                    'tls:\n  ca: ../certs/ca.crt\n  cert: ../certs/ops.crt\n'
                    '  key: ../certs/%s\nstate_dir: %s/agent-state\n'
                    'repositories:\n  - location: file://%s/repo\n'
                    % ('ops.key', self.dir, self.dir))
        p = run(AGENT, '-c', cfg, '--check-config', cwd='/')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, '%s: configuration OK\n' % cfg)
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'agent-state')),
                         '--check-config must not create the state directory')
        with open(cfg) as f:
            body = f.read().replace('cert: ../certs/ops.crt', 'cert: ../certs/ca.crt')
        with open(cfg, 'w') as f:
            f.write(body)
        p = run(AGENT, '-c', cfg, '--check-config', cwd='/')
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('is not the key of certificate', p.stderr)
        self.assertIn('1 problem\n', p.stderr)

    def test_no_repository_is_a_configuration_error_everywhere(self):
        cfg = os.path.join(self.dir, 'conf', 'no-repo.yaml')
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, 'w') as f:
            f.write('cluster: cli\ninsecure: true\nagents: ["127.0.0.1:1"]\n')
        for cmd in (['list'], ['show', 'latest'], ['info'], ['backup'], ['restore', 'latest'],
                    ['purge'], ['verify'], ['delete', '--yes', 'x'], ['snapshots'],
                    ['expire'], ['repo', 'init']):
            p = run(CAIRN, '-c', cfg, *cmd)
            self.assertEqual(p.returncode, 2, (cmd, p.stderr))
            self.assertTrue(p.stderr.startswith(
                'cairn %s: %s names no `repository`: add `repository: file:///shared/dir` or '
                '`repository: s3://bucket/prefix`' % (' '.join(cmd[:2]) if cmd[0] == 'repo'
                                                      else cmd[0], cfg)), (cmd, p.stderr))

    def test_bad_repository_location_is_a_configuration_error(self):
        for url, words in (('ftp://host/x', 'is neither file:///path nor s3://bucket/prefix'),
                           ('s3://b', 'needs a bucket name'),
                           ('file://relative/dir', 'is not an absolute path')):
            cfg = self.write('repo.yaml', repository=url)
            for cmd in ('list', 'backup', 'check-config'):
                p = run(CAIRN, '-c', cfg, cmd)
                self.assertEqual(p.returncode, 2, (url, cmd, p.stderr))
                self.assertIn('repository', p.stderr)
                self.assertIn(words, p.stderr)


if __name__ == '__main__':
    unittest.main()
