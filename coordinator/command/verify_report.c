/*
 * verify_report - what `cairn verify` prints: problems and backups as they are
 * checked (text, or one --json document written as it goes, so that memory does not
 * grow with the number of backups), the summary, and the metrics file.
 */
#include "command/verify_run.h"

#include <stdio.h>
#include <string.h>

#include "cli/human.h"
#include "cli/metrics.h"
#include "command/lifecycle.h"

/* The distinct packs of corrupt_members, to cb (may be NULL) in order; how many. */
size_t verify_corrupt_packs(const verify_run *v, void (*cb)(void *ctx, const char *pack), void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < v->corrupt_members.n; i++) {
        const char *m = v->corrupt_members.v[i];
        if (i > 0 && strncmp(v->corrupt_members.v[i - 1], m, BLOB_ID_HEX) == 0)
            continue;
        n++;
        if (cb) {
            char pack[BLOB_ID_HEX + 1];
            snprintf(pack, sizeof(pack), "%.*s", BLOB_ID_HEX, m);
            cb(ctx, pack);
        }
    }
    return n;
}

/* One problem of the current backup; table, file, blob and pack may be NULL. */
void verify_problem(verify_run *v, const char *table, const char *file, const char *blob,
                    const char *pack, const char *what)
{
    if (v->shown++ >= PROBLEMS_SHOWN)
        return;
    if (!v->o->json) {
        printf("  %s/%s: node %s%s%s%s%s: %s%s%s%s%s\n", v->cluster, v->tag,
               v->node ? v->node : "-", table ? ", table " : "", table ? table : "",
               file ? ", file " : "", file ? file : "", what, blob ? ", blob " : "",
               blob ? blob : "", pack ? ", pack " : "", pack ? pack : "");
        return;
    }
    json_object *p = json_object_new_object();
    json_object_object_add(p, "node", v->node ? json_object_new_string(v->node) : NULL);
    json_object_object_add(p, "table", table ? json_object_new_string(table) : NULL);
    json_object_object_add(p, "file", file ? json_object_new_string(file) : NULL);
    json_object_object_add(p, "blob", blob ? json_object_new_string(blob) : NULL);
    json_object_object_add(p, "pack", pack ? json_object_new_string(pack) : NULL);
    json_object_object_add(p, "problem", json_object_new_string(what));
    json_object_array_add(v->jproblems, p);
}

/* Starts the --json document: {"backups":[ and then the backups, as they are checked. */
static void verify_json_open(verify_run *v)
{
    if (v->json_open)
        return;
    printf("{\"backups\":[");
    v->json_open = true;
}

/* Ends the document the backups went into with the members of rest (an object, freed):
 * one JSON document on one line, whatever the number of backups. */
void verify_json_close(verify_run *v, json_object *rest)
{
    verify_json_open(v);
    const char *text = lifecycle_json_text(rest);
    /* rest is never empty, so its text is "{...}": its members follow the array. */
    printf("],%s\n", text + 1);
    json_object_put(rest);
}

void verify_backup_done(verify_run *v, bool ok)
{
    v->backups++;
    v->missing_total += v->missing;
    v->corrupt_total += v->bad;
    if (!ok) {
        v->damaged++;
        char name[512];
        snprintf(name, sizeof(name), "%s/%s", v->cluster, v->tag);
        json_object_array_add(v->jdamaged, json_object_new_string(name));
    }
    if (!v->o->json) {
        if (v->shown > PROBLEMS_SHOWN)
            printf("  ... and %llu more problems\n",
                   (unsigned long long)(v->shown - PROBLEMS_SHOWN));
        printf("%s/%s: %s", v->cluster, v->tag, ok ? "ok" : "DAMAGED");
        if (!ok)
            printf(" (%llu missing, %llu corrupt)", (unsigned long long)v->missing,
                   (unsigned long long)v->bad);
        printf("\n");
        return;
    }
    json_object *b = json_object_new_object();
    json_object_object_add(b, "cluster", json_object_new_string(v->cluster));
    json_object_object_add(b, "tag", json_object_new_string(v->tag));
    json_object_object_add(b, "ok", json_object_new_boolean(ok));
    json_object_object_add(b, "missing", json_object_new_int64((int64_t)v->missing));
    json_object_object_add(b, "corrupt", json_object_new_int64((int64_t)v->bad));
    json_object_object_add(b, "problems", v->jproblems);
    v->jproblems = NULL;
    verify_json_open(v);
    printf("%s%s", v->json_backups++ ? "," : "", lifecycle_json_text(b));
    json_object_put(b);
}

static void add_string(void *ctx, const char *s)
{
    json_object_array_add(ctx, json_object_new_string(s));
}

