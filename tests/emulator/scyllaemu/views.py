"""Materialized views and secondary indexes, as far as a backup tool meets them.

In ScyllaDB a view (and the backing view `<index>_index` of a secondary index) is a table
of its own, with a data directory, filled only from its base table:
- a write to the base is also applied to each of its views;
- a view created on a base that holds data is built from it, by every node from its own
  data, and `GET /storage_service/view_build_statuses/{ks}/{view}` tells how far each
  node got;
- SSTables loaded into the base (refresh or load-and-stream) produce view updates, but
  SSTables uploaded into a view itself are refused.

The emulator's view holds the same data pieces as its base (a real view reorders them by
its own key), so a test can read a view's rows and compare them with the base's. Build
states live in `view_builds.json` beside schema.json ({view id: {host id: status}}), so
any node can answer for all of them.
"""

import os

from . import sstables
from .sharedstate import JsonFile

VIEW_KINDS = ('view', 'index')


def dependents(schema, table):
    """The views and index views built from table."""
    return [t for t in schema.tables if t.kind in VIEW_KINDS and t.keyspace == table.keyspace
            and t.base == table.name]


class ViewBuilder:
    def __init__(self, node):
        self.node = node
        self.builds = JsonFile(os.path.join(node.state.dir, 'view_builds.json'), {})

    def build_pending(self):
        """Builds every view this node has not built yet (run in a loop by scylla_node)."""
        schema = self.node.current_schema()
        done = self.builds.read()
        for v in schema.tables:
            if v.kind in VIEW_KINDS and done.get(str(v.id), {}).get(self.node.host_id) != 'SUCCESS':
                base = schema.table(v.keyspace, v.base)
                if base is not None:
                    self._build(base, v)

    def _build(self, base, view):
        self._set(view, 'STARTED')
        node = self.node
        with node.lock:
            for s in node.live_sstables(base):
                node.write_view_sstable(view, sstables.read_pieces(s.data_path))
            node.copy_memtable(base, view)
        self._set(view, 'SUCCESS')

    def _set(self, view, status):
        with self.builds.update() as doc:
            doc.setdefault(str(view.id), {})[self.node.host_id] = status

    def statuses(self, keyspace, name):
        """[{key: node address, value: status}] of the view (an index view by its table
        name), as the REST API answers; None when there is no such view."""
        self.build_pending()
        view = self.node.current_schema().table(keyspace, name)
        if view is None or view.kind not in VIEW_KINDS:
            return None
        done = self.builds.read().get(str(view.id), {})
        return [{'key': n['address'], 'value': done.get(n['host_id'], 'UNKNOWN')}
                for n in self.node.state.nodes()]

    def update(self, table, ssts):
        """View updates for SSTables loaded into table (the caller holds node.lock)."""
        for v in dependents(self.node.current_schema(), table):
            for s in ssts:
                self.node.write_view_sstable(v, sstables.read_pieces(s.data_path))
