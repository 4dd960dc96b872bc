#include "store/store.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"
#include "store/s3/s3conf.h"
#include "store/store_impl.h"

/* Calls counted for drivers that keep no request counts of their own. */
enum { N_PUT, N_GET, N_HEAD, N_LIST, N_DELETE, N_KINDS };

struct store {
    const store_driver *drv;
    void *impl;
    char *url;
    atomic_uint_fast64_t calls[N_KINDS];
};

struct store_writer {
    store *s;
    void *impl;
    bool unnamed; /* ended by store_writer_commit_as, never store_writer_commit */
};

static const store_driver *const drivers[] = {&store_file_driver, &store_s3_driver};

static void count(store *s, int kind)
{
    if (!s->drv->stats)
        atomic_fetch_add(&s->calls[kind], 1);
}

int store_options_new(store_options **out, const struct store_s3_options *s3, cairn_err *e)
{
    *out = NULL;
    store_options *o = calloc(1, sizeof(*o));
    if (!o)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = s3conf_new(&o->s3, s3, e);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void store_options_free(store_options *o)
{
    if (!o)
        return;
    s3conf_free(o->s3);
    free(o);
}

int store_open(store **out, const char *url, const store_options *o, cairn_err *e)
{
    *out = NULL;
    const store_driver *drv = NULL;
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        if (strncmp(url, drivers[i]->scheme, strlen(drivers[i]->scheme)) == 0)
            drv = drivers[i];
    }
    if (!drv)
        return err_set(e, CAIRN_EINVAL,
                       "unsupported repository location '%s' (use file:///absolute/path or "
                       "s3://bucket/prefix)",
                       url);
    store *s = calloc(1, sizeof(*s));
    if (!s || !(s->url = strdup(url))) {
        free(s);
        return err_set(e, CAIRN_ENOMEM, "out of memory opening repository %s", url);
    }
    s->drv = drv;
    int rc = drv->open(url, o, &s->impl, e);
    if (rc) {
        free(s->url);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    s->drv->close(s->impl);
    free(s->url);
    free(s);
}

const char *store_url(const store *s)
{
    return s->url;
}

static bool printable(char c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Checks the components of s; the last one may be partial (a list prefix) when
 * partial_last is set, in which case it may also be empty. */
static int check_path(const char *s, bool partial_last, const char *what, cairn_err *e)
{
    size_t len = strlen(s);
    if (len > STORE_KEY_MAX)
        return err_set(e, CAIRN_EINVAL, "%s '%.60s...' is longer than %d bytes", what, s,
                       STORE_KEY_MAX);
    if (len == 0 && !partial_last)
        return err_set(e, CAIRN_EINVAL, "empty %s", what);
    const char *comp = s;
    for (const char *p = s;; p++) {
        if (*p && !printable(*p))
            return err_set(e, CAIRN_EINVAL,
                           "%s '%s' contains a byte that is not printable ASCII (0x%02x)", what, s,
                           (unsigned char)*p);
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - comp);
            bool last = *p == '\0';
            if (n == 0 && !(last && partial_last))
                return err_set(e, CAIRN_EINVAL, "%s '%s' has an empty path component%s", what, s,
                               comp == s ? " (keys are relative: no leading '/')" : "");
            if (n > 0 && comp[0] == '.')
                return err_set(e, CAIRN_EINVAL,
                               "%s '%s' has a component starting with '.' (reserved)", what, s);
            if (last)
                return 0;
            comp = p + 1;
        }
    }
}

int store_key_check(const char *key, cairn_err *e)
{
    return check_path(key, false, "object key", e);
}

int store_put_begin(store *s, const char *key, store_writer **out, cairn_err *e)
{
    return store_put_begin_hint(s, key, 0, out, e);
}

/* A writer for key, or, with key NULL, an unnamed one keeping its temporary under dir;
 * the key or dir has been checked. */
