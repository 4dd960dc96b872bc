/*
 * text - bytes from outside made fit for a message a person reads.
 *
 * Printable ASCII is shown as is; other bytes, quotes and backslashes as \xNN, so a
 * name from the network can neither break a log line nor fake one.
 */
#ifndef CAIRN_TEXT_H
#define CAIRN_TEXT_H

#include <stddef.h>

/*
 * Writes the escaped text of the n bytes of p to out (cap > 0 bytes, NUL-terminated),
 * stopping before the first byte whose escape does not fit: never in the middle of an
 * escape, and with no mark. Returns how many bytes of p were written.
 */
size_t text_escape(const void *p, size_t n, char *out, size_t cap);

/*
 * A peer's own message quoted whole in ours (a server's error text): the first bytes
 * of p (n of them) to out (cap >= 4 bytes, NUL-terminated), printable ASCII as is (its
 * quotes name things: "Keyspace 'x'"), any other byte as '?', and "..." when cut.
 */
void text_printable(const void *p, size_t n, char *out, size_t cap);

#endif
