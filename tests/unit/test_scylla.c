/*
 * Tests for agent/scylla: the REST client against an in-process fake HTTP server that
 * records every request line and answers from a script.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backup/schema_keyspaces.h"
#include "node/scylla.h"
#include "status/describe.h"
#include "scylla_fake.h"

static void test_escape(void **state)
{
    char *x = scylla_escape("a b/c:d~_-.Z9?&=,\xc3\xa9");
    assert_string_equal(x, "a%20b%2Fc%3Ad~_-.Z9%3F%26%3D%2C%C3%A9");
    free(x);
    x = scylla_escape("");
    assert_string_equal(x, "");
    free(x);
    assert_null(scylla_escape(NULL));
}

static void test_open_rejects_bad_arguments(void **state)
{
    scylla *s = (scylla *)1;
    cairn_err e;
    assert_int_equal(scylla_open(&s, "127.0.0.1:10000", 1000, &e), CAIRN_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(e.msg, "http://"));
    assert_int_equal(scylla_open(&s, "http://127.0.0.1:10000", 0, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_open(&s, NULL, 1000, NULL), CAIRN_ECONFIG);
}

static void test_identity(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = NULL;
    fake_push(v->f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(v->f, 200, "\"dc1\"");
    fake_push(v->f, 200, "\"rack-a\"");
    fake_push(v->f, 200, "\"2025.1.0-0.20250130.abc\"");
    fake_push(v->f, 200, "\"Test Cluster\"");

    assert_int_equal(scylla_host_id(v->s, &s, &e), 0);
    assert_string_equal(s, "a4c3b5d6-1111-2222-3333-444455556666");
    free(s);
    assert_int_equal(scylla_datacenter(v->s, &s, &e), 0);
    assert_string_equal(s, "dc1");
    free(s);
    assert_int_equal(scylla_rack(v->s, &s, &e), 0);
    assert_string_equal(s, "rack-a");
    free(s);
    assert_int_equal(scylla_release_version(v->s, &s, &e), 0);
    assert_string_equal(s, "2025.1.0-0.20250130.abc");
    free(s);
    assert_int_equal(scylla_cluster_name(v->s, &s, &e), 0);
    assert_string_equal(s, "Test Cluster");
    free(s);

    assert_string_equal(line(v->f, 0), "GET /storage_service/hostid/local HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /snitch/datacenter HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /snitch/rack HTTP/1.1");
    assert_string_equal(line(v->f, 3), "GET /storage_service/scylla_release_version HTTP/1.1");
    assert_string_equal(line(v->f, 4), "GET /storage_service/cluster_name HTTP/1.1");
    /* Keep-alive: five sequential calls, one TCP connection. */
    assert_int_equal(nconns(v->f), 1);
}

static void test_host_id_not_set(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = (char *)1;
    fake_push(v->f, 404, "{\"message\": \"Local host ID not set\", \"code\": 404}");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_ENOENT);
    assert_null(s);
    assert_int_equal(e.code, CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no host id yet"));
    assert_non_null(strstr(e.msg, "Local host ID not set"));

    /* Any other failure on the same route stays a remote error. */
    fake_push(v->f, 500, "{\"message\": \"boom\", \"code\": 500}");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_EREMOTE);
    /* An empty host id is not one. */
    fake_push(v->f, 200, "\"\"");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_EPROTO);
}

