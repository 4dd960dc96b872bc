#include "base/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scylla/names.h"

#define KEY_MAX 256

typedef struct loader {
    const char *name; /* the file, in messages */
    yaml_document_t doc;
    /* One flag per node: an alias makes a node reachable twice, which could loop or
     * blow up, so a second visit is refused. */
    unsigned char *visited;
    cairn_err *e;
} loader;

static int config_at(loader *l, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every message names the file and the 1-based line and column of the node. */
static int config_at(loader *l, yaml_mark_t m, const char *fmt, ...)
{
    char msg[CAIRN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(l->e, CAIRN_ECONFIG, "%s:%zu:%zu: %s", l->name, m.line + 1, m.column + 1, msg);
}

static void *field_ptr(void *out, const config_field *f)
{
    return (char *)out + f->offset;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool scalar_equals(const yaml_node_t *n, const char *word)
{
    return strlen(word) == n->data.scalar.length &&
           memcmp(word, n->data.scalar.value, n->data.scalar.length) == 0;
}

static bool scalar_is(const yaml_node_t *n, const char *const *words)
{
    for (; *words; words++)
        if (scalar_equals(n, *words))
            return true;
    return false;
}

static bool is_null(const yaml_node_t *n)
{
    static const char *const words[] = {"", "~", "null", "Null", "NULL", NULL};
    return is_plain(n) && scalar_is(n, words);
}

/* YAML 1.1 booleans, without the single letters y and n that surprise people. */
static int parse_bool(const yaml_node_t *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON",  NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
                                     "NO",    "off",   "Off",   "OFF", NULL};
    if (!is_plain(n))
        return -1;
    if (scalar_is(n, yes))
        *out = true;
    else if (scalar_is(n, no))
        *out = false;
    else
        return -1;
    return 0;
}

/* Returns 0, -1 when n is not a decimal integer, or -2 when it does not fit a long. */
static int parse_long(const yaml_node_t *n, long *out)
{
    if (!is_plain(n))
        return -1;
    const char *s = (const char *)n->data.scalar.value;
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (s[i] == '\0' || strspn(s + i, "0123456789") != strlen(s + i))
        return -1;
    errno = 0;
    *out = strtol(s, NULL, 10);
    return errno == ERANGE ? -2 : 0;
}

static bool is_decimal(const yaml_node_t *n)
{
    static const char *const special[] = {".inf", "-.inf", "+.inf", ".nan", ".NaN", NULL};
    if (!is_plain(n))
        return false;
    const char *s = (const char *)n->data.scalar.value;
    char *end;
    if (s[0] == '\0' || strspn(s, "+-0123456789.eE") != strlen(s))
        return scalar_is(n, special);
    strtod(s, &end);
    return *end == '\0';
}

/* What n is, for "must be X, not Y" messages: never the value itself, which may be
 * a secret. */
static const char *describe(const yaml_node_t *n)
{
    bool b;
    long v;
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        break;
    }
    if (is_null(n))
        return "empty";
    if (parse_bool(n, &b) == 0)
        return "a boolean";
    if (parse_long(n, &v) != -1)
        return "an integer";
    if (is_decimal(n))
        return "a decimal number";
    return "a string";
}

static void dotted(char *buf, size_t cap, const char *prefix, const char *key)
{
    snprintf(buf, cap, "%s%s%s", prefix, *prefix ? "." : "", key);
}

static int visit(loader *l, yaml_node_t *n)
{
    size_t i = (size_t)(n - l->doc.nodes.start);
    if (l->visited[i])
        return config_at(l, n->start_mark,
                         "this value is reused through an alias (*name); aliases are not "
                         "supported, write the value out again");
    l->visited[i] = 1;
    return 0;
}

static yaml_node_t *node_at(loader *l, int id)
{
    return yaml_document_get_node(&l->doc, id);
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps), enough to
 * catch a typo; keys longer than KEY_MAX are never close to anything. */
static size_t typo_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= KEY_MAX || lb >= KEY_MAX)
        return SIZE_MAX;
    size_t rows[3][KEY_MAX + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t d = prev[j - 1] + cost;
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

static const char *closest_key(const char *key, const config_field *fields)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(key);
    for (const config_field *f = fields; f->key; f++) {
        size_t d = typo_distance(key, f->key);
        if (d < best_d && d < len) {
            best = f->key;
            best_d = d;
        }
    }
    return best;
}

