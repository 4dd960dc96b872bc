"""SSTable files as ScyllaDB lays them out.

The emulator treats SSTable contents as opaque bytes: only what cairn can observe is
faithful. That is the file names (version, generation, format, component), the set of
components listed in TOC.txt, the write protocol (TOC.txt.tmp renamed to TOC.txt when
the set is sealed), and the checksums: Digest.crc32 holds the decimal zlib CRC-32 of the
whole Data.db and CRC.db the per-64 KiB-chunk CRC-32s of an uncompressed Data.db.

Data.db content is a deterministic function of (seed, compressibility, length) so that
two nodes given the same seed write byte-identical files, which is what the
deduplication tests need. It is produced from a precomputed pool of random bytes with
slicing only, never per-byte Python work, to reach several hundred MB/s.
"""

import hashlib
import os
import random
import re
import struct
import threading
import time
import zlib

# ScyllaDB's own pattern (sstables/sstables.cc): version, generation, format, component.
NAME_RE = re.compile(r'^(la|m[cdest])-([^-]+)-(\w+)-(.*)$')
UUID_GENERATION_RE = re.compile(r'^[0-9a-z]{4}_[0-9a-z]{4}_[0-9a-z]{5}[0-9a-z]{13}$')

CHUNK = 65536                 # CRC.db chunk size, as ScyllaDB writes it
CHUNK_HEADER = 16             # per-chunk (seed, index) stamp that makes every chunk unique
BATCH = 16 * CHUNK            # bytes assembled per write() call
IO_BLOCK = 1 << 20

# The components of an uncompressed `me` SSTable, in the order the emulator lists them.
ME_COMPONENTS = ['Scylla.db', 'CRC.db', 'Filter.db', 'Data.db', 'Summary.db',
                 'Index.db', 'Digest.crc32', 'Statistics.db', 'TOC.txt']


def parse_name(filename):
    """Split an SSTable file name into (version, generation, format, component), or None."""
    m = NAME_RE.match(filename)
    if not m:
        return None
    return m.group(1), m.group(2), m.group(3), m.group(4)


def is_valid_generation(generation):
    return generation.isdigit() or bool(UUID_GENERATION_RE.match(generation))


# --- generations -------------------------------------------------------------------

_UUID_EPOCH_OFFSET = 0x01B21DD213814000   # 100 ns intervals from 1582-10-15 to 1970-01-01
_B36 = '0123456789abcdefghijklmnopqrstuvwxyz'


def _base36(n):
    if n == 0:
        return '0'
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return ''.join(reversed(out))


def uuid_generation(timestamp_100ns, lsb):
    """Encode a time-UUID generation the way ScyllaDB (and Cassandra 4.1+) names files.

    `dddd_ssss_xxxxx` + 13 chars: days, seconds of the day and 100 ns fraction of the
    UUID timestamp (counted from 1582-10-15), then the UUID's least significant 64 bits,
    all in zero-padded base 36.
    """
    days, rem = divmod(timestamp_100ns, 86400 * 10**7)
    secs, frac = divmod(rem, 10**7)
    return '%s_%s_%s%s' % (_base36(days).rjust(4, '0'), _base36(secs).rjust(4, '0'),
                           _base36(frac).rjust(5, '0'), _base36(lsb).rjust(13, '0'))


def decode_uuid_generation(generation):
    """Return (timestamp_100ns, lsb) of a UUID generation string."""
    if not UUID_GENERATION_RE.match(generation):
        raise ValueError('not a UUID generation: %r' % generation)
    days = int(generation[0:4], 36)
    secs = int(generation[5:9], 36)
    frac = int(generation[10:15], 36)
    lsb = int(generation[15:], 36)
    return (days * 86400 + secs) * 10**7 + frac, lsb


