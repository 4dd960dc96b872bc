"""End-to-end test bed: an emulated ScyllaDB cluster with real cairn agents, on loopback.

Each test bed takes its own loopback range (127.X.Y.0/24, chosen at random) so that
suites running in parallel never collide, and tears everything down even when a test
fails.
"""

import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

SOURCE = os.environ.get('CAIRN_SOURCE_DIR') or os.path.abspath(
    os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.environ.get('CAIRN_BUILD_DIR') or os.path.join(SOURCE, 'build')
BIN = os.path.join(BUILD, 'bin')
CLUSTER_PY = os.path.join(SOURCE, 'tests', 'emulator', 'cluster.py')
SHARED = os.path.abspath(os.path.join(SOURCE, '..', 'shared'))
SSTABLE_SETS = os.path.join(SHARED, 'scylla', 'sstables')


def shared_sets():
    """The real SSTable sets, or a skip when ../shared is absent."""
    if not os.path.isdir(SSTABLE_SETS):
        raise unittest.SkipTest('%s is absent: the real SSTable sets are not beside the checkout'
                                % SSTABLE_SETS)
    return sorted(d for d in os.listdir(SSTABLE_SETS)
                  if os.path.isdir(os.path.join(SSTABLE_SETS, d)))


class Bed:
    def __init__(self, nodes=3, data_dirs=2, agents=True, insecure=False, dcs=None,
                 cluster_name='itest', repository=None, serve=(), release_version=None,
                 cql_tls=None):
        """cql_tls: True, the nodes serve CQL over TLS only; 'client-auth', they also
        require a client certificate. The agents' scylla.cql_tls matches (the CA and the
        client certificate are in DIR/cql-certs)."""
        self.dir = tempfile.mkdtemp(prefix='cairn-it-')
        self.cluster_name = cluster_name
        self.restarted = []  # agents restart_agent started, which stop() ends
        base = '127.%d.%d.1' % (random.randint(100, 250), random.randint(1, 250))
        args = [sys.executable, CLUSTER_PY, 'start', '--dir', self.dir, '--nodes', str(nodes),
                '--data-dirs', str(data_dirs), '--base-address', base,
                '--cluster-name', cluster_name]
        if dcs:
            args += ['--dcs', dcs]
        if agents:
            args += ['--with-agents', '--bin-dir', BIN]
        if insecure:
            args += ['--insecure']
        if repository:
            args += ['--repository', repository]
        if release_version:  # what the nodes report (the snapshot manifest's form follows)
            args += ['--release-version', release_version]
        for url in serve:  # more repositories the agents serve; {dir}: the bed's directory
            args += ['--serve', url]
        if cql_tls:
            args.append('--cql-tls-client-auth' if cql_tls == 'client-auth' else '--cql-tls')
        try:
            subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)
        except subprocess.CalledProcessError as e:
            self.stop()
            raise AssertionError('cluster start failed:\n%s\n%s' % (e.stdout, e.stderr))
        with open(os.path.join(self.dir, 'cluster.json')) as f:
            self.info = json.load(f)
        self.nodes = self.info['nodes']
        self.config = os.path.join(self.dir, 'cairn.yaml')

    def stop(self):
        subprocess.run([sys.executable, CLUSTER_PY, 'stop', '--dir', self.dir],
                       capture_output=True, timeout=60)
        for p in self.restarted:
            p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- cairn ---------------------------------------------------------------------

    def cairn(self, *args, config=None, timeout=300):
        return subprocess.run([os.path.join(BIN, 'cairn'), '-c', config or self.config] +
                              list(args), capture_output=True, text=True, timeout=timeout)

    def cairn_json(self, *args, **kw):
        p = self.cairn(*args, '--json', **kw)
        try:
            return p, json.loads(p.stdout)
        except ValueError:
            raise AssertionError('no JSON from cairn %s (exit %d):\n%s\n%s'
                                 % (' '.join(args), p.returncode, p.stdout, p.stderr))

    def start_cairn(self, *args, config=None):
        """cairn in the background, for tests that interrupt or race it."""
        return subprocess.Popen([os.path.join(BIN, 'cairn'), '-c', config or self.config] +
                                list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def write_config(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def read_config(self):
        with open(self.config) as f:
            return f.read()

    def agent_pid(self, node):
        with open(os.path.join(self.dir, node['name'], 'agent.pid')) as f:
            return int(f.read().strip())

    # --- the emulated nodes ----------------------------------------------------------

    def restart_agent(self, node):
        """Starts the node's agent again (after a test killed it) and waits until it serves."""
        ndir = os.path.join(self.dir, node['name'])
        agent = subprocess.Popen([os.path.join(BIN, 'cairn-agent'), '--config',
                                  os.path.join(ndir, 'agent.yaml')],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)  # stop() signals its group
        self.restarted.append(agent)  # stop() ends it through the pid file, then reaps it
        with open(os.path.join(ndir, 'agent.pid'), 'w') as f:
            f.write(str(agent.pid))
        wait_for(lambda: self.cairn('status').returncode == 0, timeout=30,
                 what='the agent to come back')

    def reconfigure_agent(self, node, text):
        """Restarts the node's agent on agent.yaml text; returns the text it had."""
        path = os.path.join(self.dir, node['name'], 'agent.yaml')
        with open(path) as f:
            old = f.read()
        pid = self.agent_pid(node)
        mine = [p for p in self.restarted if p.pid == pid]
        os.kill(pid, signal.SIGTERM)
        if mine:
            mine[0].wait(timeout=60)
        else:
            wait_for(lambda: exited(pid), timeout=60, what='the agent to stop')
        with open(path, 'w') as f:
            f.write(text)
        self.restart_agent(node)
        return old

    def rest(self, node, verb, route, **params):
        url = 'http://%s:%d%s' % (node['address'], node['rest_port'], route)
        if params:
            url += '?' + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, method=verb)
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
        return json.loads(body) if body else None

    def create_table(self, keyspace, table, rf=3):
        return self.rest(self.nodes[0], 'POST', '/emulator/create_table', keyspace=keyspace,
                         table=table, rf=rf)

    def write(self, keyspace, table, nbytes, node=None, seed=None, compressibility=0.5,
              flush=True):
        targets = [node] if node else self.nodes
        out = []
        for i, n in enumerate(targets):
            params = dict(keyspace=keyspace, table=table, bytes=nbytes,
                          compressibility=compressibility, flush='true' if flush else 'false')
            if seed is not None:
                params['seed'] = seed + i
            out.append(self.rest(n, 'POST', '/emulator/write', **params))
        return out

    def seed_sample(self):
        """Three tables of different sizes and compressibility, on every node."""
        for ks, t in (('shop', 'orders'), ('shop', 'items'), ('logs', 'events')):
            self.create_table(ks, t)
        for i in range(3):
            self.write('shop', 'orders', 2 << 20, seed=100 + 10 * i)
            self.write('shop', 'items', 512 * 1024, seed=200 + 10 * i, compressibility=0.9)
        self.write('logs', 'events', 1 << 20, seed=300, compressibility=0.0)

    def write_rows(self, keyspace, table, put=None, delete=(), flush=True):
        """The same values and tombstones on every node (a replicated write, RF = nodes)."""
        params = dict(keyspace=keyspace, table=table, flush='true' if flush else 'false')
        if put:
            params['put'] = ','.join('%s=%s' % kv for kv in sorted(put.items()))
        if delete:
            params['delete'] = ','.join(delete)
        for n in self.nodes:
            self.rest(n, 'POST', '/emulator/rows', **params)

    def rows(self, keyspace, table, node):
        """{key: value} a read of the table at the node returns."""
        return self.rest(node, 'GET', '/emulator/rows', keyspace=keyspace, table=table)['rows']

    def compact(self, keyspace, table, node):
        return self.rest(node, 'POST', '/emulator/compact', keyspace=keyspace, table=table)

    def digest(self, keyspace, table, node):
        """Sorted SHA-256 of the Data.db files the node holds for the table."""
        out = self.rest(node, 'GET', '/emulator/digest', keyspace=keyspace, table=table)
        return out['%s.%s' % (keyspace, table)]

    def cluster_digest(self, keyspace, table):
        return sorted(h for n in self.nodes for h in self.digest(keyspace, table, n))

    def cql(self, statement, node=None):
        sys.path.insert(0, os.path.join(SOURCE, 'tests', 'emulator'))
        from cluster import Cluster
        n = node or self.nodes[0]
        with Cluster.open(self.dir).cql(n) as c:
            return c.query(statement)

    def loads(self, node):
        return self.rest(node, 'GET', '/emulator/loads')

    def plant(self, keyspace, table, path, node):
        return self.rest(node, 'POST', '/emulator/plant', keyspace=keyspace, table=table,
                         path=path)

    def mark(self, address, state):
        for n in self.nodes:
            try:
                self.rest(n, 'POST', '/emulator/gossip', endpoint=address, state=state)
            except OSError:
                pass

    def fault(self, node, method, path, status=500, count=1, message='injected', hang=None):
        params = dict(method=method, path=path, status=status, count=count, message=message)
        if hang is not None:
            params['hang'] = hang
        return self.rest(node, 'POST', '/emulator/faults', **params)

    def snapshot_dirs(self, node):
        """Every snapshots/<tag> directory left on a node."""
        found = []
        for d in node['data_dirs']:
            for root, dirs, _ in os.walk(d):
                if os.path.basename(root) == 'snapshots':
                    found += [os.path.join(root, x) for x in dirs]
        return found

    def snapshot_of(self, node, tag):
        """The snapshots/<tag> directories of one tag on a node."""
        return [d for d in self.snapshot_dirs(node) if d.endswith('/' + tag)]

    def repo_dir(self):
        return os.path.join(self.dir, 'repo')


def moto_bed(bucket, prefix, what):
    """A 2-node bed whose repository is s3://bucket/prefix on a fresh moto, the agents
    with its keys in their environment and the coordinator with its own in cairn.yaml.
    Returns (scratch dir, S3Env, url, bed); skips when moto is not installed."""
    import s3env
    if not s3env.moto_available():
        raise unittest.SkipTest('moto_server is not installed (pip install "moto[server]"): '
                                'the s3:// %s tests need it' % what)
    tmp = tempfile.mkdtemp(prefix='cairn-s3-')
    s3 = s3env.S3Env(log_path=os.path.join(tmp, 'moto.log'))
    url = 's3://%s/%s?endpoint=%s' % (bucket, prefix, s3.moto.endpoint)
    saved = dict(os.environ)
    os.environ.update(s3.env('agent'))
    try:
        bed = Bed(nodes=2, data_dirs=1, repository=url)
    except Exception:
        s3.stop()
        raise
    finally:
        os.environ.clear()
        os.environ.update(saved)
    key_id, secret = s3.moto.keys['cairn']
    lines = [line for line in bed.read_config().splitlines() if not line.startswith('repository:')]
    lines += ['repository: "%s"' % url, 's3:', '  access_key_id: %s' % key_id,
              '  secret_access_key: "%s"' % secret, '  region: us-east-1']
    bed.write_config('cairn.yaml', '\n'.join(lines) + '\n')
    return tmp, s3, url, bed


def rfc3339(ms):
    """A time in ms since the epoch as `restore --at` takes it."""
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


def exited(pid):
    """The process is gone, or a zombie its parent has yet to reap."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def wait_for(pred, timeout=20, what='condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError('timed out waiting for %s' % what)
