#include "node/scylla_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "net/http.h"

/* Idle curl handles kept for reuse; more concurrent calls get throw-away handles. */
#define POOL_MAX 8

struct scylla {
    char *base;
    long timeout_ms;
    pthread_mutex_t lock;             /* guards limit_ms */
    long limit_ms[SCYLLA_CALL_KINDS]; /* 0: none */
    http_pool *pool;
};

/* What each kind of call is, and the agent.yaml setting of its limit. */
static const char *const kind_what[SCYLLA_CALL_KINDS] = {"call", "flush", "snapshot",
                                                         "load_sstables"};
static const char *const kind_setting[SCYLLA_CALL_KINDS] = {
    "scylla.timeout", "scylla.flush_timeout", "scylla.snapshot_timeout", "scylla.load_timeout"};

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
    http_pool *pool;
    int rc = http_pool_new(&pool, POOL_MAX, e);
    if (rc)
        return rc;
    scylla *s = calloc(1, sizeof(*s));
    if (!s || !(s->base = strdup(api_url))) {
        free(s);
        http_pool_free(pool);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    s->pool = pool;
    size_t n = strlen(s->base);
    while (n > 0 && s->base[n - 1] == '/')
        s->base[--n] = '\0';
    s->timeout_ms = timeout_ms;
    s->limit_ms[SCYLLA_CALL_QUICK] = timeout_ms;
    s->limit_ms[SCYLLA_CALL_FLUSH] = SCYLLA_DEFAULT_FLUSH_MS;
    s->limit_ms[SCYLLA_CALL_SNAPSHOT] = SCYLLA_DEFAULT_SNAPSHOT_MS;
    s->limit_ms[SCYLLA_CALL_LOAD] = SCYLLA_DEFAULT_LOAD_MS;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void scylla_close(scylla *s)
{
    if (!s)
        return;
    http_pool_free(s->pool);
    pthread_mutex_destroy(&s->lock);
    free(s->base);
    free(s);
}

void scylla_set_limits(scylla *s, long flush_ms, long snapshot_ms, long load_ms)
{
    const long v[SCYLLA_CALL_KINDS] = {0, flush_ms, snapshot_ms, load_ms};
    pthread_mutex_lock(&s->lock);
    for (int k = SCYLLA_CALL_FLUSH; k < SCYLLA_CALL_KINDS; k++)
        if (v[k] > 0)
            s->limit_ms[k] = v[k];
    pthread_mutex_unlock(&s->lock);
}

void scylla_set_slow_timeout(scylla *s, long timeout_ms)
{
    pthread_mutex_lock(&s->lock);
    for (int k = SCYLLA_CALL_FLUSH; k < SCYLLA_CALL_KINDS; k++)
        s->limit_ms[k] = timeout_ms > 0 ? timeout_ms : 0;
    pthread_mutex_unlock(&s->lock);
}

char *scylla_escape(const char *s)
{
    return http_uri_encode(s, NULL);
}

char *scylla_escape_segment(const char *s)
{
    return http_uri_encode(s, ":");
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    scylla_reply *r = userdata;
    size_t n = size * nmemb;
    int rc = buf_append(&r->body, data, n, NULL);
    if (rc == CAIRN_EPROTO)
        r->too_big = true;
    return rc ? 0 : n;
}

static int transport_error(scylla *s, CURLcode rc, const char *method, const char *path,
                           scylla_call_kind kind, long timeout_ms, const scylla_reply *r,
                           const char *detail, cairn_err *e)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (kind != SCYLLA_CALL_QUICK)
            return err_set(e, CAIRN_ETIMEDOUT,
                           "ScyllaDB's REST API at %s did not answer %s %s within %ld ms: the "
                           "%s took longer than its limit (%s in agent.yaml; raise it for a "
                           "large node, or see why ScyllaDB is stuck)",
                           s->base, method, path, timeout_ms, kind_what[kind], kind_setting[kind]);
        return err_set(e, CAIRN_ETIMEDOUT,
                       "ScyllaDB's REST API at %s did not answer %s %s within %ld ms "
                       "(%s in agent.yaml; is scylla-server running and api_address set?)",
                       s->base, method, path, timeout_ms, kind_setting[kind]);
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
int scylla_perform(scylla *s, const char *method, const char *path, scylla_call_kind kind,
                   scylla_reply *r, cairn_err *e)
{
    *r = (scylla_reply){.body = {.limit = SCYLLA_MAX_BODY}};
    if (!path || path[0] != '/')
        return err_set(e, CAIRN_EINVAL, "REST API path '%s' must start with '/'", path ? path : "");
    bool is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    if (!is_get && !is_post && strcmp(method, "DELETE") != 0)
        return err_set(e, CAIRN_EINVAL, "unsupported HTTP method '%s'", method);

    pthread_mutex_lock(&s->lock);
    if ((unsigned)kind >= SCYLLA_CALL_KINDS)
        kind = SCYLLA_CALL_QUICK;
    long total_ms = s->limit_ms[kind];
    pthread_mutex_unlock(&s->lock);

    char *url = NULL;
    if (asprintf(&url, "%s%s", s->base, path) < 0)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    CURL *h = http_pool_get(s->pool);
    if (!h) {
        free(url);
        return err_set(e, CAIRN_ENOMEM, "cannot create a libcurl handle");
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    char detail[CURL_ERROR_SIZE] = "";

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
    /* Back in the pool the handle is reset: it keeps no pointer to this stack frame. */
    http_pool_put(s->pool, h);
    curl_slist_free_all(headers);
    free(url);
    if (rc != CURLE_OK) {
        if (!detail[0])
            snprintf(detail, sizeof(detail), "%s", curl_easy_strerror(rc));
        /* Without a total limit only the connect timeout can have expired. */
        long limit_ms = total_ms ? total_ms : s->timeout_ms;
        int code = transport_error(s, rc, method, path, kind, limit_ms, r, detail, e);
        buf_free(&r->body);
        return code;
    }
    return 0;
}

/* Parses the whole of text as one JSON value; NULL if it is not exactly that. */
static json_object *parse_json(const char *text, size_t len)
{
    if (len == 0 || len > (size_t)INT32_MAX - 1 || memchr(text, '\0', len))
        return NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* Feeding the terminating NUL tells the tokener the input ends (a bare number). */
    json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* The message in an error answer: {"message": ...}, a JSON string, or the raw text. */
void scylla_error_message(const scylla_reply *r, char *out, size_t cap)
{
    if (r->body.len == 0) {
        snprintf(out, cap, "(empty body)");
        return;
    }
    json_object *o = parse_json((const char *)r->body.data, r->body.len), *m = NULL;
    const char *msg = NULL;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "message", &m) && json_object_is_type(m, json_type_string))
        msg = json_object_get_string(m);
    else if (o && json_object_is_type(o, json_type_string))
        msg = json_object_get_string(o);
    if (msg)
        text_printable(msg, strlen(msg), out, cap);
    else
        text_printable((const char *)r->body.data, r->body.len, out, cap);
    json_object_put(o);
}

static int status_error(const char *method, const char *path, const scylla_reply *r, cairn_err *e)
{
    char msg[512];
    scylla_error_message(r, msg, sizeof(msg));
    if (r->status >= 400)
        return err_set(e, CAIRN_EREMOTE, "ScyllaDB answered %s %s with %ld: %s", method, path,
                       r->status, msg);
    return err_set(e, CAIRN_EPROTO, "ScyllaDB answered %s %s with unexpected status %ld: %s",
                   method, path, r->status, msg);
}

int scylla_finish(const char *method, const char *path, scylla_reply *r, json_object **out,
                  cairn_err *e)
{
    int rc = 0;
    if (r->status < 200 || r->status >= 300) {
        rc = status_error(method, path, r, e);
    } else if (out && r->body.len > 0) {
        *out = parse_json((const char *)r->body.data, r->body.len);
        if (!*out) {
            char ex[128];
            text_printable((const char *)r->body.data, r->body.len, ex, sizeof(ex));
            rc =
                err_set(e, CAIRN_EPROTO, "ScyllaDB answered %s %s with a body that is not JSON: %s",
                        method, path, ex);
        }
    }
    buf_free(&r->body);
    return rc;
}

int scylla_call(scylla *s, const char *method, const char *path, scylla_call_kind kind,
                json_object **out, cairn_err *e)
{
    if (out)
        *out = NULL;
    scylla_reply r;
    int rc = scylla_perform(s, method, path, kind, &r, e);
    if (rc < 0)
        return rc;
    return scylla_finish(method, path, &r, out, e);
}

int scylla_request(scylla *s, const char *method, const char *path, json_object **out_or_null,
                   cairn_err *e)
{
    return scylla_call(s, method, path, false, out_or_null, e);
}
