/* The blob writers of common/repo/blob_put.c: the one-pass put, the put of a known id,
 * what each does with a file that changes or cannot be read, and pacing. */
#include <fcntl.h>
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

#include "base/ratelimit.h"
#include "repo/blob.h"
#include "repo/repo.h"
#include "repo_fixture.h"
#include "testutil.h"

static int make_file(const unsigned char *data, size_t len)
{
    int fd = test_make_file(data, len);
    assert_true(fd >= 0);
    return fd;
}

static bool always_known(void *arg, const char *id)
{
    (void)arg;
    (void)id;
    return true;
}

static void test_blob_put_get(void **state)
{
    repo_fixture *f = *state;
    size_t len = (3u << 20) + 77;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i % 251 + (i >> 16));
    int fd = make_file(data, len);
    char id[65];
    cairn_err e;
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
    bool exists = true;
    assert_int_equal(repo_blob_exists(f->r, id, &exists, &e), 0);
    assert_false(exists);
    uint64_t stored = 0;
    assert_int_equal(repo_blob_put_fd(f->r, id, fd, 1, NULL, &stored, &e), 0);
    assert_int_equal(repo_blob_exists(f->r, id, &exists, &e), 0);
    assert_true(exists);

    char key[128], path[256];
    repo_blob_key(id, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, stored);
    assert_true(stored < len);

    buf m = {0};
    uint64_t size = 0;
    assert_int_equal(repo_blob_get(f->r, id, mem_sink, &m, &size, &e), 0);
    assert_int_equal(size, len);
    assert_int_equal(m.len, len);
    assert_memory_equal(m.data, data, len);
    free(m.data);

    /* Standard tools give the blob its own name back. */
    if (system("command -v zstd >/dev/null 2>&1 && command -v sha256sum >/dev/null 2>&1") == 0) {
        char cmd[512], out[128] = "";
        snprintf(cmd, sizeof(cmd), "zstd -d < '%s' | sha256sum", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof(out), p));
        assert_int_equal(pclose(p), 0);
        assert_memory_equal(out, id, 64);
    } else {
        print_message("zstd or sha256sum not installed: skipping the CLI check\n");
    }

    /* The empty file is a blob too. */
    int efd = make_file(NULL, 0);
    char eid[65];
    assert_int_equal(blob_hash_fd(efd, eid, NULL, NULL, &e), 0);
    assert_int_equal(repo_blob_put_fd(f->r, eid, efd, 1, NULL, NULL, &e), 0);
    m = (buf)BUF_INIT;
    assert_int_equal(repo_blob_get(f->r, eid, mem_sink, &m, &size, &e), 0);
    assert_int_equal(size, 0);
    close(efd);
    close(fd);
    free(data);
}

static void test_blob_changed_during_put(void **state)
{
    repo_fixture *f = *state;
    unsigned char data[100000];
    memset(data, 'a', sizeof(data));
    int fd = make_file(data, sizeof(data));
    char id[65];
    cairn_err e;
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
    /* The file changes between hashing and uploading. */
    assert_int_equal(pwrite(fd, "b", 1, 5000), 1);
    assert_int_equal(repo_blob_put_fd(f->r, id, fd, 1, NULL, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "changed"));
    assert_non_null(strstr(e.msg, id));
    bool exists = true;
    assert_int_equal(repo_blob_exists(f->r, id, &exists, &e), 0);
    assert_false(exists);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/blobs/%.2s", f->root, id);
    assert_int_equal(test_count_entries(dir), 0); /* no temporary left behind either */
    /* A file that grew is caught the same way. */
    assert_int_equal(pwrite(fd, "a", 1, 5000), 1);
    assert_int_equal(pwrite(fd, "tail", 4, sizeof(data)), 4);
    assert_int_equal(repo_blob_put_fd(f->r, id, fd, 1, NULL, NULL, &e), CAIRN_ECORRUPT);
    close(fd);
}

