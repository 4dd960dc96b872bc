/*
 * preflight - what the agent checks before it serves, and all that --check-config
 * checks beyond the file itself: the TLS files are readable PEM, the certificate and
 * the key belong together, and the state directory exists (or can be created) and is
 * writable. An agent that would fail its first request for one of these reasons
 * refuses to start instead, saying why.
 */
#ifndef CAIRN_AGENT_PREFLIGHT_H
#define CAIRN_AGENT_PREFLIGHT_H

#include <stdbool.h>

#include "agent_config.h"
#include "base/err.h"

/* Checks cfg (loaded from path). create: make the state directory when it is absent
 * (starting); otherwise only check that it could be made (--check-config).
 * CAIRN_ECONFIG saying which file and what to do. */
int preflight_check(const agent_config *cfg, const char *path, bool create, cairn_err *e);

#endif
