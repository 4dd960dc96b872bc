"""Nothing hangs: a silent agent, a stopped agent, an address that drops SYNs, a hung
ScyllaDB, each fails within about the configured timeout and names the agent.

The bounds asserted here are generous guards against a hang (several times the
configured timeout), never a speed; the measured times are printed for the record.
"""

import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import BIN, Bed

TIMEOUT_S = 3


class SilentListener:
    """Accepts TCP connections and never says a word (no TLS handshake)."""

    def __init__(self, address):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


class Blackhole:
    """A listener whose accept queue is full and never drained: further SYNs are
    dropped by the kernel, as on a firewalled address, all on loopback."""

    def __init__(self, address):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect((address, self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        time.sleep(0.2)

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()


class HangTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2)
        cls.bed.seed_sample()
        cls.address = cls.bed.nodes[0]['address']

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def config_with(self, name, extra_agent=None, timeout=TIMEOUT_S):
        # A short grace, so that a stopped agent fails the backup soon.
        text = ''.join(line for line in self.bed.read_config().splitlines(True)
                       if not line.startswith('grace:'))
        text += 'timeout: %d\ngrace: 6\n' % timeout
        if extra_agent:
            text = text.replace('agents:\n', 'agents:\n  - "%s"\n' % extra_agent)
        return self.bed.write_config(name, text)

    def timed_status(self, cfg):
        t0 = time.monotonic()
        p, st = self.bed.cairn_json('status', config=cfg, timeout=300)
        elapsed = time.monotonic() - t0
        print('\n  status took %.1f s' % elapsed)
        return p, st, elapsed

    def test_listener_that_never_answers_tls(self):
        silent = SilentListener(self.address)
        self.addCleanup(silent.close)
        agent = '%s:%d' % (self.address, silent.port)
        p, st, elapsed = self.timed_status(self.config_with('silent.yaml', agent))
        self.assertEqual(p.returncode, 1)
        self.assertLess(elapsed, 4 * TIMEOUT_S + 5)
        self.assertTrue(any(agent in x and 'not answer' in x for x in st['problems']),
                        st['problems'])

    def test_stopped_agent(self):
        pid = self.bed.agent_pid(self.bed.nodes[1])
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(os.kill, pid, signal.SIGCONT)
        p, st, elapsed = self.timed_status(self.config_with('stopped.yaml'))
        self.assertEqual(p.returncode, 1)
        self.assertLess(elapsed, 4 * TIMEOUT_S + 5)
        agent = '%s:%d' % (self.bed.nodes[1]['address'], self.bed.nodes[1]['agent_port'])
        self.assertTrue(any(agent in x and 'not answer' in x for x in st['problems']),
                        st['problems'])
        # No false advice: the node has an agent, it is just not answering.
        self.assertFalse(any('no agent in the configuration' in x for x in st['problems']),
                         st['problems'])

    def test_address_that_drops_syns(self):
        hole = Blackhole(self.address)
        self.addCleanup(hole.close)
        agent = '%s:%d' % (self.address, hole.port)
        p, st, elapsed = self.timed_status(self.config_with('blackhole.yaml', agent))
        self.assertEqual(p.returncode, 1)
        self.assertLess(elapsed, 4 * TIMEOUT_S + 5)
        self.assertTrue(any(agent in x for x in st['problems']), st['problems'])

    def test_agent_stopped_during_backup_is_noticed(self):
        pid = self.bed.agent_pid(self.bed.nodes[1])
        cfg = self.config_with('backup-stop.yaml')
        proc = subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', cfg, 'backup', '--tag',
                                 'stopped-agent', '--rate-limit', '1'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            _, err = proc.communicate(timeout=600)
        finally:
            os.kill(pid, signal.SIGCONT)
        elapsed = time.monotonic() - t0
        print('\n  backup failed %.1f s after the agent stopped' % elapsed)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn('not answering', err)
        self.assertNotIn('same cluster CA', err)

    def restart_agent(self, node, text):
        """Restarts node's agent on agent.yaml text; returns the original text."""
        ndir = os.path.join(self.bed.dir, node['name'])
        path = os.path.join(ndir, 'agent.yaml')
        with open(path) as f:
            old = f.read()
        pid = self.bed.agent_pid(node)
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if not os.path.exists('/proc/%d' % pid) or \
                    open('/proc/%d/stat' % pid).read().split()[2] == 'Z':
                break
            time.sleep(0.1)
        with open(path, 'w') as f:
            f.write(text)
        agent = subprocess.Popen([os.path.join(BIN, 'cairn-agent'), '--config', path],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)  # the bed's stop signals its group
        with open(os.path.join(ndir, 'agent.pid'), 'w') as f:
            f.write(str(agent.pid))
        for _ in range(300):
            if self.bed.cairn('status').returncode == 0:
                break
            time.sleep(0.2)
        return old

    def test_rest_call_that_hangs_fails_within_its_limit(self):
        node = self.bed.nodes[0]
        with open(os.path.join(self.bed.dir, node['name'], 'agent.yaml')) as f:
            text = f.read()
        old = self.restart_agent(node, text.replace('scylla:\n', 'scylla:\n  flush_timeout: 2\n'))
        self.addCleanup(self.restart_agent, node, old)
        self.bed.fault(node, 'POST', '/storage_service/keyspace_flush', hang=120)
        t0 = time.monotonic()
        p = self.bed.cairn('backup', '--tag', 'rest-hang', config=self.config_with('rest.yaml'))
        elapsed = time.monotonic() - t0
        print('\n  backup failed %.1f s after it started' % elapsed)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertLess(elapsed, 60)  # the hang lasts 120 s: the limit ended the call
        self.assertIn('keyspace_flush', p.stderr)
        self.assertIn('scylla.flush_timeout', p.stderr)
        self.assertIn(node['address'], p.stderr)


if __name__ == '__main__':
    unittest.main()
