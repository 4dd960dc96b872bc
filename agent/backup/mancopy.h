/*
 * mancopy - the agent's copy of the node manifest it last wrote to each repository.
 *
 * The next backup reads its parent's node manifest as the index of the blobs the
 * repository holds (known.h). When that parent is the backup this agent wrote last,
 * the copy in <state_dir>/manifest-<repository id> spares the GET: it is used only
 * when its bytes hash to the SHA-256 the coordinator names for the parent (taken from
 * the parent's cluster manifest), which makes it that object byte for byte; any other
 * copy is ignored and the repository read. A copy is built while the manifest is
 * written, as an unnamed file, and named only once the manifest is committed, so a
 * crash leaves the copy before, never a part of one.
 */
#ifndef CAIRN_MANCOPY_H
#define CAIRN_MANCOPY_H

#include <stddef.h>

#include "base/err.h"

typedef struct mancopy mancopy;

/* Starts a copy for the repository with id repo_id in state_dir. */
int mancopy_begin(mancopy **out, const char *state_dir, const char *repo_id, cairn_err *e);

/* A store_sink taking the manifest's stored bytes (manifest_node_begin_tee). */
int mancopy_write(void *m, const void *data, size_t len, cairn_err *e);

/* Makes the copy the repository's last, replacing the one before; a copy whose write
 * failed is dropped with the error. Frees m either way. */
int mancopy_commit(mancopy *m, cairn_err *e);

/* Drops the copy (the manifest was not written); NULL is a no-op. */
void mancopy_abort(mancopy *m);

/* Writes the path of repo_id's copy in state_dir to buf. */
int mancopy_path(const char *state_dir, const char *repo_id, char *buf, size_t cap, cairn_err *e);

#endif
