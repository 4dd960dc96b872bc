/*
 * The restore job against small in-process fakes of ScyllaDB (agent_env.h), with a
 * file:// repository; and a restore of what an upload stored.
 *
 * Most tests here find no blob in the repository, so every table that gets as far as
 * a download fails (unless a test stages its file first, as an earlier attempt would
 * have): they are about resuming, refusing and what a failed table leaves behind. The
 * restore's records are under <state>/restore/<cluster>/<tag>/
 * (agent/restore/restore_state.h).
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
#include <zlib.h>

static void test_missing_blob_leaves_nothing(void **state)
{
    env *v = *state;
    cairn_err e;
    assert_int_equal(restore(v, "t1", "t", "me-1-big-Data.db", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(e.msg, "table ks.t"));
    assert_non_null(strstr(e.msg, "blob " BLOB));
    /* Neither the temporary file nor a pending record stays behind, and nothing went to
     * upload/: the download is verified in the staging area first. */
    char path[400];
    snprintf(path, sizeof(path), "%s/restore/" CLUSTER "/t1/stage/ks.t/.cairn-" BLOB, v->state);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/restore/" CLUSTER "/t1/pending.ks.t", v->state);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/me-1-big-Data.db", v->upload);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(atomic_load(&v->rest.loads), 0);
}

/* Where a test plays an earlier attempt: <state>/restore/<cluster>/<tag>/<name>. */
static void record_path(env *v, const char *tag, const char *name, char *out, size_t cap)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/restore/" CLUSTER "/%s/stage/ks.t", v->state, tag);
    mkdirs(dir);
    snprintf(out, cap, "%s/restore/" CLUSTER "/%s/%s", v->state, tag, name);
}

/* The last attempt placed the files, asked for the load and died before recording it:
 * ScyllaDB took the files, so the table counts as loaded and is not loaded again. */