static void test_data_dirs(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"/var/lib/scylla/data\", \"/mnt/disk2/data\"]");
    assert_int_equal(scylla_data_dirs(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "/var/lib/scylla/data");
    assert_string_equal(items[1], "/mnt/disk2/data");
    scylla_strv_free(items, n);
    assert_string_equal(line(v->f, 0), "GET /storage_service/data_file/locations HTTP/1.1");

    fake_push(v->f, 200, "[]");
    assert_int_equal(scylla_data_dirs(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 0);
    scylla_strv_free(items, n);
}

static void test_ring(void **state)
{
    env *v = *state;
    cairn_err e;
    scylla_endpoint *eps;
    size_t n;
    fake_push(v->f, 200,
              "[{\"key\": \"10.0.0.1\", \"value\": \"h1\"}, {\"key\": \"10.0.0.2\", \"value\": "
              "\"h2\"}, {\"key\": \"10.0.0.3\", \"value\": \"h3\"}, {\"key\": \"10.0.0.4\", "
              "\"value\": \"h4\"}]");
    fake_push(v->f, 200, "[\"10.0.0.1\", \"10.0.0.4\"]");
    fake_push(v->f, 200, "[\"10.0.0.2\", \"10.0.0.4\"]");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_string_equal(eps[0].address, "10.0.0.1");
    assert_string_equal(eps[0].host_id, "h1");
    assert_true(eps[0].up);
    assert_string_equal(eps[1].host_id, "h2");
    assert_false(eps[1].up); /* listed down */
    assert_string_equal(eps[2].host_id, "h3");
    assert_false(eps[2].up); /* in neither list */
    assert_false(eps[3].up); /* contradictory: treated as down */
    scylla_ring_free(eps, n);
    assert_string_equal(line(v->f, 0), "GET /storage_service/host_id HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /gossiper/endpoint/live/ HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /gossiper/endpoint/down/ HTTP/1.1");
}

static void test_ring_bad_shape(void **state)
{
    env *v = *state;
    cairn_err e;
    scylla_endpoint *eps = (scylla_endpoint *)1;
    size_t n = 7;
    fake_push(v->f, 200, "[{\"key\": \"10.0.0.1\", \"value\": \"h1\"}, {\"key\": \"10.0.0.2\"}]");
    fake_push(v->f, 200, "[]");
    fake_push(v->f, 200, "[]");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), CAIRN_EPROTO);
    assert_null(eps);
    assert_int_equal(n, 0);
    assert_non_null(strstr(e.msg, "/storage_service/host_id"));

    /* A failure of the second call is reported, and nothing leaks. */
    fake_push(v->f, 200, "[]");
    fake_push(v->f, 500, "{\"message\": \"gossiper not ready\"}");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "gossiper not ready"));
}

static void test_tokens(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"-9223372036854775808\", \"0\", \"42\"]");
    assert_int_equal(scylla_tokens(v->s, NULL, &items, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "-9223372036854775808");
    assert_string_equal(items[2], "42");
    scylla_strv_free(items, n);

    fake_push(v->f, 200, "[\"1\"]");
    assert_int_equal(scylla_tokens(v->s, "10.0.0.2", &items, &n, &e), 0);
    scylla_strv_free(items, n);
    fake_push(v->f, 200, "[\"2\"]");
    assert_int_equal(scylla_tokens(v->s, "fe80::1%eth0", &items, &n, &e), 0);
    scylla_strv_free(items, n);
    assert_int_equal(scylla_tokens(v->s, "", &items, &n, &e), CAIRN_EINVAL);

    assert_string_equal(line(v->f, 0), "GET /storage_service/tokens HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/tokens/10.0.0.2 HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /storage_service/tokens/fe80::1%25eth0 HTTP/1.1");
}

static void test_keyspaces_and_tables(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"ks1\", \"ks2\"]");
    assert_int_equal(scylla_keyspaces(v->s, "user", &items, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "ks2");
    scylla_strv_free(items, n);
    fake_push(v->f, 200, "[\"system\"]");
    assert_int_equal(scylla_keyspaces(v->s, NULL, &items, &n, &e), 0);
    scylla_strv_free(items, n);
    assert_int_equal(scylla_keyspaces(v->s, "user&x=1", &items, &n, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "non_local_strategy"));

    fake_push(v->f, 200, "[\"ks1:t1\", \"ks1:t2\", \"system:local\"]");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "ks1:t1");
    assert_string_equal(items[2], "system:local");
    scylla_strv_free(items, n);

    assert_string_equal(line(v->f, 0), "GET /storage_service/keyspaces?type=user HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/keyspaces HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /column_family/name HTTP/1.1");
}

static bool tablets_of(Cairn__Repo__KeyspaceInfo **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->name, name) == 0)
            return v[i]->has_tablets && v[i]->tablets;
    fail_msg("keyspace %s not reported", name);
    return false;
}

/* Which keyspaces use tablets: the node's two filtered lists; a version that ignores
 * the filter names every keyspace in both, and then none is taken as using tablets. */
