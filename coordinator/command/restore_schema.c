#include "command/restore_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* What --auth will not do, said by the check. */
static void auth_warnings(const restore_schema *s, const Cairn__Rpc__ApplySchemaResult *res)
{
    if (!res->auth_in_dump)
        fprintf(stderr,
                "warning: backup %s holds no roles, grants or service levels (ScyllaDB did not "
                "describe them: older than 2025.1, or the agent's CQL user is no superuser); "
                "--auth restores none\n",
                s->tag);
    for (size_t i = 0; i < res->n_auth_skipped; i++)
        fprintf(stderr, "warning: --auth leaves out %s\n", res->auth_skipped[i]);
}

/* What the agent said: conflicts are an error, nothing was changed. */
static int outcome(const restore_schema *s, const Cairn__Rpc__ApplySchemaResult *res,
                   bool check_only, cairn_err *e)
{
    for (size_t i = 0; i < res->n_conflicts; i++)
        fprintf(stderr, "schema conflict: %s exists on the target with another definition\n",
                res->conflicts[i]);
    if (res->n_conflicts)
        return err_set(e, CAIRN_EEXIST,
                       "%zu schema objects exist on the target with another definition; nothing "
                       "was changed (drop them, or restore without %s)",
                       res->n_conflicts,
                       s->schema && s->auth ? "--schema and --auth"
                       : s->auth            ? "--auth"
                                            : "--schema");
    if (s->json)
        return 0;
    if (check_only) {
        if (s->auth)
            auth_warnings(s, res);
        return 0;
    }
    fprintf(stderr, "schema: %zu objects created, %zu already there", res->n_created,
            res->n_existing);
    if (res->has_agreement_ms && res->schema_version)
        fprintf(stderr, "; all %zu nodes agree on schema version %s after %" PRIu64 " ms",
                fleet_size(s->f), res->schema_version, res->agreement_ms);
    fputc('\n', stderr);
    return 0;
}

int restore_schema_apply(const restore_schema *s, restore_schema_objects objects, bool check_only,
                         Cairn__Rpc__ApplySchemaResult **out_or_null, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ApplySchemaRequest ar = CAIRN__RPC__APPLY_SCHEMA_REQUEST__INIT;
    ar.repository = (char *)s->repository;
    ar.blob = (char *)s->blob;
    ar.has_check_only = 1;
    ar.check_only = check_only;
    ar.has_objects = objects != RESTORE_SCHEMA_ALL;
    ar.objects = objects;
    ar.has_auth = s->auth && objects != RESTORE_SCHEMA_VIEWS;
    ar.auth = !ar.has_auth ? CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__NONE
              : s->schema  ? CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__WITH_SCHEMA
                           : CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__ONLY;
    ar.keyspaces = (char **)s->keyspaces;
    ar.n_keyspaces = s->n_keyspaces;
    rq.op_case = CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA;
    rq.apply_schema = &ar;
    Cairn__Rpc__Response *resp = NULL;
    if (fleet_call(s->f, s->agent, &rq, &resp, fleet_timeout_ms(s->f) * 5, e) != 0)
        return err_prefix(e, "schema");
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_APPLY_SCHEMA) {
        cairn__rpc__response__free_unpacked(resp, NULL);
        return err_set(e, CAIRN_EPROTO, "the agent answered the schema request without a result");
    }
    int rc = outcome(s, resp->apply_schema, check_only, e);
    if (!rc && out_or_null) {
        *out_or_null = resp->apply_schema;
        resp->apply_schema = NULL;
        resp->result_case = CAIRN__RPC__RESPONSE__RESULT__NOT_SET;
    }
    cairn__rpc__response__free_unpacked(resp, NULL);
    return rc;
}

void restore_schema_report_builds(const Cairn__Rpc__ApplySchemaResult *res, json_object *j_or_null)
{
    json_object *views = j_or_null ? json_object_new_array() : NULL;
    for (size_t i = 0; i < res->n_view_builds; i++) {
        const Cairn__Rpc__ViewBuild *b = res->view_builds[i];
        if (views) {
            json_object *v = json_object_new_object();
            json_object_object_add(v, "keyspace", json_object_new_string(b->keyspace));
            json_object_object_add(v, "name", json_object_new_string(b->name));
            json_object_object_add(v, "nodes", json_object_new_int64(b->nodes));
            json_object_object_add(v, "built", json_object_new_int64(b->built));
            json_object_array_add(views, v);
        } else if (b->nodes > 0 && b->built == b->nodes) {
            fprintf(stderr, "view %s.%s: built on all %u nodes\n", b->keyspace, b->name, b->nodes);
        } else {
            fprintf(stderr,
                    "view %s.%s: built on %u of %u nodes so far; ScyllaDB goes on building it "
                    "from the restored base table (nodetool viewbuildstatus %s.%s)\n",
                    b->keyspace, b->name, b->built, b->nodes, b->keyspace, b->name);
        }
    }
    if (views)
        json_object_object_add(j_or_null, "views", views);
}
