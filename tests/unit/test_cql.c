/*
 * Tests for agent/cql: the native protocol v4 client against an in-process fake server
 * that answers each request frame with scripted frames and records what it received.
 */
#include "cql_fake.h"

/* ---- collecting rows ---- */

typedef struct rows_seen {
    int nrows;
    size_t ncols;
    char cells[16][4][32]; /* "<null>" for nulls */
    int fail_at;           /* return an error at this row (1-based), 0 = never */
} rows_seen;

static int collect(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    rows_seen *r = ctx;
    r->ncols = ncols;
    if (r->fail_at && r->nrows + 1 == r->fail_at)
        return err_set(e, CAIRN_EIO, "stop here");
    for (size_t i = 0; i < ncols && i < 4 && r->nrows < 16; i++) {
        if (cols[i].len < 0)
            strcpy(r->cells[r->nrows][i], "<null>");
        else
            snprintf(r->cells[r->nrows][i], 32, "%.*s", (int)cols[i].len,
                     (const char *)cols[i].data);
    }
    r->nrows++;
    return 0;
}

/* ---- tests ---- */

static void test_handshake_without_auth(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    put_i32(answer(add_step(f, OP_QUERY), OP_RESULT), 1); /* Void */
    fake_start(f);

    cql_conn *c = connect_ok(f);
    cairn_err e;
    assert_int_equal(cql_query(c, "USE ks", NULL, NULL, &e), 0);
    cql_close(c);
    fake_stop(f);

    assert_int_equal(f->unexpected, 0);
    received *st = &f->got[0];
    assert_int_equal(st->version, 0x04);
    assert_int_equal(st->flags, 0);
    static const uint8_t startup[] = {0,   1,   0,   11,  'C', 'Q', 'L', '_', 'V', 'E', 'R',
                                      'S', 'I', 'O', 'N', 0,   5,   '3', '.', '0', '.', '0'};
    assert_int_equal(st->body.len, sizeof(startup));
    assert_memory_equal(st->body.p, startup, sizeof(startup));

    received *q = &f->got[1];
    assert_int_equal(q->opcode, OP_QUERY);
    assert_true(q->stream != st->stream);
    /* long string, LOCAL_ONE, flags page_size, page size 5000 */
    static const uint8_t query[] = {0,   0, 0,    6,    'U', 'S', 'E',  ' ', 'k',
                                    's', 0, 0x0A, 0x04, 0,   0,   0x13, 0x88};
    assert_int_equal(q->body.len, sizeof(query));
    assert_memory_equal(q->body.p, query, sizeof(query));
    fake_free(f);
}

static void test_handshake_with_auth(void **state)
{
    fake *f = fake_new();
    step *s = add_step(f, OP_STARTUP);
    put_str(answer(s, OP_AUTHENTICATE), "org.apache.cassandra.auth.PasswordAuthenticator");
    put_bytes(answer(add_step(f, OP_AUTH_RESPONSE), OP_AUTH_SUCCESS), NULL);
    fake_start(f);

    cql_conn *c = NULL;
    cairn_err e;
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, "cassandra", "s3cret", NULL, 30000, &e),
                     0);
    cql_close(c);
    fake_stop(f);

    assert_int_equal(f->unexpected, 0);
    static const uint8_t token[] = {0,   0,   0,   17, 0,   'c', 'a', 's', 's', 'a', 'n',
                                    'd', 'r', 'a', 0,  's', '3', 'c', 'r', 'e', 't'};
    assert_int_equal(f->got[1].body.len, sizeof(token));
    assert_memory_equal(f->got[1].body.p, token, sizeof(token));
    fake_free(f);
}

