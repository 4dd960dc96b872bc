/* Deprecated OpenSSL calls are hidden, so using one fails to compile. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "certs/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/hex.h"
#include "scylla/names.h"

#define CA_DAYS    (10 * 365 + 3)
#define LEAF_DAYS  (2 * 365 + 1)
#define BACKDATE_S 3600 /* a node whose clock is a little behind still accepts a new cert */

typedef struct cert_ext {
    int nid;
    const char *value;
} cert_ext;

static int ossl_err(cairn_err *e, const char *what)
{
    char detail[256] = "no details from OpenSSL";
    unsigned long code = ERR_peek_last_error();
    if (code)
        ERR_error_string_n(code, detail, sizeof(detail));
    ERR_clear_error();
    return err_set(e, CAIRN_EIO, "%s: %s", what, detail);
}

static bool is_ip(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* RFC 1123 host names; a final label of digits alone would be a mistyped address. */
static bool is_dns_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    const char *label = s;
    bool digits_only = true;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (n == 0 || n > 63 || label[0] == '-' || p[-1] == '-')
                return false;
            if (*p == '\0')
                return !digits_only;
            label = p + 1;
            digits_only = true;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-') {
            digits_only = false;
        } else if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
    }
}

/* The name becomes NAME.crt and NAME.key, and part of an extension's text, so only
 * host-name or address characters get through. */
static int check_leaf_name(const char *name, bool agent, cairn_err *e)
{
    char shown[300];
    name_sanitize(name, shown, sizeof(shown));
    if (agent && !is_ip(name) && !is_dns_name(name))
        return err_set(e, CAIRN_EINVAL,
                       "invalid agent host '%s': give the IP address or the DNS name that the "
                       "coordinator uses to reach the agent",
                       shown);
    if (!agent && !name_valid(NAME_CLUSTER, name))
        return err_set(e, CAIRN_EINVAL,
                       "invalid coordinator name '%s': use 1 to 64 letters, digits, "
                       "underscores, dots or dashes, starting with a letter or a digit",
                       shown);
    if (strcmp(name, "ca") == 0)
        return err_set(e, CAIRN_EINVAL, "'ca' is the CA's own file name; choose another name");
    return 0;
}

static int path_in(char *buf, size_t cap, const char *dir, const char *name, const char *ext,
                   cairn_err *e)
{
    int n = snprintf(buf, cap, "%s/%s%s", dir, name, ext);
    if (n < 0 || (size_t)n >= cap)
        return err_set(e, CAIRN_EINVAL, "the path %s/%s%s is too long", dir, name, ext);
    return 0;
}

static int refuse_existing(const char *path, const char *advice, cairn_err *e)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return err_set(e, CAIRN_EEXIST, "%s already exists; %s", path, advice);
    if (errno != ENOENT)
        return err_sys(e, errno, "cannot check %s", path);
    return 0;
}

/* Like mkdir -p; the last directory is private (0700) because it holds ca.key. */
static int make_dirs(const char *dir, cairn_err *e)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(path))
        return err_set(e, CAIRN_EINVAL, "invalid directory name");
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return err_sys(e, errno, "cannot create %s", path);
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return err_sys(e, errno, "cannot create %s", path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, CAIRN_EINVAL, "%s is not a directory", path);
    return 0;
}

/* Writes the PEM text in mem to a new file: O_EXCL, so an existing key is never
 * replaced, and the mode is right from the first byte. */
static int write_new_file(const char *path, mode_t mode, BIO *mem, cairn_err *e)
{
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return err_sys(e, errno, "cannot create %s", path);
    long done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, (size_t)(len - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        done += n;
    }
    bool ok = done == len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(path);
        return err_sys(e, saved, "cannot write %s", path);
    }
    return 0;
}

static int write_key(const char *path, EVP_PKEY *key, cairn_err *e)
{
    /* A secure-memory BIO wipes the key text when freed. */
    BIO *mem = BIO_new(BIO_s_secmem());
    if (!mem || !PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(mem);
        return ossl_err(e, "cannot encode the private key");
    }
    int rc = write_new_file(path, 0600, mem, e);
    BIO_free(mem);
    return rc;
}

static int write_cert(const char *path, X509 *cert, cairn_err *e)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (!mem || !PEM_write_bio_X509(mem, cert)) {
        BIO_free(mem);
        return ossl_err(e, "cannot encode the certificate");
    }
    int rc = write_new_file(path, 0644, mem, e);
    BIO_free(mem);
    return rc;
}

static int new_key(EVP_PKEY **out, cairn_err *e)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return *out ? 0 : ossl_err(e, "cannot generate an EC P-256 key");
}

/* A random 128-bit serial number: the top bit is cleared to keep it positive and the
 * next one set so that it always takes 16 bytes. */
static int set_serial(X509 *x, cairn_err *e)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ossl_err(e, "cannot draw a random serial number");
    raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return ok ? 0 : ossl_err(e, "cannot set the serial number");
}

static X509_NAME *make_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n &&
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"cairn", -1, -1,
                                   0) &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        return n;
    X509_NAME_free(n);
    return NULL;
}

static int set_validity(X509 *x, long days, const X509 *issuer)
{
    time_t now = time(NULL);
    if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now))
        return -1;
    /* A certificate that outlives its CA would only fail later, and confusingly. */
    if (issuer && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0)
        return X509_set1_notAfter(x, X509_get0_notAfter(issuer)) ? 0 : -1;
    return 0;
}

static int add_exts(X509 *x, X509 *issuer, const cert_ext *exts, cairn_err *e)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    for (; exts->value; exts++) {
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, exts->nid, exts->value);
        int ok = ext && X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (!ok)
            return ossl_err(e, "cannot add a certificate extension");
    }
    return 0;
}

