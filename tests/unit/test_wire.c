/* Envelope encoding and decoding: versions, cluster names, request ids, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/wire.h"

static void request_round_trip(void **state)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__SnapshotRequest sr = CAIRN__RPC__SNAPSHOT_REQUEST__INIT;
    sr.tag = "t1";
    rq.op_case = CAIRN__RPC__REQUEST__OP_SNAPSHOT;
    rq.snapshot = &sr;
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_request(&rq, "prod", 42, &buf, &len, &e), 0);
    Cairn__Rpc__Request *out = NULL;
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), 0);
    assert_int_equal(out->version, WIRE_VERSION);
    assert_int_equal(out->request_id, 42);
    assert_string_equal(out->cluster, "prod");
    assert_int_equal(out->op_case, CAIRN__RPC__REQUEST__OP_SNAPSHOT);
    assert_string_equal(out->snapshot->tag, "t1");
    cairn__rpc__request__free_unpacked(out, NULL);
    free(buf);
}

static void request_other_cluster_refused(void **state)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_request(&rq, "staging", 7, &buf, &len, &e), 0);
    Cairn__Rpc__Request *out = NULL;
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), CAIRN_EMISMATCH);
    assert_non_null(strstr(e.msg, "staging"));
    assert_non_null(strstr(e.msg, "prod"));
    /* Still decoded, so the agent can answer with the request id. */
    assert_non_null(out);
    assert_int_equal(out->request_id, 7);
    cairn__rpc__request__free_unpacked(out, NULL);
    free(buf);
}

static void request_other_version_refused(void **state)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.cluster = "prod";
    rq.version = WIRE_VERSION + 1;
    size_t len = cairn__rpc__request__get_packed_size(&rq);
    uint8_t *buf = malloc(len);
    cairn__rpc__request__pack(&rq, buf);
    Cairn__Rpc__Request *out = NULL;
    cairn_err e;
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "protocol version"));
    cairn__rpc__request__free_unpacked(out, NULL);
    free(buf);
}

static void garbage_is_a_protocol_error(void **state)
{
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    Cairn__Rpc__Request *out = NULL;
    cairn_err e;
    assert_int_equal(wire_unpack_request(junk, sizeof(junk), "prod", &out, &e), CAIRN_EPROTO);
    assert_null(out);
    Cairn__Rpc__Response *resp = NULL;
    assert_int_equal(wire_unpack_response(junk, sizeof(junk), "prod", 1, &resp, &e), CAIRN_EPROTO);
    assert_null(resp);
    /* A truncated valid message is refused too. */
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_pack_request(&rq, "prod", 9, &buf, &len, &e), 0);
    assert_int_equal(wire_unpack_request(buf, len / 2, "prod", &out, &e), CAIRN_EPROTO);
    free(buf);
}

static void response_status_becomes_error(void **state)
{
    Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
    cairn_err st;
    err_set(&st, CAIRN_ENOSPC, "repository /x is full");
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_response(&resp, "prod", 5, &st, &buf, &len, &e), 0);
    Cairn__Rpc__Response *out = NULL;
    assert_int_equal(wire_unpack_response(buf, len, "prod", 5, &out, &e), CAIRN_ENOSPC);
    assert_string_equal(e.msg, "repository /x is full");
    assert_null(out);
    /* The wrong request id is refused: it is someone else's answer. */
    assert_int_equal(wire_unpack_response(buf, len, "prod", 6, &out, &e), CAIRN_EPROTO);
    free(buf);
}

static void response_success_carries_result(void **state)
{
    Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
    Cairn__Rpc__SnapshotResult sr = CAIRN__RPC__SNAPSHOT_RESULT__INIT;
    sr.time_ms = 1234;
    resp.result_case = CAIRN__RPC__RESPONSE__RESULT_SNAPSHOT;
    resp.snapshot = &sr;
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_response(&resp, "prod", 5, NULL, &buf, &len, &e), 0);
    Cairn__Rpc__Response *out = NULL;
    assert_int_equal(wire_unpack_response(buf, len, "prod", 5, &out, &e), 0);
    assert_int_equal(out->snapshot->time_ms, 1234);
    cairn__rpc__response__free_unpacked(out, NULL);
    /* A response of another cluster is refused. */
    assert_int_equal(wire_unpack_response(buf, len, "other", 5, &out, &e), CAIRN_EMISMATCH);
    free(buf);
}

/* A status code this side does not know is the agent's failure, with its message; a
 * failure without a message gets the code's name. */
