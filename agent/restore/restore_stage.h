/*
 * restore_stage - the first phase of a restore on one node: download and verify every
 * file of a table's share into its staging directory (restore_state.h), changing
 * nothing on ScyllaDB.
 *
 * A staged file is named by its blob id: it is downloaded under ".cairn-<id>",
 * checked (the blob's SHA-256 while it streams, its size, and a Data.db's CRC-32
 * against the Digest.crc32 recorded at backup time), fsync'd, then renamed to <id> and
 * the directory fsync'd. A file under its final name has therefore been verified, and
 * a second attempt keeps it; leftover temporaries are removed. Files download in
 * parallel (restore_parallel of agent.yaml), each into its own temporary; a kill in the
 * middle leaves temporaries the next attempt removes, and nothing is loaded before
 * every file of the share is staged (restore.c).
 */
#ifndef CAIRN_RESTORE_STAGE_H
#define CAIRN_RESTORE_STAGE_H

#include "agent.pb-c.h"
#include "base/err.h"
#include "job/jobs.h"
#include "repo/repo.h"

/* Stages t's files under stage_dir, up to `parallel` blobs (or runs of pack members)
 * at once; an error names the blob, the file and the table. */
int restore_stage_table(job *j, repo *r, const Cairn__Rpc__RestoreTable *t, const char *stage_dir,
                        unsigned parallel, cairn_err *e);

#endif
