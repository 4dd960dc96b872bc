"""The cluster's schema: ScyllaDB's own keyspaces plus what CQL created.

User objects live in the shared schema.json (see sharedstate); the system keyspaces
are built in. Tables have ScyllaDB's ids: system tables the legacy name-based id
(MD5 of keyspace and table name, as ScyllaDB computes it), user tables a time-UUID
unless `WITH ID` gave one. A secondary index is backed by a view named
`<index>_index` with a directory of its own, as in ScyllaDB.
"""

import hashlib
import json
import os
import random
import re
import time
import uuid

from . import auth, cqlparse, tablecols
from .cqlparse import CqlError

STRATEGY_PREFIX = 'org.apache.cassandra.locator.'
KNOWN_STRATEGIES = {'SimpleStrategy', 'NetworkTopologyStrategy', 'LocalStrategy',
                    'EverywhereStrategy'}

SYSTEM_KEYSPACES = {
    'system': {'class': STRATEGY_PREFIX + 'LocalStrategy'},
    'system_schema': {'class': STRATEGY_PREFIX + 'LocalStrategy'},
    'system_auth': {'class': STRATEGY_PREFIX + 'SimpleStrategy', 'replication_factor': '1'},
    'system_distributed': {'class': STRATEGY_PREFIX + 'SimpleStrategy',
                           'replication_factor': '3'},
    'system_traces': {'class': STRATEGY_PREFIX + 'SimpleStrategy', 'replication_factor': '2'},
}

SYSTEM_TABLES = {
    'system': ['local', 'peers', 'batchlog', 'paxos', 'compaction_history', 'size_estimates',
               'sstable_activity', 'truncated', 'scylla_local', 'large_partitions'],
    'system_schema': ['keyspaces', 'tables', 'columns', 'dropped_columns', 'triggers', 'views',
                      'types', 'functions', 'aggregates', 'indexes', 'scylla_tables',
                      'computed_columns', 'view_virtual_columns'],
    'system_auth': ['roles', 'role_members', 'role_permissions'],
    'system_distributed': ['cdc_streams_descriptions_v2', 'cdc_generation_timestamps',
                           'view_build_status', 'service_levels'],
    'system_traces': ['events', 'sessions', 'node_slow_log', 'node_slow_log_time_idx',
                      'sessions_time_idx'],
}


def legacy_table_id(keyspace, table):
    """ScyllaDB's id for its own tables: a name-based (v3) UUID of keyspace + table."""
    return uuid.UUID(bytes=hashlib.md5((keyspace + table).encode()).digest(), version=3)


def new_time_uuid():
    return uuid.uuid1(node=random.getrandbits(48) | (1 << 40),
                      clock_seq=random.getrandbits(14))


def full_strategy(cls):
    short = cls.rsplit('.', 1)[-1]
    if short not in KNOWN_STRATEGIES:
        raise CqlError(CqlError.CONFIG, "Unable to find replication strategy class '%s'" % cls)
    return STRATEGY_PREFIX + short


class Keyspace:
    def __init__(self, name, replication, durable_writes=True, tablets=False, statement=None,
                 system=False):
        self.name = name
        self.replication = replication
        self.durable_writes = durable_writes
        self.tablets = tablets
        self.statement = statement
        self.system = system

    @property
    def local(self):
        return self.replication.get('class', '').endswith('LocalStrategy')


class Table:
    """Anything with a data directory: a table, a view or an index's backing view."""

    def __init__(self, keyspace, name, table_id, kind='table', statement=None, base=None,
                 index=None, system=False, dropped=()):
        self.keyspace = keyspace
        self.name = name
        self.id = table_id if isinstance(table_id, uuid.UUID) else uuid.UUID(str(table_id))
        self.kind = kind
        self.statement = statement
        self.base = base
        self.index = index
        self.system = system
        self.dropped = list(dropped)     # [{'name', 'type', 'timestamp'}], oldest first

    @property
    def dir_name(self):
        return '%s-%s' % (self.name, self.id.hex)

    def create_statement(self, internals=True):
        """The statement for schema.cql and DESCRIBE (tables get their ID with internals)."""
        if self.statement is None:
            return 'CREATE TABLE %s.%s (key blob PRIMARY KEY) WITH ID = %s' % (
                self.keyspace, self.name, self.id)
        if self.kind == 'table' and internals:
            return self._with_dropped(cqlparse.with_id(self._with_dropped_columns(), 'table',
                                                       self.id))
        return self.statement

    def _with_dropped_columns(self):
        """As ScyllaDB describes it: the dropped columns among the table's own."""
        text = self.statement
        for d in self.dropped:
            if tablecols.type_of(text, d['name']) is None:
                text = tablecols.add(text, d['name'], d['type'])
        return text

    def _with_dropped(self, create):
        """Each dropped column dropped again at its timestamp, so that cells older than
        the drop stay dead after a restore; one added again is added back after."""
        out = [create]
        name = '%s.%s' % (cqlparse.quote_ident(self.keyspace), cqlparse.quote_ident(self.name))
        for d in self.dropped:
            col = cqlparse.quote_ident(d['name'])
            out.append('ALTER TABLE %s DROP %s USING TIMESTAMP %d' % (name, col, d['timestamp']))
            if tablecols.type_of(self.statement, d['name']) is not None:
                out.append('ALTER TABLE %s ADD %s %s' % (
                    name, col, tablecols.type_of(self.statement, d['name'])))
        return ';\n'.join(out)