static void response_unknown_status(void **state)
{
    static const struct {
        int code;
        const char *msg;
        int want;
        const char *says;
    } cases[] = {
        {5, "odd", CAIRN_EREMOTE, "odd"},
        {-99, "newer", CAIRN_EREMOTE, "newer"},
        {CAIRN_EBUSY, NULL, CAIRN_EBUSY, "busy"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
        Cairn__Rpc__Status st = CAIRN__RPC__STATUS__INIT;
        st.code = cases[i].code;
        st.message = (char *)cases[i].msg;
        resp.version = WIRE_VERSION;
        resp.cluster = "prod";
        resp.request_id = 9;
        resp.status = &st;
        uint8_t buf[256];
        size_t len = cairn__rpc__response__pack(&resp, buf);
        Cairn__Rpc__Response *out = NULL;
        cairn_err e;
        assert_int_equal(wire_unpack_response(buf, len, "prod", 9, &out, &e), cases[i].want);
        assert_string_equal(e.msg, cases[i].says);
        assert_null(out);
    }
}

/* A request over the limit is refused before anything is sent. */
static void request_too_large(void **state)
{
    size_t n = WIRE_MAX_MSG + 1;
    char *cluster = malloc(n + 1);
    memset(cluster, 'c', n);
    cluster[n] = '\0';
    Cairn__Rpc__Request req = CAIRN__RPC__REQUEST__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_err e;
    assert_int_equal(wire_pack_request(&req, cluster, 1, &buf, &len, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "exceeds"));
    assert_null(buf);
    free(cluster);
}

/* A string that protobuf-c would cut at a NUL byte is refused, naming the field. */
static void request_nul_in_string_refused(void **state)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__SnapshotRequest sr = CAIRN__RPC__SNAPSHOT_REQUEST__INIT;
    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT, *tp = &t;
    sr.tag = "okayXx";
    t.keyspace = "ks";
    t.name = "tbY";
    sr.tables = &tp;
    sr.n_tables = 1;
    rq.op_case = CAIRN__RPC__REQUEST__OP_SNAPSHOT;
    rq.snapshot = &sr;
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_request(&rq, "prod", 1, &buf, &len, &e), 0);
    /* Packing stops at the C string's end, so the NUL goes in afterwards. */
    uint8_t *x = memmem(buf, len, "okayXx", 6);
    assert_non_null(x);
    x[4] = 0;
    Cairn__Rpc__Request *out = (Cairn__Rpc__Request *)1;
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), CAIRN_EPROTO);
    assert_null(out);
    assert_string_equal(e.msg, "request field snapshot.tag holds a NUL byte");
    x[4] = 'X';
    uint8_t *y = memmem(buf, len, "tbY", 3);
    assert_non_null(y);
    y[2] = 0; /* inside a repeated sub-message */
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), CAIRN_EPROTO);
    assert_string_equal(e.msg, "request field snapshot.tables.name holds a NUL byte");
    y[2] = 'Y';
    assert_int_equal(wire_unpack_request(buf, len, "prod", &out, &e), 0);
    cairn__rpc__request__free_unpacked(out, NULL);
    free(buf);
}

static void response_nul_in_string_refused(void **state)
{
    Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
    uint8_t *buf;
    size_t len;
    cairn_err e, st;
    err_set(&st, CAIRN_EIO, "disk QQ broke");
    assert_int_equal(wire_pack_response(&resp, "prod", 5, &st, &buf, &len, &e), 0);
    uint8_t *x = memmem(buf, len, "QQ", 2);
    assert_non_null(x);
    x[0] = 0;
    Cairn__Rpc__Response *out = NULL;
    assert_int_equal(wire_unpack_response(buf, len, "prod", 5, &out, &e), CAIRN_EPROTO);
    assert_null(out);
    assert_string_equal(e.msg, "response field status.message holds a NUL byte");
    free(buf);
}

/* Millions of empty repeated messages would take many times their size to unpack. */
static void request_costly_to_unpack_refused(void **state)
{
    size_t n = 4u << 20; /* 4 Mi empty tables, 2 bytes each */
    size_t len = 2 * n + 16;
    uint8_t *buf = malloc(len), *p = buf;
    assert_non_null(buf);
    *p++ = 0x08; /* version = 1 */
    *p++ = 1;
    *p++ = 0x12; /* cluster = "prod" */
    *p++ = 4;
    memcpy(p, "prod", 4);
    p += 4;
    *p++ = 0x18; /* request_id = 1 */
    *p++ = 1;
    /* flush = 11, length-delimited: a FlushRequest of n empty `tables` (field 1). */
    size_t body = 2 * n;
    *p++ = 0x5a;
    for (size_t v = body;; v >>= 7) {
        *p++ = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        *p++ = 0x0a;
        *p++ = 0;
    }
    cairn_err e;
    assert_int_equal(
        wire_check_encoded(&cairn__rpc__request__descriptor, buf, (size_t)(p - buf), "request", &e),
        CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "MiB to decode"));
    Cairn__Rpc__Request *out = NULL;
    assert_int_equal(wire_unpack_request(buf, (size_t)(p - buf), "prod", &out, &e), CAIRN_EPROTO);
    assert_null(out);
    free(buf);
}

/* Truncated lengths and groups are refused before protobuf-c sees them. */
static void request_malformed_refused(void **state)
{
    static const uint8_t overlong[] = {0x12, 0x7f, 'p'};
    static const uint8_t group[] = {0x0b, 0x0c};
    cairn_err e;
    assert_int_equal(wire_check_encoded(&cairn__rpc__request__descriptor, overlong,
                                        sizeof(overlong), "request", &e),
                     CAIRN_EPROTO);
    assert_int_equal(
        wire_check_encoded(&cairn__rpc__request__descriptor, group, sizeof(group), "request", &e),
        CAIRN_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_round_trip),
        cmocka_unit_test(request_other_cluster_refused),
        cmocka_unit_test(request_other_version_refused),
        cmocka_unit_test(garbage_is_a_protocol_error),
        cmocka_unit_test(response_status_becomes_error),
        cmocka_unit_test(response_success_carries_result),
        cmocka_unit_test(response_unknown_status),
        cmocka_unit_test(request_too_large),
        cmocka_unit_test(request_nul_in_string_refused),
        cmocka_unit_test(response_nul_in_string_refused),
        cmocka_unit_test(request_costly_to_unpack_refused),
        cmocka_unit_test(request_malformed_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
