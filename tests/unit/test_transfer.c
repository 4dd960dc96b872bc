/*
 * The upload and restore jobs against small in-process fakes of ScyllaDB's REST API
 * (the node's description, data directories, snapshot removal, load) and CQL port
 * (table ids), with a file:// repository.
 *
 * An upload backs up a snapshot directory laid out on disk. A restore finds no blob in
 * the repository, so every table that gets as far as a download fails (unless a test
 * stages its file first, as an earlier attempt would have): those tests are about
 * resuming, refusing and what a failed table leaves behind. The restore's records are
 * under <state>/restore/<cluster>/<tag>/ (agent/restore/restore_state.h).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "agent.h"
#include "backup/known.h"
#include "base/hex.h"
#include "base/log.h"
#include "net/wire.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

#define CLUSTER  "prod"
#define TABLE_ID "0123456789abcdef0123456789abcdef"
#define BLOB     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* ---- one accept loop, a thread per connection ---- */

typedef void (*serve_fn)(void *ctx, int fd);

typedef struct server {
    int lfd, port;
    pthread_t th;
    atomic_int stop;
    serve_fn fn;
    void *ctx;
} server;

typedef struct conn {
    server *s;
    int fd;
} conn;

static void *conn_main(void *p)
{
    conn *c = p;
    c->s->fn(c->s->ctx, c->fd);
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_main(void *p)
{
    server *s = p;
    while (!atomic_load(&s->stop)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (atomic_load(&s->stop)) {
            close(fd);
            break;
        }
        conn *c = malloc(sizeof(*c));
        assert_non_null(c);
        *c = (conn){s, fd};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, conn_main, c), 0);
        pthread_detach(t);
    }
    return NULL;
}

static void server_start(server *s, serve_fn fn, void *ctx)
{
    s->fn = fn;
    s->ctx = ctx;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, accept_main, s), 0);
}

static void server_stop(server *s)
{
    atomic_store(&s->stop, 1);
    /* Wake the accept loop with a connection of our own. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static bool read_n(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = recv(fd, b, n, 0);
        if (k <= 0)
            return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

static void write_n(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        b += k;
        n -= (size_t)k;
    }
}

/* ---- REST: the node's description, snapshot removal, loads that always succeed ---- */

#define HOST_ID "a4c3b5d6-1111-2222-3333-444455556666"

typedef struct rest {
    char data_dir[128];
    atomic_int loads;
    atomic_int snapshot_deletes;
} rest;

/* The answer to one request head; "" for a void result. */
static void rest_answer(rest *r, const char *head, char *body, size_t cap)
{
    static const struct {
        const char *route, *body;
    } fixed[] = {
        {"GET /storage_service/hostid/local ", "\"" HOST_ID "\""},
        {"GET /storage_service/cluster_name ", "\"Test Cluster\""},
        {"GET /snitch/datacenter ", "\"dc1\""},
        {"GET /snitch/rack ", "\"r1\""},
        {"GET /storage_service/scylla_release_version ", "\"2025.1.0\""},
        {"GET /storage_service/host_id ", "[{\"key\": \"127.0.0.1\", \"value\": \"" HOST_ID "\"}]"},
        {"GET /gossiper/endpoint/live/ ", "[\"127.0.0.1\"]"},
        {"GET /gossiper/endpoint/down/ ", "[]"},
        {"GET /storage_service/tokens ", "[\"-42\", \"42\"]"},
        {"GET /storage_service/keyspaces?type=user ", "[\"ks\"]"},
        {"GET /column_family/name ", "[\"ks:t\"]"},
    };
    body[0] = '\0';
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strstr(head, fixed[i].route))
            snprintf(body, cap, "%s", fixed[i].body);
    if (strstr(head, "GET /storage_service/data_file/locations "))
        snprintf(body, cap, "[\"%s\"]", r->data_dir);
    else if (strstr(head, "POST /storage_service/sstables/ks?cf="))
        atomic_fetch_add(&r->loads, 1);
    else if (strstr(head, "DELETE /storage_service/snapshots?tag="))
        atomic_fetch_add(&r->snapshot_deletes, 1);
}

