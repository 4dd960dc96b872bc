/*
 * agent - the node-side service: answers the coordinator's requests by driving the
 * local ScyllaDB (REST and CQL) and the repository.
 *
 * Quick requests are answered inline; long ones (upload) run as jobs whose id
 * derives from the tag, so a restarted coordinator re-attaches instead of starting
 * the work again.
 */
#ifndef CAIRN_AGENT_H
#define CAIRN_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "base/err.h"

typedef struct agent agent;

int agent_new(agent **out, const agent_config *cfg, cairn_err *e);

/* transport_handler: decodes, checks the envelope, dispatches, encodes the answer. */
int agent_handle(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len);

/* Waits for running jobs to stop at their next step, then frees a. */
void agent_free(agent *a);

#endif
