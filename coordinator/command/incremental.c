/*
 * incremental - `cairn incremental enable|disable`: ScyllaDB's incremental backups on
 * every node, set at runtime through its REST API.
 *
 * The runtime setting does not survive a restart of ScyllaDB: scylla.yaml's
 * `incremental_backups: true` does, and the command says so. Every node is asked,
 * and each answer is printed; the command fails when any node could not be set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cmd.h"
#include "fleet/fleet.h"

typedef struct incr_run {
    bool enable;
    cairn_err *errs; /* per agent; code 0: set */
} incr_run;

static void set_one(fleet *f, size_t i, void *arg)
{
    incr_run *run = arg;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__IncrementalBackupsRequest ir = CAIRN__RPC__INCREMENTAL_BACKUPS_REQUEST__INIT;
    ir.enable = run->enable;
    rq.op_case = CAIRN__RPC__REQUEST__OP_INCREMENTAL_BACKUPS;
    rq.incremental_backups = &ir;
    err_clear(&run->errs[i]);
    fleet_call_ok(f, i, &rq, fleet_timeout_ms(f), &run->errs[i]);
}

static void report(fleet *f, const incr_run *run, bool json)
{
    json_object *arr = json ? json_object_new_array() : NULL;
    for (size_t i = 0; i < fleet_size(f); i++) {
        const char *addr = fleet_get(f, i)->addr;
        const cairn_err *e = &run->errs[i];
        if (json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "agent", json_object_new_string(addr));
            json_object_object_add(o, "ok", json_object_new_boolean(e->code == 0));
            if (e->code)
                json_object_object_add(o, "error", json_object_new_string(e->msg));
            json_object_array_add(arr, o);
        } else if (e->code) {
            fprintf(stderr, "cairn incremental: node %s: %s\n", addr, e->msg);
        } else {
            printf("%s: incremental backups %s\n", addr, run->enable ? "on" : "off");
        }
    }
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    } else if (run->enable) {
        fprintf(stderr, "cairn incremental: this lasts until ScyllaDB restarts; set "
                        "`incremental_backups: true` in scylla.yaml to keep it\n");
    }
}

int cmd_incremental(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    cliopt_common c;
    memset(&c, 0, sizeof(c));
    int rc = cliopt_parse("incremental", opts, NULL, NULL, &c, argc, argv);
    bool json = c.json;
    cliopt_common_free(&c);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    if (optind + 1 != argc ||
        (strcmp(argv[optind], "enable") != 0 && strcmp(argv[optind], "disable") != 0)) {
        fprintf(stderr, "cairn incremental: say `enable` or `disable`\n");
        return CMD_USAGE;
    }
    incr_run run = {.enable = strcmp(argv[optind], "enable") == 0};
    fleet *f = NULL;
    cairn_err e;
    if (fleet_open(&f, cfg, &e) != 0) {
        fprintf(stderr, "cairn incremental: %s\n", e.msg);
        return CMD_FAILED;
    }
    if (!(run.errs = calloc(fleet_size(f) ? fleet_size(f) : 1, sizeof(*run.errs)))) {
        fleet_close(f);
        fprintf(stderr, "cairn incremental: out of memory\n");
        return CMD_FAILED;
    }
    fleet_each(f, NULL, fleet_size(f), (unsigned)cfg->parallel, set_one, &run);
    report(f, &run, json);
    size_t failed = 0;
    for (size_t i = 0; i < fleet_size(f); i++)
        failed += run.errs[i].code != 0;
    free(run.errs);
    fleet_close(f);
    return failed ? CMD_FAILED : CMD_OK;
}
