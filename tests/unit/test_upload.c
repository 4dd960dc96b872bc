/*
 * The upload job against small in-process fakes of ScyllaDB (agent_env.h), into a
 * file:// repository: a snapshot backed up, the same again with its parent (nothing
 * sent), parents from the network that are refused or unreadable, a repository the
 * node does not see, and the snapshot's schema.cql and manifest.json kept verbatim.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_env.h"
#include "backup/upload_table.h"
#include "repo/manifest.h"

static void test_upload(void **state)
{
    env *v = *state;
    cairn_err e;
    lay_out_snapshot(v, "b1");
    Cairn__Rpc__Response *r;
    assert_int_equal(upload(v, "b1", false, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    const Cairn__Rpc__JobInfo *j = r->job;
    assert_int_equal(j->files_total, 5);
    assert_int_equal(j->files_done, 5);
    assert_int_equal(j->bytes_done, j->bytes_total);
    assert_int_equal(j->bytes_uploaded, j->bytes_total);
    assert_int_equal(j->tables, 1);
    assert_non_null(strstr(j->manifest_key, "b1"));
    assert_int_equal(strlen(j->manifest_sha256), 64);
    assert_true(has_warning(j, "CORRUPT: node 127.0.0.1, table ks.t"));
    assert_true(has_warning(j, "skipping 'notes.txt'"));
    assert_true(j->requests->puts > 0);
    snprintf(v->parent_key, sizeof(v->parent_key), "%s", j->manifest_key);
    snprintf(v->parent_sha, sizeof(v->parent_sha), "%s", j->manifest_sha256);
    cairn__rpc__response__free_unpacked(r, NULL);
    /* Five small files: one pack, no blob of its own. */
    assert_int_equal(objects_in_repo(v, "blobs"), 0);
    assert_int_equal(objects_in_repo(v, "packs"), 1);
    assert_int_equal(atomic_load(&v->rest.snapshot_deletes), 1);

    /* The same files again under another tag, b1 their parent: hashed from the cache,
     * known from b1's manifest, nothing sent. */
    lay_out_snapshot(v, "b2");
    assert_int_equal(upload(v, "b2", true, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_done, 5);
    assert_int_equal(r->job->bytes_uploaded, 0);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(objects_in_repo(v, "packs"), 1);
    assert_int_equal(atomic_load(&v->rest.snapshot_deletes), 1);
}

/* A parent manifest from the network must be a node manifest of the agent's cluster,
 * with its SHA-256: refused before any job starts. */
