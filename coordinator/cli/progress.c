/*
 * Design notes.
 *
 * One thread redraws once a second (a terminal) or logs every PROGRESS_LOG_EVERY_MS
 * (anything else) under the lock that progress_set takes; jobrun's workers call
 * progress_set from their own threads. Each redraw also samples the bytes moved
 * into the rate window, so the window's resolution is the redraw's.
 *
 * The window keeps RATE_SLOTS samples at least RATE_STEP_MS apart (a ring), enough
 * to cover PROGRESS_WINDOW_MS; the speed is the difference between the newest sample
 * and the oldest still inside the window. A window that shows no bytes moving gives
 * no speed rather than "0 B/s" with an ETA of forever.
 */
#include "cli/progress.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/debug.h"
#include "base/log.h"
#include "cli/human.h"

/* More lines than this scroll a terminal away; the rest are summed in the total. */
#define PROGRESS_MAX_LINES    20
#define PROGRESS_LOG_EVERY_MS 5000
#define RATE_STEP_MS          1000
#define RATE_SLOTS            (PROGRESS_WINDOW_MS / RATE_STEP_MS + 2)

struct progress_rate {
    uint64_t t[RATE_SLOTS], moved[RATE_SLOTS];
    size_t head, len; /* head: the newest sample */
};

struct progress {
    const char *verb;
    const char *const *labels;
    size_t n;
    progress_figures *nodes;
    progress_rate *rate;
    bool quiet, tty, stop;
    int drawn; /* lines drawn last time, to move the cursor back over them */
    uint64_t start_ms, last_log_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
};

int progress_rate_new(progress_rate **out, cairn_err *e)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory");
}

void progress_rate_free(progress_rate *r)
{
    free(r);
}

void progress_rate_add(progress_rate *r, uint64_t now_ms, uint64_t moved)
{
    if (r->len && moved < r->moved[r->head])
        r->len = 0;
    if (r->len && now_ms < r->t[r->head] + RATE_STEP_MS) {
        r->moved[r->head] = moved; /* too soon for a slot of its own: the newest moves on */
        return;
    }
    r->head = r->len ? (r->head + 1) % RATE_SLOTS : 0;
    r->t[r->head] = now_ms;
    r->moved[r->head] = moved;
    if (r->len < RATE_SLOTS)
        r->len++;
}

bool progress_rate_get(const progress_rate *r, uint64_t now_ms, uint64_t *per_s)
{
    if (!r || r->len < 2)
        return false;
    /* The oldest sample still inside the window. */
    size_t old = r->head;
    for (size_t k = 1; k < r->len; k++) {
        size_t i = (r->head + RATE_SLOTS - k) % RATE_SLOTS;
        if (now_ms - r->t[i] > PROGRESS_WINDOW_MS)
            break;
        old = i;
    }
    uint64_t span = r->t[r->head] - r->t[old];
    uint64_t moved = r->moved[r->head] - r->moved[old];
    if (span < PROGRESS_MIN_MS || moved == 0)
        return false;
    *per_s = (uint64_t)((double)moved * 1000.0 / (double)span);
    return *per_s > 0;
}

