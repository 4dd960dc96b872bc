/*
 * log - leveled log lines for people and for journald.
 *
 * Under systemd (JOURNAL_STREAM set) lines carry a "<N>" priority prefix and no
 * timestamp, since journald adds its own; elsewhere an ISO-8601 UTC timestamp and
 * the level lead. Callers never pass secrets: config_* keeps them out of messages.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include "base/err.h"

typedef enum { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level;

/* Parses "error", "warn", "info" or "debug". */
int log_level_parse(const char *s, log_level *out, cairn_err *e);

void log_set_level(log_level level);

/* Sends log lines to path (appended) instead of stderr. */
int log_open_file(const char *path, cairn_err *e);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
