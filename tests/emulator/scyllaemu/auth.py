"""Roles, grants and service levels: kept in schema.json under "auth", described as
ScyllaDB 2025.1+ does.

DESCRIBE SCHEMA WITH INTERNALS gives them with a null keyspace, as the types role,
grant_role, grant_permission, service_level and service_level_attachment (the names
and statement forms of ScyllaDB's auth/service.cc and service_level_controller.cc);
WITH INTERNALS AND PASSWORDS adds each role's salted hash. Every cluster has the
default superuser `cassandra`, whose hash is made from the cluster's name, so two
clusters have different ones. A node whose release is older than 2025.1 refuses AND
PASSWORDS and SALTED_HASH as syntax errors and describes no auth at all.

The hash is not crypt(3): a random salt and a SHA-512 in crypt's `$6$salt$hash` shape,
which is all a backup tool can see of it.
"""

import hashlib
import re
import secrets

from . import cqlauth, cqlparse
from .cqlparse import CqlError

SUPERUSER = 'cassandra'
FIRST_AUTH_RELEASE = (2025, 1)


def describes_auth(release_version):
    """Whether a node of this release describes auth (ScyllaDB 2025.1 and later)."""
    m = re.match(r'(\d+)\.(\d+)', release_version or '')
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= FIRST_AUTH_RELEASE


def salted_hash(password, salt=None):
    salt = salt or secrets.token_hex(8)
    return '$6$%s$%s' % (salt, hashlib.sha512((salt + password).encode()).hexdigest())


def _state(doc):
    return doc.setdefault('auth', {'roles': {}, 'role_grants': [], 'permissions': [],
                                   'service_levels': {}, 'attachments': {}})


def _roles(doc, cluster_name):
    """Every role, the default superuser included: {name: {hash, login, superuser}}."""
    salt = hashlib.md5(cluster_name.encode()).hexdigest()[:16]
    roles = {SUPERUSER: {'hash': salted_hash(SUPERUSER, salt), 'login': True,
                         'superuser': True}}
    roles.update(doc.get('auth', {}).get('roles', {}))
    return roles


def _resource_text(resource):
    kind, ks, name = resource
    if kind == 'role':
        return 'ROLE %s' % cqlparse.quote_ident(name) if name else 'ALL ROLES'
    if ks is None:
        return 'ALL KEYSPACES'
    if name is None:
        return 'KEYSPACE %s' % cqlparse.quote_ident(ks)
    return '%s.%s' % (cqlparse.quote_ident(ks), cqlparse.quote_ident(name))


def _need_role(roles, name):
    if name not in roles:
        raise CqlError(CqlError.INVALID, "Role %s doesn't exist." % name)


