/*
 * buf - a growable byte buffer: answers, encoded messages and listings that are
 * collected before they are parsed.
 *
 * The buffer keeps a NUL after its last byte (not counted in len), so text collected
 * in it can be handed to a parser that wants a C string. An optional limit turns a
 * runaway peer into an error instead of unbounded memory.
 */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct buf {
    uint8_t *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t limit; /* 0: none; otherwise len never exceeds it */
} buf;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Makes room for n more bytes (and the NUL). CAIRN_ENOMEM, or CAIRN_EPROTO when the
 * limit would be passed; e may be NULL. */
int buf_reserve(buf *b, size_t n, cairn_err *e);

/* Appends n bytes of p. Errors as buf_reserve. */
int buf_append(buf *b, const void *p, size_t n, cairn_err *e);

/* Hands the bytes to the caller (free them with free()); b is empty afterwards. */
uint8_t *buf_steal(buf *b, size_t *len);

/* Empties b, keeping its memory and limit. */
void buf_reset(buf *b);

/* Releases b's memory; b is empty afterwards and may be used again. */
void buf_free(buf *b);

#endif
