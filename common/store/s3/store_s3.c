/*
 * The s3:// driver: a bucket and a key prefix on S3 or an S3-compatible store.
 * Objects are keyed "<prefix>/<key>"; requests, signing and retries are s3req's,
 * streaming writes s3put's.
 */
#include "store/s3/store_s3.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/s3/s3put.h"
#include "store/s3/s3req.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3xml.h"
#include "store/store_impl.h"

#define ATTEMPTS     8
#define BACKOFF_MS   100
#define DELETE_BATCH 1000 /* DeleteObjects' limit */
#define BUCKET_MAX   255

/* The process-wide settings: store_s3_configure's copy. */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *access_key_id, *secret_access_key, *session_token, *region, *endpoint;
    int path_style, verify_tls;
    size_t part_size, upload_memory;
    unsigned parts_in_flight;
} conf = {.path_style = -1, .verify_tls = -1};

static void wipe_free(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static char *dup_opt(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

void store_s3_configure(const store_s3_options *o)
{
    pthread_mutex_lock(&conf_lock);
    wipe_free(&conf.access_key_id);
    wipe_free(&conf.secret_access_key);
    wipe_free(&conf.session_token);
    wipe_free(&conf.region);
    wipe_free(&conf.endpoint);
    conf.path_style = conf.verify_tls = -1;
    conf.part_size = conf.upload_memory = 0;
    conf.parts_in_flight = 0;
    if (o) {
        conf.access_key_id = dup_opt(o->access_key_id);
        conf.secret_access_key = dup_opt(o->secret_access_key);
        conf.session_token = dup_opt(o->session_token);
        conf.region = dup_opt(o->region);
        conf.endpoint = dup_opt(o->endpoint);
        conf.path_style = o->path_style;
        conf.verify_tls = o->verify_tls;
        conf.part_size = o->part_size;
        conf.parts_in_flight = o->parts_in_flight;
        conf.upload_memory = o->upload_memory;
    }
    pthread_mutex_unlock(&conf_lock);
}

static int parse_flag(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (const char *const *p = yes; *p; p++)
        if (strcasecmp(v, *p) == 0)
            return *out = 1, 0;
    for (const char *const *p = no; *p; p++)
        if (strcasecmp(v, *p) == 0)
            return *out = 0, 0;
    return -1;
}

/* Regions go into libcurl's "aws:amz:<region>:s3", where a ':' would split. */
static bool region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return false;
    for (; *r; r++)
        if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
            return false;
    return true;
}

/* "http[s]://host[:port]" with at most a trailing '/'; the length without it, or 0. */
static size_t endpoint_len(const char *ep)
{
    const char *host = strncmp(ep, "https://", 8) == 0  ? ep + 8
                       : strncmp(ep, "http://", 7) == 0 ? ep + 7
                                                        : NULL;
    if (!host || !*host || *host == '/' || strchr(host, '@') || strchr(host, '?'))
        return 0;
    const char *slash = strchr(host, '/');
    if (slash && slash[1])
        return 0;
    return slash ? (size_t)(slash - ep) : strlen(ep);
}

int store_s3_config_options(const store_s3_config *c, const char *file, store_s3_options *o,
                            cairn_err *e)
{
    memset(o, 0, sizeof(*o));
    o->access_key_id = c->access_key_id;
    o->secret_access_key = c->secret_access_key;
    o->session_token = c->session_token;
    o->region = c->region;
    o->endpoint = c->endpoint;
    o->path_style = o->verify_tls = -1;
    if (!c->access_key_id != !c->secret_access_key)
        return err_set(e, CAIRN_ECONFIG,
                       "%s: s3.access_key_id and s3.secret_access_key go together: set both or "
                       "neither",
                       file);
    if (c->session_token && !c->access_key_id)
        return err_set(e, CAIRN_ECONFIG,
                       "%s: s3.session_token needs s3.access_key_id and s3.secret_access_key",
                       file);
    if (c->region && !region_valid(c->region))
        return err_set(e, CAIRN_ECONFIG,
                       "%s: s3.region must be a region name such as eu-west-1 (lowercase letters, "
                       "digits and '-')",
                       file);
    if (c->endpoint && !endpoint_len(c->endpoint))
        return err_set(e, CAIRN_ECONFIG,
                       "%s: s3.endpoint must be http://host[:port] or https://host[:port]", file);
    if (c->path_style && parse_flag(c->path_style, &o->path_style) != 0)
        return err_set(e, CAIRN_ECONFIG, "%s: s3.path_style must be true or false", file);
    if (c->verify_tls && parse_flag(c->verify_tls, &o->verify_tls) != 0)
        return err_set(e, CAIRN_ECONFIG, "%s: s3.verify_tls must be true or false", file);
    o->part_size = (size_t)c->part_size_mib << 20;
    o->parts_in_flight = (unsigned)c->parts_in_flight;
    o->upload_memory = (size_t)c->upload_memory_mib << 20;
    return 0;
}

void store_s3_config_wipe(store_s3_config *c)
{
    if (c->secret_access_key)
        memset(c->secret_access_key, 0, strlen(c->secret_access_key));
    if (c->session_token)
        memset(c->session_token, 0, strlen(c->session_token));
}

/* What a location string says; NULL or -1 where it is silent. */
struct location {
    char bucket[BUCKET_MAX + 1];
    char *prefix; /* "" or "a/b/" */
    char *endpoint, *region;
    int path_style, verify_tls;
};

static void location_free(struct location *l)
{
    free(l->prefix);
    free(l->endpoint);
    free(l->region);
}

/* Query parameters that look like credentials: refused, since a location travels
 * to every agent and into messages. */
static bool secret_name(const char *name, size_t n)
{
    static const char *const words[] = {"key",        "secret",    "token", "password",
                                        "credential", "signature", NULL};
    char low[64];
    if (n >= sizeof(low))
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[n] = '\0';
    for (const char *const *w = words; *w; w++)
        if (strstr(low, *w))
            return true;
    return false;
}

static int no_secrets(cairn_err *e)
{
    return err_set(e, CAIRN_ECONFIG,
                   "credentials do not belong in an s3:// repository location (it is sent to "
                   "every agent and shown in messages): put them in the s3: section of each "
                   "machine's configuration, or in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
}

static int parse_param(struct location *l, const char *p, size_t n, cairn_err *e)
{
    const char *eq = memchr(p, '=', n);
    size_t nlen = eq ? (size_t)(eq - p) : n;
    if (secret_name(p, nlen))
        return no_secrets(e);
    char *val = eq ? strndup(eq + 1, n - nlen - 1) : strdup("");
    if (!val)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0, *flag = NULL;
    if (nlen == 8 && strncmp(p, "endpoint", 8) == 0) {
        size_t len = endpoint_len(val);
        if (!len) {
            rc = err_set(e, CAIRN_EINVAL,
                         "endpoint=%s in the repository location must be http://host[:port] or "
                         "https://host[:port]",
                         val);
        } else {
            val[len] = '\0';
            free(l->endpoint);
            l->endpoint = val;
            val = NULL;
        }
    } else if (nlen == 6 && strncmp(p, "region", 6) == 0) {
        if (!region_valid(val)) {
            rc = err_set(e, CAIRN_EINVAL,
                         "region=%s in the repository location is not a region name such as "
                         "eu-west-1",
                         val);
        } else {
            free(l->region);
            l->region = val;
            val = NULL;
        }
    } else if (nlen == 10 && strncmp(p, "path_style", 10) == 0) {
        flag = &l->path_style;
    } else if (nlen == 10 && strncmp(p, "verify_tls", 10) == 0) {
        flag = &l->verify_tls;
    } else {
        rc = err_set(e, CAIRN_EINVAL,
                     "unknown parameter '%.*s' in the repository location: s3:// takes "
                     "endpoint, region, path_style and verify_tls",
                     (int)nlen, p);
    }
    if (flag && parse_flag(val, flag) != 0)
        rc = err_set(e, CAIRN_EINVAL,
                     "%.*s in the repository location must be true or false, not '%s'", (int)nlen,
                     p, val);
    free(val);
    return rc;
}

static bool bucket_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static int parse_location(const char *url, struct location *l, cairn_err *e)
{
    memset(l, 0, sizeof(*l));
    l->path_style = l->verify_tls = -1;
    const char *p = url + strlen("s3://");
    size_t blen = strcspn(p, "/?");
    if (memchr(p, '@', blen))
        return no_secrets(e);
    if (blen < 3 || blen > BUCKET_MAX)
        return err_set(e, CAIRN_EINVAL,
                       "repository location '%s' needs a bucket name of 3 to %d characters, as in "
                       "s3://my-bucket/cairn",
                       url, BUCKET_MAX);
    for (size_t i = 0; i < blen; i++)
        if (!bucket_char(p[i]))
            return err_set(e, CAIRN_EINVAL,
                           "'%.*s' in repository location '%s' is not a bucket name (letters, "
                           "digits, '.', '-' and '_')",
                           (int)blen, p, url);
    memcpy(l->bucket, p, blen);
    p += blen;
    /* The prefix: what follows the bucket, without surrounding slashes. */
    if (*p == '/')
        p++;
    size_t plen = strcspn(p, "?");
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    int rc = 0;
    char *prefix = strndup(p, plen);
    if (!prefix)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    if (plen > 0 && (rc = store_key_check(prefix, e)) != 0) {
        free(prefix);
        return err_prefix(e, "prefix of repository location '%s'", url);
    }
    l->prefix = malloc(plen + 2);
    if (l->prefix)
        snprintf(l->prefix, plen + 2, "%s%s", prefix, plen ? "/" : "");
    free(prefix);
    if (!l->prefix)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    p += strcspn(p, "?");
    while (!rc && *p) {
        p++; /* '?' or '&' */
        size_t n = strcspn(p, "&");
        if (n > 0)
            rc = parse_param(l, p, n, e);
        p += n;
    }
    if (rc)
        location_free(l);
    return rc;
}

struct s3_store {
    s3_client *c;
    char *prefix;
    size_t part_size;
    unsigned buffers;
    size_t memory;
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Settles every setting, the location's first, then store_s3_configure's, then the
 * environment's, and opens a client with it. Called with conf_lock held. */
static int open_client(const char *url, const struct location *l, struct s3_store *s, cairn_err *e)
{
    const char *endpoint = l->endpoint ? l->endpoint : conf.endpoint;
    const char *src = "the repository location";
    if (!endpoint && (endpoint = env("AWS_ENDPOINT_URL_S3")) != NULL)
        src = "AWS_ENDPOINT_URL_S3";
    if (!endpoint && (endpoint = env("AWS_ENDPOINT_URL")) != NULL)
        src = "AWS_ENDPOINT_URL";
    char *ep = NULL;
    if (endpoint) {
        size_t len = endpoint_len(endpoint);
        if (!len)
            return err_set(e, CAIRN_ECONFIG, "%s must be http://host[:port] or https://host[:port]",
                           src);
        ep = strndup(endpoint, len);
    }
    const char *region = l->region ? l->region : conf.region;
    if (!region && (region = env("AWS_REGION")) == NULL)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    if (!region_valid(region)) {
        free(ep);
        return err_set(e, CAIRN_ECONFIG,
                       "AWS_REGION or AWS_DEFAULT_REGION is not a region name such as eu-west-1");
    }
    if (!endpoint && asprintf(&ep, "https://s3.%s.amazonaws.com", region) < 0)
        ep = NULL;
    if (!ep)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);

    s3_target t = {.endpoint = ep,
                   .region = region,
                   .bucket = l->bucket,
                   .attempts = ATTEMPTS,
                   .backoff_ms = BACKOFF_MS};
    t.path_style = l->path_style >= 0     ? l->path_style
                   : conf.path_style >= 0 ? conf.path_style
                                          : endpoint != NULL;
    t.verify_tls = l->verify_tls >= 0 ? l->verify_tls : conf.verify_tls != 0;
    if (conf.access_key_id) {
        t.access_key_id = conf.access_key_id;
        t.secret_access_key = conf.secret_access_key;
        t.session_token = conf.session_token;
        t.cred_source = "the s3: section of the configuration";
    } else {
        t.access_key_id = env("AWS_ACCESS_KEY_ID");
        t.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
        t.session_token = env("AWS_SESSION_TOKEN");
        t.cred_source = "AWS_ACCESS_KEY_ID";
    }
    int rc;
    if (!t.access_key_id || !t.secret_access_key)
        rc = err_set(e, CAIRN_ECONFIG,
                     "no S3 credentials for bucket %s: set s3.access_key_id and "
                     "s3.secret_access_key in this machine's configuration, or "
                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                     l->bucket);
    else
        rc = s3_client_new(&t, &s->c, e);
    free(ep);
    return rc;
}

static int s3_open(const char *url, void **impl, cairn_err *e)
{
    struct location l;
    int rc = parse_location(url, &l, e);
    if (rc)
        return rc;
    struct s3_store *s = calloc(1, sizeof(*s));
    if (!s) {
        location_free(&l);
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    }
    s->prefix = l.prefix;
    l.prefix = NULL;
    pthread_mutex_lock(&conf_lock);
    s->part_size = conf.part_size ? conf.part_size : STORE_S3_DEFAULT_PART;
    if (s->part_size < STORE_S3_MIN_PART)
        s->part_size = STORE_S3_MIN_PART;
    s->buffers = conf.parts_in_flight ? conf.parts_in_flight : STORE_S3_DEFAULT_BUFFERS;
    s->memory = conf.upload_memory ? conf.upload_memory : STORE_S3_DEFAULT_MEMORY;
    rc = open_client(url, &l, s, e);
    pthread_mutex_unlock(&conf_lock);
    location_free(&l);
    if (rc) {
        free(s->prefix);
        free(s);
        return rc;
    }
    *impl = s;
    return 0;
}

static void s3_close(void *impl)
{
    struct s3_store *s = impl;
    s3_client_free(s->c);
    free(s->prefix);
    free(s);
}

static char *full_key(const struct s3_store *s, const char *key, cairn_err *e)
{
    char *k = NULL;
    if (asprintf(&k, "%s%s", s->prefix, key) < 0) {
        err_set(e, CAIRN_ENOMEM, "out of memory");
        return NULL;
    }
    return k;
}

static int s3_put_begin(void *impl, const char *key, uint64_t size_hint, void **wimpl, cairn_err *e)
{
    struct s3_store *s = impl;
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3put *w = NULL;
    int rc = s3put_begin(s->c, k, s3put_part_size(size_hint, s->part_size), s->buffers, s->memory,
                         &w, e);
    free(k);
    *wimpl = w;
    return rc;
}

static int s3_write(void *wimpl, const void *buf, size_t len, cairn_err *e)
{
    return s3put_write(wimpl, buf, len, e);
}

static int s3_commit(void *wimpl, cairn_err *e)
{
    return s3put_commit(wimpl, e);
}

static void s3_abort(void *wimpl)
{
    s3put_abort(wimpl);
}

static int s3_get(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e)
{
    struct s3_store *s = impl;
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3_request rq = {.kind = S3_GET, .method = "GET", .key = k, .sink = sink, .sink_ctx = ctx};
    s3_response rs;
    int rc = s3_perform(s->c, &rq, &rs, e);
    free(rs.body);
    free(k);
    return rc;
}

static int s3_head(void *impl, const char *key, uint64_t *size, cairn_err *e)
{
    struct s3_store *s = impl;
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3_request rq = {.kind = S3_HEAD, .method = "HEAD", .key = k};
    s3_response rs;
    int rc = s3_perform(s->c, &rq, &rs, e);
    free(rs.body);
    free(k);
    if (!rc && size)
        *size = rs.length;
    return rc;
}

struct list_ctx {
    const struct s3_store *s;
    size_t prefix_len;
    store_list_cb cb;
    void *ctx;
};

static int list_one(void *arg, const char *key, uint64_t size, cairn_err *e)
{
    struct list_ctx *lc = arg;
    if (strncmp(key, lc->s->prefix, lc->prefix_len) != 0)
        return 0;
    /* Objects others put beside the repository ("folder/" markers, odd names) are
     * not keys this interface can name, so they are left out. */
    const char *rel = key + lc->prefix_len;
    if (store_key_check(rel, NULL) != 0)
        return 0;
    return lc->cb(lc->ctx, rel, size, e);
}

/* One page at a time, in the order S3 gives: UTF-8 byte order, which for the
 * ASCII keys of a repository is the lexicographic order store_list promises. */
static int s3_list(void *impl, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e)
{
    struct s3_store *s = impl;
    char *full = full_key(s, prefix, e);
    if (!full)
        return CAIRN_ENOMEM;
    struct list_ctx lc = {s, strlen(s->prefix), cb, ctx};
    char *token = NULL;
    int rc = 0;
    do {
        s3sign_param p[] = {{"list-type", "2"}, {"prefix", full}, {"continuation-token", token}};
        char *q = s3sign_query(p, token ? 3 : 2);
        if (!q) {
            rc = err_set(e, CAIRN_ENOMEM, "out of memory listing %s", prefix);
            break;
        }
        s3_request rq = {.kind = S3_LIST, .method = "GET", .query = q};
        s3_response rs;
        rc = s3_perform(s->c, &rq, &rs, e);
        free(q);
        free(token);
        token = NULL;
        if (!rc)
            rc = s3xml_list_page(rs.body ? rs.body : "", rs.body_len, list_one, &lc, &token, e);
        free(rs.body);
    } while (!rc && token);
    free(token);
    free(full);
    return rc;
}

static int s3_del(void *impl, const char *key, cairn_err *e)
{
    struct s3_store *s = impl;
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3_request rq = {.kind = S3_DELETE, .method = "DELETE", .key = k};
    s3_response rs;
    int rc = s3_perform(s->c, &rq, &rs, e);
    free(rs.body);
    free(k);
    /* S3 answers 204 for an absent key too; a store that says 404 means the same. */
    if (rc == CAIRN_ENOENT && rs.status == 404) {
        err_clear(e);
        rc = 0;
    }
    return rc;
}

/* DeleteObjects insists on Content-MD5. */
static void md5_base64(const void *buf, size_t len, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(buf, len, md, &n, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

static int delete_batch(struct s3_store *s, const char *const *keys, size_t n, cairn_err *e)
{
    char **full = calloc(n, sizeof(*full));
    char *body = NULL;
    size_t body_len = 0;
    int rc = full ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory deleting objects");
    for (size_t i = 0; !rc && i < n; i++)
        if (!(full[i] = full_key(s, keys[i], e)))
            rc = CAIRN_ENOMEM;
    if (!rc)
        rc = s3xml_delete_body((const char *const *)full, n, &body, &body_len, e);
    if (!rc) {
        char md5[32];
        md5_base64(body, body_len, md5);
        s3_request rq = {.kind = S3_DELETE,
                         .method = "POST",
                         .query = "delete=",
                         .body = body,
                         .body_len = body_len,
                         .content_type = "application/xml",
                         .content_md5 = md5};
        s3_response rs;
        rc = s3_perform(s->c, &rq, &rs, e);
        size_t failed = 0;
        s3xml_error first;
        char key[STORE_KEY_MAX + 1];
        if (!rc)
            rc = s3xml_delete_result(rs.body ? rs.body : "", rs.body_len, &failed, &first, key,
                                     sizeof(key), e);
        if (!rc && failed)
            rc = err_set(e, strcmp(first.code, "AccessDenied") == 0 ? CAIRN_EAUTH : CAIRN_EREMOTE,
                         "S3 did not delete %zu of %zu objects in bucket %s; the first, %s: %s: %s",
                         failed, n, s3_client_bucket(s->c), key, first.code, first.message);
        free(rs.body);
    }
    for (size_t i = 0; full && i < n; i++)
        free(full[i]);
    free(full);
    free(body);
    return rc;
}

static int s3_del_many(void *impl, const char *const *keys, size_t n, cairn_err *e)
{
    for (size_t off = 0; off < n; off += DELETE_BATCH) {
        size_t batch = n - off < DELETE_BATCH ? n - off : DELETE_BATCH;
        int rc = delete_batch(impl, keys + off, batch, e);
        if (rc)
            return rc;
    }
    return 0;
}

static void s3_stats(void *impl, store_counts *out)
{
    struct s3_store *s = impl;
    uint64_t n[S3_KINDS], retries;
    s3_client_counts(s->c, n, &retries);
    out->puts = n[S3_PUT];
    out->part_puts = n[S3_PART];
    out->gets = n[S3_GET];
    out->heads = n[S3_HEAD];
    out->lists = n[S3_LIST];
    out->deletes = n[S3_DELETE];
    out->mpu_initiates = n[S3_INITIATE];
    out->mpu_completes = n[S3_COMPLETE];
    out->mpu_aborts = n[S3_ABORT];
    out->retries = retries;
}

const store_driver store_s3_driver = {
    .scheme = "s3://",
    .open = s3_open,
    .close = s3_close,
    .put_begin = s3_put_begin,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .del = s3_del,
    .del_many = s3_del_many,
    .stats = s3_stats,
};
