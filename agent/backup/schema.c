/*
 * schema - dumps the cluster's schema once, over CQL, into a blob.
 *
 * The blob is a CQL script that cqlsh can run as it is. Every object is preceded by
 * a "-- cairn-object:" line naming its type, keyspace and name, so a restore can pick
 * objects and order them without parsing CQL.
 *
 * The answer also lists the views and indexes (system_schema.views, which holds the
 * view behind each secondary index too), so the backup leaves their tables out:
 * ScyllaDB builds them from their base tables and refuses their SSTables in a load.
 */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backup/schema_keyspaces.h"
#include "base/log.h"
#include "repo/blob.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "repos/repos.h"
#include "scylla/names.h"

#define CQL_TIMEOUT_MS 60000
#define VIEWS_MAX      65536u

typedef struct dump {
    FILE *out;
    uint32_t objects;
    /* "<keyspace>.<index>_index" of every index, to tell its view from a view */
    char **index_views;
    size_t n_index_views;
    Cairn__Repo__ViewEntry **views;
    size_t n_views;
} dump;

static bool user_keyspace(const char *ks)
{
    return ks && *ks && strncmp(ks, "system", 6) != 0;
}

static int note_index(dump *d, const char *keyspace, const char *name, cairn_err *e)
{
    if (d->n_index_views >= VIEWS_MAX)
        return err_set(e, CAIRN_EINVAL, "more than %u indexes in the schema", VIEWS_MAX);
    char **nv = realloc(d->index_views, (d->n_index_views + 1) * sizeof(*nv));
    if (!nv)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    d->index_views = nv;
    if (asprintf(&nv[d->n_index_views], "%s.%s_index", keyspace, name) < 0)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    d->n_index_views++;
    return 0;
}

/* The index whose view is ks.view, as a malloc'd name; NULL when it is a plain view. */
static char *index_of(const dump *d, const char *ks, const char *view)
{
    size_t kl = strlen(ks), vl = strlen(view);
    for (size_t i = 0; i < d->n_index_views; i++) {
        const char *iv = d->index_views[i];
        if (strncmp(iv, ks, kl) == 0 && iv[kl] == '.' && strcmp(iv + kl + 1, view) == 0)
            return strndup(view, vl - strlen("_index"));
    }
    return NULL;
}

static int dump_object(void *ctx, const char *keyspace, const char *type, const char *name,
                       const char *stmt, cairn_err *e)
{
    dump *d = ctx;
    size_t len = strlen(stmt);
    while (len && (stmt[len - 1] == '\n' || stmt[len - 1] == ' '))
        len--;
    bool has_semicolon = len && stmt[len - 1] == ';';
    if (fprintf(d->out, "-- cairn-object: %s %s %s\n%.*s%s\n\n", type,
                keyspace && *keyspace ? keyspace : "-", name ? name : "-", (int)len, stmt,
                has_semicolon ? "" : ";") < 0)
        return err_set(e, CAIRN_EIO, "cannot write the schema dump");
    d->objects++;
    if (strcmp(type, "index") == 0 && user_keyspace(keyspace) && name && *name)
        return note_index(d, keyspace, name, e);
    return 0;
}

static char *value_dup(const cql_value *v)
{
    return v->len < 0 ? NULL : strndup((const char *)v->data, (size_t)v->len);
}

/* A row of system_schema.views: keyspace_name, view_name, base_table_name. */
static int view_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    dump *d = ctx;
    if (ncols != 3)
        return err_set(e, CAIRN_EPROTO, "system_schema.views answered %zu columns, not 3", ncols);
    char *ks = value_dup(&cols[0]), *name = value_dup(&cols[1]), *base = value_dup(&cols[2]);
    int rc = 0;
    /* ScyllaDB's own, a row without a name, or a name no table of a backup can have
     * (Alternator's index views): not a table the backup could leave out. */
    if (!ks || !name || !base || !user_keyspace(ks) || !name_valid(NAME_KEYSPACE, ks) ||
        !name_valid(NAME_TABLE, name) || !name_valid(NAME_TABLE, base)) {
        free(ks);
        free(name);
        free(base);
        return 0;
    }
    Cairn__Repo__ViewEntry *v = NULL, **nv = NULL;
    if (d->n_views >= VIEWS_MAX)
        rc = err_set(e, CAIRN_EINVAL, "more than %u views in the schema", VIEWS_MAX);
    else if (!(nv = realloc(d->views, (d->n_views + 1) * sizeof(*nv))) || !(v = malloc(sizeof(*v))))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    if (nv)
        d->views = nv;
    if (rc) {
        free(ks);
        free(name);
        free(base);
        return rc;
    }
    cairn__repo__view_entry__init(v);
    v->keyspace = ks;
    v->name = name;
    v->base_table = base;
    v->index = index_of(d, ks, name);
    d->views[d->n_views++] = v;
    return 0;
}

static void dump_free(dump *d)
{
    for (size_t i = 0; i < d->n_index_views; i++)
        free(d->index_views[i]);
    free(d->index_views);
    for (size_t i = 0; i < d->n_views; i++)
        cairn__repo__view_entry__free_unpacked(d->views[i], NULL);
    free(d->views);
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
    fprintf(d.out, "-- cairn schema dump (DESCRIBE SCHEMA WITH INTERNALS)\n\n");
    rc = cql_connect(&c, host, port, a->cfg->scylla_username, a->cfg->scylla_password,
                     &a->cfg->scylla_cql_tls, CQL_TIMEOUT_MS, e);
    if (!rc)
        rc = cql_describe_schema(c, dump_object, &d, e);
    if (!rc)
        rc = cql_query(c,
                       "SELECT keyspace_name, view_name, base_table_name FROM system_schema.views",
                       view_row, &d, e);
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
        dump_free(&d);
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
        dump_free(&d);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    res->size = size;
    res->objects = d.objects;
    res->views = d.views; /* handed over */
    res->n_views = d.n_views;
    d.views = NULL;
    d.n_views = 0;
    dump_free(&d);
    /* Without it the backup records nothing about tablets, as older versions did: a
     * restore then treats every keyspace alike. */
    cairn_err ke;
    if (schema_keyspaces(a->rest, &res->keyspaces, &res->n_keyspaces, &ke) != 0)
        log_warn("%s; the backup will not record which keyspaces use tablets", ke.msg);
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_SCHEMA;
    resp->schema = res;
    return 0;
}
