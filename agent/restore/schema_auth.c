#include "restore/schema_auth.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/text.h"

/* Creation order: a service level before the attachments that name it, a role before
 * the grants to it, a grant's keyspace objects before it (they come with the schema,
 * which is created first). */
static const char *const kinds[] = {"role", "service_level", "grant_role", "grant_permission",
                                    "service_level_attachment"};

int schema_auth_rank(const char *type)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(type, kinds[i]) == 0)
            return (int)i;
    return -1;
}

size_t schema_auth_kinds(void)
{
    return sizeof(kinds) / sizeof(kinds[0]);
}

const char *schema_auth_kind(size_t r)
{
    return r < schema_auth_kinds() ? kinds[r] : NULL;
}

/* stmt without trailing blanks and semicolons: its length. */
static size_t trimmed(const char *stmt)
{
    size_t n = strlen(stmt);
    while (n && (isspace((unsigned char)stmt[n - 1]) || stmt[n - 1] == ';'))
        n--;
    return n;
}

/* Where the last " TO " of the first n bytes of stmt ends, or NULL. */
static const char *after_to(const char *stmt, size_t n)
{
    const char *found = NULL;
    for (const char *p = stmt; (size_t)(p - stmt) + 4 <= n; p++)
        if (strncmp(p, " TO ", 4) == 0)
            found = p + 4;
    return found;
}

void schema_auth_key(const char *type, const char *name, const char *stmt, const char **key,
                     size_t *len)
{
    size_t n = trimmed(stmt);
    bool attachment = strcmp(type, "service_level_attachment") == 0;
    const char *role = attachment ? after_to(stmt, n) : NULL;
    if (role) {
        *key = role;
        *len = n - (size_t)(role - stmt);
    } else if (attachment || strncmp(type, "grant_", 6) == 0) {
        *key = stmt;
        *len = n;
    } else {
        *key = name;
        *len = strlen(name);
    }
}

void schema_auth_label(const char *type, const char *name, const char *stmt, char *out, size_t cap)
{
    char esc[512];
    if (strcmp(type, "role") == 0 || strcmp(type, "service_level") == 0) {
        text_escape(name, strlen(name), esc, sizeof(esc));
        snprintf(out, cap, "%s %s", type[0] == 'r' ? "role" : "service level", esc);
        return;
    }
    size_t n = trimmed(stmt);
    text_escape(stmt, n, esc, sizeof(esc));
    snprintf(out, cap, "%s", esc);
}

/* The identifier at *p (quoted or not), unquoted into out; false if there is none. */
static bool ident(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t o = 0;
    if (*s == '"') {
        for (s++;; s++) {
            if (!*s)
                return false;
            if (*s == '"' && s[1] != '"')
                break;
            if (*s == '"')
                s++;
            if (o + 1 >= cap)
                return false;
            out[o++] = *s;
        }
        s++;
    } else {
        for (; isalnum((unsigned char)*s) || *s == '_'; s++) {
            if (o + 1 >= cap)
                return false;
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    *p = s;
    return o > 0;
}

static bool skip(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

bool schema_auth_grant_keyspace(const char *stmt, char *ks, size_t cap)
{
    const char *p = strstr(stmt, " ON ");
    if (strncmp(stmt, "GRANT ", 6) != 0 || !p)
        return false;
    p += 4;
    if (skip(&p, "ALL FUNCTIONS IN KEYSPACE ") || skip(&p, "KEYSPACE "))
        return ident(&p, ks, cap);
    if (skip(&p, "ALL ") || skip(&p, "ROLE "))
        return false;
    skip(&p, "FUNCTION ");
    return ident(&p, ks, cap) && *p == '.';
}
