/* The coordinator against fake agents: jobs that finish, fail, warn, or answer without
 * a job (jobrun), and a whole backup (describe, flush, snapshot, schema, upload). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "command/catalog.h"
#include "fleet/jobrun.h"
#include "net/transport.h"
#include "repo/manifest.h"
#include "net/wire.h"
#include "repo_fixture.h"

/* How a fake agent behaves. */
typedef enum {
    AGENT_DONE,
    AGENT_FAILS,
    AGENT_NO_JOB,
    AGENT_NO_FLUSH,
    AGENT_BLIP,    /* the first two polls get no answer: a network blip */
    AGENT_FORGETS, /* the first poll finds no job: the agent restarted */
    AGENT_SILENT   /* no poll is ever answered */
} agent_mode;

typedef struct fake_agent {
    agent_mode mode;
    int index;
    int polls;          /* answered so far */
    int clears;         /* snapshot clear requests seen */
    int cancels;        /* cancel requests seen */
    int dropped;        /* polls left unanswered */
    char tag[160];      /* of the upload job, "" when none */
    char manifest[300]; /* the node manifest its upload wrote, "" until then */
    char manifest_sha[65];
    uint64_t manifest_size;
    transport_server *srv;
    char addr[32];
} fake_agent;

/* The ring the fake agents describe: the first N_HOSTS agents. */
#define N_HOSTS 2
static char *host_ids[] = {"6f2e3d7a-0000-4000-8000-000000000001",
                           "6f2e3d7a-0000-4000-8000-000000000002",
                           "6f2e3d7a-0000-4000-8000-000000000003"};

/* The repository the fake agents see (the coordinator's): a finished upload writes
 * its node manifest there, and the backup lists them before it records anything. */
static repo_fixture rf;

static void write_node_manifest(fake_agent *a)
{
    if (a->manifest[0] || !a->tag[0] || !rf.r)
        return;
    repo_node_manifest_key("prod", a->tag, host_ids[a->index], a->manifest, sizeof(a->manifest));
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "prod";
    h.tag = a->tag;
    h.host_id = host_ids[a->index];
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(rf.r, a->manifest, &h, &w, &e), 0);
    assert_int_equal(manifest_node_finish(w, a->manifest_sha, &a->manifest_size, &e), 0);
}

static Cairn__Rpc__JobInfo job_state(fake_agent *a, bool start)
{
    Cairn__Rpc__JobInfo j = CAIRN__RPC__JOB_INFO__INIT;
    j.job_id = "job-1";
    j.has_bytes_total = j.has_bytes_done = j.has_files_total = j.has_files_done = 1;
    j.bytes_total = 100;
    j.files_total = 2;
    /* running when started and at the first poll, then the outcome */
    bool over = !start && a->polls++ >= 1;
    j.bytes_done = over ? 100 : 40;
    j.files_done = over ? 2 : 1;
    j.state = !over                    ? CAIRN__RPC__JOB_INFO__STATE__RUNNING
              : a->mode == AGENT_FAILS ? CAIRN__RPC__JOB_INFO__STATE__FAILED
                                       : CAIRN__RPC__JOB_INFO__STATE__DONE;
    if (over && a->mode != AGENT_FAILS) {
        write_node_manifest(a);
        j.manifest_key = a->manifest[0] ? a->manifest : NULL;
        j.manifest_sha256 = a->manifest_sha;
        j.has_manifest_size = 1;
        j.manifest_size = a->manifest_size;
    }
    return j;
}

/* A node of a two-node ring, both up, with one user table. */
static void describe(fake_agent *a, Cairn__Rpc__NodeInfo *n, Cairn__Rpc__RingMember *ring,
                     Cairn__Rpc__RingMember **ring_ptrs, Cairn__Rpc__Table *t,
                     Cairn__Rpc__Table **t_ptrs)
{
    static char *tokens[] = {"-3", "11"};
    cairn__rpc__node_info__init(n);
    n->host_id = host_ids[a->index];
    n->scylla_cluster = "Test Cluster";
    n->address = a->index ? "10.0.0.2" : "10.0.0.1";
    n->dc = "dc1";
    n->rack = "r1";
    n->scylla_version = "6.2.0";
    n->tokens = tokens;
    n->n_tokens = 2;
    cairn__rpc__table__init(t);
    t->keyspace = "sales";
    t->name = "orders";
    t_ptrs[0] = t;
    n->tables = t_ptrs;
    n->n_tables = 1;
    for (int i = 0; i < N_HOSTS; i++) {
        cairn__rpc__ring_member__init(&ring[i]);
        ring[i].host_id = host_ids[i];
        ring[i].address = i ? "10.0.0.2" : "10.0.0.1";
        ring[i].up = true;
        ring_ptrs[i] = &ring[i];
    }
    n->ring = ring_ptrs;
    n->n_ring = N_HOSTS;
}

