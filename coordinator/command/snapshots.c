/*
 * snapshots - `cairn snapshots [--clear] [--json]`: the snapshots cairn left on the
 * nodes, typically by a backup that was killed before it could clear them.
 *
 * Every agent lists its node's snapshots (ListSnapshots). A tag counts as cairn's when
 * it has the default form cairn_YYYYMMDDhhmmss.mmmZ, when the repository holds a cluster
 * or node manifest under it (a --tag backup that got as far as one node), or when a
 * live backup lease names it (a backup running now); other snapshots are the operator's and are
 * never touched. --clear removes cairn's from every node that has them (ClearSnapshot), except a
 * tag that a live backup lease names: that backup is running and needs its snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/human.h"
#include "cmd.h"
#include "command/backup_guard.h"
#include "command/lease_who.h"
#include "fleet/fleet.h"
#include "repo/repo.h"

#define CLEAR_TIMEOUT_MS 60000

typedef enum { SNAP_FOREIGN, SNAP_INCOMPLETE, SNAP_COMPLETE, SNAP_RUNNING } snap_state;

typedef struct snap_tag {
    char *tag;
    size_t nodes, tables;
    uint64_t bytes;
    bool *on; /* per agent */
    snap_state state;
    size_t cleared;
} snap_tag;

typedef struct snap_run {
    const coord_config *cfg;
    fleet *f;
    size_t n_agents;
    Cairn__Rpc__Response **lists; /* per agent, NULL when it failed */
    cairn_err *errs;              /* per agent */
    snap_tag *tags;
    size_t n_tags;
    const char *clearing; /* the tag being cleared, for clear_one */
    bool clear_failed;
} snap_run;

static int take_option(void *arg, int c, const char *val)
{
    (void)val;
    *(bool *)arg = c == 'c';
    return 0;
}

static void list_one(fleet *f, size_t i, void *arg)
{
    snap_run *s = arg;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ListSnapshotsRequest lr = CAIRN__RPC__LIST_SNAPSHOTS_REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_LIST_SNAPSHOTS;
    rq.list_snapshots = &lr;
    Cairn__Rpc__Response *resp = NULL;
    if (fleet_call(f, i, &rq, &resp, fleet_timeout_ms(f), &s->errs[i]) != 0)
        return;
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_SNAPSHOTS) {
        err_set(&s->errs[i], CAIRN_EPROTO, "agent %s answered without a snapshot list",
                fleet_get(f, i)->addr);
        cairn__rpc__response__free_unpacked(resp, NULL);
        return;
    }
    s->lists[i] = resp;
}

static snap_tag *tag_get(snap_run *s, const char *tag)
{
    for (size_t i = 0; i < s->n_tags; i++)
        if (strcmp(s->tags[i].tag, tag) == 0)
            return &s->tags[i];
    snap_tag *v = realloc(s->tags, (s->n_tags + 1) * sizeof(*v));
    if (!v)
        return NULL;
    s->tags = v;
    snap_tag *t = &s->tags[s->n_tags];
    memset(t, 0, sizeof(*t));
    t->tag = strdup(tag);
    t->on = calloc(s->n_agents, sizeof(*t->on));
    if (!t->tag || !t->on) {
        free(t->tag);
        free(t->on);
        return NULL;
    }
    s->n_tags++;
    return t;
}

/* Groups the agents' entries by tag. */
static int gather(snap_run *s, cairn_err *e)
{
    for (size_t i = 0; i < s->n_agents; i++) {
        const Cairn__Rpc__SnapshotList *l = s->lists[i] ? s->lists[i]->snapshots : NULL;
        for (size_t k = 0; l && k < l->n_entries; k++) {
            snap_tag *t = tag_get(s, l->entries[k]->tag);
            if (!t)
                return err_set(e, CAIRN_ENOMEM, "out of memory");
            if (!t->on[i])
                t->nodes++;
            t->on[i] = true;
            t->tables += l->entries[k]->table != NULL;
            t->bytes += l->entries[k]->bytes;
        }
    }
    return 0;
}

