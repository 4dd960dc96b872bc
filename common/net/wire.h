/*
 * wire - the envelope around every coordinator/agent message.
 *
 * Each side stamps its protocol version and cluster name on what it sends and
 * refuses what carries another, so a coordinator never drives an agent of another
 * cluster or of an incompatible release by mistake.
 */
#ifndef CAIRN_WIRE_H
#define CAIRN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "base/err.h"

#define WIRE_VERSION 1
/* Largest message either side accepts; a node description of a very large node fits. */
#define WIRE_MAX_MSG (16u << 20)
/* Most memory unpacking one message may take. protobuf-c allocates per element, so a
 * message of many tiny repeated fields costs many times its size; a restore request
 * of 16 MiB of file entries takes about 40 MiB. */
#define WIRE_MAX_UNPACKED (48u << 20)

/* Walks an encoded message with its descriptor d, recursively: refuses (CAIRN_EPROTO)
 * a string field holding a NUL byte, naming it ("request field snapshot.tag holds a
 * NUL byte"), since unpacking would silently cut the string there, and a message
 * whose unpacking would take more than WIRE_MAX_UNPACKED. what names the message. */
int wire_check_encoded(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                       const char *what, cairn_err *e);

/* Stamps version, cluster and request id on req and packs it into a malloc'd buffer. */
int wire_pack_request(Cairn__Rpc__Request *req, const char *cluster, uint64_t request_id,
                      uint8_t **buf, size_t *len, cairn_err *e);

/* Checks (wire_check_encoded), unpacks a request and checks its version and cluster.
 * On a mismatch *out is still set when the bytes decoded, so the agent can answer
 * with the request id. */
int wire_unpack_request(const uint8_t *buf, size_t len, const char *cluster,
                        Cairn__Rpc__Request **out, cairn_err *e);

/* Packs resp with the agent's version and cluster; status code and message from st. */
int wire_pack_response(Cairn__Rpc__Response *resp, const char *cluster, uint64_t request_id,
                       const cairn_err *st, uint8_t **buf, size_t *len, cairn_err *e);

/* Unpacks a response, checks version, cluster and request id, and turns a failed
 * status into a returned error with the agent's message. */
int wire_unpack_response(const uint8_t *buf, size_t len, const char *cluster, uint64_t request_id,
                         Cairn__Rpc__Response **out, cairn_err *e);

#endif