static void test_upload_parent_checked(void **state)
{
    env *v = *state;
    const char *bad[][2] = {
        {"backups/other/b1/nodes/x.manifest",
         "0000000000000000000000000000000000000000000000000000000000000000"},
        {"backups/" CLUSTER "/b1/nodes/x.manifest", "not a sha"},
        {"backups/" CLUSTER "/../../etc/x.manifest",
         "0000000000000000000000000000000000000000000000000000000000000000"},
        {"backups/" CLUSTER "/b1/backup.txt",
         "0000000000000000000000000000000000000000000000000000000000000000"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(v->parent_key, sizeof(v->parent_key), "%s", bad[i][0]);
        snprintf(v->parent_sha, sizeof(v->parent_sha), "%s", bad[i][1]);
        Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT, *tables[1];
        Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
        char url[128];
        upload_request(v, "bp", true, &t, tables, url, sizeof(url), &up);
        Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
        rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
        rq.upload = &up;
        Cairn__Rpc__Response *r = NULL;
        cairn_err e;
        assert_int_equal(call(v, &rq, &r, &e), CAIRN_EINVAL);
        assert_non_null(strstr(e.msg, "parent manifest"));
        if (r)
            cairn__rpc__response__free_unpacked(r, NULL);
    }
    v->parent_key[0] = '\0';
}

/* A parent manifest that is not the one named (another SHA-256): the backup goes on,
 * every file uploaded as new, with a warning. */
static void test_upload_parent_unreadable(void **state)
{
    env *v = *state;
    cairn_err e;
    lay_out_snapshot(v, "b4");
    Cairn__Rpc__Response *r;
    assert_int_equal(upload(v, "b4", true, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    snprintf(v->parent_key, sizeof(v->parent_key), "%s", r->job->manifest_key);
    snprintf(v->parent_sha, sizeof(v->parent_sha), "%s", r->job->manifest_sha256);
    v->parent_sha[0] = v->parent_sha[0] == 'a' ? 'b' : 'a';
    cairn__rpc__response__free_unpacked(r, NULL);
    lay_out_snapshot(v, "b5");
    assert_int_equal(upload(v, "b5", true, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_true(has_warning(r->job, "every file is uploaded as new"));
    assert_int_equal(r->job->bytes_uploaded, r->job->bytes_total);
    cairn__rpc__response__free_unpacked(r, NULL);
    v->parent_key[0] = '\0';
}

static void test_upload_without_repository(void **state)
{
    env *v = *state;
    cairn_err e;
    lay_out_snapshot(v, "b3");
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -f '%s/cairn.repo'", v->repo);
    assert_int_equal(system(cmd), 0);
    Cairn__Rpc__Response *r;
    assert_int_equal(upload(v, "b3", false, &r, &e), CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(r->job->error->message, "no cairn repository"));
    cairn__rpc__response__free_unpacked(r, NULL);
}

typedef struct kept {
    char *schema_cql, *snapshot_manifest;
} kept;

static int keep_strings(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    (void)e;
    kept *k = ctx;
    k->schema_cql = t->schema_cql ? strdup(t->schema_cql) : NULL;
    k->snapshot_manifest = t->snapshot_manifest ? strdup(t->snapshot_manifest) : NULL;
    return 0;
}

/* What the node manifest of the job j keeps of ks.t's snapshot files. */
static kept read_kept(env *v, const Cairn__Rpc__JobInfo *j)
{
    cairn_err e;
    repo *rp = NULL;
    kept k = {0};
    assert_int_equal(repo_open(&rp, v->repo_url, NULL, false, &e), 0);
    Cairn__Repo__NodeManifest *h = NULL;
    if (manifest_node_read(rp, j->manifest_key, j->manifest_sha256, &h, keep_strings, &k, &e))
        fail_msg("%s", e.msg);
    cairn__repo__node_manifest__free_unpacked(h, NULL);
    repo_close(rp);
    return k;
}

/* schema.cql and manifest.json go into the table's entry as they are; a manifest.json
 * above the limit is left out with a warning, and the backup goes on. */
static void test_upload_keeps_snapshot_files(void **state)
{
    env *v = *state;
    cairn_err e;
    lay_out_snapshot(v, "m1");
    char path[400];
    snprintf(path, sizeof(path), "%s/ks/t-" TABLE_ID "/snapshots/m1/manifest.json",
             v->rest.data_dir);
    write_text(path, "{\"manifest\": {\"version\": \"1.0\"}, \"sstables\": []}\n");
    Cairn__Rpc__Response *r;
    assert_int_equal(upload(v, "m1", false, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    kept k = read_kept(v, r->job);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_string_equal(k.schema_cql, "CREATE TABLE ks.t (k int PRIMARY KEY);");
    assert_string_equal(k.snapshot_manifest,
                        "{\"manifest\": {\"version\": \"1.0\"}, \"sstables\": []}\n");
    free(k.schema_cql);
    free(k.snapshot_manifest);

    lay_out_snapshot(v, "m2");
    snprintf(path, sizeof(path), "%s/ks/t-" TABLE_ID "/snapshots/m2/manifest.json",
             v->rest.data_dir);
    assert_int_equal(truncate(path, SNAPSHOT_MANIFEST_MAX + 1), 0);
    assert_int_equal(upload(v, "m2", false, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_true(has_warning(r->job, "more than the 4194304 a node manifest keeps; not kept"));
    k = read_kept(v, r->job);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_null(k.snapshot_manifest);
    assert_non_null(k.schema_cql);
    free(k.schema_cql);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_parent_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_parent_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_without_repository, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_keeps_snapshot_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
