/*
 * hostport - "host:port" addresses from the configuration, as the CQL client takes
 * them (host and port apart).
 */
#ifndef CAIRN_HOSTPORT_H
#define CAIRN_HOSTPORT_H

#include <stddef.h>

#include "base/err.h"

/* Splits s ("host:port", an IPv6 host in brackets) into host (cap bytes) and port;
 * CAIRN_ECONFIG when it is not that shape or the port is not in 1-65535. */
int hostport_split(const char *s, char *host, size_t cap, int *port, cairn_err *e);

#endif
