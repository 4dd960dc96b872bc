/*
 * schema - dumps the cluster's schema once, over CQL, into a blob.
 *
 * The blob is a CQL script that cqlsh can run as it is. Its first line names the
 * DESCRIBE that made it (SCHEMA_DUMP_AUTH_LINE: one that holds the roles with their
 * salted hashes, the grants and the service levels). Every object is preceded by a
 * "-- cairn-object: type keyspace name length" line (schema_dump.h), so a restore can
 * pick objects and order them without parsing CQL.
 *
 * The answer also lists the views and indexes (schema_views.h), so that the backup
 * leaves their tables out, and which keyspaces use tablets (schema_keyspaces.h).
 */
#include "handlers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "repo/blob.h"
#include "base/log.h"
#include "backup/schema_dump.h"
#include "backup/schema_keyspaces.h"
#include "backup/schema_views.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "repos/repos.h"

#define CQL_TIMEOUT_MS 60000

typedef struct dump {
    FILE *out;
    uint32_t objects;
    cql_describe_form form; /* set by cql_describe_schema before it passes any object */
    bool head;              /* the first line is written */
    schema_views views;
} dump;

/* The first line names the DESCRIBE that answered: a restore reads from it whether the
 * dump holds auth. */
static int dump_head(dump *d, cairn_err *e)
{
    if (d->head)
        return 0;
    d->head = true;
    const char *line =
        d->form == CQL_DESCRIBE_PASSWORDS ? SCHEMA_DUMP_AUTH_LINE : SCHEMA_DUMP_PLAIN_LINE;
    return fprintf(d->out, "%s\n\n", line) < 0
               ? err_set(e, CAIRN_EIO, "cannot write the schema dump")
               : 0;
}

static int dump_object(void *ctx, const char *keyspace, const char *type, const char *name,
                       const char *stmt, cairn_err *e)
{
    dump *d = ctx;
    if (dump_head(d, e))
        return e->code;
    size_t len = strlen(stmt);
    while (len && (stmt[len - 1] == '\n' || stmt[len - 1] == ' '))
        len--;
    bool has_semicolon = len && stmt[len - 1] == ';';
    char ename[SCHEMA_DUMP_FIELD_MAX], eks[SCHEMA_DUMP_FIELD_MAX];
    if (schema_dump_encode(name && *name ? name : "-", ename, sizeof(ename)) < 0 ||
        schema_dump_encode(keyspace && *keyspace ? keyspace : "-", eks, sizeof(eks)) < 0)
        return err_set(e, CAIRN_EINVAL, "a %s of the schema has a name longer than %d bytes", type,
                       SCHEMA_DUMP_FIELD_MAX / 3);
    if (fprintf(d->out, "%s%s %s %s %zu\n%.*s%s\n\n", SCHEMA_DUMP_OBJECT, type, eks, ename,
                len + !has_semicolon, (int)len, stmt, has_semicolon ? "" : ";") < 0)
        return err_set(e, CAIRN_EIO, "cannot write the schema dump");
    d->objects++;
    return strcmp(type, "index") == 0 ? schema_views_note_index(&d->views, keyspace, name, e) : 0;
}

/* Why the dump holds no auth, said once per agent: it holds for every later backup. */
static void log_form(cql_describe_form form)
{
    static _Atomic int logged = -1;
    if (form == CQL_DESCRIBE_PASSWORDS || atomic_exchange(&logged, (int)form) == (int)form)
        return;
    if (form == CQL_DESCRIBE_OLD_SCYLLA)
        log_info("ScyllaDB does not know DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS (it is "
                 "older than 2025.1): schema dumps hold no roles, grants or service levels");
    else
        log_info("ScyllaDB refused DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS to the agent's "
                 "CQL user (it needs a superuser): schema dumps hold no roles, grants or "
                 "service levels");
}

int agent_schema(agent *a, const Cairn__Rpc__SchemaRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e)
{
    char host[256];
    int port;
    const store_options *opts;
    /* A repository this agent does not serve is refused before the node is asked. */
    int rc = repos_store_for(a->cfg, rq->repository, &opts, e);
    if (!rc)
        rc = hostport_split(a->cfg->scylla_cql, host, sizeof(host), &port, e);
    if (rc)
        return rc;
    /* An anonymous memory file: the dump is hashed and compressed from an fd. */
    int fd = memfd_create("cairn-schema", MFD_CLOEXEC);
    if (fd < 0)
        return err_sys(e, errno, "cannot create a memory file for the schema");
    dump d = {.out = fdopen(dup(fd), "w")};
    cql_conn *c = NULL;
    repo *r = NULL;
    if (!d.out) {
        close(fd);
        return err_sys(e, errno, "cannot write the schema dump");
    }
    rc = cql_connect(&c, host, port, a->cfg->scylla_username, a->cfg->scylla_password,
                     &a->cfg->scylla_cql_tls, CQL_TIMEOUT_MS, e);
    if (!rc)
        rc = cql_describe_schema(c, dump_object, &d, &d.form, e);
    if (!rc)
        rc = dump_head(&d, e); /* a schema without objects */
    if (!rc)
        log_form(d.form);
    if (!rc)
        rc = schema_views_query(&d.views, c, e);
    if (fclose(d.out) != 0 && !rc)
        rc = err_sys(e, errno, "cannot write the schema dump");
    cql_close(c);
    char id[BLOB_ID_HEX + 1];
    uint64_t size = 0;
    if (!rc)
        rc = blob_hash_fd(fd, id, NULL, &size, e);
    if (!rc)
        rc = repos_repo_open(&r, a->cfg, rq->repository, rq->repository_id, e);
    /* The parent's dump is in the repository (agent/backup/known.h says why that
     * holds); another is put without asking first: a PUT of bytes the repository may
     * hold already costs what a HEAD would have. */
    if (!rc && !(rq->parent_blob && strcmp(rq->parent_blob, id) == 0))
        rc = repo_blob_put_fd(r, id, fd, 3, NULL, NULL, e);
    Cairn__Rpc__StoreRequests *cost = r ? repos_requests(r) : NULL;
    repo_close(r);
    close(fd);
    if (rc) {
        free(cost);
        schema_views_free(&d.views);
        return err_prefix(e, "schema dump");
    }
    Cairn__Rpc__SchemaResult *res = malloc(sizeof(*res));
    if (res) {
        cairn__rpc__schema_result__init(res);
        res->blob = strdup(id);
        res->requests = cost;
    }
    if (!res || !res->blob) {
        free(res);
        free(cost);
        schema_views_free(&d.views);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    res->size = size;
    res->objects = d.objects;
    res->has_auth = 1;
    res->auth = d.form == CQL_DESCRIBE_PASSWORDS;
    res->views = d.views.views; /* handed over */
    res->n_views = d.views.n_views;
    d.views.views = NULL;
    d.views.n_views = 0;
    schema_views_free(&d.views);
    /* Without it the backup records nothing about tablets, as older versions did: a
     * restore then treats every keyspace alike. */
    cairn_err ke;
    if (schema_keyspaces(a->rest, &res->keyspaces, &res->n_keyspaces, &ke) != 0)
        log_warn("%s; the backup will not record which keyspaces use tablets", ke.msg);
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_SCHEMA;
    resp->schema = res;
    return 0;
}