static int any_key(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    (void)key, (void)size, (void)e;
    *(bool *)ctx = true;
    return 1;
}

/* Whose is each tag, and is its backup complete or running? */
static int classify(snap_run *s, repo *r, cairn_err *e)
{
    for (size_t i = 0; i < s->n_tags; i++) {
        snap_tag *t = &s->tags[i];
        char prefix[512], key[1024];
        bool any = false;
        snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/%s/", s->cfg->cluster, t->tag);
        bool running = false;
        int rc = lease_who_backup(r, s->cfg->cluster, t->tag, &running, NULL, 0, e);
        if (rc)
            return rc;
        if (running) {
            t->state = SNAP_RUNNING;
            continue;
        }
        if ((rc = repo_manifest_list(r, prefix, any_key, &any, e)) < 0)
            return rc;
        if (!any && !backup_tag_is_default(t->tag)) {
            t->state = SNAP_FOREIGN;
            continue;
        }
        repo_cluster_manifest_key(s->cfg->cluster, t->tag, key, sizeof(key));
        rc = repo_manifest_stat(r, key, NULL, e);
        if (rc && rc != CAIRN_ENOENT)
            return rc;
        err_clear(e);
        t->state = rc == 0 ? SNAP_COMPLETE : SNAP_INCOMPLETE;
    }
    return 0;
}

static void clear_one(fleet *f, size_t i, void *arg)
{
    snap_run *s = arg;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ClearSnapshotRequest cr = CAIRN__RPC__CLEAR_SNAPSHOT_REQUEST__INIT;
    cr.tag = (char *)s->clearing;
    rq.op_case = CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT;
    rq.clear_snapshot = &cr;
    cairn_err e;
    if (fleet_call_ok(f, i, &rq, CLEAR_TIMEOUT_MS, &e) != 0) {
        fprintf(stderr, "cairn snapshots: cannot clear %s on %s: %s\n", s->clearing,
                fleet_get(f, i)->addr, e.msg);
        s->clear_failed = true;
        return;
    }
    for (size_t k = 0; k < s->n_tags; k++)
        if (strcmp(s->tags[k].tag, s->clearing) == 0)
            s->tags[k].cleared++;
}

static void clear_all(snap_run *s)
{
    size_t *idx = calloc(s->n_agents ? s->n_agents : 1, sizeof(*idx));
    if (!idx) {
        s->clear_failed = true;
        return;
    }
    for (size_t i = 0; i < s->n_tags; i++) {
        snap_tag *t = &s->tags[i];
        if (t->state == SNAP_FOREIGN || t->state == SNAP_RUNNING)
            continue;
        size_t n = 0;
        for (size_t a = 0; a < s->n_agents; a++)
            if (t->on[a])
                idx[n++] = a;
        s->clearing = t->tag;
        fleet_each(s->f, idx, n, (unsigned)s->cfg->parallel, clear_one, s);
    }
    free(idx);
}

static const char *state_name(snap_state st)
{
    static const char *names[] = {"other", "incomplete", "complete", "running"};
    return names[st];
}

