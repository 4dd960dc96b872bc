/* Packs (common/repo/pack.c): members written by several files, read back alone and
 * a run at a time, a pack that fills up, members the repository has, a file that
 * changes while packed, and damaged or missing packs. */
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

#include "repo/blob.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo_fixture.h"
#include "testutil.h"

/* len bytes, compressible or not, different for each seed. */
static unsigned char *make_data(size_t len, unsigned seed, bool random)
{
    unsigned char *d = malloc(len);
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d[i] = random ? (unsigned char)x : (unsigned char)('a' + (i / 64 + seed) % 26);
    }
    return d;
}

typedef struct member {
    unsigned char *data;
    size_t len;
    blob_sums sums;
    pack_member m;
} member;

static void add(pack_writer *p, member *mb, bool crc32)
{
    int fd = test_make_file(mb->data, mb->len);
    assert_true(fd >= 0);
    repo_put_opts o = {.level = 1};
    bool added = false;
    cairn_err e;
    assert_int_equal(pack_add_fd(p, fd, crc32, &o, &mb->sums, &mb->m, &added, &e), 0);
    assert_true(added);
    close(fd);
}

static void check_member(repo *r, const pack_writer *p, const member *mb)
{
    repo_ref ref = {mb->sums.id, pack_writer_id(p, mb->m.pack), mb->m.offset, mb->m.length};
    buf got = BUF_INIT;
    uint64_t size = 0;
    cairn_err e;
    assert_int_equal(repo_ref_get(r, &ref, mem_sink, &got, &size, &e), 0);
    assert_int_equal(size, mb->len);
    assert_memory_equal(got.data, mb->data, mb->len);
    buf_free(&got);
}

/* The SHA-256 of a stored pack is its name. */
static void check_pack_name(const repo_fixture *f, const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/packs/%.2s/%s", f->root, id, id);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char got[65];
    cairn_err e;
    blob_sum *s = NULL;
    assert_int_equal(blob_sum_new(&s, BLOB_SUM_SHA256, &e), 0);
    assert_int_equal(blob_read_fd(fd, s, NULL, NULL, NULL, NULL, NULL, &e), 0);
    blob_sums sums;
    blob_sum_final(s, &sums);
    blob_sum_free(s);
    memcpy(got, sums.id, sizeof(got));
    assert_string_equal(got, id);
    close(fd);
}

static void test_pack_members_read_back(void **state)
{
    repo_fixture *f = *state;
    member mb[3] = {{.data = make_data(1000, 1, false), .len = 1000},
                    {.data = make_data(PACK_MEMBER_MAX, 2, true), .len = PACK_MEMBER_MAX},
                    {.data = make_data(1, 3, false), .len = 1}};
    pack_writer *p = NULL;
    cairn_err e;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    for (int i = 0; i < 3; i++)
        add(p, &mb[i], i == 0);
    assert_int_equal(pack_writer_finish(p, &e), 0);
    assert_int_equal(pack_writer_count(p), 1);
    assert_int_equal(mb[0].m.offset, 0);
    assert_int_equal(mb[1].m.offset, mb[0].m.length);
    assert_int_equal(pack_writer_stored(p), mb[0].m.length + mb[1].m.length + mb[2].m.length);
    for (int i = 0; i < 3; i++)
        check_member(f->r, p, &mb[i]);
    check_pack_name(f, pack_writer_id(p, 0));
    /* A member's id is that of the same bytes as a blob of its own. */
    char id[65];
    int fd = test_make_file(mb[0].data, mb[0].len);
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
    assert_string_equal(id, mb[0].sums.id);
    close(fd);
    pack_writer_free(p);
    for (int i = 0; i < 3; i++)
        free(mb[i].data);
}