void progress_sum_add(progress_sum *s, const progress_figures *fig)
{
    s->nodes++;
    s->done += fig->st == PROGRESS_DONE;
    s->failed += fig->st == PROGRESS_FAILED;
    s->bytes_done += fig->bytes_done;
    s->bytes_total += fig->bytes_total;
    /* Never more than done: the agent adds both, not at the same instant. */
    s->bytes_skipped += fig->bytes_skipped < fig->bytes_done ? fig->bytes_skipped : fig->bytes_done;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* "1 node done, 2 nodes failed" at the end, "1/3 nodes done, 1 failed" before. */
static void nodes_part(const progress_sum *s, bool final, char *buf, size_t cap)
{
    int w;
    if (!final)
        w = snprintf(buf, cap, "%zu/%zu nodes done", s->done, s->nodes);
    else if (s->failed && s->failed == s->nodes)
        w = snprintf(buf, cap, "%zu node%s failed", s->failed, plural(s->failed));
    else
        w = snprintf(buf, cap, "%zu node%s done", s->done, plural(s->done));
    if (s->failed && (!final || s->failed != s->nodes) && w >= 0 && (size_t)w < cap)
        snprintf(buf + w, cap - (size_t)w, final ? ", %zu node%s failed" : ", %zu failed",
                 s->failed, final ? plural(s->failed) : "");
}

/* Backups skip what the repository had; restores files already staged (by an earlier
 * attempt, or as another file of the same bytes) and tables already loaded. */
static const char *skipped_word(const char *verb)
{
    return strncmp(verb, "backup", 6) == 0 ? "unchanged" : "already there";
}

void progress_total_line(const char *verb, const progress_sum *s, const progress_rate *r,
                         uint64_t now_ms, bool final, uint64_t elapsed_ms, char *buf, size_t cap)
{
    char nodes[96], b1[32], b2[32], b3[32], b4[32];
    nodes_part(s, final, nodes, sizeof(nodes));
    int w = snprintf(buf, cap, "%s: %s, %s of %s", verb, nodes,
                     human_bytes(s->bytes_done, b1, sizeof(b1)),
                     human_bytes(s->bytes_total, b2, sizeof(b2)));
    if (s->bytes_skipped && w >= 0 && (size_t)w < cap)
        w += snprintf(buf + w, cap - (size_t)w, " (%s %s)",
                      human_bytes(s->bytes_skipped, b1, sizeof(b1)), skipped_word(verb));
    uint64_t moved = s->bytes_done - s->bytes_skipped, per_s = 0;
    bool known;
    if (final) {
        known = elapsed_ms >= PROGRESS_MIN_MS && moved > 0;
        per_s = known ? (uint64_t)((double)moved * 1000.0 / (double)elapsed_ms) : 0;
        known = known && per_s > 0;
    } else {
        known = progress_rate_get(r, now_ms, &per_s);
    }
    if (known && w >= 0 && (size_t)w < cap)
        w += snprintf(buf + w, cap - (size_t)w, ", %s/s", human_bytes(per_s, b3, sizeof(b3)));
    if (!final && known && s->bytes_total > s->bytes_done && w >= 0 && (size_t)w < cap) {
        uint64_t eta_ms =
            (uint64_t)((double)(s->bytes_total - s->bytes_done) / (double)per_s * 1000.0);
        w += snprintf(buf + w, cap - (size_t)w, ", ETA %s", human_duration(eta_ms, b4, sizeof(b4)));
    }
    if (final && w >= 0 && (size_t)w < cap)
        snprintf(buf + w, cap - (size_t)w, ", in %s", human_duration(elapsed_ms, b4, sizeof(b4)));
}

static const char *state_name(progress_state st)
{
    switch (st) {
    case PROGRESS_WAITING:
        return "waiting";
    case PROGRESS_RUNNING:
        return "running";
    case PROGRESS_DONE:
        return "done";
    default:
        return "FAILED";
    }
}

void progress_node_line(const char *label, const progress_figures *fig, char *buf, size_t cap)
{
    char b1[32], b2[32];
    double pct = fig->bytes_total ? 100.0 * (double)fig->bytes_done / (double)fig->bytes_total
                                  : (fig->st == PROGRESS_DONE ? 100.0 : 0.0);
    snprintf(buf, cap, "  %-24.24s %-8s %5.1f%%  %s / %s  %llu/%llu files", label,
             state_name(fig->st), pct, human_bytes(fig->bytes_done, b1, sizeof(b1)),
             human_bytes(fig->bytes_total, b2, sizeof(b2)), (unsigned long long)fig->files_done,
             (unsigned long long)fig->files_total);
}

/* For assertions only: whether someone (the caller, we trust) holds p's lock. */
static bool lock_held(progress *p)
{
    return pthread_mutex_trylock(&p->lock) == EBUSY;
}

/* Called with the lock held: the nodes change under progress_set. */
static void draw(progress *p)
{
    CAIRN_ASSERT(lock_held(p));
    uint64_t now = human_mono_ms();
    progress_sum s = {0};
    for (size_t i = 0; i < p->n; i++)
        progress_sum_add(&s, &p->nodes[i]);
    progress_rate_add(p->rate, now, s.bytes_done - s.bytes_skipped);
    char line[320];
    progress_total_line(p->verb, &s, p->rate, now, p->stop, now - p->start_ms, line, sizeof(line));
    if (!p->tty) {
        if (now - p->last_log_ms < PROGRESS_LOG_EVERY_MS && !p->stop)
            return;
        p->last_log_ms = now;
        log_info("%s", line);
        return;
    }
    if (p->drawn)
        fprintf(stderr, "\033[%dA", p->drawn);
    int lines = 0;
    for (size_t i = 0; i < p->n && lines < PROGRESS_MAX_LINES; i++) {
        const progress_figures *nd = &p->nodes[i];
        if (p->n > PROGRESS_MAX_LINES && nd->st != PROGRESS_RUNNING && nd->st != PROGRESS_FAILED)
            continue;
        char node[256];
        progress_node_line(p->labels[i], nd, node, sizeof(node));
        fprintf(stderr, "\033[2K%s\n", node);
        lines++;
    }
    fprintf(stderr, "\033[2K%s\n\033[J", line);
    p->drawn = lines + 1;
}

static void *progress_main(void *arg)
{
    progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (!p->stop) /* the last picture is progress_stop's */
            draw(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int progress_start(progress **out, const char *verb, size_t n, const char *const *labels,
                   bool quiet, cairn_err *e)
{
    progress *p = calloc(1, sizeof(*p));
    if (!p || !(p->nodes = calloc(n ? n : 1, sizeof(*p->nodes))) ||
        progress_rate_new(&p->rate, e) != 0) {
        if (p)
            free(p->nodes);
        free(p);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    p->verb = verb;
    p->labels = labels;
    p->n = n;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->start_ms = p->last_log_ms = human_mono_ms();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (!quiet && pthread_create(&p->thread, NULL, progress_main, p) != 0)
        p->quiet = true;
    *out = p;
    return 0;
}

void progress_set(progress *p, size_t i, const progress_figures *fig)
{
    CAIRN_ASSERT(i < p->n);
    pthread_mutex_lock(&p->lock);
    p->nodes[i] = *fig;
    pthread_mutex_unlock(&p->lock);
}

void progress_stop(progress *p)
{
    if (!p)
        return;
    if (!p->quiet) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_mutex_lock(&p->lock);
        draw(p);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    progress_rate_free(p->rate);
    free(p->nodes);
    free(p);
}
