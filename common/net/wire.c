#include "net/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What unpacking costs beyond the bytes themselves, per allocation (malloc's own
 * overhead, rounded up), per element of a repeated field, and per field occurrence
 * (protobuf-c keeps a 32-byte record of each while it scans a message). */
#define WALK_ALLOC_COST 32
#define WALK_ELEM_COST  8
#define WALK_FIELD_COST 32
#define WALK_MAX_DEPTH  16
#define WALK_PATH_MAX   160

typedef struct walk {
    const char *what; /* "request" or "response" */
    size_t cost;      /* what unpacking will allocate, about */
    cairn_err *e;
} walk;

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int walk_message(walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                        const char *path, int depth);

/* One length-delimited field: a string is checked for NUL bytes, a message walked. */
static int walk_bytes(walk *w, const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n,
                      const char *path, int depth)
{
    char sub[WALK_PATH_MAX];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f ? f->name : "?");
    if (!f) { /* unknown fields are kept, copied */
        w->cost += n + WALK_ALLOC_COST;
        return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        w->cost += WALK_ELEM_COST;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (memchr(p, 0, n))
            return err_set(w->e, CAIRN_EPROTO, "%s field %s holds a NUL byte", w->what, sub);
        w->cost += n + 1 + WALK_ALLOC_COST;
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        w->cost += n + WALK_ALLOC_COST;
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return walk_message(w, f->descriptor, p, n, sub, depth + 1);
    default: /* packed scalars: at most one element per byte */
        w->cost += n * WALK_ELEM_COST;
        return 0;
    }
}

/* Walks the encoded message as protobuf-c will unpack it, which keeps only the bytes
 * before the first NUL of a string: a name that says one thing to the checks and
 * another to the sender must not get through. */
static int walk_message(walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                        const char *path, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return err_set(w->e, CAIRN_EPROTO, "%s nests messages too deeply", w->what);
    w->cost += d->sizeof_message + WALK_ALLOC_COST;
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, v;
        if (read_varint(&p, end, &tag) != 0)
            return err_set(w->e, CAIRN_EPROTO, "undecodable %s", w->what);
        const ProtobufCFieldDescriptor *f =
            tag >> 3 <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                : NULL;
        size_t skip = 0;
        w->cost += WALK_FIELD_COST;
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v) != 0)
                return err_set(w->e, CAIRN_EPROTO, "undecodable %s", w->what);
            break;
        case 1:
            skip = 8;
            break;
        case 5:
            skip = 4;
            break;
        case 2:
            if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return err_set(w->e, CAIRN_EPROTO, "undecodable %s", w->what);
            if (walk_bytes(w, f, p, (size_t)v, path, depth) != 0)
                return w->e->code;
            skip = (size_t)v;
            break;
        default: /* groups, which cairn's messages never use */
            return err_set(w->e, CAIRN_EPROTO, "undecodable %s", w->what);
        }
        if (skip > (size_t)(end - p))
            return err_set(w->e, CAIRN_EPROTO, "undecodable %s", w->what);
        p += skip;
        if (f && f->label == PROTOBUF_C_LABEL_REPEATED && (tag & 7) != 2)
            w->cost += WALK_ELEM_COST;
        if (w->cost > WIRE_MAX_UNPACKED)
            return err_set(w->e, CAIRN_EPROTO,
                           "%s of %zu bytes would take more than %u MiB to decode: refused",
                           w->what, len, WIRE_MAX_UNPACKED >> 20);
    }
    return 0;
}

int wire_check_encoded(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                       const char *what, cairn_err *e)
{
    if (len > WIRE_MAX_MSG)
        return err_set(e, CAIRN_EPROTO, "%s of %zu bytes exceeds the %u-byte limit", what, len,
                       WIRE_MAX_MSG);
    walk w = {what, 0, e};
    return walk_message(&w, d, buf, len, "", 0);
}

