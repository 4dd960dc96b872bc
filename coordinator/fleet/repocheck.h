/*
 * repocheck - does every agent see the repository the coordinator sees?
 *
 * Each agent opens the repository URL itself (RepositoryRequest) and answers with the
 * id in its cairn.repo. A file:// path that is another directory on one node (its own
 * disk instead of the shared mount, or a repository initialised there by mistake)
 * answers with another id, or with no repository at all; either would have the node's
 * backup written where no restore finds it.
 */
#ifndef CAIRN_REPOCHECK_H
#define CAIRN_REPOCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet/fleet.h"

/* Called once per node that does not see repository want_id at url, with a message
 * that names the node and says what to do. */
typedef void (*repocheck_problem_fn)(void *ctx, const char *msg);

/* Asks every described agent (info != NULL; the others are check_cluster's problem),
 * at most parallel at once. Returns how many nodes do not see want_id. With remembered,
 * an agent that read want_id at url before answers from memory (a backup, whose node
 * manifests are checked in the coordinator's view at the end); without, every agent
 * reads cairn.repo (`cairn status`). cost (may be NULL) has the requests the agents'
 * checks sent added to it. */
size_t repocheck_agents(fleet *f, const char *url, const char *want_id, bool remembered,
                        unsigned parallel, repocheck_problem_fn problem, void *ctx,
                        store_counts *cost);

#endif
