"""ScyllaDB's REST API (port 10000), the part cairn uses.

Every route here is declared in ../shared/scylla/api-doc with this method and these
parameter names (test_contract.py checks it). Results follow ScyllaDB: a string is a
JSON string, a void result an empty 200, an error {"message": ..., "code": ...}.
Unknown keyspaces and tables give 400.
"""

import ipaddress

from .httpapi import Route
from .node import ApiError


def _check_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ApiError(400, 'Invalid IP address: %s' % text)


def hostid_local(node, req):
    return node.host_id


def _location(node, req, key, unknown):
    host = req.get('host')
    if not host:
        return getattr(node, key)
    _check_ip(host)
    n = node.state.node_by_address(host)
    return n[key] if n else unknown


def snitch_datacenter(node, req):
    return _location(node, req, 'dc', 'UNKNOWN_DC')


def snitch_rack(node, req):
    return _location(node, req, 'rack', 'UNKNOWN_RACK')


def release_version(node, req):
    return node.release_version


def cluster_name(node, req):
    return node.cluster_name


def data_file_locations(node, req):
    return list(node.data_dirs)


def host_id_map(node, req):
    return [{'key': n['address'], 'value': n['host_id']} for n in node.state.nodes()]


def live_endpoints(node, req):
    return node.live_and_down()[0]


def down_endpoints(node, req):
    return node.live_and_down()[1]


def local_tokens(node, req):
    return node.tokens()


def endpoint_tokens(node, req):
    endpoint = req.path_params['endpoint']
    _check_ip(endpoint)
    n = node.state.node_by_address(endpoint)
    return [str(t) for t in (n.get('tokens') or [])] if n else []


def describe_ring(node, req):
    ks = node.find_keyspace(req.path_params['keyspace'])
    table = req.get('table')
    if table:
        node.find_table(ks.name, table)
    elif ks.tablets:
        raise ApiError(400, 'describe_ring for a tablets keyspace requires a table name '
                       '(keyspace %s)' % ks.name)
    return node.ring().describe(ks.replication, node.address)


def keyspaces(node, req):
    kind = req.get('type') or 'all'
    replication = req.get('replication') or 'all'
    out = []
    for name, ks in sorted(node.current_schema().keyspaces.items()):
        if kind == 'user' and ks.system:
            continue
        if kind == 'non_local_strategy' and ks.local:
            continue
        if replication == 'vnodes' and ks.tablets:
            continue
        if replication == 'tablets' and not ks.tablets:
            continue
        out.append(name)
    return out


def column_family_names(node, req):
    return ['%s:%s' % (t.keyspace, t.name) for t in node.current_schema().tables]


def keyspace_flush(node, req):
    tables = node.tables_of(req.path_params['keyspace'], req.list('cf'))
    node.flush(tables)


def take_snapshot(node, req):
    node.snapshot(req.get('tag', ''), req.list('kn'), req.list('cf'), req.bool('sf'))


def snapshot_details(node, req):
    return node.snapshot_details()


def del_snapshot(node, req):
    node.clear_snapshots(req.get('tag', ''), req.list('kn'), req.get('cf', ''))


def get_incremental_backups(node, req):
    return node.incremental_backups


def set_incremental_backups(node, req):
    node.incremental_backups = req.bool('value')


def load_new_sstables(node, req):
    node.load(req.path_params['keyspace'], req.get('cf'),
              load_and_stream=req.bool('load_and_stream'),
              primary_replica_only=req.bool('primary_replica_only'),
              skip_cleanup=req.bool('skip_cleanup'), skip_reshape=req.bool('skip_reshape'),
              scope=req.get('scope'))


def view_build_statuses(node, req):
    out = node.views.statuses(req.path_params['keyspace'], req.path_params['view'])
    if out is None:
        raise ApiError(400, 'No such view %s.%s' % (req.path_params['keyspace'],
                                                    req.path_params['view']))
    return out


def _cf(node, req):
    ks, sep, cf = req.path_params['name'].partition(':')
    if not sep:
        raise ApiError(400, 'Column family name should be in keyspace:column_family format')
    return node.find_table(ks, cf)


def get_tombstone_gc(node, req):
    return _cf(node, req).id not in node.tombstone_gc_off


def enable_tombstone_gc(node, req):
    node.tombstone_gc_off.discard(_cf(node, req).id)


def disable_tombstone_gc(node, req):
    node.tombstone_gc_off.add(_cf(node, req).id)


ROUTES = [
    Route('GET', '/storage_service/hostid/local', handler=hostid_local),
    Route('GET', '/snitch/datacenter', ['host'], handler=snitch_datacenter),
    Route('GET', '/snitch/rack', ['host'], handler=snitch_rack),
    Route('GET', '/storage_service/scylla_release_version', handler=release_version),
    Route('GET', '/storage_service/cluster_name', handler=cluster_name),
    Route('GET', '/storage_service/data_file/locations', handler=data_file_locations),
    Route('GET', '/storage_service/host_id', handler=host_id_map),
    Route('GET', '/gossiper/endpoint/live/', handler=live_endpoints),
    Route('GET', '/gossiper/endpoint/down/', handler=down_endpoints),
    Route('GET', '/storage_service/tokens', handler=local_tokens),
    Route('GET', '/storage_service/tokens/{endpoint}', handler=endpoint_tokens),
    Route('GET', '/storage_service/describe_ring/{keyspace}', ['table'], handler=describe_ring),
    Route('GET', '/storage_service/keyspaces', ['type', 'replication'], handler=keyspaces),
    Route('GET', '/column_family/name', handler=column_family_names),
    Route('POST', '/storage_service/keyspace_flush/{keyspace}', ['cf'], handler=keyspace_flush),
    Route('POST', '/storage_service/snapshots', ['tag', 'kn', 'cf', 'sf'],
          handler=take_snapshot),
    Route('GET', '/storage_service/snapshots', handler=snapshot_details),
    Route('DELETE', '/storage_service/snapshots', ['tag', 'kn', 'cf'], handler=del_snapshot),
    Route('GET', '/storage_service/incremental_backups', handler=get_incremental_backups),
    Route('POST', '/storage_service/incremental_backups', ['value'], ['value'],
          handler=set_incremental_backups),
    Route('POST', '/storage_service/sstables/{keyspace}',
          ['cf', 'load_and_stream', 'primary_replica_only', 'skip_cleanup', 'skip_reshape',
           'scope'], ['cf'], handler=load_new_sstables),
    Route('GET', '/storage_service/view_build_statuses/{keyspace}/{view}',
          handler=view_build_statuses),
    Route('GET', '/column_family/tombstone_gc/{name}', handler=get_tombstone_gc),
    Route('POST', '/column_family/tombstone_gc/{name}', handler=enable_tombstone_gc),
    Route('DELETE', '/column_family/tombstone_gc/{name}', handler=disable_tombstone_gc),
]
