/*
 * The agent's dispatcher and what its handlers refuse before touching the node, with
 * host:port splitting and the configuration's checks. No ScyllaDB: the REST address
 * is a closed port and the CQL address is invalid, so every request that would reach
 * the node fails the way a down node does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "agent_config.h"
#include "base/log.h"
#include "net/wire.h"
#include "node/hostport.h"

#define CLUSTER "prod"

typedef struct env {
    char dir[64];
    agent_config cfg;
    agent *a;
} env;

static int setup(void **state)
{
    env *v = calloc(1, sizeof(*v));
    assert_non_null(v);
    strcpy(v->dir, "/tmp/cairn-agent-XXXXXX");
    assert_non_null(mkdtemp(v->dir));
    v->cfg.cluster = (char *)CLUSTER;
    v->cfg.scylla_api = (char *)"http://127.0.0.1:1";
    v->cfg.scylla_cql = (char *)"no-port-here";
    v->cfg.state_dir = v->dir;
    v->cfg.upload_parallel = 2;
    v->cfg.restore_parallel = 2;
    static agent_repository served = {.location = (char *)"file:///nowhere"};
    v->cfg.repositories.items = &served;
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
    agent_free(v->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->dir);
    assert_int_equal(system(cmd), 0);
    free(v);
    return 0;
}

/* Sends rq through the dispatcher as the coordinator would and returns the status;
 * *out (when given) receives the response. */
static int call_as(env *v, const char *cluster, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **out,
                   cairn_err *e)
{
    uint8_t *req, *resp;
    size_t len, resp_len;
    assert_int_equal(wire_pack_request(rq, cluster, 42, &req, &len, e), 0);
    assert_int_equal(agent_handle(v->a, req, len, &resp, &resp_len), 0);
    free(req);
    Cairn__Rpc__Response *r = NULL;
    int rc = wire_unpack_response(resp, resp_len, CLUSTER, 42, &r, e);
    free(resp);
    if (out)
        *out = r;
    else if (r)
        cairn__rpc__response__free_unpacked(r, NULL);
    return rc;
}

static int call(env *v, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **out, cairn_err *e)
{
    return call_as(v, CLUSTER, rq, out, e);
}

static void test_envelope_refused(void **state)
{
    env *v = *state;
    uint8_t junk[] = {0xff, 0x01, 0x02, 0x03};
    uint8_t *resp;
    size_t resp_len;
    assert_int_equal(agent_handle(v->a, junk, sizeof(junk), &resp, &resp_len), 0);
    Cairn__Rpc__Response *r = NULL;
    cairn_err e;
    assert_int_not_equal(wire_unpack_response(resp, resp_len, CLUSTER, 0, &r, &e), 0);
    free(resp);
    if (r)
        cairn__rpc__response__free_unpacked(r, NULL);

    /* Another cluster's coordinator is turned away. */
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)"upload:x";
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    assert_int_not_equal(call_as(v, "staging", &rq, NULL, &e), 0);
    assert_non_null(strstr(e.msg, "staging"));
}

static void test_unknown_request(void **state)
{
    env *v = *state;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    cairn_err e;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "newer than this agent"));
}

static void test_unknown_job(void **state)
{
    env *v = *state;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)"upload:nope";
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    cairn_err e;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no job upload:nope"));
}

static void test_names_refused(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Rpc__Table good = CAIRN__RPC__TABLE__INIT, bad = CAIRN__RPC__TABLE__INIT;
    good.keyspace = (char *)"ks";
    good.name = (char *)"t";
    bad.keyspace = (char *)"ks";
    bad.name = (char *)"../etc";
    Cairn__Rpc__Table *bad_tables[] = {&good, &bad};
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;

    Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    up.tag = (char *)"bad tag";
    up.repository = (char *)"file:///nowhere";
    rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq.upload = &up;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
    up.tag = (char *)"t1";
    up.tables = bad_tables;
    up.n_tables = 2;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "table"));

    Cairn__Rpc__SnapshotRequest sn = CAIRN__RPC__SNAPSHOT_REQUEST__INIT;
    sn.tag = (char *)"t/1";
    rq.op_case = CAIRN__RPC__REQUEST__OP_SNAPSHOT;
    rq.snapshot = &sn;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
    sn.tag = (char *)"t1";
    sn.tables = bad_tables;
    sn.n_tables = 2;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);

    Cairn__Rpc__FlushRequest fl = CAIRN__RPC__FLUSH_REQUEST__INIT;
    fl.tables = bad_tables;
    fl.n_tables = 2;
    rq.op_case = CAIRN__RPC__REQUEST__OP_FLUSH;
    rq.flush = &fl;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);

    Cairn__Rpc__ClearSnapshotRequest cs = CAIRN__RPC__CLEAR_SNAPSHOT_REQUEST__INIT;
    cs.tag = (char *)"";
    rq.op_case = CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT;
    rq.clear_snapshot = &cs;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);

    Cairn__Rpc__RestoreTable rbad = CAIRN__RPC__RESTORE_TABLE__INIT;
    rbad.keyspace = (char *)"system schema";
    rbad.name = (char *)"t";
    Cairn__Rpc__RestoreTable *rtables[] = {&rbad};
    Cairn__Rpc__RestoreRequest rs = CAIRN__RPC__RESTORE_REQUEST__INIT;
    rs.tag = (char *)"..";
    rs.repository = (char *)"file:///nowhere";
    rq.op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq.restore = &rs;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
    rs.tag = (char *)"t1";
    rs.tables = rtables;
    rs.n_tables = 1;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "keyspace"));

    Cairn__Rpc__ForgetRestoreRequest fr = CAIRN__RPC__FORGET_RESTORE_REQUEST__INIT;
    fr.tag = (char *)"a b";
    rq.op_case = CAIRN__RPC__REQUEST__OP_FORGET_RESTORE;
    rq.forget_restore = &fr;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_EINVAL);
}

