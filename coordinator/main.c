/* cairn: backs up and restores a whole ScyllaDB cluster through its agents. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cmd.h"
#include "base/log.h"
#include "store/s3/store_s3.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn [-c CLUSTER.yaml] [-v] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  status [--json]             is every node ready for a backup?\n"
            "  backup [--tag T] [--keyspace GLOB]... [--exclude GLOB]... [--keep-snapshot]\n"
            "         [--parallel N] [--rate-limit MiB/s] [--no-retention] [--json]\n"
            "                              back up the whole cluster\n"
            "  list [--json]               complete backups, newest first\n"
            "  show TAG|latest [--json] [--files]\n"
            "                              what a backup holds\n"
            "  restore TAG|latest [--from-cluster NAME] [--keyspace GLOB]... [--exclude GLOB]...\n"
            "          [--schema] [--no-data] [--method auto|refresh|load-and-stream]\n"
            "          [--parallel N] [--json]\n"
            "                              play a backup back onto the cluster\n"
            "  delete TAG... [--yes] [--json]\n"
            "                              remove backups (their blobs stay for purge)\n"
            "  expire [--dry-run] [--json] apply the retention policy of the configuration\n"
            "  snapshots [--clear] [--json]\n"
            "                              snapshots cairn left on the nodes\n"
            "  info [--json]               the repository: id, format, size, retention\n"
            "  purge [--dry-run] [--grace DURATION] [--json]\n"
            "                              remove what no complete backup references\n"
            "  verify [TAG|--all] [--read-data[=PERCENT]] [--repair] [--json]\n"
            "                              check that backups are whole and intact\n"
            "  repo init                   create the repository\n"
            "  certs init|issue ...        create the cluster CA and certificates\n"
            "  version                     print the version\n"
            "\n"
            "  -c FILE   cluster configuration (default: ./cairn.yaml, then "
            "/etc/cairn/cluster.yaml)\n"
            "  -v        verbose logging\n"
            "See docs/ for the user guide.\n");
}

typedef int (*config_cmd)(const coord_config *cfg, int argc, char **argv);

static const struct {
    const char *name;
    config_cmd fn;
} config_cmds[] = {
    {"status", cmd_status},       {"backup", cmd_backup}, {"list", cmd_list},
    {"show", cmd_show},           {"repo", cmd_repo},     {"restore", cmd_restore},
    {"delete", cmd_delete},       {"expire", cmd_expire}, {"info", cmd_info},
    {"snapshots", cmd_snapshots}, {"purge", cmd_purge},   {"verify", cmd_verify},
};

static const char *default_config(void)
{
    FILE *f = fopen("cairn.yaml", "r");
    if (f) {
        fclose(f);
        return "cairn.yaml";
    }
    return "/etc/cairn/cluster.yaml";
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CMD_OK;
        } else {
            fprintf(stderr, "cairn: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CMD_USAGE;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "version") == 0) {
        printf("cairn %s\n", CAIRN_VERSION);
        return CMD_OK;
    }
    if (strcmp(cmd, "certs") == 0)
        return cmd_certs(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CMD_OK;
    }
    for (size_t k = 0; k < sizeof(config_cmds) / sizeof(config_cmds[0]); k++) {
        if (strcmp(cmd, config_cmds[k].name) != 0)
            continue;
        coord_config cfg;
        cairn_err e;
        err_clear(&e);
        if (!config)
            config = default_config();
        if (coord_config_load(config, &cfg, &e) != 0) {
            fprintf(stderr, "cairn: %s\n", e.msg);
            return CMD_USAGE;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        store_s3_options s3; /* checked when the file was loaded */
        int rc = store_s3_config_options(&cfg.s3, config, &s3, &e);
        if (!rc)
            rc = store_options_new(&cfg.store, &s3, &e);
        if (rc) {
            fprintf(stderr, "cairn: %s\n", e.msg);
            rc = CMD_FAILED;
        } else {
            rc = config_cmds[k].fn(&cfg, sub_argc, sub_argv);
        }
        store_options_free(cfg.store);
        curl_global_cleanup();
        coord_config_free(&cfg);
        return rc;
    }
    fprintf(stderr, "cairn: unknown command '%s'\n", cmd);
    usage(stderr);
    return CMD_USAGE;
}
