/* status - is every node of the cluster ready for a backup, does every agent see the
 * repository, how old is the last complete backup, and what runs on the agents now?
 * With --watch it redraws until interrupted, so a second terminal can follow a
 * backup. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cli/human.h"
#include "cli/interrupt.h"
#include "cmd.h"
#include "command/catalog.h"
#include "fleet/check.h"
#include "repo/repo.h"

typedef struct status_opts {
    bool json, watch;
    unsigned interval_s;
} status_opts;

/* The newest complete backup of the cluster; found is false when there is none. */
typedef struct last_backup {
    bool found;
    char tag[160];
    uint64_t end_ms;
} last_backup;

static const char *agent_state(const check_node *n)
{
    switch (n->agent) {
    case CHECK_AGENT_OK:
        return "ok";
    case CHECK_AGENT_MISSING:
        return "missing";
    default:
        return check_fault_label(n->fault);
    }
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static int take_newest(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m,
                       cairn_err *e)
{
    (void)e;
    last_backup *lb = ctx;
    lb->found = true;
    snprintf(lb->tag, sizeof(lb->tag), "%s", tag);
    lb->end_ms = m->end_ms;
    return 1; /* newest first: the first is the one */
}

/* From the repository's cluster manifests; a repository not created yet has none. */
static int find_last_backup(const coord_config *cfg, last_backup *lb, cairn_err *e)
{
    memset(lb, 0, sizeof(*lb));
    if (!cfg->repository)
        return 0;
    repo *r = NULL;
    int rc = repo_open(&r, cfg->repository, cfg->store, false, e);
    if (rc == CAIRN_ENOENT) {
        err_clear(e);
        return 0;
    }
    if (!rc)
        rc = catalog_each(r, cfg->cluster, take_newest, lb, e);
    repo_close(r);
    return rc == 1 ? 0 : rc;
}

static void print_last_backup(const last_backup *lb)
{
    char when[40], age[32];
    if (!lb->found) {
        printf("last complete backup: none\n");
        return;
    }
    uint64_t now = human_now_ms();
    printf("last complete backup: %s, finished %s (%s ago)\n", lb->tag,
           human_time(lb->end_ms, when, sizeof(when)),
           human_duration(now > lb->end_ms ? now - lb->end_ms : 0, age, sizeof(age)));
}

/* One line per job running on an agent: "backup TAG 42% (1.2 GiB of 2.9 GiB)". */
static void print_jobs(fleet *f, const check_result *r)
{
    bool any = false;
    for (size_t i = 0; i < r->n_nodes; i++) {
        const check_node *n = &r->nodes[i];
        const Cairn__Rpc__NodeInfo *info =
            n->agent == CHECK_AGENT_OK ? fleet_get(f, n->agent_index)->info : NULL;
        for (size_t k = 0; info && k < info->n_jobs; k++) {
            const Cairn__Rpc__JobInfo *j = info->jobs[k];
            char done[32], total[32];
            if (!any)
                printf("\nrunning on the agents:\n");
            any = true;
            printf("  %-15s  %s %s %llu%% (%s of %s)\n", or_dash(n->address), or_dash(j->kind),
                   or_dash(j->tag),
                   (unsigned long long)(j->bytes_total ? j->bytes_done * 100 / j->bytes_total : 0),
                   human_bytes(j->bytes_done, done, sizeof(done)),
                   human_bytes(j->bytes_total, total, sizeof(total)));
        }
    }
    if (!any)
        printf("\nno backup or restore is running on the agents\n");
}

static void print_table(const coord_config *cfg, fleet *f, const check_result *r,
                        const last_backup *lb)
{
    printf("cluster %s: %s\n", cfg->cluster, r->ready ? "ready" : "NOT READY");
    print_last_backup(lb);
    printf("\n%-36s  %-15s  %-8s  %-8s  %-24s  %-5s  %-4s  %-10s  %s\n", "HOST ID", "ADDRESS", "DC",
           "RACK", "VERSION", "STATE", "INCR", "BACKUPS/", "AGENT");
    for (size_t i = 0; i < r->n_nodes; i++) {
        const check_node *n = &r->nodes[i];
        char agent[320];
        if (n->agent == CHECK_AGENT_OK)
            snprintf(agent, sizeof(agent), "ok %ld ms", n->rtt_ms);
        else if (n->agent == CHECK_AGENT_UNREACHABLE)
            snprintf(agent, sizeof(agent), "%s (%s)", agent_state(n), n->agent_addr);
        else
            snprintf(agent, sizeof(agent), "missing");
        const Cairn__Rpc__NodeInfo *info =
            n->agent == CHECK_AGENT_OK ? fleet_get(f, n->agent_index)->info : NULL;
        char waiting[32] = "-";
        if (info && info->has_backups_bytes)
            human_bytes(info->backups_bytes, waiting, sizeof(waiting));
        printf("%-36s  %-15s  %-8s  %-8s  %-24s  %-5s  %-4s  %-10s  %s\n", or_dash(n->host_id),
               or_dash(n->address), or_dash(n->dc), or_dash(n->rack), or_dash(n->version),
               n->agent == CHECK_AGENT_UNREACHABLE ? "?" : (n->up ? "UP" : "DOWN"),
               !info || !info->has_incremental_backups ? "-"
               : info->incremental_backups             ? "on"
                                                       : "off",
               waiting, agent);
    }
    print_jobs(f, r);
    if (r->n_problems) {
        printf("\n");
        fflush(stdout);
        check_print_problems(r);
    }
}

static json_object *jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *jint(uint64_t v)
{
    return json_object_new_int64((int64_t)v);
}

static json_object *jobs_json(const Cairn__Rpc__NodeInfo *info)
{
    json_object *a = json_object_new_array();
    for (size_t k = 0; info && k < info->n_jobs; k++) {
        const Cairn__Rpc__JobInfo *j = info->jobs[k];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "job_id", jstr(j->job_id));
        json_object_object_add(o, "kind", jstr(j->kind));
        json_object_object_add(o, "tag", jstr(j->tag));
        json_object_object_add(o, "files_done", jint(j->files_done));
        json_object_object_add(o, "files_total", jint(j->files_total));
        json_object_object_add(o, "bytes_done", jint(j->bytes_done));
        json_object_object_add(o, "bytes_total", jint(j->bytes_total));
        json_object_array_add(a, o);
    }
    return a;
}

