"""`cairn status` on 3 emulated nodes with agents over mutual TLS."""

import os
import signal
import time
import unittest

from harness import Bed, wait_for


class StatusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3)

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

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
        row = [n for n in st['nodes'] if n['host_id'] == missing['host_id']][0]
        self.assertEqual(row['agent'], 'missing')

    def test_04_agent_of_another_cluster(self):
        text = self.bed.read_config().replace('cluster: itest', 'cluster: other')
        cfg = self.bed.write_config('other.yaml', text)
        p, st = self.bed.cairn_json('status', config=cfg)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(all('itest' in x for x in st['problems']), st['problems'])
        self.assertEqual(len(st['problems']), 3)

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
        self.assertEqual(row['agent'], 'unreachable')


if __name__ == '__main__':
    unittest.main()
