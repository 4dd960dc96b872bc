"""Checks a file:// repository with standard tools only, as docs/repository-format.md says."""

import hashlib
import os
import re
import subprocess


def blob_path(repo, blob_id):
    return os.path.join(repo, 'blobs', blob_id[:2], blob_id)


def pack_path(repo, pack_id):
    return os.path.join(repo, 'packs', pack_id[:2], pack_id)


def objects(repo, kind):
    """The ids of the objects under kind/ ('blobs' or 'packs')."""
    root = os.path.join(repo, kind)
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


def blobs(repo):
    return objects(repo, 'blobs')


def packs(repo):
    return objects(repo, 'packs')


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


def verify_member(repo, pack_id, offset, length, blob_id):
    """dd the member's bytes out of its pack: zstd -d | sha256sum gives the blob's name."""
    with open(pack_path(repo, pack_id), 'rb') as f:
        f.seek(offset)
        frame = f.read(length)
    p = subprocess.run(['zstd', '-dc'], input=frame, capture_output=True)
    if len(frame) != length or p.returncode != 0:
        return False, 0
    return hashlib.sha256(p.stdout).hexdigest() == blob_id, len(p.stdout)


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


# A FileEntry in protoc's text format has no nested message: its fields end at its '}'.
FILE_ENTRY = re.compile(r'files \{(.*?)\}', re.S)


def field(entry, name):
    m = re.search(r'^\s*%s: "?([^"\n]*)"?$' % name, entry, re.M)
    return m.group(1) if m else None


def packed_files(source, repo):
    """{(blob, pack, offset, length)} of every file entry with a pack in the node manifests
    of the complete backups of every cluster."""
    root = os.path.join(repo, 'backups')
    out = set()
    if not os.path.isdir(root):
        return out
    for cluster in os.listdir(root):
        for tag in cluster_manifests(repo, cluster):
            nodes = os.path.join(root, cluster, tag, 'nodes')
            for name in os.listdir(nodes):
                if name.startswith('.') or not name.endswith('.manifest'):
                    continue
                text = decode_manifest(source, os.path.join(nodes, name), 'NodeManifest')
                for entry in FILE_ENTRY.findall(text):
                    pack = field(entry, 'pack')
                    if pack:
                        out.add((field(entry, 'blob'), pack, int(field(entry, 'pack_offset')),
                                 int(field(entry, 'pack_length'))))
    return out


def verify_packs(source, repo):
    """Every pack is named by the SHA-256 of its bytes, and every packed file's member
    decompresses to its blob. Returns the problems found, empty when all is well."""
    problems = []
    for p in packs(repo):
        if sha256_file(pack_path(repo, p)) != p:
            problems.append('pack %s: its bytes do not hash to its name' % p)
    for blob, pack, offset, length in sorted(packed_files(source, repo)):
        if not os.path.exists(pack_path(repo, pack)):
            problems.append('pack %s, which holds blob %s, is missing' % (pack, blob))
        elif not verify_member(repo, pack, offset, length, blob)[0]:
            problems.append('blob %s at %d+%d of pack %s does not decompress to its name'
                            % (blob, offset, length, pack))
    return problems


def contents(source, repo):
    """The blob ids whose bytes the repository holds: blobs of their own, and the pack
    members the complete backups name."""
    return blobs(repo) | {b for b, _, _, _ in packed_files(source, repo)}


def verify_content(source, repo, blob_id):
    """(ok, size) of blob_id's bytes, checked wherever they are stored."""
    if os.path.exists(blob_path(repo, blob_id)):
        return verify_blob(repo, blob_id)
    for blob, pack, offset, length in packed_files(source, repo):
        if blob == blob_id:
            return verify_member(repo, pack, offset, length, blob_id)
    return False, 0


def stored_place(repo, entry):
    """(path, offset, length) of a `cairn show --files` entry's stored bytes: its pack's
    member, or its blob whole."""
    if entry.get('pack'):
        return pack_path(repo, entry['pack']), entry['pack_offset'], entry['pack_length']
    path = blob_path(repo, entry['blob'])
    return path, 0, os.path.getsize(path)
