#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static log_level g_level = LOG_LEVEL_INFO;
static FILE *g_out;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_prio[] = {3, 4, 6, 7};

int log_level_parse(const char *s, log_level *out, cairn_err *e)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return err_set(e, CAIRN_EINVAL, "unknown log level '%s' (use error, warn, info or debug)", s);
}

void log_set_level(log_level level)
{
    g_level = level;
}

int log_open_file(const char *path, cairn_err *e)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return err_sys(e, errno, "cannot open log file %s", path);
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&g_lock);
    if (g_out && g_out != stderr)
        fclose(g_out);
    g_out = f;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

void log_write(log_level level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    char prefix[64];
    va_list ap;
    va_start(ap, fmt);
    /* Under the lock: a reload (log_open_file) may close the previous file. */
    pthread_mutex_lock(&g_lock);
    FILE *out = g_out ? g_out : stderr;
    if (out == stderr && getenv("JOURNAL_STREAM")) {
        snprintf(prefix, sizeof(prefix), "<%d>", syslog_prio[level]);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        size_t n = strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(prefix + n, sizeof(prefix) - n, ".%03ldZ %-5s ", (long)(tv.tv_usec / 1000),
                 level_names[level]);
    }
    fputs(prefix, out);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&g_lock);
    va_end(ap);
}
