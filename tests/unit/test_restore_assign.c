/* The restore planner's assignment: refresh or load-and-stream, each node's share, tables
 * that hold data, tablet keyspaces. */
#include "restore_plan_fixture.h"

static void add_source(restore_plan *p, const char *host_id, const char *const *tokens, size_t n)
{
    p->sources = realloc(p->sources, (p->n_sources + 1) * sizeof(*p->sources));
    rs_source *s = &p->sources[p->n_sources++];
    s->host_id = strdup(host_id);
    s->tokens = calloc(n ? n : 1, sizeof(char *));
    s->n_tokens = n;
    for (size_t i = 0; i < n; i++)
        s->tokens[i] = strdup(tokens[i]);
}

static Cairn__Rpc__NodeInfo node(const char *host_id, char **tokens, size_t n)
{
    Cairn__Rpc__NodeInfo info = CAIRN__RPC__NODE_INFO__INIT;
    info.host_id = (char *)host_id;
    info.tokens = tokens;
    info.n_tokens = n;
    return info;
}

/* Two source nodes, tokens {1,2} and {3}; SSTables of 100, 60, 50 and 10 bytes. */
static void two_sources(restore_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->filter = &all_tables;
    static const char *const t0[] = {"2", "1"}, *const t1[] = {"3"};
    add_source(p, "host-a", t0, 2);
    add_source(p, "host-b", t1, 1);
    Cairn__Repo__FileEntry a[] = {file_entry("me-1-big-Data.db", BLOB_A, 100),
                                  file_entry("me-2-big-Data.db", BLOB_A, 10)};
    Cairn__Repo__FileEntry b[] = {file_entry("me-3-big-Data.db", BLOB_B, 60),
                                  file_entry("me-4-big-Data.db", BLOB_B, 50)};
    assert_int_equal(add_table(p, 0, "ks", "t", a, 2), 0);
    assert_int_equal(add_table(p, 1, "ks", "t", b, 2), 0);
}

static uint64_t bytes_on(const restore_plan *p, int32_t target)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < p->n_sst; s++)
        if (p->sst[s].target == target)
            sum += p->sst[s].bytes;
    return sum;
}

static void count_table(void *ctx, const rs_table *t, uint64_t bytes)
{
    uint64_t *sum = ctx;
    assert_string_equal(t->keyspace, "ks");
    *sum += bytes;
}

/* Tables that hold data on any target node are found, with their bytes summed; a
 * table the target has empty, or another table, does not count. */
static void test_nonempty_tables(void **state)
{
    (void)state;
    restore_plan p;
    two_sources(&p);
    Cairn__Repo__FileEntry u[] = {file_entry("me-5-big-Data.db", BLOB_A, 5)};
    assert_int_equal(add_table(&p, 0, "ks", "u", u, 1), 0);
    Cairn__Rpc__Table t_a = CAIRN__RPC__TABLE__INIT, t_b = CAIRN__RPC__TABLE__INIT,
                      other = CAIRN__RPC__TABLE__INIT, empty = CAIRN__RPC__TABLE__INIT;
    t_a.keyspace = t_b.keyspace = other.keyspace = empty.keyspace = "ks";
    t_a.name = t_b.name = "t";
    other.name = "elsewhere";
    empty.name = "u";
    t_a.has_live_bytes = t_b.has_live_bytes = other.has_live_bytes = empty.has_live_bytes = 1;
    t_a.live_bytes = 7;
    t_b.live_bytes = 3;
    other.live_bytes = 100;
    Cairn__Rpc__Table *ta[] = {&t_a, &empty}, *tb[] = {&other, &t_b};
    Cairn__Rpc__NodeInfo a = node("host-a", NULL, 0), b = node("host-b", NULL, 0);
    a.tables = ta;
    a.n_tables = 2;
    b.tables = tb;
    b.n_tables = 2;
    Cairn__Rpc__NodeInfo *nodes[] = {&a, NULL, &b};
    uint64_t sum = 0;
    assert_int_equal(restore_plan_nonempty(&p, nodes, 3, count_table, &sum), 1);
    assert_int_equal(sum, 10);
    /* Nothing there: nothing to refuse. */
    t_a.live_bytes = t_b.live_bytes = 0;
    assert_int_equal(restore_plan_nonempty(&p, nodes, 3, NULL, NULL), 0);
    restore_plan_free(&p);
}

