/* cairn-agent: the per-node service the coordinator drives. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent.h"
#include "base/confcheck.h"
#include "base/log.h"
#include "store/s3/store_s3.h"
#include "net/transport.h"
#include "preflight.h"
#include "reload.h"
#include "repos/repos.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn-agent [-c FILE] [--check-config] [--version] [--help]\n"
               "  -c, --config FILE  agent configuration (default /etc/cairn/agent.yaml);\n"
               "                     relative paths in it are read from its directory\n"
               "  --check-config     load and check the configuration, then exit: 0 when it is\n"
               "                     usable, 2 naming the problem\n"
               "  --version          print the version\n"
               "  -h, --help         print this help\n");
}

/* How long a stopping agent waits for its jobs: they stop within a chunk of a file,
 * but one stuck in a ScyllaDB or store call is only bounded by that call's limit. */
#define STOP_LIMIT_S 20

static void *stop_watchdog(void *arg)
{
    (void)arg;
    sleep(STOP_LIMIT_S);
    log_error("jobs did not stop within %d s of the signal: exiting now; a job's "
              "temporary objects (names starting with '.') may be left in the repository",
              STOP_LIMIT_S);
    _exit(1);
    return NULL;
}

/* A reason not to start goes to the terminal, and to the log file when there is one
 * (otherwise the log is the terminal). */
static void say_failure(const agent_config *cfg, const char *msg)
{
    fprintf(stderr, "cairn-agent: %s\n", msg);
    if (cfg->log_file)
        log_error("%s", msg);
}

/* scylla.cql_tls's files, as check_config reports them. */
static void check_cql_tls(confcheck *k, const agent_config *cfg, const char *path)
{
    const cql_tls *t = &cfg->scylla_cql_tls;
    if (!cql_tls_on(t))
        return;
    unsigned before = k->problems;
    if (t->ca)
        confcheck_readable(k, "scylla.cql_tls.ca", t->ca);
    if (t->cert) {
        confcheck_readable(k, "scylla.cql_tls.cert", t->cert);
        confcheck_private_key(k, "scylla.cql_tls.key", t->key);
    }
    cairn_err e;
    err_clear(&e);
    /* What the files hold, once they all open: a file is reported once. */
    if (k->problems == before && preflight_cql_tls(cfg, path, &e) != 0)
        confcheck_problem(k, "%s", e.msg);
    if (t->skip_verify)
        fprintf(k->out,
                "warning: scylla.cql_tls.insecure_skip_verify: the node's certificate is not "
                "verified: set it to false once scylla.cql_tls.ca holds the node's CA\n");
}

/* --check-config: every problem, one a line with its fix (not only the first one that
 * would stop the agent), then the verdict; 0 when the agent would start. */