/* The node is down: what needs its REST API says so. */
static void test_node_down(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__DescribeRequest d = CAIRN__RPC__DESCRIBE_REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_DESCRIBE;
    rq.describe = &d;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONN);
    assert_non_null(strstr(e.msg, "REST API"));

    /* An upload describes the node before its job starts: no job is left behind. */
    Cairn__Rpc__UploadRequest up = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    up.tag = (char *)"t1";
    up.repository = (char *)"file:///nowhere";
    rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq.upload = &up;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONN);
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)"upload:t1";
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ENOENT);

    Cairn__Rpc__ClearSnapshotRequest cs = CAIRN__RPC__CLEAR_SNAPSHOT_REQUEST__INIT;
    cs.tag = (char *)"t1";
    rq.op_case = CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT;
    rq.clear_snapshot = &cs;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONN);

    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT;
    t.keyspace = (char *)"ks";
    t.name = (char *)"t";
    Cairn__Rpc__Table *tables[] = {&t};
    Cairn__Rpc__FlushRequest fl = CAIRN__RPC__FLUSH_REQUEST__INIT;
    fl.tables = tables;
    fl.n_tables = 1;
    rq.op_case = CAIRN__RPC__REQUEST__OP_FLUSH;
    rq.flush = &fl;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONN);
}

/* The CQL address is not host:port: schema requests fail before any other work. */
static void test_bad_cql_address(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__SchemaRequest sr = CAIRN__RPC__SCHEMA_REQUEST__INIT;
    sr.repository = (char *)"file:///nowhere";
    rq.op_case = CAIRN__RPC__REQUEST__OP_SCHEMA;
    rq.schema = &sr;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "no-port-here"));

    Cairn__Rpc__ApplySchemaRequest as = CAIRN__RPC__APPLY_SCHEMA_REQUEST__INIT;
    as.repository = (char *)"file:///nowhere";
    as.blob = (char *)"00";
    rq.op_case = CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA;
    rq.apply_schema = &as;
    assert_int_equal(call(v, &rq, NULL, &e), CAIRN_ECONFIG);
}

/* A restore starts as a job: the answer is its state, the failure is the job's. */
static void test_restore_job_fails_and_is_forgotten(void **state)
{
    env *v = *state;
    cairn_err e;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__RestoreRequest rs = CAIRN__RPC__RESTORE_REQUEST__INIT;
    rs.tag = (char *)"t1";
    rs.repository = (char *)"file:///nowhere";
    rq.op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq.restore = &rs;
    Cairn__Rpc__Response *r = NULL;
    assert_int_equal(call(v, &rq, &r, &e), 0);
    assert_int_equal(r->result_case, CAIRN__RPC__RESPONSE__RESULT_JOB);
    assert_string_equal(r->job->job_id, "restore:prod.t1");
    cairn__rpc__response__free_unpacked(r, NULL);

    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)"restore:prod.t1";
    Cairn__Rpc__Request jq = CAIRN__RPC__REQUEST__INIT;
    jq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    jq.job = &jr;
    Cairn__Rpc__JobInfo__State st = CAIRN__RPC__JOB_INFO__STATE__RUNNING;
    for (int i = 0; i < 3000 && st == CAIRN__RPC__JOB_INFO__STATE__RUNNING; i++) {
        assert_int_equal(call(v, &jq, &r, &e), 0);
        st = r->job->state;
        if (st == CAIRN__RPC__JOB_INFO__STATE__FAILED) {
            assert_int_equal(r->job->error->code, CAIRN_ECONFIG);
            assert_non_null(strstr(r->job->error->message, "no-port-here"));
        }
        cairn__rpc__response__free_unpacked(r, NULL);
        usleep(10000);
    }
    assert_int_equal(st, CAIRN__RPC__JOB_INFO__STATE__FAILED);

    /* Forgetting drops the job and the tag's progress file. */
    char done[160];
    snprintf(done, sizeof(done), "mkdir -p %s/restore/" CLUSTER "/t1", v->dir);
    assert_int_equal(system(done), 0);
    snprintf(done, sizeof(done), "%s/restore/" CLUSTER "/t1/done", v->dir);
    FILE *f = fopen(done, "w");
    assert_non_null(f);
    fputs("ks.t\n", f);
    fclose(f);
    Cairn__Rpc__ForgetRestoreRequest fr = CAIRN__RPC__FORGET_RESTORE_REQUEST__INIT;
    fr.tag = (char *)"t1";
    Cairn__Rpc__Request fq = CAIRN__RPC__REQUEST__INIT;
    fq.op_case = CAIRN__RPC__REQUEST__OP_FORGET_RESTORE;
    fq.forget_restore = &fr;
    assert_int_equal(call(v, &fq, NULL, &e), 0);
    assert_int_not_equal(access(done, F_OK), 0);
    assert_int_equal(call(v, &jq, NULL, &e), CAIRN_ENOENT);
    /* Forgetting what is not there is no error. */
    assert_int_equal(call(v, &fq, NULL, &e), 0);
}