def _system_objects():
    keyspaces = {name: Keyspace(name, repl, system=True,
                                statement="CREATE KEYSPACE %s WITH replication = %s AND "
                                          "durable_writes = true" % (name, _map_text(repl)))
                 for name, repl in SYSTEM_KEYSPACES.items()}
    tables = [Table(ks, t, legacy_table_id(ks, t), system=True)
              for ks, names in SYSTEM_TABLES.items() for t in names]
    return keyspaces, tables


def _map_text(m):
    return '{' + ', '.join("'%s': '%s'" % (k, v) for k, v in m.items()) + '}'


class SchemaView:
    """An immutable snapshot of the schema, built from one version of schema.json."""

    def __init__(self, doc):
        self.doc = doc
        self.keyspaces, system_tables = _system_objects()
        self.tables = list(system_tables)
        self.types = []
        for k in doc.get('keyspaces', []):
            self.keyspaces[k['name']] = Keyspace(k['name'], k['replication'],
                                                 k.get('durable_writes', True),
                                                 k.get('tablets', False), k['statement'])
        for o in doc.get('objects', []):
            if o['type'] == 'type':
                self.types.append(o)
            else:
                self.tables.append(Table(o['keyspace'], o['name'], o['id'], o['type'],
                                         o['statement'], o.get('base'), o.get('index'),
                                         dropped=o.get('dropped', ())))
        # Auth is not schema: creating a role leaves the schema version alone.
        canon = json.dumps({k: v for k, v in doc.items() if k != 'auth'},
                           sort_keys=True).encode()
        self.version = uuid.UUID(bytes=hashlib.md5(canon).digest(), version=3)

    def keyspace(self, name):
        return self.keyspaces.get(name)

    def table(self, keyspace, name):
        for t in self.tables:
            if t.keyspace == keyspace and t.name == name:
                return t
        return None

    def tables_of(self, keyspace):
        return [t for t in self.tables if t.keyspace == keyspace]

    def table_by_id(self, table_id):
        for t in self.tables:
            if t.id == table_id:
                return t
        return None

    def user_keyspaces(self):
        return sorted(k for k, v in self.keyspaces.items() if not v.system)

    def describe(self, internals):
        """Rows (keyspace_name, type, name, create_statement) for DESCRIBE SCHEMA."""
        rows = []
        for ks in self.user_keyspaces():
            rows.append((ks, 'keyspace', ks, self.keyspaces[ks].statement + ';'))
            for t in self.types:
                if t['keyspace'] == ks:
                    rows.append((ks, 'type', t['name'], t['statement'] + ';'))
            own = sorted((t for t in self.tables if t.keyspace == ks and t.kind == 'table'),
                         key=lambda t: t.name)
            for table in own:
                rows.append((ks, 'table', table.name,
                             table.create_statement(internals) + ';'))
                for dep in self.tables:
                    if dep.keyspace == ks and dep.base == table.name and dep.kind == 'index':
                        rows.append((ks, 'index', dep.index, dep.statement + ';'))
                for dep in self.tables:
                    if dep.keyspace == ks and dep.base == table.name and dep.kind == 'view':
                        rows.append((ks, 'view', dep.name, dep.statement + ';'))
        return rows


STATE_KEYS = ('generation', 'keyspaces', 'objects')


def now_ms():
    return time.time_ns() // 1000000


def _state(doc):
    """The schema proper of a document or history entry (what its version hashes)."""
    return {k: doc.get(k, 0 if k == 'generation' else []) for k in STATE_KEYS}


