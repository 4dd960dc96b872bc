#include "node/cql.h"

#include "base/log.h"
#include "scylla/names.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    OP_ERROR = 0x00,
    OP_STARTUP = 0x01,
    OP_READY = 0x02,
    OP_AUTHENTICATE = 0x03,
    OP_QUERY = 0x07,
    OP_RESULT = 0x08,
    OP_EVENT = 0x0C,
    OP_AUTH_CHALLENGE = 0x0E,
    OP_AUTH_RESPONSE = 0x0F,
    OP_AUTH_SUCCESS = 0x10
};

enum { RESULT_VOID = 1, RESULT_ROWS = 2, RESULT_SET_KEYSPACE = 3, RESULT_SCHEMA_CHANGE = 5 };

#define HEADER_LEN            9
#define VERSION_REQUEST       0x04
#define VERSION_RESPONSE      0x84
#define FLAG_COMPRESSION      0x01
#define FLAG_TRACING          0x02
#define FLAG_CUSTOM_PAYLOAD   0x04
#define FLAG_WARNING          0x08
#define CONSISTENCY_LOCAL_ONE 0x000A
#define QUERY_PAGE_SIZE       0x04
#define QUERY_PAGING_STATE    0x08
#define ROWS_GLOBAL_SPEC      0x0001
#define ROWS_HAS_MORE_PAGES   0x0002
#define ROWS_NO_METADATA      0x0004
#define PAGE_SIZE             5000
#define MAX_TYPE_DEPTH        32
#define MAX_CREDENTIAL        4096

enum {
    ERR_BAD_CREDENTIALS = 0x0100,
    ERR_OVERLOADED = 0x1001,
    ERR_BOOTSTRAPPING = 0x1002,
    ERR_UNAUTHORIZED = 0x2100
};

struct cql_conn {
    int fd;
    long timeout_ms;
    int16_t stream;
    bool broken;
    char peer[300];
};

/* A received frame; body points into buf past any tracing id, warnings or payload. */
typedef struct frame {
    uint8_t opcode;
    int16_t stream;
    uint8_t *buf;
    const uint8_t *body;
    size_t len;
} frame;

/* A bounds-checked reader over a frame body: every rd_* returns false past the end. */
typedef struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
} rd;

/* A growing request frame; the header's room is reserved at the front. */
typedef struct wb {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool oom;
} wb;

static bool rd_raw(rd *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->off)
        return false;
    if (out)
        *out = r->p + r->off;
    r->off += n;
    return true;
}

static bool rd_u16(rd *r, uint16_t *v)
{
    const uint8_t *p;
    if (!rd_raw(r, 2, &p))
        return false;
    *v = (uint16_t)(p[0] << 8 | p[1]);
    return true;
}

static bool rd_i32(rd *r, int32_t *v)
{
    const uint8_t *p;
    if (!rd_raw(r, 4, &p))
        return false;
    *v = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    return true;
}

/* [string]: u16 length then bytes. */
static bool rd_string(rd *r, const uint8_t **p, size_t *n)
{
    uint16_t len;
    if (!rd_u16(r, &len) || !rd_raw(r, len, p))
        return false;
    *n = len;
    return true;
}

/* [bytes]: i32 length then bytes; a negative length is null. */
static bool rd_bytes(rd *r, cql_value *v)
{
    int32_t len;
    if (!rd_i32(r, &len))
        return false;
    if (len < 0) {
        v->data = NULL;
        v->len = -1;
        return true;
    }
    v->len = len;
    return rd_raw(r, (size_t)len, &v->data);
}

