"""Token ring: vnode tokens per node and the replicas of a token.

Tokens are Murmur3-style signed 64-bit integers drawn from a generator seeded with the
host id, so a node keeps its tokens across restarts and two clusters built from the
same host ids have the same ring (what "restore onto the same nodes" relies on).
Replica placement follows SimpleStrategy and NetworkTopologyStrategy closely enough
for describe_ring and load-and-stream; LocalStrategy keyspaces live on every node.
"""

import bisect
import random
import uuid

MIN_TOKEN = -(2 ** 63)
MAX_TOKEN = 2 ** 63 - 1


def tokens_for(host_id, count):
    rng = random.Random(uuid.UUID(str(host_id)).bytes)
    tokens = set()
    while len(tokens) < count:
        tokens.add(rng.randint(MIN_TOKEN + 1, MAX_TOKEN))
    return sorted(tokens)


def short_class(cls):
    return cls.rsplit('.', 1)[-1]


class Ring:
    def __init__(self, nodes):
        """nodes: dicts with address, dc, rack and tokens (strings or ints)."""
        self.nodes = nodes
        entries = []
        for n in nodes:
            for t in n.get('tokens') or []:
                entries.append((int(t), n['address']))
        entries.sort()
        self.tokens = [t for t, _ in entries]
        self.owners = [a for _, a in entries]
        self.by_address = {n['address']: n for n in nodes}

    def _walk(self, token):
        """Addresses of token owners clockwise, starting at the first token >= token."""
        if not self.tokens:
            return
        start = bisect.bisect_left(self.tokens, token) % len(self.tokens)
        for k in range(len(self.tokens)):
            yield self.owners[(start + k) % len(self.tokens)]

    def replicas(self, token, replication, local_address=None, candidates=None):
        """Replica addresses of `token`, primary first.

        candidates: restrict placement to these addresses (load-and-stream's scope).
        """
        cls = short_class(replication.get('class', 'SimpleStrategy'))
        if cls == 'LocalStrategy':
            return [local_address] if local_address else []
        walk = [a for a in self._walk(token) if candidates is None or a in candidates]
        distinct = []
        for a in walk:
            if a not in distinct:
                distinct.append(a)
        if cls == 'EverywhereStrategy':
            return distinct
        if cls == 'NetworkTopologyStrategy':
            wanted = {dc: int(rf) for dc, rf in replication.items()
                      if dc not in ('class', 'replication_factor') and str(rf).isdigit()}
            if not wanted and 'replication_factor' in replication:
                rf = int(replication['replication_factor'])
                wanted = {n['dc']: rf for n in self.nodes}
            out = []
            for dc, rf in wanted.items():
                in_dc = [a for a in distinct if self.by_address[a]['dc'] == dc]
                # Prefer one replica per rack, then fill, as NetworkTopologyStrategy does.
                chosen, racks = [], set()
                for a in in_dc:
                    rack = self.by_address[a]['rack']
                    if rack not in racks and len(chosen) < rf:
                        chosen.append(a)
                        racks.add(rack)
                for a in in_dc:
                    if len(chosen) >= rf:
                        break
                    if a not in chosen:
                        chosen.append(a)
                out.extend(chosen)
            # Primary first: order by position on the ring walk.
            order = {a: i for i, a in enumerate(distinct)}
            return sorted(out, key=lambda a: order[a])
        rf = int(replication.get('replication_factor', 1))
        return distinct[:rf]

    def describe(self, replication, local_address):
        """describe_ring's token_range list: one range (previous token, token] per token."""
        out = []
        n = len(self.tokens)
        for i, tok in enumerate(self.tokens):
            prev = self.tokens[i - 1] if n > 1 else tok
            reps = self.replicas(tok, replication, local_address)
            out.append({
                'start_token': str(prev),
                'end_token': str(tok),
                'endpoints': reps,
                'rpc_endpoints': reps,
                'endpoint_details': [{'host': a, 'datacenter': self.by_address[a]['dc'],
                                      'rack': self.by_address[a]['rack']} for a in reps],
            })
        return out
