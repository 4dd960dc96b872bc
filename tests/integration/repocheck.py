"""Checks a file:// repository with standard tools only, as docs/repository-format.md says."""

import hashlib
import os
import subprocess


def blob_path(repo, blob_id):
    return os.path.join(repo, 'blobs', blob_id[:2], blob_id)


def blobs(repo):
    root = os.path.join(repo, 'blobs')
    out = set()
    if not os.path.isdir(root):
        return out
    for d in os.listdir(root):
        if d.startswith('.'):  # a one-pass writer's temporary, not yet named
            continue
        for name in os.listdir(os.path.join(root, d)):
            if not name.startswith('.'):  # a writer's temporary, never an object
                out.add(name)
    return out


def stray_temporaries(repo):
    """Files a crashed or failed write may leave: none may ever be visible as objects."""
    found = []
    for root, _, files in os.walk(repo):
        found += [os.path.join(root, f) for f in files if f.startswith('.')]
    return found


def verify_blob(repo, blob_id):
    """zstd -d < blob | sha256sum gives the blob's own name."""
    with open(blob_path(repo, blob_id), 'rb') as f:
        out = subprocess.run(['zstd', '-dc'], stdin=f, capture_output=True, check=True).stdout
    return hashlib.sha256(out).hexdigest() == blob_id, len(out)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def cluster_manifests(repo, cluster):
    root = os.path.join(repo, 'backups', cluster)
    if not os.path.isdir(root):
        return []
    return sorted(t for t in os.listdir(root)
                  if os.path.exists(os.path.join(root, t, 'backup.manifest')))


def decode_manifest(source, path, message):
    """zstd -dc X.manifest | protoc --decode=cairn.repo.MESSAGE repo.proto"""
    with open(path, 'rb') as f:
        raw = subprocess.run(['zstd', '-dc'], stdin=f, capture_output=True, check=True).stdout
    p = subprocess.run(['protoc', '--decode=cairn.repo.' + message, '-I',
                        os.path.join(source, 'proto'), 'repo.proto'], input=raw,
                       capture_output=True, check=True)
    return p.stdout.decode()