static void test_agent_new_errors(void **state)
{
    (void)state;
    agent_config cfg = {0};
    cfg.cluster = (char *)CLUSTER;
    cfg.scylla_api = (char *)"ftp://127.0.0.1:10000";
    cfg.state_dir = (char *)"/tmp";
    agent *a = NULL;
    cairn_err e;
    assert_int_equal(agent_new(&a, &cfg, &e), CAIRN_ECONFIG);
    assert_null(a);
    assert_non_null(strstr(e.msg, "http://"));
    agent_free(NULL);
}

static void test_hostport(void **state)
{
    (void)state;
    char host[16];
    int port = 0;
    cairn_err e;
    assert_int_equal(hostport_split("127.0.0.1:9042", host, sizeof(host), &port, &e), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9042);
    assert_int_equal(hostport_split("[::1]:19042", host, sizeof(host), &port, &e), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 19042);
    assert_int_equal(hostport_split("scylla:65535", host, sizeof(host), &port, &e), 0);
    assert_int_equal(port, 65535);

    static const char *const bad[] = {
        "scylla",                     /* no port */
        ":9042",                      /* no host */
        "scylla:",                    /* empty port */
        "scylla:0",                   /* out of range */
        "scylla:65536",               /* out of range */
        "scylla:90x",                 /* not a number */
        "[::1]9042",                  /* bracket without colon */
        "[::1",                       /* unclosed bracket */
        "[]:9042",                    /* empty v6 host */
        "a-very-long-host-name:9042", /* longer than host's room */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e.code = 0;
        assert_int_equal(hostport_split(bad[i], host, sizeof(host), &port, &e), CAIRN_ECONFIG);
        assert_non_null(strstr(e.msg, bad[i]));
    }
}

/* agent_config: what a file must hold and what goes together. */
static int load_text(const char *text, agent_config *c, cairn_err *e)
{
    char path[] = "/tmp/cairn-agent-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = agent_config_load(path, c, e);
    unlink(path);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    agent_config c;
    cairn_err e;
    assert_int_equal(
        load_text("cluster: c1\ninsecure: true\nlisten: tcp://127.0.0.1:7400\n", &c, &e), 0);
    assert_string_equal(c.scylla_api, "http://127.0.0.1:10000");
    assert_string_equal(c.scylla_cql, "127.0.0.1:9042");
    assert_string_equal(c.state_dir, "/var/lib/cairn");
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.upload_parallel, 4);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c.restore_parallel, cores < 1 ? 1 : cores > 8 ? 8 : cores);
    agent_config_free(&c);
    assert_int_equal(load_text("cluster: c1\ninsecure: true\nrestore_parallel: 12\n", &c, &e), 0);
    assert_int_equal(c.restore_parallel, 12);
    agent_config_free(&c);
    assert_int_not_equal(load_text("cluster: c1\ninsecure: true\nrestore_parallel: 0\n", &c, &e),
                         0);
    assert_non_null(strstr(e.msg, "restore_parallel"));

    /* Plain tcp is the default listen address when insecure. */
    assert_int_equal(load_text("cluster: c1\ninsecure: true\nscylla:\n  username: u\n"
                               "  password: p\n",
                               &c, &e),
                     0);
    assert_string_equal(c.listen, "tcp://0.0.0.0:7400");
    assert_string_equal(c.scylla_username, "u");
    agent_config_free(&c);

    assert_int_equal(
        load_text("cluster: c1\ntls:\n  ca: /ca.pem\n  cert: /c.pem\n  key: /k.pem\n", &c, &e), 0);
    assert_string_equal(c.listen, "tls+tcp://0.0.0.0:7400");
    agent_config_free(&c);

    assert_int_not_equal(load_text("insecure: true\n", &c, &e), 0);
    assert_int_equal(load_text("cluster: 'bad name'\ninsecure: true\n", &c, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "cluster"));
    assert_int_equal(load_text("cluster: c1\n", &c, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "mutual TLS is required"));
    assert_int_equal(
        load_text("cluster: c1\ninsecure: true\nlisten: tls+tcp://0.0.0.0:7400\n", &c, &e),
        CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "needs a tcp:// listen address"));
    assert_int_equal(load_text("cluster: c1\ninsecure: true\nscylla:\n  username: u\n", &c, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "go together"));
}

