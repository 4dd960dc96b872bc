/*
 * purge - `cairn purge`: mark and sweep under the exclusive lease.
 *
 * The exclusive lease keeps backups out for the whole run (a backup takes a shared
 * one, and each refuses while the other is live), so no backup can decide a blob
 * exists and skip its upload while purge deletes it. The grace period covers what
 * the lease cannot: objects put by a backup whose lease was judged expired, and
 * writers that take no lease. common/repo/gc.c does the work; this file parses,
 * leases and reports.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/log.h"
#include "cli/human.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cli/metrics.h"
#include "cmd.h"
#include "command/lifecycle.h"
#include "repo/gc.h"

#define PURGE_LEASE_TTL_S 120
#define PRINT_MAX         1000 /* objects listed per kind; the rest are counted */

typedef struct purge_opts {
    bool dry_run, json;
    int64_t grace_ms;
    const char *metrics_file;
} purge_opts;

struct purge_print {
    const purge_opts *o;
    uint64_t printed[GC_KINDS];
};

static int parse_args(purge_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"grace", required_argument, NULL, 'g'},
        {"json", no_argument, NULL, 'j'},    {"metrics-file", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0}};
    *o = (purge_opts){.grace_ms = (int64_t)GC_GRACE_DEFAULT_S * 1000};
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        if (c == 'n') {
            o->dry_run = true;
        } else if (c == 'j') {
            o->json = true;
        } else if (c == 'M') {
            o->metrics_file = optarg;
        } else if (c == 'g') {
            o->grace_ms = lifecycle_duration_ms(optarg);
            if (o->grace_ms < 0) {
                fprintf(stderr,
                        "cairn purge: --grace takes a duration such as 24h, 90m or 0, not "
                        "'%s'\n",
                        optarg);
                return CMD_USAGE;
            }
        } else if (c == 'h') {
            return cliopt_help("purge");
        } else {
            return cliopt_bad("purge", c, argv);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "cairn purge: unexpected argument '%s'\n", argv[optind]);
        cmdhelp_print_name(stderr, "purge");
        return CMD_USAGE;
    }
    return 0;
}

static const char *kind_name(gc_kind k)
{
    return k == GC_BLOB       ? "blob"
           : k == GC_PACK     ? "pack"
           : k == GC_MANIFEST ? "manifest"
                              : "leftover";
}

/* Human output names each object removed, up to PRINT_MAX of a kind. */
static void on_removed(void *ctx, gc_kind kind, const char *key, uint64_t size)
{
    struct purge_print *p = ctx;
    if (p->o->json || p->printed[kind]++ >= PRINT_MAX)
        return;
    char b[32];
    printf("%s %-8s %s (%s)\n", p->o->dry_run ? "would remove" : "removed", kind_name(kind), key,
           human_bytes(size, b, sizeof(b)));
}

/* Everything the run removed (or would): blobs, packs, incomplete manifests, leftovers. */
static uint64_t bytes_freed(const gc_result *res)
{
    return res->blob_bytes_removed + res->pack_bytes_removed + res->manifest_bytes_removed +
           res->leftover_bytes_removed;
}

