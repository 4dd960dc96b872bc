/*
 * confcheck - what `--check-config` checks of the files and directories that a
 * configuration names: that the user running the check can open them as the program
 * will, reported one problem a line, each with what to do about it.
 */
#ifndef CAIRN_CONFCHECK_H
#define CAIRN_CONFCHECK_H

#include <stdbool.h>
#include <stdio.h>

typedef struct confcheck {
    FILE *out;         /* where problems and warnings go */
    char user[64];     /* the effective user, by name when it has one */
    unsigned problems; /* lines that make the configuration unusable */
} confcheck;

void confcheck_init(confcheck *c, FILE *out);

/* key (the configuration key, e.g. "tls.ca") names path, a file this user must be able
 * to read. */
void confcheck_readable(confcheck *c, const char *key, const char *path);

/* A private key: readable as above, and a warning when every user may read it. */
void confcheck_private_key(confcheck *c, const char *key, const char *path);

/* The three TLS files of a configuration: tls.ca and tls.cert readable, tls.key a
 * private key (above). */
void confcheck_tls(confcheck *c, const char *ca, const char *cert, const char *key);

/* path must be a directory this user can write into. */
void confcheck_writable_dir(confcheck *c, const char *key, const char *path);

/* Prints a problem of the check's own: "what: fix". */
void confcheck_problem(confcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The verdict on file: "FILE: N problems" on c's stream, or "FILE: configuration OK" on
 * standard output. True when there was no problem. */
bool confcheck_verdict(const confcheck *c, const char *file);

#endif
