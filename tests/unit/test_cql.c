/*
 * Tests for agent/node/cql: the native protocol v4 client (handshake, rows, paging, errors, time
 * limits), against the in-process fake server of cql_fake.h that answers each request frame with
 * scripted frames and records what it received.
 */
#include "cql_fake.h"

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
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
