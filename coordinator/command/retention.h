/*
 * retention - which backups a retention policy keeps: the restic/pgBackRest model,
 * as a pure function over (tag, time) pairs, so that it is tested without a
 * repository and the same code serves `cairn expire` and the pass after a backup.
 *
 * Semantics (those of restic's `forget`, periods in UTC):
 *   keep_last N      the N newest backups;
 *   keep_daily N     for each of the N most recent days that have a backup, the newest
 *                    backup of that day (days without a backup do not count);
 *   keep_weekly N    the same per ISO week (2026-W48), keep_monthly per month,
 *                    keep_yearly per year;
 *   keep_within D    every backup whose time is within D of the newest backup's time
 *                    (not of the clock: a cluster that stopped backing up keeps its
 *                    last backups however old they get).
 * A backup is kept when any rule keeps it; the newest backup is always kept. Then every
 * kept backup keeps what it needs: retention_item.needs names another item that must
 * stay while this one does (an increment's previous backup, set by expire.c from the
 * manifests), followed transitively: a kept increment keeps its chain down to the base,
 * and increments no rule keeps go, older than the oldest kept base or not.
 */
#ifndef CAIRN_RETENTION_H
#define CAIRN_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RETENTION_REASONS_MAX 256
#define RETENTION_WITHIN_MAX  32

typedef struct retention_policy {
    long keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly; /* 0: rule unused */
    int64_t keep_within_ms;                                             /* 0: rule unused */
    char keep_within[RETENTION_WITHIN_MAX]; /* as written ("30d"), for the reasons */
} retention_policy;

typedef struct retention_item {
    const char *tag;
    uint64_t time_ms; /* the backup's start, from its cluster manifest */
    long needs;       /* index of the item this one needs, or -1 */
    /* Out: */
    bool keep;
    char reasons[RETENTION_REASONS_MAX]; /* "newest, last 3, daily 2026-11-30" */
} retention_item;

/* True when p has at least one rule. */
bool retention_policy_set(const retention_policy *p);

/* Sorts items newest first (by time, then by tag, descending): the order
 * retention_apply needs. Set `needs` after sorting. */
void retention_sort(retention_item *items, size_t n);

/* Decides keep and reasons of every item; items must be sorted (retention_sort). */
void retention_apply(const retention_policy *p, retention_item *items, size_t n);

/* Parses a duration of whole weeks, days and hours ("30d", "2w", "1d12h") into ms;
 * false when s is not one. */
bool retention_parse_duration(const char *s, int64_t *ms);

#endif