static int handle(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
    fake_agent *a = ctx;
    Cairn__Rpc__Request *rq = NULL;
    cairn_err e;
    if (wire_unpack_request(req, len, "prod", &rq, &e) != 0)
        return -1;
    Cairn__Rpc__Response r = CAIRN__RPC__RESPONSE__INIT;
    cairn_err st;
    err_clear(&st);
    Cairn__Rpc__NodeInfo node;
    Cairn__Rpc__RingMember ring[N_HOSTS], *ring_ptrs[N_HOSTS];
    Cairn__Rpc__Table table, *table_ptrs[1];
    Cairn__Rpc__SnapshotResult snap = CAIRN__RPC__SNAPSHOT_RESULT__INIT;
    Cairn__Rpc__SchemaResult schema = CAIRN__RPC__SCHEMA_RESULT__INIT;
    Cairn__Rpc__ApplySchemaResult applied = CAIRN__RPC__APPLY_SCHEMA_RESULT__INIT;
    Cairn__Rpc__JobInfo j;
    Cairn__Rpc__Status err = CAIRN__RPC__STATUS__INIT;
    Cairn__Rpc__RepositoryInfo ri = CAIRN__RPC__REPOSITORY_INFO__INIT;
    static char *warnings[] = {"a Data.db fails its Digest"};
    static char *created[] = {"table sales.orders"};
    switch (rq->op_case) {
    case CAIRN__RPC__REQUEST__OP_DESCRIBE:
        describe(a, &node, ring, ring_ptrs, &table, table_ptrs);
        r.result_case = CAIRN__RPC__RESPONSE__RESULT_NODE;
        r.node = &node;
        break;
    case CAIRN__RPC__REQUEST__OP_FLUSH:
        if (a->mode == AGENT_NO_FLUSH)
            err_set(&st, CAIRN_EREMOTE, "flush refused");
        break;
    case CAIRN__RPC__REQUEST__OP_SNAPSHOT:
        snap.time_ms = 1000 + (uint64_t)a->index * 7;
        r.result_case = CAIRN__RPC__RESPONSE__RESULT_SNAPSHOT;
        r.snapshot = &snap;
        break;
    case CAIRN__RPC__REQUEST__OP_SCHEMA:
        schema.blob = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        schema.size = 321;
        r.result_case = CAIRN__RPC__RESPONSE__RESULT_SCHEMA;
        r.schema = &schema;
        break;
    case CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA:
        applied.created = created;
        applied.n_created = 1;
        r.result_case = CAIRN__RPC__RESPONSE__RESULT_APPLY_SCHEMA;
        r.apply_schema = &applied;
        break;
    case CAIRN__RPC__REQUEST__OP_FORGET_RESTORE:
        break;
    case CAIRN__RPC__REQUEST__OP_REPOSITORY:
        ri.id = (char *)repo_id(rf.r);
        r.result_case = CAIRN__RPC__RESPONSE__RESULT_REPOSITORY;
        r.repository = &ri;
        break;
    case CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT:
        __atomic_add_fetch(&a->clears, 1, __ATOMIC_SEQ_CST);
        break;
    case CAIRN__RPC__REQUEST__OP_CANCEL:
        /* No earlier attempt runs here (and a failed node's job is gone). */
        __atomic_add_fetch(&a->cancels, 1, __ATOMIC_SEQ_CST);
        err_set(&st, CAIRN_ENOENT, "no job %s on this agent", rq->cancel->job_id);
        break;
    case CAIRN__RPC__REQUEST__OP_JOB:
        if ((a->mode == AGENT_BLIP && a->dropped < 2) || a->mode == AGENT_SILENT) {
            a->dropped++;
            cairn__rpc__request__free_unpacked(rq, NULL);
            return -1; /* no answer: the poll times out */
        }
        if (a->mode == AGENT_FORGETS && a->dropped++ == 0) {
            err_set(&st, CAIRN_ENOENT, "no job job-1 on this agent (was the agent restarted?)");
            break;
        }
        __attribute__((fallthrough));
    default: /* a job: started by any other op, or polled */
        if (rq->op_case == CAIRN__RPC__REQUEST__OP_UPLOAD) {
            snprintf(a->tag, sizeof(a->tag), "%s", rq->upload->tag);
            a->manifest[0] = '\0';
        }
        j = job_state(a, rq->op_case != CAIRN__RPC__REQUEST__OP_JOB);
        if (j.state == CAIRN__RPC__JOB_INFO__STATE__FAILED) {
            err.code = CAIRN_EIO;
            err.message = "disk on fire";
            j.error = &err;
        } else if (j.state == CAIRN__RPC__JOB_INFO__STATE__DONE) {
            j.warnings = warnings;
            j.n_warnings = 1;
        }
        if (a->mode != AGENT_NO_JOB) {
            r.result_case = CAIRN__RPC__RESPONSE__RESULT_JOB;
            r.job = &j;
        }
    }
    int rc = wire_pack_response(&r, "prod", rq->request_id, &st, resp, resp_len, &e);
    cairn__rpc__request__free_unpacked(rq, NULL);
    return rc;
}

