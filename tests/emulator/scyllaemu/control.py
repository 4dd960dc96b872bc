"""The emulator's control API, under /emulator/ (a prefix ScyllaDB does not use).

Tests drive the node through it: put data (opaque bytes, or rows and tombstones that
a read merges) in memtables, compact, plant real SSTable sets, inject REST faults, mark
endpoints down, delay schema changes on a node, read a content digest of a table and
the record of load calls. docs/testing.md has the reference.
"""

import os
import time

from . import cqlparse, sstables
from .httpapi import Route
from .node import ApiError


def _table(node, req):
    return node.find_table(req.get('keyspace'), req.get('table'))


def info(node, req):
    live, down = node.live_and_down()
    return {'address': node.address, 'host_id': node.host_id, 'dc': node.dc,
            'rack': node.rack, 'cluster_name': node.cluster_name,
            'rest_port': node.rest_port, 'cql_port': node.cql_port,
            'data_dirs': node.data_dirs, 'pid': os.getpid(), 'uptime': time.time() - node.started,
            'incremental_backups': node.incremental_backups,
            'numeric_generations': node.generations.numeric,
            'auth': node.username is not None, 'live': live, 'down': down,
            'schema_version': str(node.current_schema().version),
            'schema_lag_ms': node.state.schema_lags().get(node.address, 0),
            'loading': node.loading(), 'settings': dict(node.settings)}


def write(node, req):
    table = _table(node, req)
    nbytes = req.int('bytes')
    if nbytes is None or nbytes < 0:
        raise ApiError(400, 'bytes must be a non-negative integer')
    comp = req.float('compressibility', 0.0)
    if not 0.0 <= comp <= 1.0:
        raise ApiError(400, 'compressibility must be between 0.0 and 1.0')
    seed = node.write(table, nbytes, req.int('seed'), comp)
    flushed = node.flush([table]) if req.bool('flush') else []
    return {'seed': seed, 'memtable_bytes': node.memtable_bytes(table),
            'flushed': [s.data_path for s in flushed]}


def write_rows(node, req):
    """put=k1=v1,k2=v2 and delete=k3: values and tombstones, in one batch."""
    table = _table(node, req)
    put = {}
    for item in req.list('put'):
        k, sep, v = item.partition('=')
        if not sep or not k:
            raise ApiError(400, 'put takes key=value items, not %r' % item)
        put[k] = v
    delete = req.list('delete')
    if not put and not delete:
        raise ApiError(400, 'nothing to write: give put=key=value,... or delete=key,...')
    ts = node.write_rows(table, put, delete)
    flushed = node.flush([table]) if req.bool('flush') else []
    return {'timestamp': ts, 'flushed': [s.data_path for s in flushed]}


def read_rows(node, req):
    return {'rows': node.read_rows(_table(node, req))}


def compact(node, req):
    new, old = node.compact(_table(node, req))
    return {'new': new.data_path if new else None, 'removed': [s.data_path for s in old]}


def plant(node, req):
    path = req.get('path')
    if not os.path.isdir(path):
        raise ApiError(400, 'not a directory: %s' % path)
    dest = req.get('dest') or 'live'
    if dest not in ('live', 'upload'):
        raise ApiError(400, 'dest must be live or upload')
    return node.plant(_table(node, req), path, dest)


def add_fault(node, req):
    path = req.get('path')
    if not path.startswith('/') or path.startswith('/emulator/'):
        raise ApiError(400, 'path must be a ScyllaDB API path prefix such as /storage_service/')
    status = req.int('status', 500)
    hang = req.float('hang', 0.0)
    reset = req.bool('reset')
    if status == 0 and not hang and not reset:
        raise ApiError(400, 'a fault needs a status, a hang or reset=true')
    return node.faults.add(req.get('method') or '*', path, req.int('count', 1), status,
                           req.get('message') or 'injected fault', hang, reset)


def list_faults(node, req):
    return node.faults.list()


def clear_faults(node, req):
    node.faults.clear()


def gossip(node, req):
    endpoint = req.get('endpoint')
    state = req.get('state')
    if node.state.node_by_address(endpoint) is None:
        raise ApiError(400, 'unknown endpoint %s' % endpoint)
    if state not in ('up', 'down'):
        raise ApiError(400, 'state must be up or down')
    node.state.set_down(endpoint, state == 'down')
    live, down = node.live_and_down()
    return {'live': live, 'down': down}


def digest(node, req):
    ks, name = req.get('keyspace'), req.get('table')
    if name and not ks:
        raise ApiError(400, 'table needs keyspace')
    if ks and name:
        tables = [node.find_table(ks, name)]
    elif ks:
        tables = node.tables_of(ks)
    else:
        view = node.current_schema()
        tables = [t for t in view.tables if not t.system]
    return {'%s.%s' % (t.keyspace, t.name): node.digest(t) for t in tables}


