/*
 * backup_guard - what keeps a backup from running twice or over a killed attempt.
 *
 * The backup's shared lease names it in a parseable owner text (cluster, tag, host,
 * pid, start time). After taking its lease a backup lists the others: another
 * running backup of the same cluster under another tag refuses this one, naming it;
 * a lease of the same tag held by another process is a killed attempt's (or one this
 * run takes over) and is broken. Before its snapshot, the backup cancels any upload
 * job of its tag still running on the agents and clears a stale snapshot of the tag,
 * so that it uploads its own snapshot, never the killed attempt's files.
 */
#ifndef CAIRN_BACKUP_GUARD_H
#define CAIRN_BACKUP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "fleet/fleet.h"
#include "repo/repo.h"

/* The tag of a backup started at now_ms (wall clock) without --tag:
 * cairn_YYYYMMDDhhmmss.mmmZ. Milliseconds and a fixed width: two backups started in
 * the same second get different tags, and the tags sort by time. */
void backup_default_tag(uint64_t now_ms, char *buf, size_t cap);

/* Whether t has the form of a default tag (this one, or the second-resolution
 * cairn_YYYYMMDDhhmmssZ of earlier versions). */
bool backup_tag_is_default(const char *t);

/* The fields of a backup lease's owner text. */
typedef struct backup_owner {
    char cluster[160];
    char tag[160];
    char host[128];
    long pid;
    uint64_t start_ms; /* wall clock */
} backup_owner;

/* Writes o as an owner text into buf (cap bytes). */
void backup_owner_format(const backup_owner *o, char *buf, size_t cap);

/* Parses an owner text written by backup_owner_format; CAIRN_EINVAL if it is not one
 * (another kind of lease, or an older cairn's). */
int backup_owner_parse(const char *text, backup_owner *o);

/* Judges the other backup leases as this backup's own (owner self) is acquired:
 * backup_guard_seen is the repo_lease_cb of repo_lease_acquire_seeing, so the guard
 * costs no request of its own. It refuses (CAIRN_EBUSY naming it) a running backup of
 * the same cluster under another tag that started first (ties go by owner text, so of
 * two racing backups exactly one goes on), and breaks same-tag leases of other
 * processes. Fields are the guard's own. */
typedef struct backup_guard {
    repo *r;
    const backup_owner *self;
    char self_text[512];
} backup_guard;
void backup_guard_init(backup_guard *g, repo *r, const backup_owner *self);
int backup_guard_seen(void *g, const repo_lease_view *l, cairn_err *e);

/* On every agent: cancels a running upload job of tag and waits (bounded) for it to
 * end, then clears the snapshot tag. Failures are warnings: the snapshot request
 * that follows reports a node that does not answer. */
void backup_guard_clear_stale(fleet *f, const char *tag);

#endif
