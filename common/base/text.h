/*
 * text - bytes from outside made fit for a message a person reads.
 */
#ifndef CAIRN_TEXT_H
#define CAIRN_TEXT_H

#include <stddef.h>

/*
 * Writes the first bytes of p (n of them) to out (cap bytes, NUL-terminated): printable
 * ASCII as is, other bytes, quotes and backslashes as \xNN, and "..." when it is cut.
 * Wire text, file names and names from the network go through this before a log line
 * or an error message shows them.
 */
void text_excerpt(const void *p, size_t n, char *out, size_t cap);

/* text_excerpt, but the quotes and backslashes in keep (NULL: none) shown as they are:
 * for a peer's own message quoted whole, whose quotes name things ("Keyspace 'x'"). */
void text_excerpt_keep(const void *p, size_t n, char *out, size_t cap, const char *keep);

#endif
