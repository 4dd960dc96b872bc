/*
 * The s3:// driver: a bucket and a key prefix on S3 or an S3-compatible store.
 * Objects are keyed "<prefix>/<key>"; settings are s3conf's, requests, signing and
 * retries s3req's, streaming writes s3put's.
 */
#include "store/s3/store_s3.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3/s3conf.h"
#include "store/s3/s3put.h"
#include "store/s3/s3req.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3xml.h"
#include "store/store_impl.h"

#define DELETE_BATCH 1000 /* DeleteObjects' limit */

struct s3_store {
    s3_client *c;
    char *prefix;
    const s3conf *conf; /* the process's, or own_conf */
    s3conf *own_conf;   /* a store opened without options has its own defaults */
};

static int s3_open(const char *url, const store_options *o, void **impl, cairn_err *e)
{
    struct s3_store *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    s3_location l;
    int rc = s3conf_parse_location(url, &l, e);
    if (rc) {
        free(s);
        return rc;
    }
    s->prefix = l.prefix;
    l.prefix = NULL;
    s->conf = o ? o->s3 : NULL;
    if (!s->conf && (rc = s3conf_new(&s->own_conf, NULL, e)) == 0)
        s->conf = s->own_conf;
    char *ep = NULL;
    s3_target t;
    if (!rc)
        rc = s3conf_target(url, &l, s->conf, &t, &ep, e);
    if (!rc)
        rc = s3_client_new(&t, &s->c, e);
    free(ep);
    s3conf_location_free(&l);
    if (rc) {
        s3conf_free(s->own_conf);
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
    s3conf_free(s->own_conf);
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
    int rc = s3put_begin(s->c, k, s3put_part_size(size_hint, s->conf->part_size), s->conf->buffers,
                         s->conf->budget, &w, e);
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

/* One part buffer, then the spool file: sent as one PUT once the name is known. */
static int s3_put_begin_unnamed(void *impl, const char *dir, void **wimpl, cairn_err *e)
{
    (void)dir;
    struct s3_store *s = impl;
    s3put *w = NULL;
    int rc = s3put_begin_unnamed(s->c, s3put_part_size(0, s->conf->part_size), s->conf->budget,
                                 s->conf->spool_dir, s->conf->spool_max, &w, e);
    *wimpl = w;
    return rc;
}

static int s3_commit_as(void *impl, void *wimpl, const char *key, cairn_err *e)
{
    const struct s3_store *s = impl;
    return s3put_commit_as(wimpl, s->prefix, key, e);
}

static uint64_t s3_unnamed_max(void *impl)
{
    const struct s3_store *s = impl;
    uint64_t part = s3put_part_size(0, s->conf->part_size);
    return s->conf->spool_dir && s->conf->spool_max > part ? s->conf->spool_max : part;
}

/* One request about one key with no body to send; rs->body is freed. */
static int key_request(struct s3_store *s, s3_kind kind, const char *method, const char *key,
                       store_sink sink, void *ctx, s3_response *rs, cairn_err *e)
{
    memset(rs, 0, sizeof(*rs));
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3_request rq = {.kind = kind, .method = method, .key = k, .sink = sink, .sink_ctx = ctx};
    int rc = s3_perform(s->c, &rq, rs, e);
    free(rs->body);
    rs->body = NULL;
    free(k);
    return rc;
}

static int s3_get(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e)
{
    s3_response rs;
    return key_request(impl, S3_GET, "GET", key, sink, ctx, &rs, e);
}

static int s3_get_range(void *impl, const char *key, uint64_t offset, uint64_t length,
                        store_sink sink, void *ctx, cairn_err *e)
{
    struct s3_store *s = impl;
    char *k = full_key(s, key, e);
    if (!k)
        return CAIRN_ENOMEM;
    s3_request rq = {.kind = S3_GET,
                     .method = "GET",
                     .key = k,
                     .sink = sink,
                     .sink_ctx = ctx,
                     .has_range = true,
                     .range_first = offset,
                     .range_len = length};
    s3_response rs;
    int rc = s3_perform(s->c, &rq, &rs, e);
    free(rs.body);
    free(k);
    return rc;
}

static int s3_head(void *impl, const char *key, uint64_t *size, cairn_err *e)
{
    s3_response rs;
    int rc = key_request(impl, S3_HEAD, "HEAD", key, NULL, NULL, &rs, e);
    if (!rc && size)
        *size = rs.length;
    return rc;
}

struct list_ctx {
    const struct s3_store *s;
    size_t prefix_len;
    store_list_ex_cb cb;
    void *ctx;
};

/* Keys relative to the repository; store.c leaves out those it cannot name. */
static int list_one(void *arg, const char *key, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    struct list_ctx *lc = arg;
    if (strncmp(key, lc->s->prefix, lc->prefix_len) != 0)
        return 0;
    return lc->cb(lc->ctx, &(store_entry){key + lc->prefix_len, size, mtime_ms}, e);
}

/* One page at a time, in the order S3 gives: UTF-8 byte order, which for the
 * ASCII keys of a repository is the lexicographic order store_list promises. */
static int s3_list_ex(void *impl, const char *prefix, store_list_ex_cb cb, void *ctx, cairn_err *e)
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
            rc = s3xml_list_page_ex(rs.body ? rs.body : "", rs.body_len, list_one, &lc, &token, e);
        free(rs.body);
    } while (!rc && token);
    free(token);
    free(full);
    return rc;
}

