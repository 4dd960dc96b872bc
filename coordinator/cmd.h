/*
 * cmd - the coordinator's subcommands. Each returns the process exit status:
 * 0 success, 1 the operation failed or the cluster is not ready, 2 bad usage or
 * configuration (docs/cli.md lists them).
 */
#ifndef CAIRN_CMD_H
#define CAIRN_CMD_H

#include "coord_config.h"

enum { CMD_OK = 0, CMD_FAILED = 1, CMD_USAGE = 2 };

int cmd_status(const coord_config *cfg, int argc, char **argv);
int cmd_backup(const coord_config *cfg, int argc, char **argv);
int cmd_list(const coord_config *cfg, int argc, char **argv);
int cmd_show(const coord_config *cfg, int argc, char **argv);
int cmd_repo(const coord_config *cfg, int argc, char **argv);
int cmd_restore(const coord_config *cfg, int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_delete(const coord_config *cfg, int argc, char **argv);
int cmd_expire(const coord_config *cfg, int argc, char **argv);
int cmd_info(const coord_config *cfg, int argc, char **argv);
int cmd_snapshots(const coord_config *cfg, int argc, char **argv);
int cmd_purge(const coord_config *cfg, int argc, char **argv);
int cmd_verify(const coord_config *cfg, int argc, char **argv);
int cmd_incremental(const coord_config *cfg, int argc, char **argv);
int cmd_check_config(const coord_config *cfg, int argc, char **argv);

#endif
