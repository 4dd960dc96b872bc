#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#include "base/debug.h"

int buf_reserve(buf *b, size_t n, cairn_err *e)
{
    CAIRN_ASSERT(b->len <= b->cap);
    if (b->limit && n > b->limit - b->len)
        return err_set(e, CAIRN_EPROTO, "more than %zu bytes", b->limit);
    if (n >= SIZE_MAX / 2 - b->len)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    b->data = grown;
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *p, size_t n, cairn_err *e)
{
    int rc = buf_reserve(b, n, e);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

uint8_t *buf_steal(buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
