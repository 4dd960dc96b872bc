#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/blob.h"
#include "base/ratelimit.h"
#include "repo/repo.h"
#include "store/store.h"
#include "repo.pb-c.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    char root[96];
    char url[128];
    repo *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-repo-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/repo", f->dir);
    snprintf(f->url, sizeof(f->url), "file://%s", f->root);
    *state = f;
    return 0;
}

/* A fixture with an initialised repository open. */
static int setup_open(void **state)
{
    setup(state);
    struct fixture *f = *state;
    cairn_err e;
    assert_int_equal(repo_open(&f->r, f->url, NULL, true, &e), 0);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    repo_close(f->r);
    assert_int_equal(scratch_remove(f->dir), 0);
    free(f);
    return 0;
}

static void test_open_missing(void **state)
{
    struct fixture *f = *state;
    repo *r = NULL;
    cairn_err e;
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), CAIRN_ENOENT);
    assert_null(r);
    assert_non_null(strstr(e.msg, f->url));
    assert_non_null(strstr(e.msg, "cairn repo init"));
    struct stat st;
    assert_int_not_equal(stat(f->root, &st), 0); /* looking created nothing */
    assert_int_equal(repo_open(&r, "gopher://x", NULL, true, &e), CAIRN_EINVAL);
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4')
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

static void test_create_and_reopen(void **state)
{
    struct fixture *f = *state;
    repo *r, *r2, *r3;
    cairn_err e;
    assert_int_equal(repo_open(&r, f->url, NULL, true, &e), 0);
    assert_true(is_uuid(repo_id(r)));
    assert_string_equal(repo_url(r), f->url);
    store_counts c;
    repo_stats(r, &c);
    assert_true(c.gets >= 1); /* cairn.repo was read */
    assert_int_equal(repo_open(&r2, f->url, NULL, false, &e), 0);
    assert_string_equal(repo_id(r2), repo_id(r));
    /* create on an existing repository keeps its identity. */
    assert_int_equal(repo_open(&r3, f->url, NULL, true, &e), 0);
    assert_string_equal(repo_id(r3), repo_id(r));

    /* cairn.repo is a plain RepoInfo. */
    buf m = {0};
    store *s;
    assert_int_equal(store_open(&s, f->url, NULL, &e), 0);
    assert_int_equal(store_get(s, REPO_INFO_KEY, mem_sink, &m, &e), 0);
    store_close(s);
    Cairn__Repo__RepoInfo *info = cairn__repo__repo_info__unpack(NULL, m.len, m.data);
    assert_non_null(info);
    assert_int_equal(info->format_version, REPO_FORMAT_VERSION);
    assert_string_equal(info->repository_id, repo_id(r));
    assert_true(info->created_ms > 1600000000000ull);
    assert_non_null(strstr(info->created_by, "cairn"));
    cairn__repo__repo_info__free_unpacked(info, NULL);
    free(m.data);
    repo_close(r);
    repo_close(r2);
    repo_close(r3);

    /* Another repository gets another id. */
    char url2[160];
    snprintf(url2, sizeof(url2), "%s2", f->url);
    assert_int_equal(repo_open(&r2, url2, NULL, true, &e), 0);
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), 0);
    assert_string_not_equal(repo_id(r), repo_id(r2));
    repo_close(r);
    repo_close(r2);
}

static void put_info(struct fixture *f, const void *text, size_t len)
{
    store *s;
    cairn_err e;
    assert_int_equal(store_open(&s, f->url, NULL, &e), 0);
    assert_int_equal(store_put_buf(s, REPO_INFO_KEY, text, len, &e), 0);
    store_close(s);
}

static void test_version_check(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__RepoInfo info = CAIRN__REPO__REPO_INFO__INIT;
    info.format_version = REPO_FORMAT_VERSION + 1;
    info.repository_id = "11111111-2222-4333-8444-555555555555";
    info.created_ms = 1;
    uint8_t text[256];
    size_t len = cairn__repo__repo_info__pack(&info, text);
    put_info(f, text, len);
    repo *r = NULL;
    cairn_err e;
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "upgrade cairn"));
    assert_int_equal(repo_open(&r, f->url, NULL, true, &e), CAIRN_EPROTO);

    info.format_version = REPO_FORMAT_VERSION;
    len = cairn__repo__repo_info__pack(&info, text);
    put_info(f, text, len);
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), 0);
    assert_string_equal(repo_id(r), info.repository_id);
    repo_close(r);

    put_info(f, "\xff\xff\xff garbage", 12);
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, REPO_INFO_KEY));
}

