/*
 * Tests for agent/node/cql: answers a misbehaving server sends (malformed frames and results, odd
 * handshakes, random bytes), against the in-process fake server of cql_fake.h that answers each
 * request frame with scripted frames and records what it received.
 */
#include "cql_fake.h"

/* Runs one query against a server whose answer is body (a RESULT unless raw). */
static int query_against(buf body, bool raw, cairn_err *e)
{
    fake *f = fake_new();
    script_ready(f);
    step *s = add_step(f, OP_QUERY);
    if (raw) {
        s->out[s->nout++].raw = body;
    } else {
        *answer(s, OP_RESULT) = body;
    }
    s->close = true;
    fake_start(f);
    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    int rc = cql_query(c, "SELECT v FROM ks.t", collect, &r, e);
    if (rc == CAIRN_EPROTO) {
        /* Once the stream is out of step the connection refuses further use. */
        cairn_err e2;
        assert_int_equal(cql_query(c, "SELECT 1", NULL, NULL, &e2), CAIRN_ECONN);
        assert_non_null(strstr(e2.msg, "reconnect"));
    }
    cql_close(c);
    fake_done(f);
    return rc;
}

static void test_malformed_results(void **state)
{
    cairn_err e;
    buf b;

    b = (buf){0};
    put_i32(&b, 2); /* Rows, cut after the flags */
    put_i32(&b, 1);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "malformed CQL frame"));

    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0);
    put_i32(&b, -5); /* negative column count */
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    rows_header(&b, 0, 2, NULL);
    put_i32(&b, 0x7fffffff); /* more rows than bytes */
    put_bytes(&b, "x");
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "row count"));

    b = (buf){0};
    rows_header(&b, 0, 1, NULL);
    put_i32(&b, 1);
    put_i32(&b, 1000); /* value longer than the frame */
    put(&b, "abc", 3);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    rows_header(&b, 0, 2, NULL);
    put_i32(&b, 1);
    put_bytes(&b, "only one value");
    put_bytes(&b, NULL);
    put_bytes(&b, "x"); /* trailing garbage is tolerated; the row is complete */
    assert_int_equal(query_against(b, false, &e), 0);

    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0x0001);
    put_i32(&b, 1);
    put_str(&b, "ks");
    put_str(&b, "t");
    put_str(&b, "deep");
    for (int i = 0; i < 100; i++)
        put_u16(&b, 0x0020); /* list<list<list<...>>> deeper than anyone writes */
    put_u16(&b, 0x0009);
    put_i32(&b, 0);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    rows_header(&b, 0, 1, NULL);
    b.p[b.len - 1] = 0x77; /* unknown type id */
    put_i32(&b, 0);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0x0002 | 0x0004); /* more pages, but an empty paging state */
    put_i32(&b, 1);
    put_i32(&b, 0);
    put_i32(&b, 0);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    put_i32(&b, 4); /* Prepared: not something a QUERY answers */
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);

    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0x0004);
    put_i32(&b, 0); /* rows but no columns */
    put_i32(&b, 1000000);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
}

