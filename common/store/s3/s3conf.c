#include "store/s3/s3conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"

#define ATTEMPTS   8
#define BACKOFF_MS 100

/* ---- values ----------------------------------------------------------------- */

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

/* ---- the configuration file's s3: section ------------------------------------ */

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
    o->allow_location_overrides = -1;
    if (c->allow_location_overrides &&
        parse_flag(c->allow_location_overrides, &o->allow_location_overrides) != 0)
        return err_set(e, CAIRN_ECONFIG, "%s: s3.allow_location_overrides must be true or false",
                       file);
    if (c->stall_timeout < 0 || c->stall_timeout > STORE_S3_MAX_STALL)
        return err_set(e, CAIRN_ECONFIG, "%s: s3.stall_timeout must be 1 to %d seconds", file,
                       STORE_S3_MAX_STALL);
    o->stall_timeout = (unsigned)c->stall_timeout;
    o->part_size = (size_t)c->part_size_mib << 20;
    o->parts_in_flight = (unsigned)c->parts_in_flight;
    o->upload_memory = (size_t)c->upload_memory_mib << 20;
    o->spool_file_max = (uint64_t)c->spool_file_mib << 20;
    return 0;
}

/* explicit_bzero: a memset of memory about to be freed may be left out by the compiler. */
static void wipe(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
}

void store_s3_config_wipe(store_s3_config *c)
{
    wipe(c->secret_access_key);
    wipe(c->session_token);
}

/* ---- the process's settings --------------------------------------------------- */