/* Incompressible members overflow PACK_TARGET: the writer starts another pack. */
static void test_pack_fills_up(void **state)
{
    repo_fixture *f = *state;
    enum { N = PACK_TARGET / PACK_MEMBER_MAX + 2 };
    member mb[N];
    pack_writer *p = NULL;
    cairn_err e;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    for (unsigned i = 0; i < N; i++) {
        mb[i] = (member){.data = make_data(PACK_MEMBER_MAX, 10 + i, true), .len = PACK_MEMBER_MAX};
        add(p, &mb[i], false);
    }
    assert_int_equal(pack_writer_finish(p, &e), 0);
    assert_int_equal(pack_writer_count(p), 2);
    assert_int_equal(mb[0].m.pack, 0);
    assert_int_equal(mb[N - 1].m.pack, 1);
    assert_int_equal(mb[N - 1].m.offset + mb[N - 1].m.length <= PACK_TARGET, 1);
    for (unsigned i = 0; i < N; i++) {
        check_member(f->r, p, &mb[i]);
        free(mb[i].data);
    }
    check_pack_name(f, pack_writer_id(p, 0));
    check_pack_name(f, pack_writer_id(p, 1));
    pack_writer_free(p);
}

static bool known_all(void *arg, const char *id)
{
    (void)id;
    return *(bool *)arg;
}

/* A member the repository has is not appended; a pack with nothing is not written. */
static void test_pack_known_member_skipped(void **state)
{
    repo_fixture *f = *state;
    unsigned char data[100];
    memset(data, 'k', sizeof(data));
    int fd = test_make_file(data, sizeof(data));
    bool known = true;
    repo_put_opts o = {.level = 1, .known = known_all, .known_arg = &known};
    pack_writer *p = NULL;
    cairn_err e;
    blob_sums s;
    pack_member m;
    bool added = true;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    assert_int_equal(pack_add_fd(p, fd, false, &o, &s, &m, &added, &e), 0);
    assert_false(added);
    assert_true(blob_id_valid(s.id));
    assert_int_equal(pack_writer_finish(p, &e), 0);
    assert_int_equal(pack_writer_count(p), 0);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/packs", f->root);
    assert_int_equal(test_count_entries(dir), 0); /* never created */
    pack_writer_free(p);
    close(fd);
}

/* A file that changes while it is packed adds nothing; the pack goes on. */
static void test_pack_file_changed(void **state)
{
    repo_fixture *f = *state;
    unsigned char *data = make_data(PACK_MEMBER_MAX / 2, 5, true);
    int fd = test_make_file(data, PACK_MEMBER_MAX / 2), grow = fd;
    repo_put_opts o = {.level = 1, .cancelled = test_grow_once, .cancel_arg = &grow};
    pack_writer *p = NULL;
    cairn_err e;
    blob_sums s;
    pack_member m;
    bool added = true;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    assert_int_equal(pack_add_fd(p, fd, false, &o, &s, &m, &added, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "changed"));
    assert_false(added);
    member ok = {.data = make_data(500, 6, false), .len = 500};
    add(p, &ok, false);
    assert_int_equal(ok.m.offset, 0);
    assert_int_equal(pack_writer_finish(p, &e), 0);
    check_member(f->r, p, &ok);
    pack_writer_free(p);
    close(fd);
    free(data);
    free(ok.data);
}

static void test_pack_too_large(void **state)
{
    repo_fixture *f = *state;
    unsigned char *data = make_data(PACK_MEMBER_MAX + 1, 7, false);
    int fd = test_make_file(data, PACK_MEMBER_MAX + 1);
    repo_put_opts o = {.level = 1};
    pack_writer *p = NULL;
    cairn_err e;
    blob_sums s;
    pack_member m;
    bool added = true;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    /* Compressible, so its frame would fit: the file's size refuses it. */
    assert_int_equal(pack_add_fd(p, fd, false, &o, &s, &m, &added, &e), CAIRN_EINVAL);
    assert_false(added);
    assert_int_equal(pack_writer_finish(p, &e), 0);
    assert_int_equal(pack_writer_count(p), 0);
    pack_writer_free(p);
    close(fd);
    free(data);
}

typedef struct reader {
    buf out[4];
    size_t ends;
    uint64_t sizes[4];
} reader;

static int r_begin(void *ctx, size_t i, store_sink *sink, void **sink_ctx, cairn_err *e)
{
    (void)e;
    reader *r = ctx;
    *sink = mem_sink;
    *sink_ctx = &r->out[i];
    return 0;
}

static int r_end(void *ctx, size_t i, uint64_t size, cairn_err *e)
{
    (void)e;
    reader *r = ctx;
    r->sizes[i] = size;
    r->ends++;
    return 0;
}

