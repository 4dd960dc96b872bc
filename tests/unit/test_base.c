/* The shared primitives of common/base and net/http: pool, buf, hex, text, debug,
 * err, log, path, and http's handle pool and URI encoding. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/cores.h"
#include "base/crc.h"
#include "base/debug.h"
#include "base/err.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/path.h"
#include "base/pool.h"
#include "base/text.h"
#include "net/http.h"

/* ---- pool ---- */

#define ITEMS 1000

struct work {
    atomic_int runs[ITEMS];
    atomic_size_t calls;
    size_t fail_at; /* ITEMS: never */
    bool slow;      /* the other items wait for the failure, then take 1 ms each */
    atomic_bool failed;
};

static int count_item(void *arg, size_t i, cairn_err *e)
{
    struct work *w = arg;
    assert_true(i < ITEMS);
    atomic_fetch_add(&w->runs[i], 1);
    atomic_fetch_add(&w->calls, 1);
    if (i == w->fail_at) {
        atomic_store(&w->failed, true);
        return err_set(e, CAIRN_EIO, "item %zu failed", i);
    }
    /* So that a thread descheduled while it holds the failing item cannot watch the
     * others take every item on a loaded machine. */
    while (w->slow && !atomic_load(&w->failed))
        sched_yield();
    if (w->slow)
        usleep(1000);
    return 0;
}

static void run_all(size_t n, unsigned threads)
{
    struct work *w = calloc(1, sizeof(*w));
    w->fail_at = ITEMS;
    cairn_err e;
    err_clear(&e);
    assert_int_equal(pool_run(n, threads, count_item, w, &e), 0);
    assert_int_equal(e.code, 0);
    for (size_t i = 0; i < ITEMS; i++)
        assert_int_equal(w->runs[i], i < n ? 1 : 0);
    free(w);
}

static void test_pool_runs_every_item_once(void **state)
{
    run_all(ITEMS, 0);
    run_all(ITEMS, 1);
    run_all(ITEMS, 8);
    run_all(ITEMS, POOL_MAX_THREADS + 100); /* capped */
    run_all(3, 64);                         /* more threads than items */
    run_all(1, 4);
    run_all(0, 4);
}

static int never_called(void *arg, size_t i, cairn_err *e)
{
    fail();
    return 0;
}

static void test_pool_nothing_to_do(void **state)
{
    cairn_err e;
    err_clear(&e);
    assert_int_equal(pool_run(0, 8, never_called, NULL, &e), 0);
    assert_int_equal(pool_run(0, 0, never_called, NULL, NULL), 0);
}

static void test_pool_first_failure_stops(void **state)
{
    /* One thread takes items in order: nothing after the failure runs. */
    struct work *w = calloc(1, sizeof(*w));
    w->fail_at = 10;
    cairn_err e;
    assert_int_equal(pool_run(ITEMS, 1, count_item, w, &e), CAIRN_EIO);
    assert_int_equal(e.code, CAIRN_EIO);
    assert_string_equal(e.msg, "item 10 failed");
    assert_int_equal(w->calls, 11);
    assert_int_equal(w->runs[11], 0);

    /* Several threads: the failure is reported, and handing out stops long before the
     * end (each thread finishes at most the item it holds). */
    memset(w, 0, sizeof(*w));
    w->fail_at = 0;
    w->slow = true;
    assert_int_equal(pool_run(ITEMS, 4, count_item, w, &e), CAIRN_EIO);
    assert_string_equal(e.msg, "item 0 failed");
    assert_true(w->calls < ITEMS);
    for (size_t i = 0; i < ITEMS; i++)
        assert_true(w->runs[i] <= 1);

    /* e may be NULL. */
    memset(w, 0, sizeof(*w));
    w->fail_at = 5;
    assert_int_equal(pool_run(ITEMS, 2, count_item, w, NULL), CAIRN_EIO);
    free(w);
}

/* A failure that fills no message still reports its code. */
static int fail_silently(void *arg, size_t i, cairn_err *e)
{
    return CAIRN_EBUSY;
}

static void test_pool_failure_without_message(void **state)
{
    cairn_err e;
    assert_int_equal(pool_run(5, 2, fail_silently, NULL, &e), CAIRN_EBUSY);
    assert_int_equal(e.code, CAIRN_EBUSY);
}

/* ---- buf ---- */

