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

/*
 * A peer's own message quoted whole in ours (a server's error text): the first bytes
 * of p (n of them) to out (cap >= 4 bytes, NUL-terminated), printable ASCII as is (its
 * quotes name things: "Keyspace 'x'"), any other byte as '?', and "..." when cut.
 */
void text_printable(const void *p, size_t n, char *out, size_t cap);

#endif