/* Paths in agent.yaml are read from its directory, whatever the working directory. */
static void test_config_relative_paths(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-agent-rel-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], want[160], cwd[4096];
    snprintf(file, sizeof(file), "%s/agent.yaml", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("cluster: c1\nstate_dir: state\nlog_file: log/agent.log\n"
          "tls:\n  ca: pki/ca.crt\n  cert: /etc/pki/n.crt\n  key: pki/n.key\n",
          f);
    fclose(f);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/"), 0);
    agent_config c;
    cairn_err e;
    err_clear(&e);
    int rc = agent_config_load(file, &c, &e);
    assert_int_equal(chdir(cwd), 0);
    if (rc)
        fail_msg("%s", e.msg);
    snprintf(want, sizeof(want), "%s/state", dir);
    assert_string_equal(c.state_dir, want);
    snprintf(want, sizeof(want), "%s/log/agent.log", dir);
    assert_string_equal(c.log_file, want);
    snprintf(want, sizeof(want), "%s/pki/ca.crt", dir);
    assert_string_equal(c.tls_ca, want);
    assert_string_equal(c.tls_cert, "/etc/pki/n.crt");
    snprintf(want, sizeof(want), "%s/pki/n.key", dir);
    assert_string_equal(c.tls_key, want);
    agent_config_free(&c);
    unlink(file);
    rmdir(dir);
}

/* cairn-agent's command line: the exit code says what went wrong. */
static int run_agent(const char *args)
{
    const char *build = getenv("CAIRN_BUILD_DIR");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s/bin/cairn-agent' %s >/dev/null 2>&1", build ? build : ".",
             args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    if (!getenv("CAIRN_BUILD_DIR"))
        skip();
    char dir[] = "/tmp/cairn-agent-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[128], loglevel[128], nostate[128], args[400];
    snprintf(good, sizeof(good), "%s/good.yaml", dir);
    snprintf(loglevel, sizeof(loglevel), "%s/loglevel.yaml", dir);
    snprintf(nostate, sizeof(nostate), "%s/nostate.yaml", dir);
    FILE *f = fopen(good, "w");
    assert_non_null(f);
    fprintf(f, "cluster: c1\ninsecure: true\nlisten: tcp://127.0.0.1:1\nstate_dir: %s/s\n", dir);
    fclose(f);
    assert_non_null(f = fopen(loglevel, "w"));
    fprintf(f, "cluster: c1\ninsecure: true\nlog_level: chatty\n");
    fclose(f);
    /* The state directory would go under a plain file. */
    assert_non_null(f = fopen(nostate, "w"));
    fprintf(f, "cluster: c1\ninsecure: true\nlisten: tcp://127.0.0.1:1\nstate_dir: %s/x\n", good);
    fclose(f);

    assert_int_equal(run_agent("--version"), 0);
    assert_int_equal(run_agent("--help"), 0);
    assert_int_equal(run_agent("--bogus"), 2);
    snprintf(args, sizeof(args), "--config '%s/none.yaml'", dir);
    assert_int_equal(run_agent(args), 2);
    snprintf(args, sizeof(args), "--config '%s'", loglevel);
    assert_int_equal(run_agent(args), 2);
    snprintf(args, sizeof(args), "--config '%s' --check-config", good);
    assert_int_equal(run_agent(args), 0);
    /* A state directory that cannot be made is a configuration problem, found by
     * --check-config too. */
    snprintf(args, sizeof(args), "--config '%s'", nostate);
    assert_int_equal(run_agent(args), 2);
    snprintf(args, sizeof(args), "--config '%s' --check-config", nostate);
    assert_int_equal(run_agent(args), 2);

    snprintf(args, sizeof(args), "rm -rf '%s'", dir);
    assert_int_equal(system(args), 0);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_envelope_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cql_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_job_fails_and_is_forgotten, setup, teardown),
        cmocka_unit_test(test_agent_new_errors),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_relative_paths),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