/* Skips a column type [option], whose size depends on its (possibly nested) kind. */
static bool rd_option(rd *r, int depth)
{
    uint16_t id, n;
    const uint8_t *p;
    size_t len;
    if (depth > MAX_TYPE_DEPTH || !rd_u16(r, &id))
        return false;
    switch (id) {
    case 0x0000: /* custom: class name */
        return rd_string(r, &p, &len);
    case 0x0020: /* list */
    case 0x0022: /* set */
        return rd_option(r, depth + 1);
    case 0x0021: /* map */
        return rd_option(r, depth + 1) && rd_option(r, depth + 1);
    case 0x0030: /* user type: keyspace, name, then named fields */
        if (!rd_string(r, &p, &len) || !rd_string(r, &p, &len) || !rd_u16(r, &n))
            return false;
        for (uint16_t i = 0; i < n; i++)
            if (!rd_string(r, &p, &len) || !rd_option(r, depth + 1))
                return false;
        return true;
    case 0x0031: /* tuple */
        if (!rd_u16(r, &n))
            return false;
        for (uint16_t i = 0; i < n; i++)
            if (!rd_option(r, depth + 1))
                return false;
        return true;
    default:
        return id >= 0x0001 && id <= 0x0015;
    }
}

static void wb_put(wb *w, const void *data, size_t n)
{
    if (w->oom)
        return;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void wb_u8(wb *w, uint8_t v)
{
    wb_put(w, &v, 1);
}

static void wb_u16(wb *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    wb_put(w, b, 2);
}

static void wb_i32(wb *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t b[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    wb_put(w, b, 4);
}

/* Callers keep s under 64 KiB. */
static void wb_string(wb *w, const char *s)
{
    size_t n = strlen(s);
    wb_u16(w, (uint16_t)n);
    wb_put(w, s, n);
}

static void wb_init(wb *w)
{
    static const uint8_t header[HEADER_LEN];
    memset(w, 0, sizeof(*w));
    wb_put(w, header, sizeof(header));
}

/* Request bodies may hold the password: wipe them before freeing. */
static void wb_free(wb *w)
{
    if (w->p)
        explicit_bzero(w->p, w->len);
    free(w->p);
    memset(w, 0, sizeof(*w));
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static int malformed(cql_conn *c, cairn_err *e, const char *what)
{
    return broken(c, e, CAIRN_EPROTO, "ScyllaDB at %s sent a malformed CQL frame: %s", c->peer,
                  what);
}

static int wait_io(cql_conn *c, short events, long long deadline, cairn_err *e)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return broken(c, e, CAIRN_ETIMEDOUT,
                          "ScyllaDB at %s did not answer over CQL within %ld ms", c->peer,
                          c->timeout_ms);
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return broken(c, e, CAIRN_EIO, "waiting for ScyllaDB at %s: %s", c->peer,
                          strerror(errno));
    }
}

static int send_all(cql_conn *c, const uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_io(c, POLLOUT, deadline, e);
            if (rc < 0)
                return rc;
            continue;
        }
        return broken(c, e, CAIRN_ECONN, "CQL connection to ScyllaDB at %s broke: %s", c->peer,
                      strerror(errno));
    }
    return 0;
}

static int recv_all(cql_conn *c, uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    while (n > 0) {
        ssize_t k = recv(c->fd, p, n, 0);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k == 0)
            return broken(c, e, CAIRN_ECONN, "ScyllaDB at %s closed the CQL connection", c->peer);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_io(c, POLLIN, deadline, e);
            if (rc < 0)
                return rc;
            continue;
        }
        return broken(c, e, CAIRN_ECONN, "CQL connection to ScyllaDB at %s broke: %s", c->peer,
                      strerror(errno));
    }
    return 0;
}

/* A printable copy of wire text for messages. */
static void printable(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = n < cap - 4 ? n : cap - 4;
    for (size_t i = 0; i < k; i++)
        out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    strcpy(out + k, n > k ? "..." : "");
}