static json_object *node_json(fleet *f, const check_node *n)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "host_id", jstr(n->host_id));
    json_object_object_add(o, "address", jstr(n->address));
    json_object_object_add(o, "dc", jstr(n->dc));
    json_object_object_add(o, "rack", jstr(n->rack));
    json_object_object_add(o, "version", jstr(n->version));
    json_object_object_add(o, "up", json_object_new_boolean(n->up));
    json_object_object_add(o, "agent", json_object_new_string(agent_state(n)));
    json_object_object_add(o, "agent_address", jstr(n->agent_addr));
    if (n->agent == CHECK_AGENT_OK) {
        json_object_object_add(o, "rtt_ms", json_object_new_int64(n->rtt_ms));
        const Cairn__Rpc__NodeInfo *info = fleet_get(f, n->agent_index)->info;
        json_object_object_add(o, "jobs", jobs_json(info));
        json_object_object_add(o, "incremental_backups",
                               info && info->has_incremental_backups
                                   ? json_object_new_boolean(info->incremental_backups)
                                   : NULL);
        json_object_object_add(o, "backups_files", jint(info ? info->backups_files : 0));
        json_object_object_add(o, "backups_bytes", jint(info ? info->backups_bytes : 0));
    }
    return o;
}

static void print_json(const coord_config *cfg, fleet *f, const check_result *r,
                       const last_backup *lb)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "cluster", json_object_new_string(cfg->cluster));
    json_object_object_add(root, "ready", json_object_new_boolean(r->ready));
    json_object *last = NULL;
    if (lb->found) {
        uint64_t now = human_now_ms();
        last = json_object_new_object();
        json_object_object_add(last, "tag", json_object_new_string(lb->tag));
        json_object_object_add(last, "end_ms", jint(lb->end_ms));
        json_object_object_add(last, "age_s",
                               jint(now > lb->end_ms ? (now - lb->end_ms) / 1000 : 0));
    }
    json_object_object_add(root, "last_backup", last);
    json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < r->n_nodes; i++)
        json_object_array_add(nodes, node_json(f, &r->nodes[i]));
    json_object_object_add(root, "nodes", nodes);
    json_object *problems = json_object_new_array();
    for (size_t i = 0; i < r->n_problems; i++)
        json_object_array_add(problems, json_object_new_string(r->problems[i]));
    json_object_object_add(root, "problems", problems);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static int parse_args(status_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"watch", no_argument, NULL, 'w'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (status_opts){.interval_s = 2};
    bool interval = false;
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        char *end;
        if (c == 'j') {
            o->json = true;
        } else if (c == 'w') {
            o->watch = true;
        } else if (c == 'i') {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v < 1 || v > 3600) {
                fprintf(stderr, "cairn status: --interval takes seconds, 1 to 3600, not '%s'\n",
                        optarg);
                return CMD_USAGE;
            }
            o->interval_s = (unsigned)v;
            interval = true;
        } else if (c == 'h') {
            return cliopt_help("status");
        } else {
            return cliopt_bad("status", c, argv);
        }
    }
    if (optind != argc || (interval && !o->watch)) {
        fprintf(stderr, "cairn status: %s\n",
                optind != argc ? "unexpected argument" : "--interval goes with --watch");
        cmdhelp_print_name(stderr, "status");
        return CMD_USAGE;
    }
    return 0;
}