static void test_auto_refresh_when_same_nodes(void **state)
{
    restore_plan p;
    two_sources(&p);
    char *tb[] = {"3"}, *ta[] = {"1", "2"};
    /* the target lists the nodes in another order, and tokens in another order */
    Cairn__Rpc__NodeInfo n0 = node("host-b", tb, 1), n1 = node("host-a", ta, 2);
    Cairn__Rpc__NodeInfo *nodes[] = {&n0, &n1};
    restore_method m = METHOD_AUTO;
    cairn_err e;
    assert_int_equal(restore_plan_assign(&p, nodes, 2, &m, &e), 0);
    assert_int_equal(m, METHOD_REFRESH);
    for (size_t s = 0; s < p.n_sst; s++)
        assert_int_equal(p.sst[s].target, p.sst[s].source == 0 ? 1 : 0);
    assert_int_equal(bytes_on(&p, 1), 110);
    restore_plan_free(&p);
}

static void test_auto_load_and_stream_when_tokens_differ(void **state)
{
    restore_plan p;
    two_sources(&p);
    char *tb[] = {"3"}, *ta[] = {"1", "9"};
    Cairn__Rpc__NodeInfo n0 = node("host-a", ta, 2), n1 = node("host-b", tb, 1);
    Cairn__Rpc__NodeInfo *nodes[] = {&n0, &n1};
    restore_method m = METHOD_AUTO;
    cairn_err e;
    assert_int_equal(restore_plan_assign(&p, nodes, 2, &m, &e), 0);
    assert_int_equal(m, METHOD_LAS);
    /* largest first to the emptiest: 100 -> 0, 60 -> 1, 50 -> 1, 10 -> 0 */
    assert_int_equal(bytes_on(&p, 0), 110);
    assert_int_equal(bytes_on(&p, 1), 110);
    restore_plan_free(&p);
}

static void test_refresh_refused_without_the_nodes(void **state)
{
    restore_plan p;
    two_sources(&p);
    char *ta[] = {"1", "2"}, *extra[] = {"1", "2", "5"};
    Cairn__Rpc__NodeInfo n0 = node("host-a", ta, 2), n1 = node("host-b", extra, 3);
    Cairn__Rpc__NodeInfo *nodes[] = {&n0, NULL, &n1};
    restore_method m = METHOD_REFRESH;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(restore_plan_assign(&p, nodes, 3, &m, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "--method refresh needs every source node"));
    assert_int_equal(m, METHOD_REFRESH);
    restore_plan_free(&p);
}

static void test_load_and_stream_balances_bytes(void **state)
{
    restore_plan p = {.filter = &all_tables};
    add_source(&p, "host-a", NULL, 0);
    Cairn__Repo__FileEntry f[] = {
        file_entry("me-1-big-Data.db", BLOB_A, 70), file_entry("me-2-big-Data.db", BLOB_A, 50),
        file_entry("me-3-big-Data.db", BLOB_A, 40), file_entry("me-4-big-Data.db", BLOB_A, 30),
        file_entry("me-5-big-Data.db", BLOB_A, 10),
    };
    assert_int_equal(add_table(&p, 0, "ks", "t", f, 5), 0);
    char *none[] = {NULL};
    Cairn__Rpc__NodeInfo a = node("host-x", none, 0), b = node("host-y", none, 0),
                         c = node("host-z", none, 0);
    Cairn__Rpc__NodeInfo *nodes[] = {&a, &b, &c};
    /* asked for explicitly, even though the plan could not refresh anyway */
    restore_method m = METHOD_LAS;
    cairn_err e;
    assert_int_equal(restore_plan_assign(&p, nodes, 3, &m, &e), 0);
    assert_int_equal(m, METHOD_LAS);
    /* 70 -> x; 50 -> y; 40 -> z; 30 -> z (40 < 50); 10 -> y (50 < 70) */
    assert_int_equal(bytes_on(&p, 0), 70);
    assert_int_equal(bytes_on(&p, 1), 60);
    assert_int_equal(bytes_on(&p, 2), 70);
    assert_int_equal(p.sst[0].bytes, 70); /* sorted largest first */
    restore_plan_free(&p);
}