static int writer_begin(store *s, const char *key, const char *dir, uint64_t size_hint,
                        store_writer **out, cairn_err *e)
{
    store_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key ? key : dir);
    w->s = s;
    w->unnamed = !key;
    int rc = key ? s->drv->put_begin(s->impl, key, size_hint, &w->impl, e)
                 : s->drv->put_begin_unnamed(s->impl, dir, &w->impl, e);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int store_put_begin_hint(store *s, const char *key, uint64_t size_hint, store_writer **out,
                         cairn_err *e)
{
    *out = NULL;
    int rc = store_key_check(key, e);
    return rc ? rc : writer_begin(s, key, NULL, size_hint, out, e);
}

int store_writer_write(store_writer *w, const void *buf, size_t len, cairn_err *e)
{
    if (len == 0)
        return 0;
    return w->s->drv->write(w->impl, buf, len, e);
}

int store_writer_commit(store_writer *w, cairn_err *e)
{
    CAIRN_ASSERT(!w->unnamed);
    count(w->s, N_PUT);
    int rc = w->s->drv->commit(w->impl, e);
    free(w);
    return rc;
}

uint64_t store_unnamed_max(const store *s)
{
    return s->drv->unnamed_max ? s->drv->unnamed_max(s->impl) : 0;
}

int store_put_begin_unnamed(store *s, const char *dir, store_writer **out, cairn_err *e)
{
    *out = NULL;
    if (!s->drv->put_begin_unnamed)
        return err_set(e, CAIRN_EINVAL, "%s cannot name an object after writing it", store_url(s));
    int rc = store_key_check(dir, e);
    return rc ? rc : writer_begin(s, NULL, dir, 0, out, e);
}

int store_writer_commit_as(store_writer *w, const char *key, cairn_err *e)
{
    CAIRN_ASSERT(w->unnamed);
    int rc = store_key_check(key, e);
    if (rc) {
        store_writer_abort(w);
        return rc;
    }
    count(w->s, N_PUT);
    rc = w->s->drv->commit_as(w->s->impl, w->impl, key, e);
    free(w);
    return rc;
}

void store_writer_abort(store_writer *w)
{
    if (!w)
        return;
    w->s->drv->abort(w->impl);
    free(w);
}

int store_put_buf(store *s, const char *key, const void *buf, size_t len, cairn_err *e)
{
    store_writer *w;
    int rc = store_put_begin_hint(s, key, len, &w, e);
    if (rc)
        return rc;
    rc = store_writer_write(w, buf, len, e);
    if (rc) {
        store_writer_abort(w);
        return rc;
    }
    return store_writer_commit(w, e);
}

int store_get(store *s, const char *key, store_sink sink, void *ctx, cairn_err *e)
{
    int rc = store_key_check(key, e);
    if (rc)
        return rc;
    count(s, N_GET);
    return s->drv->get(s->impl, key, sink, ctx, e);
}

int store_get_range(store *s, const char *key, uint64_t offset, uint64_t length, store_sink sink,
                    void *ctx, cairn_err *e)
{
    int rc = store_key_check(key, e);
    if (rc || length == 0)
        return rc;
    if (offset > UINT64_MAX - length)
        return err_set(e, CAIRN_EINVAL,
                       "cannot read %" PRIu64 " bytes of %s from byte %" PRIu64
                       ": the range ends beyond 2^64",
                       length, key, offset);
    count(s, N_GET);
    return s->drv->get_range(s->impl, key, offset, length, sink, ctx, e);
}

int store_head(store *s, const char *key, uint64_t *size, cairn_err *e)
{
    int rc = store_key_check(key, e);
    if (rc)
        return rc;
    count(s, N_HEAD);
    return s->drv->head(s->impl, key, size, e);
}

struct list_filter {
    store_list_cb cb;
    void *ctx;
};

/* Objects others put beside the repository ("folder/" markers, hidden or odd
 * names) are not keys this interface can name, so every driver's listing leaves
 * them out. */
