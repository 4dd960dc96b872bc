/*
 * restore - `cairn restore`: plays a backup back onto the configured cluster.
 *
 * Reads the cluster manifest and plans the restore (restore_plan: the node manifests,
 * the blob check), checks the target cluster (ready; tables that already hold data are
 * refused unless --into-nonempty; with --schema or --auth, no conflicting definitions),
 * assigns every target node its share: its own files back (refresh) when the cluster
 * has the same nodes and tokens, or an even share by bytes loaded with load-and-stream
 * (always for a keyspace that uses tablets, so one restore may use both, per table).
 * --dry-run prints that plan and stops there.
 *
 * Then two phases, each one agent job per node: STAGE (download and verify the whole
 * share; nothing changes on the cluster), and only once every node has staged, the
 * schema and the auth (when asked) and LOAD. A failed first phase leaves the target as
 * it was and drops the staged files; a failed second phase keeps every record, so
 * running the same command again resumes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/debug.h"
#include "base/log.h"
#include "cli/cliopt.h"
#include "cli/human.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/chain.h"
#include "command/restore_lease.h"
#include "command/restore_opts.h"
#include "command/restore_metrics.h"
#include "command/restore_plan.h"
#include "command/restore_schema.h"
#include "fleet/check.h"
#include "fleet/jobrun.h"
#include "cli/interrupt.h"
#include "repo/manifest.h"
#include "repo/repo.h"

typedef struct restore_run {
    const coord_config *cfg;
    const restore_opts *o;
    char tag[160];
    repo *r;
    fleet *f;
    size_t n; /* nodes of the target cluster */
    check_result chk;
    Cairn__Repo__ClusterManifest *m;
    Cairn__Repo__ClusterManifest **chain; /* m's: its base first, m last */
    size_t n_chain;
    restore_plan p;
    restore_method method;
    jobrun_node *jobs;
    Cairn__Rpc__RestoreRequest *reqs;
    Cairn__Rpc__RestoreTable **tables; /* per node, n_tables each */
    Cairn__Rpc__RestoreTable ***table_ptrs;
    Cairn__Repo__FileEntry ***file_ptrs;         /* per node, the files of its share */
    const char *source;                          /* the backup's cluster */
    Cairn__Rpc__ApplySchemaResult *schema_check; /* --schema/--auth: what check_only said */
    Cairn__Rpc__ApplySchemaResult *views;        /* --schema: the views, once created */
    store_counts requests;                       /* of the phases' jobs that ended */
} restore_run;

/* Builds node i's request from the plan: its tables, each with its files. */
static int build_request(restore_run *r, size_t i, cairn_err *e)
{
    restore_plan *p = &r->p;
    int32_t target = (int32_t)r->jobs[i].agent;
    size_t nf = 0;
    for (size_t s = 0; s < p->n_sst; s++)
        if (p->sst[s].target == target)
            nf += p->sst[s].n;
    r->tables[i] = calloc(p->n_tables ? p->n_tables : 1, sizeof(**r->tables));
    r->table_ptrs[i] = calloc(p->n_tables ? p->n_tables : 1, sizeof(**r->table_ptrs));
    r->file_ptrs[i] = calloc(nf ? nf : 1, sizeof(**r->file_ptrs));
    if (!r->tables[i] || !r->table_ptrs[i] || !r->file_ptrs[i])
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    Cairn__Rpc__RestoreRequest *rq = &r->reqs[i];
    cairn__rpc__restore_request__init(rq);
    rq->tag = r->tag;
    rq->repository = r->cfg->repository;
    rq->load_and_stream = r->method == METHOD_LAS;
    rq->source_cluster = (char *)r->source;
    rq->has_phase = 1;
    rq->tables = r->table_ptrs[i];
    size_t used = 0;
    for (size_t t = 0; t < p->n_tables; t++) {
        Cairn__Rpc__RestoreTable *rt = &r->tables[i][t];
        cairn__rpc__restore_table__init(rt);
        rt->keyspace = p->tables[t].keyspace;
        rt->name = p->tables[t].name;
        rt->files = r->file_ptrs[i] + used;
        rt->has_load_and_stream = 1;
        rt->load_and_stream = r->method == METHOD_LAS || p->tables[t].tablets;
        for (size_t s = 0; s < p->n_sst; s++) {
            const rs_sstable *x = &p->sst[s];
            if (x->table != t || x->target != target)
                continue;
            for (uint32_t k = 0; k < x->n; k++)
                rt->files[rt->n_files++] = &p->files[x->first + k];
        }
        used += rt->n_files;
        CAIRN_ASSERT(used <= nf);
        if (rt->n_files)
            rq->tables[rq->n_tables++] = rt;
    }
    return 0;
}

