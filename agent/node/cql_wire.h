/*
 * cql_wire - the framing of CQL native protocol v4 that the cql client speaks: opcodes,
 * the frame header, and bounds-checked readers and writers of the protocol's [types].
 * Private to node/cql*.
 *
 * Nothing here touches a socket: a reader walks a body already received, a writer
 * builds a request that cql_conn sends.
 */
#ifndef CAIRN_CQL_WIRE_H
#define CAIRN_CQL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "node/cql.h"

enum {
    CQL_OP_ERROR = 0x00,
    CQL_OP_STARTUP = 0x01,
    CQL_OP_READY = 0x02,
    CQL_OP_AUTHENTICATE = 0x03,
    CQL_OP_QUERY = 0x07,
    CQL_OP_RESULT = 0x08,
    CQL_OP_EVENT = 0x0C,
    CQL_OP_AUTH_CHALLENGE = 0x0E,
    CQL_OP_AUTH_RESPONSE = 0x0F,
    CQL_OP_AUTH_SUCCESS = 0x10
};

#define CQL_HEADER_LEN          9
#define CQL_VERSION_REQUEST     0x04
#define CQL_VERSION_RESPONSE    0x84
#define CQL_FLAG_COMPRESSION    0x01
#define CQL_FLAG_TRACING        0x02
#define CQL_FLAG_CUSTOM_PAYLOAD 0x04
#define CQL_FLAG_WARNING        0x08

/* A received frame; body points into buf past any tracing id, warnings or payload. */
typedef struct cql_frame {
    uint8_t opcode;
    int16_t stream;
    uint8_t *buf;
    const uint8_t *body;
    size_t len;
} cql_frame;

void cql_frame_free(cql_frame *f);

/* A bounds-checked reader over a frame body: every cql_rd_* returns false past the end. */
typedef struct cql_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
} cql_rd;

bool cql_rd_raw(cql_rd *r, size_t n, const uint8_t **out_or_null);
bool cql_rd_u16(cql_rd *r, uint16_t *v);
bool cql_rd_i32(cql_rd *r, int32_t *v);
/* [string]: u16 length then bytes. */
bool cql_rd_string(cql_rd *r, const uint8_t **p, size_t *n);
/* [bytes]: i32 length then bytes; a negative length is null. */
bool cql_rd_bytes(cql_rd *r, cql_value *v);
/* Skips a column type [option], whose size depends on its (possibly nested) kind. */
bool cql_rd_option(cql_rd *r, int depth);

/* A growing request frame; the header's room is reserved at the front. An append that
 * runs out of memory sets oom, and the request is refused when it is sent. */
typedef struct cql_wb {
    buf b;
    bool oom;
} cql_wb;

void cql_wb_init(cql_wb *w);
void cql_wb_put(cql_wb *w, const void *data, size_t n);
void cql_wb_u8(cql_wb *w, uint8_t v);
void cql_wb_u16(cql_wb *w, uint16_t v);
void cql_wb_i32(cql_wb *w, int32_t v);
/* [string]; callers keep s under 64 KiB. */
void cql_wb_string(cql_wb *w, const char *s);
/* Request bodies may hold the password: wiped before they are freed. */
void cql_wb_free(cql_wb *w);

#endif
