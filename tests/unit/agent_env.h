/*
 * agent_env - an agent under test against small in-process fakes of ScyllaDB's REST
 * API (the node's description, data directories, snapshot removal, load) and CQL port
 * (table ids), with a file:// repository; and the requests test_upload, test_transfer
 * and test_incremental send it. Header-only: each test program includes it once.
 */
#ifndef CAIRN_TEST_AGENT_ENV_H
#define CAIRN_TEST_AGENT_ENV_H

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

static inline void *conn_main(void *p)
{
    conn *c = p;
    c->s->fn(c->s->ctx, c->fd);
    close(c->fd);
    free(c);
    return NULL;
}

static inline void *accept_main(void *p)
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

static inline void server_start(server *s, serve_fn fn, void *ctx)
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

static inline void server_stop(server *s)
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

static inline bool read_n(int fd, void *p, size_t n)
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

static inline void write_n(int fd, const void *p, size_t n)
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
    atomic_int incremental; /* ScyllaDB's incremental_backups setting */
    atomic_int gc_off;      /* tombstone GC of ks.t switched off */
    atomic_int loads_gc_off;
} rest;

/* The answer to one request head; "" for a void result. */
static inline void rest_answer(rest *r, const char *head, char *body, size_t cap)
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
    else if (strstr(head, "POST /storage_service/sstables/ks?cf=")) {
        atomic_fetch_add(&r->loads, 1);
        if (atomic_load(&r->gc_off))
            atomic_fetch_add(&r->loads_gc_off, 1);
    } else if (strstr(head, "GET /column_family/tombstone_gc/ks:t "))
        snprintf(body, cap, "%s", atomic_load(&r->gc_off) ? "false" : "true");
    else if (strstr(head, "DELETE /column_family/tombstone_gc/ks:t "))
        atomic_store(&r->gc_off, 1);
    else if (strstr(head, "POST /column_family/tombstone_gc/ks:t "))
        atomic_store(&r->gc_off, 0);
    else if (strstr(head, "DELETE /storage_service/snapshots?tag="))
        atomic_fetch_add(&r->snapshot_deletes, 1);
    else if (strstr(head, "GET /storage_service/incremental_backups "))
        snprintf(body, cap, "%s", atomic_load(&r->incremental) ? "true" : "false");
    else if (strstr(head, "POST /storage_service/incremental_backups?value="))
        atomic_store(&r->incremental, strstr(head, "?value=true ") != NULL);
}

static inline void rest_serve(void *ctx, int fd)
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

static inline void put_u16(uint8_t **p, uint16_t v)
{
    *(*p)++ = (uint8_t)(v >> 8);
    *(*p)++ = (uint8_t)v;
}

static inline void put_i32(uint8_t **p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int s = 24; s >= 0; s -= 8)
        *(*p)++ = (uint8_t)(u >> s);
}

static inline void put_str(uint8_t **p, const char *s)
{
    put_u16(p, (uint16_t)strlen(s));
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

static inline void cql_serve(void *ctx, int fd)
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

static inline void mkdirs(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline int setup(void **state)
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

static inline int teardown(void **state)
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
static inline int call(env *v, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **out, cairn_err *e)
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
static inline Cairn__Rpc__JobInfo__State wait_job(env *v, const char *id,
                                                  Cairn__Rpc__Response **out, cairn_err *e)
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
static inline Cairn__Rpc__JobInfo__State start_restore(env *v, const char *tag, const char *table,
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
static inline Cairn__Rpc__JobInfo__State restore(env *v, const char *tag, const char *table,
                                                 const char *file, uint64_t *tables_done,
                                                 cairn_err *e)
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

static inline bool file_has(const char *path, const char *text)
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

/* ---- upload ---- */

/* A snapshot of ks.t under tag: two SSTables, one whose Data.db does not match its
 * Digest.crc32, and a file that is not an SSTable's. */
static inline void lay_out_snapshot(env *v, const char *tag)
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
static inline int objects_in_repo(env *v, const char *kind)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "exit $(find '%s/%s' -type f 2>/dev/null | wc -l)", v->repo, kind);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The upload request for ks.t's snapshot tag (its strings point into v, t and url). */
static inline void upload_request(env *v, const char *tag, bool keep_snapshot, Cairn__Rpc__Table *t,
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

/* Sends upload request up and waits; the job's info in *out (free it). */
static inline Cairn__Rpc__JobInfo__State upload_with(env *v, Cairn__Rpc__UploadRequest *up,
                                                     Cairn__Rpc__Response **out, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq.upload = up;
    Cairn__Rpc__Response *r;
    if (call(v, &rq, &r, e) != 0)
        fail_msg("upload: %s", e->msg);
    char id[64];
    snprintf(id, sizeof(id), "%s", r->job->job_id);
    cairn__rpc__response__free_unpacked(r, NULL);
    return wait_job(v, id, out, e);
}

/* Uploads ks.t's snapshot tag and waits; the job's info in *out (free it). */
static inline Cairn__Rpc__JobInfo__State upload(env *v, const char *tag, bool keep_snapshot,
                                                Cairn__Rpc__Response **out, cairn_err *e)
{
    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT, *tables[1];
    Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    char url[128];
    upload_request(v, tag, keep_snapshot, &t, tables, url, sizeof(url), &up);
    return upload_with(v, &up, out, e);
}

static inline bool has_warning(const Cairn__Rpc__JobInfo *j, const char *text)
{
    for (size_t i = 0; i < j->n_warnings; i++)
        if (strstr(j->warnings[i], text))
            return true;
    return false;
}

#endif