class GenerationAllocator:
    """Hands out new generations for one node: time-UUIDs by default, integers on request.

    UUID generations are unique across nodes by construction (each node draws its own
    random least significant bits), so files streamed between nodes never collide.
    Numeric ones are one more than the largest number seen in the target directories,
    as ScyllaDB does at boot, and never reused within the process.
    """

    def __init__(self, numeric=False):
        self.numeric = numeric
        self._lock = threading.Lock()
        # Random least significant bits with the RFC 4122 variant, as a time-UUID has.
        self._lsb = (int.from_bytes(os.urandom(8), 'big') & ~(3 << 62)) | (2 << 62)
        self._last_ts = 0
        self._counter = 0

    def next(self, directories=()):
        with self._lock:
            if self.numeric:
                highest = self._counter
                for d in directories:
                    highest = max(highest, _highest_numeric_generation(d))
                self._counter = highest + 1
                return str(self._counter)
            ts = time.time_ns() // 100 + _UUID_EPOCH_OFFSET
            if ts <= self._last_ts:
                ts = self._last_ts + 1          # strictly increasing within the process
            self._last_ts = ts
            return uuid_generation(ts, self._lsb)


def _highest_numeric_generation(directory):
    highest = 0
    for sub in ('', 'backups', 'upload', 'staging'):
        try:
            names = os.listdir(os.path.join(directory, sub))
        except OSError:
            continue
        for name in names:
            parts = parse_name(name)
            if parts and parts[1].isdigit():
                highest = max(highest, int(parts[1]))
    return highest


# --- content -----------------------------------------------------------------------

