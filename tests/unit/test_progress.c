/* The progress display's arithmetic, on a clock the test moves: speed, ETA, nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/progress.h"

#define MIB (1024u * 1024u)

static progress_rate *rate_new(void)
{
    progress_rate *r = NULL;
    cairn_err e;
    assert_int_equal(progress_rate_new(&r, &e), 0);
    return r;
}

/* One node, running, with the figures given. */
static progress_sum one(uint64_t done, uint64_t total, uint64_t skipped)
{
    progress_sum s = {0};
    progress_figures fig = {
        .st = PROGRESS_RUNNING, .bytes_done = done, .bytes_total = total, .bytes_skipped = skipped};
    progress_sum_add(&s, &fig);
    return s;
}

static void test_no_speed_at_start(void **state)
{
    progress_rate *r = rate_new();
    uint64_t per_s = 0;
    char line[256];
    progress_sum s = one(0, 100 * MIB, 0);
    progress_rate_add(r, 1000, 0);
    progress_total_line("backup", &s, r, 1000, false, 0, line, sizeof(line));
    assert_string_equal(line, "backup: 0/1 nodes done, 0 B of 100 MiB");
    /* Bytes moved, but for less than PROGRESS_MIN_MS: still no figure to trust. */
    progress_rate_add(r, 2000, 5 * MIB);
    s = one(5 * MIB, 100 * MIB, 0);
    assert_false(progress_rate_get(r, 2000, &per_s));
    progress_total_line("backup", &s, r, 2000, false, 1000, line, sizeof(line));
    assert_null(strstr(line, "ETA"));
    assert_null(strstr(line, "/s"));
    progress_rate_free(r);
}

static void test_speed_and_eta(void **state)
{
    progress_rate *r = rate_new();
    for (uint64_t t = 0; t <= 4; t++)
        progress_rate_add(r, 1000 + t * 1000, t * 2 * MIB);
    uint64_t per_s = 0;
    assert_true(progress_rate_get(r, 5000, &per_s));
    assert_int_equal(per_s, 2 * MIB);
    progress_sum s = one(8 * MIB, 108 * MIB, 0);
    char line[256];
    progress_total_line("backup", &s, r, 5000, false, 4000, line, sizeof(line));
    /* 100 MiB to go at 2 MiB/s. */
    assert_string_equal(line,
                        "backup: 0/1 nodes done, 8.00 MiB of 108 MiB, 2.00 MiB/s, ETA 50.0 s");
    progress_rate_free(r);
}

/* A second backup finds every blob in the repository: done at once, nothing moved. */
static void test_skipped_bytes_are_no_speed(void **state)
{
    progress_rate *r = rate_new();
    progress_rate_add(r, 0, 0);
    progress_rate_add(r, 4000, 0); /* 1 GiB done, all of it skipped */
    uint64_t per_s = 0;
    assert_false(progress_rate_get(r, 4000, &per_s));
    progress_sum s = one(1024u * MIB, 2048u * MIB, 1024u * MIB);
    char line[256];
    progress_total_line("backup", &s, r, 4000, false, 4000, line, sizeof(line));
    assert_string_equal(line, "backup: 0/1 nodes done, 1.00 GiB of 2.00 GiB (1.00 GiB unchanged)");
    /* At the end, the average counts the moved bytes only: 10 MiB in 5 s. */
    s = one(1034u * MIB, 1034u * MIB, 1024u * MIB);
    s.done = 1;
    progress_total_line("backup", &s, r, 5000, true, 5000, line, sizeof(line));
    assert_string_equal(line,
                        "backup: 1 node done, 1.01 GiB of 1.01 GiB (1.00 GiB unchanged), 2.00 "
                        "MiB/s, in 5.0 s");
    progress_rate_free(r);
}

static void test_sliding_window(void **state)
{
    progress_rate *r = rate_new();
    uint64_t moved = 0, per_s = 0;
    /* 30 s at 10 MiB/s, then 10 s at 1 MiB/s: the window forgets the fast part. */
    for (uint64_t t = 0; t <= 30; t++)
        progress_rate_add(r, t * 1000, moved = t * 10 * MIB);
    assert_true(progress_rate_get(r, 30000, &per_s));
    assert_int_equal(per_s, 10 * MIB);
    for (uint64_t t = 31; t <= 50; t++)
        progress_rate_add(r, t * 1000, moved += MIB);
    assert_true(progress_rate_get(r, 50000, &per_s));
    assert_int_equal(per_s, MIB);
    /* Stalled for longer than the window: no speed, rather than an ETA of forever. */
    for (uint64_t t = 51; t <= 51 + PROGRESS_WINDOW_MS / 1000; t++)
        progress_rate_add(r, t * 1000, moved);
    assert_false(progress_rate_get(r, (52 + PROGRESS_WINDOW_MS / 1000) * 1000, &per_s));
    /* A job started afresh counts from 0 again: the window restarts instead of
     * wrapping around. */
    progress_rate_add(r, 100000, 0);
    assert_false(progress_rate_get(r, 100000, &per_s));
    progress_rate_free(r);
}

static void test_failed_nodes(void **state)
{
    progress_sum s = {0};
    progress_figures failed = {.st = PROGRESS_FAILED, .bytes_total = 10};
    progress_sum_add(&s, &failed);
    progress_sum_add(&s, &failed);
    char line[256];
    progress_total_line("backup", &s, NULL, 0, true, 1000, line, sizeof(line));
    assert_string_equal(line, "backup: 2 nodes failed, 0 B of 20 B, in 1.0 s");
    progress_figures done = {.st = PROGRESS_DONE, .bytes_done = 10, .bytes_total = 10};
    progress_sum_add(&s, &done);
    progress_total_line("backup", &s, NULL, 0, true, 1000, line, sizeof(line));
    assert_string_equal(line, "backup: 1 node done, 2 nodes failed, 10 B of 30 B, in 1.0 s");
    progress_total_line("backup", &s, NULL, 0, false, 1000, line, sizeof(line));
    assert_string_equal(line, "backup: 1/3 nodes done, 2 failed, 10 B of 30 B");
}

static void test_restore_wording_and_node_line(void **state)
{
    progress_sum s = one(3 * MIB, 4 * MIB, MIB);
    char line[256];
    progress_total_line("restore", &s, NULL, 0, false, 0, line, sizeof(line));
    assert_string_equal(line,
                        "restore: 0/1 nodes done, 3.00 MiB of 4.00 MiB (1.00 MiB already there)");
    progress_figures fig = {.st = PROGRESS_RUNNING,
                            .bytes_done = MIB,
                            .bytes_total = 4 * MIB,
                            .files_done = 1,
                            .files_total = 3};
    progress_node_line("10.0.0.1:9042", &fig, line, sizeof(line));
    assert_string_equal(
        line, "  10.0.0.1:9042            running   25.0%  1.00 MiB / 4.00 MiB  1/3 files");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_speed_at_start),
        cmocka_unit_test(test_speed_and_eta),
        cmocka_unit_test(test_skipped_bytes_are_no_speed),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_failed_nodes),
        cmocka_unit_test(test_restore_wording_and_node_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