/* Builds and signs a certificate for key; issuer and issuer_key NULL: self-signed. */
static int make_cert(X509 **out, EVP_PKEY *key, const char *cn, long days, X509 *issuer,
                     EVP_PKEY *issuer_key, const cert_ext *exts, cairn_err *e)
{
    X509 *x = X509_new();
    X509_NAME *subject = make_name(cn);
    int rc = 0;
    if (!x || !subject || !X509_set_version(x, X509_VERSION_3) ||
        !X509_set_subject_name(x, subject) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) ||
        !X509_set_pubkey(x, key) || set_validity(x, days, issuer) != 0) {
        rc = ossl_err(e, "cannot build the certificate");
        goto done;
    }
    if ((rc = set_serial(x, e)) != 0 || (rc = add_exts(x, issuer ? issuer : x, exts, e)) != 0)
        goto done;
    if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
        rc = ossl_err(e, "cannot sign the certificate");
        goto done;
    }
    *out = x;
    x = NULL;
done:
    X509_NAME_free(subject);
    X509_free(x);
    return rc;
}

/* Writes the key first: a crash in between leaves a key without a certificate, which
 * the next attempt reports, never a certificate whose key is lost. */
static int write_pair(const char *crt_path, X509 *cert, const char *key_path, EVP_PKEY *key,
                      cairn_err *e)
{
    int rc = write_key(key_path, key, e);
    if (!rc && (rc = write_cert(crt_path, cert, e)) != 0)
        unlink(key_path);
    return rc;
}

int certs_init(const char *dir, cairn_err *e)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    static const char advice[] = "this directory has a CA already; use another directory, or "
                                 "move ca.crt and ca.key away to start over";
    int rc = make_dirs(dir, e);
    if (!rc)
        rc = path_in(crt_path, sizeof(crt_path), dir, "ca", ".crt", e);
    if (!rc)
        rc = path_in(key_path, sizeof(key_path), dir, "ca", ".key", e);
    if (!rc)
        rc = refuse_existing(key_path, advice, e);
    if (!rc)
        rc = refuse_existing(crt_path, advice, e);
    if (rc)
        return rc;

    /* A random suffix tells this CA from the one that replaces it some day. */
    unsigned char id[4];
    char hex[2 * sizeof(id) + 1], cn[64];
    if (RAND_bytes(id, sizeof(id)) != 1)
        return ossl_err(e, "cannot draw random bytes");
    hex_encode(id, sizeof(id), hex);
    snprintf(cn, sizeof(cn), "cairn cluster CA %s", hex);
    static const cert_ext exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
        {0, NULL},
    };
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if ((rc = new_key(&key, e)) == 0 &&
        (rc = make_cert(&cert, key, cn, CA_DAYS, NULL, NULL, exts, e)) == 0)
        rc = write_pair(crt_path, cert, key_path, key, e);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Never asks for a passphrase on the terminal: cairn's CA key is not encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key, cairn_err *e)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    int rc = path_in(crt_path, sizeof(crt_path), dir, "ca", ".crt", e);
    if (!rc)
        rc = path_in(key_path, sizeof(key_path), dir, "ca", ".key", e);
    if (rc)
        return rc;
    FILE *f = fopen(crt_path, "r");
    if (!f)
        return err_sys(e, errno,
                       "cannot read the CA certificate %s (run `cairn certs init --dir %s` "
                       "first)",
                       crt_path, dir);
    *cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!*cert)
        return ossl_err(e, "cannot load the CA certificate");
    if (!(f = fopen(key_path, "r"))) {
        rc = err_sys(e, errno, "cannot read the CA key %s", key_path);
        goto fail;
    }
    *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!*key) {
        rc = ossl_err(e, "cannot load the CA key");
        goto fail;
    }
    if (X509_check_private_key(*cert, *key) != 1) {
        rc = err_set(e, CAIRN_EINVAL, "%s does not belong to %s", key_path, crt_path);
        ERR_clear_error();
        goto fail;
    }
    return 0;
fail:
    EVP_PKEY_free(*key);
    X509_free(*cert);
    *key = NULL;
    *cert = NULL;
    return rc;
}

int certs_issue(const char *dir, const char *name, bool agent, cairn_err *e)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX], advice[128], san[600];
    int rc = check_leaf_name(name, agent, e);
    if (!rc)
        rc = path_in(crt_path, sizeof(crt_path), dir, name, ".crt", e);
    if (!rc)
        rc = path_in(key_path, sizeof(key_path), dir, name, ".key", e);
    if (rc)
        return rc;
    snprintf(advice, sizeof(advice), "to issue it again, move %s.crt and %s.key away first", name,
             name);
    if ((rc = refuse_existing(key_path, advice, e)) != 0 ||
        (rc = refuse_existing(crt_path, advice, e)) != 0)
        return rc;

    /* mbedTLS 2.28 matches the expected server name against DNS entries only, so an
     * address is written both as an IP entry and as text. */
    if (is_ip(name))
        snprintf(san, sizeof(san), "IP:%s,DNS:%s", name, name);
    else
        snprintf(san, sizeof(san), "DNS:%s", name);
    const cert_ext exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyAgreement"},
        /* An agent only serves: its key must not let one node drive the others. */
        {NID_ext_key_usage, agent ? "serverAuth" : "clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {agent ? NID_subject_alt_name : 0, agent ? san : NULL},
        {0, NULL},
    };
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    if ((rc = load_ca(dir, &ca, &ca_key, e)) == 0 && (rc = new_key(&key, e)) == 0 &&
        (rc = make_cert(&cert, key, name, LEAF_DAYS, ca, ca_key, exts, e)) == 0)
        rc = write_pair(crt_path, cert, key_path, key, e);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}