def list_loads(node, req):
    return node.loads


def clear_loads(node, req):
    node.loads.clear()


def create_table(node, req):
    """Keyspace (SimpleStrategy) and a two-column table, without going through CQL."""
    ks, name = req.get('keyspace'), req.get('table')
    rf = req.int('rf', 1)
    stmts = ["CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'SimpleStrategy', "
             "'replication_factor': %d}" % (cqlparse.quote_ident(ks), rf),
             'CREATE TABLE IF NOT EXISTS %s.%s (pk blob PRIMARY KEY, v blob)%s'
             % (cqlparse.quote_ident(ks), cqlparse.quote_ident(name),
                ' WITH ID = %s' % req.get('id') if req.get('id') else '')]
    for text in stmts:
        try:
            _, created, _ = node.schema.apply(cqlparse.parse(text), None, node.address)
        except cqlparse.CqlError as e:
            raise ApiError(400, e.message)
        node.create_dirs_everywhere(created)
    t = node.find_table(ks, name)
    return {'keyspace': ks, 'table': name, 'id': str(t.id), 'directories': node.table_dirs(t)}


def list_sstables(node, req):
    table = _table(node, req)
    return {'id': str(table.id), 'directories': node.table_dirs(table),
            'memtable_bytes': node.memtable_bytes(table), 'sstables': node.sstable_info(table)}


def settings(node, req):
    """load_delay (seconds each load takes); release_version, which the REST API reports
    and which decides whether DESCRIBE knows auth (auth.py), to play an older ScyllaDB."""
    delay = req.float('load_delay')
    if delay is not None:
        node.settings['load_delay'] = max(0.0, delay)
    release = req.get('release_version')
    if release:
        node.release_version = release
    return dict(node.settings, release_version=node.release_version)


def schema_lag(node, req):
    """This node sees schema changes made through other nodes ms milliseconds late."""
    ms = req.int('ms')
    if ms is None or ms < 0:
        raise ApiError(400, 'ms must be a non-negative integer')
    node.state.set_schema_lag(node.address, ms)
    return {'address': node.address, 'schema_lag_ms': ms}


def stream_in(node, req):
    """Receiving side of load-and-stream (called by the node that got the load)."""
    doc = req.json()
    table = node.find_table(doc.get('keyspace'), doc.get('table'))
    if str(table.id) != doc.get('table_id'):
        raise ApiError(400, 'table %s.%s has id %s here, not %s'
                       % (table.keyspace, table.name, table.id, doc.get('table_id')))
    sources = []
    for toc in doc.get('sources', []):
        directory, name = os.path.split(toc)
        parts = sstables.parse_name(name)
        if not parts or parts[3] != 'TOC.txt':
            raise ApiError(400, 'not a TOC.txt: %s' % toc)
        sources.append(sstables.SSTable(directory, parts[0], parts[1], parts[2],
                                        sstables.read_toc(toc)))
    return {'names': node.stream_in(table, sources)}


KS_TABLE = ['keyspace', 'table']

ROUTES = [
    Route('GET', '/emulator/info', handler=info),
    Route('POST', '/emulator/write', KS_TABLE + ['bytes', 'seed', 'compressibility', 'flush'],
          KS_TABLE + ['bytes'], handler=write),
    Route('POST', '/emulator/rows', KS_TABLE + ['put', 'delete', 'flush'], KS_TABLE,
          handler=write_rows),
    Route('GET', '/emulator/rows', KS_TABLE, KS_TABLE, handler=read_rows),
    Route('POST', '/emulator/compact', KS_TABLE, KS_TABLE, handler=compact),
    Route('POST', '/emulator/plant', KS_TABLE + ['path', 'dest'], KS_TABLE + ['path'],
          handler=plant),
    Route('POST', '/emulator/faults', ['method', 'path', 'count', 'status', 'message', 'hang',
                                       'reset'], ['path'], handler=add_fault),
    Route('GET', '/emulator/faults', handler=list_faults),
    Route('DELETE', '/emulator/faults', handler=clear_faults),
    Route('POST', '/emulator/gossip', ['endpoint', 'state'], ['endpoint', 'state'],
          handler=gossip),
    Route('GET', '/emulator/digest', KS_TABLE, handler=digest),
    Route('GET', '/emulator/loads', handler=list_loads),
    Route('DELETE', '/emulator/loads', handler=clear_loads),
    Route('POST', '/emulator/create_table', KS_TABLE + ['rf', 'id'], KS_TABLE,
          handler=create_table),
    Route('GET', '/emulator/sstables', KS_TABLE, KS_TABLE, handler=list_sstables),
    Route('POST', '/emulator/settings', ['load_delay', 'release_version'], handler=settings),
    Route('POST', '/emulator/schema_lag', ['ms'], ['ms'], handler=schema_lag),
    Route('POST', '/emulator/stream_in', handler=stream_in),
]
