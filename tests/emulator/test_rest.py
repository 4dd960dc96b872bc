"""REST routes of the emulator: identity, ring, schema lists, errors, faults, node down."""

import http.client
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import ClusterTestCase                   # noqa: E402

SYSTEM = ['system', 'system_auth', 'system_distributed', 'system_schema', 'system_traces']


class IdentityAndRingTest(ClusterTestCase):
    cluster_options = {'dcs': 'dc1:2,dc2:1', 'data_dirs': 2, 'cluster_name': 'rest-test'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster.create_table('ks1', 't1', rf=2)
        cls.cluster.create_table('ks1', 't2', rf=2)

    def test_identity(self):
        for i, n in enumerate(self.cluster.nodes):
            self.assertEqual(self.ok('GET', '/storage_service/hostid/local', node=i), n['host_id'])
            self.assertEqual(self.ok('GET', '/snitch/datacenter', node=i), n['dc'])
            self.assertEqual(self.ok('GET', '/snitch/rack', node=i), n['rack'])
            self.assertEqual(self.ok('GET', '/storage_service/data_file/locations', node=i),
                             n['data_dirs'])
        self.assertEqual(self.ok('GET', '/storage_service/cluster_name'), 'rest-test')
        version = self.ok('GET', '/storage_service/scylla_release_version')
        self.assertRegex(version, r'^\d{4}\.\d+\.\d+-')
        self.assertEqual([n['dc'] for n in self.cluster.nodes], ['dc1', 'dc1', 'dc2'])

    def test_snitch_with_host(self):
        third = self.cluster.nodes[2]
        self.assertEqual(self.ok('GET', '/snitch/datacenter', {'host': third['address']}), 'dc2')
        self.assertEqual(self.ok('GET', '/snitch/rack', {'host': third['address']}), 'rack1')
        self.assertApiError(400, 'Invalid IP', 'GET', '/snitch/datacenter', {'host': 'nope'})

    def test_host_id_map_and_tokens(self):
        m = self.ok('GET', '/storage_service/host_id', node=1)
        self.assertEqual(sorted((e['key'], e['value']) for e in m),
                         sorted((n['address'], n['host_id']) for n in self.cluster.nodes))
        for i, n in enumerate(self.cluster.nodes):
            local = self.ok('GET', '/storage_service/tokens', node=i)
            self.assertEqual(local, n['tokens'])
            self.assertEqual(len(local), 16)
            self.assertTrue(all(isinstance(t, str) and int(t) for t in local))
            self.assertEqual(self.ok('GET', '/storage_service/tokens/' + n['address']), local)
        self.assertEqual(self.ok('GET', '/storage_service/tokens/127.0.0.99'), [])
        self.assertApiError(400, 'Invalid IP', 'GET', '/storage_service/tokens/xyz')

    def test_describe_ring(self):
        ring = self.ok('GET', '/storage_service/describe_ring/ks1')
        self.assertEqual(len(ring), 48)
        addrs = {n['address'] for n in self.cluster.nodes}
        ends = [int(r['end_token']) for r in ring]
        self.assertEqual(ends, sorted(ends))
        self.assertEqual(ring[0]['start_token'], ring[-1]['end_token'])   # wrap-around range
        for r in ring:
            self.assertEqual(len(r['endpoints']), 2)                      # SimpleStrategy rf=2
            self.assertEqual(len(set(r['endpoints'])), 2)
            self.assertTrue(set(r['endpoints']) <= addrs)
            self.assertEqual(r['rpc_endpoints'], r['endpoints'])
            self.assertEqual([d['host'] for d in r['endpoint_details']], r['endpoints'])
            self.assertEqual(set(r['endpoint_details'][0]), {'host', 'datacenter', 'rack'})
        self.ok('GET', '/storage_service/describe_ring/ks1', {'table': 't1'})
        self.assertApiError(400, "Can't find a keyspace nope", 'GET',
                            '/storage_service/describe_ring/nope')
        self.assertApiError(400, "Can't find a column family", 'GET',
                            '/storage_service/describe_ring/ks1', {'table': 'nope'})

    def test_keyspaces(self):
        self.assertEqual(self.ok('GET', '/storage_service/keyspaces'), sorted(SYSTEM + ['ks1']))
        self.assertEqual(self.ok('GET', '/storage_service/keyspaces', {'type': 'all'}),
                         sorted(SYSTEM + ['ks1']))
        self.assertEqual(self.ok('GET', '/storage_service/keyspaces', {'type': 'user'}), ['ks1'])
        self.assertEqual(self.ok('GET', '/storage_service/keyspaces',
                                 {'type': 'non_local_strategy'}),
                         ['ks1', 'system_auth', 'system_distributed', 'system_traces'])
        self.assertEqual(self.ok('GET', '/storage_service/keyspaces',
                                 {'type': 'user', 'replication': 'tablets'}), [])

    def test_column_family_names(self):
        names = self.ok('GET', '/column_family/name', node=2)
        self.assertIn('ks1:t1', names)
        self.assertIn('ks1:t2', names)
        self.assertIn('system:local', names)
        self.assertIn('system_schema:tables', names)
        self.assertTrue(all(n.count(':') == 1 for n in names))

    def test_table_directories_exist_on_every_node_and_data_dir(self):
        t = self.cluster.call(0, 'GET', '/emulator/sstables', {'keyspace': 'ks1', 'table': 't1'})
        table_id = uuid.UUID(t['id'])
        for n in self.cluster.nodes:
            for d in n['data_dirs']:
                tdir = os.path.join(d, 'ks1', 't1-' + table_id.hex)
                self.assertTrue(os.path.isdir(os.path.join(tdir, 'upload')), tdir)
                self.assertTrue(os.path.isdir(os.path.join(tdir, 'staging')), tdir)
        local_id = '7ad54392bcdd35a684174e047860b377'      # ScyllaDB's id of system.local
        self.assertTrue(os.path.isdir(os.path.join(self.cluster.nodes[0]['data_dirs'][0],
                                                   'system', 'local-' + local_id)))

    def test_not_found_and_bad_parameters(self):
        self.assertApiError(404, 'Not found', 'GET', '/storage_service/nothing_here')
        self.assertApiError(404, 'Not found', 'PUT', '/storage_service/snapshots')
        self.assertApiError(404, 'Not found', 'GET', '/gossiper/endpoint/live')  # no slash
        self.assertApiError(400, "Unknown parameter 'keyspace'", 'POST',
                            '/storage_service/snapshots', {'tag': 'x', 'keyspace': 'ks1'})
        self.assertApiError(400, "Missing mandatory parameter 'cf'", 'POST',
                            '/storage_service/sstables/ks1')
        self.assertApiError(400, "Missing mandatory parameter 'value'", 'POST',
                            '/storage_service/incremental_backups')
        self.assertApiError(400, 'boolean', 'POST', '/storage_service/incremental_backups',
                            {'value': 'maybe'})
        self.assertApiError(400, "Can't find a keyspace", 'POST',
                            '/storage_service/keyspace_flush/nope')
        self.assertApiError(400, "Can't find a column family nope in keyspace ks1", 'POST',
                            '/storage_service/keyspace_flush/ks1', {'cf': 't1,nope'})

    def test_void_result_is_empty_200(self):
        n = self.cluster.nodes[0]
        conn = http.client.HTTPConnection(n['address'], n['rest_port'], timeout=5)
        conn.request('POST', '/storage_service/keyspace_flush/ks1?cf=t1')
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.read(), b'')
        conn.request('GET', '/storage_service/cluster_name')      # keep-alive works
        resp = conn.getresponse()
        self.assertEqual(resp.read(), b'"rest-test"')
        self.assertEqual(resp.getheader('Content-Type'), 'application/json')
        conn.close()

    def test_incremental_backups_flag(self):
        self.assertIs(self.ok('GET', '/storage_service/incremental_backups'), False)
        self.ok('POST', '/storage_service/incremental_backups', {'value': 'true'})
        self.assertIs(self.ok('GET', '/storage_service/incremental_backups'), True)
        self.assertIs(self.ok('GET', '/storage_service/incremental_backups', node=1), False)
        self.ok('POST', '/storage_service/incremental_backups', {'value': '0'})
        self.assertIs(self.ok('GET', '/storage_service/incremental_backups'), False)
        self.ok('POST', '/storage_service/incremental_backups', {'value': '1'})
        self.assertIs(self.ok('GET', '/storage_service/incremental_backups'), True)
        self.ok('POST', '/storage_service/incremental_backups', {'value': 'false'})


