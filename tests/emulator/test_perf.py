"""Write throughput of the emulator: 1 GiB of incompressible data through a real flush.

The target is 300 MB/s; the assertion is looser (150 MB/s) because the machine is
shared and a timed test must not be flaky. The measured figure is printed.
Set CAIRN_EMU_PERF_BYTES to change the amount written.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402
from scyllaemu import sstables                       # noqa: E402

TOTAL = int(os.environ.get('CAIRN_EMU_PERF_BYTES', 1 << 30))
FLOOR_MB_S = 150.0


class WriteThroughputTest(ClusterTestCase):
    def test_flush_throughput(self):
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
        self.assertGreaterEqual(rate, FLOOR_MB_S)
        # Free the disk at once rather than at class teardown.
        for sst in sstables.scan_dir(os.path.dirname(path))[0]:
            sstables.remove_sstable(sst)


if __name__ == '__main__':
    unittest.main()