static int list_one(void *arg, const char *key, uint64_t size, cairn_err *e)
{
    const struct list_filter *f = arg;
    if (store_key_check(key, NULL) != 0)
        return 0;
    return f->cb(f->ctx, key, size, e);
}

/* A timed listing read through the untimed interface. */
static int list_timed_one(void *arg, const store_entry *ent, cairn_err *e)
{
    return list_one(arg, ent->key, ent->size, e);
}

int store_list(store *s, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e)
{
    int rc = check_path(prefix, true, "list prefix", e);
    if (rc)
        return rc;
    count(s, N_LIST);
    struct list_filter f = {cb, ctx};
    if (s->drv->list_ex)
        return s->drv->list_ex(s->impl, prefix, list_timed_one, &f, e);
    return s->drv->list(s->impl, prefix, list_one, &f, e);
}

struct list_ex_filter {
    store_list_ex_cb cb;
    void *ctx;
};

static int list_ex_one(void *arg, const store_entry *ent, cairn_err *e)
{
    const struct list_ex_filter *f = arg;
    if (store_key_check(ent->key, NULL) != 0)
        return 0;
    return f->cb(f->ctx, ent, e);
}

/* For drivers without times: every entry says "unknown". */
static int list_untimed(void *arg, const char *key, uint64_t size, cairn_err *e)
{
    store_entry ent = {key, size, -1};
    return list_ex_one(arg, &ent, e);
}

int store_list_ex(store *s, const char *prefix, store_list_ex_cb cb, void *ctx, cairn_err *e)
{
    int rc = check_path(prefix, true, "list prefix", e);
    if (rc)
        return rc;
    count(s, N_LIST);
    struct list_ex_filter f = {cb, ctx};
    if (s->drv->list_ex)
        return s->drv->list_ex(s->impl, prefix, list_ex_one, &f, e);
    return s->drv->list(s->impl, prefix, list_untimed, &f, e);
}

int store_sweep_stale(store *s, int64_t cutoff_ms, bool remove, store_list_ex_cb cb, void *ctx,
                      cairn_err *e)
{
    if (!s->drv->sweep_stale)
        return 0;
    return s->drv->sweep_stale(s->impl, cutoff_ms, remove, cb, ctx, e);
}

int store_delete(store *s, const char *key, cairn_err *e)
{
    int rc = store_key_check(key, e);
    if (rc)
        return rc;
    count(s, N_DELETE);
    return s->drv->del(s->impl, key, e);
}

int store_delete_many(store *s, const char *const *keys, size_t n, cairn_err *e)
{
    for (size_t i = 0; i < n; i++) {
        int rc = store_key_check(keys[i], e);
        if (rc)
            return rc;
    }
    if (!s->drv->del_many) {
        for (size_t i = 0; i < n; i++) {
            int rc = store_delete(s, keys[i], e);
            if (rc)
                return rc;
        }
        return 0;
    }
    return n ? s->drv->del_many(s->impl, keys, n, e) : 0;
}

void store_stats(const store *s, store_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (s->drv->stats) {
        s->drv->stats(s->impl, out);
        return;
    }
    out->puts = atomic_load(&s->calls[N_PUT]);
    out->gets = atomic_load(&s->calls[N_GET]);
    out->heads = atomic_load(&s->calls[N_HEAD]);
    out->lists = atomic_load(&s->calls[N_LIST]);
    out->deletes = atomic_load(&s->calls[N_DELETE]);
}

void store_counts_add(store_counts *t, const store_counts *add)
{
    t->puts += add->puts;
    t->part_puts += add->part_puts;
    t->gets += add->gets;
    t->heads += add->heads;
    t->lists += add->lists;
    t->deletes += add->deletes;
    t->mpu_initiates += add->mpu_initiates;
    t->mpu_completes += add->mpu_completes;
    t->mpu_aborts += add->mpu_aborts;
    t->retries += add->retries;
}
