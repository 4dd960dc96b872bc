/*
 * manifest - node and cluster manifests: protobuf messages in one zstd frame.
 *
 * A node manifest is written and read as a stream, one TableEntry at a time, so a
 * node with hundreds of thousands of SSTables never has its whole manifest in
 * memory; the stored bytes are still one ordinary NodeManifest message, which
 * `zstd -dc | protoc --decode=cairn.repo.NodeManifest` reads.
 */
#ifndef CAIRN_MANIFEST_H
#define CAIRN_MANIFEST_H

#include <stdint.h>

#include "base/err.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

/* 2: FileEntry may name a pack. Format-1 manifests are read as ever. */
#define MANIFEST_FORMAT_VERSION 2
/* Largest single record (the header, or one table) accepted when reading. */
#define MANIFEST_MAX_RECORD (64u << 20)

typedef struct manifest_writer manifest_writer;

/* header carries the node fields; its tables must be empty. format_version is set
 * by the writer. Nothing is visible at key until finish. */
int manifest_node_begin(repo *r, const char *key, const Cairn__Repo__NodeManifest *header,
                        manifest_writer **out, cairn_err *e);
/* manifest_node_begin that also passes every stored byte to tee (a local copy). The
 * copy never fails the manifest: a tee that returns an error is called no more, and
 * keeping track of that is its owner's business. */
int manifest_node_begin_tee(repo *r, const char *key, const Cairn__Repo__NodeManifest *header,
                            store_sink tee, void *tee_ctx, manifest_writer **out, cairn_err *e);
int manifest_node_add_table(manifest_writer *w, const Cairn__Repo__TableEntry *t, cairn_err *e);
/* Commits; sha256_hex receives the SHA-256 of the stored (compressed) object and size
 * (when not NULL) its length, for the cluster manifest and the coordinator's check.
 * Frees w, also on failure. */
int manifest_node_finish(manifest_writer *w, char sha256_hex[65], uint64_t *size, cairn_err *e);
void manifest_node_abort(manifest_writer *w);

typedef int (*manifest_table_cb)(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e);

/* Streams the manifest at key: each table goes to cb (valid during the call only),
 * the other fields end up in *header_out (free with
 * cairn__repo__node_manifest__free_unpacked). With expected_sha256, a stored object
 * of another hash is CAIRN_ECORRUPT; that is known only at the end, so cb must be
 * ready to discard what it saw when the call fails. */
int manifest_node_read(repo *r, const char *key, const char *expected_sha256_or_null,
                       Cairn__Repo__NodeManifest **header_out, manifest_table_cb cb, void *ctx,
                       cairn_err *e);

/* manifest_node_read of a local copy of the object at key: with fd >= 0, the bytes come
 * from fd (named path in messages) and must have the stored SHA-256 expected_sha256,
 * which makes them the object's; fd < 0 reads key from r. */
int manifest_node_read_copy(repo *r, const char *key, int fd, const char *path,
                            const char *expected_sha256_or_null,
                            Cairn__Repo__NodeManifest **header_out, manifest_table_cb cb, void *ctx,
                            cairn_err *e);

/* The place of a file entry's bytes; the strings point into f. A pack without its
 * offset and length, or with invalid ids, is CAIRN_ECORRUPT naming the file. */
int manifest_file_ref(const Cairn__Repo__FileEntry *f, repo_ref *out, cairn_err *e);

/* format_version is set by the writer. */
int manifest_cluster_write(repo *r, const char *key, const Cairn__Repo__ClusterManifest *m,
                           cairn_err *e);
/* *out freed with cairn__repo__cluster_manifest__free_unpacked. */
int manifest_cluster_read(repo *r, const char *key, Cairn__Repo__ClusterManifest **out,
                          cairn_err *e);

#endif
