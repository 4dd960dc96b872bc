/*
 * check_config - `cairn check-config` (also `cairn --check-config`): the configuration
 * loaded, and then what loading does not look at: whether this user can open every
 * file it names, as the commands will.
 */
#include <stdio.h>
#include <string.h>

#include "base/confcheck.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"

int cmd_check_config(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        if (c != 'h')
            return cliopt_bad("check-config", c, argv);
        cliopt_help("check-config");
        return CMD_OK;
    }
    if (optind != argc) {
        fprintf(stderr, "cairn check-config: unexpected argument '%s'\n", argv[optind]);
        cmdhelp_print_name(stderr, "check-config");
        return CMD_USAGE;
    }
    confcheck k;
    confcheck_init(&k, stderr);
    if (!cfg->insecure)
        confcheck_tls(&k, cfg->tls_ca, cfg->tls_cert, cfg->tls_key);
    /* The loader took the location apart already; a file:// one must be there now, or
     * it is a shared file system that is not mounted. */
    if (!cfg->repository)
        fprintf(stderr,
                "warning: %s: no `repository`: backup, restore and the repository "
                "commands need one\n",
                cfg->path);
    else if (strncmp(cfg->repository, "file://", 7) == 0)
        confcheck_writable_dir(&k, "repository", cfg->repository + 7);
    return confcheck_verdict(&k, cfg->path) ? CMD_OK : CMD_USAGE;
}
