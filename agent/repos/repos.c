#include "repos/repos.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A location split into what identifies its repository. */
typedef struct location {
    char scheme;          /* 'f' file://, 's' s3:// */
    const char *where;    /* file: the path; s3: "bucket/prefix" */
    size_t where_len;     /* without a trailing slash (s3) */
    const char *endpoint; /* s3 endpoint= value, not NUL-terminated; NULL: none */
    size_t endpoint_len;
} location;

/* Refuses empty, `.` and `..` components in the len bytes of path (after a '/'). */
static int check_components(const char *path, size_t len, const char *url, cairn_err *e)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 0 || (n == 1 && path[i] == '.') ||
            (n == 2 && path[i] == '.' && path[i + 1] == '.'))
            return err_set(e, CAIRN_EINVAL,
                           "repository location %.200s is not canonical: it has an empty, `.` "
                           "or `..` component; write the path it means",
                           url);
        i = j + 1;
    }
    return 0;
}

static int parse_file(const char *url, location *l, cairn_err *e)
{
    const char *p = url + strlen("file://");
    size_t n = strlen(p);
    if (p[0] != '/')
        return err_set(e, CAIRN_EINVAL,
                       "repository location %.200s is not canonical: a file:// path must be "
                       "absolute",
                       url);
    if (n > 1 && p[n - 1] == '/')
        return err_set(e, CAIRN_EINVAL,
                       "repository location %.200s is not canonical: drop the trailing slash", url);
    if (n > 1 && check_components(p + 1, n - 1, url, e) != 0)
        return e->code;
    l->scheme = 'f';
    l->where = p;
    l->where_len = n;
    return 0;
}

/* Finds the value of endpoint= in the query q (NULL: no query). */
static void find_endpoint(const char *q, location *l)
{
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if (n > 9 && strncmp(q, "endpoint=", 9) == 0) {
            l->endpoint = q + 9;
            l->endpoint_len = n - 9;
        }
        q = q[n] ? q + n + 1 : NULL;
    }
}

static int parse_s3(const char *url, location *l, cairn_err *e)
{
    const char *p = url + strlen("s3://");
    const char *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n > 0 && p[n - 1] == '/')
        n--; /* s3://b/p/ and s3://b/p are one prefix */
    if (n == 0 || p[0] == '/')
        return err_set(e, CAIRN_EINVAL, "repository location %.200s names no bucket", url);
    if (check_components(p, n, url, e) != 0)
        return e->code;
    l->scheme = 's';
    l->where = p;
    l->where_len = n;
    find_endpoint(q ? q + 1 : NULL, l);
    return 0;
}

static int parse(const char *url, location *l, cairn_err *e)
{
    memset(l, 0, sizeof(*l));
    if (strncmp(url, "file://", 7) == 0)
        return parse_file(url, l, e);
    if (strncmp(url, "s3://", 5) == 0)
        return parse_s3(url, l, e);
    return err_set(e, CAIRN_EINVAL,
                   "repository location %.200s is neither file:///path nor s3://bucket/prefix",
                   url);
}

int repos_location_check(const char *url, cairn_err *e)
{
    location l;
    return parse(url, &l, e);
}

static bool same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

bool repos_same(const char *a, const char *b)
{
    location la, lb;
    cairn_err e;
    if (parse(a, &la, &e) != 0 || parse(b, &lb, &e) != 0)
        return false;
    return la.scheme == lb.scheme && same_bytes(la.where, la.where_len, lb.where, lb.where_len) &&
           (la.endpoint != NULL) == (lb.endpoint != NULL) &&
           same_bytes(la.endpoint, la.endpoint_len, lb.endpoint, lb.endpoint_len);
}

/* Points *out at the entry of cfg's repositories that serves url. */
static int served(const agent_config *cfg, const char *url, const agent_repository **out,
                  cairn_err *e)
{
    int rc = repos_location_check(url, e);
    if (rc)
        return rc;
    const agent_repository *r = cfg->repositories.items;
    for (size_t i = 0; i < cfg->repositories.n; i++) {
        if (repos_same(r[i].location, url)) {
            *out = &r[i];
            return 0;
        }
    }
    return err_set(e, CAIRN_EAUTH,
                   "this agent does not serve repository %.300s: add it to `repositories` in "
                   "agent.yaml",
                   url);
}

int repos_store_for(const agent_config *cfg, const char *url, const store_options **opts,
                    cairn_err *e)
{
    const agent_repository *r = NULL;
    int rc = served(cfg, url, &r, e);
    if (!rc)
        *opts = r->store ? r->store : cfg->store;
    return rc;
}

