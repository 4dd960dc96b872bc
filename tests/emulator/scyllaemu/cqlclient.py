"""A minimal CQL v4 client: enough for the tests and the launcher to talk to a node.

It speaks the same protocol as cairn's agent: STARTUP, SASL PLAIN authentication,
QUERY with optional bound values, and decodes RESULT frames.
"""

import ipaddress
import socket
import struct
import uuid

from .cql import (AUTH_RESPONSE, AUTH_SUCCESS, AUTHENTICATE, ERROR, OPTIONS, QUERY, READY,
                  REGISTER, RESULT, STARTUP, SUPPORTED, Reader, p_bytes, p_int, p_short,
                  p_string)

TYPE_NAMES = {0x0001: 'ascii', 0x0002: 'bigint', 0x0003: 'blob', 0x0004: 'boolean',
              0x0007: 'double', 0x0009: 'int', 0x000B: 'timestamp', 0x000C: 'uuid',
              0x000D: 'varchar', 0x000F: 'timeuuid', 0x0010: 'inet'}


class ServerError(Exception):
    def __init__(self, code, message, body=b''):
        super().__init__('0x%04x: %s' % (code, message))
        self.code = code
        self.message = message
        self.body = body


class Result:
    def __init__(self, kind, columns=None, rows=None, keyspace=None, change=None):
        self.kind = kind            # 'void', 'rows', 'set_keyspace', 'schema_change'
        self.columns = columns or []
        self.rows = rows or []
        self.keyspace = keyspace
        self.change = change        # (change type, target, keyspace[, name])

    def dicts(self):
        names = [c for c, _ in self.columns]
        return [dict(zip(names, r)) for r in self.rows]


def _read_option(r):
    tid = r.short()
    if tid in (0x0020, 0x0022):
        return ('list' if tid == 0x0020 else 'set', _read_option(r))
    if tid == 0x0021:
        return ('map', _read_option(r), _read_option(r))
    if tid not in TYPE_NAMES:
        raise ValueError('unsupported type 0x%04x' % tid)
    return TYPE_NAMES[tid]


def _decode(typ, b):
    if b is None:
        return None
    if isinstance(typ, tuple):
        r = Reader(b)
        n = r.int()
        if typ[0] == 'map':
            return {_decode(typ[1], r.bytes()): _decode(typ[2], r.bytes()) for _ in range(n)}
        items = [_decode(typ[1], r.bytes()) for _ in range(n)]
        return items if typ[0] == 'list' else set(items)
    if typ in ('varchar', 'ascii'):
        return b.decode()
    if typ in ('uuid', 'timeuuid'):
        return uuid.UUID(bytes=b)
    if typ == 'inet':
        return str(ipaddress.ip_address(b))
    if typ == 'boolean':
        return b != b'\x00'
    if typ == 'int':
        return struct.unpack('>i', b)[0]
    if typ in ('bigint', 'timestamp'):
        return struct.unpack('>q', b)[0]
    if typ == 'double':
        return struct.unpack('>d', b)[0]
    return b


class CqlClient:
    def __init__(self, address, port, username=None, password=None, timeout=10.0,
                 version=4, startup=True, ssl_context=None):
        """ssl_context: connect with TLS (a node with client_encryption_options)."""
        self.sock = socket.create_connection((address, port), timeout=timeout)
        if ssl_context is not None:
            try:
                self.sock = ssl_context.wrap_socket(self.sock, server_hostname=address)
            except BaseException:
                self.sock.close()
                raise
        self.version = version
        self._stream = 0
        if startup:
            try:
                self.startup(username, password)
            except BaseException:
                self.sock.close()
                raise

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_exact(self, n):
        buf = b''
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError('connection closed by the server')
            buf += chunk
        return buf

    def request(self, opcode, body, flags=0):
        """Send one frame; return (response version, opcode, body)."""
        self._stream = (self._stream + 1) % 32768
        self.sock.sendall(struct.pack('>BBhBi', self.version, flags, self._stream, opcode,
                                      len(body)) + body)
        header = self._recv_exact(9)
        version, _, stream, op, length = struct.unpack('>BBhBi', header)
        return version, op, self._recv_exact(length)

    def call(self, opcode, body):
        _, op, resp = self.request(opcode, body)
        if op == ERROR:
            r = Reader(resp)
            code = r.int()
            raise ServerError(code, r.string(), resp)
        return op, resp

    def options(self):
        op, body = self.call(OPTIONS, b'')
        assert op == SUPPORTED
        r = Reader(body)
        return {r.string(): [r.string() for _ in range(r.short())] for _ in range(r.short())}

    def startup(self, username=None, password=None):
        body = p_short(1) + p_string('CQL_VERSION') + p_string('3.0.0')
        op, resp = self.call(STARTUP, body)
        if op == READY:
            return 'ready'
        if op != AUTHENTICATE:
            raise ServerError(-1, 'unexpected opcode 0x%02x after STARTUP' % op)
        authenticator = Reader(resp).string()
        if username is None:
            raise ServerError(-1, 'server requires authentication (%s)' % authenticator)
        token = b'\x00' + username.encode() + b'\x00' + (password or '').encode()
        op, resp = self.call(AUTH_RESPONSE, p_bytes(token))
        if op != AUTH_SUCCESS:
            raise ServerError(-1, 'unexpected opcode 0x%02x after AUTH_RESPONSE' % op)
        return authenticator

    def register(self, events=('SCHEMA_CHANGE',)):
        body = p_short(len(events)) + b''.join(p_string(e) for e in events)
        op, _ = self.call(REGISTER, body)
        return op == READY

    def query(self, text, values=None):
        body = p_int(len(text.encode())) + text.encode() + p_short(0x0001)
        if values:
            body += bytes([0x01]) + p_short(len(values))
            for v in values:
                raw = v if isinstance(v, (bytes, type(None))) else str(v).encode()
                body += p_bytes(raw)
        else:
            body += bytes([0x00])
        op, resp = self.call(QUERY, body)
        if op != RESULT:
            raise ServerError(-1, 'unexpected opcode 0x%02x after QUERY' % op)
        return parse_result(resp)


def parse_result(body):
    r = Reader(body)
    kind = r.int()
    if kind == 0x0001:
        return Result('void')
    if kind == 0x0003:
        return Result('set_keyspace', keyspace=r.string())
    if kind == 0x0005:
        change, target, ks = r.string(), r.string(), r.string()
        extra = (r.string(),) if target != 'KEYSPACE' else ()
        return Result('schema_change', change=(change, target, ks) + extra)
    if kind != 0x0002:
        raise ValueError('unsupported result kind %d' % kind)
    flags = r.int()
    ncols = r.int()
    if flags & 0x0002:
        r.bytes()                   # paging state
    columns = []
    if not flags & 0x0004:
        if flags & 0x0001:
            r.string()
            r.string()
        for _ in range(ncols):
            if not flags & 0x0001:
                r.string()
                r.string()
            columns.append((r.string(), _read_option(r)))
    rows = []
    for _ in range(r.int()):
        rows.append([_decode(typ, r.bytes()) for _, typ in columns])
    return Result('rows', columns, rows)
