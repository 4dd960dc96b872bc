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

typedef struct progress_node {
    progress_state st;
    uint64_t bytes_done, bytes_total, files_done, files_total;
} progress_node;

struct progress {
    const char *verb;
    const char *const *labels;
    size_t n;
    progress_node *nodes;
    bool quiet, tty, stop;
    int drawn; /* lines drawn last time, to move the cursor back over them */
    uint64_t start_ms, last_log_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
};

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

static void totals(const progress *p, uint64_t *done, uint64_t *total, size_t *finished)
{
    *done = *total = 0;
    *finished = 0;
    for (size_t i = 0; i < p->n; i++) {
        *done += p->nodes[i].bytes_done;
        *total += p->nodes[i].bytes_total;
        if (p->nodes[i].st >= PROGRESS_DONE)
            (*finished)++;
    }
}

static void total_line(const progress *p, char *buf, size_t cap)
{
    uint64_t done, total;
    size_t finished;
    totals(p, &done, &total, &finished);
    uint64_t el = human_mono_ms() - p->start_ms;
    double rate = el ? (double)done * 1000.0 / (double)el : 0;
    char b1[32], b2[32], b3[32], b4[32];
    snprintf(b4, sizeof(b4), "-");
    if (rate > 0 && total > done)
        human_duration((uint64_t)((double)(total - done) / rate * 1000.0), b4, sizeof(b4));
    snprintf(buf, cap, "%s: %zu/%zu nodes done, %s of %s, %s/s, ETA %s", p->verb, finished, p->n,
             human_bytes(done, b1, sizeof(b1)), human_bytes(total, b2, sizeof(b2)),
             human_bytes((uint64_t)rate, b3, sizeof(b3)), b4);
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
    char line[256];
    if (!p->tty) {
        uint64_t now = human_mono_ms();
        if (now - p->last_log_ms < PROGRESS_LOG_EVERY_MS && !p->stop)
            return;
        p->last_log_ms = now;
        total_line(p, line, sizeof(line));
        log_info("%s", line);
        return;
    }
    if (p->drawn)
        fprintf(stderr, "\033[%dA", p->drawn);
    int lines = 0;
    for (size_t i = 0; i < p->n && lines < PROGRESS_MAX_LINES; i++) {
        const progress_node *nd = &p->nodes[i];
        if (p->n > PROGRESS_MAX_LINES && nd->st != PROGRESS_RUNNING && nd->st != PROGRESS_FAILED)
            continue;
        char b1[32], b2[32];
        double pct = nd->bytes_total ? 100.0 * (double)nd->bytes_done / (double)nd->bytes_total
                                     : (nd->st == PROGRESS_DONE ? 100.0 : 0.0);
        fprintf(stderr, "\033[2K  %-24.24s %-8s %5.1f%%  %s / %s  %llu/%llu files\n", p->labels[i],
                state_name(nd->st), pct, human_bytes(nd->bytes_done, b1, sizeof(b1)),
                human_bytes(nd->bytes_total, b2, sizeof(b2)), (unsigned long long)nd->files_done,
                (unsigned long long)nd->files_total);
        lines++;
    }
    total_line(p, line, sizeof(line));
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
    if (!p || !(p->nodes = calloc(n ? n : 1, sizeof(*p->nodes)))) {
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

void progress_set(progress *p, size_t i, progress_state st, uint64_t bytes_done,
                  uint64_t bytes_total, uint64_t files_done, uint64_t files_total)
{
    CAIRN_ASSERT(i < p->n);
    pthread_mutex_lock(&p->lock);
    p->nodes[i] = (progress_node){st, bytes_done, bytes_total, files_done, files_total};
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
    free(p->nodes);
    free(p);
}
