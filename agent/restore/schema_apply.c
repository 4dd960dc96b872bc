/*
 * schema_apply - plays a schema dump back through CQL.
 *
 * The dump's "-- cairn-object:" lines (schema.c) give each statement's type, keyspace
 * and name. An object the target already has with the same definition is skipped; one
 * it has with another definition is a conflict, and any conflict stops the whole
 * operation before the first change.
 *
 * A restore applies the tables before loading and the views and indexes after (the
 * request's objects), so that ScyllaDB builds them from the loaded data; the answer to
 * the second says how far each build got within VIEW_BUILD_WAIT_MS. A large build goes
 * on long after: ScyllaDB reports it, the restore does not wait for it.
 *
 * A definition may hold several statements (DESCRIBE ... WITH INTERNALS re-drops a
 * table's dropped columns with their timestamps, so that old SSTables' cells stay dead);
 * a CQL query carries one, so each definition is cut with cql_split and sent statement
 * by statement. Conflicts still compare whole definitions. After the changes (and on a
 * re-run that found everything there, since an earlier run may have stopped before it)
 * the answer waits until every node reports one schema version: a load into a table a
 * node does not know yet would fail there.
 */
#include "handlers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "node/agreement.h"
#include "node/cql.h"
#include "node/cql_split.h"
#include "node/hostport.h"
#include "repo/repo.h"

#define CQL_TIMEOUT_MS     60000
#define VIEW_BUILD_WAIT_MS 10000
#define VIEW_BUILD_POLL_MS 200
#define SCHEMA_MAX         (64u << 20)
#define OBJECT_HEADER      "-- cairn-object: "

typedef struct schema_obj {
    char *type, *keyspace, *name, *stmt;
} schema_obj;

typedef struct schema_set {
    schema_obj *o;
    size_t n, cap;
} schema_set;

/* Creation order: what a later kind refers to comes first. */
static const char *const kinds[] = {"keyspace", "type",  "function", "aggregate",
                                    "table",    "index", "view"};

static int kind_rank(const char *type)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(type, kinds[i]) == 0)
            return (int)i;
    return -1;
}

static bool system_keyspace(const char *ks)
{
    return strncmp(ks, "system", 6) == 0 || strcmp(ks, "-") == 0;
}

static int set_add(schema_set *s, const char *type, const char *ks, const char *name,
                   const char *stmt, size_t stmt_len)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        schema_obj *no = realloc(s->o, nc * sizeof(*no));
        if (!no)
            return CAIRN_ENOMEM;
        s->o = no;
        s->cap = nc;
    }
    schema_obj *o = &s->o[s->n];
    o->type = strdup(type);
    o->keyspace = strdup(ks && *ks ? ks : "-");
    o->name = strdup(name ? name : "-");
    o->stmt = strndup(stmt, stmt_len);
    s->n++;
    return (o->type && o->keyspace && o->name && o->stmt) ? 0 : CAIRN_ENOMEM;
}

static void set_free(schema_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->o[i].type);
        free(s->o[i].keyspace);
        free(s->o[i].name);
        free(s->o[i].stmt);
    }
    free(s->o);
}

/* Whitespace does not make two definitions differ. */
static bool same_definition(const char *a, const char *b)
{
    for (;;) {
        while (isspace((unsigned char)*a) || *a == ';')
            a++;
        while (isspace((unsigned char)*b) || *b == ';')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (*a != *b)
            return false;
        a++;
        b++;
        bool sa = isspace((unsigned char)*a), sb = isspace((unsigned char)*b);
        if (sa != sb)
            return false;
    }
}

static int parse_dump(char *text, schema_set *s, cairn_err *e)
{
    char *p = strstr(text, OBJECT_HEADER);
    while (p) {
        char *eol = strchr(p, '\n');
        if (!eol)
            return err_set(e, CAIRN_ECORRUPT, "schema dump ends inside an object header");
        *eol = '\0';
        char type[64], ks[128], name[512];
        if (sscanf(p + strlen(OBJECT_HEADER), "%63s %127s %511s", type, ks, name) != 3)
            return err_set(e, CAIRN_ECORRUPT, "malformed object header in the schema dump");
        char *stmt = eol + 1;
        char *next = strstr(stmt, OBJECT_HEADER);
        size_t len = next ? (size_t)(next - stmt) : strlen(stmt);
        while (len && isspace((unsigned char)stmt[len - 1]))
            len--;
        if (set_add(s, type, ks, name, stmt, len))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        p = next;
    }
    return 0;
}

