#include "backup/schema_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool needs_escape(unsigned char ch)
{
    return ch <= ' ' || ch == 0x7f || ch == '%';
}

int schema_dump_encode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t need = needs_escape(*p) ? 3 : 1;
        if (o + need >= cap)
            return -1;
        if (need == 3)
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
        else
            out[o++] = (char)*p;
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The next space-separated field of *p, unescaped into out; -1 if missing or too long. */
static int field(const char **p, char *out, size_t cap, bool unescape)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    size_t o = 0;
    for (; *s && *s != ' '; s++) {
        char ch = *s;
        if (unescape && ch == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            ch = (char)(hi * 16 + lo);
            s += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    *p = s;
    return o ? 0 : -1;
}

int schema_dump_parse_header(const char *line, schema_dump_header *h)
{
    memset(h, 0, sizeof(*h));
    char len[24];
    if (field(&line, h->type, sizeof(h->type), false) < 0 ||
        field(&line, h->keyspace, sizeof(h->keyspace), true) < 0 ||
        field(&line, h->name, sizeof(h->name), true) < 0)
        return -1;
    if (field(&line, len, sizeof(len), false) < 0)
        return *line ? -1 : 0; /* an older dump: three fields */
    char *end;
    unsigned long long n = strtoull(len, &end, 10);
    if (*end || len[0] < '0' || len[0] > '9')
        return -1;
    while (*line == ' ')
        line++;
    if (*line)
        return -1;
    h->has_length = true;
    h->length = (size_t)n;
    return 0;
}

bool schema_dump_has_auth(const char *text)
{
    size_t n = strlen(SCHEMA_DUMP_AUTH_LINE);
    return strncmp(text, SCHEMA_DUMP_AUTH_LINE, n) == 0 && (text[n] == '\n' || !text[n]);
}
