#!/usr/bin/env python3
"""Run one emulated ScyllaDB node: REST API + control API on --rest-port, CQL on --cql-port.

    python3 tests/emulator/scylla_node.py --data-dir D [--data-dir D2 ...] \
        --address 127.0.1.1 --rest-port 10000 --cql-port 9042 --host-id UUID \
        --dc dc1 --rack rack1 --cluster-name NAME --cluster-file FILE \
        [--username U --password P] [--numeric-generations] [--pid-file F] \
        [--cql-tls-cert CRT --cql-tls-key KEY [--cql-tls-ca CA]]

Stops cleanly on SIGTERM or SIGINT. See docs/testing.md.
"""

import argparse
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scyllaemu import control, rest                         # noqa: E402
from scyllaemu.cql import CqlServer, server_ssl_context      # noqa: E402
from scyllaemu.httpapi import ApiServer                      # noqa: E402
from scyllaemu.node import DEFAULT_RELEASE, Node             # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Emulated ScyllaDB node for cairn tests')
    p.add_argument('--data-dir', action='append', required=True,
                   help='data directory (repeat for several)')
    p.add_argument('--address', required=True, help='address to bind, e.g. 127.0.1.1')
    p.add_argument('--rest-port', type=int, default=10000)
    p.add_argument('--cql-port', type=int, default=9042)
    p.add_argument('--host-id', required=True)
    p.add_argument('--dc', default='dc1')
    p.add_argument('--rack', default='rack1')
    p.add_argument('--cluster-name', default='emulated')
    p.add_argument('--cluster-file', help="the launcher's cluster.json (ring, shared state)")
    p.add_argument('--username')
    p.add_argument('--password')
    p.add_argument('--numeric-generations', action='store_true',
                   help='name new SSTables with integer generations instead of UUIDs')
    p.add_argument('--incremental-backups', action='store_true')
    p.add_argument('--num-tokens', type=int, default=16,
                   help='vnodes when the cluster file gives no tokens')
    p.add_argument('--release-version', default=DEFAULT_RELEASE)
    p.add_argument('--cql-tls-cert',
                   help='serve CQL over TLS only, with this PEM certificate '
                        '(client_encryption_options)')
    p.add_argument('--cql-tls-key', help='the PEM key of --cql-tls-cert')
    p.add_argument('--cql-tls-ca',
                   help='require a client certificate signed by this CA (require_client_auth)')
    p.add_argument('--pid-file')
    p.add_argument('--exit-with-parent', action='store_true',
                   help='exit when the process that started this one dies')
    args = p.parse_args(argv)
    if (args.username is None) != (args.password is None):
        p.error('--username and --password go together')
    if (args.cql_tls_cert is None) != (args.cql_tls_key is None):
        p.error('--cql-tls-cert and --cql-tls-key go together')
    if args.cql_tls_ca and not args.cql_tls_cert:
        p.error('--cql-tls-ca needs --cql-tls-cert and --cql-tls-key')
    return args


def _watch_parent(stop):
    """Exit when orphaned, so a killed test run leaves no node behind."""
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            stop.set()


def build_views(node):
    """ScyllaDB builds a new view in the background, from each node's own data."""
    try:
        node.views.build_pending()
    except Exception as e:  # a table dropped under the build: the next round sees it
        print('scylla_node: view build: %s' % e, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    node = Node(args.address, args.rest_port, args.cql_port, args.host_id, args.dc, args.rack,
                args.cluster_name, args.data_dir, args.cluster_file, args.username,
                args.password, args.numeric_generations, args.release_version,
                args.incremental_backups, args.num_tokens)
    try:
        tls = (server_ssl_context(args.cql_tls_cert, args.cql_tls_key, args.cql_tls_ca)
               if args.cql_tls_cert else None)
    except OSError as e:        # ssl.SSLError is one
        print('scylla_node: cannot serve CQL over TLS: %s' % e, file=sys.stderr)
        return 3
    try:
        api = ApiServer((args.address, args.rest_port), node, rest.ROUTES + control.ROUTES)
        cql = CqlServer((args.address, args.cql_port), node, ssl_context=tls)
    except OSError as e:
        print('scylla_node: cannot bind %s: %s' % (args.address, e), file=sys.stderr)
        return 3
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=api.serve_forever, kwargs={'poll_interval': 0.05},
                                daemon=True),
               threading.Thread(target=cql.serve_forever, kwargs={'poll_interval': 0.05},
                                daemon=True)]
    if args.exit_with_parent:
        threads.append(threading.Thread(target=_watch_parent, args=(stop,), daemon=True))
    for t in threads:
        t.start()
    if args.pid_file:
        with open(args.pid_file + '.tmp', 'w') as f:
            f.write('%d\n' % os.getpid())
        os.rename(args.pid_file + '.tmp', args.pid_file)
    print('scylla_node: %s up (REST %d, CQL %d%s, host id %s) at %s'
          % (args.address, args.rest_port, args.cql_port, ' over TLS' if tls else '',
             node.host_id, time.ctime()),
          file=sys.stderr, flush=True)
    while not stop.wait(0.1):
        build_views(node)
    api.shutdown()
    cql.shutdown()
    api.server_close()
    cql.server_close()
    if args.pid_file:
        try:
            os.unlink(args.pid_file)
        except FileNotFoundError:
            pass
    print('scylla_node: %s stopped' % args.address, file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