static fake_agent agents[3];
static char *addrs[3];
static coord_config cfg;

static void start_agents(const agent_mode *modes, size_t n)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.cluster = "prod";
    cfg.insecure = true;
    cfg.parallel = 4;
    cfg.timeout_s = 5;
    for (size_t i = 0; i < n; i++) {
        fake_agent *a = &agents[i];
        memset(a, 0, sizeof(*a));
        a->mode = modes[i];
        a->index = (int)i;
        char url[64];
        cairn_err e;
        /* a port of this process's own, so that test runs side by side do not meet */
        for (int tries = 0; tries < 50; tries++) {
            snprintf(a->addr, sizeof(a->addr), "127.0.0.1:%d",
                     20000 + (int)((getpid() * 7 + i * 101 + (size_t)tries * 977) % 30000));
            snprintf(url, sizeof(url), "tcp://%s", a->addr);
            if (transport_server_start(&a->srv, url, NULL, 2, handle, a, &e) == 0)
                break;
        }
        assert_non_null(a->srv);
        addrs[i] = a->addr;
    }
    cfg.agents.items = addrs;
    cfg.agents.n = n;
}

static void stop_agents(size_t n)
{
    for (size_t i = 0; i < n; i++)
        transport_server_stop(agents[i].srv);
}

/* Starts the fake job with an upload request. */
static void request(void *arg, size_t i, Cairn__Rpc__Request *rq)
{
    static Cairn__Rpc__UploadRequest ur = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    ur.tag = "t1";
    ur.repository = "file:///nowhere";
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
    rq->op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq->upload = &ur;
}

static int run(size_t n, jobrun_node *nodes, int *starts, cairn_err *e)
{
    fleet *f = NULL;
    assert_int_equal(fleet_open(&f, &cfg, e), 0);
    for (size_t i = 0; i < n; i++)
        nodes[i].agent = i;
    err_clear(e);
    int rc = jobrun_all(f, nodes, n, 2, "backup", true, request, starts, e);
    fleet_close(f);
    return rc;
}

static void test_every_job_done(void **state)
{
    static const agent_mode modes[] = {AGENT_DONE, AGENT_DONE, AGENT_DONE};
    start_agents(modes, 3);
    jobrun_node *nodes = calloc(3, sizeof(*nodes));
    int starts = 0;
    cairn_err e;
    assert_int_equal(run(3, nodes, &starts, &e), 0);
    assert_int_equal(starts, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_false(nodes[i].failed);
        assert_non_null(nodes[i].job);
        assert_int_equal(nodes[i].job->state, CAIRN__RPC__JOB_INFO__STATE__DONE);
        assert_int_equal(nodes[i].job->bytes_done, 100);
        assert_int_equal(agents[i].polls, 2);
    }
    jobrun_free(nodes, 3);
    stop_agents(3);
}

static void test_failed_job_named(void **state)
{
    static const agent_mode modes[] = {AGENT_DONE, AGENT_FAILS};
    start_agents(modes, 2);
    jobrun_node *nodes = calloc(2, sizeof(*nodes));
    int starts = 0;
    cairn_err e;
    assert_int_equal(run(2, nodes, &starts, &e), CAIRN_EIO);
    assert_false(nodes[0].failed);
    assert_true(nodes[1].failed);
    char want[128];
    snprintf(want, sizeof(want), "backup failed on node ? (%s): agent %s: disk on fire",
             agents[1].addr, agents[1].addr);
    assert_string_equal(e.msg, want);
    jobrun_free(nodes, 2);
    stop_agents(2);
}