/* Skips what the frame flags put before the body proper, logging server warnings. */
static int strip_extras(cql_conn *c, uint8_t flags, rd *r, cairn_err *e)
{
    const uint8_t *p;
    size_t n;
    uint16_t count;
    if ((flags & FLAG_TRACING) && !rd_raw(r, 16, NULL))
        return malformed(c, e, "truncated tracing id");
    if (flags & FLAG_WARNING) {
        if (!rd_u16(r, &count))
            return malformed(c, e, "truncated warnings");
        for (uint16_t i = 0; i < count; i++) {
            if (!rd_string(r, &p, &n))
                return malformed(c, e, "truncated warning");
            char msg[512];
            printable(p, n, msg, sizeof(msg));
            log_warn("ScyllaDB at %s warned: %s", c->peer, msg);
        }
    }
    if (flags & FLAG_CUSTOM_PAYLOAD) {
        cql_value v;
        if (!rd_u16(r, &count))
            return malformed(c, e, "truncated custom payload");
        for (uint16_t i = 0; i < count; i++)
            if (!rd_string(r, &p, &n) || !rd_bytes(r, &v))
                return malformed(c, e, "truncated custom payload");
    }
    return 0;
}

static int recv_frame(cql_conn *c, frame *f, long long deadline, cairn_err *e)
{
    uint8_t h[HEADER_LEN];
    int rc = recv_all(c, h, sizeof(h), deadline, e);
    if (rc < 0)
        return rc;
    if (h[0] != VERSION_RESPONSE)
        return broken(c, e, CAIRN_EPROTO,
                      "ScyllaDB at %s answered with CQL frame version 0x%02x; cairn speaks "
                      "protocol v4 (is %s really ScyllaDB's CQL port?)",
                      c->peer, h[0], c->peer);
    if (h[1] & FLAG_COMPRESSION)
        return malformed(c, e, "compressed frame although no compression was negotiated");
    uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
    if (len > CQL_MAX_FRAME) {
        char what[96];
        snprintf(what, sizeof(what), "body length %u exceeds the %u MiB limit", len,
                 CQL_MAX_FRAME >> 20);
        return malformed(c, e, what);
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return broken(c, e, CAIRN_ENOMEM, "out of memory for a %u-byte CQL frame", len);
    rc = recv_all(c, buf, len, deadline, e);
    rd r = {buf, len, 0};
    if (rc == 0)
        rc = strip_extras(c, h[1], &r, e);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    f->opcode = h[4];
    f->stream = (int16_t)(uint16_t)(h[2] << 8 | h[3]);
    f->buf = buf;
    f->body = buf + r.off;
    f->len = len - r.off;
    return 0;
}

static void frame_free(frame *f)
{
    free(f->buf);
    f->buf = NULL;
}

/* Sends the request in w and returns its response, skipping server events. */
static int roundtrip(cql_conn *c, uint8_t opcode, wb *w, frame *f, cairn_err *e)
{
    memset(f, 0, sizeof(*f));
    if (c->broken)
        return err_set(e, CAIRN_ECONN,
                       "the CQL connection to ScyllaDB at %s failed earlier; reconnect", c->peer);
    if (w->oom)
        return err_set(e, CAIRN_ENOMEM, "out of memory building a CQL request");
    size_t body = w->len - HEADER_LEN;
    if (body > CQL_MAX_FRAME)
        return err_set(e, CAIRN_EINVAL, "CQL request of %zu bytes is too large", body);
    c->stream = (int16_t)(c->stream % 32767 + 1);
    uint8_t *h = w->p;
    h[0] = VERSION_REQUEST;
    h[1] = 0;
    h[2] = (uint8_t)((uint16_t)c->stream >> 8);
    h[3] = (uint8_t)c->stream;
    h[4] = opcode;
    h[5] = (uint8_t)(body >> 24);
    h[6] = (uint8_t)(body >> 16);
    h[7] = (uint8_t)(body >> 8);
    h[8] = (uint8_t)body;
    long long deadline = now_ms() + c->timeout_ms;
    int rc = send_all(c, w->p, w->len, deadline, e);
    while (rc == 0) {
        rc = recv_frame(c, f, deadline, e);
        if (rc < 0)
            return rc;
        if (f->opcode == OP_EVENT) {
            frame_free(f);
            continue;
        }
        if (f->stream != c->stream) {
            char what[96];
            snprintf(what, sizeof(what), "answer on stream %d to a request on stream %d", f->stream,
                     c->stream);
            frame_free(f);
            return malformed(c, e, what);
        }
        return 0;
    }
    return rc;
}

static int server_error_code(int32_t code)
{
    switch (code) {
    case ERR_BAD_CREDENTIALS:
    case ERR_UNAUTHORIZED:
        return CAIRN_EAUTH;
    case ERR_OVERLOADED:
    case ERR_BOOTSTRAPPING:
        return CAIRN_EBUSY;
    default:
        return CAIRN_EREMOTE;
    }
}

/* Parses an ERROR frame into *code and msg; the frame stays intact on failure. */
static int parse_error(cql_conn *c, const frame *f, int32_t *code, char *msg, size_t cap,
                       cairn_err *e)
{
    rd r = {f->body, f->len, 0};
    const uint8_t *p;
    size_t n;
    if (!rd_i32(&r, code) || !rd_string(&r, &p, &n))
        return malformed(c, e, "truncated ERROR");
    printable(p, n, msg, cap);
    return 0;
}

static int server_error(cql_conn *c, const frame *f, const char *what, cairn_err *e)
{
    int32_t code = 0;
    char msg[768];
    int rc = parse_error(c, f, &code, msg, sizeof(msg), e);
    if (rc < 0)
        return rc;
    return err_set(e, server_error_code(code), "ScyllaDB at %s refused %s with error 0x%04x: %s",
                   c->peer, what, (unsigned)code, msg);
}

static int unexpected(cql_conn *c, const frame *f, const char *what, cairn_err *e)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "opcode 0x%02x in answer to %s", f->opcode, what);
    return malformed(c, e, msg);
}