static void test_schema_keyspaces(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Repo__KeyspaceInfo **ks;
    size_t n;
    fake_push(v->f, 200, "[\"tk\"]");
    fake_push(v->f, 200, "[\"vk\", \"other\"]");
    assert_int_equal(schema_keyspaces(v->s, &ks, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_true(tablets_of(ks, n, "tk"));
    assert_false(tablets_of(ks, n, "vk"));
    assert_false(tablets_of(ks, n, "other"));
    for (size_t i = 0; i < n; i++)
        cairn__repo__keyspace_info__free_unpacked(ks[i], NULL);
    free(ks);
    assert_string_equal(line(v->f, 0),
                        "GET /storage_service/keyspaces?type=user&replication=tablets HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "GET /storage_service/keyspaces?type=user&replication=vnodes HTTP/1.1");

    fake_push(v->f, 200, "[\"a\", \"b\"]"); /* an old version: the filter ignored */
    fake_push(v->f, 200, "[\"a\", \"b\"]");
    assert_int_equal(schema_keyspaces(v->s, &ks, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_false(tablets_of(ks, n, "a") || tablets_of(ks, n, "b"));
    for (size_t i = 0; i < n; i++)
        cairn__repo__keyspace_info__free_unpacked(ks[i], NULL);
    free(ks);

    fake_push(v->f, 500, "{\"message\": \"boom\", \"code\": 500}");
    assert_int_not_equal(schema_keyspaces(v->s, &ks, &n, &e), 0);
    assert_non_null(strstr(e.msg, "which keyspaces use tablets"));
    assert_null(ks);
    assert_int_equal(n, 0);
}

static void test_flush(void **state)
{
    env *v = *state;
    cairn_err e;
    const char *tables[] = {"t1", "t2"};
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_flush(v->s, "ks1", tables, 2, &e), 0);
    assert_int_equal(scylla_flush(v->s, "ks1", NULL, 0, &e), 0);
    assert_string_equal(line(v->f, 0),
                        "POST /storage_service/keyspace_flush/ks1?cf=t1,t2 HTTP/1.1");
    assert_string_equal(line(v->f, 1), "POST /storage_service/keyspace_flush/ks1 HTTP/1.1");
    assert_int_equal(scylla_flush(v->s, "", NULL, 0, &e), CAIRN_EINVAL);
    const char *bad[] = {"t1", ""};
    assert_int_equal(scylla_flush(v->s, "ks1", bad, 2, &e), CAIRN_EINVAL);
}

static void test_snapshot(void **state)
{
    env *v = *state;
    cairn_err e;
    const char *tables[] = {"t1", "t2"};
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_snapshot(v->s, "cairn-20250101", "ks1", tables, 2, true, &e), 0);
    assert_int_equal(scylla_snapshot(v->s, "tag 1", "ks1", NULL, 0, false, &e), 0);
    assert_int_equal(scylla_snapshot(v->s, "t", NULL, NULL, 0, true, &e), 0);
    assert_string_equal(
        line(v->f, 0), "POST /storage_service/snapshots?tag=cairn-20250101&kn=ks1&cf=t1,t2&sf=true "
                       "HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/snapshots?tag=tag%201&kn=ks1 HTTP/1.1");
    assert_string_equal(line(v->f, 2), "POST /storage_service/snapshots?tag=t&sf=true HTTP/1.1");

    assert_int_equal(scylla_snapshot(v->s, "", "ks1", NULL, 0, true, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot(v->s, NULL, "ks1", NULL, 0, true, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot(v->s, "t", NULL, tables, 1, true, &e), CAIRN_EINVAL);

    fake_push(v->f, 500,
              "{\"message\": \"Keyspace ks1: snapshot cairn-20250101 already exists.\", \"code\": "
              "500}");
    assert_int_equal(scylla_snapshot(v->s, "cairn-20250101", "ks1", NULL, 0, true, &e),
                     CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered POST "
                               "/storage_service/snapshots?tag=cairn-20250101&kn=ks1&sf=true with "
                               "500: Keyspace ks1: snapshot cairn-20250101 already exists.");
    assert_string_equal(line(v->f, 4), "(no request)");
}

static void test_snapshot_delete(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", NULL, NULL, &e), 0);
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", "ks1", NULL, &e), 0);
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", "ks1", "t1", &e), 0);
    assert_string_equal(line(v->f, 0), "DELETE /storage_service/snapshots?tag=cairn-1 HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "DELETE /storage_service/snapshots?tag=cairn-1&kn=ks1 HTTP/1.1");
    assert_string_equal(line(v->f, 2),
                        "DELETE /storage_service/snapshots?tag=cairn-1&kn=ks1&cf=t1 HTTP/1.1");
    /* Never "delete every snapshot" by accident. */
    assert_int_equal(scylla_snapshot_delete(v->s, NULL, NULL, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot_delete(v->s, "", "ks1", NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot_delete(v->s, "x", NULL, "t1", &e), CAIRN_EINVAL);
    assert_string_equal(line(v->f, 3), "(no request)");
}

static void test_incremental_backups(void **state)
{
    env *v = *state;
    cairn_err e;
    bool on = true;
    fake_push(v->f, 200, "false");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "\"yes\"");
    assert_int_equal(scylla_incremental_backups_get(v->s, &on, &e), 0);
    assert_false(on);
    assert_int_equal(scylla_incremental_backups_set(v->s, true, &e), 0);
    assert_int_equal(scylla_incremental_backups_set(v->s, false, &e), 0);
    assert_int_equal(scylla_incremental_backups_get(v->s, &on, &e), CAIRN_EPROTO);
    assert_string_equal(line(v->f, 0), "GET /storage_service/incremental_backups HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/incremental_backups?value=true HTTP/1.1");
    assert_string_equal(line(v->f, 2),
                        "POST /storage_service/incremental_backups?value=false HTTP/1.1");
}

static void test_load_sstables(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", false, false, &e), 0);
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, true, &e), 0);
    assert_string_equal(line(v->f, 0), "POST /storage_service/sstables/ks1?cf=t1 HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/sstables/ks1?cf=t1&load_and_stream=true"
                        "&primary_replica_only=true HTTP/1.1");

    fake_push(v->f, 500,
              "{\"message\": \"Already loading SSTables. Try again later\", \"code\": 500}");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, false, &e), CAIRN_EBUSY);
    assert_int_equal(e.code, CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "try again later"));

    fake_push(v->f, 500,
              "{\"message\": \"Failed to load new sstables: std::runtime_error (bad TOC)\", "
              "\"code\": 500}");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, false, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "with 500: Failed to load new sstables: std::runtime_error"));
    assert_int_equal(scylla_load_sstables(v->s, "ks1", NULL, true, false, &e), CAIRN_EINVAL);
}

