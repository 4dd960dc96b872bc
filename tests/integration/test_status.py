"""`cairn status` on 3 emulated nodes with agents over mutual TLS."""

import os
import signal
import socket
import subprocess
import time
import unittest

from harness import BIN, Bed, wait_for

FALSE_HINT = 'add its agent'


def accepts(address, port):
    try:
        socket.create_connection((address, port), 0.5).close()
        return True
    except OSError:
        return False


class StatusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3)

        cls.extra = []  # agents the tests start themselves

    @classmethod
    def tearDownClass(cls):
        for proc in cls.extra:
            proc.kill()
            proc.wait()
        cls.bed.stop()

    def replace_agent(self, node, edit):
        """Stops node's agent and starts one from its agent.yaml changed by edit."""
        addr = node['address']
        path = os.path.join(self.bed.dir, node['name'], 'agent.yaml')
        with open(path) as f:
            text = edit(f.read())
        if not self.extra:
            os.kill(self.bed.agent_pid(node), signal.SIGTERM)
        elif self.extra[-1].poll() is None:
            self.extra[-1].terminate()
            self.extra[-1].wait()
        wait_for(lambda: not accepts(addr, node['agent_port']), what='the agent to stop')
        cfg = self.bed.write_config('agent-%s.yaml' % len(self.extra), text)
        self.extra.append(subprocess.Popen([os.path.join(BIN, 'cairn-agent'), '--config', cfg],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: accepts(addr, node['agent_port']), what='the new agent')

    def status_of(self, node):
        """The status document and the problems that name node's agent."""
        p, st = self.bed.cairn_json('status')
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        agent = '%s:%d' % (node['address'], node['agent_port'])
        row = [n for n in st['nodes'] if n.get('agent_address') == agent]
        self.assertEqual(len(row), 1, st['nodes'])
        for x in st['problems']:
            self.assertNotIn(FALSE_HINT, x)
        return row[0], [x for x in st['problems'] if agent in x or node['address'] in x]

    def test_01_ready(self):
        p, st = self.bed.cairn_json('status')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(st['ready'])
        self.assertEqual(st['cluster'], 'itest')
        self.assertEqual(st['problems'], [])
        self.assertEqual(len(st['nodes']), 3)
        by_addr = {n['address']: n for n in st['nodes']}
        for node in self.bed.nodes:
            got = by_addr[node['address']]
            self.assertEqual(got['host_id'], node['host_id'])
            self.assertEqual(got['dc'], node['dc'])
            self.assertEqual(got['rack'], node['rack'])
            self.assertTrue(got['up'])
            self.assertEqual(got['agent'], 'ok')
            self.assertTrue(got['version'])
        # The table form says the same.
        p = self.bed.cairn('status')
        self.assertEqual(p.returncode, 0)
        self.assertIn('ready', p.stdout)
        for node in self.bed.nodes:
            self.assertIn(node['host_id'], p.stdout)

    def test_02_node_down(self):
        victim = self.bed.nodes[1]
        self.bed.mark(victim['address'], 'down')
        try:
            p, st = self.bed.cairn_json('status')
            self.assertEqual(p.returncode, 1)
            self.assertFalse(st['ready'])
            self.assertTrue(any(victim['host_id'] in x and 'down' in x for x in st['problems']),
                            st['problems'])
            down = [n for n in st['nodes'] if n['host_id'] == victim['host_id']]
            self.assertFalse(down[0]['up'])
        finally:
            self.bed.mark(victim['address'], 'up')
        p, st = self.bed.cairn_json('status')
        self.assertTrue(st['ready'], st['problems'])

    def test_03_ring_node_without_agent(self):
        text = self.bed.read_config()
        missing = self.bed.nodes[2]
        line = '  - %s:%d\n' % (missing['address'], missing['agent_port'])
        self.assertIn(line, text)
        cfg = self.bed.write_config('two-agents.yaml', text.replace(line, ''))
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        self.assertTrue(any(missing['host_id'] in x and 'no agent' in x for x in st['problems']),
                        st['problems'])
        # The one case where the hint is true: every configured agent answered.
        self.assertTrue(any(FALSE_HINT in x for x in st['problems']), st['problems'])
        row = [n for n in st['nodes'] if n['host_id'] == missing['host_id']][0]
        self.assertEqual(row['agent'], 'missing')

    def test_04_agent_of_another_cluster(self):
        text = self.bed.read_config().replace('cluster: itest', 'cluster: other')
        cfg = self.bed.write_config('other.yaml', text)
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(all('itest' in x for x in st['problems']), st['problems'])
        self.assertEqual(len(st['problems']), 3)
        self.assertEqual({n['agent'] for n in st['nodes']}, {'cluster mismatch'})
        self.assertTrue(all("agent.yaml's `cluster`" in x for x in st['problems']), st['problems'])
        self.assertFalse(any(FALSE_HINT in x for x in st['problems']), st['problems'])

    def test_06_last_backup_and_running_jobs(self):
        p, st = self.bed.cairn_json('status')
        self.assertIsNone(st['last_backup'])
        self.assertEqual([j for n in st['nodes'] for j in n['jobs']], [])
        p = self.bed.cairn('status')
        self.assertIn('last complete backup: none\n', p.stdout)
        self.assertIn('no backup or restore is running', p.stdout)
        self.bed.create_table('ks', 'big')
        self.bed.write('ks', 'big', 3 << 20, seed=7, compressibility=0.0)
        backup = self.bed.start_cairn('backup', '--tag', 'watched', '--rate-limit', '0.5')
        try:
            jobs = []

            def running():
                _, st = self.bed.cairn_json('status')
                jobs[:] = [(n['address'], j) for n in st['nodes'] for j in n['jobs']]
                return jobs
            wait_for(running, timeout=60, what='the backup job in status')
            for _, j in jobs:
                self.assertEqual((j['kind'], j['tag']), ('backup', 'watched'))
                self.assertLessEqual(j['bytes_done'], j['bytes_total'])
            # Not on a terminal, --watch prints one snapshot per interval until SIGINT.
            w = self.bed.start_cairn('status', '--watch', '--interval', '1')
            time.sleep(2.5)
            w.send_signal(signal.SIGINT)
            out, err = w.communicate(timeout=30)
            self.assertEqual(w.returncode, 0, err)
            self.assertGreaterEqual(out.count('cluster itest:'), 2, out)
            self.assertNotIn('\033[', out)
            self.assertRegex(out, r'backup watched \d+% \(')
        finally:
            out, err = backup.communicate(timeout=120)
        self.assertEqual(backup.returncode, 0, err)
        before = time.time()
        p, st = self.bed.cairn_json('status')
        self.assertEqual(st['last_backup']['tag'], 'watched')
        self.assertLessEqual(st['last_backup']['end_ms'], before * 1000)
        self.assertLess(st['last_backup']['age_s'], 120)
        self.assertEqual([j for n in st['nodes'] for j in n['jobs']], [])
        p = self.bed.cairn('status')
        self.assertIn('last complete backup: watched, finished ', p.stdout)

    def test_07_interval_needs_watch(self):
        p = self.bed.cairn('status', '--interval', '3')
        self.assertEqual(p.returncode, 2)
        self.assertIn('--interval goes with --watch', p.stderr)

    def test_90_agent_with_a_foreign_ca(self):
        node = self.bed.nodes[1]
        other = os.path.join(self.bed.dir, 'foreign-ca')
        cairn = os.path.join(BIN, 'cairn')
        for args in (['init'], ['issue', '--agent', node['address']]):
            subprocess.run([cairn, 'certs'] + args + ['--dir', other], check=True,
                           capture_output=True)
        certs = os.path.join(self.bed.dir, 'certs')
        self.replace_agent(node, lambda t: t.replace(certs, other))
        row, problems = self.status_of(node)
        self.assertEqual(row['agent'], 'TLS refused')
        self.assertEqual(len(problems), 1, problems)
        self.assertIn('refused the TLS handshake', problems[0])
        self.assertIn('`cairn certs issue --agent %s`' % node['address'], problems[0])
        p = self.bed.cairn('status')
        self.assertIn('TLS refused (%s:%d)' % (node['address'], node['agent_port']), p.stdout)

    def test_91_agent_configured_for_another_cluster(self):
        node = self.bed.nodes[1]
        self.replace_agent(node, lambda t: t.replace('cluster: itest', 'cluster: elsewhere'))
        row, problems = self.status_of(node)
        self.assertEqual(row['agent'], 'cluster mismatch')
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("'elsewhere'", problems[0])
        self.assertIn("'itest'", problems[0])
        self.assertIn("set its agent.yaml's `cluster`", problems[0])

    def test_92_agent_killed_is_down(self):
        node = self.bed.nodes[1]
        self.extra[-1].terminate()
        self.extra[-1].wait()
        row, problems = self.status_of(node)
        self.assertEqual(row['agent'], 'agent down')
        self.assertEqual(row['host_id'], node['host_id'])  # known from the others' ring
        self.assertEqual(len(problems), 1, problems)
        self.assertIn('start cairn-agent on %s' % node['address'], problems[0])

    def test_93_scylla_not_answering(self):
        # The agent of node 1 back, as it was; node 2's ScyllaDB (its REST API) stopped.
        node = self.bed.nodes[1]
        self.replace_agent(node, lambda t: t)
        p, st = self.bed.cairn_json('status')
        self.assertTrue(st['ready'], st['problems'])
        victim = self.bed.nodes[2]
        os.kill(victim['pid'], signal.SIGKILL)
        wait_for(lambda: not accepts(victim['address'], victim['rest_port']),
                 what='the node to stop')
        row, problems = self.status_of(victim)
        self.assertEqual(row['agent'], 'ScyllaDB not answering')
        self.assertEqual(len(problems), 1, problems)
        self.assertIn('ScyllaDB on %s does not answer its agent' % victim['address'],
                      problems[0])
        self.assertIn('start scylla-server on %s' % victim['address'], problems[0])
        self.assertNotIn('start cairn-agent', problems[0])

    def test_05_bad_config_is_a_usage_error(self):
        cfg = self.bed.write_config('typo.yaml', self.bed.read_config().replace(
            'agents:', 'agnets:'))
        p = self.bed.cairn('status', config=cfg)
        self.assertEqual(p.returncode, 2)
        self.assertIn("did you mean 'agents'", p.stderr)
        self.assertIn('typo.yaml:', p.stderr)

    def test_99_agent_stopped(self):
        # Last: it kills an agent for good.
        victim = self.bed.nodes[0]
        os.kill(self.bed.agent_pid(victim), signal.SIGTERM)
        time.sleep(0.5)
        p, st = self.bed.cairn_json('status')
        self.assertEqual(p.returncode, 1)
        self.assertFalse(st['ready'])
        self.assertTrue(any('%s:%d' % (victim['address'], victim['agent_port']) in x
                            for x in st['problems']), st['problems'])
        row = [n for n in st['nodes'] if n.get('agent_address') ==
               '%s:%d' % (victim['address'], victim['agent_port'])][0]
        self.assertEqual(row['agent'], 'agent down')
        self.assertFalse(any(FALSE_HINT in x for x in st['problems']), st['problems'])


if __name__ == '__main__':
    unittest.main()