static void test_bad_password(void **state)
{
    fake *f = fake_new();
    step *s = add_step(f, OP_STARTUP);
    put_str(answer(s, OP_AUTHENTICATE), "org.apache.cassandra.auth.PasswordAuthenticator");
    error_body(answer(add_step(f, OP_AUTH_RESPONSE), OP_ERROR), 0x0100,
               "Username and/or password are incorrect");
    fake_start(f);

    cql_conn *c = (cql_conn *)1;
    cairn_err e;
    assert_int_equal(
        cql_connect(&c, "127.0.0.1", f->port, "cassandra", "wrong-pw", NULL, 30000, &e),
        CAIRN_EAUTH);
    assert_null(c);
    assert_non_null(strstr(e.msg, "user 'cassandra'"));
    assert_non_null(strstr(e.msg, "Username and/or password are incorrect"));
    assert_non_null(strstr(e.msg, "scylla.password"));
    assert_null(strstr(e.msg, "wrong-pw"));
    fake_done(f);
}

static void test_no_credentials(void **state)
{
    fake *f = fake_new();
    step *s = add_step(f, OP_STARTUP);
    put_str(answer(s, OP_AUTHENTICATE), "org.apache.cassandra.auth.PasswordAuthenticator");
    fake_start(f);

    cql_conn *c = NULL;
    cairn_err e;
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, NULL, NULL, NULL, 30000, &e),
                     CAIRN_EAUTH);
    assert_string_equal(e.msg, "ScyllaDB requires a password: set scylla.username and "
                               "scylla.password in the agent configuration");
    fake_stop(f);
    assert_int_equal(f->ngot, 1);
    fake_free(f);
}

static void test_auth_challenge_refused(void **state)
{
    fake *f = fake_new();
    step *s = add_step(f, OP_STARTUP);
    put_str(answer(s, OP_AUTHENTICATE), "com.example.KerberosAuthenticator");
    put_bytes(answer(add_step(f, OP_AUTH_RESPONSE), OP_AUTH_CHALLENGE), "more?");
    fake_start(f);

    cql_conn *c = NULL;
    cairn_err e;
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, "u", "p", NULL, 30000, &e),
                     CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "com.example.KerberosAuthenticator"));
    fake_done(f);
}

static void test_rows_with_nulls(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 3, NULL);
    put_i32(b, 2);
    put_bytes(b, "a");
    put_bytes(b, NULL);
    put_bytes(b, "");
    put_bytes(b, NULL);
    put_bytes(b, "bb");
    put_bytes(b, "ccc");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT c0, c1, c2 FROM ks.t", collect, &r, &e), 0);
    assert_int_equal(r.nrows, 2);
    assert_int_equal(r.ncols, 3);
    assert_string_equal(r.cells[0][0], "a");
    assert_string_equal(r.cells[0][1], "<null>");
    assert_string_equal(r.cells[0][2], "");
    assert_string_equal(r.cells[1][0], "<null>");
    assert_string_equal(r.cells[1][1], "bb");
    assert_string_equal(r.cells[1][2], "ccc");
    cql_close(c);
    fake_done(f);
}

/* Per-column table specs and nested types (map<text, frozen<list<int>>>, a UDT, a tuple). */
static void test_rows_column_specs_and_types(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    put_i32(b, 2);
    put_i32(b, 0); /* no global spec */
    put_i32(b, 4);
    put_str(b, "ks");
    put_str(b, "t");
    put_str(b, "m");
    put_u16(b, 0x0021);
    put_u16(b, 0x000D);
    put_u16(b, 0x0020);
    put_u16(b, 0x0009);
    put_str(b, "ks");
    put_str(b, "t");
    put_str(b, "u");
    put_u16(b, 0x0030);
    put_str(b, "ks");
    put_str(b, "addr");
    put_u16(b, 2);
    put_str(b, "street");
    put_u16(b, 0x000D);
    put_str(b, "zip");
    put_u16(b, 0x0009);
    put_str(b, "ks");
    put_str(b, "t");
    put_str(b, "tu");
    put_u16(b, 0x0031);
    put_u16(b, 2);
    put_u16(b, 0x0015);
    put_u16(b, 0x0022);
    put_u16(b, 0x000C);
    put_str(b, "ks");
    put_str(b, "t");
    put_str(b, "x");
    put_u16(b, 0x0000);
    put_str(b, "org.apache.cassandra.db.marshal.DurationType");
    put_i32(b, 1);
    put_bytes(b, "M");
    put_bytes(b, "U");
    put_bytes(b, "T");
    put_bytes(b, "X");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT m, u, tu, x FROM ks.t", collect, &r, &e), 0);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.ncols, 4);
    assert_string_equal(r.cells[0][3], "X");
    cql_close(c);
    fake_done(f);
}

