/*
 * restore_schema - the schema steps of `cairn restore --schema`, each one ApplySchema
 * call to one agent: the check before anything changes (what would be created, what
 * conflicts), the tables before the data is loaded, and the views and indexes after it,
 * so that ScyllaDB builds them from the loaded base tables (it refuses their SSTables).
 */
#ifndef CAIRN_RESTORE_SCHEMA_H
#define CAIRN_RESTORE_SCHEMA_H

#include <json-c/json.h>
#include <stdbool.h>

#include "agent.pb-c.h"
#include "base/err.h"
#include "fleet/fleet.h"

typedef struct restore_schema {
    fleet *f;
    size_t agent; /* the agent that applies it */
    const char *repository;
    const char *blob;       /* the backup's schema dump */
    char *const *keyspaces; /* the restored keyspaces; none: every one of the dump */
    size_t n_keyspaces;
    bool json;       /* --json: no progress lines on stderr */
    const char *tag; /* the backup, for messages */
    bool schema;     /* --schema: the keyspaces' objects */
    bool auth;       /* --auth: roles, service levels and grants (with the tables) */
} restore_schema;

typedef Cairn__Rpc__ApplySchemaRequest__Objects restore_schema_objects;
#define RESTORE_SCHEMA_ALL    CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__ALL
#define RESTORE_SCHEMA_TABLES CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__TABLES
#define RESTORE_SCHEMA_VIEWS  CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__VIEWS

/*
 * Applies (with check_only, judges) the objects of the dump. Conflicts are an error
 * and change nothing. *out_or_null receives the agent's answer (free it with
 * cairn__rpc__apply_schema_result__free_unpacked).
 */
int restore_schema_apply(const restore_schema *s, restore_schema_objects objects, bool check_only,
                         Cairn__Rpc__ApplySchemaResult **out_or_null, cairn_err *e);

/* The views' builds of an answer to VIEWS: lines on stderr, or "views" in j. */
void restore_schema_report_builds(const Cairn__Rpc__ApplySchemaResult *res, json_object *j_or_null);

#endif