static int dump_write(void *ctx, const void *data, size_t len, cairn_err *e)
{
    buf *b = ctx;
    if (b->len + len + 1 > SCHEMA_MAX)
        return err_set(e, CAIRN_EINVAL, "schema dump larger than %u bytes", SCHEMA_MAX);
    return buf_append(b, data, len, e);
}

static int collect_current(void *ctx, const char *ks, const char *type, const char *name,
                           const char *stmt, cairn_err *e)
{
    return set_add(ctx, type, ks, name, stmt, strlen(stmt))
               ? err_set(e, CAIRN_ENOMEM, "out of memory")
               : 0;
}

static const schema_obj *find(const schema_set *s, const schema_obj *o)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->o[i].type, o->type) == 0 && strcmp(s->o[i].keyspace, o->keyspace) == 0 &&
            strcmp(s->o[i].name, o->name) == 0)
            return &s->o[i];
    return NULL;
}

static bool view_kind(const schema_obj *o)
{
    return strcmp(o->type, "view") == 0 || strcmp(o->type, "index") == 0;
}

static bool selected(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_obj *o)
{
    if (system_keyspace(o->keyspace) || kind_rank(o->type) < 0)
        return false;
    if ((rq->objects == CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__TABLES && view_kind(o)) ||
        (rq->objects == CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__VIEWS && !view_kind(o)))
        return false;
    if (rq->n_keyspaces == 0)
        return true;
    for (size_t i = 0; i < rq->n_keyspaces; i++)
        if (strcmp(rq->keyspaces[i], o->keyspace) == 0)
            return true;
    return false;
}

static int push(char ***list, size_t *n, const schema_obj *o)
{
    char label[800];
    snprintf(label, sizeof(label), "%s %s.%s", o->type, o->keyspace, o->name);
    if (strcmp(o->type, "keyspace") == 0)
        snprintf(label, sizeof(label), "keyspace %s", o->keyspace);
    char **nl = realloc(*list, (*n + 1) * sizeof(char *));
    if (!nl)
        return CAIRN_ENOMEM;
    *list = nl;
    return (nl[(*n)++] = strdup(label)) ? 0 : CAIRN_ENOMEM;
}

/* Sorts every selected object of want into created, existing or conflicts. */
static int judge(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                 const schema_set *have, Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    for (size_t i = 0; i < want->n; i++) {
        const schema_obj *o = &want->o[i];
        if (!selected(rq, o))
            continue;
        const schema_obj *cur = find(have, o);
        int rc;
        if (!cur)
            rc = push(&res->created, &res->n_created, o);
        else if (same_definition(cur->stmt, o->stmt))
            rc = push(&res->existing, &res->n_existing, o);
        else
            rc = push(&res->conflicts, &res->n_conflicts, o);
        if (rc)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    return 0;
}

typedef struct stmt_ctx {
    cql_conn *c;
    unsigned n; /* statements of the definition sent so far */
} stmt_ctx;

static int send_statement(void *ctx, const char *stmt, cairn_err *e)
{
    stmt_ctx *sc = ctx;
    sc->n++;
    int rc = cql_query(sc->c, stmt, NULL, NULL, e);
    return rc ? err_prefix(e, "statement %u of its definition", sc->n) : 0;
}

/* Creates what the target lacks, kind by kind in creation order. */
static int create_missing(cql_conn *c, const Cairn__Rpc__ApplySchemaRequest *rq,
                          const schema_set *want, const schema_set *have, cairn_err *e)
{
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        for (size_t i = 0; i < want->n; i++) {
            const schema_obj *o = &want->o[i];
            if (strcmp(o->type, kinds[k]) != 0 || !selected(rq, o) || find(have, o))
                continue;
            stmt_ctx sc = {c, 0};
            int rc = cql_split(o->stmt, send_statement, &sc, e);
            if (rc) {
                err_prefix(e, "creating %s %s.%s", o->type, o->keyspace, o->name);
                return rc;
            }
        }
    }
    return 0;
}

static int add_build(Cairn__Rpc__ApplySchemaResult *res, const schema_obj *o)
{
    Cairn__Rpc__ViewBuild **nb = realloc(res->view_builds, (res->n_view_builds + 1) * sizeof(*nb));
    if (!nb)
        return CAIRN_ENOMEM;
    res->view_builds = nb;
    Cairn__Rpc__ViewBuild *b = calloc(1, sizeof(*b));
    if (!b)
        return CAIRN_ENOMEM;
    cairn__rpc__view_build__init(b);
    nb[res->n_view_builds++] = b;
    b->keyspace = strdup(o->keyspace);
    /* An index is built as its view, "<index>_index". */
    if (strcmp(o->type, "index") == 0 && asprintf(&b->name, "%s_index", o->name) < 0)
        b->name = NULL;
    else if (strcmp(o->type, "index") != 0)
        b->name = strdup(o->name);
    return b->keyspace && b->name ? 0 : CAIRN_ENOMEM;
}

