"""Interrupts stop everything and clean up."""

import os
import signal
import subprocess
import time
import unittest

import repocheck
from harness import BIN, Bed, wait_for

MiB = 1 << 20


def snapshots(bed, tag=None):
    return [d for n in bed.nodes for d in bed.snapshot_dirs(n)
            if tag is None or d.endswith('/' + tag)]


def repo_objects(bed):
    out = set()
    for root, _, files in os.walk(bed.repo_dir()):
        out |= set(os.path.join(root, f) for f in files)
    return out


class InterruptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=3, data_dirs=1)
        cls.bed.seed_sample()

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def start(self, *args, config=None):
        return subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', config or self.bed.config] +
                                list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def test_sigint_stops_the_backup_and_clears_its_snapshots(self):
        self.bed.write('shop', 'orders', 4 * MiB, seed=500)
        proc = self.start('backup', '--tag', 'sigint', '--rate-limit', '1')
        wait_for(lambda: len(snapshots(self.bed, 'sigint')) >= 3, timeout=60,
                 what='the snapshots')
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn('nodes stopped', err)
        self.assertIn('will be reused', err)
        self.assertEqual(snapshots(self.bed, 'sigint'), [])
        # The agents stopped too: nothing more arrives in the repository.
        before = repo_objects(self.bed)
        time.sleep(3)
        self.assertEqual(repo_objects(self.bed) - before, set())
        # The lease is gone and the tag can be used again.
        p, s = self.bed.cairn_json('backup', '--tag', 'sigint')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(snapshots(self.bed, 'sigint'), [])

    def test_agent_sigterm_exits_in_bounded_time(self):
        victim = self.bed.nodes[2]
        self.bed.write('shop', 'orders', 4 * MiB, seed=600)
        # A short grace: the stopped agent's node is declared failed soon.
        text = ''.join(line for line in self.bed.read_config().splitlines(True)
                       if not line.startswith('grace:'))
        cfg = self.bed.write_config('grace.yaml', text + 'grace: 5\n')
        proc = self.start('backup', '--tag', 'agent-term', '--rate-limit', '1', config=cfg)
        wait_for(lambda: len(snapshots(self.bed, 'agent-term')) >= 3, timeout=60,
                 what='the snapshots')
        time.sleep(1.5)
        pid = self.bed.agent_pid(victim)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists('/proc/%d' % pid) or
                 open('/proc/%d/stat' % pid).read().split()[2] == 'Z', timeout=30,
                 what='the agent to exit')
        print('\n  agent exited %.1f s after SIGTERM' % (time.monotonic() - t0))
        proc.communicate(timeout=600)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(repocheck.stray_temporaries(self.bed.repo_dir()), [])
        self.bed.restart_agent(victim)


if __name__ == '__main__':
    unittest.main()