void verify_summary(verify_run *v, bool ok)
{
    char b[32], q[256];
    if (!v->o->json) {
        size_t packs = verify_corrupt_packs(v, NULL, NULL);
        printf("%llu backups checked, %llu damaged; %llu blobs and %llu packs listed",
               (unsigned long long)v->backups, (unsigned long long)v->damaged,
               (unsigned long long)v->blobs_listed, (unsigned long long)v->packs_listed);
        if (v->o->read_pct)
            printf(", %llu blobs read (%s, --read-data=%u%%)", (unsigned long long)v->blobs_read,
                   human_bytes(v->bytes_read, b, sizeof(b)), v->o->read_pct);
        printf("\n");
        if (v->o->repair && v->damaged)
            printf("repaired: deleted %zu corrupt blobs and marked the damaged backups; the next "
                   "backup uploads what they miss again from the nodes that still have the "
                   "files. Until then these backups stay damaged:\n",
                   v->corrupt.n);
        else if (v->damaged)
            printf("`cairn verify --repair` deletes the %zu corrupt blobs and marks the damaged "
                   "backups so that the next backup uploads what they miss again\n",
                   v->corrupt.n);
        if (packs)
            printf("%zu packs hold corrupt blobs; --repair does not delete packs, whose other "
                   "blobs may be intact\n",
                   packs);
        if (v->o->repair && v->damaged)
            for (size_t i = 0; i < json_object_array_length(v->jdamaged); i++)
                printf("  %s\n", json_object_get_string(json_object_array_get_idx(v->jdamaged, i)));
        printf("requests: %s\n%s\n", lifecycle_requests_text(v->r, q, sizeof(q)),
               ok ? "all is well" : "PROBLEMS FOUND");
        return;
    }
    json_object *d = json_object_new_object();
    json_object_object_add(d, "ok", json_object_new_boolean(ok));
    json_object_object_add(d, "damaged", v->jdamaged);
    v->jdamaged = NULL;
    json_object_object_add(d, "blobs_listed", json_object_new_int64((int64_t)v->blobs_listed));
    json_object_object_add(d, "packs_listed", json_object_new_int64((int64_t)v->packs_listed));
    json_object_object_add(d, "read_percent", json_object_new_int64(v->o->read_pct));
    json_object_object_add(d, "blobs_read", json_object_new_int64((int64_t)v->blobs_read));
    json_object_object_add(d, "bytes_read", json_object_new_int64((int64_t)v->bytes_read));
    json_object *c = json_object_new_array();
    for (size_t i = 0; i < v->corrupt.n; i++)
        add_string(c, v->corrupt.v[i]);
    json_object_object_add(d, "corrupt_blobs", c);
    json_object *cp = json_object_new_array();
    verify_corrupt_packs(v, add_string, cp);
    json_object_object_add(d, "corrupt_packs", cp);
    json_object_object_add(d, "repaired", json_object_new_boolean(v->o->repair && v->damaged));
    json_object_object_add(d, "requests", lifecycle_requests_json(v->r));
    verify_json_close(v, d);
}

/* --metrics-file: what the run found, when it got to the end (complete), and whether
 * all was well. */
void verify_metrics(const verify_run *v, bool complete, bool ok, uint64_t duration_ms)
{
    metrics *mx = NULL;
    cairn_err e;
    if (metrics_new(&mx, v->cfg->cluster, &e) != 0) {
        fprintf(stderr, "cairn verify: warning: the metrics file was not written: %s\n", e.msg);
        return;
    }
    if (complete) {
        metrics_add(mx, "cairn_verify_backups", "Backups the last verify checked",
                    (double)v->backups, NULL);
        metrics_add(mx, "cairn_verify_damaged_backups", "Backups the last verify found damaged",
                    (double)v->damaged, NULL);
        metrics_add(mx, "cairn_verify_problems",
                    "Files the last verify found missing or corrupt, over every backup checked",
                    (double)(v->missing_total + v->corrupt_total), NULL);
        metrics_add(mx, "cairn_verify_corrupt_blobs",
                    "Blobs of their own the last verify found corrupt", (double)v->corrupt.n, NULL);
        metrics_add(mx, "cairn_verify_corrupt_packs",
                    "Packs the last verify found holding a corrupt blob",
                    (double)verify_corrupt_packs(v, NULL, NULL), NULL);
        metrics_add(mx, "cairn_verify_blobs_listed", "Blobs the last verify listed",
                    (double)v->blobs_listed, NULL);
        metrics_add(mx, "cairn_verify_packs_listed", "Packs the last verify listed",
                    (double)v->packs_listed, NULL);
        metrics_add(mx, "cairn_verify_blobs_read", "Blobs the last verify read (--read-data)",
                    (double)v->blobs_read, NULL);
        metrics_add(mx, "cairn_verify_read_bytes", "Bytes the last verify read (--read-data)",
                    (double)v->bytes_read, NULL);
    }
    if (v->r) {
        store_counts q;
        repo_stats(v->r, &q);
        metrics_requests(mx, "verify", &q);
    }
    metrics_outcome(mx, "verify", v->o->metrics_file, ok, duration_ms);
    metrics_write_or_warn(mx, "verify", v->o->metrics_file);
    metrics_free(mx);
}