static void test_malformed_frames(void **state)
{
    cairn_err e;
    buf b;
    static const uint8_t huge[] = {0x84, 0, 0, 2, OP_RESULT, 0x7f, 0xff, 0xff, 0xff};
    static const uint8_t negative[] = {0x84, 0, 0, 2, OP_RESULT, 0x80, 0, 0, 0};
    static const uint8_t old_version[] = {0x83, 0, 0, 2, OP_RESULT, 0, 0, 0, 4, 0, 0, 0, 1};
    static const uint8_t compressed[] = {0x84, 1, 0, 2, OP_RESULT, 0, 0, 0, 4, 0, 0, 0, 1};
    static const uint8_t other_stream[] = {0x84, 0, 0x12, 0x34, OP_RESULT, 0, 0, 0, 4, 0, 0, 0, 1};
    static const uint8_t short_body[] = {0x84, 0, 0, 2, OP_RESULT, 0, 0, 0, 100, 0, 0};
    static const uint8_t short_header[] = {0x84, 0, 0};
    static const uint8_t bad_warning[] = {0x84, 0x08, 0, 2, OP_RESULT, 0, 0, 0, 3, 0, 9, 'x'};
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    struct {
        const void *p;
        size_t n;
        int want;
    } cases[] = {
        {huge, sizeof(huge), CAIRN_EPROTO},
        {negative, sizeof(negative), CAIRN_EPROTO},
        {old_version, sizeof(old_version), CAIRN_EPROTO},
        {compressed, sizeof(compressed), CAIRN_EPROTO},
        {other_stream, sizeof(other_stream), CAIRN_EPROTO},
        {bad_warning, sizeof(bad_warning), CAIRN_EPROTO},
        {http, sizeof(http) - 1, CAIRN_EPROTO},
        /* The server hanging up mid-frame is a broken connection. */
        {short_body, sizeof(short_body), CAIRN_ECONN},
        {short_header, sizeof(short_header), CAIRN_ECONN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = (buf){0};
        put(&b, cases[i].p, cases[i].n);
        int rc = query_against(b, true, &e);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %d (%s), want %d", i, rc, e.msg, cases[i].want);
    }
    b = (buf){0};
    put(&b, old_version, sizeof(old_version));
    query_against(b, true, &e);
    assert_non_null(strstr(e.msg, "version 0x83"));
}

/* What the frame flags announce must be there; an answer must be of the asked kind. */
static void test_malformed_extras(void **state)
{
    cairn_err e;
    buf b;
    static const uint8_t short_tracing[] = {0x84, 0x02, 0, 2, OP_RESULT, 0, 0, 0, 4, 1, 2, 3, 4};
    static const uint8_t no_warnings[] = {0x84, 0x08, 0, 2, OP_RESULT, 0, 0, 0, 1, 0};
    static const uint8_t short_payload[] = {0x84, 0x04, 0, 2, OP_RESULT, 0, 0,
                                            0,    5,    0, 1, 0,         1, 'k'};
    static const uint8_t no_payload[] = {0x84, 0x04, 0, 2, OP_RESULT, 0, 0, 0, 1, 0};
    static const uint8_t short_error[] = {0x84, 0, 0, 2, OP_ERROR, 0, 0, 0, 2, 0, 0};
    static const uint8_t ready[] = {0x84, 0, 0, 2, OP_READY, 0, 0, 0, 0};
    struct {
        const void *p;
        size_t n;
        const char *what;
    } cases[] = {
        {short_tracing, sizeof(short_tracing), "tracing id"},
        {no_warnings, sizeof(no_warnings), "truncated warnings"},
        {short_payload, sizeof(short_payload), "custom payload"},
        {no_payload, sizeof(no_payload), "custom payload"},
        {short_error, sizeof(short_error), "truncated ERROR"},
        {ready, sizeof(ready), "opcode 0x02 in answer to QUERY"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = (buf){0};
        put(&b, cases[i].p, cases[i].n);
        int rc = query_against(b, true, &e);
        if (rc != CAIRN_EPROTO || !strstr(e.msg, cases[i].what))
            fail_msg("case %zu: got %d (%s), want %s", i, rc, e.msg, cases[i].what);
    }

    /* RESULT bodies cut where the metadata says more follows. */
    b = (buf){0};
    put_u16(&b, 0);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "truncated RESULT"));
    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0x0001);
    put_i32(&b, 1);
    put_str(&b, "ks");
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "truncated table spec"));
    b = (buf){0};
    put_i32(&b, 2);
    put_i32(&b, 0);
    put_i32(&b, 1);
    put_str(&b, "ks");
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "truncated column table spec"));
    b = (buf){0};
    rows_header(&b, 0, 1, NULL);
    put_i32(&b, -1);
    assert_int_equal(query_against(b, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "bad row count"));

    assert_int_equal(cql_query(NULL, "SELECT 1", NULL, NULL, &e), CAIRN_EINVAL);
}

/* Connects with the given credentials to a server that answers STARTUP with
 * AUTHENTICATE and the credentials with one frame of auth_op (body auth_body). */