static int unknown_key(loader *l, yaml_node_t *k, const config_field *fields, const char *prefix)
{
    char shown[KEY_MAX], full[2 * KEY_MAX], hint[3 * KEY_MAX] = "";
    const char *key = (const char *)k->data.scalar.value;
    name_sanitize(key, shown, sizeof(shown));
    dotted(full, sizeof(full), prefix, shown);
    const char *near = closest_key(key, fields);
    if (near) {
        char near_full[2 * KEY_MAX];
        dotted(near_full, sizeof(near_full), prefix, near);
        snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near_full);
    }
    return config_at(l, k->start_mark, "unknown key '%s'%s", full, hint);
}

static int set_string(loader *l, yaml_node_t *v, const char *key, char **dst)
{
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return config_at(l, v->start_mark, "%s must be a string, not %s", key, describe(v));
    if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return config_at(l, v->start_mark, "%s contains a NUL character", key);
    char *s = strdup((const char *)v->data.scalar.value);
    if (!s)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    free(*dst);
    *dst = s;
    return 0;
}

static void list_free(config_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static int set_list(loader *l, yaml_node_t *v, const char *key, config_list *dst)
{
    config_list list = {NULL, 0};
    if (is_null(v))
        goto done;
    if (v->type != YAML_SEQUENCE_NODE)
        return config_at(l, v->start_mark, "%s must be a list, not %s", key, describe(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    list.items = calloc(n ? n : 1, sizeof(char *));
    if (!list.items)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(l, v->data.sequence.items.start[i]);
        char item_key[2 * KEY_MAX + 24]; /* the key, then "[index]" */
        snprintf(item_key, sizeof(item_key), "%s[%zu]", key, i);
        int rc = visit(l, item);
        if (!rc)
            rc = set_string(l, item, item_key, &list.items[i]);
        if (rc) {
            list.n = n;
            list_free(&list);
            return rc;
        }
    }
    list.n = n;
done:
    list_free(dst);
    *dst = list;
    return 0;
}

static int load_map(loader *l, yaml_node_t *map, const config_field *fields, const char *prefix,
                    void *out);

static void maps_free(const config_field *f, config_maps *m)
{
    for (size_t i = 0; i < m->n; i++)
        config_free(f->children, (char *)m->items + i * (size_t)f->min);
    free(m->items);
    m->items = NULL;
    m->n = 0;
}

/* A sequence of maps, each loaded by f's children into its own item. */
static int set_maps(loader *l, yaml_node_t *v, const config_field *f, const char *key,
                    config_maps *dst)
{
    config_maps m = {NULL, 0};
    if (is_null(v))
        goto done;
    if (v->type != YAML_SEQUENCE_NODE)
        return config_at(l, v->start_mark, "%s must be a list of maps, not %s", key, describe(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (f->max && n > (size_t)f->max)
        return config_at(l, v->start_mark, "%s holds %zu items, at most %ld are allowed", key, n,
                         f->max);
    m.items = calloc(n ? n : 1, (size_t)f->min);
    if (!m.items)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(l, v->data.sequence.items.start[i]);
        char item_key[2 * KEY_MAX + 24];
        snprintf(item_key, sizeof(item_key), "%s[%zu]", key, i);
        int rc = visit(l, item);
        if (!rc && item->type != YAML_MAPPING_NODE)
            rc = config_at(l, item->start_mark, "%s must be a map, not %s", item_key,
                           describe(item));
        if (!rc)
            rc = load_map(l, item, f->children, item_key, (char *)m.items + i * (size_t)f->min);
        m.n = i + 1;
        if (rc) {
            maps_free(f, &m);
            return rc;
        }
    }
done:
    maps_free(f, dst);
    *dst = m;
    return 0;
}

static int set_int(loader *l, yaml_node_t *v, const config_field *f, const char *key, long *dst)
{
    long val;
    int rc = v->type == YAML_SCALAR_NODE ? parse_long(v, &val) : -1;
    if (rc == -1)
        return config_at(l, v->start_mark, "%s must be an integer, not %s", key, describe(v));
    bool bounded = f->min != 0 || f->max != 0;
    if (bounded && (rc == -2 || val < f->min || val > f->max)) {
        if (f->max == LONG_MAX)
            return config_at(l, v->start_mark, "%s must be at least %ld", key, f->min);
        if (f->min == LONG_MIN)
            return config_at(l, v->start_mark, "%s must be at most %ld", key, f->max);
        return config_at(l, v->start_mark, "%s must be between %ld and %ld", key, f->min, f->max);
    }
    if (rc == -2)
        return config_at(l, v->start_mark, "%s is too large a number", key);
    *dst = val;
    return 0;
}

static int set_value(loader *l, yaml_node_t *v, const config_field *f, const char *key, void *out)
{
    switch (f->type) {
    case CONFIG_STRING:
        return set_string(l, v, key, field_ptr(out, f));
    case CONFIG_BOOL:
        if (v->type != YAML_SCALAR_NODE || parse_bool(v, field_ptr(out, f)) != 0)
            return config_at(l, v->start_mark, "%s must be true or false, not %s", key,
                             describe(v));
        return 0;
    case CONFIG_INT:
        return set_int(l, v, f, key, field_ptr(out, f));
    case CONFIG_LIST:
        return set_list(l, v, key, field_ptr(out, f));
    case CONFIG_MAPS:
        return set_maps(l, v, f, key, field_ptr(out, f));
    case CONFIG_MAP:
        if (is_null(v))
            return load_map(l, NULL, f->children, key, out);
        if (v->type != YAML_MAPPING_NODE)
            return config_at(l, v->start_mark, "%s must be a map, not %s", key, describe(v));
        return load_map(l, v, f->children, key, out);
    }
    return config_at(l, v->start_mark, "%s has a type this program does not know", key);
}

/* Reports the first required key under fields that the file leaves out; seen is NULL
 * for a map that is absent altogether. A required map that is absent is reported by
 * its first required key, which is what the user has to write. */
static int check_missing(loader *l, const config_field *fields, const size_t *seen,
                         const char *prefix)
{
    for (size_t i = 0; fields[i].key; i++) {
        if ((seen && seen[i]) || !fields[i].required)
            continue;
        char key[2 * KEY_MAX];
        dotted(key, sizeof(key), prefix, fields[i].key);
        if (fields[i].type == CONFIG_MAP) {
            int rc = check_missing(l, fields[i].children, NULL, key);
            if (rc)
                return rc;
        }
        return err_set(l->e, CAIRN_ECONFIG, "%s: missing required key '%s'", l->name, key);
    }
    return 0;
}

static size_t count_fields(const config_field *fields)
{
    size_t n = 0;
    while (fields[n].key)
        n++;
    return n;
}

/* Loads the pairs of map (NULL: an empty map) whose keys fields describe. */
static int load_map(loader *l, yaml_node_t *map, const config_field *fields, const char *prefix,
                    void *out)
{
    size_t nfields = count_fields(fields);
    /* The line where each key was first seen; 0 when not yet. */
    size_t *seen = calloc(nfields + 1, sizeof(size_t));
    if (!seen)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    int rc = 0;
    yaml_node_pair_t *p = map ? map->data.mapping.pairs.start : NULL;
    yaml_node_pair_t *end = map ? map->data.mapping.pairs.top : NULL;
    for (; !rc && p < end; p++) {
        yaml_node_t *k = node_at(l, p->key), *v = node_at(l, p->value);
        if ((rc = visit(l, k)) != 0 || (rc = visit(l, v)) != 0)
            break;
        if (k->type != YAML_SCALAR_NODE) {
            rc = config_at(l, k->start_mark, "a key%s%s must be a word, not %s",
                           *prefix ? " in " : "", prefix, describe(k));
            break;
        }
        if (strlen((const char *)k->data.scalar.value) != k->data.scalar.length) {
            rc = config_at(l, k->start_mark, "a key contains a NUL character");
            break;
        }
        size_t i = 0;
        while (i < nfields && !scalar_equals(k, fields[i].key))
            i++;
        if (i == nfields) {
            rc = unknown_key(l, k, fields, prefix);
            break;
        }
        char key[2 * KEY_MAX];
        dotted(key, sizeof(key), prefix, fields[i].key);
        if (seen[i]) {
            rc = config_at(l, k->start_mark, "duplicate key '%s' (first set on line %zu)", key,
                           seen[i]);
            break;
        }
        seen[i] = k->start_mark.line + 1;
        rc = set_value(l, v, &fields[i], key, out);
    }
    if (!rc)
        rc = check_missing(l, fields, seen, prefix);
    free(seen);
    return rc;
}

/* libyaml reports reader errors (bad UTF-8, control characters) as a byte offset;
 * the line and column come from the text itself. */
static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t offset)
{
    yaml_mark_t m = {0, 0, 0};
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    return m;
}

static int syntax_error(loader *l, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR)
        return config_at(l, mark_of_offset(text, len, p->problem_offset), "%s", problem);
    if (p->context)
        return config_at(l, p->problem_mark, "%s (%s at %zu:%zu)", problem, p->context,
                         p->context_mark.line + 1, p->context_mark.column + 1);
    return config_at(l, p->problem_mark, "%s", problem);
}

/* A second document would be silently ignored, so it is refused. */
static int check_single_document(loader *l, yaml_parser_t *p, const char *text, size_t len)
{
    yaml_document_t next;
    if (!yaml_parser_load(p, &next))
        return syntax_error(l, p, text, len);
    int rc = 0;
    if (yaml_document_get_root_node(&next))
        rc = config_at(l, next.start_mark,
                       "a second YAML document starts here; keep all settings in one");
    yaml_document_delete(&next);
    return rc;
}

static int load_document(loader *l, yaml_parser_t *p, const char *text, size_t len,
                         const config_field *fields, void *out)
{
    int rc = check_single_document(l, p, text, len);
    if (rc)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&l->doc);
    if (!root || is_null(root))
        return err_set(l->e, CAIRN_ECONFIG, "%s: the file is empty; expected a map of settings",
                       l->name);
    if (root->type != YAML_MAPPING_NODE)
        return config_at(l, root->start_mark, "the top level must be a map of settings, not %s",
                         describe(root));
    size_t nnodes = (size_t)(l->doc.nodes.top - l->doc.nodes.start);
    l->visited = calloc(nnodes, 1);
    if (!l->visited)
        return err_set(l->e, CAIRN_ENOMEM, "%s: out of memory", l->name);
    l->visited[root - l->doc.nodes.start] = 1;
    rc = load_map(l, root, fields, "", out);
    free(l->visited);
    return rc;
}

