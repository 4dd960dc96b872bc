#!/usr/bin/env python3
"""Start, drive and stop a cluster of emulated ScyllaDB nodes (optionally with cairn agents).

Command line:
    cluster.py start --dir DIR --nodes N [--dcs dc1:2,dc2:1] [--data-dirs K]
                     [--cluster-name NAME] [--base-address 127.0.1.1]
                     [--cql-tls | --cql-tls-client-auth]
                     [--with-agents --bin-dir BUILD/bin [--insecure] [--repository URL]
                      [--serve URL]...]
    cluster.py stop|status --dir DIR
    cluster.py write --dir DIR --keyspace KS --table T --bytes N [--node NAME] [--flush]
    cluster.py compact|create-table --dir DIR --keyspace KS --table T [--node NAME]
    cluster.py digest --dir DIR [--keyspace KS [--table T]]
    cluster.py mark-down|mark-up --dir DIR --node NAME

As a module: `with Cluster(dir, nodes=3) as c: c.write(...)`; leaving the block stops
every process the cluster started, even when the test failed. The format of
DIR/cluster.json is described in docs/testing.md.
"""

import argparse
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from scyllaemu import agentconf, tlscerts          # noqa: E402
from scyllaemu.cqlclient import CqlClient          # noqa: E402
from scyllaemu.procs import (cmdline, die_with_parent, pid_alive, read_pid,  # noqa: E402
                             tcp_accepts)
from scyllaemu.ring import tokens_for              # noqa: E402
from scyllaemu.sharedstate import write_json_atomic  # noqa: E402

NODE_SCRIPT = os.path.join(HERE, 'scylla_node.py')

# cql_tls: how the nodes serve CQL (their client_encryption_options).
CQL_TLS_MODES = (None, 'tls', 'client-auth')


class ClusterError(Exception):
    pass


def parse_dcs(spec, nodes):
    """'dc1:2,dc2:1' → ['dc1', 'dc1', 'dc2']; without a spec, every node in dc1."""
    if not spec:
        return ['dc1'] * (nodes or 3)
    out = []
    for part in spec.split(','):
        name, _, count = part.partition(':')
        if not name or not count.isdigit() or int(count) < 1:
            raise ClusterError('bad --dcs entry %r (want name:count)' % part)
        out.extend([name] * int(count))
    if nodes and nodes != len(out):
        raise ClusterError('--nodes %d does not match --dcs %s (%d nodes)'
                           % (nodes, spec, len(out)))
    return out


def parse_size(text):
    m = re.match(r'^(\d+)([KMGkmg]?)(i?[Bb]?)$', str(text))
    if not m:
        raise ClusterError('bad size %r' % text)
    return int(m.group(1)) * {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}[m.group(2).lower()]


