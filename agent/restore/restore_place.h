/*
 * restore_place - the second phase of a restore on one node, for one table: put the
 * staged files into the table's upload/ directory under the names ScyllaDB will load.
 *
 * Order, so that a crash at any point loads nothing twice and leaves nothing behind:
 * the names are written to the pending record (fsync'd) before the first file is
 * placed; each file is hard-linked from the staging directory (or, on another file
 * system, copied to ".cairn-<name>", fsync'd and renamed); upload/ is fsync'd; then the
 * record is marked "placed" (fsync'd) and only then is the load asked for. A record
 * without the mark means no load was asked: its files are removed and placed again. A
 * marked record whose files are all gone from upload/ was loaded; one with files left
 * is loaded again, which takes exactly the files ScyllaDB did not take yet.
 */
#ifndef CAIRN_RESTORE_PLACE_H
#define CAIRN_RESTORE_PLACE_H

#include <stdbool.h>

#include "agent.pb-c.h"
#include "base/err.h"

typedef enum {
    PENDING_NONE,   /* nothing of an earlier attempt (any leftovers were removed) */
    PENDING_LOADED, /* an earlier attempt's load went through */
    PENDING_PLACED, /* placed by an earlier attempt, the load is still to be asked */
} pending_state;

/* Places t's staged files (named by blob id in stage_dir) into upload_dir, recording
 * them in pending first and marking pending once every file is durable. */
int restore_place_table(const Cairn__Rpc__RestoreTable *t, const char *stage_dir,
                        const char *upload_dir, const char *pending, cairn_err *e);

/* What an earlier attempt left for this table (see above). */
pending_state restore_pending_recover(const char *pending, const char *upload_dir);

/* Whether the pending record exists and is marked placed (a load may have run). */
bool restore_pending_placed(const char *pending);

/* Removes the files pending names from upload_dir (and their temporaries), then the
 * record: after a failed load, nothing of the table stays in upload/. */
void restore_pending_discard(const char *pending, const char *upload_dir);

#endif
