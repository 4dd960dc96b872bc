/*
 * Design notes
 *
 * Moving parts. A writer has `nslots` part buffers (slots). The caller's thread
 * fills the current slot; when it is full and more bytes come, hand_off starts the
 * multipart upload if need be, gives the slot a part number and starts a thread
 * that sends it, and makes an idle slot current, waiting on `done` when every slot
 * is on the way. A part thread sends its one part (s3req retries it), records its
 * ETag by part number and, under `lock`, the first failure; then it marks its slot
 * idle and signals `done`. Commit sends the last part from the caller's thread,
 * waits for the others, and completes the upload, or aborts it on any failure so
 * no part stays behind in the bucket.
 *
 * Budget. Each slot is part_size bytes of mapped memory. Every writer takes its
 * first slot unconditionally (so no upload ever waits on another) and further
 * ones only while the process's s3budget has room; the budget is the caller's
 * (store_options), shared by all the stores a process opens. Buffers are mmap'd,
 * so only the pages written count, and they go back at once when the writer ends.
 *
 * Unnamed writers. An object named after its content (s3put_begin_unnamed) gets
 * its name at commit, after its last byte, and a multipart upload needs one at its
 * start. Such a writer has one slot; when it is full and more bytes come, the slot
 * goes to a spool file (s3spool.h) instead of the wire, and commit sends the file
 * as one PUT. This costs a local write and read of the stored (compressed) bytes,
 * mostly in the page cache, where the alternative would be reading the source
 * twice or a request per part.
 *
 * Why threads of its own and not pool_run. pool_run hands out a known range of
 * items and returns when all are done. Parts are a pipeline instead: their number
 * is known only at commit, each exists only once the caller has filled its buffer,
 * and the caller must go on filling the next buffer while earlier parts are on the
 * wire, bounded by the number of slots. So each part gets its thread when its
 * buffer is full, and the slots, not a counter, bound how many run at once.
 */
#include "store/s3/s3put.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/debug.h"
#include "base/log.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3spool.h"
#include "store/s3/s3xml.h"
#include "store/s3/store_s3.h"

#define MiB (1u << 20)

struct slot {
    s3put *w;
    unsigned char *buf; /* part_size bytes of mapped memory, touched as it fills */
    size_t len;
    unsigned part; /* 1-based part number it holds */
    bool busy;     /* its part is on the way */
    bool joinable;
    pthread_t thread;
};

struct s3put {
    s3_client *c;
    char *key;
    size_t part_size;
    s3budget *budget; /* the process's, for part buffers */
    unsigned charged; /* buffers counted against it */
    unsigned nslots;
    struct slot *slots;
    struct slot *cur; /* the slot filling up */
    char *upload_id;  /* once the object went multipart */
    char **etags;     /* [S3PUT_MAX_PARTS], by part number - 1 */
    unsigned parts;   /* parts handed out */
    uint64_t written; /* bytes taken, over all parts */
    pthread_mutex_t lock;
    pthread_cond_t done;
    int failed; /* the first part failure, with its message */
    cairn_err fail_err;
    const char *spool_dir; /* an unnamed writer's, or NULL: it holds one part at most */
    uint64_t spool_max;
    s3spool *spool; /* once an unnamed writer outgrew its part */
};

/* Each object always has one buffer; more only while the budget allows. */
static bool charge(s3put *w, bool always)
{
    bool ok = s3budget_charge(w->budget, w->part_size, always);
    if (ok)
        w->charged++;
    CAIRN_ASSERT(w->charged <= w->nslots);
    return ok;
}

static void discharge(s3put *w)
{
    s3budget_release(w->budget, (size_t)w->charged * w->part_size);
    w->charged = 0;
}

size_t s3put_part_size(uint64_t size_hint, size_t configured)
{
    if (configured < STORE_S3_MIN_PART)
        configured = STORE_S3_MIN_PART;
    /* Compression can make an incompressible file a little larger; leave room. */
    uint64_t bound = size_hint + size_hint / 64 + MiB;
    uint64_t need = (bound + S3PUT_MAX_PARTS - 1) / S3PUT_MAX_PARTS;
    need = (need + MiB - 1) / MiB * MiB;
    return need > configured ? (size_t)need : configured;
}

