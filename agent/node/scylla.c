#include "node/scylla.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idle curl handles kept for reuse; more concurrent calls get throw-away handles. */
#define POOL_MAX 8

struct scylla {
    char *base;
    long timeout_ms;
    long slow_timeout_ms;
    pthread_mutex_t lock;
    CURL *idle[POOL_MAX];
    size_t nidle;
};

typedef struct reply {
    long status;
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
} reply;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int scylla_open(scylla **out, const char *api_url, long timeout_ms, cairn_err *e)
{
    *out = NULL;
    if (!api_url || (strncmp(api_url, "http://", 7) != 0 && strncmp(api_url, "https://", 8) != 0))
        return err_set(e, CAIRN_ECONFIG,
                       "ScyllaDB REST API URL '%s' must start with http:// or https:// "
                       "(e.g. http://127.0.0.1:10000)",
                       api_url ? api_url : "");
    if (timeout_ms <= 0)
        return err_set(e, CAIRN_EINVAL, "REST API timeout must be positive, got %ld ms",
                       timeout_ms);
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(e, CAIRN_ENOMEM, "cannot initialise libcurl: %s",
                       curl_easy_strerror(curl_init_rc));
    scylla *s = calloc(1, sizeof(*s));
    if (!s || !(s->base = strdup(api_url))) {
        free(s);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    size_t n = strlen(s->base);
    while (n > 0 && s->base[n - 1] == '/')
        s->base[--n] = '\0';
    s->timeout_ms = timeout_ms;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void scylla_close(scylla *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    pthread_mutex_destroy(&s->lock);
    free(s->base);
    free(s);
}

void scylla_set_slow_timeout(scylla *s, long timeout_ms)
{
    pthread_mutex_lock(&s->lock);
    s->slow_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    pthread_mutex_unlock(&s->lock);
}

static CURL *pool_get(scylla *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->nidle > 0)
        h = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->lock);
    return h ? h : curl_easy_init();
}

static void pool_put(scylla *s, CURL *h)
{
    pthread_mutex_lock(&s->lock);
    if (s->nidle < POOL_MAX) {
        s->idle[s->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (h)
        curl_easy_cleanup(h);
}

static char *escape_keep(const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep && strchr(keep, c))) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

char *scylla_escape(const char *s)
{
    return escape_keep(s, NULL);
}

/*
 * A path segment keeps ':' (legal there by RFC 3986) so that an IPv6 endpoint reaches
 * ScyllaDB intact whether or not its router decodes path parameters.
 */
static char *escape_segment(const char *s)
{
    return escape_keep(s, ":");
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    reply *r = userdata;
    size_t n = size * nmemb;
    if (n > SCYLLA_MAX_BODY - r->len) {
        r->too_big = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p)
            return 0;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static int transport_error(scylla *s, CURLcode rc, const char *method, const char *path,
                           long timeout_ms, const reply *r, const char *detail, cairn_err *e)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(e, CAIRN_ETIMEDOUT,
                       "ScyllaDB's REST API at %s did not answer %s %s within %ld ms "
                       "(is scylla-server running and api_address set?)",
                       s->base, method, path, timeout_ms);
    case CURLE_OUT_OF_MEMORY:
        return err_set(e, CAIRN_ENOMEM, "out of memory calling ScyllaDB's REST API");
    case CURLE_FILESIZE_EXCEEDED:
        return err_set(e, CAIRN_EPROTO,
                       "ScyllaDB's answer to %s %s is larger than the %u MiB cairn accepts", method,
                       path, SCYLLA_MAX_BODY >> 20);
    case CURLE_WRITE_ERROR:
        if (r->too_big)
            return err_set(e, CAIRN_EPROTO,
                           "ScyllaDB's answer to %s %s is larger than the %u MiB cairn accepts",
                           method, path, SCYLLA_MAX_BODY >> 20);
        return err_set(e, CAIRN_ENOMEM, "out of memory reading ScyllaDB's answer to %s %s", method,
                       path);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return err_set(e, CAIRN_ECONFIG, "invalid ScyllaDB REST API URL %s%s: %s", s->base, path,
                       detail);
    default:
        return err_set(e, CAIRN_ECONN,
                       "cannot reach ScyllaDB's REST API at %s (is scylla-server running and "
                       "api_address set?): %s %s: %s",
                       s->base, method, path, detail);
    }
}