static int check_config(const agent_config *cfg, const char *path)
{
    confcheck k;
    confcheck_init(&k, stderr);
    if (!cfg->insecure)
        confcheck_tls(&k, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    /* A file:// repository is a shared file system the agent writes into: it must be
     * mounted now. */
    const agent_repository *repos = cfg->repositories.items;
    for (size_t i = 0; i < cfg->repositories.n; i++)
        if (strncmp(repos[i].location, "file://", 7) == 0)
            confcheck_writable_dir(&k, "repositories", repos[i].location + 7);
    cairn_err e;
    err_clear(&e);
    /* What the TLS files hold, once all three open: a file is reported once. */
    if (!cfg->insecure && k.problems == 0 && preflight_tls(cfg, path, &e) != 0) {
        confcheck_problem(&k, "%s", e.msg);
        err_clear(&e);
    }
    check_cql_tls(&k, cfg, path);
    if (preflight_state_dir(cfg, path, false, &e) != 0) {
        confcheck_problem(&k, "%s", e.msg);
        err_clear(&e);
    }
    return confcheck_verdict(&k, path) ? 0 : 2;
}

/* What makes scylla.cql_tls weaker than it looks, said at every start. */
static void warn_cql_tls(const cql_tls *t)
{
    struct stat st;
    if (!cql_tls_on(t))
        return;
    if (t->skip_verify)
        log_warn("scylla.cql_tls.insecure_skip_verify: true: the node's certificate is not "
                 "verified, so whoever can intercept the CQL connection can pose as the node "
                 "and read the CQL password");
    if (t->key && stat(t->key, &st) == 0 && (st.st_mode & S_IROTH))
        log_warn("scylla.cql_tls.key %s: every user can read this private key: chmod 600 %s",
                 t->key, t->key);
}

static int run(const agent_config *cfg, cairn_err *e)
{
    agent *a = NULL;
    int rc = agent_new(&a, cfg, e);
    if (rc)
        return rc;
    transport_tls tls = {cfg->tls_ca, cfg->tls_cert, cfg->tls_key};
    transport_server *srv = NULL;
    if (cfg->insecure)
        log_warn("insecure: true: serving plain tcp without authentication on %s; anyone who "
                 "reaches this port can drive the agent",
                 cfg->listen);
    rc = transport_server_start(&srv, cfg->listen, cfg->insecure ? NULL : &tls,
                                (unsigned)cfg->workers, agent_handle, a, e);
    if (rc) {
        agent_free(a);
        return rc;
    }
    log_info("cairn-agent %s serving cluster %s on %s", CAIRN_VERSION, cfg->cluster, cfg->listen);
    warn_cql_tls(&cfg->scylla_cql_tls);

    /* Signals are taken synchronously so shutdown and reload run in normal context. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        if (agent_reload(cfg, srv, e) == 0) {
            log_info("SIGHUP: reloaded the log file and the TLS certificates");
        } else {
            log_error("SIGHUP: %s; the previous certificates stay in use", e->msg);
            err_clear(e);
        }
    }
    log_info("signal %d: stopping; running jobs are cancelled", sig);
    pthread_t watchdog;
    if (pthread_create(&watchdog, NULL, stop_watchdog, NULL) == 0)
        pthread_detach(watchdog);
    transport_server_stop(srv);
    agent_free(a); /* cancels every job, removes what it had half-written, joins it */
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = "/etc/cairn/agent.yaml";
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cairn-agent: option '%s' needs a value\n", a);
                usage(stderr);
                return 2;
            }
            path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        } else if (strcmp(a, "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("cairn-agent %s\n", CAIRN_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "cairn-agent: unknown %s '%s'\n", a[0] == '-' ? "option" : "argument",
                    a);
            usage(stderr);
            return 2;
        }
    }
    /* Buffers of several MiB (a large file's zstd workers, the S3 machinery) are
     * allocated and freed by many threads, some short-lived. glibc raises its mmap
     * threshold to the size of each mmapped block freed, after which such buffers come
     * from per-thread arenas that keep their pages, and the agent's peak depends on
     * which threads happened to hold one. A fixed threshold keeps them mapped, so they
     * go back when freed. Not lower: smaller per-file buffers (a read buffer, a zstd
     * context) would then be mapped anew for every file, at a cost in page faults
     * (docs/performance.md has the figures). */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    /* Block the stop and reload signals before any thread starts, so every thread inherits it. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    cairn_err e;
    err_clear(&e);
    agent_config cfg;
    if (agent_config_load(path, &cfg, &e) != 0) {
        fprintf(stderr, "cairn-agent: %s\n", e.msg);
        return 2;
    }
    log_level level;
    int rc = log_level_parse(cfg.log_level, &level, &e);
    if (!rc && cfg.log_file)
        rc = log_open_file(cfg.log_file, &e);
    if (rc) {
        fprintf(stderr, "cairn-agent: %s: %s\n", path, e.msg);
        agent_config_free(&cfg);
        return 2;
    }
    log_set_level(level);
    if (check_only) {
        rc = check_config(&cfg, path);
        agent_config_free(&cfg);
        return rc;
    }
    rc = preflight_check(&cfg, path, &e);
    if (rc) {
        say_failure(&cfg, e.msg);
        agent_config_free(&cfg);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    store_s3_options s3; /* checked when the file was loaded */
    rc = store_s3_config_options(&cfg.s3, path, &s3, &e);
    s3.spool_dir = cfg.state_dir; /* made by the preflight */
    if (!rc)
        rc = store_options_new(&cfg.store, &s3, &e);
    if (!rc)
        rc = repos_open(&cfg, &e);
    if (!rc && cfg.repositories.n == 0)
        log_warn("%s lists no `repositories`: every upload, restore and schema request will be "
                 "refused",
                 path);
    if (!rc)
        rc = run(&cfg, &e);
    if (rc)
        say_failure(&cfg, e.msg);
    repos_close(&cfg);
    store_options_free(cfg.store);
    curl_global_cleanup();
    agent_config_free(&cfg);
    return rc ? 1 : 0;
}
