/* cairn: backs up and restores a whole ScyllaDB cluster through its agents. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"
#include "base/debug.h"
#include "base/log.h"
#include "store/s3/store_s3.h"

typedef int (*config_cmd)(const coord_config *cfg, int argc, char **argv);

/* The commands that need the configuration; cmdhelp has the words of every command. */
static const struct {
    const char *name;
    config_cmd fn;
} config_cmds[] = {
    {"status", cmd_status},
    {"backup", cmd_backup},
    {"list", cmd_list},
    {"show", cmd_show},
    {"repo", cmd_repo},
    {"restore", cmd_restore},
    {"delete", cmd_delete},
    {"expire", cmd_expire},
    {"info", cmd_info},
    {"snapshots", cmd_snapshots},
    {"purge", cmd_purge},
    {"verify", cmd_verify},
    {"incremental", cmd_incremental},
    {"check-config", cmd_check_config},
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

typedef struct global_opts {
    const char *config;
    bool check_config;
} global_opts;

/* The options before the command; returns -1 to go on with argv[*next], or the exit
 * status. */
static int parse_globals(int argc, char **argv, global_opts *g, int *next)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cairn: option '%s' needs a value\n", a);
                cmdhelp_overview(stderr);
                return CMD_USAGE;
            }
            g->config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            g->config = a + 9;
        } else if (strcmp(a, "-v") == 0) {
            log_set_level(LOG_LEVEL_DEBUG);
        } else if (strcmp(a, "--check-config") == 0) {
            g->check_config = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cmdhelp_overview(stdout);
            return CMD_OK;
        } else {
            fprintf(stderr, "cairn: unknown option '%s'\n", a);
            cmdhelp_overview(stderr);
            return CMD_USAGE;
        }
    }
    *next = i;
    return -1;
}

/* `cairn help [COMMAND [SUBCOMMAND]]`. */
static int help(int argc, char **argv)
{
    if (argc < 2) {
        cmdhelp_overview(stdout);
        return CMD_OK;
    }
    const cmdhelp *h = cmdhelp_of(argc - 1, argv + 1);
    if (!h) {
        fprintf(stderr, "cairn help: unknown command '%s'\n", argv[1]);
        cmdhelp_overview(stderr);
        return CMD_USAGE;
    }
    cmdhelp_print(stdout, h);
    return CMD_OK;
}

/* `cairn version`, which takes nothing. */
static int version(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "cairn version: unknown %s '%s'\n",
                argv[1][0] == '-' ? "option" : "argument", argv[1]);
        cmdhelp_print_name(stderr, "version");
        return CMD_USAGE;
    }
    printf("cairn %s\n", CAIRN_VERSION);
    return CMD_OK;
}

/* Loads the configuration and runs fn with it. A configuration that cannot be used,
 * its repository location or s3: settings included, is exit 2 (docs/cli.md). */
static int run_with_config(const char *config, config_cmd fn, int argc, char **argv)
{
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
        fprintf(stderr, "cairn: %s: %s\n", config, e.msg);
        rc = rc == CAIRN_ENOMEM ? CMD_FAILED : CMD_USAGE;
    } else {
        rc = fn(&cfg, argc, argv);
    }
    store_options_free(cfg.store);
    curl_global_cleanup();
    coord_config_free(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    global_opts g = {NULL, false};
    int i = 0;
    int rc = parse_globals(argc, argv, &g, &i);
    if (rc >= 0)
        return rc;
    char *check[] = {"check-config", NULL};
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    if (g.check_config && sub_argc == 0) {
        sub_argc = 1;
        sub_argv = check;
    } else if (g.check_config && strcmp(sub_argv[0], "check-config") != 0) {
        fprintf(stderr, "cairn: --check-config runs alone, not with '%s'\n", sub_argv[0]);
        return CMD_USAGE;
    }
    if (sub_argc == 0) {
        cmdhelp_overview(stderr);
        return CMD_USAGE;
    }
    const char *cmd = sub_argv[0];
    const cmdhelp *h = cmdhelp_of(sub_argc, sub_argv);
    if (!h) {
        fprintf(stderr, "cairn: unknown command '%s'\n", cmd);
        cmdhelp_overview(stderr);
        return CMD_USAGE;
    }
    if (strcmp(cmd, "help") == 0)
        return help(sub_argc, sub_argv);
    /* Before the configuration: help must work where there is none yet. */
    if (cmdhelp_wanted(sub_argc, sub_argv)) {
        cmdhelp_print(stdout, h);
        return CMD_OK;
    }
    /* A subcommand's options follow its name: `certs issue --dir D`. */
    bool sub = strchr(cmdhelp_name(h), ' ') != NULL;
    if ((rc = cliopt_precheck(h, sub_argc - sub, sub_argv + sub)) != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(cmd, "version") == 0)
        return version(sub_argc, sub_argv);
    if (strcmp(cmd, "certs") == 0)
        return cmd_certs(sub_argc, sub_argv);
    for (size_t k = 0; k < sizeof(config_cmds) / sizeof(config_cmds[0]); k++)
        if (strcmp(cmd, config_cmds[k].name) == 0)
            return run_with_config(g.config, config_cmds[k].fn, sub_argc, sub_argv);
    CAIRN_ASSERT(false); /* cmdhelp knows a command that main does not run */
    return CMD_FAILED;
}