static void test_rows_no_metadata(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    put_i32(b, 2);
    put_i32(b, 0x0004);
    put_i32(b, 2);
    put_i32(b, 1);
    put_bytes(b, "k");
    put_bytes(b, "v");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT k, v FROM ks.t", collect, &r, &e), 0);
    assert_int_equal(r.nrows, 1);
    assert_string_equal(r.cells[0][1], "v");
    cql_close(c);
    fake_done(f);
}

static void test_paging(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    const char *pages[3][2] = {{"r1", "r2"}, {"r3", NULL}, {"r4", "r5"}};
    const char *states[3] = {"state-one", "state-two", NULL};
    for (int p = 0; p < 3; p++) {
        buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
        rows_header(b, states[p] ? 0x0002 : 0, 1, states[p]);
        int n = pages[p][1] ? 2 : 1;
        put_i32(b, n);
        for (int i = 0; i < n; i++)
            put_bytes(b, pages[p][i]);
    }
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT v FROM ks.t", collect, &r, &e), 0);
    assert_int_equal(r.nrows, 5);
    assert_string_equal(r.cells[0][0], "r1");
    assert_string_equal(r.cells[2][0], "r3");
    assert_string_equal(r.cells[4][0], "r5");
    cql_close(c);
    fake_stop(f);

    assert_int_equal(f->ngot, 4);
    assert_int_equal(f->unexpected, 0);
    /* Page 1 without paging state; pages 2 and 3 send back the state they were given. */
    size_t head = 4 + strlen("SELECT v FROM ks.t") + 2;
    assert_int_equal(f->got[1].body.p[head], 0x04);
    assert_int_equal(f->got[1].body.len, head + 1 + 4);
    for (int p = 1; p < 3; p++) {
        buf *q = &f->got[p + 1].body;
        assert_int_equal(q->p[head], 0x04 | 0x08);
        size_t n = strlen(states[p - 1]);
        assert_int_equal(q->len, head + 1 + 4 + 4 + n);
        assert_int_equal(q->p[head + 8], n);
        assert_memory_equal(q->p + head + 9, states[p - 1], n);
    }
    fake_free(f);
}

static void test_callback_error_stops(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0x0002, 1, "more");
    put_i32(b, 2);
    put_bytes(b, "r1");
    put_bytes(b, "r2");
    put_i32(answer(add_step(f, OP_QUERY), OP_RESULT), 1);
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {.fail_at = 2};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT v FROM ks.t", collect, &r, &e), CAIRN_EIO);
    assert_string_equal(e.msg, "stop here");
    assert_int_equal(r.nrows, 1);
    /* The connection is still in step: the next query works. */
    assert_int_equal(cql_query(c, "USE ks", NULL, NULL, &e), 0);
    cql_close(c);
    fake_stop(f);
    assert_int_equal(f->ngot, 3);
    assert_int_equal(f->got[2].body.len, 4 + 6 + 2 + 1 + 4);
    fake_free(f);
}

