/*
 * schema_apply - plays a schema dump back through CQL.
 *
 * The dump's "-- cairn-object:" lines (backup/schema_dump.h) give each statement's
 * type, keyspace and name. An object the target already has with the same definition
 * is skipped; one it has with another definition is a conflict, and any conflict stops
 * the whole operation before the first change.
 *
 * A restore applies the tables before loading and the views and indexes after (the
 * request's objects), so that ScyllaDB builds them from the loaded data; the answer to
 * the second says how far each build got (restore/view_builds.h).
 *
 * A definition may hold several statements (DESCRIBE ... WITH INTERNALS re-drops a
 * table's dropped columns with their timestamps, so that old SSTables' cells stay dead);
 * a CQL query carries one, so each definition is cut with cql_split and sent statement
 * by statement. Conflicts still compare whole definitions. After the changes (and on a
 * re-run that found everything there, since an earlier run may have stopped before it)
 * the answer waits until every node reports one schema version: a load into a table a
 * node does not know yet would fail there.
 *
 * Roles, service levels and grants (restore --auth, restore/schema_auth.h) are judged
 * the same way and created after the keyspace objects, which grants name. Only a dump
 * made with their salted hashes holds them for a restore, and the target must describe
 * its own the same way, or a role could not be compared. The target keeps its default
 * superuser; a grant on a keyspace the target will not have is left out and reported.
 */
#include "handlers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"
#include "node/agreement.h"
#include "node/cql.h"
#include "node/cql_split.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "restore/schema_auth.h"
#include "restore/view_builds.h"
#include "backup/schema_dump.h"

#define CQL_TIMEOUT_MS 60000
#define SCHEMA_MAX     (64u << 20)

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

