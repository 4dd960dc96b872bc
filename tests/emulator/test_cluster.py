"""The launcher: command line, process hygiene, node restarts, agents (with fake binaries)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import emutest                                          # noqa: E402
from cluster import Cluster, ClusterError                # noqa: E402
from scyllaemu.procs import pid_alive                    # noqa: E402

CLUSTER_PY = os.path.join(HERE, 'cluster.py')

FAKE_CAIRN = textwrap.dedent('''\
    #!%s
    # Stand-in for `cairn certs ...`: writes placeholder PEM files where cairn would.
    import os, sys
    args = sys.argv[1:]
    assert args[:1] == ['certs'], args
    d = args[args.index('--dir') + 1]
    os.makedirs(d, exist_ok=True)
    if args[1] == 'init':
        names = ['ca']
    elif '--agent' in args:
        names = [args[args.index('--agent') + 1]]
    else:
        names = [args[args.index('--coordinator') + 1]]
    for n in names:
        for ext in ('crt', 'key'):
            with open(os.path.join(d, n + '.' + ext), 'w') as f:
                f.write('-----BEGIN FAKE-----\\n')
    with open(os.path.join(d, 'calls.log'), 'a') as f:
        f.write(' '.join(args) + '\\n')
''') % sys.executable

FAKE_AGENT = textwrap.dedent('''\
    #!%s
    # Stand-in for cairn-agent: listens where its config says until SIGTERM.
    import signal, socket, sys, time
    cfg = sys.argv[sys.argv.index('--config') + 1]
    listen = [l.split(': ', 1)[1] for l in open(cfg) if l.startswith('listen: ')][0]
    host, port = listen.split('://', 1)[1].rsplit(':', 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(8)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        time.sleep(1)
''') % sys.executable


def make_fake_bin(directory):
    os.makedirs(directory, exist_ok=True)
    for name, text in (('cairn', FAKE_CAIRN), ('cairn-agent', FAKE_AGENT)):
        path = os.path.join(directory, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o755)
    return directory


class LauncherTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='cairn-emu-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_cli(self, *args, check=True):
        res = subprocess.run([sys.executable, CLUSTER_PY] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60)
        if check and res.returncode != 0:
            self.fail('cluster.py %s failed: %s' % (' '.join(args), res.stderr.decode()))
        return res

    def test_command_line_round_trip(self):
        d = os.path.join(self.tmp, 'c')
        base, port = emutest.pick_network(3)
        self.addCleanup(lambda: Cluster.open(d).stop() if os.path.exists(d) else None)
        out = json.loads(self.run_cli('start', '--dir', d, '--dcs', 'dc1:2,dc2:1',
                                      '--data-dirs', '2', '--cluster-name', 'cli',
                                      '--base-address', base, '--rest-port', str(port),
                                      '--cql-port', str(port + 1)).stdout)
        pids = [n['pid'] for n in out['nodes']]
        self.assertTrue(all(pid_alive(p) for p in pids))
        with open(os.path.join(d, 'cluster.json')) as f:
            doc = json.load(f)
        self.assertEqual(doc['cluster_name'], 'cli')
        n1 = doc['nodes'][0]
        for key in ('name', 'address', 'rest_port', 'cql_port', 'host_id', 'dc', 'rack',
                    'tokens', 'data_dirs', 'pid', 'agent_port'):
            self.assertIn(key, n1)
        self.assertEqual(len(n1['data_dirs']), 2)
        self.assertEqual([n['dc'] for n in doc['nodes']], ['dc1', 'dc1', 'dc2'])
        # A second start in the same directory is refused.
        res = self.run_cli('start', '--dir', d, '--nodes', '1', '--base-address', base,
                           check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('already running', res.stderr.decode())
        status = json.loads(self.run_cli('status', '--dir', d).stdout)
        self.assertTrue(all(s['answering'] for s in status))
        self.run_cli('create-table', '--dir', d, '--keyspace', 'k', '--table', 't', '--rf', '3')
        self.run_cli('write', '--dir', d, '--keyspace', 'k', '--table', 't', '--bytes', '64K',
                     '--seed', '9', '--flush')
        self.run_cli('write', '--dir', d, '--keyspace', 'k', '--table', 't', '--bytes', '1000',
                     '--node', 'node3', '--flush')
        self.run_cli('compact', '--dir', d, '--keyspace', 'k', '--table', 't', '--node', 'node3')
        digest = json.loads(self.run_cli('digest', '--dir', d).stdout)
        self.assertEqual(len(digest['k.t']['all']), 3)
        self.assertEqual(digest['k.t']['nodes']['node1'], digest['k.t']['nodes']['node2'])
        self.assertNotEqual(digest['k.t']['nodes']['node1'], digest['k.t']['nodes']['node3'])
        self.run_cli('mark-down', '--dir', d, '--node', 'node2')
        c = Cluster.open(d)
        self.assertEqual(c.call(2, 'GET', '/gossiper/endpoint/down/'), [doc['nodes'][1]['address']])
        self.run_cli('stop', '--dir', d)
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(any(pid_alive(p) for p in pids), 'stray node processes')
        self.assertFalse(any(os.path.exists(n['pid_file']) for n in doc['nodes']))

    def test_nodes_and_agents_die_with_their_test_process(self):
        d = os.path.join(self.tmp, 'orphan')
        fake_bin = make_fake_bin(os.path.join(self.tmp, 'bin'))
        script = textwrap.dedent('''
            import sys, time
            sys.path.insert(0, %r)
            import emutest
            c = emutest.start_cluster(%r, 2, with_agents=True, bin_dir=%r, insecure=True)
            print(' '.join(str(n[k]) for n in c.nodes for k in ('pid', 'agent_pid')),
                  flush=True)
            time.sleep(60)
        ''') % (HERE, d, fake_bin)
        proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE)
        pids = [int(p) for p in proc.stdout.readline().split()]
        self.assertEqual(len(pids), 4)
        self.assertTrue(all(pid_alive(p) for p in pids))
        proc.kill()                                   # the "test run" dies without teardown
        proc.wait()
        proc.stdout.close()
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(any(pid_alive(p) for p in pids), 'processes outlived their parent')

    def test_kill_and_restart_node(self):
        c = emutest.start_cluster(os.path.join(self.tmp, 'k'), 2)
        self.addCleanup(c.stop)
        c.create_table('k', 't', rf=2)
        c.write('k', 't', 5000, seed=1, flush=True)
        before = c.digest('k', 't')
        c.kill_node('node2')
        with self.assertRaises(OSError):
            c.api('node2', 'GET', '/storage_service/hostid/local', timeout=1)
        self.assertEqual(c.call(0, 'GET', '/storage_service/hostid/local'),
                         c.nodes[0]['host_id'])
        c.start_node('node2')
        self.assertEqual(c.call(1, 'GET', '/storage_service/hostid/local'), c.nodes[1]['host_id'])
        self.assertEqual(c.digest('k', 't'), before)

    def test_failed_start_leaves_nothing_running(self):
        d = os.path.join(self.tmp, 'f')
        c = Cluster(d, nodes=1, base_address=emutest.pick_network(1)[0], with_agents=True,
                    bin_dir=os.path.join(self.tmp, 'nobin'), rest_port=emutest.pick_network(1)[1])
        with self.assertRaisesRegex(ClusterError, 'nobin/cairn-agent not found or not executable'):
            c.start()
        self.assertFalse(os.path.exists(os.path.join(d, 'cluster.json')))


class AgentsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='cairn-emu-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bin = make_fake_bin(os.path.join(self.tmp, 'bin'))

    def start(self, **kw):
        c = emutest.start_cluster(os.path.join(self.tmp, 'c'), 2, with_agents=True,
                                  bin_dir=self.bin, cluster_name='agents', **kw)
        self.addCleanup(c.stop)
        return c

    def test_tls_configs_certs_and_processes(self):
        c = self.start(username='u', password='p w')
        d = c.dir
        certs = os.path.join(d, 'certs')
        for n in c.nodes:
            for ext in ('crt', 'key'):
                self.assertTrue(os.path.exists(os.path.join(certs, '%s.%s' % (n['address'], ext))))
        for name in ('ca.crt', 'coordinator.crt', 'coordinator.key'):
            self.assertTrue(os.path.exists(os.path.join(certs, name)))
        with open(os.path.join(certs, 'calls.log')) as f:
            calls = f.read().splitlines()
        self.assertEqual(calls[0], 'certs init --dir %s' % certs)
        self.assertIn('certs issue --dir %s --coordinator coordinator' % certs, calls)
        n = c.nodes[0]
        with open(os.path.join(d, 'node1', 'agent.yaml')) as f:
            agent_yaml = f.read()
        self.assertEqual(agent_yaml, textwrap.dedent('''\
            cluster: agents
            listen: tls+tcp://{a}:{ap}
            tls:
              ca: {d}/certs/ca.crt
              cert: {d}/certs/{a}.crt
              key: {d}/certs/{a}.key
            scylla:
              api: http://{a}:{rp}
              cql: {a}:{cp}
              username: u
              password: "p w"
            state_dir: {d}/node1/agent-state
            log_file: {d}/node1/agent.log
            repositories:
              - location: file://{d}/repo
            ''').format(a=n['address'], ap=n['agent_port'], rp=n['rest_port'], cp=n['cql_port'],
                        d=d))
        with open(os.path.join(d, 'cairn.yaml')) as f:
            coord = f.read()
        self.assertEqual(coord, textwrap.dedent('''\
            cluster: agents
            repository: file://{d}/repo
            tls:
              ca: {d}/certs/ca.crt
              cert: {d}/certs/coordinator.crt
              key: {d}/certs/coordinator.key
            agents:
              - {a1}:{ap}
              - {a2}:{ap}
            ''').format(d=d, a1=c.nodes[0]['address'], a2=c.nodes[1]['address'],
                        ap=n['agent_port']))
        agent_pids = [x['agent_pid'] for x in c.nodes]
        for x in c.nodes:
            with socket.create_connection((x['address'], x['agent_port']), timeout=2):
                pass
        self.assertTrue(all(s['agent']['running'] for s in c.status()))
        c.stop()
        self.assertFalse(any(pid_alive(p) for p in agent_pids), 'stray agents')

    def test_insecure_and_repository(self):
        os.unlink(os.path.join(self.bin, 'cairn'))    # no certificates needed
        c = self.start(insecure=True, repository='s3://bucket/prefix')
        with open(os.path.join(c.dir, 'node2', 'agent.yaml')) as f:
            text = f.read()
        self.assertIn('listen: tcp://%s:%d\ninsecure: true\n' % (c.nodes[1]['address'],
                                                               c.nodes[1]['agent_port']), text)
        self.assertNotIn('tls:', text)
        self.assertIn('repositories:\n  - location: s3://bucket/prefix\n', text)
        with open(os.path.join(c.dir, 'cairn.yaml')) as f:
            coord = f.read()
        self.assertIn('repository: s3://bucket/prefix\ninsecure: true\n', coord)
        self.assertNotIn('tls:', coord)
        self.assertFalse(os.path.exists(os.path.join(c.dir, 'certs')))

    def test_agent_that_exits_is_reported(self):
        with open(os.path.join(self.bin, 'cairn-agent'), 'w') as f:
            f.write('#!/bin/sh\necho "bad config" >&2\nexit 4\n')
        d = os.path.join(self.tmp, 'x')
        with self.assertRaisesRegex(ClusterError, 'exited with 4'):
            emutest.start_cluster(d, 1, with_agents=True, bin_dir=self.bin, insecure=True)
        with open(os.path.join(d, 'cluster.json')) as f:
            self.assertEqual([n['pid'] for n in json.load(f)['nodes']], [None])
        with open(os.path.join(d, 'node1', 'agent.out')) as f:
            self.assertIn('bad config', f.read())


if __name__ == '__main__':
    unittest.main()
