/*
 * What the agent checks before it acts: the repositories it serves (repos), the
 * `repositories:` list of agent.yaml, and the names, ids and repeats of a request
 * (request_check).
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

#include "agent_config.h"
#include "net/wire.h"
#include "repo_fixture.h"
#include "repos/repos.h"
#include "request.h"

#define CLUSTER "prod"

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

/* repos: which locations are canonical, which are the same, which are served. */
static void test_repos(void **state)
{
    (void)state;
    cairn_err e;
    static const char *const good[] = {"file:///srv/repo", "file:///", "s3://b", "s3://b/p/q",
                                       "s3://b/p/?endpoint=http://h:9000&region=x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (repos_location_check(good[i], &e) != 0)
            fail_msg("%s: %s", good[i], e.msg);
    static const char *const bad[] = {"file://srv/repo", "file:///srv/../etc", "file:///srv/./r",
                                      "file:///srv//r",  "file:///srv/r/",     "s3:///x",
                                      "s3://b/../c",     "http://x/y",         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (repos_location_check(bad[i], &e) != CAIRN_EINVAL)
            fail_msg("accepted %s", bad[i]);
    assert_true(repos_same("file:///a/b", "file:///a/b"));
    assert_false(repos_same("file:///a/b", "file:///a/bc"));
    assert_false(repos_same("file:///a/b", "file:///a/b/../b"));
    assert_true(repos_same("s3://b/p", "s3://b/p/?region=eu"));
    assert_false(repos_same("s3://b/p", "s3://b/q"));
    assert_false(repos_same("s3://b/p", "s3://b/p?endpoint=http://evil"));
    assert_true(repos_same("s3://b/p?endpoint=http://h", "s3://b/p/?a=1&endpoint=http://h"));
    assert_false(repos_same("s3://b/p?endpoint=http://h", "s3://b/p?endpoint=http://g"));
    assert_false(repos_same("file:///b/p", "s3://b/p"));

    agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    agent_repository served[] = {{.location = (char *)"file:///srv/repo"}};
    const store_options *opts = (const store_options *)1;
    /* Nothing listed: nothing served. */
    assert_int_equal(repos_store_for(&cfg, "file:///srv/repo", &opts, &e), CAIRN_EAUTH);
    assert_string_equal(e.msg, "this agent does not serve repository file:///srv/repo: add it "
                               "to `repositories` in agent.yaml");
    cfg.repositories.items = served;
    cfg.repositories.n = 1;
    assert_int_equal(repos_store_for(&cfg, "file:///srv/repo", &opts, &e), 0);
    assert_null(opts); /* the agent's own store options */
    assert_int_equal(repos_store_for(&cfg, "file:///srv/other", &opts, &e), CAIRN_EAUTH);
    assert_null(strstr(e.msg, "repo init"));
    assert_int_equal(repos_store_for(&cfg, "file:///srv/x/../repo", &opts, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "not canonical"));
}

static uint64_t gets_of(repo *r)
{
    store_counts c;
    repo_stats(r, &c);
    return c.gets;
}

/* Opens url through the agent's way, expecting id; returns the GETs it cost. */
static uint64_t open_as_agent(const agent_config *cfg, const char *url, const char *want,
                              const char *id)
{
    repo *r = NULL;
    cairn_err e;
    assert_int_equal(repos_repo_open(&r, cfg, url, want, &e), 0);
    assert_string_equal(repo_id(r), id);
    assert_int_equal(repo_format_version(r), REPO_FORMAT_VERSION);
    uint64_t n = gets_of(r);
    repo_close(r);
    return n;
}

/* cairn.repo is read again unless the coordinator names the id read there before. */
static void test_repos_remembered(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    char id[64];
    snprintf(id, sizeof(id), "%s", repo_id(f.r));
    agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    agent_repository served[] = {{.location = f.url}};
    cfg.repositories.items = served;
    cfg.repositories.n = 1;
    cairn_err e;
    assert_int_equal(repos_open(&cfg, &e), 0);
    assert_int_equal(open_as_agent(&cfg, f.url, id, id), 1);   /* never read here yet */
    assert_int_equal(open_as_agent(&cfg, f.url, id, id), 0);   /* the same id: from memory */
    assert_int_equal(open_as_agent(&cfg, f.url, NULL, id), 1); /* asked to read */
    assert_int_equal(open_as_agent(&cfg, f.url, "another", id), 1);

    /* A repository made anew at the location: its new id is read, never the old. */
    char path[200];
    snprintf(path, sizeof(path), "%s/cairn.repo", f.root);
    assert_int_equal(unlink(path), 0);
    repo *r2 = NULL;
    assert_int_equal(repo_open(&r2, f.url, NULL, true, &e), 0);
    char id2[64];
    snprintf(id2, sizeof(id2), "%s", repo_id(r2));
    repo_close(r2);
    assert_string_not_equal(id, id2);
    assert_int_equal(open_as_agent(&cfg, f.url, id2, id2), 1);
    assert_int_equal(open_as_agent(&cfg, f.url, id2, id2), 0);
    /* The coordinator still naming the old id hears the new one, from the store. */
    assert_int_equal(open_as_agent(&cfg, f.url, id, id2), 1);
    repos_close(&cfg);
    assert_int_equal(repo_fixture_close(&f), 0);
}

/* agent.yaml's `repositories:` list of maps. */
static void test_config_repositories(void **state)
{
    (void)state;
    agent_config c;
    cairn_err e;
    assert_int_equal(load_text("cluster: c1\ninsecure: true\nrepositories:\n"
                               "  - location: file:///srv/a\n"
                               "  - location: s3://bkt/p?endpoint=http://h:1\n"
                               "    s3:\n      access_key_id: AK\n      secret_access_key: SK\n",
                               &c, &e),
                     0);
    assert_int_equal(c.repositories.n, 2);
    agent_repository *r = c.repositories.items;
    assert_string_equal(r[0].location, "file:///srv/a");
    assert_null(r[0].s3.access_key_id);
    assert_string_equal(r[1].location, "s3://bkt/p?endpoint=http://h:1");
    assert_string_equal(r[1].s3.access_key_id, "AK");
    assert_int_equal(repos_open(&c, &e), 0);
    assert_null(r[0].store);
    assert_non_null(r[1].store);
    repos_close(&c);
    agent_config_free(&c);

    assert_int_equal(load_text("cluster: c1\ninsecure: true\n", &c, &e), 0);
    assert_int_equal(c.repositories.n, 0);
    agent_config_free(&c);

    assert_int_equal(load_text("cluster: c1\ninsecure: true\nrepositories:\n"
                               "  - location: file:///srv/a/../b\n",
                               &c, &e),
                     CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "repositories[0]"));
    assert_non_null(strstr(e.msg, "not canonical"));
    assert_int_not_equal(
        load_text("cluster: c1\ninsecure: true\nrepositories:\n  - s3: {}\n", &c, &e), 0);
    assert_non_null(strstr(e.msg, "location"));
    assert_int_not_equal(
        load_text("cluster: c1\ninsecure: true\nrepositories:\n  - file:///a\n", &c, &e), 0);
    assert_non_null(strstr(e.msg, "must be a map"));
    assert_int_not_equal(
        load_text("cluster: c1\ninsecure: true\nrepositories: file:///a\n", &c, &e), 0);
    assert_non_null(strstr(e.msg, "list of maps"));
}

/* request_check: repeated tables done once, bad ids refused, restore repeats refused. */
static void test_request_check(void **state)
{
    (void)state;
    Cairn__Rpc__Table t[4];
    Cairn__Rpc__Table *tp[4];
    static const char *const names[] = {"a", "b", "a", "a"};
    for (int i = 0; i < 4; i++) {
        cairn__rpc__table__init(&t[i]);
        t[i].keyspace = (char *)"ks";
        t[i].name = (char *)names[i];
        tp[i] = &t[i];
    }
    Cairn__Rpc__SnapshotRequest sr = CAIRN__RPC__SNAPSHOT_REQUEST__INIT;
    sr.tag = (char *)"x";
    sr.tables = tp;
    sr.n_tables = 4;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_SNAPSHOT;
    rq.snapshot = &sr;
    /* Packed and unpacked, so request_check may free the repeats. */
    uint8_t *buf;
    size_t len;
    cairn_err e;
    assert_int_equal(wire_pack_request(&rq, CLUSTER, 1, &buf, &len, &e), 0);
    Cairn__Rpc__Request *in = NULL;
    assert_int_equal(wire_unpack_request(buf, len, CLUSTER, &in, &e), 0);
    assert_int_equal(request_check(in, &e), 0);
    assert_int_equal(in->snapshot->n_tables, 2);
    assert_string_equal(in->snapshot->tables[0]->name, "a");
    assert_string_equal(in->snapshot->tables[1]->name, "b");
    cairn__rpc__request__free_unpacked(in, NULL);
    free(buf);

    t[2].id = (char *)"0123456789abcdef0123456789abcdef";
    t[3].id = (char *)"fedcba9876543210fedcba9876543210";
    assert_int_equal(wire_pack_request(&rq, CLUSTER, 1, &buf, &len, &e), 0);
    assert_int_equal(wire_unpack_request(buf, len, CLUSTER, &in, &e), 0);
    assert_int_equal(request_check(in, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "different table ids"));
    cairn__rpc__request__free_unpacked(in, NULL);
    free(buf);

    t[3].id = (char *)"../../x";
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "table id"));

    Cairn__Rpc__RestoreTable r1 = CAIRN__RPC__RESTORE_TABLE__INIT, r2 = r1;
    r1.keyspace = r2.keyspace = (char *)"ks";
    r1.name = r2.name = (char *)"t";
    Cairn__Rpc__RestoreTable *rp[] = {&r1, &r2};
    Cairn__Rpc__RestoreRequest rs = CAIRN__RPC__RESTORE_REQUEST__INIT;
    rs.tables = rp;
    rs.n_tables = 2;
    rq.op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq.restore = &rs;
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "twice"));
    r2.name = (char *)"u";
    assert_int_equal(request_check(&rq, &e), 0);
}