/* Sends one request; returns 0 with r filled whenever an HTTP answer came back. */
static int perform(scylla *s, const char *method, const char *path, bool slow, reply *r,
                   cairn_err *e)
{
    memset(r, 0, sizeof(*r));
    if (!path || path[0] != '/')
        return err_set(e, CAIRN_EINVAL, "REST API path '%s' must start with '/'", path ? path : "");
    bool is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    if (!is_get && !is_post && strcmp(method, "DELETE") != 0)
        return err_set(e, CAIRN_EINVAL, "unsupported HTTP method '%s'", method);

    pthread_mutex_lock(&s->lock);
    long total_ms = slow ? s->slow_timeout_ms : s->timeout_ms;
    pthread_mutex_unlock(&s->lock);

    char *url = NULL;
    if (asprintf(&url, "%s%s", s->base, path) < 0)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    CURL *h = pool_get(s);
    if (!h) {
        free(url);
        return err_set(e, CAIRN_ENOMEM, "cannot create a libcurl handle");
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    char detail[CURL_ERROR_SIZE] = "";

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SCYLLA_MAX_BODY);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    if (is_post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (!is_get) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = headers ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    /* The error buffer lives on this stack frame; the handle outlives it in the pool. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    free(url);
    pool_put(s, h);
    if (rc != CURLE_OK) {
        if (!detail[0])
            snprintf(detail, sizeof(detail), "%s", curl_easy_strerror(rc));
        /* Without a total limit only the connect timeout can have expired. */
        long limit_ms = total_ms ? total_ms : s->timeout_ms;
        int code = transport_error(s, rc, method, path, limit_ms, r, detail, e);
        free(r->body);
        r->body = NULL;
        return code;
    }
    return 0;
}

/* Parses the whole of buf as one JSON value; NULL if it is not exactly that. */
static json_object *parse_json(const char *buf, size_t len)
{
    if (len == 0 || len > (size_t)INT32_MAX - 1 || memchr(buf, '\0', len))
        return NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* Feeding the terminating NUL tells the tokener the input ends (a bare number). */
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len + 1);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* A printable excerpt of an unparseable body, for error messages. */
static void excerpt(const char *body, size_t len, char *out, size_t cap)
{
    size_t n = len < cap - 4 ? len : cap - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    strcpy(out + n, len > n ? "..." : "");
}

/* The message in an error answer: {"message": ...}, a JSON string, or the raw text. */
static void error_message(const reply *r, char *out, size_t cap)
{
    if (r->len == 0) {
        snprintf(out, cap, "(empty body)");
        return;
    }
    json_object *o = parse_json(r->body, r->len), *m = NULL;
    const char *msg = NULL;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "message", &m) && json_object_is_type(m, json_type_string))
        msg = json_object_get_string(m);
    else if (o && json_object_is_type(o, json_type_string))
        msg = json_object_get_string(o);
    if (msg)
        excerpt(msg, strlen(msg), out, cap);
    else
        excerpt(r->body, r->len, out, cap);
    json_object_put(o);
}

static int status_error(const char *method, const char *path, const reply *r, cairn_err *e)
{
    char msg[512];
    error_message(r, msg, sizeof(msg));
    if (r->status >= 400)
        return err_set(e, CAIRN_EREMOTE, "ScyllaDB answered %s %s with %ld: %s", method, path,
                       r->status, msg);
    return err_set(e, CAIRN_EPROTO, "ScyllaDB answered %s %s with unexpected status %ld: %s",
                   method, path, r->status, msg);
}

static int finish(const char *method, const char *path, reply *r, json_object **out, cairn_err *e)
{
    int rc = 0;
    if (r->status < 200 || r->status >= 300) {
        rc = status_error(method, path, r, e);
    } else if (out && r->len > 0) {
        *out = parse_json(r->body, r->len);
        if (!*out) {
            char ex[128];
            excerpt(r->body, r->len, ex, sizeof(ex));
            rc =
                err_set(e, CAIRN_EPROTO, "ScyllaDB answered %s %s with a body that is not JSON: %s",
                        method, path, ex);
        }
    }
    free(r->body);
    r->body = NULL;
    return rc;
}

static int request(scylla *s, const char *method, const char *path, bool slow, json_object **out,
                   cairn_err *e)
{
    if (out)
        *out = NULL;
    reply r;
    int rc = perform(s, method, path, slow, &r, e);
    if (rc < 0)
        return rc;
    return finish(method, path, &r, out, e);
}