_POOL_SIZE = 32 << 20
_pool = None
_pool_lock = threading.Lock()
_FILLER = (b'cairn emulator compressible filler; ' * (CHUNK // 32 + 1))[:CHUNK]


def _random_pool():
    """32 MiB of random bytes, the same in every process (fixed seed), built on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = memoryview(random.Random(0x5c711a).randbytes(_POOL_SIZE))
        return _pool


def generate_data(seed, compressibility, nbytes):
    """Yield the Data.db bytes of one memtable segment, in pieces of up to BATCH bytes.

    Every 64 KiB chunk starts with a 16-byte (seed, chunk index) stamp, so distinct
    seeds or positions never produce identical chunks; the rest is random bytes read
    sequentially from the pool (no repeat within 32 MiB, beyond any zstd window) for the
    incompressible share and a repeated text for the compressible share.
    """
    if nbytes <= 0:
        return
    c = min(1.0, max(0.0, float(compressibility)))
    random_len = int(round((1.0 - c) * (CHUNK - CHUNK_HEADER)))
    filler_len = CHUNK - CHUNK_HEADER - random_len
    pool = _random_pool() if random_len else None
    span = _POOL_SIZE - CHUNK
    pos = (seed * 2654435761) % span if pool is not None else 0
    seed64 = seed & 0xFFFFFFFFFFFFFFFF
    filler = memoryview(_FILLER)
    index = 0
    remaining = nbytes
    while remaining > 0:
        size = min(BATCH, remaining)
        buf = bytearray(-(-size // CHUNK) * CHUNK)
        view = memoryview(buf)
        for off in range(0, len(buf), CHUNK):
            view[off:off + CHUNK_HEADER] = struct.pack('>QQ', seed64, index)
            o = off + CHUNK_HEADER
            if random_len:
                if pos + random_len > _POOL_SIZE:
                    pos = 0
                view[o:o + random_len] = pool[pos:pos + random_len]
                pos += random_len
                o += random_len
            if filler_len:
                view[o:o + filler_len] = filler[:filler_len]
            index += 1
        yield view[:size]
        remaining -= size


def read_pieces(path, block=IO_BLOCK):
    """Yield the bytes of a file in blocks (used to merge SSTables and to checksum them)."""
    with open(path, 'rb') as f:
        while True:
            b = f.read(block)
            if not b:
                return
            yield b


class ChunkedCrc:
    """CRC-32 of the whole stream and of each CHUNK-aligned chunk, fed incrementally."""

    def __init__(self):
        self.whole = 0
        self.chunks = []
        self._cur = 0
        self._cur_len = 0
        self.size = 0

    def update(self, data):
        view = memoryview(data)
        self.whole = zlib.crc32(view, self.whole)
        self.size += len(view)
        pos, n = 0, len(view)
        while pos < n:
            take = min(CHUNK - self._cur_len, n - pos)
            self._cur = zlib.crc32(view[pos:pos + take], self._cur)
            self._cur_len += take
            pos += take
            if self._cur_len == CHUNK:
                self.chunks.append(self._cur)
                self._cur, self._cur_len = 0, 0

    def finish(self):
        if self._cur_len:
            self.chunks.append(self._cur)
            self._cur, self._cur_len = 0, 0
        return self


# --- SSTable sets on disk ------------------------------------------------------------

class SSTable:
    """One SSTable: a directory, a name prefix and the components its TOC lists."""

    def __init__(self, directory, version, generation, fmt, components):
        self.directory = directory
        self.version = version
        self.generation = generation
        self.format = fmt
        self.components = list(components)

    @property
    def prefix(self):
        return '%s-%s-%s-' % (self.version, self.generation, self.format)

    def path(self, component):
        return os.path.join(self.directory, self.prefix + component)

    @property
    def data_name(self):
        return self.prefix + 'Data.db'

    @property
    def data_path(self):
        return self.path('Data.db')

    def files(self):
        return [self.prefix + c for c in self.components]

    def size(self):
        total = 0
        for c in self.components:
            try:
                total += os.stat(self.path(c)).st_size
            except OSError:
                pass
        return total

    def __repr__(self):
        return 'SSTable(%s)' % os.path.join(self.directory, self.prefix + '*')


def read_toc(path):
    with open(path, 'r', encoding='utf-8', errors='replace') as f:
        return [line.strip() for line in f.read().splitlines() if line.strip()]


def scan_dir(directory):
    """Return (complete SSTables, names of files that belong to no complete set).

    A set is complete when its TOC.txt exists and no TOC.txt.tmp does, as ScyllaDB
    decides at boot. Sorted by name for stable results.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return [], []
    groups = {}
    stray = []
    for name in names:
        if os.path.isdir(os.path.join(directory, name)):
            continue
        parts = parse_name(name)
        if not parts:
            stray.append(name)
            continue
        groups.setdefault(parts[:3], set()).add(parts[3])
    complete = []
    for key in sorted(groups):
        comps = groups[key]
        if 'TOC.txt' in comps and 'TOC.txt.tmp' not in comps:
            sst = SSTable(directory, key[0], key[1], key[2], [])
            try:
                sst.components = read_toc(sst.path('TOC.txt'))
            except OSError:
                stray.extend(sst.prefix + c for c in comps)
                continue
            complete.append(sst)
        else:
            prefix = '%s-%s-%s-' % key
            stray.extend(prefix + c for c in comps)
    return complete, sorted(stray)


def _write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def _toc_text(components):
    return ''.join(c + '\n' for c in components).encode()


def write_sstable(directory, version, generation, pieces):
    """Write a new uncompressed SSTable whose Data.db is the concatenation of `pieces`.

    Follows ScyllaDB's protocol: TOC.txt.tmp first, then the components, then the
    rename to TOC.txt that makes the set visible. The small components are opaque
    bytes derived from the Data.db checksum, so the whole set is deterministic.
    """
    sst = SSTable(directory, version, generation, 'big', ME_COMPONENTS)
    _write_file(sst.path('TOC.txt.tmp'), _toc_text(ME_COMPONENTS))
    crc = ChunkedCrc()
    fd = os.open(sst.data_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for piece in pieces:
            crc.update(piece)
            view = memoryview(piece)
            while view:
                n = os.write(fd, view)
                view = view[n:]
    finally:
        os.close(fd)
    crc.finish()
    _write_file(sst.path('CRC.db'), struct.pack('>I', CHUNK) +
                struct.pack('>%dI' % len(crc.chunks), *crc.chunks))
    _write_file(sst.path('Digest.crc32'), str(crc.whole).encode())
    rng = random.Random((crc.whole << 64) | crc.size)
    size = crc.size
    _write_file(sst.path('Index.db'), rng.randbytes(8 + size // 2048))
    _write_file(sst.path('Summary.db'), rng.randbytes(56 + 8 * (size // (1 << 22))))
    _write_file(sst.path('Filter.db'), rng.randbytes(16 + size // 16384))
    _write_file(sst.path('Statistics.db'), rng.randbytes(4600 + rng.randrange(400)))
    _write_file(sst.path('Scylla.db'), rng.randbytes(380 + rng.randrange(40)))
    os.rename(sst.path('TOC.txt.tmp'), sst.path('TOC.txt'))
    return sst


def copy_sstable(src, directory, generation, link=False):
    """Place a copy of `src` (any version) in `directory` under a new generation.

    The bytes are unchanged and the version letters kept. With link=True the files are
    hard links (a refresh moves files; load-and-stream writes new ones). The TOC goes
    in first as TOC.txt.tmp and is renamed last, so a concurrent scan never sees a
    half-copied set.
    """
    dst = SSTable(directory, src.version, generation, src.format, src.components)
    with open(src.path('TOC.txt'), 'rb') as f:
        _write_file(dst.path('TOC.txt.tmp'), f.read())
    for comp in src.components:
        if comp == 'TOC.txt':
            continue
        if link:
            os.link(src.path(comp), dst.path(comp))
        else:
            _copy_file(src.path(comp), dst.path(comp))
    os.rename(dst.path('TOC.txt.tmp'), dst.path('TOC.txt'))
    return dst


def _copy_file(src, dst):
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with open(src, 'rb') as f:
            while True:
                b = f.read(IO_BLOCK)
                if not b:
                    break
                view = memoryview(b)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
    finally:
        os.close(fd)


def link_sstable(sst, directory):
    """Hard-link every component of `sst` into `directory` (snapshots, backups)."""
    os.makedirs(directory, exist_ok=True)
    for name in sst.files():
        dst = os.path.join(directory, name)
        if not os.path.exists(dst):
            os.link(os.path.join(sst.directory, name), dst)


def remove_sstable(sst):
    """Delete a set as ScyllaDB does: TOC.txt → TOC.txt.tmp first, the TOC last."""
    try:
        os.rename(sst.path('TOC.txt'), sst.path('TOC.txt.tmp'))
    except FileNotFoundError:
        pass
    for comp in sst.components:
        if comp != 'TOC.txt':
            try:
                os.unlink(sst.path(comp))
            except FileNotFoundError:
                pass
    try:
        os.unlink(sst.path('TOC.txt.tmp'))
    except FileNotFoundError:
        pass


def file_sha256(path):
    h = hashlib.sha256()
    for b in read_pieces(path):
        h.update(b)
    return h.hexdigest()


def verify_sstable(sst):
    """Check a set as a load would: every TOC component present, Data.db CRC matches.

    Returns (sha256 of Data.db, Data.db size); raises ValueError with the reason.
    """
    for comp in sst.components:
        if not os.path.isfile(sst.path(comp)):
            raise ValueError('%s: component %s listed in TOC.txt is missing'
                             % (sst.prefix + 'TOC.txt', comp))
    if 'Data.db' not in sst.components:
        raise ValueError('%s: TOC.txt does not list Data.db' % (sst.prefix + 'TOC.txt'))
    h = hashlib.sha256()
    crc = 0
    size = 0
    for b in read_pieces(sst.data_path):
        h.update(b)
        crc = zlib.crc32(b, crc)
        size += len(b)
    if 'Digest.crc32' in sst.components:
        with open(sst.path('Digest.crc32'), 'rb') as f:
            text = f.read().strip()
        try:
            expected = int(text)
        except ValueError:
            raise ValueError('%s: not a number: %r' % (sst.prefix + 'Digest.crc32', text[:32]))
        if expected != crc:
            raise ValueError('%s: checksum mismatch: Digest.crc32 says %d, Data.db has %d'
                             % (sst.data_name, expected, crc))
    return h.hexdigest(), size
