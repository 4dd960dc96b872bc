"""`--metrics-file` on backup, restore, purge and verify: Prometheus text files that a
strict parser reads, whose figures are those of the command's --json summary, and whose
outcome samples tell a failed run from a good one.
"""

import os
import re
import time
import unittest

import repocheck
from harness import Bed

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # scripts/deps.sh installs python3-prometheus-client
    text_string_to_metric_families = None

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? '
                    r'(-?[0-9.e+]+)$')


def strict_read(text):
    """{name: {labels-tuple: value}}, after checking the exposition format line by line:
    HELP then TYPE gauge before a family's samples, every family in one block."""
    families, order, current = {}, [], None
    assert text.endswith('\n'), 'the file must end with a newline'
    lines = text.split('\n')[:-1]
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$', line)
        assert m, 'line %d is not a HELP line: %r' % (i + 1, line)
        name = m.group(1)
        assert name not in families, 'family %s appears twice' % name
        assert lines[i + 1] == '# TYPE %s gauge' % name, lines[i + 1]
        families[name], current = {}, name
        order.append(name)
        i += 2
        while i < len(lines) and not lines[i].startswith('#'):
            s = SAMPLE.match(lines[i])
            assert s, 'line %d is not a sample: %r' % (i + 1, lines[i])
            assert s.group(1) == current, '%s sample inside family %s' % (s.group(1), current)
            labels = tuple(sorted(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"',
                                             s.group(2) or '')))
            assert labels not in families[name], 'duplicate sample %s%s' % (name, labels)
            families[name][labels] = float(s.group(3))
            i += 1
    assert order and all(n.startswith('cairn_') for n in order), order
    if text_string_to_metric_families:
        parsed = {f.name: f for f in text_string_to_metric_families(text)}
        assert set(parsed) == set(families), (set(parsed), set(families))
        for name, f in parsed.items():
            assert f.type == 'gauge', (name, f.type)
            got = {tuple(sorted(s.labels.items())): s.value for s in f.samples}
            assert got == families[name], (name, got, families[name])
    return families