int scylla_request(scylla *s, const char *method, const char *path, json_object **out_or_null,
                   cairn_err *e)
{
    return request(s, method, path, false, out_or_null, e);
}

static int shape_error(const char *path, const char *expected, json_object *o, cairn_err *e)
{
    return err_set(e, CAIRN_EPROTO, "ScyllaDB answered GET %s with %s where %s was expected", path,
                   o ? json_type_to_name(json_object_get_type(o)) : "an empty body", expected);
}

static int dup_string(json_object *o, char **out, cairn_err *e)
{
    if (!(*out = strdup(json_object_get_string(o))))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return 0;
}

static int get_string(scylla *s, const char *path, char **out, cairn_err *e)
{
    *out = NULL;
    json_object *o;
    int rc = request(s, "GET", path, false, &o, e);
    if (rc < 0)
        return rc;
    if (!o || !json_object_is_type(o, json_type_string))
        rc = shape_error(path, "a string", o, e);
    else
        rc = dup_string(o, out, e);
    json_object_put(o);
    return rc;
}

void scylla_strv_free(char **items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static int strv_from_json(const char *path, json_object *o, char ***items, size_t *n, cairn_err *e)
{
    if (!o || !json_object_is_type(o, json_type_array))
        return shape_error(path, "a list of strings", o, e);
    size_t len = json_object_array_length(o);
    char **v = calloc(len ? len : 1, sizeof(*v));
    if (!v)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *it = json_object_array_get_idx(o, i);
        int rc = 0;
        if (!json_object_is_type(it, json_type_string))
            rc = shape_error(path, "a list of strings", it, e);
        else
            rc = dup_string(it, &v[i], e);
        if (rc < 0) {
            scylla_strv_free(v, i);
            return rc;
        }
    }
    *items = v;
    *n = len;
    return 0;
}

static int get_strv(scylla *s, const char *path, char ***items, size_t *n, cairn_err *e)
{
    *items = NULL;
    *n = 0;
    json_object *o;
    int rc = request(s, "GET", path, false, &o, e);
    if (rc < 0)
        return rc;
    rc = strv_from_json(path, o, items, n, e);
    json_object_put(o);
    return rc;
}

int scylla_host_id(scylla *s, char **out, cairn_err *e)
{
    static const char path[] = "/storage_service/hostid/local";
    *out = NULL;
    reply r;
    int rc = perform(s, "GET", path, false, &r, e);
    if (rc < 0)
        return rc;
    if (r.status == 404) {
        char msg[512];
        error_message(&r, msg, sizeof(msg));
        free(r.body);
        return err_set(e, CAIRN_ENOENT,
                       "ScyllaDB has no host id yet (%s); wait until the node has joined the "
                       "cluster and try again",
                       msg);
    }
    json_object *o = NULL;
    rc = finish("GET", path, &r, &o, e);
    if (rc < 0)
        return rc;
    if (!o || !json_object_is_type(o, json_type_string) || json_object_get_string_len(o) == 0)
        rc = shape_error(path, "a host id", o, e);
    else
        rc = dup_string(o, out, e);
    json_object_put(o);
    return rc;
}

int scylla_datacenter(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/snitch/datacenter", out, e);
}

int scylla_rack(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/snitch/rack", out, e);
}

int scylla_release_version(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/storage_service/scylla_release_version", out, e);
}

int scylla_cluster_name(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/storage_service/cluster_name", out, e);
}

int scylla_data_dirs(scylla *s, char ***items, size_t *n, cairn_err *e)
{
    return get_strv(s, "/storage_service/data_file/locations", items, n, e);
}

