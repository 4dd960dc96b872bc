/*
 * scylla - the agent's client for the local ScyllaDB node's REST API (port 10000).
 *
 * Every route used here is declared in ScyllaDB's api-doc definitions. A handle is
 * safe to share between threads: each call borrows a curl handle from a small pool,
 * so calls run in parallel and each pooled handle keeps its keep-alive connection.
 *
 * Every call has a total time limit. Ordinary calls are bounded by the timeout given
 * to scylla_open(). Flush, snapshot (taking and clearing) and load_sstables block in
 * ScyllaDB until the work is done, which can take long on a large node, so each has
 * its own limit (agent.yaml scylla.flush_timeout, snapshot_timeout, load_timeout;
 * SCYLLA_DEFAULT_*_MS until set). A call past its limit fails with CAIRN_ETIMEDOUT
 * and a message that names the call and the setting.
 */
#ifndef CAIRN_SCYLLA_H
#define CAIRN_SCYLLA_H

#include "base/err.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Responses larger than this are refused, so a confused server cannot exhaust memory. */
#define SCYLLA_MAX_BODY (64u * 1024u * 1024u)

typedef struct scylla scylla;

/* api_url is the base URL, e.g. "http://127.0.0.1:10000"; timeout_ms must be > 0. */
int scylla_open(scylla **out, const char *api_url, long timeout_ms, cairn_err *e);
void scylla_close(scylla *s);

/* The kinds of call, each under its own time limit. */
typedef enum {
    SCYLLA_CALL_QUICK,    /* under scylla_open's timeout */
    SCYLLA_CALL_FLUSH,    /* keyspace_flush */
    SCYLLA_CALL_SNAPSHOT, /* taking or clearing a snapshot */
    SCYLLA_CALL_LOAD,     /* load_sstables (refresh, load and stream) */
    SCYLLA_CALL_KINDS
} scylla_call_kind;

#define SCYLLA_DEFAULT_FLUSH_MS    (3600L * 1000)
#define SCYLLA_DEFAULT_SNAPSHOT_MS (3600L * 1000)
#define SCYLLA_DEFAULT_LOAD_MS     (86400L * 1000)

/* Sets the limits of the calls that wait for ScyllaDB to finish work; a value <= 0
 * keeps that kind's current limit. */
void scylla_set_limits(scylla *s, long flush_ms, long snapshot_ms, long load_ms);

/* The same limit for flush, snapshot and load calls; 0 means no limit. */
void scylla_set_slow_timeout(scylla *s, long timeout_ms);

/*
 * One raw call; method is GET, POST or DELETE. path starts with '/' and includes the
 * query string, whose values the caller escapes with scylla_escape(). On success
 * *out_or_null receives the parsed JSON body, or NULL when the body is empty (a void
 * result).
 */
int scylla_request(scylla *s, const char *method, const char *path, json_object **out_or_null,
                   cairn_err *e);

/* Percent-encodes everything but RFC 3986 unreserved characters; malloc'd, NULL on OOM. */
char *scylla_escape(const char *s);

/* Identity of the local node; strings are malloc'd. */
int scylla_host_id(scylla *s, char **out, cairn_err *e); /* CAIRN_ENOENT while not yet set */
int scylla_datacenter(scylla *s, char **out, cairn_err *e);
int scylla_rack(scylla *s, char **out, cairn_err *e);
int scylla_release_version(scylla *s, char **out, cairn_err *e);
int scylla_cluster_name(scylla *s, char **out, cairn_err *e);
int scylla_data_dirs(scylla *s, char ***items, size_t *n, cairn_err *e);

typedef struct scylla_endpoint {
    char *address;
    char *host_id;
    bool up;
} scylla_endpoint;

/*
 * The token-owning nodes as this node sees them. A node is up only when gossip lists
 * it as live and not as down: one in neither list (or both) counts as down.
 */
int scylla_ring(scylla *s, scylla_endpoint **eps, size_t *n, cairn_err *e);
void scylla_ring_free(scylla_endpoint *eps, size_t n);

/* Tokens of endpoint, or of the local node when endpoint_or_null is NULL. */
int scylla_tokens(scylla *s, const char *endpoint_or_null, char ***items, size_t *n, cairn_err *e);

/* type is "user", "all", "non_local_strategy", or NULL for ScyllaDB's default. */
int scylla_keyspaces(scylla *s, const char *type, char ***items, size_t *n, cairn_err *e);

/* The user keyspaces replicated by replication, "tablets" or "vnodes". A version that
 * predates tablets ignores the filter and names every keyspace. */
int scylla_keyspaces_replicated(scylla *s, const char *replication, char ***items, size_t *n,
                                cairn_err *e);

/* Every table as "keyspace:table". */
int scylla_tables(scylla *s, char ***items, size_t *n, cairn_err *e);

/* Flushes the given tables of keyspace, or all of its tables when ntables is 0. */
int scylla_flush(scylla *s, const char *keyspace, const char *const *tables, size_t ntables,
                 cairn_err *e);

/*
 * Snapshots keyspace (all keyspaces when NULL; tables then must be empty) under tag.
 * ScyllaDB refuses a tag that already exists.
 */
int scylla_snapshot(scylla *s, const char *tag, const char *keyspace, const char *const *tables,
                    size_t ntables, bool skip_flush, cairn_err *e);

/*
 * Deletes snapshot tag from one table (table_or_null, which needs its keyspace), from
 * keyspace, or from every keyspace. A tag is required: without one ScyllaDB would
 * delete every snapshot on the node.
 */
int scylla_snapshot_delete(scylla *s, const char *tag, const char *keyspace_or_null,
                           const char *table_or_null, cairn_err *e);

/*
 * Loads the SSTables in the table's upload/ directory. ScyllaDB runs one load at a
 * time: CAIRN_EBUSY means another one is running, try again later.
 */
int scylla_load_sstables(scylla *s, const char *keyspace, const char *table, bool load_and_stream,
                         bool primary_replica_only, cairn_err *e);

void scylla_strv_free(char **items, size_t n);

/* ScyllaDB's incremental_backups setting: whether every flushed SSTable is hard-linked
 * into its table's backups/ directory. Setting it lasts until ScyllaDB restarts, which
 * reads scylla.yaml again. */
int scylla_incremental_backups_get(scylla *s, bool *out, cairn_err *e);
int scylla_incremental_backups_set(scylla *s, bool enable, cairn_err *e);

/* Tombstone GC of one table on this node (scylla_table.c): a runtime switch that
 * lasts until ScyllaDB restarts. While it is off, compaction keeps every tombstone,
 * so data loaded later cannot outlive a delete that came with other SSTables. */
int scylla_tombstone_gc_get(scylla *s, const char *keyspace, const char *table, bool *on,
                            cairn_err *e);
int scylla_tombstone_gc_set(scylla *s, const char *keyspace, const char *table, bool on,
                            cairn_err *e);

/* How far the build of a materialized view (or an index's view, by its table name
 * "<index>_index") has got: of the *nodes that report a state, *built have finished. */
int scylla_view_build(scylla *s, const char *keyspace, const char *view, size_t *nodes,
                      size_t *built, cairn_err *e);

/* GET /storage_service/snapshots: [{"key": tag, "value": [{"ks", "cf", "total",
 * "live"}...]}...], checked to be an array; *out is freed with json_object_put. */
int scylla_snapshot_details(scylla *s, json_object **out, cairn_err *e);

#endif