class Cluster:
    def __init__(self, directory, nodes=None, dcs=None, data_dirs=1, cluster_name='emulated',
                 base_address='127.0.1.1', rest_port=10000, cql_port=9042, agent_port=7400,
                 num_tokens=16, racks=1, username=None, password=None,
                 numeric_generations=False, incremental_backups=False, host_ids=None,
                 release_version=None, with_agents=False, bin_dir=None, insecure=False,
                 repository=None, serve=None, cql_tls=None, exit_with_parent=True,
                 start_timeout=20.0):
        self.dir = os.path.abspath(directory)
        self.node_count = nodes
        self.dcs = dcs
        self.data_dir_count = data_dirs
        self.cluster_name = cluster_name
        self.base_address = base_address
        self.rest_port = rest_port
        self.cql_port = cql_port
        self.agent_port = agent_port
        self.num_tokens = num_tokens
        self.racks = racks
        self.username = username
        self.password = password
        self.numeric_generations = numeric_generations
        self.incremental_backups = incremental_backups
        self.release_version = release_version     # None: the node's default
        self.host_ids = host_ids
        self.with_agents = with_agents
        self.bin_dir = os.path.abspath(bin_dir) if bin_dir else None
        self.insecure = insecure
        self.repository = repository
        # Repositories the agents serve beyond the bed's own; "{dir}" is the bed's directory.
        self.serve = [u.replace('{dir}', self.dir) for u in serve or []]
        # 'tls': CQL over TLS only, certificates in DIR/cql-certs (tlscerts); 'client-auth':
        # also require a client certificate. The agents are configured to match.
        if cql_tls not in CQL_TLS_MODES:
            raise ClusterError('cql_tls must be one of %s' % (CQL_TLS_MODES,))
        self.cql_tls = cql_tls
        self.exit_with_parent = exit_with_parent
        self.start_timeout = start_timeout
        self._procs = {}             # pid -> Popen, for the processes this object started
        self.doc = None

    # --- cluster.json ---------------------------------------------------------------------

    @property
    def cluster_file(self):
        return os.path.join(self.dir, 'cluster.json')

    @classmethod
    def open(cls, directory):
        """Attach to a cluster started earlier (by the CLI or another process)."""
        c = cls(directory, exit_with_parent=False)
        with open(c.cluster_file) as f:
            c.doc = json.load(f)
        opts = c.doc.get('options', {})
        c.cluster_name = c.doc['cluster_name']
        c.username, c.password = opts.get('username'), opts.get('password')
        c.numeric_generations = opts.get('numeric_generations', False)
        c.incremental_backups = opts.get('incremental_backups', False)
        c.release_version = opts.get('release_version')
        c.with_agents = opts.get('with_agents', False)
        c.bin_dir = opts.get('bin_dir')
        c.insecure = opts.get('insecure', False)
        c.repository = opts.get('repository')
        c.serve = opts.get('serve', [])
        c.cql_tls = opts.get('cql_tls')
        return c

    def _save(self):
        write_json_atomic(self.cluster_file, self.doc)

    def _plan(self):
        dcs = parse_dcs(self.dcs, self.node_count)
        base = [int(x) for x in self.base_address.split('.')]
        if len(base) != 4 or base[3] + len(dcs) - 1 > 254:
            raise ClusterError('base address %s leaves no room for %d nodes'
                               % (self.base_address, len(dcs)))
        per_dc = {}
        nodes = []
        for i, dc in enumerate(dcs):
            k = per_dc.get(dc, 0)
            per_dc[dc] = k + 1
            name = 'node%d' % (i + 1)
            host_id = (str(self.host_ids[i]) if self.host_ids and i < len(self.host_ids)
                       else str(uuid.uuid4()))
            ndir = os.path.join(self.dir, name)
            nodes.append({
                'name': name,
                'address': '%d.%d.%d.%d' % (base[0], base[1], base[2], base[3] + i),
                'rest_port': self.rest_port, 'cql_port': self.cql_port,
                'host_id': host_id, 'dc': dc, 'rack': 'rack%d' % (k % self.racks + 1),
                'tokens': [str(t) for t in tokens_for(host_id, self.num_tokens)],
                'data_dirs': [os.path.join(ndir, 'data%d' % j)
                              for j in range(self.data_dir_count)],
                'pid': None, 'pid_file': os.path.join(ndir, 'scylla.pid'),
                'log_file': os.path.join(ndir, 'scylla.log'),
                'agent_port': self.agent_port,
            })
        return {'cluster_name': self.cluster_name, 'nodes': nodes,
                'options': {'username': self.username, 'password': self.password,
                            'numeric_generations': self.numeric_generations,
                            'incremental_backups': self.incremental_backups,
                            'release_version': self.release_version,
                            'with_agents': self.with_agents, 'bin_dir': self.bin_dir,
                            'insecure': self.insecure, 'repository': self.repository,
                            'serve': self.serve, 'cql_tls': self.cql_tls}}

    @property
    def nodes(self):
        return self.doc['nodes']

    def node(self, which):
        """A node entry by name ('node2'), address or index."""
        if isinstance(which, dict):
            return which
        if isinstance(which, int):
            return self.nodes[which]
        for n in self.nodes:
            if which in (n['name'], n['address']):
                return n
        raise ClusterError('no node %r' % which)

    # --- processes ------------------------------------------------------------------------

    def _spawn(self, argv, log_path, pid_file=None, death_signal=False):
        """Start a background process in its own session (so stop can signal its group).

        death_signal: have Linux SIGTERM it when the calling *thread* ends; used for the
        agents, which cannot watch their parent themselves (nodes do, by process).
        """
        log = open(log_path, 'ab')
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    close_fds=True,
                                    preexec_fn=die_with_parent if death_signal else None)
        finally:
            log.close()
        self._procs[proc.pid] = proc
        if pid_file:
            with open(pid_file, 'w') as f:
                f.write('%d\n' % proc.pid)
        return proc

    def _node_argv(self, n):
        argv = [sys.executable, NODE_SCRIPT, '--address', n['address'],
                '--rest-port', str(n['rest_port']), '--cql-port', str(n['cql_port']),
                '--host-id', n['host_id'], '--dc', n['dc'], '--rack', n['rack'],
                '--cluster-name', self.doc['cluster_name'], '--cluster-file', self.cluster_file,
                '--pid-file', n['pid_file']]
        for d in n['data_dirs']:
            argv += ['--data-dir', d]
        if self.username is not None:
            argv += ['--username', self.username, '--password', self.password or '']
        if self.numeric_generations:
            argv.append('--numeric-generations')
        if self.incremental_backups:
            argv.append('--incremental-backups')
        if self.release_version:
            argv += ['--release-version', self.release_version]
        if self.exit_with_parent:
            argv.append('--exit-with-parent')
        if self.cql_tls:
            certs = self.cql_certs_dir
            argv += ['--cql-tls-cert', os.path.join(certs, n['address'] + '.crt'),
                     '--cql-tls-key', os.path.join(certs, n['address'] + '.key')]
            if self.cql_tls == 'client-auth':
                argv += ['--cql-tls-ca', os.path.join(certs, 'ca.crt')]
        return argv

    # --- CQL over TLS ---------------------------------------------------------------------

    @property
    def cql_certs_dir(self):
        return os.path.join(self.dir, 'cql-certs')

    def make_cql_certs(self):
        """The CA, every node's server certificate and (client-auth) the agents' client
        certificate, in cql_certs_dir."""
        for n in self.nodes:
            tlscerts.server_cert(self.cql_certs_dir, n['address'])
        if self.cql_tls == 'client-auth':
            tlscerts.client_cert(self.cql_certs_dir)

    def cql_tls_files(self):
        """What the agents' scylla.cql_tls holds: {'ca':, 'cert':, 'key':}, or None."""
        if not self.cql_tls:
            return None
        files = {'ca': os.path.join(self.cql_certs_dir, 'ca.crt')}
        if self.cql_tls == 'client-auth':
            files['cert'] = os.path.join(self.cql_certs_dir, 'client.crt')
            files['key'] = os.path.join(self.cql_certs_dir, 'client.key')
        return files

    def cql_ssl_context(self):
        """A client context for the nodes' CQL port, or None when it is plain."""
        files = self.cql_tls_files()
        if files is None:
            return None
        ctx = ssl.create_default_context(cafile=files['ca'])
        if 'cert' in files:
            ctx.load_cert_chain(files['cert'], files['key'])
        return ctx

    def start(self):
        if os.path.exists(self.cluster_file):
            old = Cluster.open(self.dir)
            if any(pid_alive(p) for p in old._owned_pids()):
                raise ClusterError('a cluster is already running in %s (stop it first)' % self.dir)
        if self.with_agents:            # fail before starting anything
            self._bin('cairn-agent')
            if not self.insecure:
                self._bin('cairn')
        os.makedirs(self.dir, exist_ok=True)
        self.doc = self._plan()
        for n in self.nodes:
            for d in n['data_dirs']:
                os.makedirs(d, exist_ok=True)
        if self.cql_tls:
            self.make_cql_certs()
        self._save()
        try:
            for n in self.nodes:
                self.start_node(n, wait=False, save=False)
            self._save()
            for n in self.nodes:
                self._wait_node(n)
            if self.with_agents:
                self.start_agents()
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, which, wait=True, save=True):
        """(Re)start one node's process, e.g. after kill_node."""
        n = self.node(which)
        proc = self._spawn(self._node_argv(n), n['log_file'])
        n['pid'] = proc.pid
        if save:
            self._save()
        if wait:
            self._wait_node(n)

    def _wait_node(self, n):
        deadline = time.monotonic() + self.start_timeout
        proc = self._procs.get(n['pid'])
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ClusterError('%s (%s) exited with %s during start:\n%s'
                                   % (n['name'], n['address'], proc.returncode,
                                      self._tail(n['log_file'])))
            try:
                status, _ = self.api(n, 'GET', '/storage_service/hostid/local', timeout=1.0)
                if status == 200 and tcp_accepts(n['address'], n['cql_port']):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise ClusterError('%s (%s) did not answer within %.0f s:\n%s'
                           % (n['name'], n['address'], self.start_timeout,
                              self._tail(n['log_file'])))

    @staticmethod
    def _tail(path, lines=20):
        try:
            with open(path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return '(no log)'

    def _owned_pids(self):
        pids = []
        for n in (self.doc or {}).get('nodes', []):
            for key, pf in (('pid', n.get('pid_file')), ('agent_pid', n.get('agent_pid_file'))):
                for pid in (n.get(key), read_pid(pf) if pf else None):
                    if pid and pid not in pids and self._is_ours(pid):
                        pids.append(pid)
        return pids

    def _is_ours(self, pid):
        """Only signal a process whose command line names this cluster's directory."""
        cmd = cmdline(pid)
        return ('scylla_node.py' in cmd or 'cairn-agent' in cmd) and self.dir in cmd

    def _terminate(self, pids, timeout=5.0):
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + timeout
        for pid in pids:
            while time.monotonic() < deadline and self._alive(pid):
                time.sleep(0.02)
            if self._alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                while self._alive(pid) and time.monotonic() < deadline + 2:
                    time.sleep(0.02)
            proc = self._procs.pop(pid, None)
            if proc is not None:
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass

    def _alive(self, pid):
        proc = self._procs.get(pid)
        if proc is not None:
            return proc.poll() is None
        return pid_alive(pid)

    def stop(self):
        """Stop every node and agent of this cluster (safe to call twice)."""
        if self.doc is None:
            if not os.path.exists(self.cluster_file):
                return
            with open(self.cluster_file) as f:
                self.doc = json.load(f)
        pids = self._owned_pids() + [p for p in self._procs if p not in self._owned_pids()]
        self._terminate(pids)
        for n in self.nodes:
            n['pid'] = None
            n.pop('agent_pid', None)
            for pf in (n.get('pid_file'), n.get('agent_pid_file')):
                if pf and os.path.exists(pf):
                    os.unlink(pf)
        if os.path.exists(self.cluster_file):
            self._save()

    def kill_node(self, which, sig=signal.SIGTERM):
        """Stop one node's process (a really unreachable node, unlike mark_down)."""
        n = self.node(which)
        pid = n.get('pid') or read_pid(n['pid_file'])
        if pid and self._is_ours(pid):
            if sig == signal.SIGKILL:
                os.killpg(pid, signal.SIGKILL)
            self._terminate([pid])
        n['pid'] = None
        self._save()

    def __enter__(self):
        if self.doc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- agents -------------------------------------------------------------------------

    def _bin(self, name):
        if not self.bin_dir:
            raise ClusterError('--with-agents needs --bin-dir (the build\'s bin directory)')
        path = os.path.join(self.bin_dir, name)
        if not os.access(path, os.X_OK):
            raise ClusterError('%s not found or not executable (build cairn first)' % path)
        return path

    def _run(self, argv):
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=60)
        if res.returncode != 0:
            raise ClusterError('%s failed (%d):\n%s' % (' '.join(argv), res.returncode,
                                                         res.stdout.decode(errors='replace')))

    def make_certs(self):
        certs = os.path.join(self.dir, 'certs')
        cairn = self._bin('cairn')
        if not os.path.exists(os.path.join(certs, 'ca.crt')):
            self._run([cairn, 'certs', 'init', '--dir', certs])
        for n in self.nodes:
            if not os.path.exists(os.path.join(certs, n['address'] + '.crt')):
                self._run([cairn, 'certs', 'issue', '--dir', certs, '--agent', n['address']])
        if not os.path.exists(os.path.join(certs, 'coordinator.crt')):
            self._run([cairn, 'certs', 'issue', '--dir', certs, '--coordinator', 'coordinator'])

    def agent_config_text(self, n):
        own = self.repository or agentconf.default_repository(self.dir)
        return agentconf.agent_yaml(self.doc['cluster_name'], n, self.dir, self.insecure,
                                    self.username, self.password, [own] + self.serve,
                                    self.cql_tls_files())

    def coordinator_config_text(self):
        return agentconf.coordinator_yaml(self.doc['cluster_name'], self.nodes, self.dir,
                                          self.insecure, self.repository)

    def start_agents(self):
        agent = self._bin('cairn-agent')
        if not self.insecure:
            self.make_certs()
        for n in self.nodes:
            ndir = os.path.join(self.dir, n['name'])
            os.makedirs(os.path.join(ndir, 'agent-state'), exist_ok=True)
            cfg = os.path.join(ndir, 'agent.yaml')
            with open(cfg, 'w') as f:
                f.write(self.agent_config_text(n))
            n['agent_pid_file'] = os.path.join(ndir, 'agent.pid')
            proc = self._spawn([agent, '--config', cfg], os.path.join(ndir, 'agent.out'),
                               n['agent_pid_file'], death_signal=self.exit_with_parent)
            n['agent_pid'] = proc.pid
        with open(os.path.join(self.dir, 'cairn.yaml'), 'w') as f:
            f.write(self.coordinator_config_text())
        self._save()
        for n in self.nodes:
            deadline = time.monotonic() + self.start_timeout
            proc = self._procs.get(n['agent_pid'])
            while not tcp_accepts(n['address'], n['agent_port']):
                if proc is not None and proc.poll() is not None:
                    raise ClusterError('cairn-agent of %s exited with %s:\n%s' % (
                        n['name'], proc.returncode,
                        self._tail(os.path.join(self.dir, n['name'], 'agent.out'))))
                if time.monotonic() > deadline:
                    raise ClusterError('cairn-agent of %s does not accept on %s:%d'
                                       % (n['name'], n['address'], n['agent_port']))
                time.sleep(0.02)

    # --- talking to nodes -----------------------------------------------------------------

    def api(self, which, method, path, params=None, body=None, timeout=60.0):
        """One REST call; returns (status, decoded JSON or None for an empty body)."""
        n = self.node(which)
        if params:
            path += '?' + urllib.parse.urlencode(
                {k: ('true' if v is True else 'false' if v is False else v)
                 for k, v in params.items() if v is not None})
        conn = http.client.HTTPConnection(n['address'], n['rest_port'], timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, data, {'Content-Type': 'application/json'} if data else {})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(raw) if raw else None)

    def call(self, which, method, path, params=None, body=None):
        """Like api() but raises ClusterError unless the answer is 200."""
        status, doc = self.api(which, method, path, params, body)
        if status != 200:
            raise ClusterError('%s %s on %s: HTTP %d %s' % (method, path, self.node(which)['name'],
                                                          status, doc))
        return doc

    def cql(self, which=0, username=None, password=None):
        n = self.node(which)
        return CqlClient(n['address'], n['cql_port'], username or self.username,
                         password if password is not None else self.password,
                         ssl_context=self.cql_ssl_context())

    def _targets(self, node):
        return [self.node(node)] if node is not None else self.nodes

    def create_table(self, keyspace, table, rf=1, table_id=None):
        return self.call(0, 'POST', '/emulator/create_table',
                         {'keyspace': keyspace, 'table': table, 'rf': rf, 'id': table_id})

    def write(self, keyspace, table, nbytes, node=None, seed=None, compressibility=0.0,
              flush=False):
        return {n['name']: self.call(n, 'POST', '/emulator/write', {
            'keyspace': keyspace, 'table': table, 'bytes': parse_size(nbytes), 'seed': seed,
            'compressibility': compressibility, 'flush': flush}) for n in self._targets(node)}

    def flush(self, keyspace, tables=None, node=None):
        for n in self._targets(node):
            self.call(n, 'POST', '/storage_service/keyspace_flush/' + keyspace,
                      {'cf': ','.join(tables) if tables else None})

    def compact(self, keyspace, table, node=None):
        return {n['name']: self.call(n, 'POST', '/emulator/compact',
                                     {'keyspace': keyspace, 'table': table})
                for n in self._targets(node)}

    def digest(self, keyspace=None, table=None):
        """Per table: the sorted SHA-256 of every live Data.db, per node and cluster-wide."""
        out = {}
        for n in self.nodes:
            per_table = self.call(n, 'GET', '/emulator/digest',
                                  {'keyspace': keyspace, 'table': table})
            for name, hashes in per_table.items():
                entry = out.setdefault(name, {'all': [], 'nodes': {}})
                entry['nodes'][n['name']] = hashes
                entry['all'].extend(hashes)
        for entry in out.values():
            entry['all'].sort()
        return out

    def mark_down(self, which):
        n = self.node(which)
        return self.call(0, 'POST', '/emulator/gossip', {'endpoint': n['address'],
                                                         'state': 'down'})

    def mark_up(self, which):
        n = self.node(which)
        return self.call(0, 'POST', '/emulator/gossip', {'endpoint': n['address'],
                                                         'state': 'up'})

    def set_schema_lag(self, which, ms):
        """Node `which` sees schema changes made through other nodes ms milliseconds late."""
        return self.call(which, 'POST', '/emulator/schema_lag', {'ms': int(ms)})

    def inject_fault(self, which, path, method='*', count=1, status=500,
                     message='injected fault', hang=0.0, reset=False):
        return self.call(which, 'POST', '/emulator/faults', {
            'path': path, 'method': method, 'count': count, 'status': status,
            'message': message, 'hang': hang, 'reset': reset})

    def loads(self, which):
        return self.call(which, 'GET', '/emulator/loads')

    def status(self):
        out = []
        for n in self.nodes:
            pid = n.get('pid') or read_pid(n['pid_file'])
            alive = bool(pid and pid_alive(pid))
            try:
                answering = self.api(n, 'GET', '/storage_service/hostid/local',
                                     timeout=1.0)[0] == 200
            except OSError:
                answering = False
            entry = {'name': n['name'], 'address': n['address'], 'pid': pid, 'running': alive,
                     'answering': answering, 'host_id': n['host_id'], 'dc': n['dc'],
                     'rack': n['rack']}
            if n.get('agent_pid_file'):
                apid = read_pid(n['agent_pid_file'])
                entry['agent'] = {'pid': apid, 'running': bool(apid and pid_alive(apid)),
                                  'accepting': tcp_accepts(n['address'], n['agent_port'])}
            out.append(entry)
        return out


