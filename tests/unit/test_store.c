#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "store/store_impl.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    char root[96];
    char url[128];
    store *s;
};

static int rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    return system(cmd);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/repo", f->dir);
    snprintf(f->url, sizeof(f->url), "file://%s/", f->root);
    cairn_err e;
    assert_int_equal(store_open(&f->s, f->url, NULL, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_file_fail_writes_after(0, 0);
    store_close(f->s);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void assert_object(store *s, const char *key, const void *want, size_t len)
{
    buf m = {0};
    cairn_err e;
    uint64_t size = 0;
    assert_int_equal(store_head(s, key, &size, &e), 0);
    assert_int_equal(size, len);
    assert_int_equal(store_get(s, key, mem_sink, &m, &e), 0);
    assert_int_equal(m.len, len);
    if (len)
        assert_memory_equal(m.data, want, len);
    free(m.data);
}

/* Number of entries in dir (recursively) whose name starts with ".tmp". */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strncmp(de->d_name, ".tmp", 4))
            n++;
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            n += count_temps(sub);
    }
    closedir(d);
    return n;
}

static void test_open_urls(void **state)
{
    (void)state;
    store *s = NULL;
    cairn_err e;
    assert_int_equal(store_open(&s, "ftp://host/prefix", NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "unsupported repository location"));
    assert_null(s);
    assert_int_equal(store_open(&s, "file://relative/path", NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "absolute path"));
    assert_int_equal(store_open(&s, "/just/a/path", NULL, &e), CAIRN_EINVAL);
}

static void test_open_creates_nothing(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_not_equal(stat(f->root, &st), 0);
    assert_string_equal(store_url(f->s), f->url);
    cairn_err e;
    assert_int_equal(store_head(f->s, "x", NULL, &e), CAIRN_ENOENT);
    assert_int_not_equal(stat(f->root, &st), 0);
}