/* Asks how far each build got until all are done or VIEW_BUILD_WAIT_MS passed. */
static int watch_builds(agent *a, const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                        Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    for (size_t i = 0; i < want->n; i++)
        if (view_kind(&want->o[i]) && selected(rq, &want->o[i]) && add_build(res, &want->o[i]))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (int waited = 0;; waited += VIEW_BUILD_POLL_MS) {
        bool all = true;
        for (size_t i = 0; i < res->n_view_builds; i++) {
            Cairn__Rpc__ViewBuild *b = res->view_builds[i];
            size_t nodes, built;
            int rc = scylla_view_build(a->rest, b->keyspace, b->name, &nodes, &built, e);
            if (rc)
                return err_prefix(e, "the build of view %s.%s", b->keyspace, b->name);
            b->nodes = (uint32_t)nodes;
            b->built = (uint32_t)built;
            all = all && nodes > 0 && built == nodes;
        }
        if (all || waited >= VIEW_BUILD_WAIT_MS)
            return 0;
        usleep(VIEW_BUILD_POLL_MS * 1000);
    }
}

/* Waits for every node to report one schema version; records how long it took. */
static int await_agreement(agent *a, cql_conn *c, Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    long timeout_ms = a->cfg->scylla_agreement_timeout_s ? a->cfg->scylla_agreement_timeout_s * 1000
                                                         : AGREEMENT_DEFAULT_TIMEOUT_MS;
    agreement ag;
    int rc = agreement_wait(c, timeout_ms, &ag, e);
    if (rc == CAIRN_ETIMEDOUT)
        return err_prefix(e, "schema applied on this node (scylla.schema_agreement_timeout "
                             "in agent.yaml sets the wait)");
    if (rc)
        return err_prefix(e, "schema applied on this node");
    if (!(res->schema_version = strdup(ag.version)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    res->has_agreement_ms = 1;
    res->agreement_ms = ag.ms;
    return 0;
}

int agent_apply_schema(agent *a, const Cairn__Rpc__ApplySchemaRequest *rq,
                       Cairn__Rpc__Response *resp, cairn_err *e)
{
    char host[256];
    int port;
    repo *r = NULL;
    cql_conn *c = NULL;
    buf dump = BUF_INIT;
    schema_set want = {0}, have = {0};
    Cairn__Rpc__ApplySchemaResult *res = calloc(1, sizeof(*res));
    if (!res)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    cairn__rpc__apply_schema_result__init(res);
    int rc = hostport_split(a->cfg->scylla_cql, host, sizeof(host), &port, e);
    if (!rc)
        rc = repos_repo_open(&r, a->cfg, rq->repository, NULL, e);
    if (!rc)
        rc = repo_blob_get(r, rq->blob, dump_write, &dump, NULL, e);
    if (!rc && !dump.data)
        rc = err_set(e, CAIRN_ECORRUPT, "the schema dump is empty");
    if (!rc)
        rc = parse_dump((char *)dump.data, &want, e);
    if (!rc)
        rc = cql_connect(&c, host, port, a->cfg->scylla_username, a->cfg->scylla_password,
                         &a->cfg->scylla_cql_tls, CQL_TIMEOUT_MS, e);
    if (!rc)
        rc = cql_describe_schema(c, collect_current, &have, e);
    /* First judge everything, then change anything. */
    if (!rc)
        rc = judge(rq, &want, &have, res, e);
    if (!rc && !rq->check_only && res->n_conflicts == 0)
        rc = create_missing(c, rq, &want, &have, e);
    if (!rc && !rq->check_only && res->n_conflicts == 0)
        rc = await_agreement(a, c, res, e);
    if (!rc && !rq->check_only && res->n_conflicts == 0 &&
        rq->objects == CAIRN__RPC__APPLY_SCHEMA_REQUEST__OBJECTS__VIEWS)
        rc = watch_builds(a, rq, &want, res, e);
    cql_close(c);
    repo_close(r);
    buf_free(&dump);
    set_free(&want);
    set_free(&have);
    if (rc) {
        cairn__rpc__apply_schema_result__free_unpacked(res, NULL);
        return rc;
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_APPLY_SCHEMA;
    resp->apply_schema = res;
    return 0;
}
