#include "cli/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/debug.h"
#include "cli/human.h"

typedef struct metrics_sample {
    char *name;
    char *help;
    char *labels; /* `{cluster="a",node="b"}`, escaped */
    double value;
} metrics_sample;

struct metrics {
    char *cluster;
    metrics_sample *s;
    size_t n, cap;
    bool oom;
};

int metrics_new(metrics **out, const char *cluster, cairn_err *e)
{
    metrics *m = calloc(1, sizeof(*m));
    if (!m || !(m->cluster = strdup(cluster))) {
        free(m);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].help);
        free(m->s[i].labels);
    }
    free(m->s);
    free(m->cluster);
    free(m);
}

/* Prometheus' grammar for metric and label names: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static bool valid_name(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return false;
    return true;
}

/* Label values escape backslash, double quote and newline; help text the same but the
 * quote, which it may hold as it is. */
static int put_escaped(buf *b, const char *s, bool quote)
{
    int rc = 0;
    for (; !rc && *s; s++) {
        if (*s == '\\')
            rc = buf_append(b, "\\\\", 2, NULL);
        else if (*s == '\n')
            rc = buf_append(b, "\\n", 2, NULL);
        else if (*s == '"' && quote)
            rc = buf_append(b, "\\\"", 2, NULL);
        else
            rc = buf_append(b, s, 1, NULL);
    }
    return rc;
}

static int putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int putf(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    CAIRN_ASSERT(n >= 0 && (size_t)n < sizeof(tmp)); /* names and figures are short */
    return buf_append(b, tmp, (size_t)n, NULL);
}

static int put_label(buf *b, const char *k, const char *v, bool first)
{
    CAIRN_ASSERT(valid_name(k));
    int rc = putf(b, "%s%s=\"", first ? "" : ",", k);
    if (!rc)
        rc = put_escaped(b, v ? v : "", true);
    return rc ? rc : buf_append(b, "\"", 1, NULL);
}

static char *format_labels(const char *cluster, va_list ap)
{
    buf b = BUF_INIT;
    int rc = buf_append(&b, "{", 1, NULL);
    if (!rc)
        rc = put_label(&b, "cluster", cluster, true);
    const char *k;
    while (!rc && (k = va_arg(ap, const char *)) != NULL)
        rc = put_label(&b, k, va_arg(ap, const char *), false);
    if (!rc)
        rc = buf_append(&b, "}", 1, NULL);
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)buf_steal(&b, &len);
}

void metrics_add(metrics *m, const char *name, const char *help, double value, ...)
{
    CAIRN_ASSERT(valid_name(name));
    if (m->oom)
        return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        metrics_sample *ns = realloc(m->s, cap * sizeof(*ns));
        if (!ns) {
            m->oom = true;
            return;
        }
        m->s = ns;
        m->cap = cap;
    }
    va_list ap;
    va_start(ap, value);
    metrics_sample *s = &m->s[m->n];
    s->labels = format_labels(m->cluster, ap);
    va_end(ap);
    s->name = strdup(name);
    s->help = strdup(help);
    s->value = value;
    if (!s->labels || !s->name || !s->help) {
        free(s->labels);
        free(s->name);
        free(s->help);
        m->oom = true;
        return;
    }
    m->n++;
}

void metrics_outcome(metrics *m, const char *cmd, const char *path, bool ok, uint64_t duration_ms)
{
    char name[128], help[256];
    double now = (double)human_now_ms() / 1000.0;
    snprintf(name, sizeof(name), "cairn_%s_success", cmd);
    snprintf(help, sizeof(help), "1 if the last cairn %s succeeded, 0 if it failed", cmd);
    metrics_add(m, name, help, ok ? 1.0 : 0.0, NULL);
    snprintf(name, sizeof(name), "cairn_%s_last_run_timestamp_seconds", cmd);
    snprintf(help, sizeof(help), "When the last cairn %s ended, in seconds since the epoch", cmd);
    metrics_add(m, name, help, now, NULL);
    snprintf(name, sizeof(name), "cairn_%s_duration_seconds", cmd);
    snprintf(help, sizeof(help), "How long the last cairn %s ran", cmd);
    metrics_add(m, name, help, (double)duration_ms / 1000.0, NULL);
    snprintf(name, sizeof(name), "cairn_%s_last_success_timestamp_seconds", cmd);
    snprintf(help, sizeof(help),
             "When the last successful cairn %s ended, in seconds since the epoch", cmd);
    double last = now;
    cairn_err e;
    if (!ok && metrics_read_value(path, name, &last, &e) != 0) {
        err_clear(&e); /* no earlier success known: the sample is left out, not invented */
        return;
    }
    metrics_add(m, name, help, last, NULL);
}

