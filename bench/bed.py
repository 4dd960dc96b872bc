"""An emulated cluster with cairn agents, as the benchmark drives it.

Wraps tests/emulator/cluster.py's Cluster: starts nodes in batches (a hundred Python
processes starting at once on two cores would time each other out), restarts the agents
with an empty state directory (a cold hash cache), writes coordinator configurations that
point at a repository of the benchmark's choosing, and talks to the nodes' REST and CQL.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import EMULATOR, BenchError, log, proc_cpu, proc_status, reset_peak_rss, rmtree

if EMULATOR not in sys.path:
    sys.path.insert(0, EMULATOR)

from cluster import Cluster  # noqa: E402
from scyllaemu.procs import pid_alive, tcp_accepts  # noqa: E402


class Bed:
    def __init__(self, directory, nodes, bin_dir, base_address, data_dirs=1, batch=10,
                 insecure=False):
        self.dir = os.path.abspath(directory)
        self.bin_dir = os.path.abspath(bin_dir)
        self.cairn = os.path.join(self.bin_dir, 'cairn')
        self.c = Cluster(self.dir, nodes=nodes, data_dirs=data_dirs, base_address=base_address,
                         cluster_name='bench', with_agents=True, bin_dir=self.bin_dir,
                         insecure=insecure, start_timeout=120.0)
        self.batch = batch
        self.started = False

    # --- life cycle -------------------------------------------------------------------

    def start(self):
        c = self.c
        if os.path.exists(self.dir):
            Cluster.open(self.dir).stop()
        rmtree(self.dir)
        os.makedirs(self.dir)
        c.doc = c._plan()
        for n in c.nodes:
            for d in n['data_dirs']:
                os.makedirs(d, exist_ok=True)
        c._save()
        self.started = True
        t0 = time.monotonic()
        try:
            for i in range(0, len(c.nodes), self.batch):
                group = c.nodes[i:i + self.batch]
                for n in group:
                    c.start_node(n, wait=False, save=False)
                c._save()
                for n in group:
                    c._wait_node(n)
            c.start_agents()
        except BaseException:
            self.stop()
            raise
        log('%d nodes and agents up in %.1f s (%s)' % (len(c.nodes), time.monotonic() - t0,
                                                       self.dir))
        return self

    def stop(self):
        if self.started:
            self.c.stop()
            self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def nodes(self):
        return self.c.nodes

    def node_dir(self, n):
        return os.path.join(self.dir, n['name'])

    def state_dir(self, n):
        return os.path.join(self.node_dir(n), 'agent-state')

    def agent_pids(self):
        return [n['agent_pid'] for n in self.nodes if n.get('agent_pid')]

    def restart_agents(self, clear_state=True):
        """Stops every agent (by its pid: ours), empties the state directories when asked
        (the hash cache and restore records), and starts them again."""
        pids = [p for p in self.agent_pids() if pid_alive(p)]
        self.c._terminate(pids)
        if clear_state:
            for n in self.nodes:
                sd = self.state_dir(n)
                for name in os.listdir(sd) if os.path.isdir(sd) else []:
                    path = os.path.join(sd, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        rmtree(path)            # restore/: records and staging
                    else:
                        os.unlink(path)
        for n in self.nodes:
            deadline = time.monotonic() + 10
            while tcp_accepts(n['address'], n['agent_port'], 0.05):
                if time.monotonic() > deadline:
                    raise BenchError('the agent of %s still accepts after it was stopped'
                                     % n['name'])
                time.sleep(0.02)
        self.c.start_agents()

    def clear_restore_records(self):
        """Restore records (what an interrupted restore of a tag already loaded, under
        <state_dir>/restore/<cluster>/<tag>/): none may be left over from an earlier run,
        or a restore could skip a table."""
        for n in self.nodes:
            rmtree(os.path.join(self.state_dir(n), 'restore'))

    def agents_peak_rss_kib(self):
        return [proc_status(p, 'VmHWM') or 0 for p in self.agent_pids()]

    def agents_cpu(self):
        return sum(proc_cpu(p) for p in self.agent_pids())

    def reset_agents_peak_rss(self):
        return all(reset_peak_rss(p) for p in self.agent_pids())

    # --- configuration ---------------------------------------------------------------

    def config(self, repository, name=None, extra=''):
        """A coordinator configuration for `repository` (a URL), beside cairn.yaml. The
        agents serve only the repositories their agent.yaml lists: a new one is added
        there and the agents restarted (keeping their state) before it is used."""
        if repository not in self.c.serve:
            self.c.serve.append(repository)
            self.restart_agents(clear_state=False)
        with open(os.path.join(self.dir, 'cairn.yaml')) as f:
            lines = f.read().splitlines()
        out = ['repository: %s' % repository if l.startswith('repository:') else l
               for l in lines]
        path = os.path.join(self.dir, name or 'cairn-bench.yaml')
        with open(path, 'w') as f:
            f.write('\n'.join(out) + '\n' + extra)
        return path

    def cairn_argv(self, config, *args):
        return [self.cairn, '-c', config] + list(args)

    # --- data ------------------------------------------------------------------------

    def create_table(self, keyspace, table, rf=1):
        return self.c.create_table(keyspace, table, rf=rf)

    def write(self, keyspace, table, nbytes, node, seed=None, compressibility=0.5, flush=True):
        return self.c.call(node, 'POST', '/emulator/write', {
            'keyspace': keyspace, 'table': table, 'bytes': int(nbytes), 'seed': seed,
            'compressibility': compressibility, 'flush': 'true' if flush else 'false'})

    def parallel(self, fn, items, workers=8):
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(fn, items))

    def snapshot(self, tag, keyspace):
        for n in self.nodes:
            self.c.call(n, 'POST', '/storage_service/snapshots',
                        {'tag': tag, 'kn': keyspace, 'sf': 'true'})

    def clear_snapshot(self, tag):
        for n in self.nodes:
            self.c.call(n, 'DELETE', '/storage_service/snapshots', {'tag': tag})

    def snapshot_dirs(self, n, keyspace, tag):
        """The snapshots/<tag> directories of every table of `keyspace` on node n."""
        out = []
        for d in n['data_dirs']:
            ksdir = os.path.join(d, keyspace)
            if not os.path.isdir(ksdir):
                continue
            for t in sorted(os.listdir(ksdir)):
                s = os.path.join(ksdir, t, 'snapshots', tag)
                if os.path.isdir(s):
                    out.append(s)
        return out

    def data_dirs(self):
        return [d for n in self.nodes for d in n['data_dirs']]

    def cql(self, statement):
        with self.c.cql(0) as q:
            return q.query(statement)

    def recreate_tables(self, keyspace, tables, rf=1):
        """DROP and CREATE each table again (empty, a new id). Returns the directories the
        drop left behind (auto-snapshot and old directory), for the caller to delete after
        its timed run: deleting many files just before one that creates many would bill
        it for the filesystem's search past recently freed inodes (ext4 without a journal,
        as on these machines, skips inodes deleted in the last minute)."""
        old = []
        for t in tables:
            info = self.c.call(0, 'GET', '/emulator/sstables', {'keyspace': keyspace, 'table': t})
            old += [os.path.basename(d) for d in info['directories']]
            self.cql('DROP TABLE %s.%s' % (keyspace, t))
            self.create_table(keyspace, t, rf=rf)
        return [os.path.join(d, keyspace, name) for d in self.data_dirs() for name in set(old)
                if os.path.isdir(os.path.join(d, keyspace, name))]

    def live_bytes(self, keyspace):
        total = 0
        for d in self.data_dirs():
            ksdir = os.path.join(d, keyspace)
            for t in os.listdir(ksdir) if os.path.isdir(ksdir) else []:
                tdir = os.path.join(ksdir, t)
                for name in os.listdir(tdir):
                    p = os.path.join(tdir, name)
                    if os.path.isfile(p):
                        total += os.path.getsize(p)
        return total

