#include "node/cql_wire.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TYPE_DEPTH 32

bool cql_rd_raw(cql_rd *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->off)
        return false;
    if (out)
        *out = r->p + r->off;
    r->off += n;
    return true;
}

bool cql_rd_u16(cql_rd *r, uint16_t *v)
{
    const uint8_t *p;
    if (!cql_rd_raw(r, 2, &p))
        return false;
    *v = (uint16_t)(p[0] << 8 | p[1]);
    return true;
}

bool cql_rd_i32(cql_rd *r, int32_t *v)
{
    const uint8_t *p;
    if (!cql_rd_raw(r, 4, &p))
        return false;
    *v = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    return true;
}

/* [string]: u16 length then bytes. */
bool cql_rd_string(cql_rd *r, const uint8_t **p, size_t *n)
{
    uint16_t len;
    if (!cql_rd_u16(r, &len) || !cql_rd_raw(r, len, p))
        return false;
    *n = len;
    return true;
}

/* [bytes]: i32 length then bytes; a negative length is null. */
bool cql_rd_bytes(cql_rd *r, cql_value *v)
{
    int32_t len;
    if (!cql_rd_i32(r, &len))
        return false;
    if (len < 0) {
        v->data = NULL;
        v->len = -1;
        return true;
    }
    v->len = len;
    return cql_rd_raw(r, (size_t)len, &v->data);
}

/* Skips a column type [option], whose size depends on its (possibly nested) kind. */
bool cql_rd_option(cql_rd *r, int depth)
{
    uint16_t id, n;
    const uint8_t *p;
    size_t len;
    if (depth > MAX_TYPE_DEPTH || !cql_rd_u16(r, &id))
        return false;
    switch (id) {
    case 0x0000: /* custom: class name */
        return cql_rd_string(r, &p, &len);
    case 0x0020: /* list */
    case 0x0022: /* set */
        return cql_rd_option(r, depth + 1);
    case 0x0021: /* map */
        return cql_rd_option(r, depth + 1) && cql_rd_option(r, depth + 1);
    case 0x0030: /* user type: keyspace, name, then named fields */
        if (!cql_rd_string(r, &p, &len) || !cql_rd_string(r, &p, &len) || !cql_rd_u16(r, &n))
            return false;
        for (uint16_t i = 0; i < n; i++)
            if (!cql_rd_string(r, &p, &len) || !cql_rd_option(r, depth + 1))
                return false;
        return true;
    case 0x0031: /* tuple */
        if (!cql_rd_u16(r, &n))
            return false;
        for (uint16_t i = 0; i < n; i++)
            if (!cql_rd_option(r, depth + 1))
                return false;
        return true;
    default:
        return id >= 0x0001 && id <= 0x0015;
    }
}

/* A failed append marks the writer; the request is refused when it is sent. */
void cql_wb_put(cql_wb *w, const void *data, size_t n)
{
    if (!w->oom && buf_append(&w->b, data, n, NULL) != 0)
        w->oom = true;
}

void cql_wb_u8(cql_wb *w, uint8_t v)
{
    cql_wb_put(w, &v, 1);
}

void cql_wb_u16(cql_wb *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    cql_wb_put(w, b, 2);
}

void cql_wb_i32(cql_wb *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t b[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    cql_wb_put(w, b, 4);
}

/* Callers keep s under 64 KiB. */
void cql_wb_string(cql_wb *w, const char *s)
{
    size_t n = strlen(s);
    cql_wb_u16(w, (uint16_t)n);
    cql_wb_put(w, s, n);
}

void cql_wb_init(cql_wb *w)
{
    static const uint8_t header[CQL_HEADER_LEN];
    *w = (cql_wb){BUF_INIT, false};
    cql_wb_put(w, header, sizeof(header));
}

/* Request bodies may hold the password: wipe them before freeing. */
void cql_wb_free(cql_wb *w)
{
    if (w->b.data)
        explicit_bzero(w->b.data, w->b.len);
    buf_free(&w->b);
    w->oom = false;
}

void cql_frame_free(cql_frame *f)
{
    free(f->buf);
    f->buf = NULL;
}