/* Polls that fail are retried for the grace period: a blip is survived, a restarted
 * agent is asked again, a silent one fails the node as not answering. */
static void test_poll_grace(void **state)
{
    static const agent_mode modes[] = {AGENT_BLIP, AGENT_FORGETS};
    start_agents(modes, 2);
    cfg.timeout_s = 1; /* each poll waits a second */
    cfg.grace_s = 30;
    jobrun_node *nodes = calloc(2, sizeof(*nodes));
    int starts = 0;
    cairn_err e;
    assert_int_equal(run(2, nodes, &starts, &e), 0);
    assert_false(nodes[0].failed);
    assert_false(nodes[1].failed);
    assert_int_equal(agents[0].dropped, 2);
    assert_int_equal(starts, 3); /* the restarted agent was sent the request again */
    jobrun_free(nodes, 2);
    stop_agents(2);

    static const agent_mode silent[] = {AGENT_SILENT};
    start_agents(silent, 1);
    cfg.timeout_s = 1;
    cfg.grace_s = 2;
    nodes = calloc(1, sizeof(*nodes));
    assert_int_equal(run(1, nodes, &starts, &e), CAIRN_ETIMEDOUT);
    assert_true(nodes[0].failed);
    assert_non_null(strstr(e.msg, "not answering"));
    assert_non_null(strstr(e.msg, agents[0].addr));
    assert_true(agents[0].dropped >= 2);
    assert_int_equal(agents[0].cancels, 1); /* its job is told to stop, should it return */
    jobrun_free(nodes, 1);
    stop_agents(1);
}

static void test_answer_without_job(void **state)
{
    static const agent_mode modes[] = {AGENT_NO_JOB};
    start_agents(modes, 1);
    jobrun_node *nodes = calloc(1, sizeof(*nodes));
    int starts = 0;
    cairn_err e;
    assert_int_equal(run(1, nodes, &starts, &e), CAIRN_EPROTO);
    assert_true(nodes[0].failed);
    assert_null(nodes[0].job);
    assert_non_null(strstr(e.msg, "the agent answered without a job"));
    jobrun_free(nodes, 1);
    stop_agents(1);
}

static void start_backup_agents(agent_mode first, agent_mode second)
{
    agent_mode modes[] = {first, second};
    start_agents(modes, N_HOSTS);
    assert_int_equal(repo_fixture_open(&rf), 0);
    cfg.repository = rf.url;
}

static void stop_backup_agents(void)
{
    stop_agents(N_HOSTS);
    assert_int_equal(repo_fixture_close(&rf), 0);
}

static void test_backup(void **state)
{
    start_backup_agents(AGENT_DONE, AGENT_DONE);
    char *status[] = {"status"};
    assert_int_equal(cmd_status(&cfg, 1, status), CMD_OK);
    char *text[] = {"backup", "--tag", "t1", "--keyspace", "sales"};
    assert_int_equal(cmd_backup(&cfg, 5, text), CMD_OK);
    char *json[] = {"backup", "--tag", "t2", "--json", "--rate-limit", "50"};
    assert_int_equal(cmd_backup(&cfg, 6, json), CMD_OK);
    char tag[160];
    cairn_err e;
    assert_int_equal(catalog_latest(rf.r, "prod", tag, sizeof(tag), &e), 0);
    assert_true(strcmp(tag, "t1") == 0 || strcmp(tag, "t2") == 0);
    /* a tag is taken once; a filter that selects nothing backs up nothing */
    assert_int_equal(cmd_backup(&cfg, 5, text), CMD_FAILED);
    char *nothing[] = {"backup", "--tag", "t3", "--exclude", "sales"};
    assert_int_equal(cmd_backup(&cfg, 5, nothing), CMD_FAILED);
    /* Each backup that got to its snapshot first clears a killed attempt's (t1, t2),
     * and each failed one clears its tag's (t1 again, t3). */
    for (size_t i = 0; i < N_HOSTS; i++) {
        assert_int_equal(agents[i].clears, 4);
        assert_int_equal(agents[i].cancels, 2); /* an earlier attempt's upload job */
    }
    stop_backup_agents();
}

