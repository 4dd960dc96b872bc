#include "job/start.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "base/hex.h"

/* A deep copy through the encoding: the copy owns every byte, unpack-compatible.
 * digest receives the hex SHA-256 of the encoding, which names the request: the same
 * fields give the same bytes, so an identical request re-attaches and another does
 * not. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *m, char digest[JOB_DIGEST_MAX])
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ProtobufCMessage *copy = NULL;
    if (buf && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        protobuf_c_message_pack(m, buf);
        EVP_DigestUpdate(md, buf, len);
        hex_sha256_final(md, digest);
        copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    }
    EVP_MD_CTX_free(md);
    free(buf);
    return copy;
}

static void job_request_free(void *p)
{
    job_request *r = p;
    if (!r)
        return;
    if (r->rq)
        protobuf_c_message_free_unpacked(r->rq, NULL);
    if (r->extra)
        protobuf_c_message_free_unpacked(r->extra, NULL);
    free(r);
}

void job_request_id(const char *kind, const char *tag, char *id, size_t cap)
{
    snprintf(id, cap, "%s:%s", kind, tag);
}

int job_start_request(jobs *js, const char *kind, const char *tag, const ProtobufCMessage *rq,
                      void *ctx, ProtobufCMessage *extra, job_fn fn, Cairn__Rpc__Response *resp,
                      cairn_err *e)
{
    job_request *r = calloc(1, sizeof(*r));
    if (!r) {
        if (extra)
            protobuf_c_message_free_unpacked(extra, NULL);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    r->ctx = ctx;
    r->extra = extra;
    char digest[JOB_DIGEST_MAX];
    if (!(r->rq = copy_message(rq, digest))) {
        job_request_free(r);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    char id[256];
    job_request_id(kind, tag, id, sizeof(id));
    bool attached;
    int rc = jobs_start(js, id, digest, fn, r, job_request_free, &attached, e);
    return rc ? rc : job_reply(js, id, resp, e);
}

int job_cancel_reply(jobs *js, const char *id, Cairn__Rpc__Response *resp, cairn_err *e)
{
    int rc = jobs_cancel(js, id, e);
    return rc ? rc : job_reply(js, id, resp, e);
}

int job_reply(jobs *js, const char *id, Cairn__Rpc__Response *resp, cairn_err *e)
{
    Cairn__Rpc__JobInfo *info = malloc(sizeof(*info));
    if (!info)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = jobs_info(js, id, info, e);
    if (rc) {
        free(info);
        return rc;
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_JOB;
    resp->job = info;
    return 0;
}