static int authenticate(cql_conn *c, const frame *challenge, const char *user, const char *pass,
                        cairn_err *e)
{
    rd r = {challenge->body, challenge->len, 0};
    const uint8_t *p;
    size_t n;
    if (!rd_string(&r, &p, &n))
        return malformed(c, e, "truncated AUTHENTICATE");
    char authenticator[256];
    printable(p, n, authenticator, sizeof(authenticator));
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
    wb w;
    wb_init(&w);
    wb_i32(&w, (int32_t)(ulen + plen + 2));
    wb_u8(&w, 0);
    wb_put(&w, user, ulen);
    wb_u8(&w, 0);
    wb_put(&w, pass, plen);
    frame f;
    int rc = roundtrip(c, OP_AUTH_RESPONSE, &w, &f, e);
    wb_free(&w);
    if (rc < 0)
        return rc;
    int32_t code = 0;
    char msg[768];
    switch (f.opcode) {
    case OP_AUTH_SUCCESS:
        break;
    case OP_AUTH_CHALLENGE:
        rc = broken(c, e, CAIRN_EPROTO,
                    "ScyllaDB at %s (authenticator %s) asked for another SASL round; cairn "
                    "supports only username/password (PLAIN) authentication",
                    c->peer, authenticator);
        break;
    case OP_ERROR:
        rc = parse_error(c, &f, &code, msg, sizeof(msg), e);
        if (rc == 0 && code == ERR_BAD_CREDENTIALS)
            rc = err_set(e, CAIRN_EAUTH,
                         "ScyllaDB at %s refused the login of user '%s': %s (check "
                         "scylla.username and scylla.password in the agent configuration)",
                         c->peer, user, msg);
        else if (rc == 0)
            rc = server_error(c, &f, "the login", e);
        break;
    default:
        rc = unexpected(c, &f, "AUTH_RESPONSE", e);
    }
    frame_free(&f);
    return rc;
}

