/*
 * config - typed YAML configuration files, checked against a schema.
 *
 * A module describes its file as an array of config_field and gets a filled struct
 * back, or an error that points at FILE:LINE:COLUMN and names the dotted key. Values
 * are never quoted in messages: a configuration may hold passwords and access keys.
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef enum {
    CONFIG_STRING,
    CONFIG_BOOL,
    CONFIG_INT,
    CONFIG_LIST,
    CONFIG_MAP,
    CONFIG_MAPS
} config_type;

/* A YAML sequence of scalars. */
typedef struct config_list {
    char **items;
    size_t n;
} config_list;

/* A YAML sequence of maps (CONFIG_MAPS): n items of the size the field gives, each
 * filled by the field's children, whose offsets are into one item. */
typedef struct config_maps {
    void *items;
    size_t n;
} config_maps;

typedef struct config_field {
    const char *key;
    config_type type;
    /* Into the caller's struct: char * / bool / long / config_list / config_maps; unused
     * for CONFIG_MAP. */
    size_t offset;
    /* CONFIG_MAP: the nested map's fields, writing into the same struct; CONFIG_MAPS:
     * the fields of one item. The array ends with key == NULL. */
    const struct config_field *children;
    /* Must be in the file, if the map around it is. A required map that is absent is
     * reported by the first required key inside it. */
    bool required;
    /* CONFIG_INT bounds; both 0 means unbounded. CONFIG_MAPS: min is the size of one
     * item (CONFIG_MAPS_FIELD sets it), max the most items the list may hold. */
    long min, max;
} config_field;

#define CONFIG_MAPS_FIELD(key, outer, member, item, children, most)                                \
    {                                                                                              \
        key, CONFIG_MAPS, offsetof(outer, member), children, false, (long)sizeof(item), most       \
    }

/* Parses the YAML file at path into out. Keys absent from the file keep the value that
 * out already holds, so callers set defaults first. Every string and list in out must
 * be NULL (empty) or heap memory that out owns: a value from the file replaces and
 * frees it. On failure everything is freed as by config_free, and the message reads
 * "FILE:LINE:COLUMN: ..." (or "FILE: ..." when no position applies). */
int config_load_file(const char *path, const config_field *fields, void *out, cairn_err *e);

/* Like config_load_file, from memory; name stands for the file in messages. */
int config_load_string(const char *name, const char *yaml, const config_field *fields, void *out,
                       cairn_err *e);

/* Like config_load_string, from the len bytes of text (no NUL needed). */
int config_load_text(const char *name, const char *text, size_t len, const config_field *fields,
                     void *out, cairn_err *e);

/*
 * Makes *p, a path written in the configuration file `file`, relative to that file's
 * directory rather than to the working directory, so that a file loaded from cron or
 * a unit finds what it names. Absolute paths, NULL and files in the working directory
 * are left as they are.
 */
int config_resolve_path(const char *file, char **p, cairn_err *e);

/* Frees every string and list that fields describe in out, and empties them. */
void config_free(const config_field *fields, void *out);

#endif