static void test_put_get_head(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    assert_int_equal(store_put_buf(f->s, "a/b/c.txt", "hello", 5, &e), 0);
    assert_object(f->s, "a/b/c.txt", "hello", 5);
    /* A second put replaces the object whole. */
    assert_int_equal(store_put_buf(f->s, "a/b/c.txt", "bye", 3, &e), 0);
    assert_object(f->s, "a/b/c.txt", "bye", 3);
    assert_int_equal(store_put_buf(f->s, "empty", "", 0, &e), 0);
    assert_object(f->s, "empty", "", 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/c.txt", f->root);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 3);

    buf m = {0};
    assert_int_equal(store_get(f->s, "a/b/missing", mem_sink, &m, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "a/b/missing"));
    assert_int_equal(store_head(f->s, "nope/x", NULL, &e), CAIRN_ENOENT);
    /* A "directory" of other keys is not an object. */
    assert_int_equal(store_head(f->s, "a/b", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_get(f->s, "a", mem_sink, &m, &e), CAIRN_ENOENT);
    assert_int_equal(store_get(f->s, "a/b/c.txt/x", mem_sink, &m, &e), CAIRN_ENOENT);
    assert_int_equal(m.len, 0);
}

/* Bytes [off, off + len) of key into m, emptied first. */
static int get_range(store *s, const char *key, uint64_t off, uint64_t len, buf *m, cairn_err *e)
{
    buf_free(m);
    *m = (buf){0};
    return store_get_range(s, key, off, len, mem_sink, m, e);
}

static uint64_t gets(const store *s)
{
    store_counts c;
    store_stats(s, &c);
    return c.gets;
}

static int fail_after_one(void *ctx, const void *p, size_t len, cairn_err *e)
{
    (void)p;
    (void)len;
    int *calls = ctx;
    return ++*calls > 1 ? err_set(e, CAIRN_EIO, "sink full") : 0;
}

/* Ranges of an object larger than the driver's read buffer, so that one range takes
 * several reads. */
static void test_get_range(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    enum { SIZE = 600 << 10 };
    unsigned char *obj = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        obj[i] = (unsigned char)(i * 7 + i / 251);
    assert_int_equal(store_put_buf(f->s, "r/obj", obj, SIZE, &e), 0);
    static const struct {
        uint64_t off, len;
    } ok[] = {
        {1000, 300000},       /* the middle, across reads */
        {0, 10},              /* the start */
        {SIZE - 5000, 5000},  /* up to the last byte */
        {0, SIZE},            /* all of it */
        {SIZE - 1, 1},        /* the last byte alone */
        {262144 - 3, 262150}, /* straddling the buffer size */
    };
    buf m = {0};
    uint64_t before = gets(f->s);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (get_range(f->s, "r/obj", ok[i].off, ok[i].len, &m, &e) != 0)
            fail_msg("range %zu: %s", i, e.msg);
        assert_int_equal(m.len, ok[i].len);
        assert_memory_equal(m.data, obj + ok[i].off, ok[i].len);
    }
    assert_int_equal(gets(f->s) - before, 6);

    /* Past the end, by a byte or wholly: nothing reaches the sink. */
    assert_int_equal(get_range(f->s, "r/obj", SIZE - 10, 11, &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "r/obj"));
    assert_non_null(strstr(e.msg, "is 614400 bytes"));
    assert_non_null(strstr(e.msg, "614401 bytes asked"));
    assert_int_equal(m.len, 0);
    assert_int_equal(get_range(f->s, "r/obj", SIZE + 5, 1, &m, &e), CAIRN_ECORRUPT);
    assert_int_equal(m.len, 0);
    assert_int_equal(store_put_buf(f->s, "r/empty", "", 0, &e), 0);
    assert_int_equal(get_range(f->s, "r/empty", 0, 1, &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "is 0 bytes"));

    assert_int_equal(get_range(f->s, "r/missing", 0, 1, &m, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "r/missing"));
    assert_int_equal(get_range(f->s, "r", 0, 1, &m, &e), CAIRN_ENOENT); /* a directory */
    assert_int_equal(get_range(f->s, "/r/obj", 0, 1, &m, &e), CAIRN_EINVAL);
    assert_int_equal(get_range(f->s, "r/obj", UINT64_MAX, 2, &m, &e), CAIRN_EINVAL);

    /* Nothing asked: nothing read, nothing counted, whether the object is there or not. */
    before = gets(f->s);
    assert_int_equal(get_range(f->s, "r/obj", 5, 0, &m, &e), 0);
    assert_int_equal(get_range(f->s, "r/missing", 0, 0, &m, &e), 0);
    assert_int_equal(m.len, 0);
    assert_int_equal(gets(f->s), before);

    /* The sink's failure ends the read and is returned. */
    int calls = 0;
    assert_int_equal(store_get_range(f->s, "r/obj", 0, SIZE, fail_after_one, &calls, &e),
                     CAIRN_EIO);
    assert_int_equal(calls, 2);
    assert_string_equal(e.msg, "sink full");
    buf_free(&m);
    free(obj);
}

static void test_streamed_put(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    size_t len = 3 * 1024 * 1024 + 12345;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 31 + (i >> 13));
    store_writer *w;
    assert_int_equal(store_put_begin(f->s, "big/object", &w, &e), 0);
    /* Odd chunk sizes cross the driver's buffer boundaries. */
    size_t off = 0, step = 1;
    while (off < len) {
        size_t n = step < len - off ? step : len - off;
        assert_int_equal(store_writer_write(w, data + off, n, &e), 0);
        off += n;
        step = step > 700000 ? 1 : step * 3 + 7;
    }
    /* Nothing is visible before the commit. */
    assert_int_equal(store_head(f->s, "big/object", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_writer_commit(w, &e), 0);
    assert_object(f->s, "big/object", data, len);
    assert_int_equal(count_temps(f->root), 0);
    free(data);
}

static void test_abort_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    store_writer *w;
    assert_int_equal(store_put_begin(f->s, "x/y/z", &w, &e), 0);
    char *chunk = calloc(1, 1536 * 1024); /* more than one buffer: the temporary has data */
    assert_int_equal(store_writer_write(w, chunk, 1536 * 1024, &e), 0);
    assert_int_equal(count_temps(f->root), 1);
    assert_int_equal(store_head(f->s, "x/y/z", NULL, &e), CAIRN_ENOENT);
    store_writer_abort(w);
    assert_int_equal(count_temps(f->root), 0);
    assert_int_equal(store_head(f->s, "x/y/z", NULL, &e), CAIRN_ENOENT);
    /* An aborted replacement keeps the old object. */
    assert_int_equal(store_put_buf(f->s, "x/keep", "old", 3, &e), 0);
    assert_int_equal(store_put_begin(f->s, "x/keep", &w, &e), 0);
    assert_int_equal(store_writer_write(w, "new!", 4, &e), 0);
    store_writer_abort(w);
    assert_object(f->s, "x/keep", "old", 3);
    free(chunk);
}

