#include "node/cql.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "node/cql_conn.h"
#include "node/cql_wire.h"
#include "scylla/names.h"

enum { RESULT_VOID = 1, RESULT_ROWS = 2, RESULT_SET_KEYSPACE = 3, RESULT_SCHEMA_CHANGE = 5 };

#define CONSISTENCY_LOCAL_ONE 0x000A
#define QUERY_PAGE_SIZE       0x04
#define QUERY_PAGING_STATE    0x08
#define ROWS_GLOBAL_SPEC      0x0001
#define ROWS_HAS_MORE_PAGES   0x0002
#define ROWS_NO_METADATA      0x0004
#define PAGE_SIZE             5000

/*
 * Walks a Rows result, calling cb per row. *paging receives a malloc'd copy of the
 * paging state when more pages follow, NULL otherwise.
 */
static int rows(cql_conn *c, cql_rd *r, cql_row_cb cb, void *ctx, uint8_t **paging, size_t *plen,
                cairn_err *e)
{
    int32_t flags, ncols, nrows;
    const uint8_t *p;
    size_t n;
    if (!cql_rd_i32(r, &flags) || !cql_rd_i32(r, &ncols) || ncols < 0)
        return cql_malformed(c, e, "bad rows metadata");
    if (flags & ROWS_HAS_MORE_PAGES) {
        cql_value v;
        if (!cql_rd_bytes(r, &v) || v.len <= 0)
            return cql_malformed(c, e, "more pages announced without a paging state");
        if (!(*paging = malloc((size_t)v.len)))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        memcpy(*paging, v.data, (size_t)v.len);
        *plen = (size_t)v.len;
    }
    if (!(flags & ROWS_NO_METADATA)) {
        bool global = flags & ROWS_GLOBAL_SPEC;
        if (global && (!cql_rd_string(r, &p, &n) || !cql_rd_string(r, &p, &n)))
            return cql_malformed(c, e, "truncated table spec");
        for (int32_t i = 0; i < ncols; i++) {
            if (!global && (!cql_rd_string(r, &p, &n) || !cql_rd_string(r, &p, &n)))
                return cql_malformed(c, e, "truncated column table spec");
            if (!cql_rd_string(r, &p, &n) || !cql_rd_option(r, 0))
                return cql_malformed(c, e, "bad column spec");
        }
    }
    if (!cql_rd_i32(r, &nrows) || nrows < 0)
        return cql_malformed(c, e, "bad row count");
    if (nrows == 0)
        return 0;
    /* Every value takes at least its 4-byte length: bound the count before allocating. */
    if (ncols == 0 || (size_t)nrows > (r->len - r->off) / 4 / (size_t)ncols)
        return cql_malformed(c, e, "row count larger than the frame");
    cql_value *cols = calloc((size_t)ncols, sizeof(*cols));
    if (!cols)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0;
    for (int32_t i = 0; i < nrows && rc == 0; i++) {
        for (int32_t j = 0; j < ncols && rc == 0; j++)
            if (!cql_rd_bytes(r, &cols[j]))
                rc = cql_malformed(c, e, "truncated row");
        if (rc == 0 && cb) {
            int crc = cb(ctx, (size_t)ncols, cols, e);
            if (crc < 0)
                rc = crc;
        }
    }
    free(cols);
    return rc;
}

static int result(cql_conn *c, const cql_frame *f, cql_row_cb cb, void *ctx, uint8_t **paging,
                  size_t *plen, cairn_err *e)
{
    cql_rd r = {f->body, f->len, 0};
    int32_t kind;
    if (!cql_rd_i32(&r, &kind))
        return cql_malformed(c, e, "truncated RESULT");
    switch (kind) {
    case RESULT_VOID:
    case RESULT_SET_KEYSPACE:
    case RESULT_SCHEMA_CHANGE:
        return 0;
    case RESULT_ROWS:
        return rows(c, &r, cb, ctx, paging, plen, e);
    default: {
        char what[64];
        snprintf(what, sizeof(what), "unexpected RESULT kind %d", kind);
        return cql_malformed(c, e, what);
    }
    }
}

/* Runs query, following pages; an error names it as what, redacted when it is secret. */
static int run_query(cql_conn *c, const char *query, const char *what, bool secret, cql_row_cb cb,
                     void *ctx, cairn_err *e)
{
    size_t qlen = strlen(query);
    if (qlen > CQL_MAX_FRAME / 2)
        return err_set(e, CAIRN_EINVAL, "CQL query of %zu bytes is too long", qlen);
    uint8_t *paging = NULL;
    size_t plen = 0;
    int rc = 0;
    do {
        cql_wb w;
        cql_wb_init(&w);
        cql_wb_i32(&w, (int32_t)qlen);
        cql_wb_put(&w, query, qlen);
        cql_wb_u16(&w, CONSISTENCY_LOCAL_ONE);
        cql_wb_u8(&w, QUERY_PAGE_SIZE | (paging ? QUERY_PAGING_STATE : 0));
        cql_wb_i32(&w, PAGE_SIZE);
        if (paging) {
            cql_wb_i32(&w, (int32_t)plen);
            cql_wb_put(&w, paging, plen);
        }
        free(paging);
        paging = NULL;
        cql_frame f;
        rc = cql_roundtrip(c, CQL_OP_QUERY, &w, &f, e);
        cql_wb_free(&w);
        if (rc < 0)
            break;
        if (f.opcode == CQL_OP_RESULT)
            rc = result(c, &f, cb, ctx, &paging, &plen, e);
        else if (f.opcode == CQL_OP_ERROR)
            rc = cql_server_error(c, &f, what, secret, e);
        else
            rc = cql_unexpected(c, &f, "QUERY", e);
        cql_frame_free(&f);
    } while (rc == 0 && paging);
    free(paging);
    return rc;
}