int s3put_begin(s3_client *c, const char *key, size_t part_size, unsigned buffers, s3budget *budget,
                s3put **out, cairn_err *e)
{
    *out = NULL;
    s3put *w = calloc(1, sizeof(*w));
    if (!w || (key && !(w->key = strdup(key))) ||
        !(w->slots = calloc(buffers ? buffers : 1, sizeof(*w->slots)))) {
        if (w)
            free(w->key);
        free(w);
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key ? key : "an object");
    }
    w->c = c;
    w->part_size = part_size;
    w->budget = budget;
    w->nslots = buffers ? buffers : 1;
    for (unsigned i = 0; i < w->nslots; i++)
        w->slots[i].w = w;
    w->cur = &w->slots[0];
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->done, NULL);
    *out = w;
    return 0;
}

int s3put_begin_unnamed(s3_client *c, size_t part_size, s3budget *budget, const char *spool_dir,
                        uint64_t spool_max, s3put **out, cairn_err *e)
{
    int rc = s3put_begin(c, NULL, part_size, 1, budget, out, e);
    if (!rc && spool_dir && spool_max > part_size) {
        (*out)->spool_dir = spool_dir;
        (*out)->spool_max = spool_max;
    }
    return rc;
}

static int map_slot(s3put *w, struct slot *s, cairn_err *e)
{
    if (s->buf)
        return 0;
    /* Every object's first buffer counts at once, before any object takes a second
     * one, so objects that start together share the budget evenly. */
    if (!w->charged)
        charge(w, true);
    /* Mapped rather than malloc'd: the pages count only once written, and go back
     * to the system at once when the object is done. */
    void *p = mmap(NULL, w->part_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing s3://%s/%s", s3_client_bucket(w->c),
                       w->key);
    s->buf = p;
    return 0;
}

static char *part_query(const s3put *w, unsigned part)
{
    char num[16];
    snprintf(num, sizeof(num), "%u", part);
    s3sign_param p[] = {{"partNumber", num}, {"uploadId", w->upload_id}};
    return s3sign_query(p, 2);
}

/* The upload id alone: the query of complete and abort. */
static char *upload_query(const s3put *w)
{
    s3sign_param p[] = {{"uploadId", w->upload_id}};
    return s3sign_query(p, 1);
}

static int send_part(s3put *w, struct slot *s, cairn_err *e)
{
    CAIRN_ASSERT(s->part >= 1 && s->part <= S3PUT_MAX_PARTS && s->len > 0);
    char *q = part_query(w, s->part);
    if (!q)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", w->key);
    s3_request rq = {.kind = S3_PART,
                     .method = "PUT",
                     .key = w->key,
                     .query = q,
                     .body = s->buf,
                     .body_len = s->len};
    s3_response rs;
    int rc = s3_perform(w->c, &rq, &rs, e);
    free(q);
    free(rs.body);
    if (!rc && !rs.etag[0])
        rc = err_set(e, CAIRN_EPROTO, "the store gave no ETag for part %u of s3://%s/%s", s->part,
                     s3_client_bucket(w->c), w->key);
    if (!rc && !(w->etags[s->part - 1] = strdup(rs.etag)))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory writing %s", w->key);
    return rc;
}

static void *part_thread(void *arg)
{
    struct slot *s = arg;
    s3put *w = s->w;
    cairn_err e;
    err_clear(&e);
    int rc = send_part(w, s, &e);
    pthread_mutex_lock(&w->lock);
    if (rc && !w->failed) {
        w->failed = rc;
        w->fail_err = e;
    }
    s->busy = false;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int initiate(s3put *w, cairn_err *e)
{
    w->etags = calloc(S3PUT_MAX_PARTS, sizeof(*w->etags));
    if (!w->etags)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", w->key);
    s3_request rq = {.kind = S3_INITIATE, .method = "POST", .key = w->key, .query = "uploads="};
    s3_response rs;
    int rc = s3_perform(w->c, &rq, &rs, e);
    if (!rc)
        rc = s3xml_upload_id(rs.body, rs.body_len, &w->upload_id, e);
    free(rs.body);
    return rc;
}

/* Waits until no part is on the way; returns the first part failure. */
static int wait_all(s3put *w, cairn_err *e)
{
    pthread_mutex_lock(&w->lock);
    for (;;) {
        bool busy = false;
        for (unsigned i = 0; i < w->nslots; i++)
            busy |= w->slots[i].busy;
        if (!busy)
            break;
        pthread_cond_wait(&w->done, &w->lock);
    }
    int rc = w->failed;
    if (rc && e)
        *e = w->fail_err;
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->nslots; i++) {
        if (w->slots[i].joinable) {
            pthread_join(w->slots[i].thread, NULL);
            w->slots[i].joinable = false;
        }
    }
    return rc;
}