static void restore_request(void *arg, size_t i, Cairn__Rpc__Request *rq)
{
    restore_run *r = arg;
    rq->op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq->restore = &r->reqs[i];
}

/* A schema step (restore_schema.h) through the first agent, for the plan's keyspaces. */
static int apply_schema(restore_run *r, restore_schema_objects objects, bool check_only,
                        Cairn__Rpc__ApplySchemaResult **out_or_null, cairn_err *e)
{
    char **ks = calloc(r->p.n_tables ? r->p.n_tables : 1, sizeof(char *));
    if (!ks)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    restore_schema s = {.f = r->f,
                        .agent = 0,
                        .repository = r->cfg->repository,
                        .blob = r->m->schema_blob,
                        .keyspaces = ks,
                        .n_keyspaces = restore_plan_keyspaces(&r->p, ks),
                        .json = r->o->c.json,
                        .tag = r->tag,
                        .schema = r->o->schema,
                        .auth = r->o->auth};
    int rc = restore_schema_apply(&s, objects, check_only, out_or_null, e);
    free(ks);
    return rc;
}

typedef struct forget_arg {
    const restore_run *run;
    bool staged_only;
} forget_arg;

static void forget_one(fleet *f, size_t i, void *arg)
{
    const forget_arg *fa = arg;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ForgetRestoreRequest fr = CAIRN__RPC__FORGET_RESTORE_REQUEST__INIT;
    fr.tag = (char *)fa->run->tag;
    fr.source_cluster = (char *)fa->run->source;
    fr.has_staged_only = 1;
    fr.staged_only = fa->staged_only;
    rq.op_case = CAIRN__RPC__REQUEST__OP_FORGET_RESTORE;
    rq.forget_restore = &fr;
    cairn_err e;
    if (fleet_call_ok(f, i, &rq, fleet_timeout_ms(f), &e) != 0)
        log_warn("%s", e.msg);
}

/* The tables' method when every table has the same one, else "mixed" (a refresh with
 * tablet keyspaces, loaded by load-and-stream). */
static const char *method_name(const restore_run *r)
{
    if (r->o->no_data)
        return "none";
    size_t tablets = 0;
    for (size_t t = 0; t < r->p.n_tables; t++)
        tablets += r->p.tables[t].tablets;
    if (r->method == METHOD_LAS || (tablets && tablets == r->p.n_tables))
        return "load-and-stream";
    return tablets ? "mixed" : "refresh";
}

/* method_name for a person. */
static const char *method_text(const restore_run *r)
{
    const char *m = method_name(r);
    return strcmp(m, "mixed") == 0 ? "refresh, load-and-stream for keyspaces with tablets" : m;
}

static const char *keyspace_method(const restore_run *r, const char *ks)
{
    for (size_t t = 0; t < r->p.n_tables; t++)
        if (strcmp(r->p.tables[t].keyspace, ks) == 0)
            return r->method == METHOD_LAS || r->p.tables[t].tablets ? "load-and-stream"
                                                                     : "refresh";
    return "none";
}

/* A mixed restore's method per keyspace: into j (JSON) or printed. */
static void print_keyspace_methods(const restore_run *r, json_object *j)
{
    if (strcmp(method_name(r), "mixed") != 0)
        return;
    char **ks = calloc(r->p.n_tables, sizeof(char *));
    size_t n = ks ? restore_plan_keyspaces(&r->p, ks) : 0;
    json_object *m = j ? json_object_new_object() : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *how = keyspace_method(r, ks[i]);
        if (m)
            json_object_object_add(m, ks[i], json_object_new_string(how));
        else
            printf("  keyspace  %s: %s%s\n", ks[i], how,
                   strcmp(how, "refresh") ? " (tablets)" : "");
    }
    if (m)
        json_object_object_add(j, "keyspace_methods", m);
    free(ks);
}

