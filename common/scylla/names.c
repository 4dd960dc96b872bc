#include "scylla/names.h"

#include <string.h>

#include "base/text.h"

#define SANITIZE_MAX 64

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Counts the leading characters of s that are alphanumeric or in extra; the ctype
 * functions are avoided because they follow the locale. */
static size_t span_of(const char *s, const char *extra)
{
    size_t n = 0;
    while (s[n] && (is_alnum(s[n]) || strchr(extra, s[n])))
        n++;
    return n;
}

/* s is exactly min..max characters of the class, and nothing else. */
static bool all_of(const char *s, const char *extra, size_t min, size_t max)
{
    size_t n = span_of(s, extra);
    return s[n] == '\0' && n >= min && n <= max;
}

static bool hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lower_hex(s[i]))
            return false;
    return true;
}

static bool valid_schema_name(const char *s)
{
    return all_of(s, "_.-", 1, 222) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static bool valid_host_id(const char *s)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    for (size_t g = 0; g < 5; g++) {
        if (strnlen(s, groups[g]) < groups[g] || !hex_run(s, groups[g]))
            return false;
        s += groups[g];
        if (g < 4 && *s++ != '-')
            return false;
    }
    return *s == '\0';
}

static bool valid_hex_id(const char *s, size_t len)
{
    return strlen(s) == len && hex_run(s, len);
}

/* (la|m[cdest])-([^-]+)-(\w+)-(.*), narrowed to what can name a file safely: the
 * generation (a number or a time-UUID like 3gsm_0lob_1zdg02we44my8dy25w) and the
 * format are word characters, the component (Data.db, TOC.txt.tmp) adds dots. */
static bool valid_sstable_file(const char *s)
{
    if (strlen(s) > 255)
        return false;
    if (strncmp(s, "la-", 3) == 0)
        s += 3;
    else if (s[0] == 'm' && s[1] && strchr("cdest", s[1]) && s[2] == '-')
        s += 3;
    else
        return false;
    for (int field = 0; field < 2; field++) {
        size_t n = span_of(s, "_");
        if (n == 0 || s[n] != '-')
            return false;
        s += n + 1;
    }
    return all_of(s, "_.", 1, 255) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

bool name_valid(name_kind kind, const char *s)
{
    if (!s)
        return false;
    switch (kind) {
    case NAME_KEYSPACE:
    case NAME_TABLE:
        return valid_schema_name(s);
    case NAME_TAG:
        return s[0] != '.' && s[0] != '-' && all_of(s, "_.-", 1, 128);
    case NAME_CLUSTER:
        return is_alnum(s[0]) && all_of(s, "_.-", 1, 64);
    case NAME_HOST_ID:
        return valid_host_id(s);
    case NAME_TABLE_ID:
        return valid_hex_id(s, 32);
    case NAME_BLOB_ID:
        return valid_hex_id(s, 64);
    case NAME_SSTABLE_FILE:
        return valid_sstable_file(s);
    }
    return false;
}

static const char *rule_of(name_kind kind, const char **what)
{
    switch (kind) {
    case NAME_KEYSPACE:
    case NAME_TABLE:
        *what = kind == NAME_KEYSPACE ? "keyspace name" : "table name";
        return "use 1 to 222 letters, digits, underscores, dots or dashes";
    case NAME_TAG:
        *what = "tag";
        return "use 1 to 128 letters, digits, underscores, dots or dashes, not starting with "
               "a dot or a dash";
    case NAME_CLUSTER:
        *what = "cluster name";
        return "use 1 to 64 letters, digits, underscores, dots or dashes, starting with a "
               "letter or a digit";
    case NAME_HOST_ID:
        *what = "host id";
        return "expected a lowercase UUID like 6f1f0c4e-1d2b-4c3a-9e8f-0a1b2c3d4e5f";
    case NAME_TABLE_ID:
        *what = "table id";
        return "expected 32 lowercase hex digits";
    case NAME_BLOB_ID:
        *what = "blob id";
        return "expected 64 lowercase hex digits (a SHA-256)";
    case NAME_SSTABLE_FILE:
        *what = "SSTable file name";
        return "expected <version>-<generation>-<format>-<component>, like me-1-big-Data.db";
    }
    *what = "name";
    return "unknown kind of name";
}

int name_check(name_kind kind, const char *s, cairn_err *e)
{
    if (name_valid(kind, s))
        return 0;
    const char *what;
    const char *rule = rule_of(kind, &what);
    if (!s)
        return err_set(e, CAIRN_EINVAL, "missing %s: %s", what, rule);
    char shown[4 * SANITIZE_MAX + 4];
    name_sanitize(s, shown, sizeof(shown));
    return err_set(e, CAIRN_EINVAL, "invalid %s '%s': %s", what, shown, rule);
}

int name_check_table(const char *keyspace, const char *table, cairn_err *e)
{
    int rc = name_check(NAME_KEYSPACE, keyspace, e);
    return rc ? rc : name_check(NAME_TABLE, table, e);
}

void name_sanitize(const char *s, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    size_t n = s ? strlen(s) : 0;
    size_t shown = text_escape(s, n < SANITIZE_MAX ? n : SANITIZE_MAX, buf, cap);
    size_t len = strlen(buf);
    if (shown == SANITIZE_MAX && n > SANITIZE_MAX && len + 3 < cap)
        memcpy(buf + len, "...", 4);
}