int cql_query(cql_conn *c, const char *query, cql_row_cb cb_or_null, void *ctx, cairn_err *e)
{
    if (!c || !query)
        return err_set(e, CAIRN_EINVAL, "no CQL connection or query");
    char what[160];
    snprintf(what, sizeof(what), "the query \"%.120s%s\"", query, strlen(query) > 120 ? "..." : "");
    return run_query(c, query, what, false, cb_or_null, ctx, e);
}

int cql_query_secret(cql_conn *c, const char *query, const char *label, cairn_err *e)
{
    if (!c || !query || !label)
        return err_set(e, CAIRN_EINVAL, "no CQL connection or query");
    return run_query(c, query, label, true, NULL, NULL, e);
}

/* A value as a NUL-terminated string; NULL (with *rc = 0) for a null value. */
static char *value_string(const cql_value *v, int *rc, cairn_err *e)
{
    *rc = 0;
    if (v->len < 0)
        return NULL;
    if (memchr(v->data, '\0', (size_t)v->len)) {
        *rc = err_set(e, CAIRN_EPROTO, "ScyllaDB returned schema text containing a NUL byte");
        return NULL;
    }
    char *s = strndup((const char *)v->data, (size_t)v->len);
    if (!s)
        *rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    return s;
}

typedef struct schema_ctx {
    cql_schema_cb cb;
    void *ctx;
} schema_ctx;

static int schema_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    schema_ctx *sc = ctx;
    if (ncols != 4)
        return err_set(e, CAIRN_EPROTO,
                       "DESCRIBE SCHEMA returned %zu columns instead of keyspace_name, type, "
                       "name, create_statement",
                       ncols);
    char *s[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        s[i] = value_string(&cols[i], &rc, e);
    if (rc == 0 && (!s[1] || !s[3]))
        rc = err_set(e, CAIRN_EPROTO,
                     "DESCRIBE SCHEMA returned a row without a type or create statement");
    if (rc == 0)
        rc = sc->cb(sc->ctx, s[0], s[1], s[2] ? s[2] : "", s[3], e);
    for (int i = 0; i < 4; i++)
        free(s[i]);
    return rc;
}

int cql_describe_schema(cql_conn *c, cql_schema_cb cb, void *ctx, cql_describe_form *form,
                        cairn_err *e)
{
    schema_ctx sc = {cb, ctx};
    /* Both refusals come before the first row, so no object was passed to cb yet. */
    *form = CQL_DESCRIBE_PASSWORDS;
    int rc = cql_query(c, CQL_DESCRIBE_PASSWORDS_TEXT, schema_row, &sc, e);
    int32_t code = rc == CAIRN_EREMOTE || rc == CAIRN_EAUTH ? cql_conn_last_error(c) : 0;
    if (rc == 0 || (code != CQL_ERR_SYNTAX && code != CQL_ERR_UNAUTHORIZED))
        return rc;
    *form = code == CQL_ERR_SYNTAX ? CQL_DESCRIBE_OLD_SCYLLA : CQL_DESCRIBE_NOT_SUPERUSER;
    return cql_query(c, CQL_DESCRIBE_INTERNALS_TEXT, schema_row, &sc, e);
}

/* A CQL string literal: quotes doubled, so no name can end the literal early. */
static int quote_literal(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s; s++) {
        size_t need = *s == '\'' ? 2 : 1;
        if (o + need >= cap)
            return -1;
        if (*s == '\'')
            out[o++] = '\'';
        out[o++] = *s;
    }
    out[o] = '\0';
    return 0;
}

typedef struct id_ctx {
    char *hex;
    bool found;
} id_ctx;

static int id_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    id_ctx *ic = ctx;
    if (ic->found)
        return 0;
    if (ncols != 1 || cols[0].len != 16)
        return err_set(e, CAIRN_EPROTO,
                       "system_schema.tables returned a table id that is not a "
                       "16-byte uuid");
    hex_encode(cols[0].data, 16, ic->hex);
    ic->found = true;
    return 0;
}

int cql_table_id(cql_conn *c, const char *ks, const char *table, char id32hex[33], cairn_err *e)
{
    id32hex[0] = '\0';
    int rc = name_check_table(ks, table, e);
    if (rc < 0)
        return rc;
    char qks[512], qt[512], q[1200];
    if (quote_literal(ks, qks, sizeof(qks)) < 0 || quote_literal(table, qt, sizeof(qt)) < 0)
        return err_set(e, CAIRN_EINVAL, "table name %s.%s is too long", ks, table);
    snprintf(q, sizeof(q),
             "SELECT id FROM system_schema.tables WHERE keyspace_name = '%s' AND table_name = "
             "'%s'",
             qks, qt);
    id_ctx ic = {id32hex, false};
    rc = cql_query(c, q, id_row, &ic, e);
    if (rc < 0)
        return rc;
    if (!ic.found)
        return err_set(e, CAIRN_ENOENT, "ScyllaDB has no table %s.%s", ks, table);
    return 0;
}
