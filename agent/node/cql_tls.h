/*
 * cql_tls - TLS settings of the agent's CQL connection (scylla.cql_tls in agent.yaml),
 * for nodes whose client_encryption_options are enabled, and the OpenSSL context made
 * of them. The files are read again for every connection, so renewed certificates
 * apply from the next connection on; cql_tls_check reads them as a connection would.
 */
#ifndef CAIRN_CQL_TLS_H
#define CAIRN_CQL_TLS_H

#include <stdbool.h>

#include "base/err.h"

typedef struct cql_tls {
    bool enabled;      /* connect with TLS even without a ca: the system's CAs verify */
    char *ca;          /* PEM CA certificates that signed the node's; sets enabled */
    char *cert;        /* client certificate (PEM chain), for require_client_auth */
    char *key;         /* its unencrypted PEM private key */
    char *server_name; /* name the node's certificate must hold; NULL: the host of cql */
    bool skip_verify;  /* insecure_skip_verify: accept any certificate */
} cql_tls;

/* Whether t (which may be NULL) asks for TLS. */
bool cql_tls_on(const cql_tls *t);

/* The settings fit together (cert with key, no option without TLS, a server_name that
 * is a host name or an address). CAIRN_ECONFIG naming the scylla.cql_tls key. */
int cql_tls_validate(const cql_tls *t, cairn_err *e);

/* Reads t's files as a connection would: the CA certificates, the client certificate
 * and its key, which must belong together. CAIRN_ECONFIG naming the key and the file. */
int cql_tls_check(const cql_tls *t, cairn_err *e);

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* An OpenSSL client context for t, which must be on; free it with SSL_CTX_free.
 * Errors as cql_tls_check. */
int cql_tls_context(const cql_tls *t, struct ssl_ctx_st **ctx, cairn_err *e);

#endif