static void test_buf_growth(void **state)
{
    buf b = BUF_INIT;
    cairn_err e;
    assert_null(b.data);
    assert_int_equal(buf_append(&b, "", 0, &e), 0); /* allocates, keeps the NUL */
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.data[0], '\0');
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "abc", 3, &e), 0);
    assert_int_equal(b.len, 30000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 29997, "abc", 3);

    /* reserve leaves room for n bytes and the NUL without changing len. */
    size_t len = b.len;
    assert_int_equal(buf_reserve(&b, 100000, &e), 0);
    assert_int_equal(b.len, len);
    assert_true(b.cap >= len + 100000 + 1);

    /* reset keeps the memory. */
    uint8_t *mem = b.data;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, mem);
    assert_string_equal((char *)b.data, "");
    assert_int_equal(buf_append(&b, "xy", 2, &e), 0);
    assert_string_equal((char *)b.data, "xy");

    /* steal hands the bytes over and empties b. */
    size_t n = 0;
    uint8_t *got = buf_steal(&b, &n);
    assert_int_equal(n, 2);
    assert_string_equal((char *)got, "xy");
    free(got);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_null(buf_steal(&b, NULL));

    /* free leaves a usable, empty buf. */
    assert_int_equal(buf_append(&b, "z", 1, &e), 0);
    buf_free(&b);
    assert_null(b.data);
    buf_reset(&b); /* on an empty buf too */
    assert_int_equal(buf_append(&b, "again", 5, &e), 0);
    assert_string_equal((char *)b.data, "again");
    buf_free(&b);
    buf_free(&b);
}

static void test_buf_limit(void **state)
{
    buf b = BUF_INIT;
    b.limit = 10;
    cairn_err e;
    assert_int_equal(buf_append(&b, "0123456789", 10, &e), 0); /* exactly the limit */
    assert_int_equal(buf_append(&b, "", 0, &e), 0);
    assert_int_equal(buf_append(&b, "x", 1, &e), CAIRN_EPROTO);
    assert_int_equal(e.code, CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "10 bytes"));
    assert_int_equal(b.len, 10); /* a refused append changes nothing */
    assert_string_equal((char *)b.data, "0123456789");
    assert_int_equal(buf_reserve(&b, 1, NULL), CAIRN_EPROTO);

    buf_reset(&b); /* keeps the limit */
    assert_int_equal(b.limit, 10);
    assert_int_equal(buf_reserve(&b, 11, &e), CAIRN_EPROTO);
    assert_int_equal(buf_reserve(&b, 10, &e), 0);
    buf_free(&b);

    /* Without a limit a size that cannot be allocated is out of memory, not a wrap. */
    buf u = BUF_INIT;
    assert_int_equal(buf_reserve(&u, SIZE_MAX - 1, &e), CAIRN_ENOMEM);
    assert_int_equal(buf_reserve(&u, SIZE_MAX / 2, NULL), CAIRN_ENOMEM);
    assert_null(u.data);
}

/* ---- hex ---- */

static void test_hex_encode(void **state)
{
    char out[64];
    memset(out, 'x', sizeof(out));
    hex_encode("", 0, out);
    assert_string_equal(out, "");
    const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    hex_encode(bytes, sizeof(bytes), out);
    assert_string_equal(out, "00017f80abff");
    hex_encode("Az", 2, out);
    assert_string_equal(out, "417a");
}

static void digest_of(EVP_MD_CTX *md, const EVP_MD *type, const char *s)
{
    assert_int_equal(EVP_DigestInit_ex(md, type, NULL), 1);
    assert_int_equal(EVP_DigestUpdate(md, s, strlen(s)), 1);
}

