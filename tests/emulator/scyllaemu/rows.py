"""Rows: the one thing the emulator knows of what an SSTable holds, for tests of deletes.

Byte writes (/emulator/write) fill Data.db with opaque bytes. Row writes put records,
framed by a marker, that a read finds again in any Data.db, whole or concatenated by a
compaction. A read merges every record of a table's live SSTables and memtable as
ScyllaDB reconciles one cell: the newest write timestamp wins, a tombstone wins a tie,
and a tombstone hides the key. So a restore that loaded the rows of a backup without
its later tombstones would show the deleted keys again, which is what tests look for.
"""

import json
import struct

MARK = b'\x00\xffcairn-emulator-rows\xff\x00'
_LEN = struct.Struct('>I')


def encode(records):
    """Data.db bytes of records, each [key, timestamp in microseconds, value or None]."""
    payload = json.dumps(records, separators=(',', ':')).encode()
    return MARK + _LEN.pack(len(payload)) + payload


def decode(data):
    """Every record framed in `data`; bytes around the frames are ignored."""
    out = []
    pos = data.find(MARK)
    while pos >= 0:
        start = pos + len(MARK)
        (n,) = _LEN.unpack_from(data, start)
        out.extend(json.loads(data[start + _LEN.size:start + _LEN.size + n]))
        pos = data.find(MARK, start + _LEN.size + n)
    return out


def decode_file(path):
    with open(path, 'rb') as f:
        return decode(f.read())


def merge(records):
    """{key: value} of the keys whose newest record is not a tombstone."""
    newest = {}
    for key, ts, value in records:
        cur = newest.get(key)
        if cur is None or ts > cur[0] or (ts == cur[0] and value is None):
            newest[key] = (ts, value)
    return {k: v for k, (ts, v) in sorted(newest.items()) if v is not None}
