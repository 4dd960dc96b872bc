/*
 * agent/node/agreement: waiting for one schema version on every node, against the
 * scripted CQL server of cql_fake.h (system.local, then system.peers, per round).
 */
#include "cql_fake.h"

#include "node/agreement.h"

static const uint8_t V1[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
                               0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x01};
static const uint8_t V2[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
                               0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x02};
#define V1_TEXT "11111111-2222-3333-4444-555555555501"
#define V2_TEXT "11111111-2222-3333-4444-555555555502"

typedef struct peer {
    const char *address;    /* dotted IPv4 or IPv6 text */
    const uint8_t *version; /* NULL: a null value */
} peer;

static void value(buf *b, const void *data, int32_t len)
{
    put_i32(b, data ? len : -1);
    if (data)
        put(b, data, (size_t)len);
}

static void script_local(fake *f, const uint8_t *version)
{
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    value(b, version, 16);
}

static void script_peers(fake *f, const peer *peers, int n)
{
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 2, NULL);
    put_i32(b, n);
    for (int i = 0; i < n; i++) {
        uint8_t addr[16];
        bool v6 = strchr(peers[i].address, ':') != NULL;
        assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, peers[i].address, addr), 1);
        value(b, addr, v6 ? 16 : 4);
        value(b, peers[i].version, 16);
    }
}

static const char *query_text(fake *f, int i)
{
    static char q[128];
    int32_t len = (int32_t)(f->got[i].body.p[0] << 24 | f->got[i].body.p[1] << 16 |
                            f->got[i].body.p[2] << 8 | f->got[i].body.p[3]);
    snprintf(q, sizeof(q), "%.*s", (int)len, (const char *)f->got[i].body.p + 4);
    return q;
}

/* A cluster of a thousand nodes is one the agent must wait for like any other. */
static void test_a_thousand_nodes(void **state)
{
    (void)state;
    enum { PEERS = 999 };
    static char names[PEERS][16];
    static peer peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        snprintf(names[i], sizeof(names[i]), "10.0.%d.%d", i / 250, i % 250 + 1);
        peers[i] = (peer){names[i], V2};
    }
    fake *f = fake_new();
    script_ready(f);
    script_local(f, V2);
    script_peers(f, peers, PEERS);
    fake_start(f);
    cql_conn *c = connect_ok(f);
    agreement ag;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(agreement_wait(c, 60000, &ag, &e), 0);
    assert_string_equal(ag.version, V2_TEXT);
    assert_int_equal(ag.nodes, PEERS + 1);
    cql_close(c);
    fake_done(f);
}

static void test_agreed_at_once(void **state)
{
    (void)state;
    fake *f = fake_new();
    script_ready(f);
    script_local(f, V1);
    /* A peer row without a version (a node being removed) is not waited for. */
    const peer peers[] = {{"10.0.0.2", V1}, {"10.0.0.3", NULL}, {"fd00::4", V1}};
    script_peers(f, peers, 3);
    fake_start(f);
    cql_conn *c = connect_ok(f);
    agreement ag;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(agreement_wait(c, 60000, &ag, &e), 0);
    assert_string_equal(ag.version, V1_TEXT);
    assert_int_equal(ag.nodes, 3);
    assert_true(ag.ms < 60000);
    assert_string_equal(query_text(f, 1), "SELECT schema_version FROM system.local");
    assert_string_equal(query_text(f, 2), "SELECT peer, schema_version FROM system.peers");
    cql_close(c);
    fake_done(f);
}

static void test_agreed_on_a_later_round(void **state)
{
    (void)state;
    fake *f = fake_new();
    script_ready(f);
    const peer behind[] = {{"10.0.0.2", V1}, {"10.0.0.3", V2}};
    const peer caught_up[] = {{"10.0.0.2", V2}, {"10.0.0.3", V2}};
    script_local(f, V1);
    script_peers(f, behind, 2);
    script_local(f, V2);
    script_peers(f, caught_up, 2);
    fake_start(f);
    cql_conn *c = connect_ok(f);
    agreement ag;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(agreement_wait(c, 60000, &ag, &e), 0);
    assert_string_equal(ag.version, V2_TEXT);
    assert_int_equal(ag.nodes, 3);
    assert_int_equal(f->ngot, 5); /* STARTUP and two rounds */
    cql_close(c);
    fake_done(f);
}

static void test_timeout_names_each_version_and_its_nodes(void **state)
{
    (void)state;
    fake *f = fake_new();
    script_ready(f);
    script_local(f, V1);
    const peer peers[] = {{"10.0.0.2", V2}, {"10.0.0.3", V1}, {"10.0.0.4", V2}};
    script_peers(f, peers, 3);
    fake_start(f);
    cql_conn *c = connect_ok(f);
    agreement ag;
    cairn_err e;
    err_clear(&e);
    /* A timeout of 0: one round, no wait. */
    assert_int_equal(agreement_wait(c, 0, &ag, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "(version " V1_TEXT ": local 10.0.0.3; version " V2_TEXT
                                  ": 10.0.0.2 10.0.0.4)"));
    assert_non_null(strstr(e.msg, "nodetool describecluster"));
    cql_close(c);
    fake_done(f);
}

static void test_bad_answers(void **state)
{
    (void)state;
    static const uint8_t short_version[5] = {1, 2, 3, 4, 5};
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    value(b, short_version, 5);
    fake_start(f);
    cql_conn *c = connect_ok(f);
    agreement ag;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(agreement_wait(c, 60000, &ag, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "not a uuid"));
    assert_non_null(strstr(e.msg, "reading the nodes' schema versions"));
    cql_close(c);
    fake_done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agreed_at_once),
        cmocka_unit_test(test_a_thousand_nodes),
        cmocka_unit_test(test_agreed_on_a_later_round),
        cmocka_unit_test(test_timeout_names_each_version_and_its_nodes),
        cmocka_unit_test(test_bad_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
