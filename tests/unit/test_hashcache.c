#include <fcntl.h>
#include <pthread.h>
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

#include "backup/hashcache.h"

/* Header and record sizes of the file format (see hashcache.c). */
#define HEADER 16
#define RECORD 76

struct fixture {
    char dir[64];
    char state[96];
    char file[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-hashcache-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    snprintf(f->file, sizeof(f->file), "%s/%s", f->state, HASHCACHE_FILE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct stat fake_stat(uint64_t ino, off_t size, long mtime_ns)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = 2049;
    st.st_ino = ino;
    st.st_size = size;
    st.st_mtim.tv_sec = 1700000000;
    st.st_mtim.tv_nsec = mtime_ns;
    return st;
}

static void id_for(uint64_t n, char id[65])
{
    snprintf(id, 65, "%016llx%048x", (unsigned long long)n, 7);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_hit_and_miss(void **state)
{
    struct fixture *f = *state;
    hashcache *h;
    cairn_err e;
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    struct stat st = fake_stat(100, 5000, 123456789);
    char id[65], want[65];
    uint32_t crc = 0;
    bool has_crc = true;
    assert_false(hashcache_lookup(h, &st, id, &crc, &has_crc));

    id_for(1, want);
    uint32_t c = 0xdeadbeef;
    assert_int_equal(hashcache_store(h, &st, want, &c, &e), 0);
    assert_true(hashcache_lookup(h, &st, id, &crc, &has_crc));
    assert_string_equal(id, want);
    assert_true(has_crc);
    assert_int_equal(crc, 0xdeadbeef);
    assert_true(hashcache_lookup(h, &st, id, NULL, NULL));

    /* Any change of size, mtime, inode or device is another file. */
    struct stat other = st;
    other.st_size++;
    assert_false(hashcache_lookup(h, &other, id, &crc, &has_crc));
    other = st;
    other.st_mtim.tv_nsec++;
    assert_false(hashcache_lookup(h, &other, id, &crc, &has_crc));
    other = st;
    other.st_mtim.tv_sec++;
    assert_false(hashcache_lookup(h, &other, id, &crc, &has_crc));
    other = st;
    other.st_ino++;
    assert_false(hashcache_lookup(h, &other, id, &crc, &has_crc));
    other = st;
    other.st_dev++;
    assert_false(hashcache_lookup(h, &other, id, &crc, &has_crc));

    /* Without a CRC. */
    struct stat st2 = fake_stat(101, 10, 0);
    id_for(2, want);
    assert_int_equal(hashcache_store(h, &st2, want, NULL, &e), 0);
    assert_true(hashcache_lookup(h, &st2, id, &crc, &has_crc));
    assert_false(has_crc);
    assert_string_equal(id, want);

    /* A new value for a key replaces the old one. */
    id_for(3, want);
    assert_int_equal(hashcache_store(h, &st2, want, &c, &e), 0);
    assert_true(hashcache_lookup(h, &st2, id, &crc, &has_crc));
    assert_string_equal(id, want);
    assert_true(has_crc);
    assert_int_equal(hashcache_count(h), 2);

    assert_int_equal(hashcache_store(h, &st, "not-an-id", NULL, &e), CAIRN_EINVAL);
    assert_int_equal(
        hashcache_store(h, &st, "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
                        NULL, &e),
        CAIRN_EINVAL);
    char too_long[66];
    id_for(4, too_long);
    strcat(too_long, "0");
    assert_int_equal(hashcache_store(h, &st, too_long, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(hashcache_close(h, &e), 0);
}

static void test_persistence(void **state)
{
    struct fixture *f = *state;
    hashcache *h;
    cairn_err e;
    char id[65], want[65];
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        struct stat st = fake_stat(i, (off_t)i * 10, (long)i);
        uint32_t c = (uint32_t)i;
        id_for(i, want);
        assert_int_equal(hashcache_store(h, &st, want, i % 2 ? &c : NULL, &e), 0);
    }
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(file_size(f->file), HEADER + 1000 * RECORD);

    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 1000);
    for (uint64_t i = 0; i < 1000; i++) {
        struct stat st = fake_stat(i, (off_t)i * 10, (long)i);
        uint32_t crc = 0;
        bool has_crc = false;
        id_for(i, want);
        assert_true(hashcache_lookup(h, &st, id, &crc, &has_crc));
        assert_string_equal(id, want);
        assert_int_equal(has_crc, i % 2);
        if (has_crc)
            assert_int_equal(crc, i);
    }
    assert_int_equal(hashcache_close(h, &e), 0);
}

static void test_torn_record(void **state)
{
    struct fixture *f = *state;
    hashcache *h;
    cairn_err e;
    char id[65], want[65];
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    for (uint64_t i = 0; i < 3; i++) {
        struct stat st = fake_stat(i, 1, 1);
        id_for(i, want);
        assert_int_equal(hashcache_store(h, &st, want, NULL, &e), 0);
    }
    assert_int_equal(hashcache_close(h, &e), 0);

    /* A crash in the middle of an append leaves part of a record. */
    int fd = open(f->file, O_WRONLY | O_APPEND);
    char junk[30];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);

    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 3);
    assert_int_equal(file_size(f->file), HEADER + 3 * RECORD);
    /* Appends land on a record boundary again. */
    struct stat st = fake_stat(50, 1, 1);
    id_for(50, want);
    assert_int_equal(hashcache_store(h, &st, want, NULL, &e), 0);
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 4);
    assert_true(hashcache_lookup(h, &st, id, NULL, NULL));
    assert_string_equal(id, want);
    assert_int_equal(hashcache_close(h, &e), 0);

