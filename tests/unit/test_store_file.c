/*
 * The file:// driver where the filesystem says no: names too long for it, files
 * where directories should be, entries that are neither, and what the store's
 * interface does for a driver without requests of its own (counts, batch deletes,
 * names a key cannot have).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct repo_dir {
    char path[64];
    store *s;
};

static int open_dir(void **state)
{
    struct repo_dir *d = calloc(1, sizeof(*d));
    snprintf(d->path, sizeof(d->path), "/tmp/cairn-storefile-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    char url[128];
    snprintf(url, sizeof(url), "file://%s", d->path);
    cairn_err e;
    assert_int_equal(store_open(&d->s, url, NULL, &e), 0);
    *state = d;
    return 0;
}

static int close_dir(void **state)
{
    struct repo_dir *d = *state;
    store_close(d->s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
    free(d);
    return 0;
}

static int keep(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    (void)size;
    (void)e;
    char *seen = ctx;
    strcat(seen, key);
    strcat(seen, ";");
    return 0;
}

static int drop(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    (void)ctx;
    (void)buf;
    (void)len;
    (void)e;
    return 0;
}

static void test_open_long_path(void **state)
{
    (void)state;
    char url[PATH_MAX + 32] = "file:///";
    memset(url + 8, 'a', PATH_MAX);
    url[8 + PATH_MAX] = '\0';
    store *s = NULL;
    cairn_err e;
    assert_int_equal(store_open(&s, url, NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "repository path in 'file:///aaa"));
    assert_null(s);
}

/* A component longer than the filesystem takes (NAME_MAX) is a valid key all the
 * same: every call says the filesystem's no, naming the key. */
static void test_name_too_long(void **state)
{
    struct repo_dir *d = *state;
    char key[400];
    memset(key, 'n', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    key[3] = '/';
    memcpy(key + sizeof(key) - 3, "/x", 2); /* nnn/nnn...nnn/x */
    cairn_err e;
    assert_int_equal(store_put_buf(d->s, key, "x", 1, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot create nnn/"));
    assert_int_equal(store_get(d->s, key, drop, NULL, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot read"));
    assert_int_equal(store_head(d->s, key, NULL, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot stat"));
    assert_int_equal(store_delete(d->s, key, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot delete"));
    char prefix[300];
    memset(prefix, 'p', sizeof(prefix) - 2);
    prefix[sizeof(prefix) - 2] = '/';
    prefix[sizeof(prefix) - 1] = '\0';
    char seen[64] = "";
    assert_int_equal(store_list(d->s, prefix, keep, seen, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot list"));
}

/* An object where a directory of a key should be, and a directory where an object
 * should be replaced. */
static void test_file_in_the_way(void **state)
{
    struct repo_dir *d = *state;
    cairn_err e;
    assert_int_equal(store_put_buf(d->s, "a", "1", 1, &e), 0);
    assert_int_equal(store_put_buf(d->s, "a/b", "2", 1, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot create a/b"));
    /* A link to nothing where a directory should be: the directories below it
     * cannot be made. */
    char path[256];
    snprintf(path, sizeof(path), "%s/ln", d->path);
    assert_int_equal(symlink("/nonexistent/cairn", path), 0);
    assert_int_equal(store_put_buf(d->s, "ln/b/c", "2", 1, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "cannot create ln/b/c"));
    assert_int_equal(store_get(d->s, "a/b", drop, NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_head(d->s, "a/b", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_delete(d->s, "a/b", &e), 0);

    assert_int_equal(store_put_buf(d->s, "dir/x", "3", 1, &e), 0);
    assert_int_equal(store_put_buf(d->s, "dir", "4", 1, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot commit dir"));
    assert_int_equal(store_get(d->s, "dir", drop, NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_head(d->s, "dir", NULL, &e), CAIRN_ENOENT);
    /* Nothing of the failed put is left behind. */
    char seen[64] = "";
    assert_int_equal(store_list(d->s, "", keep, seen, &e), 0);
    assert_string_equal(seen, "a;dir/x;"); /* and ln, a link to nothing, is no key */
}

/* Entries no key names: links to nothing or to devices, hidden files, and names
 * with bytes a key cannot have are all left out of a listing. */
static void test_list_skips_strangers(void **state)
{
    struct repo_dir *d = *state;
    cairn_err e;
    assert_int_equal(store_put_buf(d->s, "k/one", "1", 1, &e), 0);
    assert_int_equal(store_put_buf(d->s, "k/two", "22", 2, &e), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/k/dangling", d->path);
    assert_int_equal(symlink("/nonexistent/cairn", path), 0);
    snprintf(path, sizeof(path), "%s/k/device", d->path);
    assert_int_equal(symlink("/dev/null", path), 0);
    snprintf(path, sizeof(path), "%s/k/.hidden", d->path);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/k/tab\there", d->path);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/k/ctl\x01", d->path);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/k/ctl\x01/inner", d->path);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    char seen[128] = "";
    assert_int_equal(store_list(d->s, "k/", keep, seen, &e), 0);
    assert_string_equal(seen, "k/one;k/two;");
}

static void test_counts_and_batches(void **state)
{
    struct repo_dir *d = *state;
    cairn_err e;
    const char *keys[] = {"b/1", "b/2", "b/3"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(store_put_buf(d->s, keys[i], "x", 1, &e), 0);
    uint64_t size = 0;
    assert_int_equal(store_head(d->s, "b/1", &size, &e), 0);
    assert_int_equal(store_get(d->s, "b/2", drop, NULL, &e), 0);
    char seen[64] = "";
    assert_int_equal(store_list(d->s, "b/", keep, seen, &e), 0);
    /* Without a batch delete of its own, one delete per key; a bad key stops all. */
    const char *bad[] = {"b/1", "/b/2"};
    assert_int_equal(store_delete_many(d->s, bad, 2, &e), CAIRN_EINVAL);
    assert_int_equal(store_head(d->s, "b/1", NULL, &e), 0);
    assert_int_equal(store_delete_many(d->s, keys, 3, &e), 0);
    assert_int_equal(store_delete_many(d->s, keys, 0, &e), 0);
    assert_int_equal(store_head(d->s, "b/3", NULL, &e), CAIRN_ENOENT);
    store_counts c;
    store_stats(d->s, &c);
    assert_int_equal(c.puts, 3);
    assert_int_equal(c.heads, 3);
    assert_int_equal(c.gets, 1);
    assert_int_equal(c.lists, 1);
    assert_int_equal(c.deletes, 3);
    assert_int_equal(c.part_puts + c.mpu_initiates + c.retries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_long_path),
        cmocka_unit_test_setup_teardown(test_name_too_long, open_dir, close_dir),
        cmocka_unit_test_setup_teardown(test_file_in_the_way, open_dir, close_dir),
        cmocka_unit_test_setup_teardown(test_list_skips_strangers, open_dir, close_dir),
        cmocka_unit_test_setup_teardown(test_counts_and_batches, open_dir, close_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
