"""Contract: every ScyllaDB route the emulator serves is declared in the API definitions.

Reads the Swagger 1.2 files of ../shared/scylla/api-doc (the /v2 Swagger 2.0 fragments
are skipped) and checks, for each route of the emulator's route table: the path, the
method, the path parameters, that every query parameter it accepts is declared, and
that it requires exactly the declared required ones.
"""

import glob
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emutest import API_DOC, shared_missing_reason   # noqa: E402
from scyllaemu import control, rest                 # noqa: E402


def load_declarations():
    """{(METHOD, path): {param name: (paramType, required)}} from the Swagger 1.2 files."""
    decl = {}
    for path in sorted(glob.glob(os.path.join(API_DOC, '*.json'))):
        try:
            with open(path) as f:
                doc = json.load(f)
        except ValueError:
            continue              # a Swagger 2.0 fragment, not a document of its own
        if not isinstance(doc, dict) or 'apis' not in doc:
            continue
        for api in doc['apis']:
            for op in api.get('operations', []):
                params = {p['name']: (p.get('paramType'), bool(p.get('required')))
                          for p in op.get('parameters', [])}
                decl[(op['method'].upper(), api['path'])] = params
    return decl


@unittest.skipIf(shared_missing_reason(API_DOC), shared_missing_reason(API_DOC))
class ContractTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.decl = load_declarations()

    def test_declarations_were_read(self):
        self.assertGreater(len(self.decl), 200)
        self.assertIn(('GET', '/storage_service/hostid/local'), self.decl)

    def test_every_scylla_route_is_declared(self):
        self.assertGreaterEqual(len(rest.ROUTES), 21)
        for route in rest.ROUTES:
            with self.subTest(route=route):
                key = (route.method, route.path)
                self.assertTrue(key in self.decl, '%s %s is not declared in api-doc' % key)
                params = self.decl[key]
                declared_path = {n for n, (kind, _) in params.items() if kind == 'path'}
                self.assertEqual(set(route.path_params), declared_path)
                declared_query = {n for n, (kind, _) in params.items() if kind == 'query'}
                extra = set(route.query) - declared_query
                self.assertEqual(extra, set(), 'query parameters not declared')
                required = {n for n, (kind, req) in params.items() if kind == 'query' and req}
                self.assertEqual(set(route.required), required, 'required parameters differ')

    def test_control_routes_stay_outside_scylla_prefixes(self):
        for route in control.ROUTES:
            self.assertTrue(route.path.startswith('/emulator/'), route)
        for _, path in self.decl:
            self.assertFalse(path.startswith('/emulator'), path)

    def test_the_brief_routes_are_all_served(self):
        served = {(r.method, r.path) for r in rest.ROUTES}
        wanted = [
            ('GET', '/storage_service/hostid/local'), ('GET', '/snitch/datacenter'),
            ('GET', '/snitch/rack'), ('GET', '/storage_service/scylla_release_version'),
            ('GET', '/storage_service/cluster_name'),
            ('GET', '/storage_service/data_file/locations'), ('GET', '/storage_service/host_id'),
            ('GET', '/gossiper/endpoint/live/'), ('GET', '/gossiper/endpoint/down/'),
            ('GET', '/storage_service/tokens'), ('GET', '/storage_service/tokens/{endpoint}'),
            ('GET', '/storage_service/describe_ring/{keyspace}'),
            ('GET', '/storage_service/keyspaces'), ('GET', '/column_family/name'),
            ('POST', '/storage_service/keyspace_flush/{keyspace}'),
            ('POST', '/storage_service/snapshots'), ('GET', '/storage_service/snapshots'),
            ('DELETE', '/storage_service/snapshots'),
            ('GET', '/storage_service/incremental_backups'),
            ('POST', '/storage_service/incremental_backups'),
            ('POST', '/storage_service/sstables/{keyspace}')]
        self.assertEqual(sorted(set(wanted) - served), [])


if __name__ == '__main__':
    unittest.main()
