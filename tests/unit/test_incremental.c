/*
 * Incremental backups on the agent, against the fakes of agent_env.h: an increment
 * takes only the complete SSTables of backups/ (and a table without backups/ is an
 * empty entry), a prune removes exactly the links its manifest records and nothing
 * else, and describe reports what waits in backups/ and ScyllaDB's setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_env.h"
#include "repo/manifest.h"

#define OTHER_HOST "b4c3b5d6-1111-2222-3333-444455556666"

/* <data>/ks/t-<id>/<sub>/<name>, or without name the directory. */
static void table_path(env *v, const char *sub, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/ks/t-" TABLE_ID "%s%s%s%s", v->rest.data_dir, sub ? "/" : "",
             sub ? sub : "", name ? "/" : "", name ? name : "");
}

static void put_backup(env *v, const char *name, const char *text)
{
    char path[400];
    table_path(v, "backups", NULL, path, sizeof(path));
    mkdirs(path);
    table_path(v, "backups", name, path, sizeof(path));
    write_text(path, text);
}

static bool backup_exists(env *v, const char *sub, const char *name)
{
    char path[400];
    struct stat st;
    table_path(v, sub, name, path, sizeof(path));
    return lstat(path, &st) == 0;
}

/* An increment of ks.t under tag; the job's info in *out (free it). */
static Cairn__Rpc__JobInfo__State increment(env *v, const char *tag, Cairn__Rpc__Response **out,
                                            cairn_err *e)
{
    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT, *tables[1];
    Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    char url[128];
    upload_request(v, tag, false, &t, tables, url, sizeof(url), &up);
    up.has_incremental = 1;
    up.incremental = 1;
    return upload_with(v, &up, out, e);
}

/* What a node manifest records. */
typedef struct recorded {
    size_t tables, files;
    char names[16][128];
    char id[40];
} recorded;

static int collect(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    (void)e;
    recorded *r = ctx;
    r->tables++;
    snprintf(r->id, sizeof(r->id), "%s", t->id ? t->id : "");
    for (size_t i = 0; i < t->n_files && r->files < 16; i++)
        snprintf(r->names[r->files++], sizeof(r->names[0]), "%s", t->files[i]->name);
    return 0;
}

static void read_recorded(env *v, const Cairn__Rpc__JobInfo *j, recorded *r)
{
    cairn_err e;
    repo *rp = NULL;
    memset(r, 0, sizeof(*r));
    assert_int_equal(repo_open(&rp, v->repo_url, NULL, false, &e), 0);
    Cairn__Repo__NodeManifest *h = NULL;
    if (manifest_node_read(rp, j->manifest_key, j->manifest_sha256, &h, collect, r, &e) != 0)
        fail_msg("%s", e.msg);
    cairn__repo__node_manifest__free_unpacked(h, NULL);
    repo_close(rp);
}

static bool has_name(const recorded *r, const char *name)
{
    for (size_t i = 0; i < r->files; i++)
        if (strcmp(r->names[i], name) == 0)
            return true;
    return false;
}

/* Sends a prune of key (with sha); the result in *out. */
static int prune(env *v, const char *key, const char *sha, Cairn__Rpc__PruneResult *out,
                 cairn_err *e)
{
    Cairn__Rpc__PruneBackupsRequest pr = CAIRN__RPC__PRUNE_BACKUPS_REQUEST__INIT;
    pr.repository = v->repo_url;
    pr.manifest_key = (char *)key;
    pr.manifest_sha256 = (char *)sha;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_PRUNE_BACKUPS;
    rq.prune_backups = &pr;
    Cairn__Rpc__Response *r = NULL;
    int rc = call(v, &rq, &r, e);
    if (!rc) {
        assert_int_equal(r->result_case, CAIRN__RPC__RESPONSE__RESULT_PRUNED);
        *out = *r->pruned;
    }
    if (r)
        cairn__rpc__response__free_unpacked(r, NULL);
    return rc;
}

/* A complete SSTable (TOC.txt names Data.db, Index.db and itself) but for the files
 * left out with skip. */
