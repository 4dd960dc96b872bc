"""What cairn prints while and after it works: progress that moves within a file and
leaves deduplicated bytes out of its speed, failed nodes counted as failed, `show`
with its header first and its files aligned and sorted, and a schema-only restore
without data figures."""

import os
import pty
import re
import select
import shutil
import subprocess
import unittest

import repocheck
from harness import BIN, SOURCE, Bed, wait_for

MiB = 1 << 20
SIZE = r'(\d+(?:\.\d+)? (?:B|KiB|MiB|GiB))'
NODE_LINE = re.compile(r'running\s+[\d.]+%\s+' + SIZE + r' / ' + SIZE + r'\s+(\d+)/(\d+) files')
SPEED = re.compile(SIZE + r'/s')


def to_bytes(text):
    n, unit = text.split()
    return int(float(n) * {'B': 1, 'KiB': 1 << 10, 'MiB': 1 << 20, 'GiB': 1 << 30}[unit])


def run_on_terminal(args, timeout=180):
    """Runs args with stderr on a pseudo-terminal (so progress redraws in place);
    returns (exit code, stdout, everything written to the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b''
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError('no output for %d s from %s' % (timeout, args))
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the program ended
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    out = proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout=60), out.decode(), seen.decode(errors='replace')


class OutputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2, data_dirs=1)
        cls.repo = cls.bed.repo_dir()
        for ks, t in (('shop', 'orders'), ('logs', 'events'), ('shop', 'items')):
            cls.bed.create_table(ks, t)
            cls.bed.write(ks, t, 256 * 1024, seed=len(t))
        # One large incompressible Data.db, so that a rate limit makes it take seconds.
        cls.bed.write('shop', 'orders', 6 * MiB, node=cls.bed.nodes[0], seed=77,
                      compressibility=0.0)

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def cairn_args(self, *args):
        return [os.path.join(BIN, 'cairn'), '-c', self.bed.config] + list(args)

    def test_01_progress_moves_within_a_file(self):
        rc, _, tty = run_on_terminal(self.cairn_args('backup', '--tag', 'first',
                                                     '--rate-limit', '1'))
        self.assertEqual(rc, 0, tty)
        # The busy node's lines while its big file travels: same files done, more bytes.
        by_files = {}
        for done, total, files_done, files_total in NODE_LINE.findall(tty):
            if to_bytes(total) >= 6 * MiB:
                by_files.setdefault(files_done, []).append(to_bytes(done))
        growing = max(by_files.values(), key=lambda v: len(set(v)))
        self.assertGreaterEqual(len(set(growing)), 3, tty)
        self.assertEqual(growing, sorted(growing))
        # No speed and no ETA before bytes moved for a while: the first total line has none.
        totals = re.findall(r'backup: [^\r\n]*', tty)
        self.assertTrue(totals, tty)
        self.assertNotIn('ETA', totals[0])
        self.assertIsNone(SPEED.search(totals[0]), totals[0])
        # Later ones have a speed near the rate limit (per node, one node busy): never
        # more than the bytes that can have moved.
        speeds = [to_bytes(m.group(1)) for line in totals for m in [SPEED.search(line)] if m]
        self.assertTrue(speeds, tty)
        self.assertLess(max(speeds), 3 * MiB, tty)
        self.assertRegex(totals[-1], r'^backup: 2 nodes done, ')

    def test_02_unchanged_bytes_make_no_speed(self):
        p = self.bed.cairn('backup', '--tag', 'second')
        self.assertEqual(p.returncode, 0, p.stderr)
        final = [line for line in p.stderr.splitlines() if 'backup: 2 nodes done' in line]
        self.assertTrue(final, p.stderr)
        # Every blob was in the repository: shown as unchanged, and no speed from them.
        m = re.search(r'\(' + SIZE + r' unchanged\)', final[-1])
        self.assertIsNotNone(m, final[-1])
        self.assertGreaterEqual(to_bytes(m.group(1)), 6 * MiB)
        self.assertIsNone(SPEED.search(p.stderr), p.stderr)
        self.assertNotIn('ETA', p.stderr)

    def test_03_show_files_header_first_aligned_sorted(self):
        p = self.bed.cairn('show', 'first', '--files')
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith('backup first of cluster itest'), lines[0])
        head = lines.index('files:') + 1
        self.assertLess(lines.index('tables:'), head)
        header = lines[head]
        self.assertEqual(header.split(), ['NODE', 'TABLE', 'FILE', 'SIZE', 'BLOB'])
        rows = [line for line in lines[head + 1:] if line.strip()]
        _, show = self.bed.cairn_json('show', 'first', '--files')
        self.assertEqual(len(rows), len(show['files_list']))
        # Aligned: every column starts where its header does (SIZE is right-aligned).
        starts = [header.index(h) for h in ('NODE', 'TABLE', 'FILE', 'BLOB')]
        size_end = header.index('SIZE') + len('SIZE')
        keys = []
        for row in rows:
            for s in starts:
                self.assertNotEqual(row[s], ' ', row)
                self.assertEqual(row[s - 1], ' ', row)
            self.assertRegex(row[:size_end], SIZE + '$')
            node, table, name = row.split()[:3]
            keys.append((node, table, name))
            # A small file's blob is a member of a pack: where in it follows.
            self.assertRegex(row[starts[3]:], r'^[0-9a-f]{12}(  in pack [0-9a-f]{12} @\d+\+\d+)?$')
        self.assertTrue(any(' in pack ' in row for row in rows))
        self.assertEqual(keys, sorted(keys))
        self.assertEqual({k[0] for k in keys}, {n['address'] for n in self.bed.nodes})

    def test_04_show_json_names_the_schema_blob(self):
        p, show = self.bed.cairn_json('show', 'first')
        self.assertEqual(p.returncode, 0, p.stderr)
        cm = os.path.join(self.repo, 'backups', 'itest', 'first', 'backup.manifest')
        text = repocheck.decode_manifest(SOURCE, cm, 'ClusterManifest')
        want = re.search(r'schema_blob: "([0-9a-f]{64})"', text).group(1)
        self.assertEqual(show['schema_blob'], want)
        ok, size = repocheck.verify_blob(self.repo, want)
        self.assertTrue(ok)
        self.assertEqual(size, show['schema_size'])

    def test_05_schema_only_restore_has_no_data_figures(self):
        with Bed(nodes=1, data_dirs=1, cluster_name='other',
                 repository='file://' + self.repo) as other:
            p = other.cairn('restore', 'first', '--from-cluster', 'itest', '--schema',
                            '--no-data')
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn('schema only, no data restored', p.stdout)
            for word in ('bytes', 'files', 'tables', 'method'):
                self.assertNotRegex(p.stdout, r'(?m)^\s+%s\s' % word, p.stdout)
            rows = other.cql("SELECT table_name FROM system_schema.tables "
                             "WHERE keyspace_name = 'shop'").rows
            self.assertEqual(sorted(r[0] for r in rows), ['items', 'orders'])
            p, out = other.cairn_json('restore', 'first', '--from-cluster', 'itest', '--schema',
                                      '--no-data')
            self.assertEqual(p.returncode, 0, p.stderr)
            for key in ('bytes', 'files', 'tables'):
                self.assertIn(key, out)
                self.assertIsNone(out[key], out)
            self.assertEqual(out['method'], 'none')

    def test_05b_restore_progress_counts_files_already_there(self):
        # Both source nodes hold the same small SSTables (same seeds), so one target node
        # staging both shares finds each such blob already there the second time.
        with Bed(nodes=1, data_dirs=1, cluster_name='again',
                 repository='file://' + self.repo) as other:
            p = other.cairn('restore', 'first', '--from-cluster', 'itest', '--schema')
            self.assertEqual(p.returncode, 0, p.stderr)
            verify = [line for line in p.stderr.splitlines() if 'restore (verify): ' in line]
            self.assertTrue(verify, p.stderr)
            self.assertRegex(verify[-1], r'restore \(verify\): 1 node done, .*\(' + SIZE +
                             r' already there\)')
            final = [line for line in p.stderr.splitlines() if 'restore: ' in line]
            self.assertRegex(final[-1], r'restore: 1 node done, ')
            self.assertNotIn('failed', final[-1])

    def test_06_failed_node_is_reported_failed(self):
        victim = self.bed.nodes[1]
        # New bytes on the victim, so that its upload (rate-limited) outlasts the removal.
        self.bed.write('logs', 'events', 4 * MiB, node=victim, seed=99, compressibility=0.0)
        proc = self.bed.start_cairn('backup', '--tag', 'half', '--rate-limit', '1')
        try:
            wait_for(lambda: self.bed.snapshot_of(victim, 'half'), 60, 'the snapshot')
            for d in self.bed.snapshot_of(victim, 'half'):
                shutil.rmtree(d, ignore_errors=True)
            _, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 1, err)
        final = [line for line in err.splitlines() if re.search(r'backup: \d+ nodes? ', line)]
        self.assertTrue(final, err)
        self.assertIn('1 node done, 1 node failed', final[-1])
        self.assertNotIn('2/2 nodes done', err)
        self.assertNotIn('2 nodes done', err)
        self.assertIn(victim['address'], err)


if __name__ == '__main__':
    unittest.main()
