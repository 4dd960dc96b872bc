/*
 * certs - the cluster CA and the certificates for mutual TLS between the coordinator
 * and the agents (`cairn certs init`, `cairn certs issue`).
 *
 * Everything is EC P-256 in PEM, signed with SHA-256, and kept loadable by mbedTLS
 * 2.28, nng's TLS engine. Private keys are created with mode 0600 and never
 * overwritten: a directory holds at most one CA, and re-issuing a certificate means
 * moving the old pair away first.
 */
#ifndef CAIRN_CERTS_H
#define CAIRN_CERTS_H

#include <stdbool.h>

#include "base/err.h"

/* Creates dir (mode 0700, with missing parents) holding a new CA: ca.crt and ca.key,
 * valid for 10 years. CAIRN_EEXIST when either file is there already. */
int certs_init(const char *dir, cairn_err *e);

/* Writes name.crt and name.key into dir, signed by the CA there, valid for 2 years
 * (never beyond the CA). agent: name is the agent's IP address or DNS name, and the
 * certificate serves TLS and also authenticates as a client; otherwise name is a
 * coordinator's name (letters, digits, "_", ".", "-") and the certificate only
 * authenticates as a client. CAIRN_EEXIST when name.crt or name.key exists. */
int certs_issue(const char *dir, const char *name, bool agent, cairn_err *e);

#endif
