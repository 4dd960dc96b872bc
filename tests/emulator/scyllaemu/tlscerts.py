"""Certificates for CQL over TLS in tests, made with the `openssl` command.

A directory holds one CA (ca.crt, ca.key), a server certificate per node address
(<address>.crt/.key: the address as IP and DNS name) and client certificates
(<name>.crt/.key), as an operator would set up ScyllaDB's client_encryption_options.
Keys are EC P-256 and mode 0600; certificates are valid for two days. Existing files
are kept, so a directory can be filled once and reused.
"""

import os
import subprocess

_REQ = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = cairn test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
"""

_LEAF = """[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = %s
%s"""


def _openssl(*args):
    res = subprocess.run(('openssl',) + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, timeout=60)
    if res.returncode != 0:
        raise RuntimeError('openssl %s failed:\n%s' % (' '.join(args),
                                                       res.stdout.decode(errors='replace')))


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def _new_key_args(key):
    return ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-keyout', key)


def make_ca(directory, name='ca'):
    """DIR/<name>.crt and .key: a CA; returns the certificate's path."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    crt = os.path.join(directory, name + '.crt')
    if not os.path.exists(crt):
        conf = _write(os.path.join(directory, name + '.cnf'), _REQ)
        _openssl('req', '-x509', '-new', *_new_key_args(os.path.join(directory, name + '.key')),
                 '-out', crt, '-days', '2', '-config', conf, '-extensions', 'ca',
                 '-subj', '/CN=cairn test CQL CA %s' % name)
    return crt


def _issue(directory, name, usage, san, ca='ca'):
    crt = os.path.join(directory, name + '.crt')
    if os.path.exists(crt):
        return crt
    key = os.path.join(directory, name + '.key')
    csr = os.path.join(directory, name + '.csr')
    conf = _write(os.path.join(directory, name + '.cnf'),
                  _REQ + _LEAF % (usage, 'subjectAltName = %s\n' % san if san else ''))
    _openssl('req', '-new', *_new_key_args(key), '-out', csr, '-config', conf,
             '-subj', '/CN=%s' % name)
    _openssl('x509', '-req', '-in', csr, '-CA', os.path.join(directory, ca + '.crt'),
             '-CAkey', os.path.join(directory, ca + '.key'), '-set_serial',
             str(int.from_bytes(os.urandom(8), 'big')), '-out', crt, '-days', '2',
             '-extfile', conf, '-extensions', 'leaf')
    os.unlink(csr)
    os.chmod(key, 0o600)
    return crt


def server_cert(directory, address):
    """DIR/<address>.crt and .key: a node's CQL certificate, signed by DIR/ca."""
    make_ca(directory)
    return _issue(directory, address, 'serverAuth', 'IP:%s,DNS:%s' % (address, address))


def client_cert(directory, name='client'):
    """DIR/<name>.crt and .key: a client certificate for require_client_auth."""
    make_ca(directory)
    return _issue(directory, name, 'clientAuth', None)