def apply(doc, view, stmt, current_keyspace, cluster_name, release_version):
    """Applies one auth statement to doc (a fresh copy of schema.json)."""
    st = _state(doc)
    roles = _roles(doc, cluster_name)
    kind = stmt.kind
    if kind == 'create_role':
        if stmt.hash is not None and not describes_auth(release_version):
            raise cqlparse.syntax_error("no viable alternative at input 'SALTED_HASH'")
        if stmt.name in roles:
            if stmt.if_not_exists:
                return
            raise CqlError(CqlError.INVALID, 'Role %s already exists' % stmt.name)
        pw_hash = stmt.hash if stmt.hash is not None else (
            salted_hash(stmt.password) if stmt.password is not None else None)
        st['roles'][stmt.name] = {'hash': pw_hash, 'login': stmt.login,
                                  'superuser': stmt.superuser}
    elif kind == 'drop_role':
        if stmt.name not in st['roles']:
            if stmt.if_exists:
                return
            if stmt.name == SUPERUSER:
                raise CqlError(CqlError.UNAUTHORIZED, 'Cannot DROP the default superuser '
                               'in the ScyllaDB emulator')
            raise CqlError(CqlError.INVALID, "Role %s doesn't exist." % stmt.name)
        del st['roles'][stmt.name]
        st['role_grants'] = [g for g in st['role_grants'] if stmt.name not in g]
        st['permissions'] = [g for g in st['permissions'] if g[0] != stmt.name
                             and g[2] != _resource_text(('role', None, stmt.name))]
        st['attachments'].pop(stmt.name, None)
    elif kind == 'grant_role':
        _need_role(roles, stmt.role)
        _need_role(roles, stmt.grantee)
        if [stmt.role, stmt.grantee] not in st['role_grants']:
            st['role_grants'].append([stmt.role, stmt.grantee])
    elif kind == 'grant_permission':
        _need_role(roles, stmt.role)
        rkind, ks, name = stmt.resource
        if rkind == 'data' and name is not None:
            ks = ks or current_keyspace
            if ks is None:
                raise CqlError(CqlError.INVALID, 'No keyspace has been specified. USE a '
                               'keyspace, or explicitly specify keyspace.tablename')
        resource = (rkind, ks, name)
        if rkind == 'data' and ks is not None and (
                view.keyspace(ks) is None or (name is not None and view.table(ks, name) is None)):
            raise CqlError(CqlError.INVALID, "Resource %s doesn't exist."
                           % _resource_text(resource))
        if rkind == 'role' and name is not None:
            _need_role(roles, name)
        perms = [stmt.permission]
        if stmt.permission == 'ALL':
            perms = cqlauth.ROLE_PERMISSIONS if rkind == 'role' else cqlauth.DATA_PERMISSIONS
        for perm in perms:
            entry = [stmt.role, perm, _resource_text(resource)]
            if entry not in st['permissions']:
                st['permissions'].append(entry)
    elif kind == 'create_service_level':
        if stmt.name in st['service_levels']:
            if stmt.if_not_exists:
                return
            raise CqlError(CqlError.INVALID, 'Service Level %s already exists' % stmt.name)
        st['service_levels'][stmt.name] = stmt.options
    elif kind == 'attach_service_level':
        if stmt.service_level not in st['service_levels']:
            raise CqlError(CqlError.INVALID, 'Service level %s does not exist'
                           % stmt.service_level)
        _need_role(roles, stmt.role)
        st['attachments'][stmt.role] = stmt.service_level
    else:
        raise CqlError(CqlError.INVALID, 'unsupported statement')


def describe(doc, cluster_name, passwords):
    """The auth rows (keyspace_name, type, name, create_statement) of DESCRIBE SCHEMA."""
    st = doc.get('auth', {})
    q = cqlparse.quote_ident
    rows = []
    for name, r in sorted(_roles(doc, cluster_name).items()):
        head = 'IF NOT EXISTS %s' % q(name) if name == SUPERUSER else q(name)
        secret = "SALTED_HASH = '%s' AND " % r['hash'] if passwords and r['hash'] else ''
        rows.append((None, 'role', name, 'CREATE ROLE %s WITH %sLOGIN = %s AND SUPERUSER = %s;'
                     % (head, secret, str(r['login']).lower(), str(r['superuser']).lower())))
    for role, grantee in sorted(st.get('role_grants', [])):
        rows.append((None, 'grant_role', grantee, 'GRANT %s TO %s;' % (q(role), q(grantee))))
    grants = sorted((role, 'GRANT %s ON %s TO %s;' % (perm, res, q(role)))
                    for role, perm, res in st.get('permissions', []))
    rows += [(None, 'grant_permission', role, text) for role, text in grants]
    for name, options in sorted(st.get('service_levels', {}).items()):
        rows.append((None, 'service_level', name, 'CREATE SERVICE LEVEL %s%s;'
                     % (q(name), ' WITH ' + options if options else '')))
    attached = sorted((sl, 'ATTACH SERVICE LEVEL %s TO %s;' % (q(sl), q(role)))
                      for role, sl in st.get('attachments', {}).items())
    rows += [(None, 'service_level_attachment', sl, text) for sl, text in attached]
    return rows
