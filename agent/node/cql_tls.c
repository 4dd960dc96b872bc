#include "node/cql_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Host names and addresses (IPv6 has colons); a certificate holds nothing longer. */
#define SERVER_NAME_MAX 253

bool cql_tls_on(const cql_tls *t)
{
    return t && (t->enabled || t->ca);
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == ':';
}

int cql_tls_validate(const cql_tls *t, cairn_err *e)
{
    if (!t)
        return 0;
    if (!cql_tls_on(t)) {
        const char *set = t->cert          ? "cert"
                          : t->key         ? "key"
                          : t->server_name ? "server_name"
                          : t->skip_verify ? "insecure_skip_verify"
                                           : NULL;
        if (set)
            return err_set(e, CAIRN_ECONFIG,
                           "scylla.cql_tls.%s is set but CQL TLS is off: set scylla.cql_tls.ca "
                           "(or enabled: true to verify with the system's CAs)",
                           set);
        return 0;
    }
    if (!t->cert != !t->key)
        return err_set(e, CAIRN_ECONFIG,
                       "scylla.cql_tls.cert and scylla.cql_tls.key go together: set both (the "
                       "client certificate and its key) or neither");
    if (t->server_name) {
        size_t n = strlen(t->server_name);
        bool ok = n > 0 && n <= SERVER_NAME_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = name_char(t->server_name[i]);
        if (!ok)
            return err_set(e, CAIRN_ECONFIG,
                           "scylla.cql_tls.server_name must be a host name or an IP address, as "
                           "the node's certificate names it");
    }
    return 0;
}

/* OpenSSL's reason for the last failure, or fallback; empties its queue. */
static const char *ssl_reason(const char *fallback, char *buf, size_t cap)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;
    snprintf(buf, cap, "%s", r ? r : fallback);
    ERR_clear_error();
    return buf;
}

/* A file the context will read: the system's reason when it cannot be opened is more
 * use than OpenSSL's. */
static int openable(const char *key, const char *file, cairn_err *e)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return err_set(e, CAIRN_ECONFIG, "scylla.cql_tls.%s %s cannot be read: %s", key, file,
                       strerror(errno));
    fclose(f);
    return 0;
}

static int load_files(SSL_CTX *ctx, const cql_tls *t, cairn_err *e)
{
    char why[160];
    int rc;
    if (t->ca) {
        if ((rc = openable("ca", t->ca, e)) != 0)
            return rc;
        if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1)
            return err_set(e, CAIRN_ECONFIG,
                           "scylla.cql_tls.ca %s holds no PEM CA certificate (%s): point it at "
                           "the CA that signed the node's certificate",
                           t->ca, ssl_reason("no certificate", why, sizeof(why)));
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return err_set(e, CAIRN_ECONFIG,
                       "the system's CA certificates cannot be loaded (%s): set scylla.cql_tls.ca",
                       ssl_reason("unknown reason", why, sizeof(why)));
    }
    if (!t->cert)
        return 0;
    if ((rc = openable("cert", t->cert, e)) != 0 || (rc = openable("key", t->key, e)) != 0)
        return rc;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
        return err_set(e, CAIRN_ECONFIG, "scylla.cql_tls.cert %s holds no PEM certificate (%s)",
                       t->cert, ssl_reason("no certificate", why, sizeof(why)));
    /* OpenSSL checks here that the key is the certificate's. */
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return err_set(e, CAIRN_ECONFIG,
                           "scylla.cql_tls.key %s is not the key of scylla.cql_tls.cert %s: point "
                           "both at the same pair",
                           t->key, t->cert);
        }
        return err_set(e, CAIRN_ECONFIG,
                       "scylla.cql_tls.key %s holds no unencrypted PEM private key (%s)", t->key,
                       ssl_reason("no key", why, sizeof(why)));
    }
    return 0;
}

int cql_tls_context(const cql_tls *t, struct ssl_ctx_st **out, cairn_err *e)
{
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ERR_clear_error();
        return err_set(e, CAIRN_ENOMEM, "out of memory for a TLS context");
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, t->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    int rc = load_files(ctx, t, e);
    if (rc) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

int cql_tls_check(const cql_tls *t, cairn_err *e)
{
    SSL_CTX *ctx = NULL;
    int rc = cql_tls_on(t) ? cql_tls_context(t, &ctx, e) : 0;
    SSL_CTX_free(ctx);
    return rc;
}