static const pack_read_io rio = {r_begin, r_end};

/* Members 0 and 2 of three, with one GET; the one between is skipped. Then a damaged
 * member, and a missing pack. */
static void test_pack_read_run(void **state)
{
    repo_fixture *f = *state;
    member mb[3];
    pack_writer *p = NULL;
    cairn_err e;
    assert_int_equal(pack_writer_new(f->r, &p, &e), 0);
    for (unsigned i = 0; i < 3; i++) {
        mb[i] = (member){.data = make_data(20000 + i, 20 + i, i == 1), .len = 20000 + i};
        add(p, &mb[i], false);
    }
    assert_int_equal(pack_writer_finish(p, &e), 0);
    const char *pid = pack_writer_id(p, 0);
    repo_ref refs[2] = {{mb[0].sums.id, pid, mb[0].m.offset, mb[0].m.length},
                        {mb[2].sums.id, pid, mb[2].m.offset, mb[2].m.length}};
    store_counts before, after;
    repo_stats(f->r, &before);
    reader rd = {0};
    assert_int_equal(pack_read(f->r, refs, 2, &rio, &rd, &e), 0);
    repo_stats(f->r, &after);
    assert_int_equal(after.gets - before.gets, 1);
    assert_int_equal(rd.ends, 2);
    assert_int_equal(rd.sizes[0], mb[0].len);
    assert_memory_equal(rd.out[0].data, mb[0].data, mb[0].len);
    assert_memory_equal(rd.out[1].data, mb[2].data, mb[2].len);
    for (int i = 0; i < 2; i++)
        buf_free(&rd.out[i]);

    /* Out of order: refused before any request. */
    repo_ref swapped[2] = {refs[1], refs[0]};
    assert_int_equal(pack_read(f->r, swapped, 2, &rio, &rd, &e), CAIRN_EINVAL);

    /* One byte of member 2 damaged: member 0 still arrives, member 2 fails. */
    char path[512];
    snprintf(path, sizeof(path), "%s/packs/%.2s/%s", f->root, pid, pid);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    off_t at = (off_t)(mb[2].m.offset + mb[2].m.length / 2);
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
    memset(&rd, 0, sizeof(rd));
    assert_int_equal(pack_read(f->r, refs, 2, &rio, &rd, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, mb[2].sums.id));
    assert_int_equal(rd.ends, 1);
    buf m2 = BUF_INIT;
    assert_int_equal(repo_ref_get(f->r, &refs[1], mem_sink, &m2, NULL, &e), CAIRN_ECORRUPT);
    for (int i = 0; i < 2; i++)
        buf_free(&rd.out[i]);
    buf_free(&m2);

    /* The pack gone: missing, naming it. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(pack_read(f->r, refs, 1, &rio, &rd, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, pid));
    assert_int_equal(repo_ref_get(f->r, &refs[0], mem_sink, &m2, NULL, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "pack"));
    pack_writer_free(p);
    for (int i = 0; i < 3; i++)
        free(mb[i].data);
}

/* Places no pack can have are refused before any request. */
static void test_ref_check(void **state)
{
    (void)state;
    const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    cairn_err e;
    repo_ref ok = {id, id, 10, 20};
    assert_int_equal(repo_ref_check(&ok, &e), 0);
    repo_ref empty = {id, id, 10, 0};
    assert_int_equal(repo_ref_check(&empty, &e), CAIRN_ECORRUPT);
    repo_ref huge = {id, id, 0, (uint64_t)REPO_PACK_MAX + 1};
    assert_int_equal(repo_ref_check(&huge, &e), CAIRN_ECORRUPT);
    repo_ref wrap = {id, id, UINT64_MAX - 5, 10};
    assert_int_equal(repo_ref_check(&wrap, &e), CAIRN_ECORRUPT);
    repo_ref badpack = {id, "../x", 0, 10};
    assert_int_equal(repo_ref_check(&badpack, &e), CAIRN_ECORRUPT);
    repo_ref badblob = {"ABC", NULL, 0, 0};
    assert_int_equal(repo_ref_check(&badblob, &e), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pack_members_read_back, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pack_fills_up, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pack_known_member_skipped, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pack_file_changed, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pack_too_large, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pack_read_run, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test(test_ref_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
