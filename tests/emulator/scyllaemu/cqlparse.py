"""A small CQL parser for the statements the emulator understands.

Only the shape of each statement is parsed: names, IF [NOT] EXISTS, the replication
map of a keyspace and the `ID` option of a table. Everything else is kept verbatim,
because DESCRIBE must give back the statement that created an object. Three edits
make the stored text look like ScyllaDB's DESCRIBE output: `IF NOT EXISTS` is dropped,
an unqualified name gets its keyspace prefixed (the output must work without USE) and
a `WITH ID = ...` option is cut out (the id is stored apart and added back by
DESCRIBE ... WITH INTERNALS). The parser records these as text edits; render() applies
them once the session's keyspace is known.
"""

import re
import uuid

from . import cqlauth


class CqlError(Exception):
    """A statement the emulator refuses; `code` is the native protocol error code."""

    SYNTAX = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG = 0x2300
    ALREADY_EXISTS = 0x2400
    SERVER = 0x0000

    def __init__(self, code, message, keyspace=None, table=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.keyspace = keyspace      # for ALREADY_EXISTS
        self.table = table


def syntax_error(msg):
    return CqlError(CqlError.SYNTAX, 'line 1:0 ' + msg)


_TOKEN_RE = re.compile(r"""
   (?P<ws>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
 | (?P<str>'(?:[^']|'')*')
 | (?P<dollar>\$\$.*?\$\$)
 | (?P<qid>"(?:[^"]|"")*")
 | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
 | (?P<blob>0[xX][0-9a-fA-F]*)
 | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
 | (?P<word>[A-Za-z][A-Za-z0-9_]*)
 | (?P<sym><=|>=|!=|[(){}\[\],;=.<>:+\-*?/%])
""", re.S | re.X)


class Token:
    __slots__ = ('kind', 'text', 'start', 'end')

    def __init__(self, kind, text, start, end):
        self.kind, self.text, self.start, self.end = kind, text, start, end

    def is_word(self, *words):
        return self.kind == 'word' and self.text.lower() in words

    def is_sym(self, sym):
        return self.kind == 'sym' and self.text == sym

    def __repr__(self):
        return '%s:%s' % (self.kind, self.text)


def tokenize(text):
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise syntax_error("token recognition error at: '%s'" % text[pos:pos + 10])
        kind = m.lastgroup
        if kind != 'ws':
            tokens.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return tokens


def unquote_ident(tok):
    if tok.kind == 'qid':
        return tok.text[1:-1].replace('""', '"')
    return tok.text.lower()


def quote_ident(name):
    """Render a name as CQL needs it: bare when lower-case alphanumeric, else quoted."""
    if re.match(r'^[a-z][a-z0-9_]*$', name):
        return name
    return '"' + name.replace('"', '""') + '"'


class Bound:
    """A value bound to a `?` marker, as raw protocol bytes (None for null)."""

    def __init__(self, raw):
        self.raw = raw


class Parser:
    """Cursor over the tokens of one statement."""

    def __init__(self, text, values=None):
        self.text = text
        self.toks = tokenize(text)
        # A single trailing semicolon is allowed; anything after it is a second statement.
        if self.toks and self.toks[-1].is_sym(';'):
            self.toks.pop()
        for t in self.toks:
            if t.is_sym(';'):
                raise syntax_error("mismatched input ';' (one statement per query)")
        self.i = 0
        self.values = list(values or [])
        self.next_value = 0
        self.edits = []          # (start, end, replacement) on self.text

    # -- cursor helpers --
    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at_end(self):
        return self.i >= len(self.toks)

    def take(self):
        t = self.peek()
        if t is None:
            raise syntax_error('unexpected end of statement')
        self.i += 1
        return t

    def accept_word(self, *words):
        t = self.peek()
        if t is not None and t.is_word(*words):
            self.i += 1
            return t
        return None

    def expect_word(self, *words):
        t = self.take()
        if not t.is_word(*words):
            raise syntax_error("mismatched input '%s' expecting %s" % (t.text, words[0].upper()))
        return t

    def expect_sym(self, sym):
        t = self.take()
        if not t.is_sym(sym):
            raise syntax_error("mismatched input '%s' expecting '%s'" % (t.text, sym))
        return t

    def accept_sym(self, sym):
        t = self.peek()
        if t is not None and t.is_sym(sym):
            self.i += 1
            return t
        return None

    def ident(self):
        t = self.take()
        if t.kind not in ('word', 'qid'):
            raise syntax_error("no viable alternative at input '%s'" % t.text)
        return unquote_ident(t), t

    def qualified_name(self):
        """[ks.]name → (ks or None, name, first token)."""
        first, tok = self.ident()
        if self.accept_sym('.'):
            second, _ = self.ident()
            return first, second, tok
        return None, first, tok

    def if_not_exists(self):
        """Accept IF NOT EXISTS, recording its removal from the stored text."""
        first = self.accept_word('if')
        if first is None:
            return False
        self.expect_word('not')
        self.expect_word('exists')
        following = self.peek()
        self.edits.append((first.start, following.start if following else len(self.text), ''))
        return True

    def if_exists(self):
        if self.accept_word('if'):
            self.expect_word('exists')
            return True
        return False

    def skip_balanced(self):
        """Skip from an opening bracket to its match; return the closing token."""
        pairs = {'(': ')', '{': '}', '[': ']'}
        opening = self.take()
        if opening.text not in pairs or opening.kind != 'sym':
            raise syntax_error("mismatched input '%s' expecting '('" % opening.text)
        stack = [pairs[opening.text]]
        while stack:
            t = self.take()
            if t.kind == 'sym' and t.text in pairs:
                stack.append(pairs[t.text])
            elif t.kind == 'sym' and t.text == stack[-1]:
                stack.pop()
            elif t.kind == 'sym' and t.text in ')}]':
                raise syntax_error("mismatched input '%s'" % t.text)
        return t

    def literal(self):
        """A constant: string, number, boolean, uuid, blob, map or a bound `?`."""
        t = self.take()
        if t.kind == 'str':
            return t.text[1:-1].replace("''", "'")
        if t.kind == 'dollar':
            return t.text[2:-2]
        if t.kind == 'uuid':
            return uuid.UUID(t.text)
        if t.kind == 'num':
            return float(t.text) if re.search(r'[.eE]', t.text) else int(t.text)
        if t.kind == 'blob':
            return bytes.fromhex(t.text[2:])
        if t.is_word('true', 'false'):
            return t.text.lower() == 'true'
        if t.is_word('null'):
            return None
        if t.is_sym('?'):
            if self.next_value >= len(self.values):
                raise CqlError(CqlError.INVALID, 'There were %d markers(?) in CQL but %d bound '
                               'variables' % (self.next_value + 1, len(self.values)))
            v = self.values[self.next_value]
            self.next_value += 1
            return Bound(v)
        if t.is_sym('{'):
            result = {}
            if self.accept_sym('}'):
                return result
            while True:
                k = self.literal()
                self.expect_sym(':')
                result[k] = self.literal()
                if self.accept_sym('}'):
                    return result
                self.expect_sym(',')
        raise syntax_error("no viable alternative at input '%s'" % t.text)


class Statement(dict):
    """A parsed statement: a dict with at least `kind`; attribute access for brevity."""

    __getattr__ = dict.get


def parse(text, values=None):
    p = Parser(text, values)
    if p.at_end():
        raise syntax_error('empty statement')
    t = p.take()
    if t.is_word('describe', 'desc'):
        return _parse_describe(p)
    if t.is_word('select'):
        return _parse_select(p)
    if t.is_word('use'):
        ks, _ = p.ident()
        _expect_end(p)
        return Statement(kind='use', keyspace=ks)
    if t.is_word('create'):
        return _parse_create(p)
    if t.is_word('drop'):
        return _parse_drop(p)
    if t.is_word('alter') and p.peek() is not None and p.peek().is_word('table'):
        return _parse_alter_table(p)
    if t.is_word('grant'):
        return cqlauth.parse_grant(p)
    if t.is_word('attach'):
        return cqlauth.parse_attach(p)
    if t.is_word('insert', 'update', 'delete', 'batch', 'truncate', 'alter', 'revoke', 'list',
                 'begin', 'detach'):
        raise CqlError(CqlError.INVALID, '%s statements are not supported by the ScyllaDB '
                       'emulator' % t.text.upper())
    raise syntax_error("no viable alternative at input '%s'" % t.text)


def _expect_end(p):
    if not p.at_end():
        raise syntax_error("extraneous input '%s' expecting <EOF>" % p.peek().text)


def _parse_describe(p):
    full = bool(p.accept_word('full'))
    if not p.accept_word('schema'):
        t = p.peek()
        raise CqlError(CqlError.INVALID, 'DESCRIBE %s is not supported by the ScyllaDB emulator '
                       '(only DESCRIBE SCHEMA)' % (t.text.upper() if t else ''))
    internals = passwords = False
    if p.accept_word('with'):
        p.expect_word('internals')
        internals = True
        if p.accept_word('and'):
            p.expect_word('passwords')
            passwords = True
    _expect_end(p)
    if full:
        raise CqlError(CqlError.INVALID, 'DESCRIBE FULL SCHEMA is not supported by the '
                       'ScyllaDB emulator')
    return Statement(kind='describe_schema', internals=internals, passwords=passwords)


def _parse_select(p):
    columns = []
    if p.accept_sym('*'):
        columns = None
    else:
        while True:
            name, _ = p.ident()
            columns.append(name)
            if not p.accept_sym(','):
                break
    p.expect_word('from')
    ks, table, _ = p.qualified_name()
    where = []
    limit = None
    if p.accept_word('where'):
        while True:
            col, _ = p.ident()
            op = p.take()
            if not op.is_sym('='):
                raise CqlError(CqlError.INVALID, 'only = restrictions are supported by the '
                               'ScyllaDB emulator')
            where.append((col, p.literal()))
            if not p.accept_word('and'):
                break
    if p.accept_word('limit'):
        limit = p.literal()
    if p.accept_word('allow'):
        p.expect_word('filtering')
    _expect_end(p)
    return Statement(kind='select', keyspace=ks, table=table, columns=columns, where=where,
                     limit=limit)


def _parse_create(p):
    custom = bool(p.accept_word('custom'))
    t = p.take()
    word = t.text.lower() if t.kind == 'word' else ''
    if custom and word != 'index':
        raise syntax_error("mismatched input '%s' expecting INDEX" % t.text)
    if word == 'keyspace' or word == 'schema':
        return _parse_create_keyspace(p)
    if word in ('table', 'columnfamily'):
        return _parse_create_table(p)
    if word == 'type':
        return _parse_create_type(p)
    if word == 'index':
        return _parse_create_index(p)
    if word == 'materialized':
        p.expect_word('view')
        return _parse_create_view(p)
    if word == 'role':
        return cqlauth.parse_create_role(p)
    if word in ('service_level', 'service'):
        return cqlauth.parse_create_service_level(p, t)
    if word in ('function', 'aggregate', 'user', 'trigger', 'or'):
        raise CqlError(CqlError.INVALID, 'CREATE %s is not supported by the ScyllaDB emulator'
                       % t.text.upper())
    raise syntax_error("no viable alternative at input '%s'" % t.text)


def _verbatim(p):
    """The statement text without trailing whitespace and semicolon."""
    return p.text.rstrip().rstrip(';').rstrip()


def _parse_create_keyspace(p):
    ine = p.if_not_exists()
    name, _ = p.ident()
    options = _parse_options(p)
    _expect_end(p)
    replication = options.get('replication')
    if not isinstance(replication, dict) or 'class' not in replication:
        raise CqlError(CqlError.CONFIG, 'Missing mandatory replication strategy class')
    durable = options.get('durable_writes', True)
    tablets = options.get('tablets')
    tablets_enabled = (isinstance(tablets, dict)
                       and str(tablets.get('enabled', '')).lower() == 'true')
    return Statement(kind='create_keyspace', name=name, if_not_exists=ine,
                     replication={str(k): str(v) for k, v in replication.items()},
                     durable_writes=bool(durable), tablets=tablets_enabled,
                     text=_verbatim(p), edits=p.edits, qualify=[])


def _parse_options(p, allow_missing=True):
    """Parse `WITH name = value AND ...`; return {name: value} (ID recorded with span)."""
    opts = {}
    if not p.accept_word('with'):
        return opts
    while True:
        t = p.peek()
        if t is not None and t.is_word('clustering'):
            p.take()
            p.expect_word('order')
            p.expect_word('by')
            p.skip_balanced()
        elif t is not None and t.is_word('compact'):
            p.take()
            p.expect_word('storage')
        else:
            name, _ = p.ident()
            p.expect_sym('=')
            opts[name] = p.literal()
        if not p.accept_word('and'):
            return opts


def _table_options(p):
    """Parse a table's or view's WITH clause and return the `ID = <uuid>` it gives, if any.

    The clause is walked option by option so that the ID option can be cut from the
    text together with the WITH or AND that joins it to its neighbours (an edit).
    """
    with_index = p.i
    if p.accept_word('with') is None:
        return None
    spans = []        # (index of first token, index of last token) per option
    table_id = None
    id_at = None
    while True:
        first_i = p.i
        first = p.peek()
        if first is None:
            raise syntax_error('unexpected end of statement in WITH')
        if first.is_word('clustering'):
            p.take()
            p.expect_word('order')
            p.expect_word('by')
            p.skip_balanced()
        elif first.is_word('compact'):
            p.take()
            p.expect_word('storage')
        else:
            name, _ = p.ident()
            p.expect_sym('=')
            value = p.literal()
            if name == 'id':
                if isinstance(value, Bound):
                    raise CqlError(CqlError.INVALID, 'ID must be a literal uuid')
                try:
                    table_id = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
                except ValueError:
                    raise CqlError(CqlError.INVALID, 'Invalid table id: %s' % value)
                id_at = len(spans)
        spans.append((first_i, p.i - 1))
        if p.accept_word('and') is None:
            break
    if id_at is None:
        return None
    toks = p.toks
    first_i, last_i = spans[id_at]
    if len(spans) == 1:          # " WITH ID = x" goes entirely
        start = toks[with_index - 1].end
    elif id_at == 0:             # "ID = x AND " goes, the next option follows WITH
        start, last_end = toks[first_i].start, toks[spans[1][0]].start
        p.edits.append((start, last_end, ''))
        return table_id
    else:                        # " AND ID = x" goes
        start = toks[spans[id_at - 1][1]].end
    p.edits.append((start, toks[last_i].end, ''))
    return table_id


def _parse_create_table(p):
    ine = p.if_not_exists()
    ks, name, name_tok = p.qualified_name()
    if not p.peek() or not p.peek().is_sym('('):
        raise syntax_error("mismatched input expecting '('")
    p.skip_balanced()
    table_id = _table_options(p)
    _expect_end(p)
    return Statement(kind='create_table', keyspace=ks, name=name, if_not_exists=ine,
                     id=table_id, text=_verbatim(p), edits=p.edits,
                     qualify=[] if ks else [(name_tok.start, 'name')])


def _parse_create_type(p):
    ine = p.if_not_exists()
    ks, name, name_tok = p.qualified_name()
    p.skip_balanced()
    _expect_end(p)
    return Statement(kind='create_type', keyspace=ks, name=name, if_not_exists=ine,
                     text=_verbatim(p), edits=p.edits,
                     qualify=[] if ks else [(name_tok.start, 'name')])


def _parse_create_index(p):
    ine = p.if_not_exists()
    name = None
    if not (p.peek() and p.peek().is_word('on')):
        name, _ = p.ident()
    p.expect_word('on')
    ks, table, table_tok = p.qualified_name()
    # Target: (col), (keys(col)), (values(col)), (entries(col)), (full(col)), or (c1, c2).
    p.expect_sym('(')
    target = None
    depth = 1
    while depth:
        t = p.take()
        if t.is_sym('('):
            depth += 1
        elif t.is_sym(')'):
            depth -= 1
        elif target is None and t.kind in ('word', 'qid') and not (
                t.kind == 'word' and t.text.lower() in ('keys', 'values', 'entries', 'full')
                and p.peek() is not None and p.peek().is_sym('(')):
            target = unquote_ident(t)
    if p.accept_word('using'):
        p.literal()
        if p.accept_word('with'):
            p.expect_word('options')
            p.expect_sym('=')
            p.literal()
    _expect_end(p)
    if name is None:
        name = '%s_%s_idx' % (table, target or 'idx')
    return Statement(kind='create_index', keyspace=ks, table=table, name=name,
                     if_not_exists=ine, text=_verbatim(p), edits=p.edits,
                     qualify=[] if ks else [(table_tok.start, 'name')])


def _parse_create_view(p):
    ine = p.if_not_exists()
    ks, name, name_tok = p.qualified_name()
    p.expect_word('as')
    p.expect_word('select')
    while not (p.peek() and p.peek().is_word('from')):
        p.take()
    p.expect_word('from')
    base_ks, base, base_tok = p.qualified_name()
    # WHERE ... PRIMARY KEY (...) [WITH ...]: the first top-level WITH starts the options.
    depth = 0
    while True:
        t = p.peek()
        if t is None:
            break
        if depth == 0 and t.is_word('with'):
            break
        if t.is_sym('('):
            depth += 1
        elif t.is_sym(')'):
            depth -= 1
        p.take()
    view_id = _table_options(p)
    _expect_end(p)
    qualify = [] if ks else [(name_tok.start, 'name')]
    if not base_ks:
        qualify.append((base_tok.start, 'base'))
    return Statement(kind='create_view', keyspace=ks, name=name, base_keyspace=base_ks,
                     base=base, if_not_exists=ine, id=view_id, text=_verbatim(p),
                     edits=p.edits, qualify=qualify)


def _parse_drop(p):
    t = p.take()
    word = t.text.lower() if t.kind == 'word' else ''
    if word == 'materialized':
        p.expect_word('view')
        word = 'view'
    if word == 'columnfamily':
        word = 'table'
    if word == 'schema':
        word = 'keyspace'
    if word == 'role':
        return cqlauth.parse_drop_role(p)
    if word not in ('keyspace', 'table', 'type', 'index', 'view'):
        raise CqlError(CqlError.INVALID, 'DROP %s is not supported by the ScyllaDB emulator'
                       % t.text.upper())
    ie = p.if_exists()
    if word == 'keyspace':
        name, _ = p.ident()
        ks = None
    else:
        ks, name, _ = p.qualified_name()
    _expect_end(p)
    return Statement(kind='drop_' + word, keyspace=ks if word != 'keyspace' else name,
                     name=name, if_exists=ie, explicit_keyspace=ks is not None)


def _parse_alter_table(p):
    """ALTER TABLE [ks.]t DROP col [USING TIMESTAMP n] | ADD col type: what DESCRIBE
    WITH INTERNALS writes for dropped columns (other ALTERs are not emulated)."""
    p.expect_word('table')
    ks, name, _ = p.qualified_name()
    op = p.take()
    if op.is_word('drop'):
        column, _ = p.ident()
        timestamp = None
        if p.accept_word('using'):
            p.expect_word('timestamp')
            timestamp = p.literal()
            if not isinstance(timestamp, int):
                raise CqlError(CqlError.INVALID, 'USING TIMESTAMP takes an integer')
        _expect_end(p)
        return Statement(kind='alter_table_drop', keyspace=ks, name=name, column=column,
                         timestamp=timestamp)
    if op.is_word('add'):
        column, _ = p.ident()
        first = p.peek()
        if first is None:
            raise syntax_error('ADD needs a column type')
        column_type = p.text[first.start:].rstrip().rstrip(';').rstrip()
        return Statement(kind='alter_table_add', keyspace=ks, name=name, column=column,
                         column_type=column_type)
    raise CqlError(CqlError.INVALID, 'ALTER TABLE ... %s is not supported by the ScyllaDB '
                   'emulator (only ADD and DROP of a column)' % op.text.upper())


def render(stmt, keyspace):
    """The text to store: the statement with its edits applied and its names qualified."""
    edits = list(stmt.edits or [])
    for pos, which in stmt.qualify or []:
        ks = keyspace if which == 'name' else (stmt.base_keyspace or keyspace)
        edits.append((pos, pos, quote_ident(ks) + '.'))
    text = stmt.text
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def with_id(statement, kind, object_id):
    """Add `ID = <uuid>` to a stored CREATE TABLE/VIEW statement (WITH INTERNALS)."""
    p = Parser(statement)
    p.take()                                   # CREATE
    if kind == 'view':
        while not p.peek().is_word('view'):
            p.take()
        p.take()
        p.if_not_exists()
        p.qualified_name()
        depth = 0
        while p.peek() is not None and not (depth == 0 and p.peek().is_word('with')):
            t = p.take()
            depth += 1 if t.is_sym('(') else -1 if t.is_sym(')') else 0
    else:
        p.take()                               # TABLE
        p.if_not_exists()
        p.qualified_name()
        p.skip_balanced()
    t = p.peek()
    if t is not None and t.is_word('with'):
        first = p.peek(1)
        return statement[:first.start] + 'ID = %s AND ' % object_id + statement[first.start:]
    return statement + ' WITH ID = %s' % object_id