def value(fams, name, **labels):
    want = tuple(sorted(labels.items()))
    for lab, v in fams[name].items():
        if all(x in lab for x in want):
            return v
    raise AssertionError('no sample %s%s in %s' % (name, labels, fams.get(name)))


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bed = Bed(nodes=2, data_dirs=1)
        cls.bed.seed_sample()
        cls.repo = cls.bed.repo_dir()
        cls.dir = os.path.join(cls.bed.dir, 'textfile')
        os.mkdir(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.bed.stop()

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            fams = strict_read(f.read())
        self.assertEqual([x for x in os.listdir(self.dir) if '.tmp.' in x], [])
        return fams

    def test_1_backup(self):
        path = os.path.join(self.dir, 'backup.prom')
        before = time.time()
        p, out = self.bed.cairn_json('backup', '--tag', 'm1', '--metrics-file', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        f = self.read('backup.prom')
        self.assertEqual(value(f, 'cairn_backup_success', cluster='itest'), 1)
        self.assertEqual(value(f, 'cairn_backup_uploaded_bytes'), out['uploaded_bytes'])
        self.assertGreater(out['uploaded_bytes'], 0)
        self.assertEqual(value(f, 'cairn_backup_read_bytes'), out['bytes'])
        self.assertEqual(value(f, 'cairn_backup_files'), out['files'])
        self.assertEqual(value(f, 'cairn_backup_nodes'), 2)
        self.assertEqual(value(f, 'cairn_backup_snapshot_skew_seconds'), out['skew_ms'] / 1000)
        self.assertEqual(value(f, 'cairn_backup_failed_nodes'), 0)
        for kind, n in out['requests'].items():
            kind = 'retry' if kind == 'retries' else kind
            self.assertEqual(value(f, 'cairn_backup_requests', kind=kind), n, kind)
        nodes = {dict(lab)['node']: v for lab, v in f['cairn_backup_node_uploaded_bytes'].items()}
        self.assertEqual(set(nodes), {n['address'] for n in self.bed.nodes})
        self.assertEqual(sum(nodes.values()), out['uploaded_bytes'])
        stored = sum(f['cairn_backup_node_stored_bytes'].values())
        self.assertEqual(value(f, 'cairn_backup_stored_bytes'), stored)
        self.assertGreater(stored, 0)
        last = value(f, 'cairn_backup_last_success_timestamp_seconds')
        self.assertGreaterEqual(last, before)
        self.assertLessEqual(last, time.time())
        self.assertEqual(last, value(f, 'cairn_backup_last_run_timestamp_seconds'))

    def test_2_failed_backup_keeps_the_last_success(self):
        path = os.path.join(self.dir, 'backup.prom')
        last = value(self.read('backup.prom'), 'cairn_backup_last_success_timestamp_seconds')
        victim = self.bed.nodes[1]
        self.bed.fault(victim, 'POST', '/storage_service/snapshots', status=500,
                       message='injected: snapshot refused')
        p = self.bed.cairn('backup', '--tag', 'm2', '--metrics-file', path)
        self.assertEqual(p.returncode, 1)
        f = self.read('backup.prom')
        self.assertEqual(value(f, 'cairn_backup_success'), 0)
        self.assertEqual(value(f, 'cairn_backup_failed_nodes'), 1)
        self.assertEqual(value(f, 'cairn_backup_last_success_timestamp_seconds'), last)
        self.assertGreater(value(f, 'cairn_backup_last_run_timestamp_seconds'), last)
        self.assertNotIn('cairn_backup_uploaded_bytes', f)

    def test_3_restore(self):
        path = os.path.join(self.dir, 'restore.prom')
        p, out = self.bed.cairn_json('restore', 'm1', '--into-nonempty', '--metrics-file', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        f = self.read('restore.prom')
        self.assertEqual(value(f, 'cairn_restore_success'), 1)
        self.assertEqual(value(f, 'cairn_restore_files'), out['files'])
        self.assertEqual(value(f, 'cairn_restore_read_bytes'), out['bytes'])
        self.assertEqual(value(f, 'cairn_restore_tables'), out['tables'])
        self.assertEqual(value(f, 'cairn_restore_failed_nodes'), 0)
        self.assertEqual(len(f['cairn_restore_node_bytes']), 2)
        self.assertGreater(value(f, 'cairn_restore_requests', kind='get'), 0)

    def test_4_purge(self):
        path = os.path.join(self.dir, 'purge.prom')
        p, out = self.bed.cairn_json('purge', '--grace', '0', '--metrics-file', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        f = self.read('purge.prom')
        self.assertEqual(value(f, 'cairn_purge_success'), 1)
        self.assertEqual(value(f, 'cairn_purge_removed_bytes'), out['bytes_freed'])
        self.assertEqual(value(f, 'cairn_purge_removed_blobs'), out['blobs_removed'])
        self.assertEqual(value(f, 'cairn_purge_blobs'), out['blobs'])
        self.assertEqual(value(f, 'cairn_purge_backups'), out['backups'])
        self.assertEqual(value(f, 'cairn_purge_dry_run'), 0)
        self.assertEqual(value(f, 'cairn_purge_requests', kind='list'), out['requests']['list'])

    def test_5_verify_good_then_damaged(self):
        path = os.path.join(self.dir, 'verify.prom')
        p, out = self.bed.cairn_json('verify', '--read-data', '--metrics-file', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        f = self.read('verify.prom')
        self.assertEqual(value(f, 'cairn_verify_success'), 1)
        self.assertEqual(value(f, 'cairn_verify_problems'), 0)
        self.assertEqual(value(f, 'cairn_verify_backups'), len(out['backups']))
        self.assertEqual(value(f, 'cairn_verify_read_bytes'), out['bytes_read'])
        good = value(f, 'cairn_verify_last_success_timestamp_seconds')
        # One blob gone: the backup is damaged, verify fails, the problems are counted.
        victim = sorted(repocheck.blobs(self.repo))[0]
        os.unlink(repocheck.blob_path(self.repo, victim))
        p, out = self.bed.cairn_json('verify', '--metrics-file', path)
        self.assertEqual(p.returncode, 1)
        f = self.read('verify.prom')
        self.assertEqual(value(f, 'cairn_verify_success'), 0)
        self.assertGreaterEqual(value(f, 'cairn_verify_problems'), 1)
        self.assertEqual(value(f, 'cairn_verify_problems'),
                         sum(b['missing'] + b['corrupt'] for b in out['backups']))
        self.assertEqual(value(f, 'cairn_verify_damaged_backups'), 1)
        self.assertEqual(value(f, 'cairn_verify_last_success_timestamp_seconds'), good)

    def test_6_unwritable_path_warns_and_keeps_the_exit_code(self):
        path = os.path.join(self.dir, 'missing', 'verify.prom')
        p = self.bed.cairn('purge', '--dry-run', '--metrics-file', path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('warning: the metrics file was not written', p.stderr)
        self.assertIn(path + '.tmp.', p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(path)))


if __name__ == '__main__':
    unittest.main()