/* A copy of s, NULL for NULL or ""; clears *ok when out of memory. */
static char *dup_opt(const char *s, bool *ok)
{
    if (!s || !*s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

int s3conf_new(s3conf **out, const store_s3_options *o, cairn_err *e)
{
    *out = NULL;
    s3conf *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    static const store_s3_options none = {
        .path_style = -1, .verify_tls = -1, .allow_location_overrides = -1};
    if (!o)
        o = &none;
    bool ok = true;
    c->access_key_id = dup_opt(o->access_key_id, &ok);
    c->secret_access_key = dup_opt(o->secret_access_key, &ok);
    c->session_token = dup_opt(o->session_token, &ok);
    c->region = dup_opt(o->region, &ok);
    c->endpoint = dup_opt(o->endpoint, &ok);
    c->path_style = o->path_style;
    c->verify_tls = o->verify_tls;
    c->allow_overrides = o->allow_location_overrides == 1;
    c->stall_s = o->stall_timeout ? o->stall_timeout : STORE_S3_DEFAULT_STALL;
    if (c->stall_s > STORE_S3_MAX_STALL)
        c->stall_s = STORE_S3_MAX_STALL;
    c->part_size = o->part_size ? o->part_size : STORE_S3_DEFAULT_PART;
    if (c->part_size < STORE_S3_MIN_PART)
        c->part_size = STORE_S3_MIN_PART;
    c->buffers = o->parts_in_flight ? o->parts_in_flight : STORE_S3_DEFAULT_BUFFERS;
    size_t memory = o->upload_memory ? o->upload_memory : STORE_S3_DEFAULT_MEMORY;
    c->spool_dir = dup_opt(o->spool_dir, &ok);
    c->spool_max = o->spool_file_max ? o->spool_file_max : STORE_S3_DEFAULT_SPOOL;
    if (c->spool_max > STORE_S3_MAX_SPOOL)
        c->spool_max = STORE_S3_MAX_SPOOL;
    int rc = ok ? s3budget_new(&c->budget, memory, e) : err_set(e, CAIRN_ENOMEM, "out of memory");
    if (rc) {
        s3conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void s3conf_free(s3conf *c)
{
    if (!c)
        return;
    wipe(c->access_key_id);
    wipe(c->secret_access_key);
    wipe(c->session_token);
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->session_token);
    free(c->region);
    free(c->endpoint);
    free(c->spool_dir);
    s3budget_free(c->budget);
    free(c);
}

/* ---- the location string ------------------------------------------------------ */

void s3conf_location_free(s3_location *l)
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

/* Takes the endpoint or region value val (malloc'd) into *slot when it is valid. */
static int take_value(char **slot, char **val, bool valid, const char *name, const char *what,
                      cairn_err *e)
{
    if (!valid)
        return err_set(e, CAIRN_EINVAL, "%s=%s in the repository location %s", name, *val, what);
    free(*slot);
    *slot = *val;
    *val = NULL;
    return 0;
}

static int parse_param(s3_location *l, const char *p, size_t n, cairn_err *e)
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
        if (len)
            val[len] = '\0';
        rc = take_value(&l->endpoint, &val, len != 0, "endpoint",
                        "must be http://host[:port] or https://host[:port]", e);
    } else if (nlen == 6 && strncmp(p, "region", 6) == 0) {
        rc = take_value(&l->region, &val, region_valid(val), "region",
                        "is not a region name such as eu-west-1", e);
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

/* Reads the bucket at *p (just after "s3://") and moves *p past it. */
static int parse_bucket(const char *url, const char **p, s3_location *l, cairn_err *e)
{
    const char *b = *p;
    size_t blen = strcspn(b, "/?");
    if (memchr(b, '@', blen))
        return no_secrets(e);
    if (blen < 3 || blen > S3CONF_BUCKET_MAX)
        return err_set(e, CAIRN_EINVAL,
                       "repository location '%s' needs a bucket name of 3 to %d characters, as in "
                       "s3://my-bucket/cairn",
                       url, S3CONF_BUCKET_MAX);
    for (size_t i = 0; i < blen; i++)
        if (!bucket_char(b[i]))
            return err_set(e, CAIRN_EINVAL,
                           "'%.*s' in repository location '%s' is not a bucket name (letters, "
                           "digits, '.', '-' and '_')",
                           (int)blen, b, url);
    memcpy(l->bucket, b, blen);
    *p = b + blen;
    return 0;
}

/* The prefix: what follows the bucket up to the query, without surrounding
 * slashes, kept as "" or "a/b/". */
static int parse_prefix(const char *url, const char *p, s3_location *l, cairn_err *e)
{
    if (*p == '/')
        p++;
    size_t plen = strcspn(p, "?");
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    char *prefix = strndup(p, plen);
    if (!prefix)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    if (plen > 0 && store_key_check(prefix, e) != 0) {
        free(prefix);
        return err_prefix(e, "prefix of repository location '%s'", url);
    }
    l->prefix = malloc(plen + 2);
    if (l->prefix)
        snprintf(l->prefix, plen + 2, "%s%s", prefix, plen ? "/" : "");
    free(prefix);
    return l->prefix ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory");
}

int s3conf_parse_location(const char *url, s3_location *l, cairn_err *e)
{
    memset(l, 0, sizeof(*l));
    l->path_style = l->verify_tls = -1;
    const char *p = url + strlen("s3://");
    int rc = parse_bucket(url, &p, l, e);
    if (rc)
        return rc;
    rc = parse_prefix(url, p, l, e);
    p += strcspn(p, "?");
    while (!rc && *p) {
        p++; /* '?' or '&' */
        size_t n = strcspn(p, "&");
        if (n > 0)
            rc = parse_param(l, p, n, e);
        p += n;
    }
    if (rc)
        s3conf_location_free(l);
    return rc;
}

int store_s3_location_check(const char *url, cairn_err *e)
{
    s3_location l;
    int rc = s3conf_parse_location(url, &l, e);
    if (!rc)
        s3conf_location_free(&l);
    return rc;
}

/* ---- settling ------------------------------------------------------------------ */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The endpoint this process has of its own, c's or the environment's (NULL: AWS
 * itself), and where it comes from. */
static const char *own_endpoint(const s3conf *c, const char **src)
{
    const char *v = NULL;
    *src = "s3.endpoint";
    if (c && c->endpoint)
        return c->endpoint;
    if ((v = env("AWS_ENDPOINT_URL_S3")) != NULL)
        *src = "AWS_ENDPOINT_URL_S3";
    else if ((v = env("AWS_ENDPOINT_URL")) != NULL)
        *src = "AWS_ENDPOINT_URL";
    return v;
}

/* The endpoint (malloc'd into *ep, NULL for AWS itself), from the location or this
 * process. A location comes from the network: it may name another endpoint than
 * this process's only when c allows it, or the coordinator could send this
 * machine's data, and requests signed with its key, to a store of its choosing. */
static int settle_endpoint(const char *url, const s3_location *l, const s3conf *c, char **ep,
                           cairn_err *e)
{
    *ep = NULL;
    const char *src, *endpoint = own_endpoint(c, &src);
    size_t len = endpoint ? endpoint_len(endpoint) : 1;
    if (!len)
        return err_set(e, CAIRN_ECONFIG, "%s must be http://host[:port] or https://host[:port]",
                       src);
    if (l->endpoint && endpoint && !(c && c->allow_overrides) &&
        (endpoint_len(l->endpoint) != len || strncasecmp(l->endpoint, endpoint, len) != 0))
        return err_set(e, CAIRN_ECONFIG,
                       "repository location %s names S3 endpoint %s, but this machine's is %.*s "
                       "(%s): a location may not send this machine's data and signed requests "
                       "to another store; correct the location, or set "
                       "s3.allow_location_overrides: true in this machine's configuration",
                       url, l->endpoint, (int)len, endpoint, src);
    if (l->endpoint && (!endpoint || (c && c->allow_overrides)))
        endpoint = l->endpoint; /* otherwise the same as this machine's */
    if (!endpoint)
        return 0;
    if (!(*ep = strndup(endpoint, endpoint_len(endpoint))))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return 0;
}

/* Whether TLS certificates are checked: the location may turn checking on, but off
 * only where c has it off already or allows overrides, since a store that need not
 * prove who it is can be anyone on the path. */
static int settle_verify(const char *url, const s3_location *l, const s3conf *c, bool *verify,
                         cairn_err *e)
{
    bool own = !c || c->verify_tls != 0;
    if (l->verify_tls == 0 && own && !(c && c->allow_overrides))
        return err_set(e, CAIRN_ECONFIG,
                       "repository location %s sets verify_tls=false, but this machine verifies "
                       "the S3 endpoint's TLS certificate: set s3.verify_tls: false (for a test "
                       "store) or s3.allow_location_overrides: true in this machine's "
                       "configuration",
                       url);
    *verify = l->verify_tls >= 0 ? l->verify_tls != 0 : own;
    return 0;
}

static void settle_credentials(const s3conf *c, s3_target *t)
{
    if (c && c->access_key_id) {
        t->access_key_id = c->access_key_id;
        t->secret_access_key = c->secret_access_key;
        t->session_token = c->session_token;
        t->cred_source = "the s3: section of the configuration";
    } else {
        t->access_key_id = env("AWS_ACCESS_KEY_ID");
        t->secret_access_key = env("AWS_SECRET_ACCESS_KEY");
        t->session_token = env("AWS_SESSION_TOKEN");
        t->cred_source = "AWS_ACCESS_KEY_ID";
    }
}

int s3conf_target(const char *url, const s3_location *l, const s3conf *c, s3_target *t, char **ep,
                  cairn_err *e)
{
    memset(t, 0, sizeof(*t));
    int rc = settle_endpoint(url, l, c, ep, e);
    if (!rc)
        rc = settle_verify(url, l, c, &t->verify_tls, e);
    if (rc) {
        free(*ep);
        *ep = NULL;
        return rc;
    }
    bool custom = *ep != NULL;
    const char *region = l->region ? l->region : c ? c->region : NULL;
    if (!region && (region = env("AWS_REGION")) == NULL)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    if (!region_valid(region))
        rc = err_set(e, CAIRN_ECONFIG,
                     "AWS_REGION or AWS_DEFAULT_REGION is not a region name such as eu-west-1");
    else if (!custom && asprintf(ep, "https://s3.%s.amazonaws.com", region) < 0)
        rc = (*ep = NULL, err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url));
    if (rc) {
        free(*ep);
        *ep = NULL;
        return rc;
    }
    int path_style = c ? c->path_style : -1;
    t->endpoint = *ep;
    t->region = region;
    t->bucket = l->bucket;
    t->attempts = ATTEMPTS;
    t->backoff_ms = BACKOFF_MS;
    t->stall_s = c ? c->stall_s : STORE_S3_DEFAULT_STALL;
    t->path_style = l->path_style >= 0 ? l->path_style : path_style >= 0 ? path_style : custom;
    settle_credentials(c, t);
    if (!t->access_key_id || !t->secret_access_key)
        return err_set(e, CAIRN_ECONFIG,
                       "no S3 credentials for bucket %s: set s3.access_key_id and "
                       "s3.secret_access_key in this machine's configuration, or "
                       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                       l->bucket);
    return 0;
}
