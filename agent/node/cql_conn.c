#include "node/cql_conn.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"
#include "base/log.h"
#include "base/text.h"
#include "node/cql_io.h"

#define MAX_CREDENTIAL 4096

enum {
    ERR_BAD_CREDENTIALS = 0x0100,
    ERR_OVERLOADED = 0x1001,
    ERR_BOOTSTRAPPING = 0x1002,
};

struct cql_conn {
    cql_io *io;
    long timeout_ms;
    int16_t stream;
    bool broken;
    int32_t last_error; /* the code of the last ERROR answer to a query, 0: none */
    char peer[300];
};

/* Marks the connection unusable: its position in the byte stream is no longer known. */
static int broken(cql_conn *c, cairn_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int broken(cql_conn *c, cairn_err *e, int code, const char *fmt, ...)
{
    c->broken = true;
    if (!e)
        return code;
    char msg[CAIRN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(e, code, "%s", msg);
}

int cql_malformed(cql_conn *c, cairn_err *e, const char *what)
{
    return broken(c, e, CAIRN_EPROTO, "ScyllaDB at %s sent a malformed CQL frame: %s", c->peer,
                  what);
}

/* Sends (out) or receives all n bytes at p by deadline; a failure breaks c. */
static int xfer(cql_conn *c, bool out, uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    int rc = cql_io_xfer(c->io, out, p, n, deadline, e);
    if (rc < 0)
        c->broken = true;
    return rc;
}

/* Skips what the frame flags put before the body proper, logging server warnings. */
static int strip_extras(cql_conn *c, uint8_t flags, cql_rd *r, cairn_err *e)
{
    const uint8_t *p;
    size_t n;
    uint16_t count;
    if ((flags & CQL_FLAG_TRACING) && !cql_rd_raw(r, 16, NULL))
        return cql_malformed(c, e, "truncated tracing id");
    if (flags & CQL_FLAG_WARNING) {
        if (!cql_rd_u16(r, &count))
            return cql_malformed(c, e, "truncated warnings");
        for (uint16_t i = 0; i < count; i++) {
            if (!cql_rd_string(r, &p, &n))
                return cql_malformed(c, e, "truncated warning");
            char msg[512];
            text_printable(p, n, msg, sizeof(msg));
            log_warn("ScyllaDB at %s warned: %s", c->peer, msg);
        }
    }
    if (flags & CQL_FLAG_CUSTOM_PAYLOAD) {
        cql_value v;
        if (!cql_rd_u16(r, &count))
            return cql_malformed(c, e, "truncated custom payload");
        for (uint16_t i = 0; i < count; i++)
            if (!cql_rd_string(r, &p, &n) || !cql_rd_bytes(r, &v))
                return cql_malformed(c, e, "truncated custom payload");
    }
    return 0;
}

static int recv_frame(cql_conn *c, cql_frame *f, long long deadline, cairn_err *e)
{
    uint8_t h[CQL_HEADER_LEN];
    int rc = xfer(c, false, h, sizeof(h), deadline, e);
    if (rc < 0)
        return rc;
    if (h[0] != CQL_VERSION_RESPONSE)
        return broken(c, e, CAIRN_EPROTO,
                      "ScyllaDB at %s answered with CQL frame version 0x%02x; cairn speaks "
                      "protocol v4 (is %s really ScyllaDB's CQL port?)",
                      c->peer, h[0], c->peer);
    if (h[1] & CQL_FLAG_COMPRESSION)
        return cql_malformed(c, e, "compressed frame although no compression was negotiated");
    uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
    if (len > CQL_MAX_FRAME) {
        char what[96];
        snprintf(what, sizeof(what), "body length %u exceeds the %u MiB limit", len,
                 CQL_MAX_FRAME >> 20);
        return cql_malformed(c, e, what);
    }
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        return broken(c, e, CAIRN_ENOMEM, "out of memory for a %u-byte CQL frame", len);
    rc = xfer(c, false, body, len, deadline, e);
    cql_rd r = {body, len, 0};
    if (rc == 0)
        rc = strip_extras(c, h[1], &r, e);
    if (rc < 0) {
        free(body);
        return rc;
    }
    f->opcode = h[4];
    f->stream = (int16_t)(uint16_t)(h[2] << 8 | h[3]);
    f->buf = body;
    f->body = body + r.off;
    f->len = len - r.off;
    return 0;
}

/* Sends the request in w and returns its response, skipping server events. */
int cql_roundtrip(cql_conn *c, uint8_t opcode, cql_wb *w, cql_frame *f, cairn_err *e)
{
    memset(f, 0, sizeof(*f));
    if (c->broken)
        return err_set(e, CAIRN_ECONN,
                       "the CQL connection to ScyllaDB at %s failed earlier; reconnect", c->peer);
    if (w->oom)
        return err_set(e, CAIRN_ENOMEM, "out of memory building a CQL request");
    CAIRN_ASSERT(w->b.len >= CQL_HEADER_LEN); /* cql_wb_init reserved the header */
    size_t body = w->b.len - CQL_HEADER_LEN;
    if (body > CQL_MAX_FRAME)
        return err_set(e, CAIRN_EINVAL, "CQL request of %zu bytes is too large", body);
    c->stream = (int16_t)(c->stream % 32767 + 1);
    uint8_t *h = w->b.data;
    h[0] = CQL_VERSION_REQUEST;
    h[1] = 0;
    h[2] = (uint8_t)((uint16_t)c->stream >> 8);
    h[3] = (uint8_t)c->stream;
    h[4] = opcode;
    h[5] = (uint8_t)(body >> 24);
    h[6] = (uint8_t)(body >> 16);
    h[7] = (uint8_t)(body >> 8);
    h[8] = (uint8_t)body;
    long long deadline = cql_io_now_ms() + c->timeout_ms;
    int rc = xfer(c, true, w->b.data, w->b.len, deadline, e);
    while (rc == 0) {
        rc = recv_frame(c, f, deadline, e);
        if (rc < 0)
            return rc;
        if (f->opcode == CQL_OP_EVENT) {
            cql_frame_free(f);
            continue;
        }
        if (f->stream != c->stream) {
            char what[96];
            snprintf(what, sizeof(what), "answer on stream %d to a request on stream %d", f->stream,
                     c->stream);
            cql_frame_free(f);
            return cql_malformed(c, e, what);
        }
        return 0;
    }
    return rc;
}

static int server_error_code(int32_t code)
{
    switch (code) {
    case ERR_BAD_CREDENTIALS:
    case CQL_ERR_UNAUTHORIZED:
        return CAIRN_EAUTH;
    case ERR_OVERLOADED:
    case ERR_BOOTSTRAPPING:
        return CAIRN_EBUSY;
    default:
        return CAIRN_EREMOTE;
    }
}

/* Parses an ERROR frame into *code and msg; the frame stays intact on failure. */
static int parse_error(cql_conn *c, const cql_frame *f, int32_t *code, char *msg, size_t cap,
                       cairn_err *e)
{
    cql_rd r = {f->body, f->len, 0};
    const uint8_t *p;
    size_t n;
    if (!cql_rd_i32(&r, code) || !cql_rd_string(&r, &p, &n))
        return cql_malformed(c, e, "truncated ERROR");
    text_printable(p, n, msg, cap);
    return 0;
}

/* Replaces the content of every single-quoted span of msg with one '*': ScyllaDB
 * quotes back the tokens it refuses, and a statement's secret (a role's salted hash)
 * is a string literal. In place: the text never grows. */
static void redact_quoted(char *msg)
{
    bool inside = false;
    size_t span = 0;
    char *out = msg;
    for (const char *p = msg; *p; p++) {
        if (*p != '\'') {
            if (!inside)
                *out++ = *p;
            span++;
            continue;
        }
        if (inside && span)
            *out++ = '*';
        *out++ = '\'';
        inside = !inside;
        span = 0;
    }
    *out = '\0';
}

int cql_server_error(cql_conn *c, const cql_frame *f, const char *what, bool redact, cairn_err *e)
{
    int32_t code = 0;
    char msg[768];
    int rc = parse_error(c, f, &code, msg, sizeof(msg), e);
    if (rc < 0)
        return rc;
    c->last_error = code;
    if (redact)
        redact_quoted(msg);
    return err_set(e, server_error_code(code), "ScyllaDB at %s refused %s with error 0x%04x: %s",
                   c->peer, what, (unsigned)code, msg);
}

int cql_unexpected(cql_conn *c, const cql_frame *f, const char *what, cairn_err *e)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "opcode 0x%02x in answer to %s", f->opcode, what);
    return cql_malformed(c, e, msg);
}

