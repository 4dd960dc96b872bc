/*
 * schema - dumps the cluster's schema once, over CQL, into a blob.
 *
 * The blob is a CQL script that cqlsh can run as it is. Every object is preceded by
 * a "-- cairn-object:" line naming its type, keyspace and name, so a restore can pick
 * objects and order them without parsing CQL.
 */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "repo/blob.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "repos/repos.h"

#define CQL_TIMEOUT_MS 60000

typedef struct dump {
    FILE *out;
    uint32_t objects;
} dump;

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
    return 0;
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
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    res->size = size;
    res->objects = d.objects;
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_SCHEMA;
    resp->schema = res;
    return 0;
}