static int login_against(const char *user, const char *pass, uint8_t auth_op, buf auth_body,
                         cairn_err *e)
{
    fake *f = fake_new();
    step *s = add_step(f, OP_STARTUP);
    put_str(answer(s, OP_AUTHENTICATE), "org.apache.cassandra.auth.PasswordAuthenticator");
    *answer(add_step(f, OP_AUTH_RESPONSE), auth_op) = auth_body;
    fake_start(f);
    cql_conn *c = NULL;
    int rc = cql_connect(&c, "127.0.0.1", f->port, user, pass, NULL, 30000, e);
    cql_close(c);
    fake_done(f);
    return rc;
}

static void test_login_answers(void **state)
{
    cairn_err e;
    buf b = {0};
    /* No password is an empty one. */
    put_bytes(&b, NULL);
    assert_int_equal(login_against("cassandra", NULL, OP_AUTH_SUCCESS, b, &e), 0);

    b = (buf){0};
    error_body(&b, 0x2100, "User cassandra has no LOGIN permission");
    assert_int_equal(login_against("cassandra", "pw", OP_ERROR, b, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "refused the login"));
    assert_non_null(strstr(e.msg, "no LOGIN permission"));

    b = (buf){0};
    error_body(&b, 0x1001, "overloaded");
    assert_int_equal(login_against("cassandra", "pw", OP_ERROR, b, &e), CAIRN_EBUSY);

    b = (buf){0};
    assert_int_equal(login_against("cassandra", "pw", OP_READY, b, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "in answer to AUTH_RESPONSE"));

    b = (buf){0};
    put_u16(&b, 0);
    assert_int_equal(login_against("cassandra", "pw", OP_ERROR, b, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "truncated ERROR"));

    /* Credentials longer than any server takes are refused before they are sent. */
    char *longname = malloc(5000);
    assert_non_null(longname);
    memset(longname, 'u', 4999);
    longname[4999] = '\0';
    b = (buf){0};
    put_bytes(&b, NULL);
    assert_int_equal(login_against(longname, "pw", OP_AUTH_SUCCESS, b, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "longer than 4096 bytes"));
    free(longname);
}

static void test_startup_answers(void **state)
{
    /* AUTHENTICATE without its authenticator name. */
    fake *f = fake_new();
    answer(add_step(f, OP_STARTUP), OP_AUTHENTICATE);
    fake_start(f);
    cql_conn *c = NULL;
    cairn_err e;
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, "u", "p", NULL, 30000, &e),
                     CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "truncated AUTHENTICATE"));
    fake_done(f);

    f = fake_new();
    put_i32(answer(add_step(f, OP_STARTUP), OP_RESULT), 1);
    fake_start(f);
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, NULL, NULL, NULL, 30000, &e),
                     CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "in answer to STARTUP"));
    assert_null(c);
    fake_done(f);
}

/* Random RESULT bodies must give success or EPROTO, never a crash (run under ASan). */
static void test_random_results(void **state)
{
    uint32_t seed = 12345;
    for (int i = 0; i < 150; i++) {
        buf b = {0};
        rows_header(&b, (i % 3 == 0) ? 0x0002 : 0, 1 + i % 3, (i % 3 == 0) ? "p" : NULL);
        put_i32(&b, i % 5);
        size_t n = (size_t)(i * 7 % 64);
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            put_u8(&b, (uint8_t)(seed >> 16));
        }
        /* Flip one byte of the metadata too. */
        seed = seed * 1103515245u + 12345u;
        b.p[4 + (seed >> 8) % 8] ^= (uint8_t)(seed >> 20);
        cairn_err e;
        int rc = query_against(b, false, &e);
        if (rc != 0 && rc != CAIRN_EPROTO && rc != CAIRN_ECONN)
            fail_msg("case %d: unexpected %d (%s)", i, rc, e.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_results), cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_malformed_extras),  cmocka_unit_test(test_login_answers),
        cmocka_unit_test(test_startup_answers),   cmocka_unit_test(test_random_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