void metrics_requests(metrics *m, const char *cmd, const store_counts *q)
{
    const char *kinds[] = {"put",  "part_put", "get",       "head",
                           "list", "delete",   "multipart", "retry"};
    const uint64_t n[] = {q->puts,
                          q->part_puts,
                          q->gets,
                          q->heads,
                          q->lists,
                          q->deletes,
                          q->mpu_initiates + q->mpu_completes + q->mpu_aborts,
                          q->retries};
    char name[128], help[256];
    snprintf(name, sizeof(name), "cairn_%s_requests", cmd);
    snprintf(help, sizeof(help),
             "Requests the last cairn %s sent to the repository, by kind (multipart: "
             "uploads started, completed or aborted; retry: requests sent again)",
             cmd);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        metrics_add(m, name, help, (double)n[i], "kind", kinds[i], NULL);
}

static bool family_seen(const metrics *m, size_t upto, const char *name)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(m->s[i].name, name) == 0)
            return true;
    return false;
}

static int put_value(buf *b, double v)
{
    /* Whole figures (bytes, files) exactly, as long as a double holds them exactly. */
    if (v == (double)(int64_t)v && v > -9007199254740992.0 && v < 9007199254740992.0)
        return putf(b, "%lld\n", (long long)v);
    return putf(b, "%.17g\n", v);
}

/* Each family once, at its first sample, with all its samples after HELP and TYPE. */
static int render(const metrics *m, buf *b)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < m->n; i++) {
        if (family_seen(m, i, m->s[i].name))
            continue;
        rc = putf(b, "# HELP %s ", m->s[i].name);
        if (!rc)
            rc = put_escaped(b, m->s[i].help, false);
        if (!rc)
            rc = putf(b, "\n# TYPE %s gauge\n", m->s[i].name);
        for (size_t k = i; !rc && k < m->n; k++) {
            if (strcmp(m->s[k].name, m->s[i].name) != 0)
                continue;
            rc = putf(b, "%s%s ", m->s[k].name, m->s[k].labels);
            if (!rc)
                rc = put_value(b, m->s[k].value);
        }
    }
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int metrics_write(const metrics *m, const char *path, cairn_err *e)
{
    if (m->oom)
        return err_set(e, CAIRN_ENOMEM, "out of memory collecting the metrics");
    buf b = BUF_INIT;
    if (render(m, &b) != 0) {
        buf_free(&b);
        return err_set(e, CAIRN_ENOMEM, "out of memory collecting the metrics");
    }
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        buf_free(&b);
        return err_set(e, CAIRN_EINVAL, "metrics file path too long: %s", path);
    }
    /* The collector reads only *.prom files, so it never sees the temporary one. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = err_set(e, CAIRN_EIO,
                     "cannot create %s: %s (does the directory exist, and may "
                     "cairn write there?)",
                     tmp, strerror(errno));
    } else if (write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
        rc = err_set(e, CAIRN_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = err_set(e, CAIRN_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = err_set(e, CAIRN_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc && fd >= 0)
        unlink(tmp);
    buf_free(&b);
    return rc;
}

void metrics_write_or_warn(const metrics *m, const char *cmd, const char *path)
{
    if (!path)
        return;
    cairn_err e;
    err_clear(&e);
    if (metrics_write(m, path, &e) != 0)
        fprintf(stderr,
                "cairn %s: warning: the metrics file was not written: %s; the exit code is "
                "that of the %s itself\n",
                cmd, e.msg, cmd);
}

/* The value after `name{...}` or `name` in line, if the line is a sample of name. */
static bool sample_value(const char *line, const char *name, double *out)
{
    size_t nl = strlen(name);
    if (strncmp(line, name, nl) != 0)
        return false;
    const char *p = line + nl;
    if (*p == '{') {
        bool quoted = false;
        for (p++; *p && (quoted || *p != '}'); p++) {
            if (quoted && *p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = !quoted;
        }
        if (*p != '}')
            return false;
        p++;
    }
    if (*p != ' ')
        return false;
    char *end;
    double v = strtod(p + 1, &end);
    if (end == p + 1)
        return false;
    *out = v;
    return true;
}

int metrics_read_value(const char *path, const char *name, double *out, cairn_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO, "cannot read %s: %s", path,
                       strerror(errno));
    char line[4096];
    int rc = err_set(e, CAIRN_ENOENT, "%s has no sample of %s", path, name);
    while (fgets(line, sizeof(line), f)) {
        if (line[0] != '#' && sample_value(line, name, out)) {
            err_clear(e);
            rc = 0;
            break;
        }
    }
    if (rc && ferror(f))
        rc = err_set(e, CAIRN_EIO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}
