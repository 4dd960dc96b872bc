/*
 * info - `cairn info [--json]`: the repository's identity, what it stores, and the
 * retention policy that applies to this cluster's backups.
 *
 * The blob and pack counts and the stored bytes come from one listing each of blobs/
 * and packs/, streamed and summed (one request per 1,000 objects on S3): that is what
 * the repository costs, shared by every cluster that writes to it. `cairn list` stays
 * on manifests.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/human.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/expire.h"
#include "command/retention.h"
#include "repo/repo.h"

static int count_backup(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m,
                        cairn_err *e)
{
    (void)tag, (void)m, (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

static void policy_text(const retention_policy *p, char *out, size_t cap)
{
    const char *names[] = {"keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"};
    const long vals[] = {p->keep_last, p->keep_daily, p->keep_weekly, p->keep_monthly,
                         p->keep_yearly};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 5 && len < cap; i++) {
        if (vals[i] > 0)
            len += (size_t)snprintf(out + len, cap - len, "%s%s %ld", len ? ", " : "", names[i],
                                    vals[i]);
    }
    if (p->keep_within_ms > 0 && len < cap)
        snprintf(out + len, cap - len, "%skeep_within %s", len ? ", " : "", p->keep_within);
    if (!out[0])
        snprintf(out, cap, "none (nothing expires)");
}

/* What repo_blob_totals counts. */
typedef struct info_totals {
    uint64_t blobs, blob_bytes, packs, pack_bytes;
} info_totals;

static void print_info(const coord_config *cfg, repo *r, bool json, size_t backups,
                       const info_totals *t)
{
    uint64_t bytes = t->blob_bytes + t->pack_bytes;
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "repository", json_object_new_string(cfg->repository));
        json_object_object_add(o, "repository_id", json_object_new_string(repo_id(r)));
        json_object_object_add(o, "format_version",
                               json_object_new_int64((int64_t)repo_format_version(r)));
        json_object_object_add(o, "created_ms", json_object_new_int64((int64_t)repo_created_ms(r)));
        json_object_object_add(o, "cluster", json_object_new_string(cfg->cluster));
        json_object_object_add(o, "backups", json_object_new_int64((int64_t)backups));
        json_object_object_add(o, "blobs", json_object_new_int64((int64_t)t->blobs));
        json_object_object_add(o, "packs", json_object_new_int64((int64_t)t->packs));
        json_object_object_add(o, "pack_bytes", json_object_new_int64((int64_t)t->pack_bytes));
        json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)bytes));
        json_object_object_add(o, "retention", retention_policy_json(&cfg->retention));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return;
    }
    char when[32], b[32], pb[32], pol[512];
    policy_text(&cfg->retention, pol, sizeof(pol));
    printf("repository   %s\n", cfg->repository);
    printf("id           %s\n", repo_id(r));
    printf("format       %u\n", repo_format_version(r));
    printf("created      %s\n", human_time(repo_created_ms(r), when, sizeof(when)));
    printf("backups      %zu of cluster %s\n", backups, cfg->cluster);
    printf("blobs        %llu\n", (unsigned long long)t->blobs);
    printf("packs        %llu (%s)\n", (unsigned long long)t->packs,
           human_bytes(t->pack_bytes, pb, sizeof(pb)));
    printf("stored       %s (%llu bytes)\n", human_bytes(bytes, b, sizeof(b)),
           (unsigned long long)bytes);
    printf("retention    %s\n", pol);
}

int cmd_info(const coord_config *cfg, int argc, char **argv)
{
    cliopt_common c;
    memset(&c, 0, sizeof(c));
    int rc = cliopt_parse("info", NULL, NULL, NULL, &c, argc, argv);
    cliopt_common_free(&c);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    if (optind != argc) {
        fprintf(stderr, "cairn info: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    cairn_err ce;
    if (coord_config_need_repository(cfg, &ce)) {
        fprintf(stderr, "cairn info: %s\n", ce.msg);
        return CMD_USAGE;
    }
    cairn_err e;
    err_clear(&e);
    repo *r = NULL;
    size_t backups = 0;
    info_totals t = {0};
    rc = repo_open(&r, cfg->repository, cfg->store, false, &e);
    if (!rc)
        rc = catalog_each(r, cfg->cluster, count_backup, &backups, &e);
    if (!rc)
        rc = repo_blob_totals(r, &t.blobs, &t.blob_bytes, &t.packs, &t.pack_bytes, &e);
    if (rc)
        fprintf(stderr, "cairn info: %s\n", e.msg);
    else
        print_info(cfg, r, c.json, backups, &t);
    repo_close(r);
    return rc ? CMD_FAILED : CMD_OK;
}