/* libyaml keeps its own copy of every scalar, secrets included; wipe them before it
 * frees them. */
static void document_wipe(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            explicit_bzero(n->data.scalar.value, n->data.scalar.length);
}

int config_load_text(const char *name, const char *text, size_t len, const config_field *fields,
                     void *out, cairn_err *e)
{
    loader l = {.name = name, .visited = NULL, .e = e};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        config_free(fields, out);
        return err_set(e, CAIRN_ENOMEM, "%s: out of memory", name);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc;
    if (!yaml_parser_load(&p, &l.doc)) {
        rc = syntax_error(&l, &p, text, len);
    } else {
        rc = load_document(&l, &p, text, len, fields, out);
        document_wipe(&l.doc);
        yaml_document_delete(&l.doc);
    }
    yaml_parser_delete(&p);
    if (rc)
        config_free(fields, out);
    return rc;
}

int config_load_string(const char *name, const char *yaml, const config_field *fields, void *out,
                       cairn_err *e)
{
    return config_load_text(name, yaml, strlen(yaml), fields, out, e);
}

void config_free(const config_field *fields, void *out)
{
    for (const config_field *f = fields; f->key; f++) {
        switch (f->type) {
        case CONFIG_STRING: {
            char **s = field_ptr(out, f);
            free(*s);
            *s = NULL;
            break;
        }
        case CONFIG_LIST:
            list_free(field_ptr(out, f));
            break;
        case CONFIG_MAPS:
            maps_free(f, field_ptr(out, f));
            break;
        case CONFIG_MAP:
            config_free(f->children, out);
            break;
        case CONFIG_BOOL:
        case CONFIG_INT:
            break;
        }
    }
}