static void print_human(const purge_opts *o, const gc_result *res, const repo *r,
                        const struct purge_print *p)
{
    char b1[32], b2[32], b3[32], b4[32], b5[32], q[256];
    for (int k = 0; k < GC_KINDS; k++)
        if (p->printed[k] > PRINT_MAX)
            printf("... and %llu more %ss\n", (unsigned long long)(p->printed[k] - PRINT_MAX),
                   kind_name((gc_kind)k));
    printf("%s %llu of %llu blobs (%s of %s), %llu of %llu packs (%s of %s), %llu manifests of "
           "incomplete backups, %llu leftovers of dead writers, %llu expired leases: %s %s\n",
           o->dry_run ? "would remove" : "removed", (unsigned long long)res->blobs_removed,
           (unsigned long long)res->blobs, human_bytes(res->blob_bytes_removed, b1, sizeof(b1)),
           human_bytes(res->blob_bytes, b2, sizeof(b2)), (unsigned long long)res->packs_removed,
           (unsigned long long)res->packs, human_bytes(res->pack_bytes_removed, b3, sizeof(b3)),
           human_bytes(res->pack_bytes, b4, sizeof(b4)), (unsigned long long)res->manifests_removed,
           (unsigned long long)res->leftovers_removed, (unsigned long long)repo_leases_removed(r),
           human_bytes(bytes_freed(res), b5, sizeof(b5)), o->dry_run ? "would be freed" : "freed");
    printf("kept: %llu complete backups and what they reference (a pack whole while any of "
           "its blobs is); %llu unreferenced blobs, %llu unreferenced packs and %llu incomplete "
           "manifests younger than the grace period\n",
           (unsigned long long)res->backups, (unsigned long long)res->blobs_young,
           (unsigned long long)res->packs_young, (unsigned long long)res->incomplete_young);
    printf("requests: %s\n", lifecycle_requests_text(r, q, sizeof(q)));
}

static json_object *jint(uint64_t v)
{
    return json_object_new_int64((int64_t)v);
}

static void print_json(const purge_opts *o, const gc_result *res, const repo *r)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "dry_run", json_object_new_boolean(o->dry_run));
    json_object_object_add(d, "grace_s", jint((uint64_t)(o->grace_ms / 1000)));
    json_object_object_add(d, "backups", jint(res->backups));
    json_object_object_add(d, "node_manifests", jint(res->node_manifests));
    json_object_object_add(d, "referenced_entries", jint(res->referenced_entries));
    json_object_object_add(d, "blobs", jint(res->blobs));
    json_object_object_add(d, "blob_bytes", jint(res->blob_bytes));
    json_object_object_add(d, "blobs_removed", jint(res->blobs_removed));
    json_object_object_add(d, "blob_bytes_removed", jint(res->blob_bytes_removed));
    json_object_object_add(d, "blobs_kept_in_grace", jint(res->blobs_young));
    json_object_object_add(d, "packs", jint(res->packs));
    json_object_object_add(d, "pack_bytes", jint(res->pack_bytes));
    json_object_object_add(d, "packs_removed", jint(res->packs_removed));
    json_object_object_add(d, "pack_bytes_removed", jint(res->pack_bytes_removed));
    json_object_object_add(d, "packs_kept_in_grace", jint(res->packs_young));
    json_object_object_add(d, "manifests_removed", jint(res->manifests_removed));
    json_object_object_add(d, "manifest_bytes_removed", jint(res->manifest_bytes_removed));
    json_object_object_add(d, "manifests_kept_in_grace", jint(res->incomplete_young));
    json_object_object_add(d, "leftovers_removed", jint(res->leftovers_removed));
    json_object_object_add(d, "leftover_bytes_removed", jint(res->leftover_bytes_removed));
    json_object_object_add(d, "leases_removed", jint(repo_leases_removed(r)));
    json_object_object_add(d, "bytes_freed", jint(bytes_freed(res)));
    json_object_object_add(d, "bloom_bytes", jint(res->bloom_bytes));
    json_object_object_add(d, "bloom_expected_fp", json_object_new_double(res->bloom_fp));
    json_object_object_add(d, "requests", lifecycle_requests_json(r));
    lifecycle_print_json(d);
}