/* The bytes this process has read through read(2) and its kin so far. */
static uint64_t bytes_read_so_far(void)
{
    FILE *io = fopen("/proc/self/io", "r");
    unsigned long long rchar = 0;
    char line[128];
    while (io && fgets(line, sizeof(line), io))
        if (sscanf(line, "rchar: %llu", &rchar) == 1)
            break;
    if (io)
        fclose(io);
    return rchar;
}

static void test_blob_put_new_one_pass(void **state)
{
    repo_fixture *f = *state;
    size_t len = (4u << 20) + 123;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 12));
    int fd = make_file(data, len);
    char want[65];
    uint32_t want_crc;
    cairn_err e;
    assert_int_equal(blob_hash_fd(fd, want, &want_crc, NULL, &e), 0);
    assert_true(repo_blob_one_pass(f->r, len));

    repo_put_opts o = {.level = 1};
    blob_sums s;
    bool stored = false;
    uint64_t stored_bytes = 0;
    uint64_t before = bytes_read_so_far();
    assert_int_equal(repo_blob_put_new(f->r, fd, true, &o, &s, &stored, &stored_bytes, &e), 0);
    uint64_t read = bytes_read_so_far() - before;
    /* Every byte read once: hashed and compressed in the same pass. */
    if (before > 0) {
        assert_true(read >= len);
        assert_true(read < len + len / 2);
    } else {
        print_message("/proc/self/io is not readable here: the count of bytes read is not "
                      "checked (integration.test_backup checks it on the agents)\n");
    }
    assert_true(stored);
    assert_string_equal(s.id, want);
    assert_int_equal(s.crc32, want_crc);
    assert_int_equal(s.size, len);
    assert_true(stored_bytes > 0);
    buf m = BUF_INIT;
    uint64_t size = 0;
    assert_int_equal(repo_blob_get(f->r, want, mem_sink, &m, &size, &e), 0);
    assert_int_equal(size, len);
    assert_memory_equal(m.data, data, len);
    free(m.data);

    /* The same bytes again, known to be there: nothing is stored twice and no
     * temporary stays. Not known: written again, the same blob. */
    o.known = always_known;
    stored_bytes = 0;
    assert_int_equal(repo_blob_put_new(f->r, fd, false, &o, &s, &stored, &stored_bytes, &e), 0);
    assert_false(stored);
    assert_int_equal(stored_bytes, 0);
    assert_string_equal(s.id, want);
    o.known = NULL;
    assert_int_equal(repo_blob_put_new(f->r, fd, false, &o, &s, &stored, &stored_bytes, &e), 0);
    assert_true(stored);
    assert_string_equal(s.id, want);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/blobs", f->root);
    assert_int_equal(test_count_entries(dir), 1); /* the one shard directory */
    close(fd);
    free(data);
}

static void test_blob_put_new_changed(void **state)
{
    repo_fixture *f = *state;
    size_t len = 1u << 20;
    unsigned char *data = calloc(1, len);
    int fd = make_file(data, len), grow = fd;
    repo_put_opts o = {.level = 1, .cancelled = test_grow_once, .cancel_arg = &grow};
    blob_sums s;
    bool stored = true;
    cairn_err e;
    assert_int_equal(repo_blob_put_new(f->r, fd, false, &o, &s, &stored, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "changed"));
    assert_false(stored);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/blobs", f->root);
    assert_int_equal(test_count_entries(dir), 0); /* neither a blob nor a temporary */
    close(fd);
    free(data);
}

/* The second pass of a file too large for one pass is checked by the XXH3 of the first. */
static void test_blob_put_known_xxh3(void **state)
{
    repo_fixture *f = *state;
    unsigned char data[200000];
    memset(data, 'x', sizeof(data));
    int fd = make_file(data, sizeof(data));
    blob_sums s;
    cairn_err e;
    assert_int_equal(blob_hash_fd_sums(fd, false, &s, &e), 0);
    assert_int_not_equal(s.xxh3, 0); /* the first pass takes it; a one pass does not */
    repo_put_opts o = {.level = 1};
    assert_int_equal(pwrite(fd, "y", 1, 777), 1);
    assert_int_equal(repo_blob_put_known(f->r, s.id, &s, fd, &o, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "changed"));
    bool exists = true;
    assert_int_equal(repo_blob_exists(f->r, s.id, &exists, &e), 0);
    assert_false(exists);
    assert_int_equal(pwrite(fd, "x", 1, 777), 1);
    assert_int_equal(repo_blob_put_known(f->r, s.id, &s, fd, &o, NULL, &e), 0);
    assert_int_equal(repo_blob_exists(f->r, s.id, &exists, &e), 0);
    assert_true(exists);
    close(fd);
}

