"""Helpers shared by the emulator's tests (not a test module itself).

Each test cluster gets its own loopback range 127.0.<100-250>.N and random ports, so
test runs in parallel (other engineers, CI) do not collide.
"""

import os
import random
import shutil
import socket
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from cluster import Cluster, ClusterError        # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared'))
SSTABLE_SETS = os.path.join(SHARED, 'scylla', 'sstables')
API_DOC = os.path.join(SHARED, 'scylla', 'api-doc')


def shared_missing_reason(path):
    if os.path.isdir(path):
        return None
    return ('%s is absent: the shared reference material is expected at <repo>/../shared'
            % path)


def _free(address, port):
    with socket.socket() as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def pick_network(nodes, ports=3):
    """A base address and ports that are free on every address the cluster will use."""
    for _ in range(50):
        third = random.randint(100, 250)
        fourth = random.randint(1, 200)
        port = random.randrange(20000, 40000, 4)
        addrs = ['127.0.%d.%d' % (third, fourth + i) for i in range(nodes)]
        if all(_free(a, port + k) for a in addrs for k in range(ports)):
            return addrs[0], port
    raise RuntimeError('no free loopback range found')


def start_cluster(directory, nodes=1, attempts=3, **kwargs):
    """Start a Cluster on a fresh loopback range, retrying if a port was taken meanwhile."""
    dcs = kwargs.get('dcs')
    count = sum(int(p.split(':')[1]) for p in dcs.split(',')) if dcs else nodes
    last = None
    for _ in range(attempts):
        base, port = pick_network(count)
        c = Cluster(directory, nodes=None if dcs else nodes, base_address=base,
                    rest_port=port, cql_port=port + 1, agent_port=port + 2, **kwargs)
        try:
            return c.start()
        except ClusterError as e:
            last = e
            if 'cannot bind' not in str(e):
                raise
            shutil.rmtree(directory, ignore_errors=True)
    raise last


class ClusterTestCase(unittest.TestCase):
    """One cluster for all the tests of a class; stopped even when a test fails."""

    nodes = 1
    cluster_options = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='cairn-emu-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.cluster = start_cluster(os.path.join(cls.tmp, 'cluster'), cls.nodes,
                                    **cls.cluster_options)
        cls.addClassCleanup(cls.cluster.stop)

    # Short-hands used by most tests.
    def api(self, method, path, params=None, node=0, body=None):
        return self.cluster.api(node, method, path, params, body)

    def ok(self, method, path, params=None, node=0, body=None):
        status, doc = self.api(method, path, params, node, body)
        self.assertEqual(status, 200, '%s %s → %s %s' % (method, path, status, doc))
        return doc

    def assertApiError(self, status, fragment, method, path, params=None, node=0):
        got, doc = self.api(method, path, params, node)
        self.assertEqual(got, status, '%s %s → %s %s' % (method, path, got, doc))
        self.assertIsInstance(doc, dict)
        self.assertEqual(doc.get('code'), status)
        self.assertIn(fragment, doc.get('message', ''))
        return doc

    def make_table(self, keyspace, table, rf=1):
        return self.cluster.create_table(keyspace, table, rf)