/* A slot to fill next: an idle one, or a new one while the object may have more
 * and the budget allows; NULL when the caller must wait for a part to finish. */
static struct slot *idle_slot(s3put *w)
{
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].buf && !w->slots[i].busy)
            return &w->slots[i];
    for (unsigned i = 0; i < w->nslots; i++)
        if (!w->slots[i].buf)
            return charge(w, false) ? &w->slots[i] : NULL;
    return NULL;
}

static int too_many_parts(const s3put *w, cairn_err *e)
{
    return err_set(e, CAIRN_EINVAL,
                   "s3://%s/%s would need more than %d parts of %zu MiB: raise the part size",
                   s3_client_bucket(w->c), w->key, S3PUT_MAX_PARTS, w->part_size / MiB);
}

/* Moves the full part buffer of an unnamed writer to its spool file: a multipart
 * upload is named when it starts, so the object must wait for its name whole. */
static int spill(s3put *w, cairn_err *e)
{
    struct slot *s = w->cur;
    if (!w->spool_dir)
        return err_set(e, CAIRN_EINVAL,
                       "an object named after its content must fit in one part of %zu MiB",
                       w->part_size / MiB);
    int rc = w->spool ? 0 : s3spool_open(&w->spool, w->spool_dir, e);
    if (!rc)
        rc = s3spool_write(w->spool, s->buf, s->len, e);
    if (!rc)
        s->len = 0;
    return rc;
}

/* Sends the full current slot on its own thread and makes another slot current,
 * waiting for one when all this object may have are on the way. */
static int hand_off(s3put *w, cairn_err *e)
{
    int rc = 0;
    if (!w->key)
        return spill(w, e);
    if (!w->upload_id && (rc = initiate(w, e)) != 0)
        return rc;
    if (w->parts >= S3PUT_MAX_PARTS)
        return too_many_parts(w, e);
    struct slot *s = w->cur;
    CAIRN_ASSERT(!s->busy && !s->joinable && s->len == w->part_size);
    s->part = ++w->parts;
    s->busy = true;
    if (pthread_create(&s->thread, NULL, part_thread, s) == 0) {
        s->joinable = true;
    } else {
        part_thread(s); /* no thread to be had: send it from here */
    }
    pthread_mutex_lock(&w->lock);
    struct slot *next = NULL;
    while (!w->failed && !(next = idle_slot(w)))
        pthread_cond_wait(&w->done, &w->lock);
    rc = w->failed;
    if (rc)
        *e = w->fail_err;
    pthread_mutex_unlock(&w->lock);
    if (rc)
        return rc;
    if (next->joinable) {
        pthread_join(next->thread, NULL);
        next->joinable = false;
    }
    next->len = 0;
    w->cur = next;
    return 0;
}

int s3put_write(s3put *w, const void *buf, size_t len, cairn_err *e)
{
    if (w->spool_dir && w->written + len > w->spool_max)
        return err_set(e, CAIRN_EINVAL,
                       "an object named after its content must fit in the spool file limit of "
                       "%" PRIu64 " MiB (s3.spool_file_mib)",
                       w->spool_max / MiB);
    const unsigned char *p = buf;
    while (len > 0) {
        int rc = 0;
        /* A full part goes out only when more bytes follow, so an object of exactly
         * one part stays a single PUT and the last part is never empty. */
        if (w->cur->len == w->part_size && (rc = hand_off(w, e)) != 0)
            return rc;
        if ((rc = map_slot(w, w->cur, e)) != 0)
            return rc;
        size_t n = w->part_size - w->cur->len;
        if (n > len)
            n = len;
        memcpy(w->cur->buf + w->cur->len, p, n);
        w->cur->len += n;
        w->written += n;
        p += n;
        len -= n;
    }
    return 0;
}

static void abort_upload(s3put *w)
{
    char *q = upload_query(w);
    if (!q)
        return;
    s3_request rq = {.kind = S3_ABORT, .method = "DELETE", .key = w->key, .query = q};
    s3_response rs;
    cairn_err e;
    err_clear(&e);
    if (s3_perform(w->c, &rq, &rs, &e) != 0)
        log_warn("%s; its parts stay in the bucket until a lifecycle rule removes incomplete "
                 "multipart uploads",
                 e.msg);
    free(rs.body);
    free(q);
}

static void writer_free(s3put *w)
{
    discharge(w);
    s3spool_free(w->spool);
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].buf)
            munmap(w->slots[i].buf, w->part_size);
    if (w->etags)
        for (unsigned i = 0; i < w->parts; i++)
            free(w->etags[i]);
    free(w->etags);
    free(w->slots);
    free(w->upload_id);
    free(w->key);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->done);
    free(w);
}