static void push_node(fake *f, const char *ring)
{
    fake_push(f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(f, 200, "\"Test Cluster\"");
    fake_push(f, 200, "\"dc1\"");
    fake_push(f, 200, "\"rack-a\"");
    fake_push(f, 200, "\"2025.1.0\"");
    fake_push(f, 200, "[\"/var/lib/scylla/data\"]");
    fake_push(f, 200, ring);
    fake_push(f, 200, "[\"10.0.0.1\"]");
    fake_push(f, 200, "[]");
    fake_push(f, 200, "[\"-9000\", \"42\"]");
    fake_push(f, 200, "[\"ks1\", \"ks2\"]");
    /* System tables, a keyspace that is not a user's and a name that is not valid are
     * left out. */
    fake_push(f, 200,
              "[\"ks1:t1\", \"system:peers\", \"ks2:t2\", \"ks1:bad name\", \"nocolon\", "
              "\"other:t3\"]");
    fake_push(f, 200, "true");
}

static void test_describe_node(void **state)
{
    env *v = *state;
    cairn_err e;
    push_node(v->f,
              "[{\"key\": \"10.0.0.2\", \"value\": \"b4c3b5d6-1111-2222-3333-444455556666\"}, "
              "{\"key\": \"10.0.0.1\", \"value\": \"a4c3b5d6-1111-2222-3333-444455556666\"}]");
    Cairn__Rpc__NodeInfo *n = NULL;
    if (describe_node(v->s, &n, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(n->host_id, "a4c3b5d6-1111-2222-3333-444455556666");
    assert_string_equal(n->address, "10.0.0.1");
    assert_string_equal(n->scylla_cluster, "Test Cluster");
    assert_string_equal(n->dc, "dc1");
    assert_string_equal(n->rack, "rack-a");
    assert_int_equal(n->n_data_dirs, 1);
    assert_int_equal(n->n_ring, 2);
    assert_false(n->ring[0]->up);
    assert_true(n->ring[1]->up);
    assert_int_equal(n->n_tokens, 2);
    assert_int_equal(n->n_tables, 2);
    assert_string_equal(n->tables[0]->keyspace, "ks1");
    assert_string_equal(n->tables[0]->name, "t1");
    assert_string_equal(n->tables[1]->keyspace, "ks2");
    assert_string_equal(n->tables[1]->name, "t2");
    assert_string_equal(n->agent_version, CAIRN_VERSION);
    assert_true(n->has_incremental_backups);
    assert_true(n->incremental_backups);
    assert_string_equal(line(v->f, 12), "GET /storage_service/incremental_backups HTTP/1.1");
    cairn__rpc__node_info__free_unpacked(n, NULL);
}

static void test_describe_node_not_in_ring(void **state)
{
    env *v = *state;
    cairn_err e;
    push_node(v->f,
              "[{\"key\": \"10.0.0.2\", \"value\": \"b4c3b5d6-1111-2222-3333-444455556666\"}]");
    Cairn__Rpc__NodeInfo *n = NULL;
    assert_int_equal(describe_node(v->s, &n, &e), CAIRN_EPROTO);
    assert_null(n);
    assert_non_null(strstr(e.msg, "still joining"));

    /* A failure half-way frees what was gathered. */
    fake_push(v->f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(v->f, 500, "{\"message\": \"boom\"}");
    assert_int_equal(describe_node(v->s, &n, &e), CAIRN_EREMOTE);
    assert_null(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_open_rejects_bad_arguments),
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_id_not_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_bad_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyspaces_and_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_keyspaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_backups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_sstables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_node_not_in_ring, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