static void test_hex_digest(void **state)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char out[2 * EVP_MAX_MD_SIZE + 1];
    digest_of(md, EVP_sha256(), "abc");
    hex_digest_final(md, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* The context is reused after a new init, for another kind of digest too. */
    digest_of(md, EVP_sha1(), "abc");
    hex_digest_final(md, out);
    assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
    digest_of(md, EVP_sha256(), "");
    char id[HEX_SHA256_LEN + 1];
    hex_sha256_final(md, id);
    assert_string_equal(id, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EVP_MD_CTX_free(md);
}

/* ---- text ---- */

static void test_text_escape(void **state)
{
    char out[64];
    /* Quotes, backslashes, control and high bytes, and a NUL within n, as \xNN. */
    assert_int_equal(text_escape("a'b\"c\\d", 7, out, sizeof(out)), 7);
    assert_string_equal(out, "a\\x27b\\x22c\\x5cd");
    assert_int_equal(text_escape("\n\x01\x7f\xff", 4, out, sizeof(out)), 4);
    assert_string_equal(out, "\\x0a\\x01\\x7f\\xff");
    assert_int_equal(text_escape("a\0b", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "a\\x00b");
    assert_int_equal(text_escape("abc", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(text_escape("a\x01z", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "a\\x01z");
    /* Stops before the first escape that does not fit, with no mark. */
    assert_int_equal(text_escape("a\x01z", 3, out, 5), 1);
    assert_string_equal(out, "a");
    assert_int_equal(text_escape("abcdef", 6, out, 4), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(text_escape("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(text_escape(NULL, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

/* ---- debug ---- */

static void test_assert_aborts(void **state)
{
#ifdef NDEBUG
    skip();
#else
    CAIRN_ASSERT(1 + 1 == 2);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child's report goes nowhere: only how it ends matters. */
        if (!freopen("/dev/null", "w", stderr))
            _exit(1);
        CAIRN_ASSERT(pid != 0);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

/* ---- err, path, log ---- */

static void test_err(void **state)
{
    cairn_err e;
    assert_int_equal(err_set(&e, CAIRN_EIO, "disk %d", 3), CAIRN_EIO);
    assert_string_equal(e.msg, "disk 3");
    assert_int_equal(err_prefix(&e, "copying %s", "a"), CAIRN_EIO);
    assert_string_equal(e.msg, "copying a: disk 3");
    assert_int_equal(err_sys(&e, ENOENT, "open %s", "x"), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "open x: "));
    assert_int_equal(err_set(NULL, CAIRN_EBUSY, "nobody hears"), CAIRN_EBUSY);
    err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");

    /* A message longer than the buffer is cut, not overrun. */
    char big[2 * CAIRN_ERR_MSG_MAX];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, CAIRN_EINVAL, "%s", big);
    assert_int_equal(strlen(e.msg), CAIRN_ERR_MSG_MAX - 1);
    err_prefix(&e, "ctx");
    assert_int_equal(strlen(e.msg), CAIRN_ERR_MSG_MAX - 1);
    assert_int_equal(strncmp(e.msg, "ctx: ", 5), 0);

    /* A failure whose code was lost is still a failure once prefixed. */
    err_clear(&e);
    assert_int_equal(err_prefix(&e, "loading %s", "x"), CAIRN_EIO);
    assert_int_equal(e.code, CAIRN_EIO);
    assert_string_equal(e.msg, "loading x: ");

    static const int errnos[] = {ENOENT,       EEXIST, EACCES, EPERM,        ENOMEM,
                                 ENOSPC,       EDQUOT, EINVAL, ENAMETOOLONG, ETIMEDOUT,
                                 ECONNREFUSED, EBUSY,  EIO};
    for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
        int code = err_from_errno(errnos[i]);
        assert_true(code < 0);
        assert_non_null(err_name(code));
        assert_non_null(err_strerror(errnos[i]));
    }
    assert_int_equal(err_from_errno(ENOENT), CAIRN_ENOENT);
    assert_int_equal(err_from_errno(ENOSPC), CAIRN_ENOSPC);
    for (int code = CAIRN_EMISMATCH - 1; code <= 0; code++)
        assert_non_null(err_name(code));
}

static void test_path_fmt(void **state)
{
    char p[16];
    cairn_err e;
    assert_int_equal(path_fmt(p, sizeof(p), &e, "%s/%s", "a", "b"), 0);
    assert_string_equal(p, "a/b");
    assert_int_equal(path_fmt(p, 8, &e, "%s/%s", "abcd", "efgh"), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "too long"));
}

static void test_log(void **state)
{
    log_level l;
    cairn_err e;
    assert_int_equal(log_level_parse("debug", &l, &e), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warn", &l, &e), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("loud", &l, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "loud"));

    char path[] = "/tmp/cairn-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(log_open_file(path, &e), 0);
    log_set_level(LOG_LEVEL_INFO);
    log_info("hello %d", 42);
    log_debug("not shown");
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("shown");
    log_error("bad");
    log_warn("careful");
    char text[512] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    assert_non_null(strstr(text, "hello 42"));
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, "shown"));
    assert_non_null(strstr(text, "bad"));
    assert_non_null(strstr(text, "careful"));
    assert_int_equal(log_open_file("/nonexistent-dir/x.log", &e), CAIRN_ENOENT);
    log_set_level(LOG_LEVEL_INFO);
}

/* ---- net/http ---- */

static void test_http_uri_encode(void **state)
{
    char *s = http_uri_encode("AZaz09-._~", NULL);
    assert_string_equal(s, "AZaz09-._~");
    free(s);
    s = http_uri_encode("a b/c?d=e&f+g%", NULL);
    assert_string_equal(s, "a%20b%2Fc%3Fd%3De%26f%2Bg%25");
    free(s);
    s = http_uri_encode("dir/sub dir/x", "/");
    assert_string_equal(s, "dir/sub%20dir/x");
    free(s);
    s = http_uri_encode("\xc3\xa9\x01\xff", NULL); /* bytes, uppercase hex */
    assert_string_equal(s, "%C3%A9%01%FF");
    free(s);
    s = http_uri_encode("", NULL);
    assert_string_equal(s, "");
    free(s);
    assert_null(http_uri_encode(NULL, "/"));
}

static void test_http_pool(void **state)
{
    http_pool *p;
    cairn_err e;
    assert_int_equal(http_pool_new(&p, 2, &e), 0);
    CURL *a = http_pool_get(p), *b = http_pool_get(p), *c = http_pool_get(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    http_pool_put(p, a);
    http_pool_put(p, b);
    http_pool_put(p, c);    /* over keep: cleaned up */
    http_pool_put(p, NULL); /* what a failed get hands back */
    /* Idle handles are handed out again. */
    CURL *d = http_pool_get(p);
    assert_true(d == a || d == b);
    http_pool_put(p, d);
    http_pool_free(p);
    http_pool_free(NULL);

    assert_int_equal(http_pool_new(&p, 0, &e), 0);
    a = http_pool_get(p);
    assert_non_null(a);
    http_pool_put(p, a);
    http_pool_free(p);
}

/* zlib's CRC-32 (ScyllaDB's Digest.crc32): the standard check value, and the same
 * result whatever the pieces the bytes come in. */
static void test_crc(void **state)
{
    (void)state;
    assert_int_equal(crc_update(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(crc_update(0, "", 0), 0);
    unsigned char b[100003];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)(i * 2654435761u >> 11);
    uint32_t whole = crc_update(0, b, sizeof(b));
    uint32_t pieces = 0;
    for (size_t off = 0, n = 1; off < sizeof(b); off += n, n = n * 3 + 1)
        pieces = crc_update(pieces, b + off, n < sizeof(b) - off ? n : sizeof(b) - off);
    assert_int_equal(pieces, whole);
}

/* Idle cores are lent, never more; busy threads and loans count alike; never more
 * than the process may run on. */
static void test_cores(void **state)
{
    (void)state;
    cores *c;
    cairn_err e;
    assert_int_equal(cores_new(&c, 0, &e), 0);
    unsigned all = cores_claim(c, 4096);
    assert_true(all >= 1);
    assert_int_equal(cores_claim(c, 1), 0);
    cores_release(c, all);
    cores_free(c);

    assert_int_equal(cores_new(&c, 4096, &e), 0);
    assert_int_equal(cores_claim(c, 4096), all);
    cores_release(c, all);
    cores_free(c);

    assert_int_equal(cores_new(&c, 1, &e), 0);
    cores_enter(c);
    assert_int_equal(cores_claim(c, 4), 0);
    cores_leave(c);
    assert_int_equal(cores_claim(c, 4), 1);
    cores_release(c, 1);
    cores_free(c);
    if (all < 2)
        return;
    assert_int_equal(cores_new(&c, 2, &e), 0);
    cores_enter(c);
    assert_int_equal(cores_claim(c, 4), 1);
    assert_int_equal(cores_claim(c, 4), 0);
    cores_release(c, 1);
    cores_leave(c);
    assert_int_equal(cores_claim(c, 0), 0);
    assert_int_equal(cores_claim(c, 8), 2);
    cores_release(c, 2);
    cores_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cores),
        cmocka_unit_test(test_crc),
        cmocka_unit_test(test_pool_runs_every_item_once),
        cmocka_unit_test(test_pool_nothing_to_do),
        cmocka_unit_test(test_pool_first_failure_stops),
        cmocka_unit_test(test_pool_failure_without_message),
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_hex_digest),
        cmocka_unit_test(test_text_escape),
        cmocka_unit_test(test_assert_aborts),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_path_fmt),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_http_uri_encode),
        cmocka_unit_test(test_http_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
