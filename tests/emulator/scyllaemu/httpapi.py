"""HTTP plumbing shared by the ScyllaDB REST routes and the emulator's control routes.

A route declares its method, path (with `{name}` path parameters as in the Swagger
files), the query parameters it accepts and which of them are required. The route
tables are plain module-level lists so that the contract test can compare them with
../shared/scylla/api-doc. Unlike ScyllaDB, an undeclared query parameter is refused
(400): it is almost always a typo in the caller that ScyllaDB would silently ignore.
"""

import json
import re
import sys
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .node import ApiError


class Route:
    def __init__(self, method, path, query=(), required=(), handler=None):
        self.method = method
        self.path = path
        self.query = list(query)
        self.required = list(required)
        self.handler = handler
        self.path_params = re.findall(r'{(\w+)}', path)
        pattern = re.sub(r'{(\w+)}', r'(?P<\1>[^/]+)', re.escape(path).replace(r'\{', '{')
                         .replace(r'\}', '}'))
        self.regex = re.compile('^' + pattern + '$')

    def __repr__(self):
        return 'Route(%s %s)' % (self.method, self.path)


class Request:
    def __init__(self, method, path, params, path_params, body):
        self.method = method
        self.path = path
        self.params = params
        self.path_params = path_params
        self.body = body

    def get(self, name, default=None):
        return self.params.get(name, default)

    def bool(self, name, default=False):
        """ScyllaDB's boolean query values: `true` or `1` (and `false`, `0`)."""
        v = self.params.get(name)
        if v is None or v == '':
            return default
        if v.lower() in ('true', '1'):
            return True
        if v.lower() in ('false', '0'):
            return False
        raise ApiError(400, "Invalid value for boolean parameter '%s': '%s'" % (name, v))

    def int(self, name, default=None):
        v = self.params.get(name)
        if v is None or v == '':
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, "Invalid value for integer parameter '%s': '%s'" % (name, v))

    def float(self, name, default=None):
        v = self.params.get(name)
        if v is None or v == '':
            return default
        try:
            return float(v)
        except ValueError:
            raise ApiError(400, "Invalid value for number parameter '%s': '%s'" % (name, v))

    def list(self, name):
        """A comma list (`kn=a,b`); empty entries dropped."""
        v = self.params.get(name) or ''
        return [x.strip() for x in v.split(',') if x.strip()]

    def json(self):
        try:
            return json.loads(self.body or b'{}')
        except ValueError:
            raise ApiError(400, 'request body is not JSON')


def find_route(routes, method, path):
    """(route, path params), or (None, None) when nothing matches method + path."""
    for r in routes:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m:
            return r, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
    return None, None


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, node, routes, log=None):
        self.node = node
        self.routes = routes
        self.log = log or sys.stderr
        super().__init__(address, ApiHandler)

    def handle_error(self, request, client_address):
        # A client that gave up (timeout, injected hang) is not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # Headers and body leave in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms a request), which no real ScyllaDB costs.
    disable_nagle_algorithm = True

    def version_string(self):
        return 'Seastar httpd'

    def log_message(self, fmt, *args):
        pass     # one line per request would drown the node log

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_DELETE(self):
        self._dispatch('DELETE')

    def do_PUT(self):
        self._dispatch('PUT')

    def do_HEAD(self):
        self._dispatch('HEAD')

    def _read_body(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return b''.join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def _send(self, status, body):
        data = b'' if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def _error(self, status, message):
        self._send(status, {'message': message, 'code': status})

    def _dispatch(self, method):
        node = self.server.node
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self._read_body()
        if not path.startswith('/emulator/'):
            fault = node.faults.take(method, path)
            if fault is not None:
                if fault['hang']:
                    time.sleep(fault['hang'])
                if fault['reset']:
                    self.close_connection = True
                    return               # no response at all: the client sees the socket close
                if fault['status']:
                    return self._error(fault['status'], fault['message'])
        route, path_params = find_route(self.server.routes, method, path)
        if route is None:
            return self._error(404, 'Not found')
        try:
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        except ValueError:
            return self._error(400, 'malformed query string')
        for name in params:
            if name not in route.query:
                return self._error(400, "Unknown parameter '%s' for %s %s"
                                   % (name, method, route.path))
        for name in route.required:
            if name not in params:
                return self._error(400, "Missing mandatory parameter '%s'" % name)
        req = Request(method, path, params, path_params, body)
        try:
            result = route.handler(node, req)
        except ApiError as e:
            return self._error(e.status, e.message)
        except Exception as e:           # what ScyllaDB does with an unexpected exception
            traceback.print_exc(file=self.server.log)
            return self._error(500, '%s: %s' % (type(e).__name__, e))
        status, payload = result if isinstance(result, tuple) else (200, result)
        self._send(status, payload)