static void print_json(const snap_run *s, bool clear)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "cluster", json_object_new_string(s->cfg->cluster));
    json_object *arr = json_object_new_array();
    size_t other = 0;
    for (size_t i = 0; i < s->n_tags; i++) {
        const snap_tag *t = &s->tags[i];
        if (t->state == SNAP_FOREIGN) {
            other++;
            continue;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", json_object_new_string(t->tag));
        json_object_object_add(o, "state", json_object_new_string(state_name(t->state)));
        json_object_object_add(o, "nodes", json_object_new_int64((int64_t)t->nodes));
        json_object_object_add(o, "tables", json_object_new_int64((int64_t)t->tables));
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)t->bytes));
        if (clear)
            json_object_object_add(o, "cleared_nodes", json_object_new_int64((int64_t)t->cleared));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "snapshots", arr);
    json_object_object_add(root, "other_tags", json_object_new_int64((int64_t)other));
    json_object *probs = json_object_new_array();
    for (size_t i = 0; i < s->n_agents; i++)
        if (!s->lists[i])
            json_object_array_add(probs, json_object_new_string(s->errs[i].msg));
    json_object_object_add(root, "problems", probs);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static void print_text(const snap_run *s, bool clear)
{
    size_t mine = 0, other = 0;
    for (size_t i = 0; i < s->n_tags; i++) {
        const snap_tag *t = &s->tags[i];
        if (t->state == SNAP_FOREIGN) {
            other++;
            continue;
        }
        if (mine++ == 0)
            printf("%-32s  %-10s  %5s  %6s  %10s%s\n", "TAG", "BACKUP", "NODES", "TABLES", "SIZE",
                   clear ? "  CLEARED" : "");
        char b[32];
        printf("%-32s  %-10s  %5zu  %6zu  %10s", t->tag, state_name(t->state), t->nodes, t->tables,
               human_bytes(t->bytes, b, sizeof(b)));
        if (clear)
            printf("  %s", t->state == SNAP_RUNNING ? "no (backup running)" : "");
        if (clear && t->state != SNAP_RUNNING)
            printf("%zu of %zu nodes", t->cleared, t->nodes);
        printf("\n");
    }
    if (!mine)
        printf("no snapshots made by cairn on the nodes of cluster %s\n", s->cfg->cluster);
    if (other)
        printf("%zu other snapshot tag%s left alone (not made by cairn)\n", other,
               other == 1 ? "" : "s");
    for (size_t i = 0; i < s->n_agents; i++)
        if (!s->lists[i])
            fprintf(stderr, "cairn snapshots: %s\n", s->errs[i].msg);
}

static void run_free(snap_run *s)
{
    for (size_t i = 0; i < s->n_tags; i++) {
        free(s->tags[i].tag);
        free(s->tags[i].on);
    }
    free(s->tags);
    for (size_t i = 0; s->lists && i < s->n_agents; i++)
        if (s->lists[i])
            cairn__rpc__response__free_unpacked(s->lists[i], NULL);
    free(s->lists);
    free(s->errs);
    fleet_close(s->f);
}

static int run(snap_run *s, bool clear, cairn_err *e)
{
    repo *r = NULL;
    int rc = repo_open(&r, s->cfg->repository, s->cfg->store, false, e);
    if (!rc)
        rc = fleet_open(&s->f, s->cfg, e);
    if (rc) {
        repo_close(r);
        return rc;
    }
    s->n_agents = fleet_size(s->f);
    s->lists = calloc(s->n_agents, sizeof(*s->lists));
    s->errs = calloc(s->n_agents, sizeof(*s->errs));
    if (!s->lists || !s->errs)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    if (!rc) {
        fleet_each(s->f, NULL, s->n_agents, (unsigned)s->cfg->parallel, list_one, s);
        rc = gather(s, e);
    }
    if (!rc)
        rc = classify(s, r, e);
    repo_close(r);
    if (!rc && clear)
        clear_all(s);
    return rc;
}

int cmd_snapshots(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"clear", no_argument, NULL, 'c'}, {NULL, 0, NULL, 0}};
    cliopt_common c;
    bool clear = false;
    memset(&c, 0, sizeof(c));
    int rc = cliopt_parse("snapshots", opts, take_option, &clear, &c, argc, argv);
    cliopt_common_free(&c);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    if (optind != argc) {
        fprintf(stderr, "cairn snapshots: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    cairn_err ce;
    if (coord_config_need_repository(cfg, &ce)) {
        fprintf(stderr, "cairn snapshots: %s\n", ce.msg);
        return CMD_USAGE;
    }
    cairn_err e;
    err_clear(&e);
    snap_run s = {.cfg = cfg};
    rc = run(&s, clear, &e);
    if (rc)
        fprintf(stderr, "cairn snapshots: %s\n", e.msg);
    else if (c.json)
        print_json(&s, clear);
    else
        print_text(&s, clear);
    bool agent_failed = false;
    for (size_t i = 0; !rc && i < s.n_agents; i++)
        agent_failed |= s.lists[i] == NULL;
    run_free(&s);
    return rc || agent_failed || s.clear_failed ? CMD_FAILED : CMD_OK;
}