    /* A whole last record with a bad checksum is dropped too. */
    fd = open(f->file, O_RDWR);
    unsigned char b;
    off_t at = HEADER + 3 * RECORD + 40;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    /* ... and a damaged record in the middle costs only that entry. */
    at = HEADER + RECORD + 10;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 2);
    assert_false(hashcache_lookup(h, &st, id, NULL, NULL));
    struct stat st0 = fake_stat(0, 1, 1), st1 = fake_stat(1, 1, 1), st2 = fake_stat(2, 1, 1);
    assert_true(hashcache_lookup(h, &st0, id, NULL, NULL));
    assert_false(hashcache_lookup(h, &st1, id, NULL, NULL));
    assert_true(hashcache_lookup(h, &st2, id, NULL, NULL));
    assert_int_equal(hashcache_close(h, &e), 0);
}

static void test_bad_header(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(mkdir(f->state, 0700), 0);
    int fd = open(f->file, O_WRONLY | O_CREAT, 0600);
    assert_int_equal(write(fd, "something else entirely, longer than a header", 45), 45);
    close(fd);
    hashcache *h;
    cairn_err e;
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 0);
    struct stat st = fake_stat(1, 1, 1);
    char want[65], id[65];
    id_for(9, want);
    assert_int_equal(hashcache_store(h, &st, want, NULL, &e), 0);
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_true(hashcache_lookup(h, &st, id, NULL, NULL));
    assert_int_equal(hashcache_close(h, &e), 0);

    /* A state directory that cannot be created is a clear error. */
    assert_int_equal(hashcache_open(&h, "/proc/cairn-no/such", &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "/proc/cairn-no/such"));
}

static void test_prune_and_compact(void **state)
{
    struct fixture *f = *state;
    hashcache *h;
    cairn_err e;
    char id[65], want[65];
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    for (uint64_t i = 0; i < 100; i++) {
        struct stat st = fake_stat(i, 1, 1);
        id_for(i, want);
        assert_int_equal(hashcache_store(h, &st, want, NULL, &e), 0);
    }
    assert_int_equal(hashcache_close(h, &e), 0);

    /* Files still around are looked up; prune forgets the others. */
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    for (uint64_t i = 0; i < 100; i += 10) {
        struct stat st = fake_stat(i, 1, 1);
        assert_true(hashcache_lookup(h, &st, id, NULL, NULL));
    }
    struct stat fresh = fake_stat(1000, 1, 1);
    id_for(1000, want);
    assert_int_equal(hashcache_store(h, &fresh, want, NULL, &e), 0);
    assert_int_equal(hashcache_prune(h), 90);
    assert_int_equal(hashcache_count(h), 11);
    struct stat gone = fake_stat(5, 1, 1), kept = fake_stat(20, 1, 1);
    assert_false(hashcache_lookup(h, &gone, id, NULL, NULL));
    assert_true(hashcache_lookup(h, &kept, id, NULL, NULL));
    assert_true(hashcache_lookup(h, &fresh, id, NULL, NULL));
    assert_int_equal(hashcache_prune(h), 0);
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(file_size(f->file), HEADER + 11 * RECORD);

    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 11);
    assert_true(hashcache_lookup(h, &fresh, id, NULL, NULL));
    assert_string_equal(id, want);
    /* Rewriting one key many times leaves mostly stale records: compacted at close. */
    for (uint64_t i = 0; i < 50; i++) {
        id_for(2000 + i, want);
        assert_int_equal(hashcache_store(h, &fresh, want, NULL, &e), 0);
    }
    /* Storing the same value again appends nothing. */
    assert_int_equal(hashcache_store(h, &fresh, want, NULL, &e), 0);
    assert_int_equal(file_size(f->file), HEADER + 61 * RECORD);
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(file_size(f->file), HEADER + 11 * RECORD);
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_true(hashcache_lookup(h, &fresh, id, NULL, NULL));
    assert_string_equal(id, want);
    assert_int_equal(hashcache_close(h, &e), 0);
}

struct worker {
    hashcache *h;
    int id;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char want[65], id[65];
    cairn_err e;
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t n = (uint64_t)w->id * 1000000 + i;
        struct stat st = fake_stat(n, 4096, 7);
        id_for(n, want);
        if (hashcache_store(w->h, &st, want, NULL, &e) != 0)
            w->failures++;
        if (!hashcache_lookup(w->h, &st, id, NULL, NULL) || strcmp(id, want) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    hashcache *h;
    cairn_err e;
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.h = h, .id = i};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(hashcache_count(h), 12000);
    assert_int_equal(hashcache_close(h, &e), 0);
    assert_int_equal(hashcache_open(&h, f->state, &e), 0);
    assert_int_equal(hashcache_count(h), 12000);
    assert_int_equal(hashcache_close(h, &e), 0);
}

/* Where the cache cannot live, opening says so and leaves nothing open. */
static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    hashcache *h = (hashcache *)1;
    cairn_err e;
    /* The state directory's parent is a file. */
    char under_file[160];
    snprintf(under_file, sizeof(under_file), "%s/plain", f->dir);
    FILE *fp = fopen(under_file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(under_file, sizeof(under_file), "%s/plain/state", f->dir);
    assert_int_not_equal(hashcache_open(&h, under_file, &e), 0);
    assert_null(h);
    assert_non_null(strstr(e.msg, "cannot create the state directory"));

    /* The cache file's name is taken by a directory. */
    assert_int_equal(mkdir(f->state, 0700), 0);
    assert_int_equal(mkdir(f->file, 0700), 0);
    h = (hashcache *)1;
    assert_int_not_equal(hashcache_open(&h, f->state, &e), 0);
    assert_null(h);
    assert_non_null(strstr(e.msg, "cannot open the hash cache"));

    assert_int_equal(hashcache_close(NULL, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_and_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_and_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