static void test_backup_flush_fails(void **state)
{
    start_backup_agents(AGENT_DONE, AGENT_NO_FLUSH);
    char *argv[] = {"backup", "--tag", "t1"};
    assert_int_equal(cmd_backup(&cfg, 3, argv), CMD_FAILED);
    /* the snapshots of the tag are cleared everywhere (a stale one first, then ours) */
    for (size_t i = 0; i < N_HOSTS; i++)
        assert_int_equal(agents[i].clears, 2);
    char tag[160];
    cairn_err e;
    assert_int_equal(catalog_latest(rf.r, "prod", tag, sizeof(tag), &e), CAIRN_ENOENT);
    stop_backup_agents();
}

static void test_backup_upload_fails_keeps_snapshot(void **state)
{
    start_backup_agents(AGENT_FAILS, AGENT_DONE);
    char *argv[] = {"backup", "--tag", "t1", "--keep-snapshot", "--json"};
    assert_int_equal(cmd_backup(&cfg, 5, argv), CMD_FAILED);
    /* only a killed attempt's snapshot is cleared, before ours is taken; ours is kept */
    for (size_t i = 0; i < N_HOSTS; i++)
        assert_int_equal(agents[i].clears, 1);
    stop_backup_agents();
}

/* Backup t1 of the fake ring: each node one SSTable of one stored blob. */
static void write_backup(void)
{
    static char *tokens[] = {"-3", "11"};
    char blob[65], keys[N_HOSTS][256], shas[N_HOSTS][65], ckey[256];
    assert_int_equal(repo_fixture_put(&rf, "the bytes of an SSTable", blob), 0);
    Cairn__Repo__NodeRef refs[N_HOSTS], *ref_ptrs[N_HOSTS];
    for (size_t i = 0; i < N_HOSTS; i++) {
        Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
        h.cluster = "prod";
        h.tag = "t1";
        h.host_id = host_ids[i];
        h.tokens = tokens;
        h.n_tokens = 2;
        repo_node_manifest_key("prod", "t1", host_ids[i], keys[i], sizeof(keys[i]));
        manifest_writer *w = NULL;
        cairn_err e;
        assert_int_equal(manifest_node_begin(rf.r, keys[i], &h, &w, &e), 0);
        Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT, *fp[] = {&f};
        f.name = "me-1-big-Data.db";
        f.blob = blob;
        f.size = 23;
        Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
        te.keyspace = "sales";
        te.name = "orders";
        te.files = fp;
        te.n_files = 1;
        assert_int_equal(manifest_node_add_table(w, &te, &e), 0);
        assert_int_equal(manifest_node_finish(w, shas[i], NULL, &e), 0);
        cairn__repo__node_ref__init(&refs[i]);
        refs[i].host_id = host_ids[i];
        refs[i].manifest_key = keys[i];
        refs[i].manifest_sha256 = shas[i];
        ref_ptrs[i] = &refs[i];
    }
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "prod";
    m.tag = "t1";
    m.start_ms = 1000;
    m.schema_blob = blob;
    m.nodes = ref_ptrs;
    m.n_nodes = N_HOSTS;
    repo_cluster_manifest_key("prod", "t1", ckey, sizeof(ckey));
    cairn_err e;
    assert_int_equal(manifest_cluster_write(rf.r, ckey, &m, &e), 0);
}

static void test_restore(void **state)
{
    start_backup_agents(AGENT_DONE, AGENT_DONE);
    write_backup();
    char *refresh[] = {"restore", "latest", "--schema", "--method", "refresh"};
    assert_int_equal(cmd_restore(&cfg, 5, refresh), CMD_OK);
    char *las[] = {"restore", "t1", "--method", "load-and-stream", "--json"};
    assert_int_equal(cmd_restore(&cfg, 5, las), CMD_OK);
    char *schema_only[] = {"restore", "t1", "--schema", "--no-data", "--json"};
    assert_int_equal(cmd_restore(&cfg, 5, schema_only), CMD_OK);
    stop_backup_agents();
}

static void test_restore_fails_on_a_node(void **state)
{
    start_backup_agents(AGENT_DONE, AGENT_FAILS);
    write_backup();
    char *argv[] = {"restore", "t1"};
    assert_int_equal(cmd_restore(&cfg, 2, argv), CMD_FAILED);
    stop_backup_agents();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_done),
        cmocka_unit_test(test_failed_job_named),
        cmocka_unit_test(test_answer_without_job),
        cmocka_unit_test(test_poll_grace),
        cmocka_unit_test(test_backup),
        cmocka_unit_test(test_backup_flush_fails),
        cmocka_unit_test(test_backup_upload_fails_keeps_snapshot),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_restore_fails_on_a_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
