/*
 * retention - the policy as a pure function; see retention.h for the rules. Bucket
 * rules walk the backups newest first and keep a backup whenever its period (day,
 * week, ...) differs from the period of the last backup that rule kept, until the
 * rule's count is spent: exactly restic's ApplyPolicy, without its "oldest" extension
 * (which would keep an extra backup when a rule has count left over).
 */
#include "command/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/debug.h"

#define HOUR_MS (3600LL * 1000)

bool retention_policy_set(const retention_policy *p)
{
    return p->keep_last > 0 || p->keep_daily > 0 || p->keep_weekly > 0 || p->keep_monthly > 0 ||
           p->keep_yearly > 0 || p->keep_within_ms > 0;
}

static int newest_first(const void *a, const void *b)
{
    const retention_item *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? 1 : -1;
    return strcmp(y->tag, x->tag);
}

void retention_sort(retention_item *items, size_t n)
{
    if (n > 1)
        qsort(items, n, sizeof(*items), newest_first);
}

static void add_reason(retention_item *it, const char *reason)
{
    size_t len = strlen(it->reasons);
    snprintf(it->reasons + len, sizeof(it->reasons) - len, "%s%s", len ? ", " : "", reason);
    it->keep = true;
}

/* A bucket rule: its format names the period of a time (strftime, UTC). */
typedef struct bucket {
    const char *name;
    const char *format;
    long left;
    char last[32];
} bucket;

static void period(const char *format, uint64_t time_ms, char *out, size_t cap)
{
    time_t t = (time_t)(time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, cap, format, &tm) == 0)
        out[0] = '\0';
}

void retention_apply(const retention_policy *p, retention_item *items, size_t n)
{
    bucket buckets[] = {
        {"daily", "%Y-%m-%d", p->keep_daily, ""},
        {"weekly", "%G-W%V", p->keep_weekly, ""},
        {"monthly", "%Y-%m", p->keep_monthly, ""},
        {"yearly", "%Y", p->keep_yearly, ""},
    };
    for (size_t i = 0; i < n; i++) {
        retention_item *it = &items[i];
        CAIRN_ASSERT(i == 0 || newest_first(&items[i - 1], it) <= 0);
        it->keep = false;
        it->reasons[0] = '\0';
        char reason[96];
        if (i == 0)
            add_reason(it, "newest");
        if (p->keep_last > 0 && (long)i < p->keep_last) {
            snprintf(reason, sizeof(reason), "last %ld", p->keep_last);
            add_reason(it, reason);
        }
        if (p->keep_within_ms > 0 &&
            (int64_t)it->time_ms > (int64_t)items[0].time_ms - p->keep_within_ms) {
            snprintf(reason, sizeof(reason), "within %s", p->keep_within);
            add_reason(it, reason);
        }
        for (size_t b = 0; b < sizeof(buckets) / sizeof(buckets[0]); b++) {
            char val[32];
            if (buckets[b].left <= 0)
                continue;
            period(buckets[b].format, it->time_ms, val, sizeof(val));
            if (strcmp(val, buckets[b].last) == 0)
                continue;
            snprintf(buckets[b].last, sizeof(buckets[b].last), "%s", val);
            buckets[b].left--;
            snprintf(reason, sizeof(reason), "%s %s", buckets[b].name, val);
            add_reason(it, reason);
        }
    }
    /* What a kept backup needs stays too, transitively: repeat until nothing changes
     * (needs usually points at an older item, so one pass is the common case). */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            long j = items[i].needs;
            if (!items[i].keep || j < 0 || (size_t)j >= n || items[j].keep)
                continue;
            char reason[RETENTION_REASONS_MAX];
            snprintf(reason, sizeof(reason), "needed by %s", items[i].tag);
            add_reason(&items[j], reason);
            changed = true;
        }
    }
}

bool retention_parse_duration(const char *s, int64_t *ms)
{
    int64_t total = 0;
    bool any = false;
    while (*s) {
        if (*s < '0' || *s > '9')
            return false;
        char *end;
        long long v = strtoll(s, &end, 10);
        int64_t unit = *end == 'h'   ? HOUR_MS
                       : *end == 'd' ? 24 * HOUR_MS
                       : *end == 'w' ? 7 * 24 * HOUR_MS
                                     : 0;
        if (!unit || v > 1000000)
            return false;
        total += (int64_t)v * unit;
        any = true;
        s = end + 1;
    }
    if (!any || total <= 0)
        return false;
    *ms = total;
    return true;
}