static int authenticate(cql_conn *c, const cql_frame *challenge, const char *user, const char *pass,
                        cairn_err *e)
{
    cql_rd r = {challenge->body, challenge->len, 0};
    const uint8_t *p;
    size_t n;
    if (!cql_rd_string(&r, &p, &n))
        return cql_malformed(c, e, "truncated AUTHENTICATE");
    char authenticator[256];
    text_printable(p, n, authenticator, sizeof(authenticator));
    if (!user || !*user)
        return err_set(e, CAIRN_EAUTH,
                       "ScyllaDB requires a password: set scylla.username and scylla.password in "
                       "the agent configuration");
    if (!pass)
        pass = "";
    size_t ulen = strlen(user), plen = strlen(pass);
    if (ulen > MAX_CREDENTIAL || plen > MAX_CREDENTIAL)
        return err_set(e, CAIRN_EINVAL, "CQL user name or password longer than %d bytes",
                       MAX_CREDENTIAL);

    /* SASL PLAIN: authorization id (empty), NUL, user, NUL, password. */
    cql_wb w;
    cql_wb_init(&w);
    cql_wb_i32(&w, (int32_t)(ulen + plen + 2));
    cql_wb_u8(&w, 0);
    cql_wb_put(&w, user, ulen);
    cql_wb_u8(&w, 0);
    cql_wb_put(&w, pass, plen);
    cql_frame f;
    int rc = cql_roundtrip(c, CQL_OP_AUTH_RESPONSE, &w, &f, e);
    cql_wb_free(&w);
    if (rc < 0)
        return rc;
    int32_t code = 0;
    char msg[768];
    switch (f.opcode) {
    case CQL_OP_AUTH_SUCCESS:
        break;
    case CQL_OP_AUTH_CHALLENGE:
        rc = broken(c, e, CAIRN_EPROTO,
                    "ScyllaDB at %s (authenticator %s) asked for another SASL round; cairn "
                    "supports only username/password (PLAIN) authentication",
                    c->peer, authenticator);
        break;
    case CQL_OP_ERROR:
        rc = parse_error(c, &f, &code, msg, sizeof(msg), e);
        if (rc == 0 && code == ERR_BAD_CREDENTIALS)
            rc = err_set(e, CAIRN_EAUTH,
                         "ScyllaDB at %s refused the login of user '%s': %s (check "
                         "scylla.username and scylla.password in the agent configuration)",
                         c->peer, user, msg);
        else if (rc == 0)
            rc = cql_server_error(c, &f, "the login", false, e);
        break;
    default:
        rc = cql_unexpected(c, &f, "AUTH_RESPONSE", e);
    }
    cql_frame_free(&f);
    return rc;
}

