"""Every agent must see the repository the coordinator sees.

Reproduces a backup reported complete and listed although one node wrote its node
manifest and blobs elsewhere: that node's agent runs in its own mount namespace where
the file:// path is another directory (its own disk instead of the shared mount). Now
the backup stops before any upload and names the node, and `cairn status` says the same;
a directory holding a copy of cairn.repo is caught before the backup is recorded.
"""

import os
import shutil
import subprocess
import unittest

from harness import BIN, Bed, wait_for


def unshare_works():
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return False
    p = subprocess.run(['unshare', '-m', '--propagation', 'private', 'true'],
                       capture_output=True)
    return p.returncode == 0


@unittest.skipUnless(unshare_works(), 'needs root and unshare -m (a private mount namespace) '
                                      'to give one agent another view of the repository path')
class RepositoryIdentityTest(unittest.TestCase):
    def setUp(self):
        self.bed = Bed(nodes=3, data_dirs=1)
        self.addCleanup(self.bed.stop)
        self.bed.create_table('shop', 'orders')
        self.bed.write('shop', 'orders', 256 * 1024, seed=5)
        p = self.bed.cairn('repo', 'init')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.victim = self.bed.nodes[1]

    def run_victim_over(self, other):
        """Restarts the victim's agent seeing `other` where the repository should be."""
        os.kill(self.bed.agent_pid(self.victim), 9)
        ndir = os.path.join(self.bed.dir, self.victim['name'])
        script = 'mount --bind "$1" "$2" && exec "$3" --config "$4"'
        agent = subprocess.Popen(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script,
                                  'sh', other, self.bed.repo_dir(),
                                  os.path.join(BIN, 'cairn-agent'),
                                  os.path.join(ndir, 'agent.yaml')],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(agent.wait)
        self.addCleanup(agent.kill)

        def agent_ok():
            p, st = self.bed.cairn_json('status')
            return all(n['agent'] == 'ok' for n in st['nodes'])
        wait_for(agent_ok, timeout=60, what="the victim's agent")

    def assert_refused(self, tag):
        p = self.bed.cairn('backup', '--tag', tag)
        self.assertEqual(p.returncode, 1, 'the backup was reported complete:\n' + p.stderr)
        self.assertIn(self.victim['host_id'], p.stderr)
        self.assertIn('same repository', p.stderr)
        self.assertNotIn('cairn repo init', p.stderr)
        p, listed = self.bed.cairn_json('list')
        self.assertNotIn(tag, [b['tag'] for b in listed])
        # Nothing of the victim's was written to the other directory either.
        self.assertFalse(os.path.exists(os.path.join(self.other, 'backups')))
        p, st = self.bed.cairn_json('status')
        self.assertEqual(p.returncode, 1)
        self.assertTrue(any(self.victim['host_id'] in x and 'same repository' in x
                            for x in st['problems']), st['problems'])

    def test_another_initialised_repository_is_refused(self):
        self.other = os.path.join(self.bed.dir, 'elsewhere')
        os.makedirs(self.other)
        cfg = self.bed.read_config().replace(self.bed.repo_dir(), self.other)
        p = self.bed.cairn('repo', 'init', config=self.bed.write_config('other.yaml', cfg))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.run_victim_over(self.other)
        self.assert_refused('split')

    def test_missing_repository_is_refused_without_the_init_hint(self):
        self.other = os.path.join(self.bed.dir, 'empty')
        os.makedirs(self.other)
        self.run_victim_over(self.other)
        self.assert_refused('missing')

    def test_copied_repository_is_refused_before_it_is_recorded(self):
        # A copy of cairn.repo passes the identity check (the same id); the listing of
        # the node manifests in the coordinator's view finds the victim's missing.
        self.other = os.path.join(self.bed.dir, 'copy')
        os.makedirs(self.other)
        shutil.copy(os.path.join(self.bed.repo_dir(), 'cairn.repo'), self.other)
        self.run_victim_over(self.other)
        p = self.bed.cairn('backup', '--tag', 'copied')
        self.assertEqual(p.returncode, 1, 'the backup was reported complete:\n' + p.stderr)
        self.assertIn(self.victim['host_id'], p.stderr)
        self.assertIn('holds no such object', p.stderr)
        self.assertIn('same repository', p.stderr)
        p, listed = self.bed.cairn_json('list')
        self.assertNotIn('copied', [b['tag'] for b in listed])


if __name__ == '__main__':
    unittest.main()
