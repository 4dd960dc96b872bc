/*
 * expire - applying the retention policy of cluster.yaml to the repository: `cairn
 * expire` and the pass after every successful backup.
 */
#ifndef CAIRN_EXPIRE_H
#define CAIRN_EXPIRE_H

#include <json-c/json.h>

#include "coord_config.h"
#include "repo/repo.h"

/* After a successful backup: applies the policy when one is configured, reporting on
 * stderr. A failure is a warning (the backup is recorded either way), telling the
 * operator to run `cairn expire`. */
void retention_after_backup(const coord_config *cfg, repo *r);

/* The policy's rules as a JSON object of the configured keys; NULL when none is set. */
json_object *retention_policy_json(const retention_policy *p);

#endif