/* The manifests an upload names as known must be node manifests of the cluster, with
 * their SHA-256, and only beside a parent, and not too many. */
static void test_upload_known_checked(void **state)
{
    (void)state;
    static char sha[65];
    memset(sha, 'a', 64);
    Cairn__Rpc__ManifestRef m = CAIRN__RPC__MANIFEST_REF__INIT;
    m.key = (char *)"backups/" CLUSTER "/i1/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest";
    m.sha256 = sha;
    Cairn__Rpc__ManifestRef *mp[] = {&m};
    Cairn__Rpc__UploadRequest ur = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    ur.tag = (char *)"full2";
    ur.repository = (char *)"file:///r";
    ur.known_increments = mp;
    ur.n_known_increments = 1;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    rq.cluster = (char *)CLUSTER;
    rq.op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq.upload = &ur;
    cairn_err e;
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL); /* no parent */
    assert_non_null(strstr(e.msg, "without a parent"));
    ur.parent_manifest_key =
        (char *)"backups/" CLUSTER "/base/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest";
    ur.parent_manifest_sha256 = sha;
    assert_int_equal(request_check(&rq, &e), 0);
    m.key = (char *)"backups/" CLUSTER "/i1/nodes/../../../etc/passwd.manifest";
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "known increment 0"));
    m.key = (char *)"backups/other/i1/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest";
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL);
    ur.n_known_increments = 4097;
    assert_int_equal(request_check(&rq, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "beyond 4096"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repos),
        cmocka_unit_test(test_repos_remembered),
        cmocka_unit_test(test_config_repositories),
        cmocka_unit_test(test_request_check),
        cmocka_unit_test(test_upload_known_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