struct listed {
    char keys[64][128];
    uint64_t sizes[64];
    int n;
    int stop_after;
};

static int list_cb(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    struct listed *l = ctx;
    assert_true(l->n < 64);
    snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
    l->sizes[l->n++] = size;
    if (l->stop_after && l->n == l->stop_after)
        return err_set(e, CAIRN_EIO, "stop");
    return 0;
}

static void expect_list(store *s, const char *prefix, const char *const *want, int n)
{
    struct listed l = {0};
    cairn_err e;
    assert_int_equal(store_list(s, prefix, list_cb, &l, &e), 0);
    assert_int_equal(l.n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(l.keys[i], want[i]);
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    /* '-' and '0' sort around '/', so directory-wise order is not enough. */
    const char *keys[] = {"b",      "a/x",  "a/y/z",       "a-c",         "a0",         "ab/1",
                          "a/y/zz", "a/y0", "blobs/00/00", "blobs/ff/ff", "Test Cl/t1", "A"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(store_put_buf(f->s, keys[i], keys[i], strlen(keys[i]), &e), 0);
    const char *all[] = {"A",    "Test Cl/t1", "a-c",  "a/x", "a/y/z",       "a/y/zz",
                         "a/y0", "a0",         "ab/1", "b",   "blobs/00/00", "blobs/ff/ff"};
    expect_list(f->s, "", all, 12);
    const char *a[] = {"a-c", "a/x", "a/y/z", "a/y/zz", "a/y0", "a0", "ab/1"};
    expect_list(f->s, "a", a, 7);
    const char *a_dir[] = {"a/x", "a/y/z", "a/y/zz", "a/y0"};
    expect_list(f->s, "a/", a_dir, 4);
    const char *a_y[] = {"a/y/z", "a/y/zz", "a/y0"};
    expect_list(f->s, "a/y", a_y, 3);
    const char *a_y_z[] = {"a/y/z", "a/y/zz"};
    expect_list(f->s, "a/y/z", a_y_z, 2);
    const char *blobs[] = {"blobs/ff/ff"};
    expect_list(f->s, "blobs/f", blobs, 1);
    expect_list(f->s, "zz", NULL, 0);
    expect_list(f->s, "nothing/here/", NULL, 0);
    expect_list(f->s, "b/", NULL, 0); /* b is an object, not a directory */

    struct listed l = {0};
    assert_int_equal(store_list(f->s, "a/", list_cb, &l, &e), 0);
    assert_int_equal(l.sizes[0], 3); /* "a/x" holds its own name */

    /* A callback's error stops the listing and comes back. */
    struct listed stop = {.stop_after = 2};
    assert_int_equal(store_list(f->s, "", list_cb, &stop, &e), CAIRN_EIO);
    assert_int_equal(stop.n, 2);

    /* An open writer's temporary is never listed. */
    store_writer *w;
    assert_int_equal(store_put_begin(f->s, "a/y/pending", &w, &e), 0);
    assert_int_equal(store_writer_write(w, "p", 1, &e), 0);
    expect_list(f->s, "a/y/", a_y_z, 2);
    store_writer_abort(w);

    /* A listing of a store whose directory does not exist yet is empty. */
    store *other;
    char url[256];
    snprintf(url, sizeof(url), "file://%s/never", f->dir);
    assert_int_equal(store_open(&other, url, NULL, &e), 0);
    expect_list(other, "", NULL, 0);
    store_close(other);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    assert_int_equal(store_put_buf(f->s, "d/e/f", "1", 1, &e), 0);
    assert_int_equal(store_put_buf(f->s, "d/g", "2", 1, &e), 0);
    assert_int_equal(store_delete(f->s, "d/e/f", &e), 0);
    assert_int_equal(store_head(f->s, "d/e/f", NULL, &e), CAIRN_ENOENT);
    assert_object(f->s, "d/g", "2", 1);
    /* The directory the delete emptied is gone; the one still in use is not. */
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/d/e", f->root);
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/d", f->root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(store_delete(f->s, "d/e/f", &e), 0);
    assert_int_equal(store_delete(f->s, "never/was", &e), 0);
    assert_int_equal(store_delete(f->s, "d", &e), 0); /* a directory is no object */
    assert_int_equal(store_delete(f->s, "d/g", &e), 0);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(stat(f->root, &st), 0); /* the root stays */
    /* Putting again recreates the removed directories. */
    assert_int_equal(store_put_buf(f->s, "d/e/f", "3", 1, &e), 0);
    assert_object(f->s, "d/e/f", "3", 1);
}

static void test_key_validation(void **state)
{
    struct fixture *f = *state;
    char long_key[STORE_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    const char *bad[] = {"",      "/abs",    "a//b",         "a/",       "./a",         "a/../b",
                         "..",    ".hidden", "a/.tmp-1-2-3", "tab\tkey", "caf\xc3\xa9", "nl\n",
                         long_key};
    cairn_err e;
    buf m = {0};
    store_writer *w;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_put_buf(f->s, bad[i], "x", 1, &e), CAIRN_EINVAL);
        assert_int_equal(store_put_begin(f->s, bad[i], &w, &e), CAIRN_EINVAL);
        assert_null(w);
        assert_int_equal(store_get(f->s, bad[i], mem_sink, &m, &e), CAIRN_EINVAL);
        assert_int_equal(store_head(f->s, bad[i], NULL, &e), CAIRN_EINVAL);
        assert_int_equal(store_delete(f->s, bad[i], &e), CAIRN_EINVAL);
        assert_int_equal(store_key_check(bad[i], NULL), CAIRN_EINVAL);
    }
    assert_int_equal(store_list(f->s, "/abs", list_cb, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(store_list(f->s, "a//", list_cb, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(store_list(f->s, "../", list_cb, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(store_key_check("", &e), CAIRN_EINVAL);
    assert_int_equal(store_key_check("/abs", &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "leading '/'"));

    /* The longest key allowed: components short enough for the file system. */
    char max_key[STORE_KEY_MAX + 1];
    memset(max_key, 'm', STORE_KEY_MAX);
    max_key[STORE_KEY_MAX] = '\0';
    for (int i = 200; i < STORE_KEY_MAX; i += 201)
        max_key[i] = '/';
    assert_int_equal(store_put_buf(f->s, max_key, "x", 1, &e), 0);
    assert_object(f->s, max_key, "x", 1);
    assert_int_equal(store_put_buf(f->s, "with space/a~b_c-d.e", "x", 1, &e), 0);
    assert_int_equal(m.len, 0);
}

static void expect_full_disk(struct fixture *f, int errnum)
{
    cairn_err e;
    char msg[128];
    snprintf(msg, sizeof(msg), "repository %s is full", f->root);
    /* Fails while streaming: the first buffer flush succeeds, the second hits it. */
    store_file_fail_writes_after(1536 * 1024, errnum);
    size_t len = 4u << 20;
    char *data = calloc(1, len);
    store_writer *w;
    assert_int_equal(store_put_begin(f->s, "full/big", &w, &e), 0);
    int rc = store_writer_write(w, data, len, &e);
    assert_int_equal(rc, CAIRN_ENOSPC);
    assert_non_null(strstr(e.msg, msg));
    assert_non_null(strstr(e.msg, "free space or use another location"));
    store_writer_abort(w);
    free(data);
    assert_int_equal(store_head(f->s, "full/big", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(count_temps(f->root), 0);

    /* Fails at commit, when the last buffer is flushed. */
    store_file_fail_writes_after(10, errnum);
    rc = store_put_buf(f->s, "full/small", "0123456789abcdef", 16, &e);
    assert_int_equal(rc, CAIRN_ENOSPC);
    assert_non_null(strstr(e.msg, msg));
    assert_int_equal(store_head(f->s, "full/small", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(count_temps(f->root), 0);
    store_file_fail_writes_after(0, 0);
}

static void test_full_disk(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    assert_int_equal(store_put_buf(f->s, "full/old", "keep", 4, &e), 0);
    expect_full_disk(f, ENOSPC);
    expect_full_disk(f, EDQUOT);
    /* The store works again once space is back, and older objects are intact. */
    assert_object(f->s, "full/old", "keep", 4);
    assert_int_equal(store_put_buf(f->s, "full/small", "ok", 2, &e), 0);
    assert_object(f->s, "full/small", "ok", 2);
}

static void test_other_write_error(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    store_file_fail_writes_after(0, EIO);
    assert_int_equal(store_put_buf(f->s, "eio", "x", 1, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot write eio"));
    store_file_fail_writes_after(0, 0);
    assert_int_equal(count_temps(f->root), 0);
}

#define THREADS    8
#define PER_THREAD 40

struct worker {
    store *s;
    int id;
    int failures;
};

static void fill(unsigned char *bytes, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++)
        bytes[i] = (unsigned char)(seed * 7 + i);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned char bytes[5000], want[5000];
    cairn_err e;
    for (int i = 0; i < PER_THREAD; i++) {
        char key[64];
        size_t len = (size_t)(100 + i * 97 + w->id) % sizeof(bytes);
        snprintf(key, sizeof(key), "t%d/o%d", w->id % 3, w->id * 1000 + i);
        fill(want, len, w->id + i);
        if (store_put_buf(w->s, key, want, len, &e) != 0)
            w->failures++;
        buf m = {0};
        if (store_get(w->s, key, mem_sink, &m, &e) != 0 || m.len != len ||
            memcmp(m.data, want, len) != 0)
            w->failures++;
        free(m.data);
        /* Everyone also replaces one shared key with a whole object of its own. */
        fill(bytes, sizeof(bytes), w->id);
        if (store_put_buf(w->s, "shared", bytes, sizeof(bytes), &e) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.s = f->s, .id = i};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    buf m = {0};
    cairn_err e;
    assert_int_equal(store_get(f->s, "shared", mem_sink, &m, &e), 0);
    assert_int_equal(m.len, 5000);
    bool whole = false;
    unsigned char want[5000];
    for (int i = 0; i < THREADS && !whole; i++) {
        fill(want, sizeof(want), i);
        whole = memcmp(m.data, want, sizeof(want)) == 0;
    }
    assert_true(whole);
    free(m.data);
    assert_int_equal(count_temps(f->root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_urls),
        cmocka_unit_test_setup_teardown(test_open_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_write_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
