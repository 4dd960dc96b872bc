"""Unit tests of the SSTable writer: names, generations, checksums, write protocol."""

import os
import shutil
import struct
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scyllaemu import sstables                       # noqa: E402


class GenerationTest(unittest.TestCase):
    def test_readme_example_round_trips(self):
        g = '3gsm_0lob_1zdg02we44my8dy25w'
        ts, lsb = sstables.decode_uuid_generation(g)
        self.assertEqual(sstables.uuid_generation(ts, lsb), g)

    def test_new_uuid_generations_parse_and_increase(self):
        alloc = sstables.GenerationAllocator()
        gens = [alloc.next() for _ in range(100)]
        self.assertEqual(len(set(gens)), 100)
        for g in gens:
            self.assertTrue(sstables.UUID_GENERATION_RE.match(g), g)
            self.assertEqual(len(g), 28)
            name = 'me-%s-big-Data.db' % g
            self.assertEqual(sstables.parse_name(name), ('me', g, 'big', 'Data.db'))
        stamps = [sstables.decode_uuid_generation(g)[0] for g in gens]
        self.assertEqual(stamps, sorted(stamps))

    def test_numeric_generations_follow_the_directory(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        open(os.path.join(tmp, 'me-41-big-Data.db'), 'w').close()
        os.mkdir(os.path.join(tmp, 'backups'))
        open(os.path.join(tmp, 'backups', 'me-57-big-Data.db'), 'w').close()
        alloc = sstables.GenerationAllocator(numeric=True)
        self.assertEqual(alloc.next([tmp]), '58')
        self.assertEqual(alloc.next([tmp]), '59')

    def test_name_pattern(self):
        self.assertEqual(sstables.parse_name('mc-5-big-CompressionInfo.db'),
                         ('mc', '5', 'big', 'CompressionInfo.db'))
        self.assertIsNone(sstables.parse_name('manifest.json'))
        self.assertIsNone(sstables.parse_name('xx-5-big-Data.db'))


class WriterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def write(self, seed=1, comp=0.0, size=300000, gen='1', version='me'):
        return sstables.write_sstable(self.tmp, version, gen,
                                      sstables.generate_data(seed, comp, size))

    def test_components_and_checksums(self):
        sst = self.write(size=3 * 65536 + 123)
        names = sorted(os.listdir(self.tmp))
        self.assertEqual(names, sorted('me-1-big-' + c for c in sstables.ME_COMPONENTS))
        with open(sst.path('TOC.txt'), 'rb') as f:
            toc = f.read()
        self.assertTrue(toc.endswith(b'\n'))
        self.assertEqual(sorted(toc.decode().splitlines()), sorted(sstables.ME_COMPONENTS))
        with open(sst.data_path, 'rb') as f:
            data = f.read()
        self.assertEqual(len(data), 3 * 65536 + 123)
        with open(sst.path('Digest.crc32'), 'rb') as f:
            digest = f.read()
        self.assertEqual(digest, str(zlib.crc32(data)).encode())     # decimal, no newline
        with open(sst.path('CRC.db'), 'rb') as f:
            crc = f.read()
        self.assertEqual(struct.unpack('>I', crc[:4])[0], 65536)
        chunks = [zlib.crc32(data[i:i + 65536]) for i in range(0, len(data), 65536)]
        self.assertEqual(list(struct.unpack('>%dI' % len(chunks), crc[4:])), chunks)
        self.assertEqual(sstables.verify_sstable(sst)[1], len(data))

    def test_content_is_deterministic_and_seed_dependent(self):
        a = b''.join(bytes(p) for p in sstables.generate_data(7, 0.0, 200000))
        b = b''.join(bytes(p) for p in sstables.generate_data(7, 0.0, 200000))
        c = b''.join(bytes(p) for p in sstables.generate_data(8, 0.0, 200000))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertEqual(len(a), 200000)

    def test_compressibility_knob(self):
        def ratio(comp):
            data = b''.join(bytes(p) for p in sstables.generate_data(3, comp, 1 << 20))
            return len(zlib.compress(data, 1)) / len(data)
        self.assertGreater(ratio(0.0), 0.99)
        self.assertLess(ratio(0.5), 0.6)
        self.assertLess(ratio(1.0), 0.05)

    def test_incomplete_sets_are_not_listed(self):
        self.write(gen='1')
        sst2 = self.write(gen='2', seed=2)
        os.rename(sst2.path('TOC.txt'), sst2.path('TOC.txt.tmp'))
        open(os.path.join(self.tmp, 'junk.txt'), 'w').close()
        complete, stray = sstables.scan_dir(self.tmp)
        self.assertEqual([s.generation for s in complete], ['1'])
        self.assertIn('junk.txt', stray)
        self.assertIn('me-2-big-Data.db', stray)

    def test_verify_detects_corruption_and_missing_component(self):
        sst = self.write()
        with open(sst.data_path, 'r+b') as f:
            f.seek(1000)
            f.write(b'\xff\xfe')
        with self.assertRaisesRegex(ValueError, 'checksum mismatch'):
            sstables.verify_sstable(sst)
        sst2 = self.write(gen='2')
        os.unlink(sst2.path('Index.db'))
        with self.assertRaisesRegex(ValueError, 'Index.db listed in TOC.txt is missing'):
            sstables.verify_sstable(sst2)

    def test_copy_link_and_remove(self):
        sst = self.write()
        other = os.path.join(self.tmp, 'other')
        os.mkdir(other)
        copied = sstables.copy_sstable(sst, other, '9')
        linked = sstables.copy_sstable(sst, other, '10', link=True)
        self.assertNotEqual(os.stat(copied.data_path).st_ino, os.stat(sst.data_path).st_ino)
        self.assertEqual(os.stat(linked.data_path).st_ino, os.stat(sst.data_path).st_ino)
        sstables.remove_sstable(copied)
        self.assertEqual(sorted(os.listdir(other)), sorted(linked.files()))


if __name__ == '__main__':
    unittest.main()
