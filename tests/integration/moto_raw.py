#!/usr/bin/env python3
"""moto_server, checking SigV4 signatures against the request target as it was sent.

moto rebuilds the URL from werkzeug's decoded path before it recomputes a signature,
so a correctly signed request whose key or query holds an encoded byte ('%2F' in a
list prefix, '%20' in a key) fails its check, for boto3 as much as for cairn. S3
itself signs what the client sent; this wrapper makes moto do the same, and changes
nothing else. Same command line as moto_server.
"""

import sys

from moto.core.authorization import ActionAuthenticatorMixin

_check = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _check_raw(self, iam_request_cls, resource='*'):
    request = getattr(self, 'request', None)
    raw = getattr(request, 'environ', {}).get('RAW_URI') if request is not None else None
    if not raw:
        return _check(self, iam_request_cls, resource)
    saved = self.uri
    self.uri = 'http://localhost' + raw  # only the path and query are used
    try:
        return _check(self, iam_request_cls, resource)
    finally:
        self.uri = saved


ActionAuthenticatorMixin._authenticate_and_authorize_action = _check_raw

if __name__ == '__main__':
    from moto.server import main
    main(sys.argv[1:])