/* --metrics-file: what the run removed (res, NULL when it failed) and its outcome. */
static void write_metrics(const coord_config *cfg, const purge_opts *o, const repo *r,
                          const gc_result *res, uint64_t duration_ms)
{
    metrics *mx = NULL;
    cairn_err e;
    if (metrics_new(&mx, cfg->cluster, &e) != 0) {
        fprintf(stderr, "cairn purge: warning: the metrics file was not written: %s\n", e.msg);
        return;
    }
    metrics_add(mx, "cairn_purge_dry_run", "1 if the last purge was a dry run, removing nothing",
                o->dry_run ? 1.0 : 0.0, NULL);
    if (res) {
        metrics_add(mx, "cairn_purge_backups", "Complete backups the last purge kept",
                    (double)res->backups, NULL);
        metrics_add(mx, "cairn_purge_blobs", "Blobs the last purge found in the repository",
                    (double)res->blobs, NULL);
        metrics_add(mx, "cairn_purge_blob_bytes", "Bytes of the blobs the last purge found",
                    (double)res->blob_bytes, NULL);
        metrics_add(mx, "cairn_purge_removed_blobs", "Unreferenced blobs the last purge removed",
                    (double)res->blobs_removed, NULL);
        metrics_add(mx, "cairn_purge_packs", "Packs the last purge found in the repository",
                    (double)res->packs, NULL);
        metrics_add(mx, "cairn_purge_pack_bytes", "Bytes of the packs the last purge found",
                    (double)res->pack_bytes, NULL);
        metrics_add(mx, "cairn_purge_removed_packs",
                    "Packs with no referenced blob the last purge removed",
                    (double)res->packs_removed, NULL);
        metrics_add(mx, "cairn_purge_removed_bytes",
                    "Bytes the last purge freed: blobs, packs, incomplete manifests and leftovers",
                    (double)bytes_freed(res), NULL);
    }
    if (r) {
        store_counts q;
        repo_stats(r, &q);
        metrics_requests(mx, "purge", &q);
    }
    metrics_outcome(mx, "purge", o->metrics_file, res != NULL, duration_ms);
    metrics_write_or_warn(mx, "purge", o->metrics_file);
    metrics_free(mx);
}

static int purge_run(const purge_opts *o, repo *r, gc_result *res, cairn_err *e)
{
    char owner[512], host[128] = "?";
    gethostname(host, sizeof(host));
    snprintf(owner, sizeof(owner), "cairn purge on %s pid %d", host, (int)getpid());
    repo_lease *l = NULL;
    int rc = repo_lease_acquire(r, REPO_LEASE_EXCLUSIVE, owner, PURGE_LEASE_TTL_S, &l, e);
    if (rc)
        return err_prefix(e, "purge refused");
    if (repo_lease_store_ms(l) < 0)
        log_warn("the store gives no modification times: no object can be judged older than "
                 "the grace period, so only unreferenced blobs and packs of known age are removed");
    struct purge_print p = {.o = o};
    gc_options go = {.grace_ms = o->grace_ms,
                     .store_now_ms = repo_lease_store_ms(l),
                     .dry_run = o->dry_run,
                     .lease = l,
                     .renew_ms = PURGE_LEASE_TTL_S * 1000 / 3,
                     .on_removed = on_removed,
                     .ctx = &p};
    rc = gc_purge(r, &go, res, e);
    repo_lease_release(l);
    if (rc)
        return rc;
    if (o->json)
        print_json(o, res, r);
    else
        print_human(o, res, r, &p);
    return 0;
}

int cmd_purge(const coord_config *cfg, int argc, char **argv)
{
    purge_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    uint64_t t0 = human_mono_ms();
    repo *r = NULL;
    rc = lifecycle_open(cfg, &r, &e);
    if (rc) {
        fprintf(stderr, "cairn purge: %s\n", e.msg);
        if (o.metrics_file && rc != CAIRN_ECONFIG)
            write_metrics(cfg, &o, NULL, NULL, human_mono_ms() - t0);
        return rc == CAIRN_ECONFIG ? CMD_USAGE : CMD_FAILED;
    }
    gc_result res;
    memset(&res, 0, sizeof(res));
    rc = purge_run(&o, r, &res, &e);
    if (rc)
        fprintf(stderr, "cairn purge: %s\n", e.msg);
    if (o.metrics_file)
        write_metrics(cfg, &o, r, rc ? NULL : &res, human_mono_ms() - t0);
    repo_close(r);
    return rc ? CMD_FAILED : CMD_OK;
}
