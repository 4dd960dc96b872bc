"""One emulated node: its identity, memtables and everything it does to its data dirs.

The SSTables of a table are never cached: every operation scans the table's
directories, so files that another node streamed in, or that a test planted, are
seen at once. Disk-changing operations of this node take one lock, which keeps a
snapshot from linking files that a compaction is deleting.
"""

import hashlib
import http.client
import itertools
import json
import os
import shutil
import threading
import time
import uuid

from . import rows, snapmanifest, sstables, views
from .ring import Ring, tokens_for
from .schema import SchemaStore, table_dirs
from .sharedstate import ClusterState

DEFAULT_RELEASE = '2025.1.0-0.20250130.abc'
NEW_SSTABLE_VERSION = 'me'


class ApiError(Exception):
    """An error answered as ScyllaDB's REST API does: {"message": ..., "code": status}."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class LoadFailed(Exception):
    pass


class Faults:
    """Injected REST failures: the next `count` calls matching method + path prefix."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._ids = itertools.count(1)

    def add(self, method, path, count=1, status=500, message='injected fault', hang=0.0,
            reset=False):
        with self._lock:
            f = {'id': next(self._ids), 'method': method.upper() if method else '*',
                 'path': path, 'count': int(count), 'status': int(status),
                 'message': message, 'hang': float(hang), 'reset': bool(reset), 'hits': 0}
            self._faults.append(f)
            return dict(f)

    def take(self, method, path):
        with self._lock:
            for f in self._faults:
                if f['count'] > 0 and f['method'] in ('*', method) and path.startswith(f['path']):
                    f['count'] -= 1
                    f['hits'] += 1
                    return dict(f)
        return None

    def list(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults.clear()


class Node:
    def __init__(self, address, rest_port, cql_port, host_id, dc, rack, cluster_name,
                 data_dirs, cluster_file=None, username=None, password=None,
                 numeric_generations=False, release_version=DEFAULT_RELEASE,
                 incremental_backups=False, num_tokens=16):
        self.address = address
        self.rest_port = rest_port
        self.cql_port = cql_port
        self.host_id = str(uuid.UUID(str(host_id)))
        self.dc = dc
        self.rack = rack
        self.cluster_name = cluster_name
        self.data_dirs = [os.path.abspath(d) for d in data_dirs]
        self.username = username
        self.password = password
        self.release_version = release_version
        self.incremental_backups = incremental_backups
        self.started = time.time()
        self_entry = {'name': address, 'address': address, 'rest_port': rest_port,
                      'cql_port': cql_port, 'host_id': self.host_id, 'dc': dc, 'rack': rack,
                      'data_dirs': self.data_dirs, 'cluster_name': cluster_name,
                      'tokens': [str(t) for t in tokens_for(self.host_id, num_tokens)]}
        self.state = ClusterState(cluster_file, self_entry)
        self.schema = SchemaStore(self.state.schema, self.state.schema_lags)
        self.generations = sstables.GenerationAllocator(numeric_generations)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.loads = []
        self._loading = threading.Lock()
        self.settings = {'load_delay': 0.0}
        self._memtables = {}           # table id -> [segment] (see _pieces)
        self._last_ts = 0              # microseconds of the last row write
        self._memtable_lock = threading.Lock()
        self._next_dir = {}            # table id -> data dir index for the next SSTable
        self._seeds = itertools.count(1)
        self.tombstone_gc_off = set()  # table ids (a runtime switch: a restart clears it)
        self.views = views.ViewBuilder(self)
        for d in self.data_dirs:
            os.makedirs(d, exist_ok=True)
        self.ensure_dirs(self.schema.current().tables)

    # --- identity and ring ----------------------------------------------------------

    @property
    def self_entry(self):
        return self.state.node_by_address(self.address)

    def tokens(self):
        return [str(t) for t in self.self_entry.get('tokens') or []]

    def ring(self):
        return Ring(self.state.nodes())

    def live_and_down(self):
        down = self.state.down()
        addrs = [n['address'] for n in self.state.nodes()]
        return [a for a in addrs if a not in down], [a for a in addrs if a in down]

    # --- schema lookups ---------------------------------------------------------------

    def schema_of(self, address):
        """The schema as the node at address sees it (its lag applied)."""
        return self.schema.view_for(address, self.state.schema_lags().get(address, 0))

    def current_schema(self):
        view = self.schema_of(self.address)
        with self._memtable_lock:
            if self._memtables:
                known = {t.id for t in view.tables}
                for tid in [t for t in self._memtables if t not in known]:
                    del self._memtables[tid]     # the table was dropped
        return view

    def find_keyspace(self, name):
        ks = self.current_schema().keyspace(name)
        if ks is None:
            raise ApiError(400, "Can't find a keyspace %s" % name)
        return ks

    def find_table(self, keyspace, name):
        self.find_keyspace(keyspace)
        t = self.current_schema().table(keyspace, name)
        if t is None:
            raise ApiError(400, "Can't find a column family %s in keyspace %s" % (name, keyspace))
        return t

    def tables_of(self, keyspace, names=None):
        """The named tables of a keyspace (all when names is empty); unknown → 400."""
        self.find_keyspace(keyspace)
        if names:
            return [self.find_table(keyspace, n) for n in names]
        return self.current_schema().tables_of(keyspace)

    def table_dirs(self, table):
        return table_dirs(self.data_dirs, table)

    def ensure_dirs(self, tables, data_dirs=None):
        """Create the table directories (with upload/ and staging/, as ScyllaDB does)."""
        for t in tables:
            for d in table_dirs(data_dirs or self.data_dirs, t):
                os.makedirs(os.path.join(d, 'upload'), exist_ok=True)
                os.makedirs(os.path.join(d, 'staging'), exist_ok=True)

    def live_sstables(self, table):
        out = []
        for d in self.table_dirs(table):
            out.extend(sstables.scan_dir(d)[0])
        return out

    def _pick_dir(self, table):
        """Spread a table's new SSTables over the data directories in turn."""
        dirs = self.table_dirs(table)
        i = self._next_dir.get(table.id, 0)
        self._next_dir[table.id] = (i + 1) % len(dirs)
        os.makedirs(dirs[i], exist_ok=True)
        return dirs[i]

    # --- memtables, flush, compaction -------------------------------------------------

    def default_seed(self):
        n = next(self._seeds)
        return int(hashlib.sha256(('%s:%d' % (self.host_id, n)).encode()).hexdigest()[:16], 16)

    def write(self, table, nbytes, seed=None, compressibility=0.0):
        if seed is None:
            seed = self.default_seed()
        self._append(table, ('bytes', int(seed), int(nbytes), float(compressibility)))
        return seed

    def _append(self, table, segment):
        """A write to the memtable of table and of each view built from it."""
        targets = [table] + views.dependents(self.current_schema(), table)
        with self._memtable_lock:
            for t in targets:
                self._memtables.setdefault(t.id, []).append(segment)

    def write_rows(self, table, put, delete):
        """Values for keys and tombstones for others, at one timestamp (a batch)."""
        with self._memtable_lock:
            self._last_ts = max(self._last_ts + 1, time.time_ns() // 1000)
            records = [[k, self._last_ts, v] for k, v in sorted(put.items())]
            records += [[k, self._last_ts, None] for k in sorted(delete)]
            ts = self._last_ts
        self._append(table, ('rows', rows.encode(records)))
        return ts

    def read_rows(self, table):
        """What a read of the table at this node returns: {key: value}."""
        with self.lock:
            records = [r for s in self.live_sstables(table)
                       for r in rows.decode_file(s.data_path)]
        with self._memtable_lock:
            records += [r for seg in self._memtables.get(table.id, []) if seg[0] == 'rows'
                        for r in rows.decode(seg[1])]
        return rows.merge(records)

    @staticmethod
    def _pieces(segment):
        """Data.db bytes of a memtable segment: ('bytes', seed, nbytes, compressibility)
        or ('rows', encoded records)."""
        if segment[0] == 'rows':
            return [segment[1]]
        _, seed, nbytes, comp = segment
        return sstables.generate_data(seed, comp, nbytes)

    @staticmethod
    def _size(segment):
        return len(segment[1]) if segment[0] == 'rows' else segment[2]

    def memtable_bytes(self, table):
        with self._memtable_lock:
            return sum(self._size(s) for s in self._memtables.get(table.id, []))

    def flush(self, tables):
        """Seal each non-empty memtable into one new SSTable; return the new ones."""
        out = []
        with self.lock:
            for t in tables:
                with self._memtable_lock:
                    segments = self._memtables.pop(t.id, [])
                if not any(self._size(s) for s in segments):
                    continue
                directory = self._pick_dir(t)
                gen = self.generations.next(self.table_dirs(t))
                pieces = itertools.chain.from_iterable(self._pieces(s) for s in segments)
                sst = sstables.write_sstable(directory, NEW_SSTABLE_VERSION, gen, pieces)
                if self.incremental_backups:
                    sstables.link_sstable(sst, os.path.join(directory, 'backups'))
                out.append(sst)
        return out

    def write_view_sstable(self, view, pieces):
        """A view's share of a build or of loaded SSTables, sealed at once (the caller
        holds self.lock)."""
        directory = self._pick_dir(view)
        sst = sstables.write_sstable(directory, NEW_SSTABLE_VERSION,
                                     self.generations.next(self.table_dirs(view)), pieces)
        if self.incremental_backups:
            sstables.link_sstable(sst, os.path.join(directory, 'backups'))

    def copy_memtable(self, base, view):
        """The base's unflushed writes into a view being built, but for those written
        since the view exists (_append gave them to it already)."""
        with self._memtable_lock:
            mine = self._memtables.setdefault(view.id, [])
            have = {id(seg) for seg in mine}
            mine.extend(seg for seg in self._memtables.get(base.id, []) if id(seg) not in have)

    def compact(self, table):
        """Major compaction: all live SSTables of the table become one new SSTable."""
        with self.lock:
            old = self.live_sstables(table)
            if not old:
                return None, []
            directory = self._pick_dir(table)
            gen = self.generations.next(self.table_dirs(table))
            pieces = itertools.chain.from_iterable(sstables.read_pieces(s.data_path) for s in old)
            new = sstables.write_sstable(directory, NEW_SSTABLE_VERSION, gen, pieces)
            for s in old:
                sstables.remove_sstable(s)
            return new, old

    # --- snapshots ----------------------------------------------------------------------

    def snapshot(self, tag, keyspaces, tables, skip_flush):
        if not tag:
            raise ApiError(500, 'You must supply a snapshot name.')
        if '/' in tag or tag in ('.', '..'):
            raise ApiError(400, 'Invalid snapshot name: %s' % tag)
        if tables and len(keyspaces) != 1:
            raise ApiError(400, 'Only one keyspace allowed when specifying a column family')
        view = self.current_schema()
        if not keyspaces:
            keyspaces = sorted(view.keyspaces)
        targets = []
        for ks in keyspaces:
            targets.append((ks, self.tables_of(ks, tables)))
        with self.lock:
            for ks, ts in targets:
                for t in ts:
                    for d in self.table_dirs(t):
                        if os.path.exists(os.path.join(d, 'snapshots', tag)):
                            raise ApiError(500, 'Keyspace %s: snapshot %s already exists.'
                                           % (ks, tag))
            if not skip_flush:
                self.flush([t for _, ts in targets for t in ts])
            for _, ts in targets:
                for t in ts:
                    self._snapshot_table(t, tag)

    def _snapshot_table(self, table, tag, dirs=None, entry=None):
        """Links the table's SSTables into snapshots/<tag> of each directory (dirs: of
        the node `entry`, this one when None), with schema.cql and manifest.json.

        The old manifest.json lists the Data.db files of its own directory; the 2026.1
        form describes the table's whole snapshot, once, in the first directory."""
        statement = table.create_statement(internals=True) + ';\n'
        entry = entry or self.self_entry
        ks = self.current_schema().keyspace(table.keyspace)   # None once DROP KEYSPACE ran
        tablets = bool(ks and ks.tablets)
        rich = snapmanifest.release_tuple(self.release_version) >= snapmanifest.RICH_FROM
        snapdirs, every = [], []
        for d in dirs if dirs is not None else self.table_dirs(table):
            live, _ = sstables.scan_dir(d)
            snapdir = os.path.join(d, 'snapshots', tag)
            os.makedirs(snapdir, exist_ok=True)
            for s in live:
                sstables.link_sstable(s, snapdir)
            with open(os.path.join(snapdir, 'schema.cql'), 'w') as f:
                f.write(statement)
            snapdirs.append(snapdir)
            every.extend(live)
            if not rich:
                self._write_manifest(snapdir, entry, table, tag, live, tablets)
        if rich and snapdirs:
            self._write_manifest(snapdirs[0], entry, table, tag, every, tablets)

    def _write_manifest(self, snapdir, entry, table, tag, ssts, tablets):
        doc = snapmanifest.document(self.release_version, entry, table, tag, ssts, tablets,
                                    len(self.state.nodes()),
                                    lambda s: sstables.file_sha256(s.data_path))
        with open(os.path.join(snapdir, 'manifest.json'), 'w') as f:
            json.dump(doc, f)

    def _table_dirs_on_disk(self, keyspaces=None):
        """(keyspace, table name, directory) of every table directory, dropped ones too."""
        for dd in self.data_dirs:
            try:
                ks_names = sorted(os.listdir(dd))
            except OSError:
                continue
            for ks in ks_names:
                if keyspaces and ks not in keyspaces:
                    continue
                kdir = os.path.join(dd, ks)
                if not os.path.isdir(kdir):
                    continue
                for tdir in sorted(os.listdir(kdir)):
                    name, sep, tid = tdir.rpartition('-')
                    if sep and len(tid) == 32:
                        yield ks, name, os.path.join(kdir, tdir)

    def snapshot_details(self):
        """GET /storage_service/snapshots: per tag, per table, total and live bytes.

        `live` counts the bytes of snapshot files no longer present in the table
        directory, i.e. what the snapshot alone keeps on disk.
        """
        details = {}
        for ks, cf, tdir in self._table_dirs_on_disk():
            sdir = os.path.join(tdir, 'snapshots')
            try:
                tags = sorted(os.listdir(sdir))
            except OSError:
                continue
            for tag in tags:
                total = live = 0
                try:
                    names = os.listdir(os.path.join(sdir, tag))
                except OSError:
                    continue                  # deleted meanwhile
                for name in names:
                    if name in ('manifest.json', 'schema.cql'):
                        continue
                    try:
                        size = os.stat(os.path.join(sdir, tag, name)).st_size
                    except OSError:
                        continue
                    total += size
                    if not os.path.exists(os.path.join(tdir, name)):
                        live += size
                entry = details.setdefault(tag, {}).setdefault((ks, cf), [0, 0])
                entry[0] += total
                entry[1] += live
        return [{'key': tag, 'value': [{'ks': ks, 'cf': cf, 'total': v[0], 'live': v[1]}
                                       for (ks, cf), v in sorted(tables.items())]}
                for tag, tables in sorted(details.items())]

    def clear_snapshots(self, tag, keyspaces, table):
        for ks in keyspaces:
            self.find_keyspace(ks)
        with self.lock:
            for ks, cf, tdir in self._table_dirs_on_disk(keyspaces or None):
                if table and cf != table:
                    continue
                sdir = os.path.join(tdir, 'snapshots')
                if tag:
                    if os.path.isdir(os.path.join(sdir, tag)):
                        shutil.rmtree(os.path.join(sdir, tag))
                elif os.path.isdir(sdir):
                    for t in os.listdir(sdir):
                        shutil.rmtree(os.path.join(sdir, t))

    # --- DROP: what every node does with the directories of a dropped table -------------

    def retire_tables(self, tables):
        """Auto-snapshot then delete the SSTables of dropped tables, on every node.

        ScyllaDB (auto_snapshot: true) snapshots a table as `<millis>-<table>` before
        dropping it and leaves the directory in place. The node that ran the DROP does
        this for the whole cluster so the result is visible as soon as DROP returns.
        """
        tag_time = int(time.time() * 1000)
        for n in self.state.nodes():
            dirs = n.get('data_dirs') or []
            for t in tables:
                tdirs = table_dirs(dirs, t)
                tag = '%d-%s' % (tag_time, t.name)
                with self.lock:
                    self._snapshot_table(t, tag, [d for d in tdirs if os.path.isdir(d)], n)
                    for d in tdirs:
                        for s in sstables.scan_dir(d)[0]:
                            sstables.remove_sstable(s)

    def create_dirs_everywhere(self, tables):
        for n in self.state.nodes():
            self.ensure_dirs(tables, n.get('data_dirs') or None)

    # --- loading from upload/ -----------------------------------------------------------

    def load(self, keyspace, cf, load_and_stream=False, primary_replica_only=False,
             skip_cleanup=False, skip_reshape=False, scope=None):
        table = self.find_table(keyspace, cf)
        if table.kind in views.VIEW_KINDS:
            raise ApiError(500, 'Failed to load new sstables: %s.%s is a materialized view: '
                           'its SSTables cannot be loaded, ScyllaDB builds it from its base '
                           'table' % (keyspace, cf))
        if load_and_stream and (skip_cleanup or skip_reshape):
            raise ApiError(400, 'skip_cleanup and skip_reshape cannot be used with '
                           'load_and_stream')
        if scope not in (None, '', 'all', 'dc', 'rack', 'node'):
            raise ApiError(400, 'Invalid scope parameter value: %s' % scope)
        if scope not in (None, '', 'all') and not load_and_stream:
            raise ApiError(400, 'scope %s can only be used with load_and_stream' % scope)
        # A tablet keyspace's data is placed by its tablets, not by this node's tokens:
        # ScyllaDB loads it by load-and-stream whatever was asked. `forced` records that.
        forced = not load_and_stream and self.find_keyspace(keyspace).tablets
        load_and_stream = load_and_stream or forced
        if not self._loading.acquire(blocking=False):
            raise ApiError(500, 'Already loading SSTables. Try again later')
        record = {'time': time.time(), 'keyspace': keyspace, 'table': cf,
                  'mode': 'load_and_stream' if load_and_stream else 'refresh', 'forced': forced,
                  'primary_replica_only': primary_replica_only, 'skip_cleanup': skip_cleanup,
                  'skip_reshape': skip_reshape, 'scope': scope or 'all', 'sstables': [],
                  'tombstone_gc': table.id not in self.tombstone_gc_off,
                  'status': 'ok', 'error': None}
        try:
            if self.settings['load_delay']:
                time.sleep(self.settings['load_delay'])
            if load_and_stream:
                # Streaming waits on peers that may be streaming to us: holding our lock
                # meanwhile would deadlock two nodes loading at once. stream_in takes it
                # for the local writes, and loads are serialized by _loading.
                self._load(table, load_and_stream, scope or 'all', record)
            else:
                with self.lock:
                    self._load(table, load_and_stream, scope or 'all', record)
        except LoadFailed as e:
            record['status'] = 'failed'
            record['error'] = str(e)
            raise ApiError(500, 'Failed to load new sstables: %s' % e)
        finally:
            self.loads.append(record)
            self._loading.release()

    def loading(self):
        return self._loading.locked()

    def _upload_sets(self, table):
        """Complete, verified SSTables of every upload/ dir; any defect fails the load."""
        found = []
        for d in self.table_dirs(table):
            up = os.path.join(d, 'upload')
            complete, stray = sstables.scan_dir(up)
            if stray:
                raise LoadFailed('%s: %s does not belong to a complete SSTable'
                                 % (up, stray[0]))
            for s in complete:
                if not sstables.is_valid_generation(s.generation):
                    raise LoadFailed('%s: invalid generation %s' % (up, s.generation))
                try:
                    sha, size = sstables.verify_sstable(s)
                except ValueError as e:
                    raise LoadFailed(str(e))
                found.append((d, s, sha, size))
        return found

    def _load(self, table, load_and_stream, scope, record):
        sets = self._upload_sets(table)
        if not load_and_stream:
            for tdir, s, sha, size in sets:
                new = sstables.copy_sstable(s, tdir, self.generations.next([tdir]), link=True)
                sstables.remove_sstable(s)
                self.views.update(table, [new])
                record['sstables'].append({'source': s.data_name, 'data_sha256': sha,
                                           'size': size, 'node': self.address,
                                           'name': new.data_name})
            return
        targets = self._stream_targets(table, sets, scope)
        down = self.state.down()
        for addr in sorted({a for addrs in targets.values() for a in addrs}):
            if addr in down:
                raise LoadFailed('streaming to %s failed: the node is down' % addr)
        by_target = {}
        for item in sets:
            for addr in targets[item[1].data_path]:
                by_target.setdefault(addr, []).append(item)
        for addr, items in sorted(by_target.items()):
            if addr == self.address:
                names = self.stream_in(table, [s for _, s, _, _ in items])
            else:
                names = self._stream_to_peer(addr, table, [s for _, s, _, _ in items])
            for (tdir, s, sha, size), name in zip(items, names):
                record['sstables'].append({'source': s.data_name, 'data_sha256': sha,
                                           'size': size, 'node': addr, 'name': name})
        for _, s, _, _ in sets:
            sstables.remove_sstable(s)

    def _stream_targets(self, table, sets, scope):
        """Where each uploaded SSTable goes, whole: the primary replica of a token taken
        from its content's SHA-256, among the nodes the scope allows; for a tablet
        keyspace every replica of that token's tablet, so that each replica holds what
        it should once the load is done."""
        nodes = self.state.nodes()
        me = self.self_entry
        if scope == 'node':
            allowed = {self.address}
        elif scope == 'dc':
            allowed = {n['address'] for n in nodes if n['dc'] == me['dc']}
        elif scope == 'rack':
            allowed = {n['address'] for n in nodes
                       if n['dc'] == me['dc'] and n['rack'] == me['rack']}
        else:
            allowed = None
        ring = Ring(nodes)
        ks = self.find_keyspace(table.keyspace)
        out = {}
        for _, s, sha, _ in sets:
            token = snapmanifest.content_token(sha)
            reps = ring.replicas(token, ks.replication, self.address, allowed)
            out[s.data_path] = (reps if ks.tablets else reps[:1]) or [self.address]
        return out

    def _stream_to_peer(self, address, table, ssts):
        peer = self.state.node_by_address(address)
        body = json.dumps({'keyspace': table.keyspace, 'table': table.name,
                           'table_id': str(table.id),
                           'sources': [s.path('TOC.txt') for s in ssts]})
        try:
            conn = http.client.HTTPConnection(address, peer['rest_port'], timeout=120)
            conn.request('POST', '/emulator/stream_in', body,
                         {'Content-Type': 'application/json'})
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError as e:
            raise LoadFailed('streaming to %s failed: %s' % (address, e))
        if resp.status != 200:
            raise LoadFailed('streaming to %s failed: HTTP %d %s'
                             % (address, resp.status, data[:200].decode(errors='replace')))
        return json.loads(data)['names']

    def stream_in(self, table, sources):
        """Receive streamed SSTables: new files (copies) under new local generations."""
        names = []
        with self.lock:
            for s in sources:
                tdir = self._pick_dir(table)
                new = sstables.copy_sstable(s, tdir, self.generations.next(self.table_dirs(table)))
                self.views.update(table, [new])
                names.append(new.data_name)
        return names

    # --- test helpers -------------------------------------------------------------------

    def plant(self, table, path, dest='live'):
        """Copy a real SSTable set (bytes unchanged) into the table or its upload/ dir."""
        complete, stray = sstables.scan_dir(path)
        if not complete:
            raise ApiError(400, 'no complete SSTable in %s' % path)
        planted = []
        with self.lock:
            for s in complete:
                if dest == 'upload':
                    tdir = os.path.join(self.table_dirs(table)[0], 'upload')
                    os.makedirs(tdir, exist_ok=True)
                    if os.path.exists(os.path.join(tdir, s.prefix + 'TOC.txt')):
                        gen = self.generations.next([tdir])
                    else:
                        gen = s.generation
                else:
                    tdir = self._pick_dir(table)
                    gen = self.generations.next(self.table_dirs(table))
                new = sstables.copy_sstable(s, tdir, gen)
                planted.append({'source': s.prefix, 'directory': tdir,
                                'files': new.files()})
        return planted

    def digest(self, table):
        return sorted(sstables.file_sha256(s.data_path) for s in self.live_sstables(table))

    def sstable_info(self, table):
        return [{'directory': s.directory, 'data': s.data_name, 'version': s.version,
                 'generation': s.generation, 'size': os.stat(s.data_path).st_size,
                 'components': s.components} for s in self.live_sstables(table)]
