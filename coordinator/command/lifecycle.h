/*
 * lifecycle - what `cairn purge` and `cairn verify` share: opening the configured
 * repository, the request counts in their --json documents, durations on the
 * command line.
 */
#ifndef CAIRN_LIFECYCLE_H
#define CAIRN_LIFECYCLE_H

#include <stdint.h>

#include <json-c/json.h>

#include "coord_config.h"
#include "repo/repo.h"

/* Opens cfg's repository; CAIRN_ECONFIG without one. */
int lifecycle_open(const coord_config *cfg, repo **r, cairn_err *e);

/* {"put": n, "get": n, ...}: the requests sent to the repository's store so far. */
json_object *lifecycle_requests_json(const repo *r);

/* "list 257, delete 3, get 12, ..." (nonzero kinds only) into buf. */
const char *lifecycle_requests_text(const repo *r, char *buf, size_t cap);

/* "90", "90s", "30m", "24h", "7d" into ms; -1 when it is not a duration. */
int64_t lifecycle_duration_ms(const char *s);

/* doc as lifecycle_print_json prints it (without the newline); valid until doc is freed
 * or serialized again. For documents printed piece by piece (verify's backups). */
const char *lifecycle_json_text(json_object *doc);

/* Prints doc on stdout, one line, and frees it. */
void lifecycle_print_json(json_object *doc);

#endif