class SchemaStore:
    """Reads and changes the shared schema.json.

    Schema propagation lag: a node with a lag of L ms (lags: address -> ms, shared by
    every node) sees the schema as it was L ms ago, except that it sees at once the
    changes made through itself, as the node that runs a DDL statement does. So the
    document keeps, beside the current schema, the states it replaced (`history`, each
    with `since_ms`, when it became current, and `by`, the node that made it), as far
    back as the largest lag needs. A lag applies to the changes made after it was set.
    """

    def __init__(self, json_file, lags=lambda: {}):
        self.file = json_file
        self.lags = lags
        self._views = {}          # generation -> SchemaView
        self._views_doc = None

    def _view(self, state):
        v = self._views.get(state['generation'])
        if v is None:
            v = self._views[state['generation']] = SchemaView(state)
        return v

    def current(self):
        return self.view_for(None)

    def view_for(self, address, lag_ms=0):
        """The schema as the node at address sees it with its lag."""
        doc = self.file.read()
        if doc is not self._views_doc:
            live = {doc.get('generation', 0)} | {h['generation'] for h in doc.get('history', [])}
            self._views = {g: v for g, v in self._views.items() if g in live}
            self._views_doc = doc
        states = doc.get('history', []) + [doc]
        if lag_ms > 0:
            horizon = now_ms() - lag_ms
            seen = [s for s in states
                    if s.get('since_ms', 0) <= horizon or (address and s.get('by') == address)]
            states = seen or states[:1]
        return self._view(_state(states[-1]))

    def apply(self, stmt, current_keyspace, by=None):
        """Apply one DDL statement made through the node at address `by`.

        Returns (result, created, dropped): result is None when nothing changed (IF [NOT]
        EXISTS) or (change_type, target, keyspace, name) for the SCHEMA_CHANGE result;
        created and dropped list the Table objects whose directories must be made or
        retired by the caller.
        """
        with self.file.update() as doc:
            view = SchemaView(_state(doc))
            before = json.loads(json.dumps(doc))
            result, created, dropped = _apply(doc, view, stmt, current_keyspace)
            if result is not None:
                now = now_ms()
                history = doc.get('history', [])
                history.append({k: before.get(k) for k in STATE_KEYS + ('since_ms', 'by')
                                if k in before})
                horizon = now - max(self.lags().values(), default=0)
                # A state is kept while a node with the largest lag may still see it.
                later = [h.get('since_ms', 0) for h in history[1:]] + [now]
                doc['history'] = [h for h, nxt in zip(history, later) if nxt > horizon]
                doc['generation'] = doc.get('generation', 0) + 1
                doc['since_ms'] = now
                doc['by'] = by
        return result, created, dropped

    def auth_doc(self):
        """The document whose 'auth' holds roles, grants and service levels: they are not
        schema (no version, no lag), so they are read from the current file."""
        return self.file.read()

    def apply_auth(self, stmt, current_keyspace, cluster_name, release_version):
        """Apply one auth statement (auth.py); its result is always VOID."""
        with self.file.update() as doc:
            auth.apply(doc, SchemaView(doc), stmt, current_keyspace, cluster_name,
                       release_version)


NAME_RE = re.compile(r'^\w{1,48}$')


def _check_name(what, name):
    """ScyllaDB's rule for keyspace and table names (they become directory names)."""
    if not NAME_RE.match(name):
        raise CqlError(CqlError.INVALID, '%s name must not be empty, more than 48 characters '
                       'long, or contain non-alphanumeric-underscore characters (got "%s")'
                       % (what, name))


def _need_keyspace(view, stmt, current):
    ks = stmt.keyspace or current
    if ks is None:
        raise CqlError(CqlError.INVALID, 'No keyspace has been specified. USE a keyspace, or '
                       'explicitly specify keyspace.tablename')
    k = view.keyspace(ks)
    if k is None:
        raise CqlError(CqlError.INVALID, "Keyspace '%s' does not exist" % ks)
    if k.system:
        raise CqlError(CqlError.UNAUTHORIZED, '%s keyspace is not user-modifiable.' % ks)
    return ks


def _name_taken(view, ks, name):
    return view.table(ks, name) is not None