/* The data figures of a --json summary: null with --no-data, where no data was part
 * of the restore (0 would say that a restore of data found nothing). */
static void json_data_figures(json_object *j, const restore_run *r)
{
    const restore_plan *p = &r->p;
    bool data = !r->o->no_data;
    json_object_object_add(j, "tables", data ? json_object_new_int64((int64_t)p->n_tables) : NULL);
    json_object_object_add(j, "files", data ? json_object_new_int64((int64_t)p->n_files) : NULL);
    json_object_object_add(j, "bytes", data ? json_object_new_int64((int64_t)p->bytes) : NULL);
}

static void print_summary(const restore_run *r, uint64_t duration)
{
    const restore_opts *o = r->o;
    const restore_plan *p = &r->p;
    const char *mname = method_name(r);
    if (o->c.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "tag", json_object_new_string(r->tag));
        json_object_object_add(j, "method", json_object_new_string(mname));
        json_object_object_add(j, "nodes", json_object_new_int64((int64_t)r->n));
        json_data_figures(j, r);
        if (r->views)
            restore_schema_report_builds(r->views, j);
        json_object_object_add(j, "duration_ms", json_object_new_int64((int64_t)duration));
        print_keyspace_methods(r, j);
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        return;
    }
    char b1[32], b2[32];
    if (o->no_data) {
        printf("restore of %s complete: %s only, no data restored\n  duration  %s\n", r->tag,
               o->schema && o->auth ? "schema and auth"
               : o->auth            ? "auth"
                                    : "schema",
               human_duration(duration, b2, sizeof(b2)));
        return;
    }
    printf("restore of %s complete\n  method    %s\n  nodes     %zu\n  tables    %zu\n"
           "  files     %zu\n  bytes     %s\n  duration  %s\n",
           r->tag, method_text(r), r->n, p->n_tables, p->n_files,
           human_bytes(p->bytes, b1, sizeof(b1)), human_duration(duration, b2, sizeof(b2)));
}

/* The backup: its tag (`latest` resolved), its cluster manifest, and the plan. */
static int load_backup(restore_run *run, cairn_err *e)
{
    const coord_config *cfg = run->cfg;
    const restore_opts *o = run->o;
    const char *source = o->from_cluster ? o->from_cluster : cfg->cluster;
    run->source = source;
    repo *r = NULL;
    int rc = repo_open(&r, cfg->repository, cfg->store, false, e);
    run->r = r;
    if (!rc && o->at)
        rc = chain_at(r, source, o->at_ms, run->tag, sizeof(run->tag), e);
    else if (!rc)
        rc = catalog_resolve(r, source, o->tag, run->tag, sizeof(run->tag), e);
    if (!rc) /* before the manifest is read: delete refuses a leased tag */
        rc = restore_lease_take(r, source, run->tag, e);
    char key[1024];
    if (!rc) {
        repo_cluster_manifest_key(source, run->tag, key, sizeof(key));
        rc = manifest_cluster_read(r, key, &run->m, e);
        if (rc == CAIRN_ENOENT)
            err_set(e, rc, "no complete backup tagged %s of cluster %s (see `cairn list`)",
                    run->tag, source);
    }
    if (!rc) { /* a keyspace's tablets are fixed at its creation: any link of a chain says */
        run->p.keyspaces = run->m->keyspaces;
        run->p.n_keyspaces = run->m->n_keyspaces;
    }
    if (!rc)
        rc = chain_load(r, source, run->m, &run->chain, &run->n_chain, e);
    if (!rc && run->n_chain > 1 && !o->c.json)
        fprintf(stderr, "restoring %s: base %s and %zu increment%s\n", run->tag, run->chain[0]->tag,
                run->n_chain - 1, run->n_chain == 2 ? "" : "s");
    if (!rc)
        rc = restore_plan_read_chain(r, run->chain, run->n_chain, &run->p, e);
    if (!rc && run->p.n_tables == 0)
        rc = err_set(e, CAIRN_ENOENT, "no table of backup %s matches --keyspace/--exclude",
                     run->tag);
    if (!rc)
        rc = restore_plan_check_blobs(r, &run->p, e);
    return rc;
}

