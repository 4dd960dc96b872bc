/*
 * preflight - what the agent checks before it serves, and all that --check-config
 * checks beyond the file itself: the TLS files (of the link to the coordinator and of
 * CQL) are readable PEM, each certificate and its key belong together, and the state
 * directory exists (or can be created) and is writable. An agent that would fail its
 * first request for one of these reasons refuses to start instead, saying why.
 */
#ifndef CAIRN_AGENT_PREFLIGHT_H
#define CAIRN_AGENT_PREFLIGHT_H

#include <stdbool.h>

#include "agent_config.h"
#include "base/err.h"

/* Checks cfg (loaded from path) before the agent serves: preflight_tls,
 * preflight_cql_tls, then preflight_state_dir, making the directory when it is absent.
 * CAIRN_ECONFIG saying which file and what to do. */
int preflight_check(const agent_config *cfg, const char *path, cairn_err *e);

/* The TLS files hold PEM certificates and an unencrypted key, and the key is the
 * certificate's. */
int preflight_tls(const agent_config *cfg, const char *path, cairn_err *e);

/* scylla.cql_tls, when on: its files are read as a connection reads them (the CA
 * certificates, the client certificate and its key, which must belong together). */
int preflight_cql_tls(const agent_config *cfg, const char *path, cairn_err *e);

/* The state directory is a writable directory; create: make it when absent, otherwise
 * check only that it could be made (--check-config). */
int preflight_state_dir(const agent_config *cfg, const char *path, bool create, cairn_err *e);

#endif
