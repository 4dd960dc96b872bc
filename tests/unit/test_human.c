/* Figures as a person reads them, and the progress display built on them. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/human.h"
#include "cli/progress.h"

static void test_bytes(void **state)
{
    char b[32];
    assert_string_equal(human_bytes(0, b, sizeof(b)), "0 B");
    assert_string_equal(human_bytes(1023, b, sizeof(b)), "1023 B");
    assert_string_equal(human_bytes(1024, b, sizeof(b)), "1.00 KiB");
    assert_string_equal(human_bytes(1536, b, sizeof(b)), "1.50 KiB");
    assert_string_equal(human_bytes(50ULL << 20, b, sizeof(b)), "50.0 MiB");
    assert_string_equal(human_bytes(500ULL << 30, b, sizeof(b)), "500 GiB");
    assert_string_equal(human_bytes(3ULL << 40, b, sizeof(b)), "3.00 TiB");
    /* PiB is the largest unit: beyond it the figure grows */
    assert_string_equal(human_bytes(2048ULL << 50, b, sizeof(b)), "2048 PiB");
}

static void test_duration(void **state)
{
    char b[32];
    assert_string_equal(human_duration(0, b, sizeof(b)), "0 ms");
    assert_string_equal(human_duration(850, b, sizeof(b)), "850 ms");
    assert_string_equal(human_duration(12345, b, sizeof(b)), "12.3 s");
    assert_string_equal(human_duration(245000, b, sizeof(b)), "4m05s");
    assert_string_equal(human_duration(7380000, b, sizeof(b)), "2h03m");
}

static void test_time_and_clocks(void **state)
{
    char b[32];
    assert_string_equal(human_time(0, b, sizeof(b)), "1970-01-01 00:00:00Z");
    assert_string_equal(human_time(1795536180999ULL, b, sizeof(b)), "2026-11-24 16:03:00Z");
    uint64_t now = human_now_ms();
    assert_true(now > 1700000000000ULL);
    uint64_t m0 = human_mono_ms(), m1 = human_mono_ms();
    assert_true(m1 >= m0);
}

/* Runs fn with stderr on a fresh file (or a terminal, when tty) and returns what was
 * written, NUL-terminated. */
static char *capture_stderr(bool tty, void (*fn)(void))
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int master = -1, fd;
    char path[] = "/tmp/cairn-progress-XXXXXX";
    if (tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY);
        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
        fd = open(ptsname(master), O_RDWR | O_NOCTTY);
    } else {
        fd = mkstemp(path);
    }
    assert_true(fd >= 0);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *out = calloc(1, 65536);
    size_t len = 0;
    if (tty) {
        fcntl(master, F_SETFL, O_NONBLOCK);
        ssize_t r;
        while (len < 65535 && (r = read(master, out + len, 65535 - len)) > 0)
            len += (size_t)r;
        close(fd);
        close(master);
    } else {
        lseek(fd, 0, SEEK_SET);
        ssize_t r;
        while (len < 65535 && (r = read(fd, out + len, 65535 - len)) > 0)
            len += (size_t)r;
        close(fd);
        unlink(path);
    }
    return out;
}

static const char *const labels[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};

static void set(progress *p, size_t i, progress_state st, uint64_t bytes_done, uint64_t bytes_total,
                uint64_t files_done, uint64_t files_total)
{
    progress_figures fig = {.st = st,
                            .bytes_done = bytes_done,
                            .bytes_total = bytes_total,
                            .files_done = files_done,
                            .files_total = files_total};
    progress_set(p, i, &fig);
}

static void three_nodes(void)
{
    progress *p = NULL;
    cairn_err e;
    assert_int_equal(progress_start(&p, "restore", 3, labels, false, &e), 0);
    set(p, 0, PROGRESS_DONE, 1024, 1024, 2, 2);
    set(p, 1, PROGRESS_RUNNING, 512, 2048, 1, 4);
    set(p, 2, PROGRESS_FAILED, 0, 0, 0, 0);
    progress_stop(p);
}

static void test_progress_log_lines(void **state)
{
    char *out = capture_stderr(false, three_nodes);
    /* The failed node is not counted as done, and an instant gives no speed or ETA. */
    assert_non_null(strstr(out, "restore: 1 node done, 1 node failed, 1.50 KiB of 3.00 KiB"));
    assert_null(strstr(out, "ETA"));
    assert_null(strstr(out, "/s"));
    assert_null(strstr(out, "\033["));
    free(out);
}

static void test_progress_terminal(void **state)
{
    char *out = capture_stderr(true, three_nodes);
    assert_non_null(strstr(out, "10.0.0.1"));
    assert_non_null(strstr(out, "done"));
    assert_non_null(strstr(out, "100.0%"));
    assert_non_null(strstr(out, "running"));
    assert_non_null(strstr(out, " 25.0%"));
    assert_non_null(strstr(out, "1/4 files"));
    assert_non_null(strstr(out, "FAILED"));
    assert_non_null(strstr(out, "restore: 1 node done, 1 node failed"));
    free(out);
}

static const char *many_labels[30];

/* More nodes than lines: only the busy and the failed ones get a line. */
static void many_nodes(void)
{
    for (size_t i = 0; i < 30; i++)
        many_labels[i] = i == 7 ? "busy-node" : i == 9 ? "broken-node" : "quiet-node";
    progress *p = NULL;
    cairn_err e;
    assert_int_equal(progress_start(&p, "backup", 30, many_labels, false, &e), 0);
    for (size_t i = 0; i < 30; i++)
        set(p, i, PROGRESS_DONE, 10, 10, 1, 1);
    set(p, 7, PROGRESS_RUNNING, 5, 10, 0, 1);
    set(p, 9, PROGRESS_FAILED, 0, 10, 0, 1);
    progress_stop(p);
}

static void test_progress_many_nodes(void **state)
{
    char *out = capture_stderr(true, many_nodes);
    assert_non_null(strstr(out, "busy-node"));
    assert_non_null(strstr(out, "broken-node"));
    assert_null(strstr(out, "quiet-node"));
    assert_non_null(strstr(out, "backup: 28 nodes done, 1 node failed"));
    free(out);
}

static void quiet_run(void)
{
    progress *p = NULL;
    cairn_err e;
    assert_int_equal(progress_start(&p, "backup", 1, labels, true, &e), 0);
    set(p, 0, PROGRESS_DONE, 1, 1, 1, 1);
    progress_stop(p);
    progress_stop(NULL);
}

static void test_progress_quiet(void **state)
{
    char *out = capture_stderr(false, quiet_run);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_time_and_clocks),
        cmocka_unit_test(test_progress_log_lines),
        cmocka_unit_test(test_progress_terminal),
        cmocka_unit_test(test_progress_many_nodes),
        cmocka_unit_test(test_progress_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