static void test_blob_errors(void **state)
{
    repo_fixture *f = *state;
    cairn_err e;
    bool exists;
    buf m = {0};
    const char *id = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(repo_blob_get(f->r, id, mem_sink, &m, NULL, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, id));
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(repo_blob_exists(f->r, "xyz", &exists, &e), CAIRN_EINVAL);
    assert_int_equal(repo_blob_get(f->r, "../../etc", mem_sink, &m, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(repo_blob_put_fd(f->r, "ABC", 0, 1, NULL, NULL, &e), CAIRN_EINVAL);

    /* A stored blob damaged on disk is caught on the way out. */
    unsigned char data[50000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7);
    int fd = make_file(data, sizeof(data));
    char bid[65], key[128], path[256];
    assert_int_equal(blob_hash_fd(fd, bid, NULL, NULL, &e), 0);
    assert_int_equal(repo_blob_put_fd(f->r, bid, fd, 1, NULL, NULL, &e), 0);
    close(fd);
    repo_blob_key(bid, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    int bfd = open(path, O_RDWR);
    struct stat st;
    fstat(bfd, &st);
    unsigned char c;
    assert_int_equal(pread(bfd, &c, 1, st.st_size / 2), 1);
    c ^= 1;
    assert_int_equal(pwrite(bfd, &c, 1, st.st_size / 2), 1);
    close(bfd);
    assert_int_equal(repo_blob_get(f->r, bid, mem_sink, &m, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, bid));
    assert_int_equal(truncate(path, st.st_size - 3), 0);
    assert_int_equal(repo_blob_get(f->r, bid, mem_sink, &m, NULL, &e), CAIRN_ECORRUPT);
    free(m.data);
}

static void test_blob_put_rate_limited(void **state)
{
    repo_fixture *f = *state;
    size_t len = 1u << 20;
    unsigned char *data = malloc(len);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) { /* incompressible: stored size ~ len */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    int fd = make_file(data, len);
    char id[65];
    cairn_err e;
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
    ratelimit *rl;
    assert_int_equal(ratelimit_new(&rl, 4u << 20, &e), 0);
    uint64_t stored = 0;
    double start = test_now_s();
    assert_int_equal(repo_blob_put_fd(f->r, id, fd, 1, rl, &stored, &e), 0);
    double took = test_now_s() - start;
    assert_true(stored >= len);
    assert_true(took > 0.15); /* (1 MiB - 0.4 MiB burst) at 4 MiB/s */
    ratelimit_free(rl);
    close(fd);
    free(data);
}

/* A file that cannot be read stores nothing. */
static void test_blob_put_unreadable(void **state)
{
    repo_fixture *f = *state;
    cairn_err e;
    unsigned char data[1000];
    memset(data, 'q', sizeof(data));
    int fd = make_file(data, sizeof(data));
    char id[65], path[64];
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int wfd = open(path, O_WRONLY);
    assert_true(wfd >= 0);
    assert_int_equal(repo_blob_put_fd(f->r, id, wfd, 1, NULL, NULL, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "cannot read the file"));
    close(wfd);
    close(fd);
    bool exists = true;
    assert_int_equal(repo_blob_exists(f->r, id, &exists, &e), 0);
    assert_false(exists);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blob_put_get, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_changed_during_put, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_new_one_pass, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_new_changed, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_known_xxh3, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_errors, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_rate_limited, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_blob_put_unreadable, repo_fixture_setup,
                                        repo_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
