"""A ScyllaDB node emulator for cairn's tests.

It reproduces what cairn touches on a real node: the REST API (as declared in
../shared/scylla/api-doc), the CQL native protocol v4 for the schema, and a data
directory with ScyllaDB's layout whose SSTables appear, merge and disappear as on a
real node. See docs/testing.md for what is faithful and what is simplified.
"""