static void rest_serve(void *ctx, int fd)
{
    rest *r = ctx;
    char head[4096];
    for (;;) {
        size_t n = 0;
        while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
            if (n == sizeof(head) - 1 || !read_n(fd, head + n, 1))
                return;
            n++;
        }
        head[n] = '\0';
        char body[256];
        rest_answer(r, head, body, sizeof(body));
        char out[512];
        int len = snprintf(out, sizeof(out),
                           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n%s",
                           strlen(body), body);
        write_n(fd, out, (size_t)len);
    }
}

/* ---- CQL: READY to STARTUP, the table id to a query (none for "missing") ---- */

static void put_u16(uint8_t **p, uint16_t v)
{
    *(*p)++ = (uint8_t)(v >> 8);
    *(*p)++ = (uint8_t)v;
}

static void put_i32(uint8_t **p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int s = 24; s >= 0; s -= 8)
        *(*p)++ = (uint8_t)(u >> s);
}

static void put_str(uint8_t **p, const char *s)
{
    put_u16(p, (uint16_t)strlen(s));
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

static void cql_serve(void *ctx, int fd)
{
    (void)ctx;
    uint8_t h[9];
    while (read_n(fd, h, sizeof(h))) {
        uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
        char *body = calloc(1, len + 1);
        assert_non_null(body);
        if (!read_n(fd, body, len)) {
            free(body);
            return;
        }
        uint8_t out[256], *p = out + 9;
        uint8_t op = 0x02; /* READY */
        if (h[4] == 0x07) {
            op = 0x08; /* RESULT: Rows */
            put_i32(&p, 2);
            put_i32(&p, 0x0001);
            put_i32(&p, 1);
            put_str(&p, "system_schema");
            put_str(&p, "tables");
            put_str(&p, "id");
            put_u16(&p, 0x000C);
            bool missing = strstr(body + 4, "'missing'") != NULL;
            put_i32(&p, missing ? 0 : 1);
            if (!missing) {
                put_i32(&p, 16);
                static const uint8_t id[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                               0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
                memcpy(p, id, 16);
                p += 16;
            }
        }
        free(body);
        uint32_t blen = (uint32_t)(p - out - 9);
        uint8_t hdr[9] = {0x84,
                          0,
                          h[2],
                          h[3],
                          op,
                          (uint8_t)(blen >> 24),
                          (uint8_t)(blen >> 16),
                          (uint8_t)(blen >> 8),
                          (uint8_t)blen};
        memcpy(out, hdr, sizeof(hdr));
        write_n(fd, out, (size_t)(p - out));
    }
}

/* ---- the agent under test ---- */

typedef struct env {
    char dir[64];
    char state[96], repo[96], upload[256];
    char repo_url[104];
    agent_repository served; /* the one repository the agent serves */
    known *placed;           /* where an upload put each blob, for restores of it */
    char parent_key[256];    /* the parent manifest uploads name, when not empty */
    char parent_sha[65];
    char api[64], cql[64];
    server rest_srv, cql_srv;
    rest rest;
    agent_config cfg;
    agent *a;
} env;

static void mkdirs(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    env *v = calloc(1, sizeof(*v));
    assert_non_null(v);
    strcpy(v->dir, "/tmp/cairn-restore-XXXXXX");
    assert_non_null(mkdtemp(v->dir));
    snprintf(v->state, sizeof(v->state), "%s/state", v->dir);
    snprintf(v->repo, sizeof(v->repo), "%s/repo", v->dir);
    snprintf(v->rest.data_dir, sizeof(v->rest.data_dir), "%s/data", v->dir);
    snprintf(v->upload, sizeof(v->upload), "%s/ks/t-" TABLE_ID "/upload", v->rest.data_dir);
    mkdirs(v->state);
    mkdirs(v->repo);
    char tdir[256];
    snprintf(tdir, sizeof(tdir), "%s/ks/t-" TABLE_ID, v->rest.data_dir);
    mkdirs(tdir);

    /* A repository is its info object; no blob is in it. */
    Cairn__Repo__RepoInfo info = CAIRN__REPO__REPO_INFO__INIT;
    info.format_version = 1;
    info.repository_id = (char *)"6f1c3a52-0000-4000-8000-000000000001";
    uint8_t packed[128];
    size_t len = cairn__repo__repo_info__pack(&info, packed);
    char path[160];
    snprintf(path, sizeof(path), "%s/cairn.repo", v->repo);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(packed, 1, len, f), len);
    fclose(f);

    server_start(&v->rest_srv, rest_serve, &v->rest);
    server_start(&v->cql_srv, cql_serve, NULL);
    snprintf(v->api, sizeof(v->api), "http://127.0.0.1:%d", v->rest_srv.port);
    snprintf(v->cql, sizeof(v->cql), "127.0.0.1:%d", v->cql_srv.port);
    v->cfg.cluster = (char *)CLUSTER;
    v->cfg.scylla_api = v->api;
    v->cfg.scylla_cql = v->cql;
    v->cfg.state_dir = v->state;
    v->cfg.upload_parallel = 3;
    snprintf(v->repo_url, sizeof(v->repo_url), "file://%s", v->repo);
    v->served.location = v->repo_url;
    v->cfg.repositories.items = &v->served;
    v->cfg.repositories.n = 1;
    cairn_err e;
    if (agent_new(&v->a, &v->cfg, &e) != 0)
        fail_msg("%s", e.msg);
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    env *v = *state;
    known_free(v->placed);
    agent_free(v->a);
    server_stop(&v->rest_srv);
    server_stop(&v->cql_srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->dir);
    assert_int_equal(system(cmd), 0);
    free(v);
    return 0;
}

/* Sends rq through the dispatcher; returns the status, *out the response. */
static int call(env *v, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **out, cairn_err *e)
{
    uint8_t *req, *resp;
    size_t len, resp_len;
    assert_int_equal(wire_pack_request(rq, CLUSTER, 7, &req, &len, e), 0);
    assert_int_equal(agent_handle(v->a, req, len, &resp, &resp_len), 0);
    free(req);
    *out = NULL;
    int rc = wire_unpack_response(resp, resp_len, CLUSTER, 7, out, e);
    free(resp);
    return rc;
}

/* Polls job id until it leaves RUNNING; *out is its last answer (free it). */
static Cairn__Rpc__JobInfo__State wait_job(env *v, const char *id, Cairn__Rpc__Response **out,
                                           cairn_err *e)
{
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)id;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    for (int i = 0; i < 6000; i++) {
        assert_int_equal(call(v, &rq, out, e), 0);
        if ((*out)->job->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING)
            return (*out)->job->state;
        cairn__rpc__response__free_unpacked(*out, NULL);
        usleep(5000);
    }
    fail_msg("job %s did not finish", id);
    return CAIRN__RPC__JOB_INFO__STATE__RUNNING;
}