def _apply(doc, view, stmt, current):
    kind = stmt.kind
    objects = doc.setdefault('objects', [])
    if kind == 'create_keyspace':
        if view.keyspace(stmt.name) is not None:
            if stmt.if_not_exists:
                return None, [], []
            raise CqlError(CqlError.ALREADY_EXISTS, "Keyspace '%s' already exists" % stmt.name,
                           stmt.name, '')
        _check_name('Keyspace', stmt.name)
        if stmt.name.startswith('system'):
            raise CqlError(CqlError.INVALID, 'Keyspace names starting with system are reserved')
        repl = dict(stmt.replication)
        repl['class'] = full_strategy(repl['class'])
        short = repl['class'].rsplit('.', 1)[-1]
        if short == 'LocalStrategy':
            raise CqlError(CqlError.CONFIG, 'LocalStrategy is for internal use only')
        if short == 'SimpleStrategy' and 'replication_factor' not in repl:
            raise CqlError(CqlError.CONFIG, 'SimpleStrategy requires a replication_factor '
                           'strategy option.')
        doc.setdefault('keyspaces', []).append({
            'name': stmt.name, 'replication': repl, 'durable_writes': stmt.durable_writes,
            'tablets': stmt.tablets, 'statement': cqlparse.render(stmt, None)})
        return ('CREATED', 'KEYSPACE', stmt.name, None), [], []

    if kind == 'create_table':
        ks = _need_keyspace(view, stmt, current)
        _check_name('Table', stmt.name)
        if _name_taken(view, ks, stmt.name):
            if stmt.if_not_exists:
                return None, [], []
            raise CqlError(CqlError.ALREADY_EXISTS, 'Table %s.%s already exists' % (ks, stmt.name),
                           ks, stmt.name)
        table_id = stmt.id or new_time_uuid()
        if view.table_by_id(table_id) is not None:
            raise CqlError(CqlError.INVALID, 'Table id %s is already used by another table'
                           % table_id)
        text = cqlparse.render(stmt, ks)
        objects.append({'type': 'table', 'keyspace': ks, 'name': stmt.name,
                        'id': str(table_id), 'statement': text})
        return (('CREATED', 'TABLE', ks, stmt.name),
                [Table(ks, stmt.name, table_id, 'table', text)], [])

    if kind == 'create_type':
        ks = _need_keyspace(view, stmt, current)
        if any(t['keyspace'] == ks and t['name'] == stmt.name for t in view.types):
            if stmt.if_not_exists:
                return None, [], []
            raise CqlError(CqlError.ALREADY_EXISTS, 'A user type of name %s.%s already exists'
                           % (ks, stmt.name), ks, stmt.name)
        objects.append({'type': 'type', 'keyspace': ks, 'name': stmt.name,
                        'statement': cqlparse.render(stmt, ks)})
        return ('CREATED', 'TYPE', ks, stmt.name), [], []

    if kind == 'create_index':
        ks = _need_keyspace(view, stmt, current)
        base = view.table(ks, stmt.table)
        if base is None or base.kind != 'table':
            raise CqlError(CqlError.INVALID, 'unconfigured table %s' % stmt.table)
        _check_name('Index', stmt.name)
        backing = stmt.name + '_index'
        if any(t.index == stmt.name for t in view.tables_of(ks)) or _name_taken(view, ks, backing):
            if stmt.if_not_exists:
                return None, [], []
            raise CqlError(CqlError.INVALID, "Index '%s' already exists" % stmt.name)
        text = cqlparse.render(stmt, ks)
        table_id = new_time_uuid()
        objects.append({'type': 'index', 'keyspace': ks, 'name': backing, 'index': stmt.name,
                        'base': stmt.table, 'id': str(table_id), 'statement': text})
        return (('UPDATED', 'TABLE', ks, stmt.table),
                [Table(ks, backing, table_id, 'index', text, stmt.table, stmt.name)], [])

    if kind == 'create_view':
        ks = _need_keyspace(view, stmt, current)
        base_ks = stmt.base_keyspace or ks
        base = view.table(base_ks, stmt.base)
        if base_ks != ks:
            raise CqlError(CqlError.INVALID, 'Cannot create a materialized view on a table in a '
                           'different keyspace')
        if base is None or base.kind != 'table':
            raise CqlError(CqlError.INVALID, 'unconfigured table %s' % stmt.base)
        if _name_taken(view, ks, stmt.name):
            if stmt.if_not_exists:
                return None, [], []
            raise CqlError(CqlError.ALREADY_EXISTS, 'Table %s.%s already exists' % (ks, stmt.name),
                           ks, stmt.name)
        _check_name('View', stmt.name)
        table_id = stmt.id or new_time_uuid()
        text = cqlparse.render(stmt, ks)
        objects.append({'type': 'view', 'keyspace': ks, 'name': stmt.name, 'base': stmt.base,
                        'id': str(table_id), 'statement': text})
        return (('CREATED', 'TABLE', ks, stmt.name),
                [Table(ks, stmt.name, table_id, 'view', text, stmt.base)], [])

    if kind in ('alter_table_drop', 'alter_table_add'):
        ks = _need_keyspace(view, stmt, current)
        obj = next((o for o in objects if o['type'] == 'table' and o['keyspace'] == ks
                    and o['name'] == stmt.name), None)
        if obj is None:
            raise CqlError(CqlError.INVALID, 'unconfigured table %s' % stmt.name)
        text = obj['statement']
        if kind == 'alter_table_drop':
            typ = tablecols.type_of(text, stmt.column)
            obj['statement'] = tablecols.drop(text, stmt.column)
            ts = stmt.timestamp if stmt.timestamp is not None else time.time_ns() // 1000
            dropped = [d for d in obj.get('dropped', []) if d['name'] != stmt.column]
            obj['dropped'] = dropped + [{'name': stmt.column, 'type': typ, 'timestamp': ts}]
        else:
            obj['statement'] = tablecols.add(text, stmt.column, stmt.column_type)
        return ('UPDATED', 'TABLE', ks, stmt.name), [], []

    if kind == 'drop_keyspace':
        k = view.keyspace(stmt.name)
        if k is None:
            if stmt.if_exists:
                return None, [], []
            raise CqlError(CqlError.INVALID, "Cannot drop non existing keyspace '%s'." % stmt.name)
        if k.system:
            raise CqlError(CqlError.UNAUTHORIZED, '%s keyspace is not user-modifiable.' % stmt.name)
        dropped = view.tables_of(stmt.name)
        doc['keyspaces'] = [x for x in doc['keyspaces'] if x['name'] != stmt.name]
        doc['objects'] = [o for o in objects if o['keyspace'] != stmt.name]
        return ('DROPPED', 'KEYSPACE', stmt.name, None), [], dropped

    if kind in ('drop_table', 'drop_view', 'drop_index', 'drop_type'):
        ks = _need_keyspace(view, stmt, current)
        if kind == 'drop_type':
            found = [o for o in objects if o['type'] == 'type' and o['keyspace'] == ks
                     and o['name'] == stmt.name]
            if not found:
                if stmt.if_exists:
                    return None, [], []
                raise CqlError(CqlError.INVALID, 'No user type named %s exists.' % stmt.name)
            doc['objects'] = [o for o in objects if o not in found]
            return ('DROPPED', 'TYPE', ks, stmt.name), [], []
        if kind == 'drop_index':
            target = next((t for t in view.tables_of(ks) if t.index == stmt.name), None)
        else:
            target = view.table(ks, stmt.name)
            want = 'table' if kind == 'drop_table' else 'view'
            if target is not None and target.kind != want:
                raise CqlError(CqlError.INVALID, '%s.%s is not a %s' % (ks, stmt.name, want))
        if target is None:
            if stmt.if_exists:
                return None, [], []
            what = {'drop_table': 'table', 'drop_view': 'materialized view',
                    'drop_index': 'index'}[kind]
            raise CqlError(CqlError.INVALID, "Cannot drop non existing %s '%s' in keyspace '%s'."
                           % (what, stmt.name, ks))
        dropped = [target]
        if kind == 'drop_table':
            views = [t for t in view.tables_of(ks) if t.base == target.name and t.kind == 'view']
            if views:
                raise CqlError(CqlError.INVALID, 'Cannot drop table when materialized views still '
                               'depend on it (%s.{%s})' % (ks, ', '.join(v.name for v in views)))
            dropped += [t for t in view.tables_of(ks) if t.base == target.name]
        gone = {(t.keyspace, t.name) for t in dropped}
        doc['objects'] = [o for o in objects
                          if o['type'] == 'type' or (o['keyspace'], o['name']) not in gone]
        if kind == 'drop_index':
            return ('UPDATED', 'TABLE', ks, target.base), [], dropped
        return ('DROPPED', 'TABLE', ks, target.name), [], dropped

    raise CqlError(CqlError.INVALID, 'unsupported statement')


def table_dirs(data_dirs, table):
    """The table's directory in every data directory."""
    return [os.path.join(d, table.keyspace, table.dir_name) for d in data_dirs]
