"""CQL native protocol v4 server (port 9042): the messages cairn and a driver need.

OPTIONS, STARTUP (with PasswordAuthenticator and SASL PLAIN when the node has a
user), REGISTER and QUERY. Queries cover DESCRIBE SCHEMA, DDL, USE, and SELECTs on the
system tables a driver reads at connect time (system.local, system.peers,
system_schema.*). There is no user data: SELECT on a user table is refused.
Requests on one connection are answered in order; each connection has its thread.

With an SSL context the port speaks only TLS, as ScyllaDB's does with
client_encryption_options enabled (and require_client_auth when the context asks for a
client certificate); a client that does not start TLS is dropped.
"""

import ipaddress
import socket
import socketserver
import ssl
import struct
import sys
import traceback
import uuid

from . import auth, cqlparse
from .cqlparse import Bound, CqlError

AUTH_KINDS = ('create_role', 'drop_role', 'grant_role', 'grant_permission', 'create_service_level',
              'attach_service_level')

# Opcodes.
ERROR, STARTUP, READY, AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OPTIONS, SUPPORTED, QUERY, RESULT = 0x05, 0x06, 0x07, 0x08
PREPARE, EXECUTE, REGISTER, EVENT, BATCH = 0x09, 0x0A, 0x0B, 0x0C, 0x0D
AUTH_CHALLENGE, AUTH_RESPONSE, AUTH_SUCCESS = 0x0E, 0x0F, 0x10

PROTOCOL_ERROR = 0x000A
BAD_CREDENTIALS = 0x0100
SERVER_ERROR = 0x0000

AUTHENTICATOR = 'org.apache.cassandra.auth.PasswordAuthenticator'
MAX_FRAME = 256 << 20

# ScyllaDB reports Cassandra 3.0.8 as its release_version in system.local; drivers pick
# the protocol and the schema tables from it.
CASSANDRA_COMPAT_VERSION = '3.0.8'

TYPE_IDS = {'ascii': 0x0001, 'bigint': 0x0002, 'blob': 0x0003, 'boolean': 0x0004,
            'double': 0x0007, 'int': 0x0009, 'timestamp': 0x000B, 'uuid': 0x000C,
            'varchar': 0x000D, 'timeuuid': 0x000F, 'inet': 0x0010,
            'list': 0x0020, 'map': 0x0021, 'set': 0x0022}


# --- primitive encoding ------------------------------------------------------------------

def p_short(n):
    return struct.pack('>H', n)


def p_int(n):
    return struct.pack('>i', n)


def p_string(s):
    b = s.encode()
    return p_short(len(b)) + b


def p_bytes(b):
    return p_int(-1) if b is None else p_int(len(b)) + b


def p_string_list(items):
    return p_short(len(items)) + b''.join(p_string(s) for s in items)


def p_option(typ):
    if isinstance(typ, tuple):
        return p_short(TYPE_IDS[typ[0]]) + b''.join(p_option(t) for t in typ[1:])
    return p_short(TYPE_IDS[typ])


def encode_value(typ, v):
    if v is None:
        return None
    if isinstance(typ, tuple):
        if typ[0] in ('set', 'list'):
            items = [encode_value(typ[1], x) for x in v]
            return p_int(len(items)) + b''.join(p_bytes(x) for x in items)
        if typ[0] == 'map':
            out = [p_int(len(v))]
            for k, x in v.items():
                out.append(p_bytes(encode_value(typ[1], k)))
                out.append(p_bytes(encode_value(typ[2], x)))
            return b''.join(out)
        raise ValueError(typ)
    if typ in ('varchar', 'ascii'):
        return str(v).encode()
    if typ in ('uuid', 'timeuuid'):
        return uuid.UUID(str(v)).bytes
    if typ == 'inet':
        return ipaddress.ip_address(v).packed
    if typ == 'boolean':
        return b'\x01' if v else b'\x00'
    if typ == 'int':
        return struct.pack('>i', v)
    if typ in ('bigint', 'timestamp'):
        return struct.pack('>q', v)
    if typ == 'double':
        return struct.pack('>d', v)
    if typ == 'blob':
        return bytes(v)
    raise ValueError(typ)