int wire_pack_request(Cairn__Rpc__Request *req, const char *cluster, uint64_t request_id,
                      uint8_t **buf, size_t *len, cairn_err *e)
{
    req->version = WIRE_VERSION;
    req->cluster = (char *)cluster;
    req->request_id = request_id;
    size_t n = cairn__rpc__request__get_packed_size(req);
    if (n > WIRE_MAX_MSG)
        return err_set(e, CAIRN_EINVAL, "request of %zu bytes exceeds the %u-byte limit", n,
                       WIRE_MAX_MSG);
    *buf = malloc(n ? n : 1);
    if (!*buf)
        return err_set(e, CAIRN_ENOMEM, "out of memory packing a request");
    *len = cairn__rpc__request__pack(req, *buf);
    return 0;
}

static int check_envelope(uint32_t version, const char *their_cluster, const char *cluster,
                          const char *what, cairn_err *e)
{
    if (version != WIRE_VERSION)
        return err_set(e, CAIRN_EPROTO,
                       "%s speaks protocol version %u, this side version %u: install the same "
                       "cairn release on the coordinator and every agent",
                       what, version, WIRE_VERSION);
    if (strcmp(their_cluster, cluster) != 0)
        return err_set(e, CAIRN_EMISMATCH,
                       "%s belongs to cluster '%.64s', this side to '%s': check the `cluster` "
                       "setting of both configurations",
                       what, their_cluster, cluster);
    return 0;
}

int wire_unpack_request(const uint8_t *buf, size_t len, const char *cluster,
                        Cairn__Rpc__Request **out, cairn_err *e)
{
    *out = NULL;
    int rc = wire_check_encoded(&cairn__rpc__request__descriptor, buf, len, "request", e);
    if (rc)
        return rc;
    *out = cairn__rpc__request__unpack(NULL, len, buf);
    if (!*out)
        return err_set(e, CAIRN_EPROTO, "undecodable request of %zu bytes", len);
    return check_envelope((*out)->version, (*out)->cluster, cluster, "the coordinator", e);
}

int wire_pack_response(Cairn__Rpc__Response *resp, const char *cluster, uint64_t request_id,
                       const cairn_err *st, uint8_t **buf, size_t *len, cairn_err *e)
{
    Cairn__Rpc__Status status = CAIRN__RPC__STATUS__INIT;
    status.code = st ? st->code : 0;
    status.message = (st && st->code) ? (char *)st->msg : NULL;
    resp->version = WIRE_VERSION;
    resp->cluster = (char *)cluster;
    resp->request_id = request_id;
    resp->status = &status;
    if (status.code)
        resp->result_case = CAIRN__RPC__RESPONSE__RESULT__NOT_SET;
    size_t n = cairn__rpc__response__get_packed_size(resp);
    *buf = malloc(n ? n : 1);
    if (!*buf) {
        resp->status = NULL;
        return err_set(e, CAIRN_ENOMEM, "out of memory packing a response");
    }
    *len = cairn__rpc__response__pack(resp, *buf);
    resp->status = NULL;
    return 0;
}

int wire_unpack_response(const uint8_t *buf, size_t len, const char *cluster, uint64_t request_id,
                         Cairn__Rpc__Response **out, cairn_err *e)
{
    *out = NULL;
    int rc = wire_check_encoded(&cairn__rpc__response__descriptor, buf, len, "response", e);
    if (rc)
        return rc;
    *out = cairn__rpc__response__unpack(NULL, len, buf);
    if (!*out)
        return err_set(e, CAIRN_EPROTO, "undecodable response of %zu bytes", len);
    rc = check_envelope((*out)->version, (*out)->cluster, cluster, "the agent", e);
    if (rc == 0 && (*out)->request_id != request_id)
        rc = err_set(e, CAIRN_EPROTO, "response to request %llu arrived for request %llu",
                     (unsigned long long)(*out)->request_id, (unsigned long long)request_id);
    if (rc == 0 && (*out)->status->code != 0) {
        int code = (*out)->status->code;
        if (code > 0 || code < CAIRN_EMISMATCH)
            code = CAIRN_EREMOTE;
        rc = err_set(e, code, "%s",
                     (*out)->status->message ? (*out)->status->message : err_name(code));
    }
    if (rc) {
        cairn__rpc__response__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}