/* two_sources plus tk.u, of a keyspace with tablets: two SSTables of 30 bytes, both
 * from the first source node. */
static Cairn__Repo__KeyspaceInfo tk_info = {
    PROTOBUF_C_MESSAGE_INIT(&cairn__repo__keyspace_info__descriptor), .name = "tk",
    .has_tablets = 1, .tablets = 1};
static Cairn__Repo__KeyspaceInfo *const tk_keyspaces[] = {&tk_info};

static void with_tablets(restore_plan *p)
{
    two_sources(p);
    p->keyspaces = tk_keyspaces;
    p->n_keyspaces = 1;
    Cairn__Repo__FileEntry u[] = {file_entry("me-7-big-Data.db", BLOB_A, 30),
                                  file_entry("me-8-big-Data.db", BLOB_B, 30)};
    assert_int_equal(add_table(p, 0, "tk", "u", u, 2), 0);
    assert_false(p->tables[0].tablets);
    assert_true(p->tables[1].tablets);
    assert_true(restore_plan_has_tablets(p));
}

/* Onto the same nodes: refresh for ks.t (each node its own), load-and-stream for the
 * tablet keyspace's table, balanced over the nodes by bytes. */
static void test_tablets_load_and_stream_in_a_refresh(void **state)
{
    (void)state;
    restore_plan p;
    with_tablets(&p);
    char *ta[] = {"1", "2"}, *tb[] = {"3"};
    Cairn__Rpc__NodeInfo n0 = node("host-a", ta, 2), n1 = node("host-b", tb, 1);
    Cairn__Rpc__NodeInfo *nodes[] = {&n0, &n1};
    restore_method m = METHOD_AUTO;
    cairn_err e;
    assert_int_equal(restore_plan_assign(&p, nodes, 2, &m, &e), 0);
    assert_int_equal(m, METHOD_REFRESH);
    uint64_t tablet_bytes[2] = {0, 0};
    for (size_t s = 0; s < p.n_sst; s++) {
        const rs_sstable *x = &p.sst[s];
        assert_in_range(x->target, 0, 1);
        if (p.tables[x->table].tablets)
            tablet_bytes[x->target] += x->bytes;
        else
            assert_int_equal(x->target, (int32_t)x->source);
    }
    /* balanced: 30 bytes on each node, though both came from the first */
    assert_int_equal(tablet_bytes[0], 30);
    assert_int_equal(tablet_bytes[1], 30);
    restore_plan_free(&p);
}

/* --method refresh with a tablet keyspace: refused, the keyspace named. */
static void test_tablets_refuse_method_refresh(void **state)
{
    (void)state;
    restore_plan p;
    with_tablets(&p);
    char *ta[] = {"1", "2"}, *tb[] = {"3"};
    Cairn__Rpc__NodeInfo n0 = node("host-a", ta, 2), n1 = node("host-b", tb, 1);
    Cairn__Rpc__NodeInfo *nodes[] = {&n0, &n1};
    restore_method m = METHOD_REFRESH;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(restore_plan_assign(&p, nodes, 2, &m, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "cannot load keyspaces that use tablets (tk)"));
    /* load-and-stream is load-and-stream for every table */
    m = METHOD_LAS;
    assert_int_equal(restore_plan_assign(&p, nodes, 2, &m, &e), 0);
    assert_int_equal(bytes_on(&p, 0) + bytes_on(&p, 1), 280);
    restore_plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonempty_tables),
        cmocka_unit_test(test_auto_refresh_when_same_nodes),
        cmocka_unit_test(test_auto_load_and_stream_when_tokens_differ),
        cmocka_unit_test(test_refresh_refused_without_the_nodes),
        cmocka_unit_test(test_load_and_stream_balances_bytes),
        cmocka_unit_test(test_tablets_load_and_stream_in_a_refresh),
        cmocka_unit_test(test_tablets_refuse_method_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
