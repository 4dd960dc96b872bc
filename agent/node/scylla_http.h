/*
 * scylla_http - the call machinery under the REST client (scylla.c): one HTTP call to
 * the node through a pooled curl handle, its answer collected and bounded, and every
 * failure (transport, status, body) worded for the operator. Private to node/scylla*.
 */
#ifndef CAIRN_SCYLLA_HTTP_H
#define CAIRN_SCYLLA_HTTP_H

#include <json-c/json.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"
#include "node/scylla.h"

/* An HTTP answer: its status and body (NUL-terminated, at most SCYLLA_MAX_BODY). */
typedef struct scylla_reply {
    long status;
    buf body;
    bool too_big;
} scylla_reply;

/* Sends one request under the limit of its kind; returns 0 with r filled whenever an
 * HTTP answer came back, whatever its status. Free r->body with buf_free. */
int scylla_perform(scylla *s, const char *method, const char *path, scylla_call_kind kind,
                   scylla_reply *r, cairn_err *e);

/* Judges r: a 2xx status, and for out a body that is JSON (NULL when empty). Frees
 * r's body. */
int scylla_finish(const char *method, const char *path, scylla_reply *r, json_object **out,
                  cairn_err *e);

/* scylla_perform and scylla_finish. */
int scylla_call(scylla *s, const char *method, const char *path, scylla_call_kind kind,
                json_object **out, cairn_err *e);

/* The message in an error answer ({"message": ...}, a JSON string, or the raw text). */
void scylla_error_message(const scylla_reply *r, char *out, size_t cap);

/* scylla_escape for a path segment: ':' is legal there (RFC 3986) and kept, so an IPv6
 * endpoint reaches ScyllaDB intact whether or not its router decodes the path. */
char *scylla_escape_segment(const char *s);

#endif
