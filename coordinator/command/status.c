/* status - is every node of the cluster ready for a backup, and does every agent see
 * the repository? */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet/check.h"
#include "cmd.h"

static const char *agent_state(const check_node *n)
{
    switch (n->agent) {
    case CHECK_AGENT_OK:
        return "ok";
    case CHECK_AGENT_MISSING:
        return "missing";
    default:
        return n->silent ? "not answering" : "unreachable";
    }
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static void print_table(const coord_config *cfg, const check_result *r)
{
    printf("cluster %s: %s\n\n", cfg->cluster, r->ready ? "ready" : "NOT READY");
    printf("%-36s  %-15s  %-8s  %-8s  %-24s  %-5s  %s\n", "HOST ID", "ADDRESS", "DC", "RACK",
           "VERSION", "STATE", "AGENT");
    for (size_t i = 0; i < r->n_nodes; i++) {
        const check_node *n = &r->nodes[i];
        char agent[64];
        if (n->agent == CHECK_AGENT_OK)
            snprintf(agent, sizeof(agent), "ok %ld ms", n->rtt_ms);
        else if (n->agent == CHECK_AGENT_UNREACHABLE)
            snprintf(agent, sizeof(agent), "%s (%s)", agent_state(n), n->agent_addr);
        else
            snprintf(agent, sizeof(agent), "missing");
        printf("%-36s  %-15s  %-8s  %-8s  %-24s  %-5s  %s\n", or_dash(n->host_id),
               or_dash(n->address), or_dash(n->dc), or_dash(n->rack), or_dash(n->version),
               n->agent == CHECK_AGENT_UNREACHABLE ? "?" : (n->up ? "UP" : "DOWN"), agent);
    }
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

static void print_json(const coord_config *cfg, const check_result *r)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "cluster", json_object_new_string(cfg->cluster));
    json_object_object_add(root, "ready", json_object_new_boolean(r->ready));
    json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < r->n_nodes; i++) {
        const check_node *n = &r->nodes[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "host_id", jstr(n->host_id));
        json_object_object_add(o, "address", jstr(n->address));
        json_object_object_add(o, "dc", jstr(n->dc));
        json_object_object_add(o, "rack", jstr(n->rack));
        json_object_object_add(o, "version", jstr(n->version));
        json_object_object_add(o, "up", json_object_new_boolean(n->up));
        json_object_object_add(o, "agent", json_object_new_string(agent_state(n)));
        json_object_object_add(o, "agent_address", jstr(n->agent_addr));
        if (n->agent == CHECK_AGENT_OK)
            json_object_object_add(o, "rtt_ms", json_object_new_int64(n->rtt_ms));
        json_object_array_add(nodes, o);
    }
    json_object_object_add(root, "nodes", nodes);
    json_object *problems = json_object_new_array();
    for (size_t i = 0; i < r->n_problems; i++)
        json_object_array_add(problems, json_object_new_string(r->problems[i]));
    json_object_object_add(root, "problems", problems);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

int cmd_status(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else {
            fprintf(c == 'h' ? stdout : stderr, "usage: cairn [-c FILE] status [--json]\n");
            return c == 'h' ? CMD_OK : CMD_USAGE;
        }
    }
    cairn_err e;
    err_clear(&e);
    fleet *f = NULL;
    check_result r;
    memset(&r, 0, sizeof(r));
    if (fleet_open(&f, cfg, &e) != 0 || check_cluster(f, &r, &e) != 0 ||
        (cfg->repository &&
         check_repository(f, cfg->repository, cfg->store, (unsigned)cfg->parallel, &r, &e) != 0)) {
        fprintf(stderr, "cairn: %s\n", e.msg);
        check_result_free(&r);
        fleet_close(f);
        return CMD_FAILED;
    }
    if (json)
        print_json(cfg, &r);
    else
        print_table(cfg, &r);
    int rc = r.ready ? CMD_OK : CMD_FAILED;
    check_result_free(&r);
    fleet_close(f);
    return rc;
}