struct stale_ctx {
    struct s3_store *s;
    int64_t cutoff_ms;
    bool remove;
    store_list_ex_cb cb;
    void *ctx;
};

/* One unfinished multipart upload: reported and aborted when it started before the
 * cutoff. Its size is not listed (parts are), so it is reported as 0. */
static int stale_upload(void *arg, const char *key, const char *upload_id, int64_t initiated_ms,
                        cairn_err *e)
{
    struct stale_ctx *sc = arg;
    size_t plen = strlen(sc->s->prefix);
    if (strncmp(key, sc->s->prefix, plen) != 0 || initiated_ms < 0 || initiated_ms >= sc->cutoff_ms)
        return 0;
    int rc = sc->cb(sc->ctx, &(store_entry){key + plen, 0, initiated_ms}, e);
    if (rc || !sc->remove)
        return rc;
    s3sign_param p[] = {{"uploadId", upload_id}};
    char *q = s3sign_query(p, 1);
    if (!q)
        return err_set(e, CAIRN_ENOMEM, "out of memory aborting an upload");
    s3_request rq = {.kind = S3_ABORT, .method = "DELETE", .key = key, .query = q};
    s3_response rs;
    rc = s3_perform(sc->s->c, &rq, &rs, e);
    if (rc == CAIRN_ENOENT) { /* completed or aborted meanwhile */
        err_clear(e);
        rc = 0;
    }
    free(rs.body);
    free(q);
    return rc;
}

/* ListMultipartUploads under the repository's prefix, page by page. */
static int s3_sweep_stale(void *impl, int64_t cutoff_ms, bool remove, store_list_ex_cb cb,
                          void *ctx, cairn_err *e)
{
    struct s3_store *s = impl;
    struct stale_ctx sc = {s, cutoff_ms, remove, cb, ctx};
    char *kmark = NULL, *imark = NULL;
    int rc = 0;
    do {
        s3sign_param p[] = {{"uploads", NULL},
                            {"prefix", s->prefix},
                            {"key-marker", kmark},
                            {"upload-id-marker", imark}};
        char *q = s3sign_query(p, kmark ? 4 : 2);
        free(kmark);
        free(imark);
        kmark = imark = NULL;
        if (!q)
            return err_set(e, CAIRN_ENOMEM, "out of memory listing multipart uploads");
        s3_request rq = {.kind = S3_LIST, .method = "GET", .query = q};
        s3_response rs;
        rc = s3_perform(s->c, &rq, &rs, e);
        free(q);
        if (!rc)
            rc = s3xml_uploads_page(rs.body ? rs.body : "", rs.body_len, stale_upload, &sc, &kmark,
                                    &imark, e);
        free(rs.body);
    } while (!rc && kmark);
    free(kmark);
    free(imark);
    return rc;
}

static int s3_del(void *impl, const char *key, cairn_err *e)
{
    s3_response rs;
    int rc = key_request(impl, S3_DELETE, "DELETE", key, NULL, NULL, &rs, e);
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
    .put_begin_unnamed = s3_put_begin_unnamed,
    .commit_as = s3_commit_as,
    .unnamed_max = s3_unnamed_max,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .get = s3_get,
    .get_range = s3_get_range,
    .head = s3_head,
    .list_ex = s3_list_ex,
    .sweep_stale = s3_sweep_stale,
    .del = s3_del,
    .del_many = s3_del_many,
    .stats = s3_stats,
};
