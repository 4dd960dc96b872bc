/*
 * verify_run - the state of one `cairn verify` run, shared by the checks (verify.c)
 * and what they print (verify_report.c): each problem as it is found, each backup as
 * soon as it is checked, the summary and the metrics file. Private to the command.
 */
#ifndef CAIRN_VERIFY_RUN_H
#define CAIRN_VERIFY_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "coord_config.h"
#include "repo/bloom.h"
#include "repo/repo.h"

#define PROBLEMS_SHOWN 100 /* per backup; the rest are counted */

typedef struct verify_opts {
    const char *tag; /* NULL: every backup of the configured cluster */
    bool all;        /* every backup of every cluster */
    unsigned read_pct;
    bool repair, json;
    const char *metrics_file;
    char tag_buf[256]; /* the tag resolved ("latest") */
} verify_opts;

/* Sorted strings: every file entry of every backup is looked up in one. */
typedef struct verify_set {
    char **v;
    size_t n;
} verify_set;

typedef struct verify_run {
    const verify_opts *o;
    const coord_config *cfg;
    repo *r;
    bloom *present, *read;
    uint32_t seed;
    uint64_t blobs_listed, packs_listed, blobs_read, bytes_read, backups, damaged;
    uint64_t missing_total, corrupt_total; /* file entries, over every backup */
    /* Found corrupt, for later references: blob ids (and --repair's list), and packed
     * members as "<pack>/<blob>", sorted by pack so that a pack's are together. */
    verify_set corrupt, corrupt_members;
    /* --json: each backup's object is printed as soon as it is checked, so that memory
     * does not grow with the number of backups; the document is opened by the first. */
    bool json_open;
    uint64_t json_backups;
    json_object *jdamaged;
    /* the backup being checked */
    const char *cluster, *tag, *node;
    uint64_t missing, bad, shown;
    json_object *jproblems;
} verify_run;

/* The distinct packs of corrupt_members, to cb (may be NULL) in order; how many. */
size_t verify_corrupt_packs(const verify_run *v, void (*cb)(void *ctx, const char *pack),
                            void *ctx);

/* One problem of the current backup; table, file, blob and pack may be NULL. */
void verify_problem(verify_run *v, const char *table, const char *file, const char *blob,
                    const char *pack, const char *what);

/* The current backup is checked: counted, and printed (--json: as one member of the
 * document's "backups"). */
void verify_backup_done(verify_run *v, bool ok);

/* Ends the --json document with the members of rest (an object, freed). */
void verify_json_close(verify_run *v, json_object *rest);

/* What the whole run found, as text or as the end of the --json document. */
void verify_summary(verify_run *v, bool ok);

/* --metrics-file: what the run found, when it got to the end (complete), and whether
 * all was well. */
void verify_metrics(const verify_run *v, bool complete, bool ok, uint64_t duration_ms);

#endif