static void test_keys(void **state)
{
    (void)state;
    char text[256];
    const char *id = "ab"
                     "cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
    repo_blob_key(id, text, sizeof(text));
    assert_string_equal(text, "blobs/ab/abcdef0123456789abcdef0123456789abcdef0123456789abcdef01"
                              "23456789");
    repo_node_manifest_key("prod", "tag1", "0b6a-host", text, sizeof(text));
    assert_string_equal(text, "backups/prod/tag1/nodes/0b6a-host.manifest");
    repo_cluster_manifest_key("prod", "tag1", text, sizeof(text));
    assert_string_equal(text, "backups/prod/tag1/backup.manifest");
}

static int count_leases(struct fixture *f)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/locks", f->root);
    return test_count_entries(dir);
}

static void test_leases(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    repo_lease *s1, *s2, *x, *none = NULL;
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup one", 60, &s1, &e), 0);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup two", 60, &s2, &e), 0);
    assert_int_equal(count_leases(f), 2);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "purge", 60, &none, &e),
                     CAIRN_EBUSY);
    assert_null(none);
    assert_true(strstr(e.msg, "backup one") || strstr(e.msg, "backup two"));
    assert_int_equal(count_leases(f), 2); /* the failed attempt left nothing */
    repo_lease_release(s1);
    repo_lease_release(s2);
    assert_int_equal(count_leases(f), 0);

    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "purge by ops", 60, &x, &e), 0);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup", 60, &none, &e),
                     CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "purge by ops"));
    assert_non_null(strstr(e.msg, f->url));
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "purge 2", 60, &none, &e),
                     CAIRN_EBUSY);
    assert_int_equal(repo_lease_renew(x, &e), 0);
    repo_lease_release(x);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup", 60, &s1, &e), 0);
    repo_lease_release(s1);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "x", 0, &none, &e), CAIRN_EINVAL);
    repo_lease_release(NULL);
}

struct seen_leases {
    int n;
    char owners[4][64];
    char keys[4][300];
};

static int note_lease(void *arg, const repo_lease_view *l, cairn_err *e)
{
    struct seen_leases *s = arg;
    if (s->n < 4) {
        snprintf(s->owners[s->n], sizeof(s->owners[0]), "%s", l->owner);
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", l->key);
    }
    assert_true(l->expires_ms > 0);
    s->n++;
    return 0;
}

static int stop_at_first(void *arg, const repo_lease_view *l, cairn_err *e)
{
    (void)l;
    (*(int *)arg)++;
    return 7;
}

static void test_lease_list_and_break(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    store *s;
    assert_int_equal(store_open(&s, f->url, NULL, &e), 0);
    const char *dead = "cairn-lease 1\nkind: shared\nowner: dead backup\nexpires_ms: 1000\n";
    assert_int_equal(store_put_buf(s, "locks/shared-dead.lease", dead, strlen(dead), &e), 0);
    repo_lease *a, *b;
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup tag=a pid=1", 60, &a, &e),
                     0);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "backup tag=b pid=2", 60, &b, &e),
                     0);
    /* Both live leases with their owners; the one whose expiry has passed by the wall
     * clock is not shown (only an acquirer, by the store's clock, removes it). */
    struct seen_leases seen = {0};
    assert_int_equal(repo_lease_each(f->r, note_lease, &seen, &e), 0);
    assert_int_equal(seen.n, 2);
    assert_true(strstr(seen.owners[0], "tag=a") || strstr(seen.owners[1], "tag=a"));
    assert_true(strstr(seen.owners[0], "tag=b") || strstr(seen.owners[1], "tag=b"));
    int calls = 0;
    assert_int_equal(repo_lease_each(f->r, stop_at_first, &calls, &e), 7);
    assert_int_equal(calls, 1);
    /* Breaking one removes it; breaking it again is no error; other keys are refused. */
    assert_int_equal(repo_lease_break(f->r, seen.keys[0], &e), 0);
    assert_int_equal(repo_lease_break(f->r, seen.keys[0], &e), 0);
    assert_int_equal(repo_lease_break(f->r, "blobs/ab/cd", &e), CAIRN_EINVAL);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(repo_lease_each(f->r, note_lease, &seen, &e), 0);
    assert_int_equal(seen.n, 1);
    repo_lease_release(a);
    repo_lease_release(b); /* one of them was broken: only a warning */
    assert_int_equal(store_delete(s, "locks/shared-dead.lease", &e), 0);
    assert_int_equal(count_leases(f), 0);
    store_close(s);
}