void scylla_ring_free(scylla_endpoint *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++) {
        free(eps[i].address);
        free(eps[i].host_id);
    }
    free(eps);
}

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static int ring_from_json(json_object *map, char **live, size_t nlive, char **down, size_t ndown,
                          scylla_endpoint **eps, size_t *n, cairn_err *e)
{
    static const char path[] = "/storage_service/host_id";
    if (!map || !json_object_is_type(map, json_type_array))
        return shape_error(path, "a list of {key, value}", map, e);
    size_t len = json_object_array_length(map);
    scylla_endpoint *v = calloc(len ? len : 1, sizeof(*v));
    if (!v)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *it = json_object_array_get_idx(map, i), *k = NULL, *val = NULL;
        if (!json_object_is_type(it, json_type_object) ||
            !json_object_object_get_ex(it, "key", &k) ||
            !json_object_object_get_ex(it, "value", &val) ||
            !json_object_is_type(k, json_type_string) ||
            !json_object_is_type(val, json_type_string)) {
            scylla_ring_free(v, len);
            return shape_error(path, "a {key, value} pair of strings", it, e);
        }
        int rc = dup_string(k, &v[i].address, e);
        if (rc == 0)
            rc = dup_string(val, &v[i].host_id, e);
        if (rc < 0) {
            scylla_ring_free(v, len);
            return rc;
        }
        v[i].up = strv_has(live, nlive, v[i].address) && !strv_has(down, ndown, v[i].address);
    }
    *eps = v;
    *n = len;
    return 0;
}

int scylla_ring(scylla *s, scylla_endpoint **eps, size_t *n, cairn_err *e)
{
    *eps = NULL;
    *n = 0;
    json_object *map = NULL;
    char **live = NULL, **down = NULL;
    size_t nlive = 0, ndown = 0;
    int rc = request(s, "GET", "/storage_service/host_id", false, &map, e);
    if (rc == 0)
        rc = get_strv(s, "/gossiper/endpoint/live/", &live, &nlive, e);
    if (rc == 0)
        rc = get_strv(s, "/gossiper/endpoint/down/", &down, &ndown, e);
    if (rc == 0)
        rc = ring_from_json(map, live, nlive, down, ndown, eps, n, e);
    json_object_put(map);
    scylla_strv_free(live, nlive);
    scylla_strv_free(down, ndown);
    return rc;
}

