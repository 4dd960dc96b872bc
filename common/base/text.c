#include "base/text.h"

#include <stdio.h>
#include <string.h>

#include "base/debug.h"

/* The text of one byte, at most 4 characters; returns its length. */
static size_t piece_of(unsigned char c, char piece[5])
{
    if (c < 0x20 || c >= 0x7f || c == '\'' || c == '"' || c == '\\')
        return (size_t)snprintf(piece, 5, "\\x%02x", c);
    piece[0] = (char)c;
    piece[1] = '\0';
    return 1;
}

size_t text_escape(const void *p, size_t n, char *out, size_t cap)
{
    CAIRN_ASSERT(cap > 0);
    const unsigned char *s = p;
    size_t len = 0, i = 0;
    for (; i < n; i++) {
        char piece[5];
        size_t k = piece_of(s[i], piece);
        if (len + k >= cap)
            break;
        memcpy(out + len, piece, k);
        len += k;
    }
    out[len] = '\0';
    return i;
}

void text_printable(const void *p, size_t n, char *out, size_t cap)
{
    const unsigned char *s = p;
    size_t k = n < cap - 4 ? n : cap - 4;
    for (size_t i = 0; i < k; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    strcpy(out + k, n > k ? "..." : "");
}
