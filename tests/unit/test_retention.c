/* The retention policy: restic's keep_* semantics over chosen backup times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "command/retention.h"

#define HOUR (3600ULL * 1000)
#define DAY  (24 * HOUR)

/* 2026-11-01T00:00:00Z */
#define NOV1 1793491200000ULL

static char tags[64][32];

static size_t make(retention_item *it, const uint64_t *times, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(tags[i], sizeof(tags[i]), "b%02zu", i);
        it[i] = (retention_item){.tag = tags[i], .time_ms = times[i], .needs = -1};
    }
    retention_sort(it, n);
    return n;
}

static const retention_item *find(const retention_item *it, size_t n, uint64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (it[i].time_ms == t)
            return &it[i];
    fail_msg("no item at %llu", (unsigned long long)t);
    return NULL;
}

static size_t kept(const retention_item *it, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += it[i].keep;
    return k;
}

static void nov1_is_right(void **state)
{
    time_t t = (time_t)(NOV1 / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    assert_int_equal(tm.tm_year, 126);
    assert_int_equal(tm.tm_mon, 10);
    assert_int_equal(tm.tm_mday, 1);
    assert_int_equal(tm.tm_hour, 0);
}

static void keep_last(void **state)
{
    retention_item it[5];
    uint64_t times[] = {NOV1, NOV1 + DAY, NOV1 + 2 * DAY, NOV1 + 3 * DAY, NOV1 + 4 * DAY};
    size_t n = make(it, times, 5);
    retention_policy p = {.keep_last = 3};
    retention_apply(&p, it, n);
    assert_string_equal(it[0].reasons, "newest, last 3");
    assert_string_equal(it[1].reasons, "last 3");
    assert_string_equal(it[2].reasons, "last 3");
    assert_false(it[3].keep);
    assert_false(it[4].keep);
    assert_string_equal(it[4].reasons, "");
}

/* Days without backups do not count; of two on a day the newer is kept. */
static void keep_daily_counts_days_with_backups(void **state)
{
    retention_item it[5];
    uint64_t d30 = NOV1 + 29 * DAY;
    uint64_t times[] = {d30 + 22 * HOUR, d30 + 10 * HOUR, d30 - 2 * DAY, d30 - 3 * DAY,
                        d30 - 4 * DAY};
    size_t n = make(it, times, 5);
    retention_policy p = {.keep_daily = 3};
    retention_apply(&p, it, n);
    assert_string_equal(find(it, n, d30 + 22 * HOUR)->reasons, "newest, daily 2026-11-30");
    assert_false(find(it, n, d30 + 10 * HOUR)->keep);
    assert_string_equal(find(it, n, d30 - 2 * DAY)->reasons, "daily 2026-11-28");
    assert_string_equal(find(it, n, d30 - 3 * DAY)->reasons, "daily 2026-11-27");
    assert_false(find(it, n, d30 - 4 * DAY)->keep);
    assert_int_equal(kept(it, n), 3);
}

/* Within is measured from the newest backup, strictly. */
static void keep_within_from_newest(void **state)
{
    retention_item it[4];
    uint64_t t = NOV1 + 100 * DAY;
    uint64_t times[] = {t, t - DAY, t - 2 * DAY, t - 3 * DAY};
    size_t n = make(it, times, 4);
    retention_policy p = {0};
    assert_true(retention_parse_duration("2d", &p.keep_within_ms));
    snprintf(p.keep_within, sizeof(p.keep_within), "2d");
    retention_apply(&p, it, n);
    assert_string_equal(it[0].reasons, "newest, within 2d");
    assert_string_equal(it[1].reasons, "within 2d");
    assert_false(it[2].keep);
    assert_false(it[3].keep);
}

/* A simulated month and a week: one backup a day at 02:00, Oct 25 to Nov 30. */
static void month_of_dailies(void **state)
{
    retention_item it[37];
    uint64_t times[37];
    for (size_t i = 0; i < 37; i++)
        times[i] = NOV1 - 7 * DAY + i * DAY + 2 * HOUR;
    size_t n = make(it, times, 37);
    retention_policy p = {.keep_daily = 7, .keep_weekly = 3, .keep_monthly = 2};
    retention_apply(&p, it, n);
    assert_int_equal(kept(it, n), 9);
    assert_string_equal(it[0].reasons,
                        "newest, daily 2026-11-30, weekly 2026-W49, monthly 2026-11");
    assert_string_equal(it[1].reasons, "daily 2026-11-29, weekly 2026-W48");
    for (size_t i = 2; i < 7; i++)
        assert_true(it[i].keep);
    assert_false(it[7].keep); /* Nov 23: W48 is taken by Nov 29 */
    assert_string_equal(it[8].reasons, "weekly 2026-W47");
    assert_false(it[9].keep);
    assert_string_equal(find(it, n, NOV1 - DAY + 2 * HOUR)->reasons, "monthly 2026-10");
}

static void newest_always_kept(void **state)
{
    retention_item it[2];
    uint64_t times[] = {NOV1, NOV1 + HOUR};
    size_t n = make(it, times, 2);
    retention_policy p = {.keep_monthly = 1};
    retention_apply(&p, it, n);
    assert_string_equal(it[0].reasons, "newest, monthly 2026-11");
    assert_false(it[1].keep);
}

/* The incremental hook: a kept backup keeps the chain it needs. */
static void needs_is_followed(void **state)
{
    retention_item it[4];
    uint64_t times[] = {NOV1 + 3 * DAY, NOV1 + 2 * DAY, NOV1 + DAY, NOV1};
    size_t n = make(it, times, 4);
    it[0].needs = 1;
    it[1].needs = 3;
    retention_policy p = {.keep_last = 1};
    retention_apply(&p, it, n);
    assert_string_equal(it[1].reasons, "needed by b00");
    assert_string_equal(it[3].reasons, "needed by b01");
    assert_false(it[2].keep);
}

static void durations(void **state)
{
    int64_t ms = 0;
    assert_true(retention_parse_duration("30d", &ms));
    assert_true(ms == (int64_t)(30 * DAY));
    assert_true(retention_parse_duration("1w2d12h", &ms));
    assert_true(ms == (int64_t)(9 * DAY + 12 * HOUR));
    assert_false(retention_parse_duration("", &ms));
    assert_false(retention_parse_duration("30", &ms));
    assert_false(retention_parse_duration("3m", &ms));
    assert_false(retention_parse_duration("0d", &ms));
    assert_false(retention_parse_duration("-1d", &ms));
    assert_false(retention_parse_duration("d", &ms));
}

static void empty_policy(void **state)
{
    retention_policy p = {0};
    assert_false(retention_policy_set(&p));
    p.keep_weekly = 1;
    assert_true(retention_policy_set(&p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nov1_is_right),
        cmocka_unit_test(keep_last),
        cmocka_unit_test(keep_daily_counts_days_with_backups),
        cmocka_unit_test(keep_within_from_newest),
        cmocka_unit_test(month_of_dailies),
        cmocka_unit_test(newest_always_kept),
        cmocka_unit_test(needs_is_followed),
        cmocka_unit_test(durations),
        cmocka_unit_test(empty_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