static int handshake(cql_conn *c, const char *user, const char *pass, cairn_err *e)
{
    wb w;
    wb_init(&w);
    wb_u16(&w, 1);
    wb_string(&w, "CQL_VERSION");
    wb_string(&w, "3.0.0");
    frame f;
    int rc = roundtrip(c, OP_STARTUP, &w, &f, e);
    wb_free(&w);
    if (rc < 0)
        return rc;
    switch (f.opcode) {
    case OP_READY:
        break;
    case OP_AUTHENTICATE:
        rc = authenticate(c, &f, user, pass, e);
        break;
    case OP_ERROR:
        rc = server_error(c, &f, "STARTUP", e);
        break;
    default:
        rc = unexpected(c, &f, "STARTUP", e);
    }
    frame_free(&f);
    return rc;
}

/* Connects to one resolved address, waiting at most until deadline. */
static int connect_addr(const struct addrinfo *ai, long long deadline, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            *err = ETIMEDOUT;
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = errno;
            break;
        }
        if (n == 0)
            continue;
        int so = 0;
        socklen_t sl = sizeof(so);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
            so = errno;
        if (so == 0)
            return fd;
        *err = so;
        break;
    }
    close(fd);
    return -1;
}

int cql_connect(cql_conn **out, const char *host, int port, const char *user_or_null,
                const char *password_or_null, long timeout_ms, cairn_err *e)
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
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    snprintf(c->peer, sizeof(c->peer), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        err_set(e, CAIRN_ECONN, "cannot resolve ScyllaDB's CQL host '%s': %s", host,
                gai_strerror(gai));
        free(c);
        return CAIRN_ECONN;
    }
    long long deadline = now_ms() + timeout_ms;
    int err = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
        c->fd = connect_addr(ai, deadline, &err);
    freeaddrinfo(res);
    if (c->fd < 0) {
        int code = err == ETIMEDOUT ? CAIRN_ETIMEDOUT : CAIRN_ECONN;
        err_set(e, code,
                "cannot connect to ScyllaDB's CQL port at %s: %s (is scylla-server running and "
                "native_transport_port set?)",
                c->peer, strerror(err));
        free(c);
        return code;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = handshake(c, user_or_null, password_or_null, e);
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
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/*
 * Walks a Rows result, calling cb per row. *paging receives a malloc'd copy of the
 * paging state when more pages follow, NULL otherwise.
 */
static int rows(cql_conn *c, rd *r, cql_row_cb cb, void *ctx, uint8_t **paging, size_t *plen,
                cairn_err *e)
{
    int32_t flags, ncols, nrows;
    const uint8_t *p;
    size_t n;
    if (!rd_i32(r, &flags) || !rd_i32(r, &ncols) || ncols < 0)
        return malformed(c, e, "bad rows metadata");
    if (flags & ROWS_HAS_MORE_PAGES) {
        cql_value v;
        if (!rd_bytes(r, &v) || v.len <= 0)
            return malformed(c, e, "more pages announced without a paging state");
        if (!(*paging = malloc((size_t)v.len)))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        memcpy(*paging, v.data, (size_t)v.len);
        *plen = (size_t)v.len;
    }
    if (!(flags & ROWS_NO_METADATA)) {
        bool global = flags & ROWS_GLOBAL_SPEC;
        if (global && (!rd_string(r, &p, &n) || !rd_string(r, &p, &n)))
            return malformed(c, e, "truncated table spec");
        for (int32_t i = 0; i < ncols; i++) {
            if (!global && (!rd_string(r, &p, &n) || !rd_string(r, &p, &n)))
                return malformed(c, e, "truncated column table spec");
            if (!rd_string(r, &p, &n) || !rd_option(r, 0))
                return malformed(c, e, "bad column spec");
        }
    }
    if (!rd_i32(r, &nrows) || nrows < 0)
        return malformed(c, e, "bad row count");
    if (nrows == 0)
        return 0;
    /* Every value takes at least its 4-byte length: bound the count before allocating. */
    if (ncols == 0 || (size_t)nrows > (r->len - r->off) / 4 / (size_t)ncols)
        return malformed(c, e, "row count larger than the frame");
    cql_value *cols = calloc((size_t)ncols, sizeof(*cols));
    if (!cols)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0;
    for (int32_t i = 0; i < nrows && rc == 0; i++) {
        for (int32_t j = 0; j < ncols && rc == 0; j++)
            if (!rd_bytes(r, &cols[j]))
                rc = malformed(c, e, "truncated row");
        if (rc == 0 && cb) {
            int crc = cb(ctx, (size_t)ncols, cols, e);
            if (crc < 0)
                rc = crc;
        }
    }
    free(cols);
    return rc;
}

static int result(cql_conn *c, const frame *f, cql_row_cb cb, void *ctx, uint8_t **paging,
                  size_t *plen, cairn_err *e)
{
    rd r = {f->body, f->len, 0};
    int32_t kind;
    if (!rd_i32(&r, &kind))
        return malformed(c, e, "truncated RESULT");
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
        return malformed(c, e, what);
    }
    }
}

