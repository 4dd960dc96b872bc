/*
 * repos - the repositories an agent serves, and the one check before it opens any.
 *
 * A coordinator certificate lets its holder name a repository in a request; without
 * this check an agent would write blobs and manifests wherever that name pointed. The
 * agent's own configuration (`repositories:` in agent.yaml) lists the locations it
 * serves, and a request naming any other is refused before anything is opened.
 * Locations are compared canonically and never normalized: a file:// path must be
 * absolute with no `.`, `..` or empty component and no trailing slash, so a name that
 * could mean two places is refused rather than guessed at. s3:// locations compare by
 * bucket, prefix (without trailing slash) and endpoint parameter.
 */
#ifndef CAIRN_AGENT_REPOS_H
#define CAIRN_AGENT_REPOS_H

#include <stdbool.h>

#include "agent.pb-c.h"
#include "agent_config.h"
#include "base/err.h"
#include "repo/repo.h"
#include "store/store.h"

/* Checks that url is a canonical file:// or s3:// location; CAIRN_EINVAL saying why. */
int repos_location_check(const char *url, cairn_err *e);

/* Whether two canonical locations name the same repository. */
bool repos_same(const char *a, const char *b);

/* Finds url among cfg's repositories and points *opts at the store options to open
 * it with (its own s3 credentials, else the agent's). CAIRN_EAUTH when the agent does
 * not serve it, CAIRN_EINVAL when url is not canonical. */
int repos_store_for(const agent_config *cfg, const char *url, const store_options **opts,
                    cairn_err *e);

/* The one way the agent opens a repository: repos_store_for, then repo_open. With
 * want_id (the id the coordinator read in cairn.repo for this command), a location
 * where this agent read that same id before is opened without reading cairn.repo
 * again; NULL always reads it. */
int repos_repo_open(repo **out, const agent_config *cfg, const char *url, const char *want_id,
                    cairn_err *e);

/* The requests sent through r so far, as an answer carries them to the coordinator
 * (which reports every request a command cost); NULL when out of memory. */
Cairn__Rpc__StoreRequests *repos_requests(const repo *r);

/* Builds the store options of each repository with its own s3: map (at start). */
int repos_open(agent_config *cfg, cairn_err *e);
void repos_close(agent_config *cfg);

#endif
