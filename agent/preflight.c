#include "preflight.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The reason OpenSSL gave last, or a fallback; clears its queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long code = ERR_peek_last_error();
    if (code)
        ERR_error_string_n(code, buf, cap);
    else
        snprintf(buf, cap, "no PEM data");
    ERR_clear_error();
    return buf;
}

static int open_file(const char *path, const char *key, const char *file, FILE **f, cairn_err *e)
{
    *f = fopen(file, "r");
    if (!*f)
        return err_set(e, CAIRN_ECONFIG, "%s: %s %s cannot be read: %s", path, key, file,
                       strerror(errno));
    return 0;
}

static int read_cert(const char *path, const char *key, const char *file, X509 **out, cairn_err *e)
{
    FILE *f;
    int rc = open_file(path, key, file, &f, e);
    if (rc)
        return rc;
    *out = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    char why[256];
    if (!*out)
        return err_set(e, CAIRN_ECONFIG, "%s: %s %s holds no PEM certificate (%s)", path, key, file,
                       ssl_reason(why, sizeof(why)));
    return 0;
}

int preflight_tls(const agent_config *cfg, const char *path, cairn_err *e)
{
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *pkey = NULL;
    FILE *f = NULL;
    char why[256];
    int rc = read_cert(path, "tls.ca", cfg->tls_ca, &ca, e);
    if (!rc)
        rc = read_cert(path, "tls.cert", cfg->tls_cert, &cert, e);
    if (!rc)
        rc = open_file(path, "tls.key", cfg->tls_key, &f, e);
    if (!rc) {
        pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!pkey)
            rc = err_set(e, CAIRN_ECONFIG,
                         "%s: tls.key %s holds no unencrypted PEM private key (%s)", path,
                         cfg->tls_key, ssl_reason(why, sizeof(why)));
    }
    if (!rc && X509_check_private_key(cert, pkey) != 1)
        rc = err_set(e, CAIRN_ECONFIG,
                     "%s: tls.key %s is not the key of certificate %s: point both at the pair "
                     "`cairn certs issue` wrote for this node",
                     path, cfg->tls_key, cfg->tls_cert);
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    X509_free(cert);
    X509_free(ca);
    return rc;
}

int preflight_cql_tls(const agent_config *cfg, const char *path, cairn_err *e)
{
    int rc = cql_tls_check(&cfg->scylla_cql_tls, e);
    return rc ? err_prefix(e, "%s", path) : 0;
}

int preflight_state_dir(const agent_config *cfg, const char *path, bool create, cairn_err *e)
{
    const char *dir = cfg->state_dir;
    struct stat st;
    if (stat(dir, &st) != 0 && errno != ENOENT)
        return err_set(e, CAIRN_ECONFIG,
                       "%s: state_dir %s cannot be created: %s; point state_dir at a writable "
                       "place",
                       path, dir, strerror(errno));
    if (stat(dir, &st) != 0) {
        if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
            return err_set(e, CAIRN_ECONFIG,
                           "%s: state_dir %s cannot be created: %s; create it, or point "
                           "state_dir at a writable place",
                           path, dir, strerror(errno));
        if (!create) {
            char parent[4096];
            snprintf(parent, sizeof(parent), "%s", dir);
            const char *up = dirname(parent);
            if (stat(up, &st) != 0 || !S_ISDIR(st.st_mode) || access(up, W_OK | X_OK) != 0)
                return err_set(e, CAIRN_ECONFIG,
                               "%s: state_dir %s cannot be created: %s is not a writable "
                               "directory",
                               path, dir, up);
            return 0;
        }
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, CAIRN_ECONFIG, "%s: state_dir %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(e, CAIRN_ECONFIG, "%s: state_dir %s is not writable by this user", path,
                       dir);
    return 0;
}

int preflight_check(const agent_config *cfg, const char *path, cairn_err *e)
{
    int rc = cfg->insecure ? 0 : preflight_tls(cfg, path, e);
    if (!rc)
        rc = preflight_cql_tls(cfg, path, e);
    if (!rc)
        rc = preflight_state_dir(cfg, path, true, e);
    return rc;
}
