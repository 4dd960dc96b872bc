#include "net/wire.h"

#include <stdlib.h>
#include <string.h>

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
    *out = cairn__rpc__response__unpack(NULL, len, buf);
    if (!*out)
        return err_set(e, CAIRN_EPROTO, "undecodable response of %zu bytes", len);
    int rc = check_envelope((*out)->version, (*out)->cluster, cluster, "the agent", e);
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
