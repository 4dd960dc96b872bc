/*
 * s3put - writes one S3 object from a stream with bounded memory.
 *
 * Bytes gather in a part buffer; an object that fits in one part is a single PUT
 * at commit. A larger one becomes a multipart upload whose parts go out on their
 * own threads while the next part fills. Memory stays bounded however large the
 * objects: at most `buffers` part buffers per object, and all objects of the
 * process together take more than one buffer each only within their s3budget, so
 * several large uploads at once share one budget. A failed upload is aborted, so
 * no part lingers in the bucket. An object named only at commit cannot be a
 * multipart upload: beyond one part it waits in a spool file. Private to the s3
 * driver.
 */
#ifndef CAIRN_S3PUT_H
#define CAIRN_S3PUT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/s3/s3budget.h"
#include "store/s3/s3req.h"

#define S3PUT_MAX_PARTS 10000

typedef struct s3put s3put;

/* The part size for an object of about size_hint bytes (0: unknown): the configured
 * size, or larger when the object would not fit in S3PUT_MAX_PARTS parts. */
size_t s3put_part_size(uint64_t size_hint, size_t configured);

/* Starts writing key (the full key in the bucket), drawing on budget, which must
 * outlive the writer. key NULL: named only by s3put_commit_as, and so limited to
 * one part (a multipart upload is named when it starts); see s3put_begin_unnamed. */
int s3put_begin(s3_client *c, const char *key, size_t part_size, unsigned buffers, s3budget *budget,
                s3put **out, cairn_err *e);
/* s3put_begin without a key, named by s3put_commit_as. Such an object waits for its
 * name in one part buffer, and beyond it (up to spool_max bytes, when spool_dir is
 * set) in a spool file there (s3spool.h): either way it goes out as one PUT. */
int s3put_begin_unnamed(s3_client *c, size_t part_size, s3budget *budget, const char *spool_dir,
                        uint64_t spool_max, s3put **out, cairn_err *e);
int s3put_write(s3put *w, const void *buf, size_t len, cairn_err *e);
/* Makes the object visible; frees w, also on failure. */
int s3put_commit(s3put *w, cairn_err *e);
/* s3put_commit of a writer begun without a key, under prefix followed by key. */
int s3put_commit_as(s3put *w, const char *prefix, const char *key, cairn_err *e);
/* Frees w; nothing becomes visible. */
void s3put_abort(s3put *w);

#endif