class GossipAndFaultTest(ClusterTestCase):
    nodes = 3

    def tearDown(self):
        for i in range(3):
            self.ok('DELETE', '/emulator/faults', node=i)
        for n in self.cluster.nodes:
            self.cluster.mark_up(n['name'])

    def test_node_down_is_seen_by_every_node(self):
        a = [n['address'] for n in self.cluster.nodes]
        self.assertEqual(self.ok('GET', '/gossiper/endpoint/live/'), a)
        self.assertEqual(self.ok('GET', '/gossiper/endpoint/down/'), [])
        self.cluster.mark_down('node2')
        for i in range(3):
            self.assertEqual(self.ok('GET', '/gossiper/endpoint/live/', node=i), [a[0], a[2]])
            self.assertEqual(self.ok('GET', '/gossiper/endpoint/down/', node=i), [a[1]])
        # A down node still owns its tokens and host id.
        self.assertEqual(len(self.ok('GET', '/storage_service/host_id')), 3)
        self.cluster.mark_up('node2')
        self.assertEqual(self.ok('GET', '/gossiper/endpoint/down/', node=2), [])

    def test_fault_with_status_and_count(self):
        self.cluster.inject_fault(0, '/storage_service/snapshots', method='POST', count=2,
                                  status=503, message='overloaded')
        for _ in range(2):
            self.assertApiError(503, 'overloaded', 'POST', '/storage_service/snapshots',
                                {'tag': 'never'})
        self.assertApiError(400, "Can't find", 'POST', '/storage_service/snapshots',
                            {'tag': 'x', 'kn': 'absent'})        # third call is real again
        # Other methods, prefixes and nodes were not affected.
        self.ok('GET', '/storage_service/snapshots')
        faults = self.ok('GET', '/emulator/faults')
        self.assertEqual(faults[0]['hits'], 2)
        self.assertEqual(faults[0]['count'], 0)

    def test_fault_prefix_matches_any_method_by_default(self):
        self.cluster.inject_fault(1, '/storage_service/', count=1, status=500, message='boom')
        self.assertApiError(500, 'boom', 'GET', '/storage_service/hostid/local', node=1)
        self.ok('GET', '/storage_service/hostid/local', node=1)

    def test_hang_then_answer(self):
        self.cluster.inject_fault(0, '/storage_service/cluster_name', status=0, hang=0.5)
        t0 = time.monotonic()
        self.ok('GET', '/storage_service/cluster_name')
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)

    def test_hang_then_fail_and_reset(self):
        self.cluster.inject_fault(0, '/gossiper/', status=504, hang=0.2, message='late')
        self.assertApiError(504, 'late', 'GET', '/gossiper/endpoint/live/')
        self.cluster.inject_fault(0, '/gossiper/', status=0, reset=True)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.api('GET', '/gossiper/endpoint/live/')
        self.ok('GET', '/gossiper/endpoint/live/')

    def test_control_routes_validate(self):
        self.assertApiError(400, 'path must be', 'POST', '/emulator/faults',
                            {'path': '/emulator/info'})
        self.assertApiError(400, 'unknown endpoint', 'POST', '/emulator/gossip',
                            {'endpoint': '10.9.9.9', 'state': 'down'})
        info = self.ok('GET', '/emulator/info', node=2)
        self.assertEqual(info['address'], self.cluster.nodes[2]['address'])


if __name__ == '__main__':
    unittest.main()