/* Restores files into table ks.<table> under tag and waits for the job; *out is its
 * last answer (free it). */
static Cairn__Rpc__JobInfo__State start_restore(env *v, const char *tag, const char *table,
                                                Cairn__Repo__FileEntry **files, size_t n,
                                                Cairn__Rpc__Response **out, cairn_err *e)
{
    Cairn__Rpc__RestoreTable t = CAIRN__RPC__RESTORE_TABLE__INIT;
    t.keyspace = (char *)"ks";
    t.name = (char *)table;
    t.files = files;
    t.n_files = n;
    Cairn__Rpc__RestoreTable *tables[] = {&t};
    Cairn__Rpc__RestoreRequest rs = CAIRN__RPC__RESTORE_REQUEST__INIT;
    char url[128];
    snprintf(url, sizeof(url), "file://%s", v->repo);
    rs.tag = (char *)tag;
    rs.repository = url;
    rs.tables = tables;
    rs.n_tables = 1;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq.restore = &rs;
    Cairn__Rpc__Response *r;
    assert_int_equal(call(v, &rq, &r, e), 0);
    char id[64];
    snprintf(id, sizeof(id), "%s", r->job->job_id);
    cairn__rpc__response__free_unpacked(r, NULL);
    return wait_job(v, id, out, e);
}

/* Restores table ks.<table> of tag (one file, name given) and waits for the job;
 * returns its final state, with the job's error in e. */
static Cairn__Rpc__JobInfo__State restore(env *v, const char *tag, const char *table,
                                          const char *file, uint64_t *tables_done, cairn_err *e)
{
    Cairn__Repo__FileEntry fe = CAIRN__REPO__FILE_ENTRY__INIT;
    fe.name = (char *)file;
    fe.blob = (char *)BLOB;
    fe.size = 4;
    Cairn__Repo__FileEntry *files[] = {&fe};
    Cairn__Rpc__Response *r;
    Cairn__Rpc__JobInfo__State st = start_restore(v, tag, table, files, 1, &r, e);
    if (tables_done)
        *tables_done = r->job->tables;
    if (st == CAIRN__RPC__JOB_INFO__STATE__FAILED)
        snprintf(e->msg, sizeof(e->msg), "%s", r->job->error->message);
    cairn__rpc__response__free_unpacked(r, NULL);
    return st;
}

