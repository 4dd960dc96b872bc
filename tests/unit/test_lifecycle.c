/* delete_backup, the restore lease, lease listing and the retention keys of cluster.yaml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "command/delete.h"
#include "command/backup_guard.h"
#include "command/lease_who.h"
#include "command/restore_lease.h"
#include "coord_config.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

static int setup(void **state)
{
    repo_fixture *f = calloc(1, sizeof(*f));
    if (!f || repo_fixture_open(f) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    repo_fixture *f = *state;
    int rc = repo_fixture_close(f);
    free(f);
    return rc;
}

static void write_backup(repo *r, const char *tag, bool complete)
{
    char key[256];
    cairn_err e;
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "c1";
    h.tag = (char *)tag;
    h.host_id = "h1";
    manifest_writer *w = NULL;
    char sha[65];
    repo_node_manifest_key("c1", tag, "h1", key, sizeof(key));
    assert_int_equal(manifest_node_begin(r, key, &h, &w, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);
    if (!complete)
        return;
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "c1";
    m.tag = (char *)tag;
    m.start_ms = 1000;
    m.end_ms = 2000;
    repo_cluster_manifest_key("c1", tag, key, sizeof(key));
    assert_int_equal(manifest_cluster_write(r, key, &m, &e), 0);
}

static int count_key(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    (*(int *)ctx)++;
    return 0;
}

static int keys_under(repo *r, const char *prefix)
{
    int n = 0;
    cairn_err e;
    assert_int_equal(repo_manifest_list(r, prefix, count_key, &n, &e), 0);
    return n;
}

static void delete_removes_the_backup(void **state)
{
    repo_fixture *f = *state;
    write_backup(f->r, "t1", true);
    write_backup(f->r, "t10", true); /* a tag that t1 prefixes: untouched */
    delete_result res;
    cairn_err e;
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), 0);
    assert_true(res.complete);
    assert_int_equal(res.objects, 1);
    assert_int_equal(keys_under(f->r, "backups/c1/t1/"), 0);
    assert_int_equal(keys_under(f->r, "backups/c1/t10/"), 2);
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no backup tagged t1 of cluster c1"));
    assert_int_equal(delete_backup(f->r, "c1", "../x", &res, &e), CAIRN_EINVAL);
}

static void delete_finishes_leftovers(void **state)
{
    repo_fixture *f = *state;
    write_backup(f->r, "half", false);
    delete_result res;
    cairn_err e;
    assert_int_equal(delete_backup(f->r, "c1", "half", &res, &e), 0);
    assert_false(res.complete);
    assert_int_equal(res.objects, 1);
    assert_int_equal(keys_under(f->r, "backups/"), 0);
}

static int count_lease(void *ctx, const repo_lease_view *l, cairn_err *e)
{
    (*(int *)ctx)++;
    assert_false(l->exclusive);
    return 0;
}

static void restore_lease_blocks_delete(void **state)
{
    repo_fixture *f = *state;
    write_backup(f->r, "t1", true);
    write_backup(f->r, "t", true);
    cairn_err e;
    assert_int_equal(restore_lease_take(f->r, "c1", "t1", &e), 0);
    int n = 0;
    assert_int_equal(repo_lease_each(f->r, count_lease, &n, &e), 0);
    assert_int_equal(n, 1);
    bool found = false;
    char owner[256];
    assert_int_equal(lease_who_restore(f->r, "c1", "t1", &found, owner, sizeof(owner), &e), 0);
    assert_true(found);
    assert_true(strncmp(owner, "cairn restore c1/t1 on ", 23) == 0);
    /* Neither another cluster's t1 nor a tag t1 starts with. */
    assert_int_equal(lease_who_restore(f->r, "c2", "t1", &found, owner, sizeof(owner), &e), 0);
    assert_false(found);
    assert_int_equal(lease_who_restore(f->r, "c1", "t", &found, owner, sizeof(owner), &e), 0);
    assert_false(found);
    delete_result res;
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "being restored"));
    assert_int_equal(delete_backup(f->r, "c1", "t", &res, &e), 0);
    restore_lease_drop();
    n = 0;
    assert_int_equal(repo_lease_each(f->r, count_lease, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), 0);
    restore_lease_drop(); /* none held: a no-op */
}

/* A running backup's tag: its cluster manifest would land on what delete removed. */
static void backup_lease_blocks_delete(void **state)
{
    repo_fixture *f = *state;
    write_backup(f->r, "t1", false);
    cairn_err e;
    repo_lease *l = NULL;
    backup_owner o = {.cluster = "c1", .tag = "t1", .host = "h", .pid = 1, .start_ms = 1};
    char owner[512];
    backup_owner_format(&o, owner, sizeof(owner));
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, owner, 60, &l, &e), 0);
    bool found = false;
    assert_int_equal(lease_who_backup(f->r, "c1", "t", &found, NULL, 0, &e), 0);
    assert_false(found); /* a shorter tag */
    assert_int_equal(lease_who_backup(f->r, "c2", "t1", &found, NULL, 0, &e), 0);
    assert_false(found); /* another cluster */
    assert_int_equal(lease_who_backup(f->r, "c1", "t1", &found, NULL, 0, &e), 0);
    assert_true(found);
    delete_result res;
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "is running"));
    repo_lease_release(l);
    assert_int_equal(delete_backup(f->r, "c1", "t1", &res, &e), 0);
}

static char path[] = "/tmp/cairn-life-XXXXXX";

static int load(const char *yaml, coord_config *c, cairn_err *e)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "cluster: prod\ninsecure: true\nagents: [a:1]\n%s", yaml);
    fclose(f);
    err_clear(e);
    return coord_config_load(path, c, e);
}

static void retention_keys(void **state)
{
    coord_config c;
    cairn_err e;
    assert_int_equal(load("", &c, &e), 0);
    assert_false(retention_policy_set(&c.retention));
    coord_config_free(&c);
    assert_int_equal(load("retention:\n  keep_last: 3\n  keep_daily: 7\n  keep_weekly: 4\n"
                          "  keep_monthly: 12\n  keep_yearly: 2\n  keep_within: 1w2d\n",
                          &c, &e),
                     0);
    assert_int_equal(c.retention.keep_last, 3);
    assert_int_equal(c.retention.keep_daily, 7);
    assert_int_equal(c.retention.keep_weekly, 4);
    assert_int_equal(c.retention.keep_monthly, 12);
    assert_int_equal(c.retention.keep_yearly, 2);
    assert_true(c.retention.keep_within_ms == 9LL * 86400 * 1000);
    assert_string_equal(c.retention.keep_within, "1w2d");
    coord_config_free(&c);

    assert_int_equal(load("retention:\n  keep_within: 30 days\n", &c, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "retention.keep_within is not a duration"));
    assert_int_equal(load("retention:\n  keep_daily: -1\n", &c, &e), CAIRN_ECONFIG);
    char want[128];
    snprintf(want, sizeof(want), "%s:5:", path);
    assert_true(strncmp(e.msg, want, strlen(want)) == 0);
    assert_non_null(strstr(e.msg, "keep_daily"));
    assert_int_equal(load("retention:\n  keep_hourly: 1\n", &c, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "keep_hourly"));
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(delete_removes_the_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_finishes_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_lease_blocks_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(backup_lease_blocks_delete, setup, teardown),
        cmocka_unit_test(retention_keys),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
