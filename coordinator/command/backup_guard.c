#include "command/backup_guard.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "fleet/jobrun.h"

#define OWNER_PREFIX "cairn backup "
/* How long a cancelled upload job of a killed attempt may take to end. */
#define STALE_WAIT_MS  30000
#define STALE_CALL_MS  10000
#define STALE_CLEAR_MS 10000

void backup_default_tag(uint64_t now_ms, char *buf, size_t cap)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char sec[32];
    strftime(sec, sizeof(sec), "%Y%m%d%H%M%S", &tm);
    snprintf(buf, cap, "cairn_%s.%03uZ", sec, (unsigned)(now_ms % 1000));
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool backup_tag_is_default(const char *t)
{
    size_t n = strlen(t);
    if (strncmp(t, "cairn_", 6) != 0 || !digits(t + 6, 14))
        return false;
    /* cairn_YYYYMMDDhhmmss.mmmZ, or cairn_YYYYMMDDhhmmssZ as cairn wrote it before. */
    return (n == 25 && t[20] == '.' && digits(t + 21, 3) && t[24] == 'Z') ||
           (n == 21 && t[20] == 'Z');
}

void backup_owner_format(const backup_owner *o, char *buf, size_t cap)
{
    snprintf(buf, cap, OWNER_PREFIX "cluster=%s tag=%s host=%s pid=%ld start_ms=%" PRIu64,
             o->cluster, o->tag, o->host, o->pid, o->start_ms);
}

/* Copies the value of " name=" in text (up to the next space) into out. */
static bool field(const char *text, const char *name, char *out, size_t cap)
{
    char key[32];
    snprintf(key, sizeof(key), " %s=", name);
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

int backup_owner_parse(const char *text, backup_owner *o)
{
    memset(o, 0, sizeof(*o));
    char pid[24], start[24];
    /* The prefix is followed by a space, which field() needs before each name. */
    if (strncmp(text, OWNER_PREFIX, strlen(OWNER_PREFIX) - 1) != 0)
        return CAIRN_EINVAL;
    const char *rest = text + strlen(OWNER_PREFIX) - 1;
    if (!field(rest, "cluster", o->cluster, sizeof(o->cluster)) ||
        !field(rest, "tag", o->tag, sizeof(o->tag)) ||
        !field(rest, "host", o->host, sizeof(o->host)) || !field(rest, "pid", pid, sizeof(pid)) ||
        !field(rest, "start_ms", start, sizeof(start)))
        return CAIRN_EINVAL;
    char *end;
    o->pid = strtol(pid, &end, 10);
    if (*end)
        return CAIRN_EINVAL;
    o->start_ms = strtoull(start, &end, 10);
    return *end ? CAIRN_EINVAL : 0;
}

/* The message that refuses this backup because of o's, which started first. */
static int refuse(const backup_owner *o, const char *key, cairn_err *e)
{
    char when[32];
    time_t t = (time_t)(o->start_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return err_set(e, CAIRN_EBUSY,
                   "another backup of cluster %s is running: tag %s on host %s, pid %ld, "
                   "started %s (lease %s); wait for it to finish or stop it (a killed "
                   "backup's lease expires by itself within two minutes)",
                   o->cluster, o->tag, o->host, o->pid, when, key);
}

void backup_guard_init(backup_guard *g, repo *r, const backup_owner *self)
{
    g->r = r;
    g->self = self;
    backup_owner_format(self, g->self_text, sizeof(g->self_text));
}

int backup_guard_seen(void *arg, const repo_lease_view *l, cairn_err *e)
{
    backup_guard *g = arg;
    backup_owner o;
    if (l->exclusive || strcmp(l->owner, g->self_text) == 0 || backup_owner_parse(l->owner, &o) ||
        strcmp(o.cluster, g->self->cluster) != 0)
        return 0;
    if (strcmp(o.tag, g->self->tag) == 0) {
        /* A killed attempt of this very backup: this run takes its place. */
        cairn_err be;
        log_info("taking over the lease of an earlier attempt of backup %s (host %s, pid %ld)",
                 o.tag, o.host, o.pid);
        if (repo_lease_break(g->r, l->key, &be) != 0)
            log_warn("%s", be.msg);
        return 0;
    }
    bool first = o.start_ms < g->self->start_ms ||
                 (o.start_ms == g->self->start_ms && strcmp(l->owner, g->self_text) < 0);
    return first ? refuse(&o, l->key, e) : 0; /* else it sees us and gives way */
}

static long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Cancels node i's upload job of the tag, if one runs, and waits for it to end. */
static void cancel_stale(fleet *f, size_t i, const char *tag)
{
    char id[256];
    snprintf(id, sizeof(id), "upload:%s", tag);
    Cairn__Rpc__JobInfo *job = NULL;
    cairn_err e;
    if (jobrun_cancel(f, i, id, STALE_CALL_MS, &job, &e) != 0)
        return; /* no such job (CAIRN_ENOENT), or the snapshot step will say */
    bool told = false;
    for (long until = mono_ms() + STALE_WAIT_MS;
         job->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING && mono_ms() < until;) {
        if (!told)
            fprintf(stderr, "node %s: stopping the upload of an earlier attempt of %s\n",
                    fleet_get(f, i)->addr, tag);
        told = true;
        usleep(200 * 1000);
        cairn__rpc__job_info__free_unpacked(job, NULL);
        job = NULL;
        if (jobrun_cancel(f, i, id, STALE_CALL_MS, &job, &e) != 0)
            return;
    }
    if (job->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING)
        log_warn("node %s: the earlier upload job %s did not stop within %d s",
                 fleet_get(f, i)->addr, id, STALE_WAIT_MS / 1000);
    cairn__rpc__job_info__free_unpacked(job, NULL);
}

static void clear_stale_one(fleet *f, size_t i, void *arg)
{
    const char *tag = arg;
    cancel_stale(f, i, tag);
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ClearSnapshotRequest cr = CAIRN__RPC__CLEAR_SNAPSHOT_REQUEST__INIT;
    cr.tag = (char *)tag;
    rq.op_case = CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT;
    rq.clear_snapshot = &cr;
    cairn_err e;
    if (fleet_call_ok(f, i, &rq, STALE_CLEAR_MS, &e) != 0)
        log_warn("could not clear a stale snapshot %s: %s", tag, e.msg);
}

void backup_guard_clear_stale(fleet *f, const char *tag)
{
    size_t n = fleet_size(f);
    fleet_each(f, NULL, n, (unsigned)(n ? n : 1), clear_stale_one, (void *)tag);
}