static void test_load_finished_before_the_stop(void **state)
{
    env *v = *state;
    cairn_err e;
    mkdirs(v->upload);
    char pending[400], done[400];
    record_path(v, "t2", "pending.ks.t", pending, sizeof(pending));
    record_path(v, "t2", "done", done, sizeof(done));
    write_text(pending, "me-1-big-Data.db\nnot a file name\n#placed\n");
    uint64_t tables = 0;
    assert_int_equal(restore(v, "t2", "t", "me-1-big-Data.db", &tables, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(tables, 1);
    assert_true(file_has(done, "ks.t\n"));
    assert_int_not_equal(access(pending, F_OK), 0);
    assert_int_equal(atomic_load(&v->rest.loads), 0);

    /* Asked again, the finished job answers: nothing runs twice. */
    assert_int_equal(restore(v, "t2", "t", "me-1-big-Data.db", &tables, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
}

/* The last attempt stopped while placing (its record is not marked placed): what it
 * left in upload/ is removed and the verified staged file is placed again and loaded,
 * once. */
static void test_load_never_ran(void **state)
{
    env *v = *state;
    cairn_err e;
    mkdirs(v->upload);
    char pending[400], left[400], staged[400], done[400];
    record_path(v, "t3", "pending.ks.t", pending, sizeof(pending));
    record_path(v, "t3", "stage/ks.t/" BLOB, staged, sizeof(staged));
    record_path(v, "t3", "done", done, sizeof(done));
    snprintf(left, sizeof(left), "%s/me-1-big-Data.db", v->upload);
    write_text(pending, "me-1-big-Data.db\n");
    write_text(left, "ha");
    write_text(staged, "good");
    assert_int_equal(restore(v, "t3", "t", "me-1-big-Data.db", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(atomic_load(&v->rest.loads), 1);
    assert_true(file_has(left, "good"));
    assert_true(file_has(done, "ks.t\n"));
    /* Loaded: neither the record nor the staged file is kept. */
    assert_int_not_equal(access(pending, F_OK), 0);
    assert_int_not_equal(access(staged, F_OK), 0);
}

/* A blob that fails its verification in the staging area: nothing reaches upload/. */
static void test_staging_stops_a_damaged_blob(void **state)
{
    env *v = *state;
    cairn_err e;
    mkdirs(v->upload);
    char staged[400];
    record_path(v, "t8", "stage/ks.t/.cairn-" BLOB, staged, sizeof(staged));
    write_text(staged, "leftover of a killed download");
    assert_int_equal(restore(v, "t8", "t", "me-1-big-Data.db", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(e.msg, "backup t8 of cluster " CLUSTER));
    assert_non_null(strstr(e.msg, BLOB));
    /* The temporary of the killed attempt is removed, and upload/ stays empty. */
    assert_int_not_equal(access(staged, F_OK), 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 0", v->upload);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(atomic_load(&v->rest.loads), 0);
}

/* Another SSTable of that generation is in upload/: the file gets a fresh generation,
 * and what was there stays. */
static void test_generation_taken(void **state)
{
    env *v = *state;
    cairn_err e;
    mkdirs(v->upload);
    char other[400], staged[400];
    snprintf(other, sizeof(other), "%s/me-1-big-TOC.txt", v->upload);
    write_text(other, "Data.db\n");
    record_path(v, "t7", "stage/ks.t/" BLOB, staged, sizeof(staged));
    write_text(staged, "good");
    assert_int_equal(restore(v, "t7", "t", "me-1-big-Data.db", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(access(other, F_OK), 0);
    char mine[400];
    snprintf(mine, sizeof(mine), "%s/me-1-big-Data.db", v->upload);
    assert_int_not_equal(access(mine, F_OK), 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | grep -c '^me-[0-9]*-big-Data.db$') -eq 1",
             v->upload);
    assert_int_equal(system(cmd), 0);
}

static void test_already_loaded(void **state)
{
    env *v = *state;
    cairn_err e;
    char done[400];
    record_path(v, "t4", "done", done, sizeof(done));
    write_text(done, "ks.other\nks.t\n");
    uint64_t tables = 0;
    assert_int_equal(restore(v, "t4", "t", "me-1-big-Data.db", &tables, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(tables, 1);
}

static void test_refusals(void **state)
{
    env *v = *state;
    cairn_err e;
    char staged[400];
    record_path(v, "t5", "stage/ks.missing", staged, sizeof(staged));
    mkdirs(staged);
    record_path(v, "t5", "stage/ks.missing/" BLOB, staged, sizeof(staged));
    write_text(staged, "good");
    assert_int_equal(restore(v, "t5", "missing", "me-1-big-Data.db", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(e.msg, "does not exist on the target"));

    assert_int_equal(restore(v, "t6", "t", "../../etc/passwd", NULL, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(e.msg, "refusing file name"));
}

/* ---- a restore of what an upload stored ---- */

static void blob_of(const char *text, char id[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(md);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, text, strlen(text));
    hex_digest_final(md, id);
    EVP_MD_CTX_free(md);
}

typedef struct restore_file {
    const char *name, *text;
    bool with_crc;
    uint32_t crc_delta; /* added to the true CRC-32: non-zero makes it wrong */
    bool crc_mismatch;  /* the backup already knew it was corrupt */
    uint64_t size_delta;
} restore_file;

static Cairn__Rpc__JobInfo__State restore_files(env *v, const char *tag, const restore_file *rf,
                                                size_t n, Cairn__Rpc__Response **out, cairn_err *e)
{
    Cairn__Repo__FileEntry fe[4], *files[4];
    char ids[4][65];
    assert_true(n <= 4);
    for (size_t i = 0; i < n; i++) {
        cairn__repo__file_entry__init(&fe[i]);
        blob_of(rf[i].text, ids[i]);
        fe[i].name = (char *)rf[i].name;
        fe[i].blob = ids[i];
        fe[i].size = strlen(rf[i].text) + rf[i].size_delta;
        fe[i].has_data_crc32 = rf[i].with_crc;
        fe[i].data_crc32 = (uint32_t)crc32(0, (const Bytef *)rf[i].text, (uInt)strlen(rf[i].text)) +
                           rf[i].crc_delta;
        fe[i].has_crc_mismatch = rf[i].crc_mismatch;
        fe[i].crc_mismatch = rf[i].crc_mismatch;
        repo_ref ref;
        if (v->placed && known_find(v->placed, ids[i], &ref) && ref.pack) {
            fe[i].pack = (char *)ref.pack;
            fe[i].has_pack_offset = fe[i].has_pack_length = 1;
            fe[i].pack_offset = ref.offset;
            fe[i].pack_length = ref.length;
        }
        files[i] = &fe[i];
    }
    return start_restore(v, tag, "t", files, n, out, e);
}

static int files_in(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "exit $(ls -A '%s' | wc -l)", dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void empty(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/*", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_upload_then_restore(void **state)
{
    env *v = *state;
    cairn_err e;
    lay_out_snapshot(v, "b1");
    Cairn__Rpc__Response *r;
    assert_int_equal(upload(v, "b1", true, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    /* Where the upload put each file (small ones in a pack), from its node manifest. */
    repo *rp = NULL;
    assert_int_equal(repo_open(&rp, v->repo_url, NULL, false, &e), 0);
    bool local;
    assert_int_equal(
        known_load(&v->placed, rp, r->job->manifest_key, r->job->manifest_sha256, NULL, &local, &e),
        0);
    repo_close(rp);
    cairn__rpc__response__free_unpacked(r, NULL);

    const restore_file good[] = {
        {"me-1-big-Data.db", "first sstable data", true, 0, false, 0},
        {"me-1-big-TOC.txt", "Data.db\nTOC.txt\n", false, 0, false, 0},
    };
    assert_int_equal(restore_files(v, "r1", good, 2, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_done, 2);
    /* Both files are members of one pack: one ranged GET for the two (and cairn.repo). */
    assert_int_equal(r->job->requests->gets, 2);
    assert_int_equal(r->job->tables, 1);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&v->rest.loads), 1);
    assert_int_equal(files_in(v->upload), 2);
    char done[200];
    snprintf(done, sizeof(done), "%s/restore/" CLUSTER "/r1/done", v->state);
    assert_true(file_has(done, "ks.t\n"));
    /* Tombstone GC was off for the load, and stays off until the restore is forgotten
     * (every node has loaded); then it is back as it was. */
    assert_int_equal(atomic_load(&v->rest.loads_gc_off), 1);
    assert_int_equal(atomic_load(&v->rest.gc_off), 1);
    Cairn__Rpc__Request fq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ForgetRestoreRequest fr = CAIRN__RPC__FORGET_RESTORE_REQUEST__INIT;
    fr.tag = (char *)"r1";
    fq.op_case = CAIRN__RPC__REQUEST__OP_FORGET_RESTORE;
    fq.forget_restore = &fr;
    assert_int_equal(call(v, &fq, &r, &e), 0);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&v->rest.gc_off), 0);

    /* The fake load leaves the files where they are: the next batch's SSTable takes a
     * fresh generation instead of overwriting them. */
    assert_int_equal(restore_files(v, "r2", good, 2, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(files_in(v->upload), 4);
    /* A real load moves them away. */
    empty(v->upload);

    /* Known corrupt at backup time: restored as it is, with a warning. */
    const restore_file was_corrupt[] = {
        {"me-1-big-Data.db", "first sstable data", true, 1, true, 0}};
    assert_int_equal(restore_files(v, "r3", was_corrupt, 1, &r, &e),
                     CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->n_warnings, 1);
    assert_non_null(strstr(r->job->warnings[0], "already corrupt when it was backed up"));
    cairn__rpc__response__free_unpacked(r, NULL);
    empty(v->upload);

    /* Corrupt now, or not the size the manifest says: refused, nothing left behind. */
    const restore_file bad_crc[] = {{"me-1-big-Data.db", "first sstable data", true, 1, false, 0}};
    assert_int_equal(restore_files(v, "r4", bad_crc, 1, &r, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(r->job->error->message, "does not match its Digest.crc32"));
    cairn__rpc__response__free_unpacked(r, NULL);
    const restore_file bad_size[] = {{"me-2-big-Index.db", "index", false, 0, false, 1}};
    assert_int_equal(restore_files(v, "r5", bad_size, 1, &r, &e),
                     CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(strstr(r->job->error->message, "the manifest says 6"));
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(files_in(v->upload), 0);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upload_then_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_blob_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_finished_before_the_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_never_ran, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staging_stops_a_damaged_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
