"""The configuration files of cairn's agents and coordinator for an emulated cluster."""

import json
import os
import re

_PLAIN = re.compile(r'^[A-Za-z0-9_./+@-][A-Za-z0-9_./:+@-]*$')


def yaml_scalar(value):
    """A YAML scalar: bare when unambiguous, else double-quoted (JSON quoting is valid YAML)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    text = str(value)
    if _PLAIN.match(text) and text not in ('true', 'false', 'null', 'yes', 'no', 'on', 'off'):
        return text
    return json.dumps(text)


def _tls(certs, name):
    return ['tls:',
            '  ca: %s' % yaml_scalar(os.path.join(certs, 'ca.crt')),
            '  cert: %s' % yaml_scalar(os.path.join(certs, name + '.crt')),
            '  key: %s' % yaml_scalar(os.path.join(certs, name + '.key'))]


def default_repository(cluster_dir):
    return 'file://' + os.path.join(cluster_dir, 'repo')


def agent_yaml(cluster_name, node, cluster_dir, insecure=False, username=None, password=None,
               repositories=None, cql_tls=None):
    """DIR/<node>/agent.yaml: listen on the node's address, talk to its REST and CQL, and
    serve `repositories` (default: the bed's own, file://DIR/repo), and no other.
    cql_tls: the keys of scylla.cql_tls ({'ca': path, ...}), or None for plain CQL."""
    ndir = os.path.join(cluster_dir, node['name'])
    scheme = 'tcp' if insecure else 'tls+tcp'
    lines = ['cluster: %s' % yaml_scalar(cluster_name),
             'listen: %s' % yaml_scalar('%s://%s:%d' % (scheme, node['address'],
                                                         node['agent_port']))]
    if insecure:
        lines.append('insecure: true')
    else:
        lines += _tls(os.path.join(cluster_dir, 'certs'), node['address'])
    lines += ['scylla:',
              '  api: %s' % yaml_scalar('http://%s:%d' % (node['address'], node['rest_port'])),
              '  cql: %s' % yaml_scalar('%s:%d' % (node['address'], node['cql_port']))]
    if username is not None:
        lines += ['  username: %s' % yaml_scalar(username),
                  '  password: %s' % yaml_scalar(password or '')]
    if cql_tls:
        lines.append('  cql_tls:')
        lines += ['    %s: %s' % (k, yaml_scalar(v)) for k, v in sorted(cql_tls.items())]
    lines += ['state_dir: %s' % yaml_scalar(os.path.join(ndir, 'agent-state')),
              'log_file: %s' % yaml_scalar(os.path.join(ndir, 'agent.log')),
              'repositories:']
    for r in repositories or [default_repository(cluster_dir)]:
        lines.append('  - location: %s' % yaml_scalar(r))
    return '\n'.join(lines) + '\n'


def coordinator_yaml(cluster_name, nodes, cluster_dir, insecure=False, repository=None):
    """DIR/cairn.yaml: the repository, the coordinator certificate, every agent."""
    repo = repository or default_repository(cluster_dir)
    lines = ['cluster: %s' % yaml_scalar(cluster_name),
             'repository: %s' % yaml_scalar(repo)]
    if insecure:
        lines.append('insecure: true')
    else:
        lines += _tls(os.path.join(cluster_dir, 'certs'), 'coordinator')
    lines.append('agents:')
    for n in nodes:
        lines.append('  - %s' % yaml_scalar('%s:%d' % (n['address'], n['agent_port'])))
    return '\n'.join(lines) + '\n'