static int handshake(cql_conn *c, const char *user, const char *pass, cairn_err *e)
{
    cql_wb w;
    cql_wb_init(&w);
    cql_wb_u16(&w, 1);
    cql_wb_string(&w, "CQL_VERSION");
    cql_wb_string(&w, "3.0.0");
    cql_frame f;
    int rc = cql_roundtrip(c, CQL_OP_STARTUP, &w, &f, e);
    cql_wb_free(&w);
    if (rc == CAIRN_ECONN && !cql_io_tls(c->io) && e) {
        /* A TLS server takes a plain STARTUP for a bad handshake: it closes, perhaps
         * after a 7-byte alert (less than a frame header), or resets. */
        char was[CAIRN_ERR_MSG_MAX];
        snprintf(was, sizeof(was), "%s", e->msg);
        return err_set(e, rc,
                       "%.600s at STARTUP: if the node has client_encryption_options enabled, set "
                       "scylla.cql_tls in the agent configuration",
                       was);
    }
    if (rc < 0)
        return rc;
    switch (f.opcode) {
    case CQL_OP_READY:
        break;
    case CQL_OP_AUTHENTICATE:
        rc = authenticate(c, &f, user, pass, e);
        break;
    case CQL_OP_ERROR:
        rc = cql_server_error(c, &f, "STARTUP", false, e);
        break;
    default:
        rc = cql_unexpected(c, &f, "STARTUP", e);
    }
    cql_frame_free(&f);
    return rc;
}

int cql_connect(cql_conn **out, const char *host, int port, const char *user_or_null,
                const char *password_or_null, const cql_tls *tls_or_null, long timeout_ms,
                cairn_err *e)
{
    *out = NULL;
    if (!host || !*host || port <= 0 || port > 65535)
        return err_set(e, CAIRN_ECONFIG, "invalid CQL address '%s' port %d", host ? host : "",
                       port);
    if (timeout_ms <= 0)
        return err_set(e, CAIRN_EINVAL, "CQL timeout must be positive, got %ld ms", timeout_ms);
    cql_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    c->timeout_ms = timeout_ms;
    snprintf(c->peer, sizeof(c->peer), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    int rc = cql_io_open(&c->io, host, port, c->peer, tls_or_null, timeout_ms, e);
    if (!rc)
        rc = handshake(c, user_or_null, password_or_null, e);
    if (rc < 0) {
        cql_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cql_close(cql_conn *c)
{
    if (!c)
        return;
    cql_io_close(c->io);
    free(c);
}

int32_t cql_conn_last_error(const cql_conn *c)
{
    return c->last_error;
}