int cql_query(cql_conn *c, const char *query, cql_row_cb cb_or_null, void *ctx, cairn_err *e)
{
    if (!c || !query)
        return err_set(e, CAIRN_EINVAL, "no CQL connection or query");
    size_t qlen = strlen(query);
    if (qlen > CQL_MAX_FRAME / 2)
        return err_set(e, CAIRN_EINVAL, "CQL query of %zu bytes is too long", qlen);
    char what[160];
    snprintf(what, sizeof(what), "the query \"%.120s%s\"", query, qlen > 120 ? "..." : "");
    uint8_t *paging = NULL;
    size_t plen = 0;
    int rc = 0;
    do {
        wb w;
        wb_init(&w);
        wb_i32(&w, (int32_t)qlen);
        wb_put(&w, query, qlen);
        wb_u16(&w, CONSISTENCY_LOCAL_ONE);
        wb_u8(&w, QUERY_PAGE_SIZE | (paging ? QUERY_PAGING_STATE : 0));
        wb_i32(&w, PAGE_SIZE);
        if (paging) {
            wb_i32(&w, (int32_t)plen);
            wb_put(&w, paging, plen);
        }
        free(paging);
        paging = NULL;
        frame f;
        rc = roundtrip(c, OP_QUERY, &w, &f, e);
        wb_free(&w);
        if (rc < 0)
            break;
        if (f.opcode == OP_RESULT)
            rc = result(c, &f, cb_or_null, ctx, &paging, &plen, e);
        else if (f.opcode == OP_ERROR)
            rc = server_error(c, &f, what, e);
        else
            rc = unexpected(c, &f, "QUERY", e);
        frame_free(&f);
    } while (rc == 0 && paging);
    free(paging);
    return rc;
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

int cql_describe_schema(cql_conn *c, cql_schema_cb cb, void *ctx, cairn_err *e)
{
    schema_ctx sc = {cb, ctx};
    return cql_query(c, "DESCRIBE SCHEMA WITH INTERNALS", schema_row, &sc, e);
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
    static const char digits[] = "0123456789abcdef";
    id_ctx *ic = ctx;
    if (ic->found)
        return 0;
    if (ncols != 1 || cols[0].len != 16)
        return err_set(e, CAIRN_EPROTO,
                       "system_schema.tables returned a table id that is not a "
                       "16-byte uuid");
    for (int i = 0; i < 16; i++) {
        ic->hex[2 * i] = digits[cols[0].data[i] >> 4];
        ic->hex[2 * i + 1] = digits[cols[0].data[i] & 15];
    }
    ic->hex[32] = '\0';
    ic->found = true;
    return 0;
}

int cql_table_id(cql_conn *c, const char *ks, const char *table, char id32hex[33], cairn_err *e)
{
    id32hex[0] = '\0';
    int rc = name_check(NAME_KEYSPACE, ks, e);
    if (rc == 0)
        rc = name_check(NAME_TABLE, table, e);
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