static void put_sstable(env *v, const char *gen, const char *skip)
{
    static const char *const comps[] = {"Data.db", "Index.db", "TOC.txt"};
    for (size_t i = 0; i < 3; i++) {
        if (skip && strcmp(comps[i], skip) == 0)
            continue;
        char name[128];
        snprintf(name, sizeof(name), "me-%s-big-%s", gen, comps[i]);
        put_backup(v, name, i == 2 ? "Data.db\nIndex.db\nTOC.txt\n" : gen);
    }
}

static void test_increment_takes_complete_sstables(void **state)
{
    env *v = *state;
    cairn_err e;
    put_sstable(v, "1", NULL);
    put_sstable(v, "2", "Index.db"); /* being linked: its TOC.txt names a missing file */
    put_backup(v, "me-3-big-Data.db", "no TOC.txt yet");
    put_backup(v, "notes.txt", "not an sstable");
    Cairn__Rpc__Response *r;
    assert_int_equal(increment(v, "i1", &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_total, 3);
    assert_int_equal(r->job->files_done, 3);
    assert_int_equal(r->job->bytes_done, r->job->bytes_total);
    assert_int_equal(r->job->tables, 1);
    assert_int_equal(r->job->n_warnings, 0);
    recorded rec;
    read_recorded(v, r->job, &rec);
    assert_int_equal(rec.tables, 1);
    assert_int_equal(rec.files, 3);
    assert_string_equal(rec.id, TABLE_ID);
    assert_true(has_name(&rec, "me-1-big-Data.db"));
    assert_true(has_name(&rec, "me-1-big-TOC.txt"));
    assert_false(has_name(&rec, "me-2-big-Data.db"));
    /* No snapshot to clear, nothing taken out of backups/ by the upload itself. */
    assert_int_equal(atomic_load(&v->rest.snapshot_deletes), 0);
    assert_true(backup_exists(v, "backups", "me-1-big-Data.db"));

    /* The prune takes what i1 recorded; the next increment takes me-2, complete now. */
    Cairn__Rpc__PruneResult pr;
    if (prune(v, r->job->manifest_key, r->job->manifest_sha256, &pr, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(pr.files, 3);
    assert_int_equal(pr.missing, 0);
    assert_false(backup_exists(v, "backups", "me-1-big-Data.db"));
    assert_true(backup_exists(v, "backups", "me-2-big-Data.db"));
    cairn__rpc__response__free_unpacked(r, NULL);
    put_sstable(v, "2", NULL);
    assert_int_equal(increment(v, "i2", &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    read_recorded(v, r->job, &rec);
    assert_int_equal(rec.files, 3);
    assert_true(has_name(&rec, "me-2-big-Index.db"));
    assert_false(has_name(&rec, "me-1-big-Data.db"));
    cairn__rpc__response__free_unpacked(r, NULL);
}

static void test_increment_without_backups(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Rpc__Response *r;
    assert_int_equal(increment(v, "i1", &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_total, 0);
    assert_int_equal(r->job->tables, 1);
    recorded rec;
    read_recorded(v, r->job, &rec);
    assert_int_equal(rec.tables, 1);
    assert_int_equal(rec.files, 0);
    cairn__rpc__response__free_unpacked(r, NULL);
}

/* The real SSTable sets in ../shared, linked as ScyllaDB would: one component missing
 * holds the set back. */
static void test_increment_real_sstable(void **state)
{
    env *v = *state;
    const char *src = getenv("CAIRN_SOURCE_DIR");
    char set[1024], cmd[2400], backups[400];
    snprintf(set, sizeof(set), "%s/../shared/scylla/sstables/me-uuid-generation", src ? src : ".");
    if (access(set, R_OK) != 0) {
        print_message("skipped: %s is absent (../shared not beside the checkout)\n", set);
        skip();
    }
    table_path(v, "backups", NULL, backups, sizeof(backups));
    mkdirs(backups);
    snprintf(cmd, sizeof(cmd), "cp '%s'/me-* '%s' && rm '%s'/*-Summary.db", set, backups, backups);
    assert_int_equal(system(cmd), 0);
    cairn_err e;
    Cairn__Rpc__Response *r;
    assert_int_equal(increment(v, "i1", &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_done, 0);
    cairn__rpc__response__free_unpacked(r, NULL);
    snprintf(cmd, sizeof(cmd), "cp '%s'/*-Summary.db '%s'", set, backups);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(increment(v, "i2", &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_done, 9);
    assert_int_equal(r->job->n_warnings, 0);
    cairn__rpc__response__free_unpacked(r, NULL);
}

typedef struct mfile {
    const char *name;
    uint64_t size;
    uint32_t data_dir;
} mfile;

/* Writes a node manifest of ks.t under tag recording files, whose data directory 0 is
 * dir0; its key and SHA-256 in key and sha. */
static void write_manifest(env *v, const char *tag, const char *dir0, const mfile *files, size_t n,
                           char key[256], char sha[65])
{
    cairn_err e;
    repo *rp = NULL;
    assert_int_equal(repo_open(&rp, v->repo_url, NULL, false, &e), 0);
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    char *dirs[] = {(char *)dir0};
    h.cluster = (char *)CLUSTER;
    h.tag = (char *)tag;
    h.host_id = (char *)HOST_ID;
    h.data_dirs = dirs;
    h.n_data_dirs = 1;
    repo_node_manifest_key(CLUSTER, tag, HOST_ID, key, 256);
    manifest_writer *mw = NULL;
    assert_int_equal(manifest_node_begin(rp, key, &h, &mw, &e), 0);
    Cairn__Repo__FileEntry fe[8], *fp[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        cairn__repo__file_entry__init(&fe[i]);
        fe[i].name = (char *)files[i].name;
        fe[i].size = files[i].size;
        fe[i].blob = (char *)BLOB;
        fe[i].has_data_dir = 1;
        fe[i].data_dir = files[i].data_dir;
        fp[i] = &fe[i];
    }
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = (char *)"ks";
    te.name = (char *)"t";
    te.id = (char *)TABLE_ID;
    te.files = fp;
    te.n_files = n;
    assert_int_equal(manifest_node_add_table(mw, &te, &e), 0);
    assert_int_equal(manifest_node_finish(mw, sha, NULL, &e), 0);
    repo_close(rp);
}

static void test_prune_removes_only_what_matches(void **state)
{
    env *v = *state;
    cairn_err e;
    char live[400], link_to[400];
    put_backup(v, "me-1-big-Data.db", "aaaa");
    put_backup(v, "me-2-big-Data.db", "bbbbbb"); /* recorded with another size */
    put_backup(v, "me-4-big-Data.db", "dd");     /* recorded in a data directory 1 */
    table_path(v, NULL, "me-5-big-Data.db", live, sizeof(live));
    write_text(live, "eee"); /* a live SSTable, not in backups/ */
    table_path(v, NULL, "x", link_to, sizeof(link_to));
    write_text(link_to, "xxx"); /* what "../x" would reach */
    char link[400];
    table_path(v, "backups", "me-6-big-Data.db", link, sizeof(link));
    assert_int_equal(symlink(live, link), 0);
    const mfile files[] = {
        {"me-1-big-Data.db", 4, 0}, {"me-2-big-Data.db", 5, 0}, {"me-3-big-Data.db", 7, 0},
        {"me-4-big-Data.db", 2, 1}, {"me-5-big-Data.db", 3, 0}, {"../x", 3, 0},
        {"me-6-big-Data.db", 3, 0},
    };
    char key[256], sha[65];
    write_manifest(v, "i1", v->rest.data_dir, files, 7, key, sha);
    Cairn__Rpc__PruneResult pr;
    if (prune(v, key, sha, &pr, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(pr.files, 1);
    assert_int_equal(pr.bytes, 4);
    assert_int_equal(pr.missing, 2); /* me-3, and me-5 which is only live */
    assert_false(backup_exists(v, "backups", "me-1-big-Data.db"));
    assert_true(backup_exists(v, "backups", "me-2-big-Data.db"));
    assert_true(backup_exists(v, "backups", "me-4-big-Data.db"));
    assert_true(backup_exists(v, "backups", "me-6-big-Data.db"));
    assert_true(backup_exists(v, NULL, "me-5-big-Data.db"));
    assert_true(backup_exists(v, NULL, "x"));

    /* Again: what went is missing now. */
    assert_int_equal(prune(v, key, sha, &pr, &e), 0);
    assert_int_equal(pr.files, 0);
    assert_int_equal(pr.missing, 3);

    /* A manifest whose data directory 0 was elsewhere touches nothing here. */
    const mfile moved[] = {{"me-2-big-Data.db", 6, 0}};
    write_manifest(v, "i2", "/elsewhere/data", moved, 1, key, sha);
    assert_int_equal(prune(v, key, sha, &pr, &e), 0);
    assert_int_equal(pr.files, 0);
    assert_true(backup_exists(v, "backups", "me-2-big-Data.db"));
}

static void test_prune_refusals(void **state)
{
    env *v = *state;
    cairn_err e;
    put_backup(v, "me-1-big-Data.db", "aaaa");
    const mfile files[] = {{"me-1-big-Data.db", 4, 0}};
    char key[256], sha[65];
    write_manifest(v, "i1", v->rest.data_dir, files, 1, key, sha);
    Cairn__Rpc__PruneResult pr;
    const char *other_cluster = "backups/other/i1/nodes/" HOST_ID ".manifest";
    assert_int_equal(prune(v, other_cluster, sha, &pr, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "not a node manifest of cluster " CLUSTER));
    assert_int_equal(prune(v, "backups/" CLUSTER "/../nodes/" HOST_ID ".manifest", sha, &pr, &e),
                     CAIRN_EINVAL);
    assert_int_equal(prune(v, key, "not a sha", &pr, &e), CAIRN_EINVAL);
    const char *other_host = "backups/" CLUSTER "/i1/nodes/" OTHER_HOST ".manifest";
    assert_int_equal(prune(v, other_host, sha, &pr, &e), CAIRN_EMISMATCH);
    assert_non_null(strstr(e.msg, "not the manifest of this node"));
    /* Not the manifest named: nothing is removed. */
    char wrong[65];
    memset(wrong, '0', 64);
    wrong[64] = '\0';
    assert_int_equal(prune(v, key, wrong, &pr, &e), CAIRN_ECORRUPT);
    assert_true(backup_exists(v, "backups", "me-1-big-Data.db"));
    assert_int_equal(prune(v, key, sha, &pr, &e), 0);
    assert_int_equal(pr.files, 1);
}

static Cairn__Rpc__Response *describe(env *v)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__DescribeRequest dr = CAIRN__RPC__DESCRIBE_REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_DESCRIBE;
    rq.describe = &dr;
    Cairn__Rpc__Response *r = NULL;
    cairn_err e;
    if (call(v, &rq, &r, &e) != 0)
        fail_msg("%s", e.msg);
    return r;
}

static void test_describe_backups(void **state)
{
    env *v = *state;
    Cairn__Rpc__Response *r = describe(v);
    assert_true(r->node->has_backups_files);
    assert_int_equal(r->node->backups_files, 0);
    assert_true(r->node->has_incremental_backups);
    assert_false(r->node->incremental_backups);
    cairn__rpc__response__free_unpacked(r, NULL);

    put_backup(v, "me-1-big-Data.db", "aaaa");
    put_backup(v, "me-1-big-TOC.txt", "Data.db\n");
    char sub[400];
    table_path(v, "backups", "subdir", sub, sizeof(sub));
    mkdirs(sub);
    Cairn__Rpc__IncrementalBackupsRequest ib = CAIRN__RPC__INCREMENTAL_BACKUPS_REQUEST__INIT;
    ib.enable = 1;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_INCREMENTAL_BACKUPS;
    rq.incremental_backups = &ib;
    cairn_err e;
    assert_int_equal(call(v, &rq, &r, &e), 0);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&v->rest.incremental), 1);

    r = describe(v);
    assert_int_equal(r->node->backups_files, 2);
    assert_int_equal(r->node->backups_bytes, 4 + strlen("Data.db\n"));
    assert_true(r->node->incremental_backups);
    cairn__rpc__response__free_unpacked(r, NULL);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_increment_takes_complete_sstables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increment_without_backups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increment_real_sstable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_removes_only_what_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_backups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
