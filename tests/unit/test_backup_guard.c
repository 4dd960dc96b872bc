/* command/backup_guard: default tags, the backup lease's owner text, and the check
 * that refuses a second backup of a cluster while taking over a killed attempt's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "command/backup_guard.h"
#include "repo_fixture.h"

static void test_default_tags(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    backup_default_tag(1764622512345ULL, a, sizeof(a)); /* 2025-12-01 20:55:12.345 UTC */
    assert_string_equal(a, "cairn_20251201205512.345Z");
    backup_default_tag(1764622512346ULL, b, sizeof(b)); /* the same second */
    backup_default_tag(1764622513007ULL, c, sizeof(c));
    assert_string_not_equal(a, b);
    assert_true(strcmp(a, b) < 0 && strcmp(b, c) < 0); /* they sort by time */
    assert_string_equal(c, "cairn_20251201205513.007Z");
}

static backup_owner owner(const char *tag, long pid, uint64_t start_ms)
{
    backup_owner o = {.pid = pid, .start_ms = start_ms};
    snprintf(o.cluster, sizeof(o.cluster), "prod");
    snprintf(o.tag, sizeof(o.tag), "%s", tag);
    snprintf(o.host, sizeof(o.host), "ops1");
    return o;
}

static void test_owner_text(void **state)
{
    (void)state;
    backup_owner o = owner("nightly", 4242, 1764622512345ULL), p;
    char text[512];
    backup_owner_format(&o, text, sizeof(text));
    assert_int_equal(backup_owner_parse(text, &p), 0);
    assert_string_equal(p.cluster, "prod");
    assert_string_equal(p.tag, "nightly");
    assert_string_equal(p.host, "ops1");
    assert_int_equal(p.pid, 4242);
    assert_true(p.start_ms == 1764622512345ULL);
    /* Not a backup's: an older cairn's owner, a purge, junk. */
    assert_int_equal(backup_owner_parse("cairn backup nightly on ops1 pid 7", &p), CAIRN_EINVAL);
    assert_int_equal(backup_owner_parse("cairn purge by ops", &p), CAIRN_EINVAL);
    assert_int_equal(
        backup_owner_parse("cairn backup cluster=prod tag=x host=h pid=1x start_ms=1", &p),
        CAIRN_EINVAL);
}

static repo_lease *take(repo_fixture *f, const backup_owner *o)
{
    char text[512];
    backup_owner_format(o, text, sizeof(text));
    repo_lease *l = NULL;
    cairn_err e;
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, text, 60, &l, &e), 0);
    return l;
}

static int count_leases(repo_fixture *f)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "exit $(ls %s/repo/locks 2>/dev/null | wc -l)", f->dir);
    return WEXITSTATUS(system(cmd));
}

/* Takes o's lease as a backup does, the guard judging the others on the way. */
static int guarded(repo_fixture *f, const backup_owner *o, repo_lease **l, cairn_err *e)
{
    char text[512];
    backup_owner_format(o, text, sizeof(text));
    backup_guard g;
    backup_guard_init(&g, f->r, o);
    return repo_lease_acquire_seeing(f->r, REPO_LEASE_SHARED, text, 60, backup_guard_seen, &g, l,
                                     e);
}

static void test_guard(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    cairn_err e;
    backup_owner first = owner("slow-one", 100, 1000), second = owner("second-one", 200, 2000);
    repo_lease *l1 = NULL, *l2 = NULL;
    assert_int_equal(guarded(&f, &first, &l1, &e), 0); /* alone */
    /* The later backup is refused, naming the running one, and leaves no lease. */
    assert_int_equal(guarded(&f, &second, &l2, &e), CAIRN_EBUSY);
    assert_null(l2);
    assert_non_null(strstr(e.msg, "tag slow-one on host ops1, pid 100"));
    assert_int_equal(count_leases(&f), 1);
    /* The one that started first goes on beside a later one (which gives way). */
    repo_lease_release(l1);
    l2 = take(&f, &second);
    assert_int_equal(guarded(&f, &first, &l1, &e), 0);
    repo_lease_release(l2);
    /* Another cluster's backup, or a purge's lease, is none of its business. */
    backup_owner other = owner("x", 300, 10);
    snprintf(other.cluster, sizeof(other.cluster), "test");
    repo_lease *l3 = take(&f, &other);
    assert_int_equal(guarded(&f, &second, &l2, &e), CAIRN_EBUSY);
    repo_lease_release(l1);
    assert_int_equal(guarded(&f, &second, &l2, &e), 0);
    repo_lease_release(l2);
    /* A lease of the same tag by another process is a killed attempt's: taken over. */
    backup_owner killed = owner("second-one", 150, 1500);
    char text[512], lease[700];
    backup_owner_format(&killed, text, sizeof(text));
    snprintf(lease, sizeof(lease),
             "cairn-lease 1\nkind: shared\nowner: %s\nexpires_ms: 99999999999999\n", text);
    store *s; /* its process died: the lease object stays, unexpired */
    assert_int_equal(store_open(&s, f.url, NULL, &e), 0);
    assert_int_equal(store_put_buf(s, "locks/shared-killed.lease", lease, strlen(lease), &e), 0);
    store_close(s);
    assert_int_equal(count_leases(&f), 2);
    assert_int_equal(guarded(&f, &second, &l2, &e), 0);
    assert_int_equal(count_leases(&f), 2); /* l3 and ours; the killed attempt's is gone */
    repo_lease_release(l2);
    repo_lease_release(l3);
    assert_int_equal(count_leases(&f), 0);
    assert_int_equal(repo_fixture_close(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_tags),
        cmocka_unit_test(test_owner_text),
        cmocka_unit_test(test_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
