/*
 * reload - what the agent does on SIGHUP, so certificates can be renewed and logs
 * rotated without a restart (which would cancel every running job).
 */
#ifndef CAIRN_AGENT_RELOAD_H
#define CAIRN_AGENT_RELOAD_H

#include "agent_config.h"
#include "base/err.h"
#include "net/transport.h"

/* Reopens cfg's log file (a failure is logged to the previous one, which stays),
 * checks scylla.cql_tls's files (read anew by every CQL connection; a problem is
 * logged) and reads cfg's TLS files again for the connections srv accepts from now
 * on. Fails when those cannot be used; the previous certificates then stay in use.
 * The configuration file itself is not read again: other settings need a restart. */
int agent_reload(const agent_config *cfg, transport_server *srv, cairn_err *e);

#endif