static bool is_auth(const schema_obj *o)
{
    return schema_auth_rank(o->type) >= 0;
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

/* The objects of the dump in text (len bytes); auth objects only if the dump holds them
 * whole. */
static int parse_dump(char *text, size_t len_text, schema_set *s, cairn_err *e)
{
    const char *end = text + len_text;
    bool auth = schema_dump_has_auth(text);
    const size_t hlen = strlen(SCHEMA_DUMP_OBJECT);
    char *p = strstr(text, SCHEMA_DUMP_OBJECT);
    while (p) {
        char *eol = strchr(p, '\n');
        if (!eol)
            return err_set(e, CAIRN_ECORRUPT, "schema dump ends inside an object header");
        *eol = '\0';
        schema_dump_header h;
        if (schema_dump_parse_header(p + hlen, &h) < 0)
            return err_set(e, CAIRN_ECORRUPT, "malformed object header in the schema dump");
        char *stmt = eol + 1;
        char *next;
        size_t len;
        if (h.has_length) {
            if (h.length > (size_t)(end - stmt))
                return err_set(e, CAIRN_ECORRUPT, "schema dump ends inside a %s", h.type);
            len = h.length;
            next = strstr(stmt + len, SCHEMA_DUMP_OBJECT);
        } else {
            next = strstr(stmt, SCHEMA_DUMP_OBJECT);
            len = next ? (size_t)(next - stmt) : strlen(stmt);
        }
        while (len && isspace((unsigned char)stmt[len - 1]))
            len--;
        if ((auth || schema_auth_rank(h.type) < 0) &&
            set_add(s, h.type, h.keyspace, h.name, stmt, len))
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

static bool same_object(const schema_obj *a, const schema_obj *b)
{
    if (strcmp(a->type, b->type) != 0)
        return false;
    if (!is_auth(a))
        return strcmp(a->keyspace, b->keyspace) == 0 && strcmp(a->name, b->name) == 0;
    const char *ka, *kb;
    size_t na, nb;
    schema_auth_key(a->type, a->name, a->stmt, &ka, &na);
    schema_auth_key(b->type, b->name, b->stmt, &kb, &nb);
    return na == nb && memcmp(ka, kb, na) == 0;
}

static const schema_obj *find(const schema_set *s, const schema_obj *o)
{
    for (size_t i = 0; i < s->n; i++)
        if (same_object(&s->o[i], o))
            return &s->o[i];
    return NULL;
}

static bool view_kind(const schema_obj *o)
{
    return strcmp(o->type, "view") == 0 || strcmp(o->type, "index") == 0;
}

static bool selected(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_obj *o)
{
    bool auth = rq->auth != CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__NONE;
    if (is_auth(o))
        return auth &&
               !(strcmp(o->type, "role") == 0 && strcmp(o->name, SCHEMA_AUTH_SUPERUSER) == 0);
    if (rq->auth == CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__ONLY || system_keyspace(o->keyspace) ||
        kind_rank(o->type) < 0)
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

/* How a report names o: "table ks.t", "keyspace ks", "role alice", or a grant. */
static void label_of(const schema_obj *o, char *label, size_t cap)
{
    if (is_auth(o))
        schema_auth_label(o->type, o->name, o->stmt, label, cap);
    else if (strcmp(o->type, "keyspace") == 0)
        snprintf(label, cap, "keyspace %s", o->keyspace);
    else
        snprintf(label, cap, "%s %s.%s", o->type, o->keyspace, o->name);
}

static int push(char ***list, size_t *n, const char *label)
{
    char **nl = realloc(*list, (*n + 1) * sizeof(char *));
    if (!nl)
        return CAIRN_ENOMEM;
    *list = nl;
    return (nl[(*n)++] = strdup(label)) ? 0 : CAIRN_ENOMEM;
}

/* Whether keyspace ks is on the target once the selected schema is created. */
static bool keyspace_there(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                           const schema_set *have, const char *ks)
{
    for (size_t i = 0; i < have->n; i++)
        if (strcmp(have->o[i].type, "keyspace") == 0 && strcmp(have->o[i].keyspace, ks) == 0)
            return true;
    for (size_t i = 0; i < want->n; i++)
        if (strcmp(want->o[i].type, "keyspace") == 0 && strcmp(want->o[i].keyspace, ks) == 0 &&
            selected(rq, &want->o[i]))
            return true;
    return false;
}

/* A grant on a keyspace (or what is in it) that the target will not have: ScyllaDB
 * would refuse it, so it is left out; ks receives the keyspace. */
static bool grant_homeless(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                           const schema_set *have, const schema_obj *o, char *ks, size_t cap)
{
    return strcmp(o->type, "grant_permission") == 0 &&
           schema_auth_grant_keyspace(o->stmt, ks, cap) && !keyspace_there(rq, want, have, ks);
}

/* Sorts every selected object of want into created, existing or conflicts (and auth
 * objects that cannot be applied into auth_skipped). */
static int judge(const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                 const schema_set *have, Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    for (size_t i = 0; i < want->n; i++) {
        const schema_obj *o = &want->o[i];
        if (!selected(rq, o))
            continue;
        char label[800], ks[256], ek[256];
        label_of(o, label, sizeof(label));
        const schema_obj *cur = find(have, o);
        int rc;
        if (grant_homeless(rq, want, have, o, ks, sizeof(ks))) {
            char why[1200];
            text_escape(ks, strlen(ks), ek, sizeof(ek));
            snprintf(why, sizeof(why), "%s: keyspace %s is not on the target", label, ek);
            rc = push(&res->auth_skipped, &res->n_auth_skipped, why);
        } else if (!cur) {
            rc = push(&res->created, &res->n_created, label);
        } else if (same_definition(cur->stmt, o->stmt)) {
            rc = push(&res->existing, &res->n_existing, label);
        } else {
            rc = push(&res->conflicts, &res->n_conflicts, label);
        }
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

/* Creates the objects of one type that the target lacks, each definition statement by
 * statement. A role's statement (one) holds its salted hash: its errors leave it out. */
static int create_type(cql_conn *c, const Cairn__Rpc__ApplySchemaRequest *rq,
                       const schema_set *want, const schema_set *have, const char *type,
                       cairn_err *e)
{
    for (size_t i = 0; i < want->n; i++) {
        const schema_obj *o = &want->o[i];
        char ks[256];
        if (strcmp(o->type, type) != 0 || !selected(rq, o) || find(have, o) ||
            grant_homeless(rq, want, have, o, ks, sizeof(ks)))
            continue;
        stmt_ctx sc = {c, 0};
        int rc = strcmp(type, "role") == 0 ? cql_query_secret(c, o->stmt, "the statement", e)
                                           : cql_split(o->stmt, send_statement, &sc, e);
        if (rc) {
            char label[800];
            label_of(o, label, sizeof(label));
            err_prefix(e, "creating %s", label);
            return rc;
        }
    }
    return 0;
}

/* Creates what the target lacks, kind by kind in creation order: the keyspace objects,
 * then roles, service levels and grants, which name them. */
static int create_missing(cql_conn *c, const Cairn__Rpc__ApplySchemaRequest *rq,
                          const schema_set *want, const schema_set *have, cairn_err *e)
{
    int rc = 0;
    for (size_t k = 0; !rc && k < sizeof(kinds) / sizeof(kinds[0]); k++)
        rc = create_type(c, rq, want, have, kinds[k], e);
    for (size_t k = 0; !rc && k < schema_auth_kinds(); k++)
        rc = create_type(c, rq, want, have, schema_auth_kind(k), e);
    return rc;
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

/* The builds of the views and indexes this request created or found. */
static int watch_builds(agent *a, const Cairn__Rpc__ApplySchemaRequest *rq, const schema_set *want,
                        Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    for (size_t i = 0; i < want->n; i++) {
        const schema_obj *o = &want->o[i];
        if (view_kind(o) && selected(rq, o) && view_builds_add(res, o->keyspace, o->type, o->name))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    return view_builds_watch(a->rest, res, e);
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
        rc = parse_dump((char *)dump.data, dump.len, &want, e);
    if (!rc)
        rc = cql_connect(&c, host, port, a->cfg->scylla_username, a->cfg->scylla_password,
                         &a->cfg->scylla_cql_tls, CQL_TIMEOUT_MS, e);
    cql_describe_form form = CQL_DESCRIBE_PASSWORDS;
    if (!rc)
        rc = cql_describe_schema(c, collect_current, &have, &form, e);
    res->has_auth_in_dump = 1;
    res->auth_in_dump = !rc && schema_dump_has_auth((const char *)dump.data);
    /* Without its hashes the target's roles cannot be compared with the dump's. */
    if (!rc && res->auth_in_dump && rq->auth != CAIRN__RPC__APPLY_SCHEMA_REQUEST__AUTH__NONE &&
        form != CQL_DESCRIBE_PASSWORDS)
        rc = err_set(e, CAIRN_EPROTO,
                     "ScyllaDB at %s refused DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS (%s), "
                     "so its roles cannot be compared with the backup's: restore without --auth",
                     a->cfg->scylla_cql,
                     form == CQL_DESCRIBE_OLD_SCYLLA ? "it is older than 2025.1"
                                                     : "the agent's CQL user is no superuser");
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