static void test_lease_expiry(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    store *s; /* the same repository, underneath */
    assert_int_equal(store_open(&s, f->url, NULL, &e), 0);
    /* A lease whose writer's clock ran years behind, but that was put just now, is
     * live: expiry is judged by the store's timestamps, not the writer's clock. */
    const char *skewed = "cairn-lease 1\nkind: exclusive\nowner: skewed purge\n"
                         "expires_ms: 61000\nwritten_ms: 1000\n";
    assert_int_equal(store_put_buf(s, "locks/exclusive-skew.lease", skewed, strlen(skewed), &e), 0);
    repo_lease *l;
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "new purge", 60, &l, &e),
                     CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "skewed purge"));
    /* Not re-put for longer than its ttl (60 s) by the store's clock: expired, even
     * though its writer's clock claims it lasts for centuries. */
    const char *dead = "cairn-lease 1\nkind: exclusive\nowner: dead purge\n"
                       "expires_ms: 9000000000000\nwritten_ms: 8999999940000\n";
    assert_int_equal(store_put_buf(s, "locks/exclusive-skew.lease", dead, strlen(dead), &e), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/locks/exclusive-skew.lease", f->root);
    struct timespec old[2];
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 70;
    old[1] = old[0];
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    assert_int_equal(store_put_buf(s, "locks/junk.lease", "??", 2, &e), 0);
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "new purge", 60, &l, &e), 0);
    assert_int_equal(store_head(s, "locks/exclusive-skew.lease", NULL, &e), CAIRN_ENOENT);
    repo_lease_release(l);
    assert_int_equal(store_delete(s, "locks/junk.lease", &e), 0);

    /* A live lease's object names its owner, kind and expiry in plain text. */
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_SHARED, "bk\nup", 1, &l, &e), 0);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/locks", f->root);
    DIR *d = opendir(dir);
    struct dirent *de;
    char key[300] = "";
    while ((de = readdir(d))) {
        if (de->d_name[0] != '.')
            snprintf(key, sizeof(key), "locks/%s", de->d_name);
    }
    closedir(d);
    assert_non_null(strstr(key, "locks/shared-"));
    buf m = {0};
    assert_int_equal(store_get(s, key, mem_sink, &m, &e), 0);
    mem_sink(&m, "", 1, NULL);
    assert_non_null(strstr((char *)m.data, "cairn-lease 1\nkind: shared\nowner: bk?up\n"));
    free(m.data);

    /* Past its ttl the lease cannot be renewed: others may have acted. */
    struct timespec ts = {1, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(repo_lease_renew(l, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "expired"));
    /* ... and once the store's clock says it was not re-put for its ttl plus the
     * margin (here: its file is backdated), it no longer blocks an exclusive lease. */
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 5;
    old[1] = old[0];
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    repo_lease *x;
    assert_int_equal(repo_lease_acquire(f->r, REPO_LEASE_EXCLUSIVE, "purge", 60, &x, &e), 0);
    repo_lease_release(x);
    repo_lease_release(l);
    assert_int_equal(count_leases(f), 0);
    store_close(s);
}

struct racer {
    repo *r;
    pthread_barrier_t *bar;
    int rounds;
    bool won[40];
    repo_lease *held;
};

static void *racer_main(void *arg)
{
    struct racer *rc = arg;
    for (int i = 0; i < rc->rounds; i++) {
        pthread_barrier_wait(rc->bar);
        cairn_err e;
        rc->held = NULL;
        repo_lease_acquire(rc->r, REPO_LEASE_EXCLUSIVE, "racer", 60, &rc->held, &e);
        pthread_barrier_wait(rc->bar); /* both attempts are over before either releases */
        rc->won[i] = rc->held != NULL;
        repo_lease_release(rc->held);
        pthread_barrier_wait(rc->bar);
    }
    return NULL;
}

