"""Parsing of the auth statements the emulator understands (cqlparse dispatches here).

DROP ROLE [IF EXISTS] r; CREATE ROLE [IF NOT EXISTS] r [WITH PASSWORD = '..' | SALTED_HASH = '..' | HASHED PASSWORD
= '..' | LOGIN = b | SUPERUSER = b [AND ...]]; GRANT <permission> ON <resource> TO r;
GRANT r1 TO r2; CREATE SERVICE LEVEL (or SERVICE_LEVEL) [IF NOT EXISTS] sl [WITH ...];
ATTACH SERVICE LEVEL sl TO r. Resources: ALL KEYSPACES, KEYSPACE ks, [TABLE] [ks.]t,
ALL ROLES, ROLE r. ScyllaDB 2025.1 describes a role's hash as SALTED_HASH; later versions
as HASHED PASSWORD: both are read.
"""

from . import cqlparse

DATA_PERMISSIONS = ['CREATE', 'ALTER', 'DROP', 'SELECT', 'MODIFY', 'AUTHORIZE']
ROLE_PERMISSIONS = ['CREATE', 'ALTER', 'DROP', 'AUTHORIZE', 'DESCRIBE']
PERMISSIONS = {'create', 'alter', 'drop', 'select', 'modify', 'authorize', 'describe',
               'execute', 'all'}


def role_name(p):
    """A role name: an identifier, or a string literal (kept as written)."""
    t = p.peek()
    if t is not None and t.kind == 'str':
        p.take()
        return t.text[1:-1].replace("''", "'")
    return p.ident()[0]


def _value(p, what):
    p.expect_sym('=')
    v = p.literal()
    if what == 'string' and not isinstance(v, str):
        raise cqlparse.CqlError(cqlparse.CqlError.SYNTAX, 'line 1:0 a string is expected')
    if what == 'bool' and not isinstance(v, bool):
        raise cqlparse.CqlError(cqlparse.CqlError.SYNTAX, 'line 1:0 true or false is expected')
    return v


def parse_create_role(p):
    ine = p.if_not_exists()
    st = cqlparse.Statement(kind='create_role', name=role_name(p), if_not_exists=ine,
                            password=None, hash=None, login=False, superuser=False)
    if p.accept_word('with'):
        while True:
            t = p.take()
            if t.is_word('password'):
                st['password'] = _value(p, 'string')
            elif t.is_word('salted_hash'):
                st['hash'] = _value(p, 'string')
            elif t.is_word('salted') and p.expect_word('hash'):
                st['hash'] = _value(p, 'string')
            elif t.is_word('hashed') and p.expect_word('password'):
                st['hash'] = _value(p, 'string')
            elif t.is_word('login'):
                st['login'] = _value(p, 'bool')
            elif t.is_word('superuser'):
                st['superuser'] = _value(p, 'bool')
            else:
                raise cqlparse.syntax_error("no viable alternative at input '%s'" % t.text)
            if not p.accept_word('and'):
                break
    cqlparse._expect_end(p)
    if st.password is not None and st.hash is not None:
        raise cqlparse.CqlError(cqlparse.CqlError.INVALID,
                                'PASSWORD and SALTED_HASH cannot be used together')
    return st


def parse_drop_role(p):
    ie = p.if_exists()
    name = role_name(p)
    cqlparse._expect_end(p)
    return cqlparse.Statement(kind='drop_role', name=name, if_exists=ie)


def _resource(p):
    """(kind, keyspace, name): ('data', None, None) is ALL KEYSPACES."""
    if p.accept_word('all'):
        if p.accept_word('keyspaces'):
            return ('data', None, None)
        if p.accept_word('roles'):
            return ('role', None, None)
        t = p.peek()
        raise cqlparse.CqlError(cqlparse.CqlError.INVALID, 'ALL %s is not supported by the '
                                'ScyllaDB emulator' % (t.text.upper() if t else ''))
    if p.accept_word('keyspace'):
        return ('data', p.ident()[0], None)
    if p.accept_word('role'):
        return ('role', None, role_name(p))
    p.accept_word('table')
    ks, table, _ = p.qualified_name()
    return ('data', ks, table)


def parse_grant(p):
    t = p.peek()
    follows = p.peek(1)
    if t is not None and t.is_word(*PERMISSIONS) and follows is not None and \
            follows.is_word('on', 'permission', 'permissions'):
        p.take()
        p.accept_word('permission', 'permissions')
        p.expect_word('on')
        resource = _resource(p)
        p.expect_word('to')
        role = role_name(p)
        cqlparse._expect_end(p)
        return cqlparse.Statement(kind='grant_permission', permission=t.text.upper(),
                                  resource=resource, role=role)
    granted = role_name(p)
    p.expect_word('to')
    grantee = role_name(p)
    cqlparse._expect_end(p)
    return cqlparse.Statement(kind='grant_role', role=granted, grantee=grantee)


def _service_level_word(p, first):
    """SERVICE_LEVEL, or SERVICE LEVEL (first is the token already taken)."""
    if first.is_word('service_level'):
        return True
    if first.is_word('service'):
        p.expect_word('level')
        return True
    return False


def parse_create_service_level(p, first):
    _service_level_word(p, first)
    ine = p.if_not_exists()
    name = p.ident()[0]
    options = ''
    if p.accept_word('with'):
        start = p.peek()
        if start is None:
            raise cqlparse.syntax_error('unexpected end of statement')
        options = p.text[start.start:].rstrip().rstrip(';').rstrip()
        p.i = len(p.toks)
    cqlparse._expect_end(p)
    return cqlparse.Statement(kind='create_service_level', name=name, if_not_exists=ine,
                              options=options)


def parse_attach(p):
    first = p.take()
    if not _service_level_word(p, first):
        raise cqlparse.syntax_error("mismatched input '%s' expecting SERVICE_LEVEL"
                                    % first.text)
    sl = p.ident()[0]
    p.expect_word('to')
    role = role_name(p)
    cqlparse._expect_end(p)
    return cqlparse.Statement(kind='attach_service_level', service_level=sl, role=role)
