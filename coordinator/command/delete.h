/*
 * delete - removing one backup from the repository: its cluster manifest first, so
 * the backup disappears at once and whole, then everything else under its tag (the
 * node manifests). Blobs stay; `cairn purge` removes those no backup references.
 */
#ifndef CAIRN_DELETE_H
#define CAIRN_DELETE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "repo/repo.h"

typedef struct delete_result {
    bool complete;  /* a cluster manifest was removed (else: leftovers of a failed run) */
    size_t objects; /* node manifests and other objects under the tag removed */
} delete_result;

/* Deletes backup tag of cluster. CAIRN_EBUSY while a restore lease names it,
 * CAIRN_ENOENT when the repository holds nothing under the tag. */
int delete_backup(repo *r, const char *cluster, const char *tag, delete_result *res, cairn_err *e);

#endif