static bool file_has(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

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

/* ---- upload ---- */

/* A snapshot of ks.t under tag: two SSTables, one whose Data.db does not match its
 * Digest.crc32, and a file that is not an SSTable's. */
static void lay_out_snapshot(env *v, const char *tag)
{
    char snap[300], path[400];
    snprintf(snap, sizeof(snap), "%s/ks/t-" TABLE_ID "/snapshots/%s", v->rest.data_dir, tag);
    mkdirs(snap);
    static const struct {
        const char *name, *text;
    } files[] = {
        {"me-1-big-Data.db", "first sstable data"},
        {"me-1-big-TOC.txt", "Data.db\nTOC.txt\n"},
        {"me-1-big-Digest.crc32", "12345"},
        {"me-2-big-Data.db", "second sstable data"},
        {"me-2-big-Index.db", "index"},
        {"schema.cql", "CREATE TABLE ks.t (k int PRIMARY KEY);"},
        {"manifest.json", "{}"},
        {"notes.txt", "not an sstable"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", snap, files[i].name);
        write_text(path, files[i].text);
    }
}

/* Objects under blobs/ or packs/. */
static int objects_in_repo(env *v, const char *kind)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "exit $(find '%s/%s' -type f 2>/dev/null | wc -l)", v->repo, kind);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The upload request for ks.t's snapshot tag (its strings point into v, t and url). */
static void upload_request(env *v, const char *tag, bool keep_snapshot, Cairn__Rpc__Table *t,
                           Cairn__Rpc__Table **tables, char *url, size_t url_cap,
                           Cairn__Rpc__UploadRequest *up)
{
    t->keyspace = (char *)"ks";
    t->name = (char *)"t";
    tables[0] = t;
    snprintf(url, url_cap, "file://%s", v->repo);
    up->tag = (char *)tag;
    up->repository = url;
    up->tables = tables;
    up->n_tables = 1;
    up->has_keep_snapshot = 1;
    up->keep_snapshot = keep_snapshot;
    if (v->parent_key[0]) {
        up->parent_manifest_key = v->parent_key;
        up->parent_manifest_sha256 = v->parent_sha;
    }
}

/* Uploads ks.t's snapshot tag and waits; the job's info in *out (free it). */
static Cairn__Rpc__JobInfo__State upload(env *v, const char *tag, bool keep_snapshot,
                                         Cairn__Rpc__Response **out, cairn_err *e)
{
    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT, *tables[1];
    Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    char url[128];
    upload_request(v, tag, keep_snapshot, &t, tables, url, sizeof(url), &up);
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq.upload = &up;
    Cairn__Rpc__Response *r;
    if (call(v, &rq, &r, e) != 0)
        fail_msg("upload: %s", e->msg);
    char id[64];
    snprintf(id, sizeof(id), "%s", r->job->job_id);
    cairn__rpc__response__free_unpacked(r, NULL);
    return wait_job(v, id, out, e);
}

static bool has_warning(const Cairn__Rpc__JobInfo *j, const char *text)
{
    for (size_t i = 0; i < j->n_warnings; i++)
        if (strstr(j->warnings[i], text))
            return true;
    return false;
}

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
    assert_int_equal(known_load(&v->placed, rp, r->job->manifest_key, r->job->manifest_sha256, &e),
                     0);
    repo_close(rp);
    cairn__rpc__response__free_unpacked(r, NULL);

    const restore_file good[] = {
        {"me-1-big-Data.db", "first sstable data", true, 0, false, 0},
        {"me-1-big-TOC.txt", "Data.db\nTOC.txt\n", false, 0, false, 0},
    };
    assert_int_equal(restore_files(v, "r1", good, 2, &r, &e), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(r->job->files_done, 2);
    assert_int_equal(r->job->tables, 1);
    cairn__rpc__response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&v->rest.loads), 1);
    assert_int_equal(files_in(v->upload), 2);
    char done[200];
    snprintf(done, sizeof(done), "%s/restore/" CLUSTER "/r1/done", v->state);
    assert_true(file_has(done, "ks.t\n"));

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
        cmocka_unit_test_setup_teardown(test_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_parent_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_parent_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_without_repository, setup, teardown),
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
