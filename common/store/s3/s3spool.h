/*
 * s3spool - a local, nameless file that holds an S3 object being written before
 * its name is known.
 *
 * An object named after its own content is named only when its last byte is in,
 * and S3 wants the name (and the length) before the first byte goes out. Within one
 * part the bytes wait in memory; beyond that they wait here, in an unlinked file of
 * the process's spool directory (no leftover after a crash), with the SHA-256 that
 * signs the PUT computed on the way in, so the object still goes out as one PUT and
 * its source is still read once. Private to the s3 driver.
 */
#ifndef CAIRN_S3SPOOL_H
#define CAIRN_S3SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct s3spool s3spool;

/* Opens an empty spool file in dir, which must exist. */
int s3spool_open(s3spool **out, const char *dir, cairn_err *e);
/* Appends len bytes. A full disk is CAIRN_EIO naming the directory and the way out. */
int s3spool_write(s3spool *s, const void *buf, size_t len, cairn_err *e);
/* The bytes written so far. */
uint64_t s3spool_size(const s3spool *s);
/* Ends writing: the lowercase hex SHA-256 of every byte written, into sha. */
void s3spool_seal(s3spool *s, char sha[65]);
/* The file to read the bytes back from (with pread); valid until s3spool_free. */
int s3spool_fd(const s3spool *s);
/* Closes and forgets the file; its pages are dropped from the page cache. */
void s3spool_free(s3spool *s);

#endif