int scylla_tokens(scylla *s, const char *endpoint_or_null, char ***items, size_t *n, cairn_err *e)
{
    if (!endpoint_or_null)
        return get_strv(s, "/storage_service/tokens", items, n, e);
    *items = NULL;
    *n = 0;
    if (!*endpoint_or_null)
        return err_set(e, CAIRN_EINVAL, "empty endpoint address");
    char *ep = escape_segment(endpoint_or_null), *path = NULL;
    if (!ep || asprintf(&path, "/storage_service/tokens/%s", ep) < 0) {
        free(ep);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    int rc = get_strv(s, path, items, n, e);
    free(ep);
    free(path);
    return rc;
}

int scylla_keyspaces(scylla *s, const char *type, char ***items, size_t *n, cairn_err *e)
{
    if (!type)
        return get_strv(s, "/storage_service/keyspaces", items, n, e);
    *items = NULL;
    *n = 0;
    if (strcmp(type, "user") != 0 && strcmp(type, "all") != 0 &&
        strcmp(type, "non_local_strategy") != 0)
        return err_set(e, CAIRN_EINVAL,
                       "unknown keyspace type '%s' (use user, all or non_local_strategy)", type);
    char path[64];
    snprintf(path, sizeof(path), "/storage_service/keyspaces?type=%s", type);
    return get_strv(s, path, items, n, e);
}

int scylla_tables(scylla *s, char ***items, size_t *n, cairn_err *e)
{
    return get_strv(s, "/column_family/name", items, n, e);
}

static int check_name(const char *what, const char *name, cairn_err *e)
{
    if (!name || !*name)
        return err_set(e, CAIRN_EINVAL, "empty %s name", what);
    return 0;
}

/* Escaped, comma-joined names: ScyllaDB splits cf= on literal commas. */
static char *join_escaped(const char *const *names, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(names[i]) * 3 + 1;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o = '\0';
    for (size_t i = 0; i < n; i++) {
        char *x = scylla_escape(names[i]);
        if (!x) {
            free(out);
            return NULL;
        }
        o += sprintf(o, "%s%s", i ? "," : "", x);
        free(x);
    }
    return out;
}

/* The calls that make ScyllaDB work; a NULL path means building it ran out of memory. */
static int post_or_delete(scylla *s, const char *method, const char *path, cairn_err *e)
{
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return request(s, method, path, true, NULL, e);
}

static int check_tables(const char *const *tables, size_t ntables, cairn_err *e)
{
    for (size_t i = 0; i < ntables; i++) {
        int rc = check_name("table", tables ? tables[i] : NULL, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int scylla_flush(scylla *s, const char *keyspace, const char *const *tables, size_t ntables,
                 cairn_err *e)
{
    int rc = check_name("keyspace", keyspace, e);
    if (rc == 0)
        rc = check_tables(tables, ntables, e);
    if (rc < 0)
        return rc;
    char *ks = escape_segment(keyspace), *cf = join_escaped(tables, ntables), *path = NULL;
    if (ks && cf &&
        asprintf(&path, "/storage_service/keyspace_flush/%s%s%s", ks, ntables ? "?cf=" : "", cf) <
            0)
        path = NULL;
    rc = post_or_delete(s, "POST", path, e);
    free(ks);
    free(cf);
    free(path);
    return rc;
}

int scylla_snapshot(scylla *s, const char *tag, const char *keyspace, const char *const *tables,
                    size_t ntables, bool skip_flush, cairn_err *e)
{
    int rc = check_name("snapshot tag", tag, e);
    if (rc == 0 && keyspace)
        rc = check_name("keyspace", keyspace, e);
    if (rc == 0 && !keyspace && ntables)
        rc = err_set(e, CAIRN_EINVAL, "a snapshot of chosen tables needs their keyspace");
    if (rc == 0)
        rc = check_tables(tables, ntables, e);
    if (rc < 0)
        return rc;
    char *t = scylla_escape(tag), *ks = keyspace ? scylla_escape(keyspace) : strdup("");
    char *cf = join_escaped(tables, ntables), *path = NULL;
    if (t && ks && cf &&
        asprintf(&path, "/storage_service/snapshots?tag=%s%s%s%s%s%s", t, keyspace ? "&kn=" : "",
                 ks, ntables ? "&cf=" : "", cf, skip_flush ? "&sf=true" : "") < 0)
        path = NULL;
    rc = post_or_delete(s, "POST", path, e);
    free(t);
    free(ks);
    free(cf);
    free(path);
    return rc;
}

int scylla_snapshot_delete(scylla *s, const char *tag, const char *keyspace_or_null,
                           const char *table_or_null, cairn_err *e)
{
    int rc = check_name("snapshot tag", tag, e);
    if (rc == 0 && keyspace_or_null)
        rc = check_name("keyspace", keyspace_or_null, e);
    if (rc == 0 && table_or_null && !keyspace_or_null)
        rc = err_set(e, CAIRN_EINVAL, "deleting the snapshot of one table needs its keyspace");
    if (rc == 0 && table_or_null)
        rc = check_name("table", table_or_null, e);
    if (rc < 0)
        return rc;
    char *t = scylla_escape(tag);
    char *ks = keyspace_or_null ? scylla_escape(keyspace_or_null) : strdup("");
    char *cf = table_or_null ? scylla_escape(table_or_null) : strdup(""), *path = NULL;
    if (t && ks && cf &&
        asprintf(&path, "/storage_service/snapshots?tag=%s%s%s%s%s", t,
                 keyspace_or_null ? "&kn=" : "", ks, table_or_null ? "&cf=" : "", cf) < 0)
        path = NULL;
    rc = post_or_delete(s, "DELETE", path, e);
    free(t);
    free(ks);
    free(cf);
    free(path);
    return rc;
}

int scylla_load_sstables(scylla *s, const char *keyspace, const char *table, bool load_and_stream,
                         bool primary_replica_only, cairn_err *e)
{
    int rc = check_name("keyspace", keyspace, e);
    if (rc == 0)
        rc = check_name("table", table, e);
    if (rc < 0)
        return rc;
    char *ks = escape_segment(keyspace), *cf = scylla_escape(table), *path = NULL;
    if (ks && cf &&
        asprintf(&path, "/storage_service/sstables/%s?cf=%s%s%s", ks, cf,
                 load_and_stream ? "&load_and_stream=true" : "",
                 primary_replica_only ? "&primary_replica_only=true" : "") < 0)
        path = NULL;
    free(ks);
    free(cf);
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");

    reply r;
    rc = perform(s, "POST", path, true, &r, e);
    if (rc == 0 && r.status >= 400 && r.len > 0 && r.body &&
        strstr(r.body, "Already loading SSTables")) {
        free(r.body);
        rc = err_set(
            e, CAIRN_EBUSY,
            "ScyllaDB is already loading SSTables, so loading %s.%s must wait; try again later",
            keyspace, table);
    } else if (rc == 0) {
        rc = finish("POST", path, &r, NULL, e);
    }
    free(path);
    return rc;
}