static void test_lease_race(void **state)
{
    struct fixture *f = *state;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    struct racer a = {.r = f->r, .bar = &bar, .rounds = 40};
    struct racer b = a;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, racer_main, &a);
    pthread_create(&tb, NULL, racer_main, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    /* Both may back off in a round, but never may both hold the lease. */
    int wins = 0;
    for (int i = 0; i < 40; i++) {
        assert_false(a.won[i] && b.won[i]);
        wins += a.won[i] + b.won[i];
    }
    assert_true(wins > 0);
    assert_int_equal(count_leases(f), 0);
}

struct taker {
    ratelimit *rl;
    size_t total;
};

static void *taker_main(void *arg)
{
    struct taker *t = arg;
    for (size_t done = 0; done < t->total; done += 65536)
        ratelimit_take(t->rl, 65536);
    return NULL;
}

static void test_ratelimit(void **state)
{
    (void)state;
    ratelimit *rl = (ratelimit *)1;
    cairn_err e;
    assert_int_equal(ratelimit_new(&rl, 0, &e), 0);
    assert_null(rl);
    ratelimit_take(NULL, 1u << 30); /* unlimited: returns at once */
    ratelimit_free(NULL);

    /* 4 threads share 8 MiB/s for 4 MiB: about half a second in all. */
    assert_int_equal(ratelimit_new(&rl, 8u << 20, &e), 0);
    pthread_t t[4];
    struct taker tk = {.rl = rl, .total = 1u << 20};
    double start = test_now_s();
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, taker_main, &tk);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double took = test_now_s() - start;
    assert_true(took > 0.35);
    assert_true(took < 1.5);
    ratelimit_free(rl);
}

static int count_key(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    int *n = ctx;
    (*n)++;
    assert_int_equal(strncmp(key, "backups/c/", 10), 0);
    return 0;
}

/* What callers above the repository get instead of its store. */
static void test_manifest_keys_and_counts(void **state)
{
    struct fixture *f = *state;
    cairn_err e;
    char key[256];
    repo_cluster_manifest_key("c", "t1", key, sizeof(key));
    store_counts before, after;
    repo_stats(f->r, &before);
    uint64_t size = 7;
    assert_int_equal(repo_manifest_stat(f->r, key, &size, &e), CAIRN_ENOENT);
    assert_int_equal(size, 7);
    int n = 0;
    assert_int_equal(repo_manifest_list(f->r, "backups/c/", count_key, &n, &e), 0);
    assert_int_equal(n, 0);

    store *s;
    assert_int_equal(store_open(&s, f->url, NULL, &e), 0);
    assert_int_equal(store_put_buf(s, key, "abc", 3, &e), 0);
    repo_node_manifest_key("c", "t1", "h1", key, sizeof(key));
    assert_int_equal(store_put_buf(s, key, "node", 4, &e), 0);
    assert_int_equal(store_put_buf(s, "backups/other/t1/backup.manifest", "x", 1, &e), 0);
    store_close(s);

    repo_cluster_manifest_key("c", "t1", key, sizeof(key));
    assert_int_equal(repo_manifest_stat(f->r, key, &size, &e), 0);
    assert_int_equal(size, 3);
    assert_int_equal(repo_manifest_stat(f->r, key, NULL, &e), 0);
    assert_int_equal(repo_manifest_list(f->r, "backups/c/", count_key, &n, &e), 0);
    assert_int_equal(n, 2); /* not the other cluster's */
    repo_stats(f->r, &after);
    assert_int_equal(after.heads, before.heads + 3);
    assert_true(after.lists >= before.lists + 2);
    assert_int_equal(after.puts, before.puts); /* the other handle's puts are not ours */
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    repo *r = NULL;
    cairn_err e;
    /* A cairn.repo too large to be one is not read into memory. */
    size_t big = (1u << 20) + 1;
    char *junk = calloc(1, big);
    put_info(f, junk, big);
    free(junk);
    assert_int_equal(repo_open(&r, f->url, NULL, false, &e), CAIRN_ECORRUPT);
    assert_null(r);
    assert_non_null(strstr(e.msg, "cannot read cairn.repo"));
    assert_non_null(strstr(e.msg, "larger than"));
    /* A location where nothing can be written. */
    assert_int_equal(repo_open(&r, "file:///proc/cairn-no-repo", NULL, true, &e) != 0, 1);
    assert_null(r);
    assert_non_null(strstr(e.msg, "cannot create a repository at file:///proc/cairn-no-repo"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_check, setup, teardown),
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_leases, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_lease_list_and_break, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_lease_race, setup_open, teardown),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test_setup_teardown(test_manifest_keys_and_counts, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
