#!/usr/bin/env python3
"""An S3 store for tests: moto_server with signature checks, and a fault-injecting proxy.

moto_server runs on a free loopback port. An IAM user is made while moto still accepts
anything; then authentication is switched on, so every later request must carry a valid
SigV4 signature from that user's keys (moto recomputes it, as S3 does). The proxy sits
between cairn and moto and, on command, answers with errors, drops connections or cuts
bodies short, to show that cairn retries.

As a module: `with S3Env() as s3: ...`. As a program (for the C unit tests):
    s3env.py serve --info FILE    writes the endpoints and keys as JSON to FILE and
                                  serves until its standard input closes.
Exits with 77 when moto is not installed, so callers can skip.
"""

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

MOTO_RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'moto_raw.py')
BUCKETS = ('cairn-test', 'cairn-e2e')
REGION = 'us-east-1'


def policy(buckets):
    """The permissions docs/storage.md asks for, on the given buckets (patterns)."""
    return {
        'Version': '2012-10-17',
        'Statement': [
            {'Effect': 'Allow', 'Action': ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
             'Resource': ['arn:aws:s3:::%s' % b for b in buckets]},
            # moto checks DeleteObjects against the bucket's ARN; S3 checks each key's.
            {'Effect': 'Allow', 'Action': ['s3:DeleteObject'],
             'Resource': ['arn:aws:s3:::%s' % b for b in buckets]},
            {'Effect': 'Allow',
             'Action': ['s3:GetObject', 's3:PutObject', 's3:DeleteObject',
                        's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
             'Resource': ['arn:aws:s3:::%s/*' % b for b in buckets]},
        ],
    }


# 'cairn' may use every cairn-* bucket (a missing one then reads as missing, not as
# forbidden); 'agent' only cairn-e2e, as an operator would scope a node's key.
USERS = {'cairn': ['cairn-*'], 'agent': ['cairn-e2e']}


def moto_available():
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError:
        return False
    return shutil.which('moto_server') is not None


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def die_with_parent():
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Moto:
    def __init__(self, log_path=None):
        self.port = free_port()
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        log = open(log_path or os.devnull, 'ab')
        env = dict(os.environ, MOTO_PORT=str(self.port))
        self.proc = subprocess.Popen([sys.executable, MOTO_RAW, '-H', '127.0.0.1', '-p',
                                      str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + '/moto-api/', timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError('moto_server did not start on port %d' % self.port)
                time.sleep(0.1)
        self._setup()

    def client(self, service, key=None, secret=None):
        import boto3
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=key or 'setup', aws_secret_access_key=secret or 'setup')

    def _setup(self):
        iam = self.client('iam')
        self.keys = {}
        for user, buckets in USERS.items():
            iam.create_user(UserName=user)
            k = iam.create_access_key(UserName=user)['AccessKey']
            self.keys[user] = (k['AccessKeyId'], k['SecretAccessKey'])
            iam.put_user_policy(UserName=user, PolicyName='cairn',
                                PolicyDocument=json.dumps(policy(buckets)))
        self.key_id, self.secret = self.keys['cairn']
        s3 = self.client('s3')
        for b in BUCKETS:
            s3.create_bucket(Bucket=b)
        # From here on every request is authenticated and its signature checked.
        req = urllib.request.Request(self.endpoint + '/moto-api/reset-auth', data=b'0',
                                     method='POST', headers={'Content-Type': 'text/plain'})
        urllib.request.urlopen(req, timeout=10).read()

    def s3(self):
        return self.client('s3', self.key_id, self.secret)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def error_body(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            '<Message>%s</Message><RequestId>fault</RequestId></Error>'
            % (code, message)).encode()


class Rule:
    """A fault: requests matching method and a substring of the path+query, from the
    `after`-th match on, every `every`-th one, at most `count` times."""

    def __init__(self, d):
        self.method = d.get('method')
        self.match = d.get('match', '')
        # status | drop | truncate | respond | delay | hang | lose | norange
        self.action = d['action']
        self.status = int(d.get('status', 500))
        self.code = d.get('code', 'InternalError')
        self.headers = d.get('headers', {})
        self.body = d.get('body', '').encode()
        self.keep = int(d.get('keep', 0))  # truncate: body bytes let through
        # delay: a slow store, then forward; hang: a store that says nothing this long,
        # then closes the connection (the request never reaches upstream)
        self.seconds = float(d.get('seconds', 0))
        self.count = int(d.get('count', 1))
        self.every = max(1, int(d.get('every', 1)))
        self.after = int(d.get('after', 0))
        self.seen = 0
        self.fired = 0

    def wants(self, method, path):
        if self.fired >= self.count:
            return False
        if self.method and self.method != method:
            return False
        if self.match not in path:
            return False
        self.seen += 1
        if self.seen <= self.after or (self.seen - self.after - 1) % self.every:
            return False
        self.fired += 1
        return True


class Proxy:
    """Forwards to upstream unchanged (the Host header too, which the signature covers)
    unless a rule fires. /__faults takes rules (POST, JSON list), shows what was seen
    (GET) and forgets both (DELETE)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.rules = []
        self.log = []
        self.whole = {}  # path: the full answer a truncate rule cut short
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def handle_one(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else b''
                if self.path.startswith('/__faults'):
                    return proxy.control(self, body)
                with proxy.lock:
                    rule = next((r for r in proxy.rules if r.wants(self.command, self.path)),
                                None)
                    proxy.log.append({'method': self.command, 'path': self.path,
                                      'range': self.headers.get('Range'),
                                      'length': len(body),
                                      'fault': rule.action if rule else None})
                if rule and rule.action == 'hang':
                    time.sleep(rule.seconds)
                if rule and rule.action in ('drop', 'hang'):
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # the client gave up first
                    return
                if rule and rule.action in ('status', 'respond'):
                    data = rule.body if rule.action == 'respond' else error_body(
                        rule.code, 'injected by the test proxy')
                    self.send_response(rule.status)
                    for k, v in rule.headers.items():
                        self.send_header(k, v)
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    if self.command != 'HEAD':
                        self.wfile.write(data)
                    return
                if rule and rule.action == 'delay':
                    time.sleep(rule.seconds)
                if rule and rule.action == 'norange' and self.path in proxy.whole:
                    # A store that ignores Range: the whole object again, as the answer
                    # a truncate rule cut short had it (the request's signature covers
                    # its Range header, so it cannot be sent on without).
                    status, reason, headers, data = proxy.whole[self.path]
                else:
                    status, reason, headers, data = proxy.forward(self, body)
                if rule and rule.action == 'lose':
                    # Done upstream, but the answer is lost on the way back.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status, reason)
                for k, v in headers:
                    if k.lower() not in ('connection', 'transfer-encoding', 'content-length',
                                         'server', 'date'):
                        self.send_header(k, v)
                length = len(data)
                if self.command == 'HEAD':
                    length = dict((k.lower(), v) for k, v in headers).get('content-length', 0)
                self.send_header('Content-Length', str(length))
                self.end_headers()
                if self.command == 'HEAD':
                    return
                if rule and rule.action == 'truncate':
                    proxy.whole[self.path] = (status, reason, headers, data)
                    self.wfile.write(data[:rule.keep])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_one

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def forward(self, h, body):
        conn = http.client.HTTPConnection('127.0.0.1', self.upstream_port, timeout=120)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.headers.items():
                if k.lower() not in ('expect', 'connection', 'content-length'):
                    conn.putheader(k, v)
            if h.command in ('PUT', 'POST') or body:
                conn.putheader('Content-Length', str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.reason, r.getheaders(), data
        finally:
            conn.close()

    def control(self, h, body):
        with self.lock:
            if h.command == 'POST':
                self.rules += [Rule(d) for d in json.loads(body)]
                out = b'{}'
            elif h.command == 'DELETE':
                self.rules, self.log = [], []
                out = b'{}'
            else:
                out = json.dumps({'log': self.log,
                                  'pending': sum(r.count - r.fired for r in self.rules)}).encode()
        h.send_response(200)
        h.send_header('Content-Type', 'application/json')
        h.send_header('Content-Length', str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    # In-process control, for Python tests.
    def add(self, *rules):
        with self.lock:
            self.rules += [Rule(d) for d in rules]

    def clear(self):
        with self.lock:
            self.rules, self.log = [], []

    def seen(self):
        with self.lock:
            return list(self.log)

    def pending(self):
        with self.lock:
            return sum(r.count - r.fired for r in self.rules)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class S3Env:
    def __init__(self, log_path=None):
        self.moto = Moto(log_path)
        try:
            self.proxy = Proxy(self.moto.port)
        except Exception:
            self.moto.stop()
            raise

    def info(self):
        return {'endpoint': self.moto.endpoint, 'proxy': self.proxy.endpoint,
                'access_key_id': self.moto.key_id, 'secret_access_key': self.moto.secret,
                'region': REGION, 'buckets': list(BUCKETS)}

    def env(self, user='cairn'):
        """Variables that give a process a user's credentials."""
        key_id, secret = self.moto.keys[user]
        return {'AWS_ACCESS_KEY_ID': key_id, 'AWS_SECRET_ACCESS_KEY': secret,
                'AWS_REGION': REGION}

    def stop(self):
        self.proxy.stop()
        self.moto.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    if len(sys.argv) != 4 or sys.argv[1:3] != ['serve', '--info']:
        sys.exit('usage: s3env.py serve --info FILE')
    if not moto_available():
        print('moto_server or boto3 is not installed (pip install "moto[server]")',
              file=sys.stderr)
        sys.exit(77)
    env = S3Env()
    tmp = sys.argv[3] + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(env.info(), f)
    os.rename(tmp, sys.argv[3])
    try:
        sys.stdin.read()  # until the parent goes away
    finally:
        env.stop()


if __name__ == '__main__':
    main()