/* One look at the cluster, printed; CMD_OK when it is ready for a backup. */
static int status_once(const coord_config *cfg, fleet *f, const status_opts *o)
{
    cairn_err e;
    err_clear(&e);
    check_result r;
    last_backup lb;
    if (check_cluster(f, &r, &e) != 0 ||
        (cfg->repository &&
         check_repository(f, cfg->repository, cfg->store, (unsigned)cfg->parallel, &r, &e) != 0) ||
        find_last_backup(cfg, &lb, &e) != 0) {
        fprintf(stderr, "cairn status: %s\n", e.msg);
        check_result_free(&r);
        return CMD_FAILED;
    }
    if (o->json)
        print_json(cfg, f, &r, &lb);
    else
        print_table(cfg, f, &r, &lb);
    int rc = r.ready ? CMD_OK : CMD_FAILED;
    check_result_free(&r);
    return rc;
}

/* Redraws every interval until SIGINT or SIGTERM, which ends the watch (exit 0). On a
 * terminal each look replaces the last; elsewhere they follow each other. */
static void watch(const coord_config *cfg, fleet *f, const status_opts *o)
{
    bool tty = isatty(STDOUT_FILENO) && !o->json;
    interrupt_install();
    while (!interrupt_requested()) {
        if (tty)
            printf("\033[H\033[2J");
        status_once(cfg, f, o);
        if (!tty)
            printf("\n");
        fflush(stdout);
        for (unsigned t = 0; t < o->interval_s * 10 && !interrupt_requested(); t++)
            nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
}

int cmd_status(const coord_config *cfg, int argc, char **argv)
{
    status_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    fleet *f = NULL;
    if (fleet_open(&f, cfg, &e) != 0) {
        fprintf(stderr, "cairn status: %s\n", e.msg);
        return CMD_FAILED;
    }
    if (o.watch)
        watch(cfg, f, &o);
    else
        rc = status_once(cfg, f, &o);
    fleet_close(f);
    return rc;
}
