"""A large flush through the emulator: 256 MiB of incompressible data land as one
SSTable of exactly that size, with a valid digest.

The write rate is printed for the record and never asserted: a test on a shared
machine must not depend on its speed (make bench measures speed). Set
CAIRN_EMU_PERF_BYTES to change the amount written.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import sstables                       # noqa: E402

TOTAL = int(os.environ.get('CAIRN_EMU_PERF_BYTES', 256 << 20))


class LargeFlushTest(ClusterTestCase):
    def test_large_flush(self):
        self.make_table('perf', 't')
        # Warm the random pool and the page cache path with a small flush first.
        self.cluster.write('perf', 't', 1 << 20, flush=True)
        t0 = time.monotonic()
        r = self.cluster.write('perf', 't', TOTAL, compressibility=0.0, flush=True)
        elapsed = time.monotonic() - t0
        rate = TOTAL / elapsed / 1e6
        print('\nemulator write throughput: %.0f MB/s (%d MiB incompressible in %.2f s)'
              % (rate, TOTAL >> 20, elapsed), file=sys.stderr)
        path = r['node1']['flushed'][0]
        self.assertEqual(os.stat(path).st_size, TOTAL)
        with open(path.replace('Data.db', 'Digest.crc32')) as f:
            self.assertTrue(f.read().isdigit())
        # Free the disk at once rather than at class teardown.
        for sst in sstables.scan_dir(os.path.dirname(path))[0]:
            sstables.remove_sstable(sst)


if __name__ == '__main__':
    unittest.main()
