#include "node/cql_split.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Past the end of a quoted span opened by q at p ('' or "" inside stand for q); NULL if
 * the text ends first. */
static const char *skip_quoted(const char *p, char q)
{
    for (p++; *p; p++) {
        if (*p != q)
            continue;
        if (p[1] != q)
            return p + 1;
        p++;
    }
    return NULL;
}

/*
 * If a string, identifier, $$ body or comment starts at p: *end is just past it (NULL
 * when the text ends inside it, *what then names it) and *content says whether it is a
 * statement's text rather than a comment. Returns false when none starts at p.
 */
static bool span_at(const char *p, const char **end, bool *content, const char **what)
{
    const char *close;
    *content = true;
    if (*p == '\'' || *p == '"') {
        *what = *p == '\'' ? "a '...' string" : "a \"...\" identifier";
        *end = skip_quoted(p, *p);
        return true;
    }
    if (p[0] == '$' && p[1] == '$') {
        *what = "a $$...$$ body";
        *end = (close = strstr(p + 2, "$$")) ? close + 2 : NULL;
        return true;
    }
    *content = false;
    if (p[0] == '/' && p[1] == '*') {
        *what = "a /* comment";
        *end = (close = strstr(p + 2, "*/")) ? close + 2 : NULL;
        return true;
    }
    if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '/')) {
        *end = (close = strchr(p, '\n')) ? close + 1 : p + strlen(p);
        return true;
    }
    return false;
}

static int emit(const char *start, const char *stop, cql_split_cb cb, void *ctx, cairn_err *e)
{
    while (start < stop && isspace((unsigned char)*start))
        start++;
    while (stop > start && isspace((unsigned char)stop[-1]))
        stop--;
    char *stmt = strndup(start, (size_t)(stop - start));
    if (!stmt)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = cb(ctx, stmt, e);
    free(stmt);
    return rc < 0 ? rc : 0;
}

int cql_split(const char *text, cql_split_cb cb, void *ctx, cairn_err *e)
{
    const char *start = text, *p = text;
    bool content = false; /* the piece so far holds more than whitespace and comments */
    for (;;) {
        if (*p == '\0' || *p == ';') {
            if (content) {
                int rc = emit(start, p, cb, ctx, e);
                if (rc < 0)
                    return rc;
            }
            if (*p == '\0')
                return 0;
            start = ++p;
            content = false;
            continue;
        }
        const char *end, *what;
        bool text_span;
        if (span_at(p, &end, &text_span, &what)) {
            if (!end)
                return err_set(e, CAIRN_EINVAL,
                               "the CQL text ends inside %s opened at byte %zu; it is "
                               "incomplete or damaged",
                               what, (size_t)(p - text));
            content = content || text_span;
            p = end;
            continue;
        }
        if (!isspace((unsigned char)*p))
            content = true;
        p++;
    }
}