/* Whether a completion that failed (its answer lost, a retry then told the upload
 * is gone because the lost try did complete it) left the object whole in the
 * bucket anyway: its size is what was written and its ETag, when it has the
 * multipart form "<hash>-<parts>", names as many parts. */
static bool completed_anyway(s3put *w, int rc)
{
    if (rc != CAIRN_EIO && rc != CAIRN_ECONN && rc != CAIRN_ETIMEDOUT && rc != CAIRN_EREMOTE)
        return false;
    s3_request rq = {.kind = S3_HEAD, .method = "HEAD", .key = w->key};
    s3_response rs;
    cairn_err e;
    err_clear(&e);
    int hrc = s3_perform(w->c, &rq, &rs, &e);
    free(rs.body);
    if (hrc)
        return false;
    const char *dash = strrchr(rs.etag, '-');
    unsigned long parts = dash ? strtoul(dash + 1, NULL, 10) : w->parts;
    if (rs.length != w->written || parts != w->parts)
        return false;
    log_debug("s3://%s/%s: its completion was not confirmed, but the object is there with all "
              "%" PRIu64 " bytes in %u parts",
              s3_client_bucket(w->c), w->key, w->written, w->parts);
    return true;
}

static int complete(s3put *w, cairn_err *e)
{
    char *body = NULL, *q = NULL;
    size_t body_len = 0;
    int rc = s3xml_complete_body(w->etags, w->parts, &body, &body_len, e);
    if (!rc && !(q = upload_query(w)))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory writing %s", w->key);
    if (!rc) {
        s3_request rq = {.kind = S3_COMPLETE,
                         .method = "POST",
                         .key = w->key,
                         .query = q,
                         .body = body,
                         .body_len = body_len,
                         .content_type = "application/xml"};
        s3_response rs;
        rc = s3_perform(w->c, &rq, &rs, e);
        free(rs.body);
        if (rc && completed_anyway(w, rc)) {
            rc = 0;
            err_clear(e);
        }
    }
    free(q);
    free(body);
    return rc;
}

/* The one PUT of an object that waited for its name in a spool file. */
static int put_spooled(s3put *w, cairn_err *e)
{
    int rc = spill(w, e);
    if (rc)
        return rc;
    char sha[65];
    s3spool_seal(w->spool, sha);
    s3_file_body file = {.fd = s3spool_fd(w->spool), .sha256 = sha};
    s3_request rq = {.kind = S3_PUT,
                     .method = "PUT",
                     .key = w->key,
                     .file = &file,
                     .body_len = (size_t)s3spool_size(w->spool),
                     .content_type = "application/octet-stream"};
    s3_response rs;
    rc = s3_perform(w->c, &rq, &rs, e);
    free(rs.body);
    return rc;
}

int s3put_commit(s3put *w, cairn_err *e)
{
    int rc;
    if (w->spool) {
        rc = put_spooled(w, e);
        writer_free(w);
        return rc;
    }
    if (!w->upload_id) {
        s3_request rq = {.kind = S3_PUT,
                         .method = "PUT",
                         .key = w->key,
                         .body = w->cur->buf,
                         .body_len = w->cur->len,
                         .content_type = "application/octet-stream"};
        s3_response rs;
        rc = s3_perform(w->c, &rq, &rs, e);
        free(rs.body);
        writer_free(w);
        return rc;
    }
    struct slot *last = w->cur;
    if (w->parts >= S3PUT_MAX_PARTS) {
        rc = too_many_parts(w, e);
    } else {
        last->part = ++w->parts;
        rc = send_part(w, last, e);
    }
    cairn_err part_err;
    int prc = wait_all(w, &part_err);
    if (!rc && prc) {
        rc = prc;
        if (e)
            *e = part_err;
    }
    if (!rc)
        rc = complete(w, e);
    if (rc)
        abort_upload(w);
    writer_free(w);
    return rc;
}

int s3put_commit_as(s3put *w, const char *prefix, const char *key, cairn_err *e)
{
    CAIRN_ASSERT(!w->key && !w->upload_id);
    if (asprintf(&w->key, "%s%s", prefix, key) < 0) {
        w->key = NULL;
        s3put_abort(w);
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    }
    return s3put_commit(w, e);
}

void s3put_abort(s3put *w)
{
    if (!w)
        return;
    wait_all(w, NULL);
    if (w->upload_id)
        abort_upload(w);
    writer_free(w);
}