static void test_error_frame(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x2200, "Keyspace 'nope' does not exist");
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x1001, "overloaded");
    put_i32(answer(add_step(f, OP_QUERY), OP_RESULT), 5); /* Schema_change */
    fake_start(f);

    cql_conn *c = connect_ok(f);
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT * FROM nope.t", NULL, NULL, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "error 0x2200: Keyspace 'nope' does not exist"));
    assert_non_null(strstr(e.msg, "SELECT * FROM nope.t"));
    assert_int_equal(cql_query(c, "SELECT 1", NULL, NULL, &e), CAIRN_EBUSY);
    assert_int_equal(cql_query(c, "CREATE KEYSPACE x", NULL, NULL, &e), 0);
    cql_close(c);
    fake_done(f);
}

static void test_events_and_flags_skipped(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    step *s = add_step(f, OP_QUERY);
    out_frame *ev = &s->out[s->nout];
    buf *b = answer(s, OP_EVENT);
    ev->stream = -1;
    put_str(b, "STATUS_CHANGE");
    put_str(b, "UP");
    /* A result with a tracing id, a warning and a custom payload in front of the body. */
    out_frame *res = &s->out[s->nout];
    b = answer(s, OP_RESULT);
    res->flags = 0x02 | 0x04 | 0x08;
    put(b, "0123456789abcdef", 16);
    put_u16(b, 1);
    put_str(b, "Read 5000 live rows and 1 tombstone");
    put_u16(b, 1);
    put_str(b, "key");
    put_bytes(b, "value");
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    put_bytes(b, "ok");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    rows_seen r = {0};
    cairn_err e;
    assert_int_equal(cql_query(c, "SELECT v FROM ks.t", collect, &r, &e), 0);
    assert_int_equal(r.nrows, 1);
    assert_string_equal(r.cells[0][0], "ok");
    cql_close(c);
    fake_done(f);
}

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

static void test_timeout(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    add_step(f, OP_QUERY)->hang = true;
    fake_start(f);
    cql_conn *c = NULL;
    cairn_err e;
    /* The limit bounds the connect too: long enough for a busy machine's, short for
     * the hang. */
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, NULL, NULL, NULL, 1500, &e), 0);
    assert_int_equal(cql_query(c, "SELECT v FROM ks.t", NULL, NULL, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "within 1500 ms"));
    assert_int_equal(cql_query(c, "SELECT v FROM ks.t", NULL, NULL, &e), CAIRN_ECONN);
    cql_close(c);
    fake_done(f);
}

static void test_connect_errors(void **state)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    cql_conn *c = (cql_conn *)1;
    cairn_err e;
    assert_int_equal(cql_connect(&c, "127.0.0.1", port, NULL, NULL, NULL, 1000, &e), CAIRN_ECONN);
    assert_null(c);
    assert_non_null(strstr(e.msg, "cannot connect to ScyllaDB's CQL port at 127.0.0.1:"));
    assert_int_equal(cql_connect(&c, "127.0.0.1", 0, NULL, NULL, NULL, 1000, &e), CAIRN_ECONFIG);
    assert_int_equal(cql_connect(&c, "", 9042, NULL, NULL, NULL, 1000, &e), CAIRN_ECONFIG);
    assert_int_equal(cql_connect(&c, "127.0.0.1", 9042, NULL, NULL, NULL, 0, &e), CAIRN_EINVAL);
    assert_int_equal(cql_connect(&c, "no-such-host.invalid", 9042, NULL, NULL, NULL, 1000, &e),
                     CAIRN_ECONN);

    /* The server answers STARTUP with an error. */
    fake *f = fake_new();
    error_body(answer(add_step(f, OP_STARTUP), OP_ERROR), 0x000A,
               "Invalid or unsupported protocol version");
    fake_start(f);
    assert_int_equal(cql_connect(&c, "127.0.0.1", f->port, NULL, NULL, NULL, 1000, &e),
                     CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "0x000a: Invalid or unsupported protocol version"));
    fake_done(f);
}

typedef struct schema_seen {
    int n;
    char ks[4][16], type[4][16], name[4][16], stmt[4][64];
} schema_seen;