/*
 * What this agent last read in cairn.repo at one location. Its id is a UUID fixed at
 * creation, so when the coordinator, which read cairn.repo for the command at hand,
 * names the same id, the agent takes the rest from here: a repository made anew at
 * the location has another id and is read again. Whether the agent and the coordinator
 * see the same objects, not only the same cairn.repo, is checked by the coordinator
 * once the node manifests are written (docs/architecture.md, Repository identity).
 */
struct repos_seen {
    pthread_mutex_t mu;
    bool valid;
    repo_identity id;
};

static bool seen_get(struct repos_seen *s, const char *want_id, repo_identity *out)
{
    pthread_mutex_lock(&s->mu);
    bool hit = s->valid && strcmp(s->id.id, want_id) == 0;
    if (hit)
        *out = s->id;
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void seen_put(struct repos_seen *s, const repo *r)
{
    pthread_mutex_lock(&s->mu);
    repo_identity_of(r, &s->id);
    s->valid = true;
    pthread_mutex_unlock(&s->mu);
}

int repos_repo_open(repo **out, const agent_config *cfg, const char *url, const char *want_id,
                    cairn_err *e)
{
    *out = NULL;
    const agent_repository *ar = NULL;
    int rc = served(cfg, url, &ar, e);
    if (rc)
        return rc;
    const store_options *opts = ar->store ? ar->store : cfg->store;
    repo_identity id;
    if (want_id && ar->seen && seen_get(ar->seen, want_id, &id))
        return repo_open_as(out, url, opts, &id, e);
    rc = repo_open(out, url, opts, false, e);
    if (!rc && ar->seen)
        seen_put(ar->seen, *out);
    /* repo_open's hint (`cairn repo init`) is for the operator's machine: here the
     * repository is missing only as this node sees it. */
    if (rc == CAIRN_ENOENT)
        err_set(e, rc,
                "this node sees no cairn repository at %.300s, though the coordinator uses it: "
                "every node must see the same repository (for file://, one shared file "
                "system mounted at the same path on every node; see docs/storage.md)",
                url);
    return rc;
}

/* Whether the repository's own s3: map says anything. */
static bool has_s3(const store_s3_config *c)
{
    return c->access_key_id || c->secret_access_key || c->session_token || c->region ||
           c->endpoint || c->path_style || c->verify_tls || c->part_size_mib ||
           c->parts_in_flight || c->upload_memory_mib || c->spool_file_mib || c->stall_timeout ||
           c->allow_location_overrides;
}

int repos_open(agent_config *cfg, cairn_err *e)
{
    agent_repository *r = cfg->repositories.items;
    for (size_t i = 0; i < cfg->repositories.n; i++) {
        if (!(r[i].seen = calloc(1, sizeof(*r[i].seen))))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        pthread_mutex_init(&r[i].seen->mu, NULL);
        if (!has_s3(&r[i].s3))
            continue;
        store_s3_options s3;
        int rc = store_s3_config_options(&r[i].s3, "agent.yaml", &s3, e);
        s3.spool_dir = cfg->state_dir;
        if (!rc)
            rc = store_options_new(&r[i].store, &s3, e);
        if (rc) {
            err_prefix(e, "repositories[%zu]", i);
            return rc;
        }
    }
    return 0;
}

void repos_close(agent_config *cfg)
{
    agent_repository *r = cfg->repositories.items;
    for (size_t i = 0; i < cfg->repositories.n; i++) {
        store_options_free(r[i].store);
        r[i].store = NULL;
        if (r[i].seen)
            pthread_mutex_destroy(&r[i].seen->mu);
        free(r[i].seen);
        r[i].seen = NULL;
    }
}

Cairn__Rpc__StoreRequests *repos_requests(const repo *r)
{
    Cairn__Rpc__StoreRequests *q = malloc(sizeof(*q));
    if (!q)
        return NULL;
    cairn__rpc__store_requests__init(q);
    store_counts c;
    repo_stats(r, &c);
    q->has_puts = q->has_part_puts = q->has_gets = q->has_heads = 1;
    q->has_lists = q->has_deletes = q->has_multipart = q->has_retries = 1;
    q->puts = c.puts;
    q->part_puts = c.part_puts;
    q->gets = c.gets;
    q->heads = c.heads;
    q->lists = c.lists;
    q->deletes = c.deletes;
    q->multipart = c.mpu_initiates + c.mpu_completes + c.mpu_aborts;
    q->retries = c.retries;
    return q;
}