# --- command line ------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)

    s = sub.add_parser('start', help='start a cluster in the background')
    s.add_argument('--dir', required=True)
    s.add_argument('--nodes', type=int)
    s.add_argument('--dcs', help='e.g. dc1:2,dc2:1')
    s.add_argument('--racks', type=int, default=1, help='racks per DC (round-robin)')
    s.add_argument('--data-dirs', type=int, default=1)
    s.add_argument('--cluster-name', default='emulated')
    s.add_argument('--base-address', default='127.0.1.1')
    s.add_argument('--rest-port', type=int, default=10000)
    s.add_argument('--cql-port', type=int, default=9042)
    s.add_argument('--agent-port', type=int, default=7400)
    s.add_argument('--num-tokens', type=int, default=16)
    s.add_argument('--username')
    s.add_argument('--password')
    s.add_argument('--numeric-generations', action='store_true')
    s.add_argument('--incremental-backups', action='store_true')
    s.add_argument('--release-version', help='what the nodes report, e.g. 2026.1.0')
    s.add_argument('--with-agents', action='store_true')
    s.add_argument('--bin-dir')
    s.add_argument('--insecure', action='store_true')
    s.add_argument('--repository')
    s.add_argument('--serve', action='append', default=[],
                   help='another repository the agents serve ({dir}: the cluster directory)')
    tls = s.add_mutually_exclusive_group()
    tls.add_argument('--cql-tls', action='store_const', const='tls', dest='cql_tls',
                     help='serve CQL over TLS only (certificates in DIR/cql-certs)')
    tls.add_argument('--cql-tls-client-auth', action='store_const', const='client-auth',
                     dest='cql_tls', help='--cql-tls, and require a client certificate')

    for name in ('stop', 'status'):
        x = sub.add_parser(name)
        x.add_argument('--dir', required=True)

    w = sub.add_parser('write', help="put bytes in a table's memtable on every node (or one)")
    w.add_argument('--bytes', required=True, help='e.g. 1048576, 64M, 1G')
    w.add_argument('--seed', type=int)
    w.add_argument('--compressibility', type=float, default=0.0)
    w.add_argument('--flush', action='store_true')
    for name, helptext in (('compact', 'major compaction'),
                           ('create-table', 'keyspace + table without CQL')):
        sub.add_parser(name, help=helptext)
    for name in ('write', 'compact', 'create-table'):
        x = sub.choices[name]
        x.add_argument('--dir', required=True)
        x.add_argument('--keyspace', required=True)
        x.add_argument('--table', required=True)
        if name != 'create-table':
            x.add_argument('--node')
    sub.choices['create-table'].add_argument('--rf', type=int, default=1)
    sub.choices['create-table'].add_argument('--id')

    d = sub.add_parser('digest', help='SHA-256 of the live Data.db files, per table (JSON)')
    d.add_argument('--dir', required=True)
    d.add_argument('--keyspace')
    d.add_argument('--table')

    for name in ('mark-down', 'mark-up'):
        x = sub.add_parser(name, help='change what the gossiper reports for a node')
        x.add_argument('--dir', required=True)
        x.add_argument('--node', required=True)

    a = p.parse_args(argv)
    try:
        if a.cmd == 'start':
            c = Cluster(a.dir, nodes=a.nodes, dcs=a.dcs, data_dirs=a.data_dirs,
                        cluster_name=a.cluster_name, base_address=a.base_address,
                        rest_port=a.rest_port, cql_port=a.cql_port, agent_port=a.agent_port,
                        num_tokens=a.num_tokens, racks=a.racks, username=a.username,
                        password=a.password, numeric_generations=a.numeric_generations,
                        incremental_backups=a.incremental_backups,
                        release_version=a.release_version, with_agents=a.with_agents,
                        bin_dir=a.bin_dir, insecure=a.insecure, repository=a.repository,
                        serve=a.serve, cql_tls=a.cql_tls, exit_with_parent=False)
            c.start()
            out = {'cluster_file': c.cluster_file,
                   'nodes': [{k: n[k] for k in ('name', 'address', 'rest_port', 'cql_port',
                                               'host_id', 'dc', 'rack', 'pid')}
                             for n in c.nodes]}
            if a.with_agents:
                out['coordinator_config'] = os.path.join(c.dir, 'cairn.yaml')
            print(json.dumps(out, indent=1))
            return 0
        c = Cluster.open(a.dir)
        if a.cmd == 'stop':
            c.stop()
        elif a.cmd == 'status':
            st = c.status()
            print(json.dumps(st, indent=1))
            return 0 if all(x['answering'] for x in st) else 1
        elif a.cmd == 'write':
            print(json.dumps(c.write(a.keyspace, a.table, a.bytes, a.node, a.seed,
                                     a.compressibility, a.flush), indent=1))
        elif a.cmd == 'compact':
            print(json.dumps(c.compact(a.keyspace, a.table, a.node), indent=1))
        elif a.cmd == 'create-table':
            print(json.dumps(c.create_table(a.keyspace, a.table, a.rf, a.id), indent=1))
        elif a.cmd == 'digest':
            print(json.dumps(c.digest(a.keyspace, a.table), indent=1, sort_keys=True))
        elif a.cmd in ('mark-down', 'mark-up'):
            fn = c.mark_down if a.cmd == 'mark-down' else c.mark_up
            print(json.dumps(fn(a.node), indent=1))
        return 0
    except (ClusterError, OSError) as e:
        print('cluster.py: %s' % e, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