def decode_bound(typ, raw):
    """A value bound to `?`, decoded by the type of the column it is compared with."""
    if raw is None:
        return None
    if typ in ('uuid', 'timeuuid') and len(raw) == 16:
        return uuid.UUID(bytes=raw)
    if typ in ('varchar', 'ascii'):
        return raw.decode('utf-8', errors='replace')
    return raw


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise CqlError(PROTOCOL_ERROR, 'truncated message body')
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack('>H', self.take(2))[0]

    def int(self):
        return struct.unpack('>i', self.take(4))[0]

    def string(self):
        return self.take(self.short()).decode('utf-8', errors='replace')

    def long_string(self):
        return self.take(self.int()).decode('utf-8', errors='replace')

    def bytes(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def string_map(self):
        return {self.string(): self.string() for _ in range(self.short())}

    def bytes_map(self):
        return {self.string(): self.bytes() for _ in range(self.short())}


# --- results -------------------------------------------------------------------------------

def rows_result(keyspace, table, columns, rows):
    """RESULT Rows with global table spec; columns: [(name, type)], rows: [[value]]."""
    out = [p_int(0x0002), p_int(0x0001), p_int(len(columns)), p_string(keyspace),
           p_string(table)]
    for name, typ in columns:
        out.append(p_string(name))
        out.append(p_option(typ))
    out.append(p_int(len(rows)))
    for row in rows:
        for (_, typ), v in zip(columns, row):
            out.append(p_bytes(encode_value(typ, v)))
    return b''.join(out)


def void_result():
    return p_int(0x0001)


def set_keyspace_result(ks):
    return p_int(0x0003) + p_string(ks)


def schema_change_result(change, target, keyspace, name):
    body = p_int(0x0005) + p_string(change) + p_string(target) + p_string(keyspace)
    if target != 'KEYSPACE':
        body += p_string(name)
    return body


def error_body(code, message, keyspace=None, table=None):
    body = p_int(code) + p_string(message)
    if code == CqlError.ALREADY_EXISTS:
        body += p_string(keyspace or '') + p_string(table or '')
    return body


# --- system tables a driver reads ---------------------------------------------------------

SET_TEXT = ('set', 'varchar')
MAP_TEXT = ('map', 'varchar', 'varchar')
LIST_TEXT = ('list', 'varchar')

LOCAL_COLUMNS = [('key', 'varchar'), ('bootstrapped', 'varchar'),
                 ('broadcast_address', 'inet'), ('cluster_name', 'varchar'),
                 ('cql_version', 'varchar'), ('data_center', 'varchar'), ('host_id', 'uuid'),
                 ('listen_address', 'inet'), ('native_protocol_version', 'varchar'),
                 ('partitioner', 'varchar'), ('rack', 'varchar'), ('release_version', 'varchar'),
                 ('rpc_address', 'inet'), ('schema_version', 'uuid'),
                 ('supported_features', 'varchar'), ('tokens', SET_TEXT)]
PEERS_COLUMNS = [('peer', 'inet'), ('data_center', 'varchar'), ('host_id', 'uuid'),
                 ('preferred_ip', 'inet'), ('rack', 'varchar'), ('release_version', 'varchar'),
                 ('rpc_address', 'inet'), ('schema_version', 'uuid'),
                 ('supported_features', 'varchar'), ('tokens', SET_TEXT)]
KEYSPACES_COLUMNS = [('keyspace_name', 'varchar'), ('durable_writes', 'boolean'),
                     ('replication', MAP_TEXT)]
TABLES_COLUMNS = [('keyspace_name', 'varchar'), ('table_name', 'varchar'), ('id', 'uuid'),
                  ('comment', 'varchar'), ('flags', SET_TEXT)]
VIEWS_COLUMNS = [('keyspace_name', 'varchar'), ('view_name', 'varchar'),
                 ('base_table_id', 'uuid'), ('base_table_name', 'varchar'), ('id', 'uuid'),
                 ('include_all_columns', 'boolean'), ('where_clause', 'varchar')]
INDEXES_COLUMNS = [('keyspace_name', 'varchar'), ('table_name', 'varchar'),
                   ('index_name', 'varchar'), ('kind', 'varchar'), ('options', MAP_TEXT)]
TYPES_COLUMNS = [('keyspace_name', 'varchar'), ('type_name', 'varchar'),
                 ('field_names', LIST_TEXT), ('field_types', LIST_TEXT)]


def _local_rows(node, view):
    return [{'key': 'local', 'bootstrapped': 'COMPLETED', 'broadcast_address': node.address,
             'cluster_name': node.cluster_name, 'cql_version': '3.3.1',
             'data_center': node.dc, 'host_id': node.host_id, 'listen_address': node.address,
             'native_protocol_version': '4',
             'partitioner': 'org.apache.cassandra.dht.Murmur3Partitioner', 'rack': node.rack,
             'release_version': CASSANDRA_COMPAT_VERSION, 'rpc_address': node.address,
             'schema_version': view.version, 'supported_features': '',
             'tokens': node.tokens()}]


def _peers_rows(node, view):
    return [{'peer': n['address'], 'data_center': n['dc'], 'host_id': n['host_id'],
             'preferred_ip': n['address'], 'rack': n['rack'],
             'release_version': CASSANDRA_COMPAT_VERSION, 'rpc_address': n['address'],
             'schema_version': node.schema_of(n['address']).version, 'supported_features': '',
             'tokens': [str(t) for t in n.get('tokens') or []]}
            for n in node.state.nodes() if n['address'] != node.address]


def _keyspaces_rows(node, view):
    return [{'keyspace_name': k.name, 'durable_writes': k.durable_writes,
             'replication': k.replication} for _, k in sorted(view.keyspaces.items())]


def _tables_rows(node, view):
    return [{'keyspace_name': t.keyspace, 'table_name': t.name, 'id': t.id, 'comment': '',
             'flags': ['compound']} for t in view.tables if t.kind == 'table']


def _views_rows(node, view):
    out = []
    for t in view.tables:
        if t.kind in ('view', 'index'):
            base = view.table(t.keyspace, t.base)
            out.append({'keyspace_name': t.keyspace, 'view_name': t.name,
                        'base_table_id': base.id if base else None, 'base_table_name': t.base,
                        'id': t.id, 'include_all_columns': False, 'where_clause': ''})
    return out


def _indexes_rows(node, view):
    return [{'keyspace_name': t.keyspace, 'table_name': t.base, 'index_name': t.index,
             'kind': 'COMPOSITES', 'options': {}} for t in view.tables if t.kind == 'index']


def _types_rows(node, view):
    return [{'keyspace_name': t['keyspace'], 'type_name': t['name'], 'field_names': [],
             'field_types': []} for t in view.types]


VIRTUAL_TABLES = {
    ('system', 'local'): (LOCAL_COLUMNS, _local_rows),
    ('system', 'peers'): (PEERS_COLUMNS, _peers_rows),
    ('system_schema', 'keyspaces'): (KEYSPACES_COLUMNS, _keyspaces_rows),
    ('system_schema', 'tables'): (TABLES_COLUMNS, _tables_rows),
    ('system_schema', 'views'): (VIEWS_COLUMNS, _views_rows),
    ('system_schema', 'indexes'): (INDEXES_COLUMNS, _indexes_rows),
    ('system_schema', 'types'): (TYPES_COLUMNS, _types_rows),
}


def select(node, view, stmt, session_keyspace):
    ks = stmt.keyspace or session_keyspace
    if ks is None:
        raise CqlError(CqlError.INVALID, 'No keyspace has been specified. USE a keyspace, or '
                       'explicitly specify keyspace.tablename')
    key = (ks, stmt.table)
    if key in VIRTUAL_TABLES:
        columns, rows_fn = VIRTUAL_TABLES[key]
        rows = rows_fn(node, view)
        strict = True
    elif ks in ('system', 'system_schema', 'system_auth', 'system_distributed',
                'system_traces') and view.table(ks, stmt.table) is not None:
        # A real system table the emulator keeps empty; any column reads as text.
        names = list(stmt.columns or ['keyspace_name', 'table_name'])
        names += [c for c, _ in stmt.where if c not in names]
        columns, rows, strict = [(c, 'varchar') for c in names], [], False
    elif view.keyspace(ks) is None:
        raise CqlError(CqlError.INVALID, "Keyspace %s does not exist" % ks)
    elif view.table(ks, stmt.table) is None:
        raise CqlError(CqlError.INVALID, 'unconfigured table %s' % stmt.table)
    else:
        raise CqlError(CqlError.INVALID, 'SELECT from user tables is not supported by the '
                       'ScyllaDB emulator (it keeps no rows)')
    types = dict(columns)
    if strict:
        for c in (stmt.columns or []) + [c for c, _ in stmt.where]:
            if c not in types:
                raise CqlError(CqlError.INVALID, 'Undefined name %s in selection clause' % c)
    for col, lit in stmt.where:
        typ = types[col]
        want = decode_bound(typ, lit.raw) if isinstance(lit, Bound) else lit
        rows = [r for r in rows if _equal(typ, r.get(col), want)]
    if isinstance(stmt.limit, int):
        rows = rows[:stmt.limit]
    elif isinstance(stmt.limit, Bound) and stmt.limit.raw is not None:
        rows = rows[:struct.unpack('>i', stmt.limit.raw)[0]]
    if stmt.columns:
        columns = [(c, types[c]) for c in stmt.columns]
    return rows_result(ks, stmt.table, columns,
                       [[r.get(c) for c, _ in columns] for r in rows])


def _equal(typ, have, want):
    if have is None or want is None:
        return have is want
    if typ in ('uuid', 'timeuuid', 'inet'):
        return str(have).lower() == str(want).lower()
    return have == want


# --- the connection ---------------------------------------------------------------------

class CqlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, node, log=None, ssl_context=None):
        self.node = node
        self.log = log or sys.stderr
        self.ssl_context = ssl_context
        super().__init__(address, CqlConnection)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # The handshake runs in the connection's thread (CqlConnection.setup), so a
            # client that never sends one holds up only itself.
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr


def server_ssl_context(cert, key, client_ca=None):
    """A context serving cert; with client_ca, clients must show a certificate it signed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class CqlConnection(socketserver.StreamRequestHandler):
    HANDSHAKE_TIMEOUT = 10.0

    def setup(self):
        self.tls_failed = None
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.HANDSHAKE_TIMEOUT)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.tls_failed = e
            self.request.settimeout(None)
        super().setup()
        self.state = 'new'           # new → (authenticating) → ready
        self.keyspace = None
        self.node = self.server.node

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def _send(self, stream, opcode, body):
        header = struct.pack('>BBhBi', 0x84, 0x00, stream, opcode, len(body))
        self.wfile.write(header + body)
        self.wfile.flush()

    def handle(self):
        if self.tls_failed is not None:
            print('cql: TLS handshake with %s failed: %s' % (self.client_address[0],
                                                            self.tls_failed),
                  file=self.server.log, flush=True)
            return
        try:
            while True:
                first = self._read_exact(8)
                version = first[0] & 0x7F
                if version < 3:
                    # v1/v2 headers are 8 bytes; answer in v4 and close.
                    self._send(0, ERROR, error_body(
                        PROTOCOL_ERROR, 'Invalid or unsupported protocol version (%d); '
                        'supported versions are (4/v4)' % version))
                    return
                rest = self._read_exact(1)
                _, flags, stream, opcode, length = struct.unpack('>BBhBi', first + rest)
                if version != 4:
                    # As ScyllaDB, from the header alone: a TLS ClientHello read as a
                    # header announces a body of megabytes that never comes.
                    self._refuse(stream, 'Invalid or unsupported protocol version (%d); '
                                 'supported versions are (4/v4)' % version)
                    return
                if length > MAX_FRAME or length < 0:
                    self._send(stream, ERROR, error_body(PROTOCOL_ERROR, 'frame too large'))
                    return
                body = self._read_exact(length)
                if flags & 0x01:
                    self._send(stream, ERROR, error_body(
                        PROTOCOL_ERROR, 'compressed frames were not negotiated'))
                    return
                if not self._message(stream, flags, opcode, body):
                    return
        except (EOFError, ConnectionError, ssl.SSLError):
            return

    def _refuse(self, stream, message):
        """A protocol error, then the end of the connection; what the client sent
        meanwhile is read first, lest closing over unread bytes reset the connection
        before the client reads the answer."""
        self._send(stream, ERROR, error_body(PROTOCOL_ERROR, message))
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(1.0)
            for _ in range(16):
                if not self.request.recv(65536):
                    break
        except OSError:
            pass

    def _message(self, stream, flags, opcode, body):
        r = Reader(body)
        try:
            if flags & 0x04:
                r.bytes_map()         # custom payload: ignored
            if opcode == OPTIONS:
                self._send(stream, SUPPORTED, p_short(2) +
                           p_string('CQL_VERSION') + p_string_list(['3.3.1']) +
                           p_string('COMPRESSION') + p_string_list([]))
            elif opcode == STARTUP:
                self._startup(stream, r.string_map())
            elif opcode == AUTH_RESPONSE:
                return self._auth(stream, r.bytes())
            elif self.state != 'ready':
                raise CqlError(PROTOCOL_ERROR, 'Unexpected message %s, expecting STARTUP, '
                               'OPTIONS or AUTH_RESPONSE' % _opname(opcode))
            elif opcode == REGISTER:
                self._send(stream, READY, b'')      # events are not sent
            elif opcode == QUERY:
                self._query(stream, r)
            elif opcode in (PREPARE, EXECUTE, BATCH):
                raise CqlError(CqlError.INVALID, '%s is not supported by the ScyllaDB emulator; '
                               'send the query as QUERY' % _opname(opcode))
            else:
                raise CqlError(PROTOCOL_ERROR, 'Unknown or unexpected opcode 0x%02x' % opcode)
        except CqlError as e:
            self._send(stream, ERROR, error_body(e.code, e.message, e.keyspace, e.table))
        except (EOFError, ConnectionError):
            raise
        except Exception as e:
            traceback.print_exc(file=self.server.log)
            self._send(stream, ERROR, error_body(SERVER_ERROR, '%s: %s' % (type(e).__name__, e)))
        return True

    def _startup(self, stream, options):
        if self.state != 'new':
            raise CqlError(PROTOCOL_ERROR, 'STARTUP already received')
        if 'CQL_VERSION' not in options:
            raise CqlError(PROTOCOL_ERROR, 'Missing value CQL_VERSION in STARTUP message')
        if options.get('COMPRESSION'):
            raise CqlError(PROTOCOL_ERROR, 'Unknown compression algorithm: %s'
                           % options['COMPRESSION'])
        if self.node.username is not None:
            self.state = 'authenticating'
            self._send(stream, AUTHENTICATE, p_string(AUTHENTICATOR))
        else:
            self.state = 'ready'
            self._send(stream, READY, b'')

    def _auth(self, stream, token):
        if self.state != 'authenticating':
            raise CqlError(PROTOCOL_ERROR, 'Unexpected message AUTH_RESPONSE')
        parts = (token or b'').split(b'\x00')
        if (len(parts) == 3 and parts[1].decode(errors='replace') == self.node.username
                and parts[2].decode(errors='replace') == self.node.password):
            self.state = 'ready'
            self._send(stream, AUTH_SUCCESS, p_bytes(None))
            return True
        self._send(stream, ERROR, error_body(
            BAD_CREDENTIALS, 'Username and/or password are incorrect'))
        return True

    def _query(self, stream, r):
        text = r.long_string()
        r.short()                                 # consistency: irrelevant here
        flags = r.byte()
        values = []
        if flags & 0x01:
            for _ in range(r.short()):
                if flags & 0x40:
                    r.string()
                n = r.int()
                values.append(None if n < 0 else r.take(n))
        stmt = cqlparse.parse(text, values)
        self._send(stream, RESULT, self._execute(stmt))

    def _execute(self, stmt):
        node = self.node
        view = node.current_schema()
        kind = stmt.kind
        if kind == 'describe_schema':
            described = auth.describes_auth(node.release_version)
            if stmt.passwords and not described:
                raise cqlparse.syntax_error("mismatched input 'AND' expecting <EOF>")
            rows = view.describe(stmt.internals)
            if stmt.internals and described:
                rows += auth.describe(node.schema.auth_doc(), node.cluster_name, stmt.passwords)
            cols = [('keyspace_name', 'varchar'), ('type', 'varchar'), ('name', 'varchar'),
                    ('create_statement', 'varchar')]
            return rows_result('system', 'describe', cols, [list(r) for r in rows])
        if kind == 'select':
            return select(node, view, stmt, self.keyspace)
        if kind in AUTH_KINDS:
            node.schema.apply_auth(stmt, self.keyspace, node.cluster_name, node.release_version)
            return void_result()
        if kind == 'use':
            if view.keyspace(stmt.keyspace) is None:
                raise CqlError(CqlError.INVALID, "Keyspace '%s' does not exist" % stmt.keyspace)
            self.keyspace = stmt.keyspace
            return set_keyspace_result(stmt.keyspace)
        result, created, dropped = node.schema.apply(stmt, self.keyspace, node.address)
        if created:
            node.create_dirs_everywhere(created)
        if dropped:
            node.retire_tables(dropped)
        if result is None:
            return void_result()
        return schema_change_result(*result)


OPCODE_NAMES = {ERROR: 'ERROR', STARTUP: 'STARTUP', READY: 'READY',
                AUTHENTICATE: 'AUTHENTICATE', OPTIONS: 'OPTIONS', SUPPORTED: 'SUPPORTED',
                QUERY: 'QUERY', RESULT: 'RESULT', PREPARE: 'PREPARE', EXECUTE: 'EXECUTE',
                REGISTER: 'REGISTER', EVENT: 'EVENT', BATCH: 'BATCH',
                AUTH_CHALLENGE: 'AUTH_CHALLENGE', AUTH_RESPONSE: 'AUTH_RESPONSE',
                AUTH_SUCCESS: 'AUTH_SUCCESS'}


def _opname(opcode):
    return OPCODE_NAMES.get(opcode, '0x%02x' % opcode)