static int on_schema(void *ctx, const char *ks, const char *type, const char *name,
                     const char *stmt, cairn_err *e)
{
    schema_seen *s = ctx;
    snprintf(s->ks[s->n], 16, "%s", ks ? ks : "<null>");
    snprintf(s->type[s->n], 16, "%s", type);
    snprintf(s->name[s->n], 16, "%s", name);
    snprintf(s->stmt[s->n], 64, "%s", stmt);
    s->n++;
    return 0;
}

static void test_describe_schema(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 4, NULL);
    put_i32(b, 3);
    const char *rows[3][4] = {
        {"ks1", "keyspace", "ks1", "CREATE KEYSPACE ks1 WITH replication = {...};"},
        {"ks1", "table", "t1", "CREATE TABLE ks1.t1 (k int PRIMARY KEY) WITH ID = x;"},
        {NULL, "role", "admin", "CREATE ROLE admin;"},
    };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            put_bytes(b, rows[i][j]);
    /* A second query whose rows have the wrong shape. */
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 2, NULL);
    put_i32(b, 1);
    put_bytes(b, "a");
    put_bytes(b, "b");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form = CQL_DESCRIBE_OLD_SCYLLA;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), 0);
    assert_int_equal(form, CQL_DESCRIBE_PASSWORDS);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ks[0], "ks1");
    assert_string_equal(s.type[1], "table");
    assert_string_equal(s.name[1], "t1");
    assert_string_equal(s.stmt[1], "CREATE TABLE ks1.t1 (k int PRIMARY KEY) WITH ID = x;");
    assert_string_equal(s.ks[2], "<null>");
    assert_string_equal(s.type[2], "role");
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "2 columns"));
    cql_close(c);
    fake_stop(f);
    const char *q = "DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS";
    assert_int_equal(f->got[1].body.p[3], strlen(q));
    assert_memory_equal(f->got[1].body.p + 4, q, strlen(q));
    fake_free(f);
}

/* A refusal of AND PASSWORDS, answered with one row by the plain form. */
static void describe_refused(int32_t code, const char *msg, cql_describe_form want)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), code, msg);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 4, NULL);
    put_i32(b, 1);
    put_bytes(b, "ks1");
    put_bytes(b, "keyspace");
    put_bytes(b, "ks1");
    put_bytes(b, "CREATE KEYSPACE ks1 WITH replication = {...};");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form = CQL_DESCRIBE_PASSWORDS;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), 0);
    assert_int_equal(form, want);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.type[0], "keyspace");
    cql_close(c);
    fake_stop(f);
    const char *q = "DESCRIBE SCHEMA WITH INTERNALS";
    assert_int_equal(f->got[2].body.p[3], strlen(q));
    assert_memory_equal(f->got[2].body.p + 4, q, strlen(q));
    fake_free(f);
}

/* ScyllaDB before 2025.1 does not know AND PASSWORDS; a user that is no superuser may
 * not use it: either way the schema comes without auth. */
static void test_describe_schema_fallback(void **state)
{
    describe_refused(0x2000, "line 1:31 mismatched input 'AND' expecting EOF",
                     CQL_DESCRIBE_OLD_SCYLLA);
    describe_refused(0x2100, "DESCRIBE SCHEMA WITH PASSWORDS needs a superuser",
                     CQL_DESCRIBE_NOT_SUPERUSER);
}

/* Any other refusal is an error, not a reason to describe less. */
static void test_describe_schema_other_error(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x1001, "overloaded");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "overloaded"));
    cql_close(c);
    fake_stop(f);
    assert_int_equal(f->ngot, 2);
    fake_free(f);
}

/* A statement holding a salted hash: its error names the label, never the statement,
 * and what ScyllaDB quotes back of it is cut out. */