/* The target cluster: ready, and with the schema when asked for. */
static int prepare_cluster(restore_run *run, cairn_err *e)
{
    int rc = fleet_open(&run->f, run->cfg, e);
    if (!rc)
        rc = check_cluster(run->f, &run->chk, e);
    if (!rc && !run->chk.ready) {
        check_print_problems(&run->chk);
        rc = err_set(e, CAIRN_EREMOTE, "the target cluster is not ready (see above)");
    }
    run->n = run->f ? fleet_size(run->f) : 0;
    if (rc || !(run->o->schema || run->o->auth))
        return rc;
    if (!run->m->schema_blob)
        return err_set(e, CAIRN_ENOENT, "backup %s holds no schema", run->tag);
    return apply_schema(run, RESTORE_SCHEMA_ALL, true, &run->schema_check, e);
}

static Cairn__Rpc__NodeInfo **node_infos(restore_run *run, cairn_err *e)
{
    Cairn__Rpc__NodeInfo **nodes = calloc(run->n ? run->n : 1, sizeof(*nodes));
    if (!nodes) {
        err_set(e, CAIRN_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < run->n; i++)
        nodes[i] = fleet_get(run->f, i)->info;
    return nodes;
}

static void print_nonempty(void *ctx, const rs_table *t, uint64_t bytes)
{
    (void)ctx;
    char b[32];
    fprintf(stderr, "  %s.%s holds %s\n", t->keyspace, t->name, human_bytes(bytes, b, sizeof(b)));
}

static int assign(restore_run *run, cairn_err *e)
{
    Cairn__Rpc__NodeInfo **nodes = node_infos(run, e);
    if (!nodes)
        return e->code;
    int rc = restore_plan_assign(&run->p, nodes, run->n, &run->method, e);
    free(nodes);
    return rc;
}

/* --dry-run: what the restore would do, and nothing done. */
static void print_plan(const restore_run *r)
{
    const restore_plan *p = &r->p;
    const Cairn__Rpc__ApplySchemaResult *sc = r->schema_check;
    size_t n_changes = sc ? sc->n_created : 0;
    if (r->o->c.json) {
        json_object *j = json_object_new_object();
        json_object *ch = json_object_new_array();
        for (size_t i = 0; i < n_changes; i++)
            json_object_array_add(ch, json_object_new_string(sc->created[i]));
        json_object_object_add(j, "tag", json_object_new_string(r->tag));
        json_object_object_add(j, "method", json_object_new_string(method_name(r)));
        json_object_object_add(j, "nodes", json_object_new_int64((int64_t)r->n));
        json_data_figures(j, r);
        json_object_object_add(j, "schema_changes", ch);
        print_keyspace_methods(r, j);
        json_object_object_add(j, "auth_in_backup",
                               sc ? json_object_new_boolean(sc->auth_in_dump) : NULL);
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        return;
    }
    char b[32];
    printf("restore of %s (dry run, nothing changed)\n  method    %s\n", r->tag, method_text(r));
    print_keyspace_methods(r, NULL);
    printf("  nodes     %zu\n", r->n);
    if (!r->o->no_data)
        printf("  tables    %zu\n  files     %zu\n  bytes     %s\n", p->n_tables, p->n_files,
               human_bytes(p->bytes, b, sizeof(b)));
    printf("  schema    %zu objects to create\n", n_changes);
    for (size_t i = 0; i < n_changes; i++)
        printf("    create %s\n", sc->created[i]);
    if (sc && sc->auth_in_dump && !r->o->auth)
        printf("  auth      roles, grants and service levels of the backup not restored (see "
               "--auth)\n");
}

static int build_requests(restore_run *run, cairn_err *e)
{
    size_t n = run->n;
    run->reqs = calloc(n ? n : 1, sizeof(*run->reqs));
    run->tables = calloc(n ? n : 1, sizeof(*run->tables));
    run->table_ptrs = calloc(n ? n : 1, sizeof(*run->table_ptrs));
    run->file_ptrs = calloc(n ? n : 1, sizeof(*run->file_ptrs));
    run->jobs = calloc(n ? n : 1, sizeof(*run->jobs));
    if (!run->jobs || !run->reqs || !run->tables || !run->table_ptrs || !run->file_ptrs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        run->jobs[i].agent = i;
        rc = build_request(run, i, e);
    }
    return rc;
}

/* One phase: every node's job, followed to the end. */
static int run_phase(restore_run *run, Cairn__Rpc__RestoreRequest__Phase phase, const char *verb,
                     cairn_err *e)
{
    restore_metrics_requests(&run->requests, run->jobs, run->n);
    jobrun_free(run->jobs, run->n);
    run->jobs = calloc(run->n ? run->n : 1, sizeof(*run->jobs));
    if (!run->jobs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < run->n; i++) {
        run->jobs[i].agent = i;
        run->reqs[i].phase = phase;
    }
    return jobrun_all(run->f, run->jobs, run->n, run->o->c.parallel, verb, run->o->c.json,
                      restore_request, run, e);
}

/* Bytes of the share earlier attempts of this restore loaded or began to load, summed
 * over the nodes (the CHECK phase, which changes nothing). */
static int earlier_loads(restore_run *run, uint64_t *bytes, cairn_err *e)
{
    int rc = run_phase(run, CAIRN__RPC__RESTORE_REQUEST__PHASE__CHECK, "restore (check)", e);
    *bytes = 0;
    for (size_t i = 0; !rc && i < run->n; i++)
        *bytes += run->jobs[i].job->bytes_uploaded;
    return rc;
}

/* Loading adds SSTables to what a table holds: rows deleted since the backup come back
 * and nothing is replaced, so a table with data is only restored into when asked, or
 * when an earlier attempt of this same restore (which passed this check) loaded it. */
static int check_nonempty(restore_run *run, cairn_err *e)
{
    Cairn__Rpc__NodeInfo **nodes = node_infos(run, e);
    if (!nodes)
        return e->code;
    size_t n = restore_plan_nonempty(&run->p, nodes, run->n, NULL, NULL);
    uint64_t earlier = 0;
    int rc = 0;
    if (n && !run->o->into_nonempty)
        rc = earlier_loads(run, &earlier, e);
    if (!rc && n && !run->o->into_nonempty && earlier == 0) {
        fprintf(stderr, "tables of the target that already hold data:\n");
        restore_plan_nonempty(&run->p, nodes, run->n, print_nonempty, NULL);
        rc = err_set(e, CAIRN_EEXIST,
                     "%zu tables of the target already hold data, and loading backup %s would "
                     "add to it (rows deleted since would come back, rows already there would "
                     "be duplicated until compaction); nothing was changed. TRUNCATE them "
                     "first, or pass --into-nonempty to load into them anyway",
                     n, run->tag);
    } else if (!rc && n && !run->o->c.json) {
        fprintf(stderr, "warning: %zu tables already hold data: %s\n", n,
                run->o->into_nonempty ? "loading into them (--into-nonempty)"
                                      : "an earlier attempt of this restore loaded them; "
                                        "resuming it");
    }
    free(nodes);
    return rc;
}

static void forget_all(restore_run *run, bool staged_only)
{
    forget_arg fa = {.run = run, .staged_only = staged_only};
    fleet_each(run->f, NULL, run->n, run->o->c.parallel, forget_one, &fa);
}

/* Phase 1 on every node, then the schema, then phase 2. */
static int restore_data(restore_run *run, cairn_err *e)
{
    const restore_opts *o = run->o;
    if (!o->c.json)
        fprintf(stderr, "verifying %s (%zu tables) on %zu nodes before loading\n", run->tag,
                run->p.n_tables, run->n);
    int rc = run_phase(run, CAIRN__RPC__RESTORE_REQUEST__PHASE__STAGE, "restore (verify)", e);
    if (rc) {
        /* Abandoned: the staged files go, what earlier attempts loaded stays recorded. */
        forget_all(run, true);
        return err_prefix(e,
                          "backup %s of cluster %s could not be verified, nothing was "
                          "changed on the target",
                          run->tag, run->source);
    }
    /* The tables (and with --auth the roles and grants) before the data; with --auth
     * alone, nothing else. */
    if ((o->schema || o->auth) &&
        (rc = apply_schema(run, o->schema ? RESTORE_SCHEMA_TABLES : RESTORE_SCHEMA_ALL, false, NULL,
                           e)) != 0)
        return rc;
    if (!o->c.json)
        fprintf(stderr, "restoring %s (%zu tables) onto %zu nodes with %s\n", run->tag,
                run->p.n_tables, run->n, method_text(run));
    rc = run_phase(run, CAIRN__RPC__RESTORE_REQUEST__PHASE__LOAD, "restore", e);
    /* The views once their base tables hold the data: ScyllaDB builds them from it. */
    if (!rc && o->schema &&
        (rc = apply_schema(run, RESTORE_SCHEMA_VIEWS, false, &run->views, e)) == 0 && !o->c.json)
        restore_schema_report_builds(run->views, NULL);
    /* Every node has loaded: tombstone GC goes back on with the records. */
    if (!rc)
        forget_all(run, false);
    return rc;
}

static void run_free(restore_run *run)
{
    restore_lease_drop(); /* before repo_close: it renews through run->r */
    for (size_t i = 0; run->tables && i < run->n; i++) {
        free(run->tables[i]);
        free(run->table_ptrs[i]);
        free(run->file_ptrs[i]);
    }
    free(run->tables);
    free(run->table_ptrs);
    free(run->file_ptrs);
    free(run->reqs);
    jobrun_free(run->jobs, run->n);
    restore_plan_free(&run->p);
    chain_free(run->chain, run->n_chain);
    if (run->schema_check)
        cairn__rpc__apply_schema_result__free_unpacked(run->schema_check, NULL);
    if (run->views)
        cairn__rpc__apply_schema_result__free_unpacked(run->views, NULL);
    if (run->m)
        cairn__repo__cluster_manifest__free_unpacked(run->m, NULL);
    check_result_free(&run->chk);
    fleet_close(run->f);
    repo_close(run->r);
}

static int run_restore(const coord_config *cfg, const restore_opts *o, cairn_err *e)
{
    uint64_t t0 = human_mono_ms();
    restore_run run = {.cfg = cfg, .o = o, .method = o->method};
    run.p.filter = &o->c.filter;
    int rc = load_backup(&run, e);
    if (!rc)
        rc = prepare_cluster(&run, e);
    if (!rc && !o->no_data)
        rc = assign(&run, e);
    if (!rc && !o->no_data)
        rc = build_requests(&run, e);
    if (!rc && !o->no_data)
        rc = check_nonempty(&run, e);
    if (!rc && o->dry_run)
        print_plan(&run);
    else if (!rc && o->no_data && (o->schema || o->auth))
        rc = apply_schema(&run, RESTORE_SCHEMA_ALL, false, NULL, e);
    else if (!rc)
        rc = restore_data(&run, e);
    if (!rc && !o->dry_run)
        print_summary(&run, human_mono_ms() - t0);
    if (o->metrics_file && !o->dry_run) /* a dry run restores nothing to report */
        restore_metrics_write(o->metrics_file, cfg->cluster, run.f, run.jobs, run.n, &run.requests,
                              rc ? NULL : &run.p, human_mono_ms() - t0);
    run_free(&run);
    return rc;
}

int cmd_restore(const coord_config *cfg, int argc, char **argv)
{
    restore_opts o;
    memset(&o, 0, sizeof(o));
    interrupt_install(); /* jobrun cancels the jobs; we exit 130 */
    int rc = restore_opts_parse(&o, argc, argv);
    cairn_err e;
    err_clear(&e);
    if (!rc && coord_config_need_repository(cfg, &e)) {
        fprintf(stderr, "cairn restore: %s\n", e.msg);
        rc = CMD_USAGE;
    }
    if (!rc) {
        if ((rc = run_restore(cfg, &o, &e)) != 0) {
            fprintf(stderr, "cairn restore: %s\n", e.msg);
            rc = interrupt_requested() ? INTERRUPT_EXIT : CMD_FAILED;
        }
    }
    cliopt_common_free(&o.c);
    return rc < 0 ? CMD_OK : rc;
}
