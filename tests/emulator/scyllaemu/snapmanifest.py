"""A snapshot's manifest.json, in the form the node's release writes.

Up to 2025.4 ScyllaDB writes `{"files": [Data.db names]}`. From 2026.1 the document
describes the snapshot: the manifest's own version and scope, the node, the snapshot,
the table (with `tablet_count` for a tablet keyspace's table) and one entry per SSTable
with its id, TOC name, sizes and first and last token. The emulator's SSTables hold
opaque bytes, so an SSTable's token range is the one token its content stands for (the
token load-and-stream routes it by, see node.Node._stream_targets).
"""

import os
import re
import time
import uuid

RICH_FROM = (2026, 1)


def release_tuple(release):
    """(year, minor) of a release string such as '2026.1.0-0.20260110.abc'; (0, 0) when
    it does not parse (an unknown version is treated as an old one)."""
    m = re.match(r'^(\d+)\.(\d+)', release or '')
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def content_token(sha_hex):
    """The Murmur3-range token the emulator gives an SSTable: its Data.db SHA-256's first
    eight bytes, signed."""
    return int.from_bytes(bytes.fromhex(sha_hex[:16]), 'big', signed=True)


def tablet_count(nodes):
    """Tablets per table: the smallest power of two that gives every node one."""
    count = 1
    while count < max(1, nodes):
        count *= 2
    return count


def _size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def document(release, entry, table, tag, ssts, tablets, node_count, sha_of):
    """The manifest.json of one table's snapshot on the node `entry` (its cluster.json
    entry): ssts are the snapshot's SSTables over every data directory, sha_of gives an
    SSTable's Data.db SHA-256."""
    if release_tuple(release) < RICH_FROM:
        return {'files': [s.data_name for s in ssts]}
    table_info = {'keyspace_name': table.keyspace, 'table_name': table.name,
                  'table_id': str(table.id)}
    if tablets:
        table_info['tablet_count'] = tablet_count(node_count)
    out = []
    for s in ssts:
        token = content_token(sha_of(s))
        out.append({'id': str(uuid.uuid5(table.id, s.data_name)),
                    'toc_name': s.prefix + 'TOC.txt',
                    'data_size': _size(s.data_path), 'index_size': _size(s.path('Index.db')),
                    'first_token': token, 'last_token': token})
    return {'manifest': {'version': '1.0', 'scope': 'node'},
            'node': {'host_id': entry['host_id'], 'datacenter': entry['dc'],
                     'rack': entry['rack']},
            'snapshot': {'name': tag, 'created_at': int(time.time())},
            'table': table_info,
            'sstables': out}