static void test_query_secret(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x2000,
               "line 1:40 no viable alternative at input '$6$salt$hash' and 'x'");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    cairn_err e;
    const char *stmt = "CREATE ROLE r WITH SALTED_HASH = '$6$salt$hash' AND LOGIN = true";
    assert_int_equal(cql_query_secret(c, stmt, "the statement", &e), CAIRN_EREMOTE);
    assert_null(strstr(e.msg, "salt"));
    assert_null(strstr(e.msg, "SALTED_HASH"));
    assert_non_null(strstr(e.msg, "refused the statement with error 0x2000"));
    assert_non_null(strstr(e.msg, "at input '*' and '*'"));
    cql_close(c);
    fake_stop(f);
    fake_free(f);
}

static void test_table_id(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    put_i32(b, 2);
    put_i32(b, 0x0001);
    put_i32(b, 1);
    put_str(b, "system_schema");
    put_str(b, "tables");
    put_str(b, "id");
    put_u16(b, 0x000C);
    put_i32(b, 1);
    static const uint8_t uuid[16] = {0x5a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x11, 0xef,
                                     0x80, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    put_i32(b, 16);
    put(b, uuid, 16);
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 0);
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    put_bytes(b, "short");
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    put_i32(b, 16);
    put(b, uuid, 16);
    fake_start(f);

    cql_conn *c = connect_ok(f);
    char id[33];
    cairn_err e;
    assert_int_equal(cql_table_id(c, "ks1", "Users_2", id, &e), 0);
    assert_string_equal(id, "5a1b2c3d4e5f11ef80000123456789ab");
    assert_int_equal(cql_table_id(c, "ks1", "gone", id, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "ks1.gone"));
    assert_int_equal(cql_table_id(c, "ks1", "t", id, &e), CAIRN_EPROTO);

    /* Recent ScyllaDB allows 192-byte names, Alternator has "." and "-" in them. */
    char long_name[224];
    memset(long_name, 'a', 192);
    long_name[192] = '\0';
    assert_int_equal(cql_table_id(c, "alternator_my-table.v2", long_name, id, &e), 0);
    assert_string_equal(id, "5a1b2c3d4e5f11ef80000123456789ab");

    /* Names that could change the query never reach the server. */
    memset(long_name, 'a', 223);
    long_name[223] = '\0';
    assert_int_equal(cql_table_id(c, "ks1' OR '1'='1", "t", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", "t'", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", "", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, NULL, "t", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", long_name, id, &e), CAIRN_EINVAL);
    cql_close(c);
    fake_stop(f);
    assert_int_equal(f->ngot, 5);
    const char *q = "SELECT id FROM system_schema.tables WHERE keyspace_name = 'ks1' AND "
                    "table_name = 'Users_2'";
    assert_int_equal(f->got[1].body.p[3], strlen(q));
    assert_memory_equal(f->got[1].body.p + 4, q, strlen(q));
    const char *alt = "keyspace_name = 'alternator_my-table.v2' AND table_name = 'aaaa";
    assert_non_null(memmem(f->got[4].body.p, f->got[4].body.len, alt, strlen(alt)));
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_without_auth),
        cmocka_unit_test(test_handshake_with_auth),
        cmocka_unit_test(test_bad_password),
        cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_auth_challenge_refused),
        cmocka_unit_test(test_rows_with_nulls),
        cmocka_unit_test(test_rows_column_specs_and_types),
        cmocka_unit_test(test_rows_no_metadata),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_error_frame),
        cmocka_unit_test(test_events_and_flags_skipped),
        cmocka_unit_test(test_malformed_results),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_malformed_extras),
        cmocka_unit_test(test_login_answers),
        cmocka_unit_test(test_startup_answers),
        cmocka_unit_test(test_random_results),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_describe_schema),
        cmocka_unit_test(test_describe_schema_fallback),
        cmocka_unit_test(test_describe_schema_other_error),
        cmocka_unit_test(test_query_secret),
        cmocka_unit_test(test_table_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
