/*
 * lease_keep - holds a repository lease for as long as an operation runs.
 *
 * A thread renews the lease every third of its time to live, so the lease outlives
 * its TTL while the coordinator is alive, and expires soon after it dies.
 */
#ifndef CAIRN_LEASE_KEEP_H
#define CAIRN_LEASE_KEEP_H

#include "repo/repo.h"

typedef struct lease_keep lease_keep;

/* Takes a lease of kind for owner with ttl_s and starts renewing it. When no thread
 * can be started the lease is held unrenewed, with a warning naming `what` ("backup"). */
int lease_keep_start(lease_keep **out, repo *r, repo_lease_kind kind, const char *owner,
                     unsigned ttl_s, const char *what, cairn_err *e);

/* lease_keep_start through repo_lease_acquire_seeing: others sees the other holders'
 * live shared leases as the acquire reads them, and may refuse. */
int lease_keep_start_seeing(lease_keep **out, repo *r, repo_lease_kind kind, const char *owner,
                            unsigned ttl_s, const char *what, repo_lease_cb others, void *ctx,
                            cairn_err *e);

/* Stops the renewal, releases the lease and frees k (NULL is a no-op). */
void lease_keep_stop(lease_keep *k);

#endif
