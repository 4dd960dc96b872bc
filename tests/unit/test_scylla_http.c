/*
 * Tests for agent/scylla's HTTP layer (scylla_http): error and malformed bodies, a raw
 * request, a refused connection, a timeout, an oversized body, and threads sharing one
 * handle, against the fake REST port of scylla_fake.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "node/scylla.h"
#include "scylla_fake.h"

static void test_error_bodies(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 400, "{\"message\": \"Can't find a keyspace nope\", \"code\": 400}");
    assert_int_equal(scylla_flush(v->s, "nope", NULL, 0, &e), CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered POST /storage_service/keyspace_flush/nope with "
                               "400: Can't find a keyspace nope");

    fake_push(v->f, 503, "Service Unavailable\n");
    assert_int_equal(scylla_request(v->s, "GET", "/storage_service/cluster_name", NULL, &e),
                     CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered GET /storage_service/cluster_name with 503: "
                               "Service Unavailable?");

    fake_push(v->f, 404, "");
    assert_int_equal(scylla_request(v->s, "GET", "/nothing", NULL, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "with 404: (empty body)"));

    fake_push(v->f, 302, "");
    assert_int_equal(scylla_request(v->s, "GET", "/moved", NULL, &e), CAIRN_EPROTO);
}

static void test_bad_bodies(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = NULL;
    char **items;
    size_t n;
    fake_push(v->f, 200, "<html>hello</html>");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_null(s);
    assert_non_null(strstr(e.msg, "not JSON: <html>hello</html>"));

    fake_push(v->f, 200, "\"dc1\" trailing");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);

    fake_push(v->f, 200, "42");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "with int where a string was expected"));

    fake_push(v->f, 200, "");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "an empty body"));

    fake_push(v->f, 200, "[\"ks1\", 7]");
    assert_int_equal(scylla_keyspaces(v->s, "all", &items, &n, &e), CAIRN_EPROTO);
    fake_push(v->f, 200, "{\"ks1\": 1}");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
    assert_null(items);
    fake_push(v->f, 200, "[\"unterminated");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
}

static void test_raw_request(void **state)
{
    env *v = *state;
    cairn_err e;
    json_object *o = (json_object *)1;
    fake_push(v->f, 200, "");
    assert_int_equal(
        scylla_request(v->s, "POST", "/storage_service/incremental_backups?value=true", &o, &e), 0);
    assert_null(o);
    fake_push(v->f, 200, "true");
    assert_int_equal(scylla_request(v->s, "GET", "/storage_service/incremental_backups", &o, &e),
                     0);
    assert_true(json_object_get_boolean(o));
    json_object_put(o);
    fake_push(v->f, 200, "not json but ignored");
    assert_int_equal(scylla_request(v->s, "POST", "/x", NULL, &e), 0);

    assert_int_equal(scylla_request(v->s, "PUT", "/x", NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_request(v->s, "GET", "x", NULL, &e), CAIRN_EINVAL);
    assert_string_equal(line(v->f, 0),
                        "POST /storage_service/incremental_backups?value=true HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/incremental_backups HTTP/1.1");
    assert_string_equal(line(v->f, 3), "(no request)");
}

static void test_connection_refused(void **state)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    scylla *s;
    cairn_err e;
    assert_int_equal(scylla_open(&s, url, 1000, &e), 0);
    char *dc = NULL;
    assert_int_equal(scylla_datacenter(s, &dc, &e), CAIRN_ECONN);
    assert_null(dc);
    char want[128];
    snprintf(want, sizeof(want), "cannot reach ScyllaDB's REST API at %s (is scylla-server", url);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "api_address"));
    scylla_close(s);
}

static long elapsed_ms(struct timespec a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

static void test_timeout(void **state)
{
    fake *f = fake_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    scylla *s;
    cairn_err e;
    assert_int_equal(scylla_open(&s, url, 300, &e), 0);
    fake_push_kind(f, REPLY_HANG);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *dc = NULL;
    assert_int_equal(scylla_datacenter(s, &dc, &e), CAIRN_ETIMEDOUT);
    assert_true(elapsed_ms(t0) < 60000); /* a hang guard only: the message names the limit */
    assert_non_null(strstr(e.msg, "did not answer GET /snitch/datacenter within 300 ms"));

    /* Slow calls follow their own timeout. */
    scylla_set_slow_timeout(s, 200);
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_flush(s, "ks1", NULL, 0, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "within 200 ms"));

    /* Each kind has its own limit, and the message names the call and its setting. */
    scylla_set_limits(s, 150, 0, 5000);
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_flush(s, "ks1", NULL, 0, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "keyspace_flush/ks1 within 150 ms"));
    assert_non_null(strstr(e.msg, "scylla.flush_timeout"));
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_snapshot(s, "t", "ks1", NULL, 0, true, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "within 200 ms")); /* kept: 0 changes nothing */
    assert_non_null(strstr(e.msg, "scylla.snapshot_timeout"));

    /* The client recovers: a later call works on a fresh connection. */
    fake_push(f, 200, "\"dc2\"");
    assert_int_equal(scylla_datacenter(s, &dc, &e), 0);
    assert_string_equal(dc, "dc2");
    free(dc);
    scylla_close(s);
    fake_stop(f);
}

static void test_oversized_body(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items = NULL;
    size_t n;
    /* 64 MiB through a sanitized build on a busy machine can take seconds: the call's
     * limit here is only a hang guard, the size limit is what is tested. */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", v->f->port);
    scylla *s;
    assert_int_equal(scylla_open(&s, url, 120000, &e), 0);
    fake_push_kind(v->f, REPLY_HUGE_LENGTH);
    assert_int_equal(scylla_tables(s, &items, &n, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "larger than the 64 MiB"));
    fake_push_kind(v->f, REPLY_HUGE_CHUNKED);
    assert_int_equal(scylla_tables(s, &items, &n, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "larger than the 64 MiB"));
    assert_null(items);
    scylla_close(s);
}

typedef struct worker {
    scylla *s;
    int ok;
} worker;

static void *call_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        char *dc = NULL;
        if (scylla_datacenter(w->s, &dc, NULL) == 0 && strcmp(dc, "dc9") == 0)
            w->ok++;
        free(dc);
    }
    return NULL;
}

static void test_threads_share_a_handle(void **state)
{
    env *v = *state;
    v->f->fallback = (step){REPLY_NORMAL, 200, "\"dc9\""};
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){v->s, 0};
        pthread_create(&th[i], NULL, call_many, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 25);
    }
    /* Pooled handles keep their connections: far fewer connections than calls. */
    assert_true(nconns(v->f) <= 8);
}

/* The whole node description, in the order describe_node asks. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_error_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_request, setup, teardown),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_a_handle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
