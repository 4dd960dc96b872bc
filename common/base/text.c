#include "base/text.h"

#include <stdio.h>
#include <string.h>

void text_excerpt(const void *p, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return;
    const unsigned char *s = p;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[5];
        unsigned char c = s[i];
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '"' || c == '\\')
            snprintf(piece, sizeof(piece), "\\x%02x", c);
        else
            piece[0] = (char)c, piece[1] = '\0';
        size_t k = strlen(piece);
        /* Keep room for "..." whenever more bytes follow. */
        size_t reserve = i + 1 < n ? 3 : 0;
        if (len + k + reserve >= cap) {
            if (len + 3 < cap) {
                memcpy(out + len, "...", 3);
                len += 3;
            }
            break;
        }
        memcpy(out + len, piece, k);
        len += k;
    }
    out[len] = '\0';
}

void text_printable(const void *p, size_t n, char *out, size_t cap)
{
    const unsigned char *s = p;
    size_t k = n < cap - 4 ? n : cap - 4;
    for (size_t i = 0; i < k; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    strcpy(out + k, n > k ? "..." : "");
}
