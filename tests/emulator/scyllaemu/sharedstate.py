"""State shared by the nodes of one emulated cluster, kept in files beside cluster.json.

Every node is its own process, so what a real cluster agrees on through gossip and
group 0 lives in small JSON files: the cluster file written by the launcher (nodes,
addresses, tokens, data directories), `schema.json` (keyspaces and tables),
`gossip.json` (which endpoints are down) and `schema_lag.json` (each node's schema
propagation lag). Writers take an fcntl lock and replace the
file by rename; readers re-read it only when its inode, size or mtime changed, which
is cheap enough to do on every request.
"""

import contextlib
import copy
import fcntl
import json
import os
import threading


class JsonFile:
    def __init__(self, path, default):
        self.path = path
        self.default = default
        self._key = None
        self._doc = None
        self._lock = threading.Lock()

    def read(self):
        """The current document (shared, do not modify)."""
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        with self._lock:
            if self._doc is None or key != self._key:
                self._doc = self._load() if key else copy.deepcopy(self.default)
                self._key = key
            return self._doc

    def _load(self):
        for _ in range(5):
            try:
                with open(self.path, encoding='utf-8') as f:
                    return json.load(f)
            except FileNotFoundError:
                return copy.deepcopy(self.default)
            except json.JSONDecodeError:
                continue      # replaced under our feet by a non-atomic writer: retry
        raise RuntimeError('%s: not valid JSON' % self.path)

    @contextlib.contextmanager
    def update(self):
        """Lock, yield a fresh copy to modify, write it back atomically."""
        os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
        with open(self.path + '.lock', 'a') as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            try:
                doc = self._load() if os.path.exists(self.path) else copy.deepcopy(self.default)
                yield doc
                write_json_atomic(self.path, doc)
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)


def write_json_atomic(path, doc):
    tmp = '%s.tmp.%d.%d' % (path, os.getpid(), threading.get_ident())
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write('\n')
    os.rename(tmp, path)


class ClusterState:
    """The cluster as every node sees it.

    Without a cluster file the node is a cluster of one, and its shared files live in
    `<first data dir>/../emulator-state/`.
    """

    def __init__(self, cluster_file, self_node):
        self.cluster_file = os.path.abspath(cluster_file) if cluster_file else None
        self.self_node = self_node
        if self.cluster_file:
            self.dir = os.path.dirname(self.cluster_file)
        else:
            first = self_node['data_dirs'][0]
            self.dir = os.path.join(os.path.dirname(os.path.abspath(first)), 'emulator-state')
        self._cluster = JsonFile(self.cluster_file, None) if self.cluster_file else None
        self.schema = JsonFile(os.path.join(self.dir, 'schema.json'),
                               {'keyspaces': [], 'objects': [], 'generation': 0})
        self.gossip = JsonFile(os.path.join(self.dir, 'gossip.json'), {'down': []})
        self.lag = JsonFile(os.path.join(self.dir, 'schema_lag.json'), {'schema_lag_ms': {}})

    def cluster_doc(self):
        if self._cluster is None:
            return {'cluster_name': self.self_node['cluster_name'], 'nodes': [self.self_node]}
        doc = self._cluster.read()
        if doc is None:
            raise RuntimeError('cluster file %s is missing' % self.cluster_file)
        return doc

    def nodes(self):
        """All ring members, this node included (its own entry from its command line)."""
        out = []
        seen = False
        for n in self.cluster_doc().get('nodes', []):
            if n.get('address') == self.self_node['address']:
                # The cluster file wins; the command line fills what it lacks.
                merged = dict(self.self_node)
                merged.update({k: v for k, v in n.items() if v})
                out.append(merged)
                seen = True
            else:
                out.append(n)
        if not seen:
            out.append(self.self_node)
        return out

    def node_by_address(self, address):
        for n in self.nodes():
            if n['address'] == address:
                return n
        return None

    def down(self):
        return set(self.gossip.read().get('down', []))

    def set_down(self, address, is_down):
        with self.gossip.update() as doc:
            down = set(doc.get('down', []))
            if is_down:
                down.add(address)
            else:
                down.discard(address)
            doc['down'] = sorted(down)

    def schema_lags(self):
        """address -> schema propagation lag in ms, for the nodes that have one."""
        return self.lag.read().get('schema_lag_ms', {})

    def set_schema_lag(self, address, ms):
        with self.lag.update() as doc:
            lags = doc.setdefault('schema_lag_ms', {})
            if ms > 0:
                lags[address] = ms
            else:
                lags.pop(address, None)
