#include "command/lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lifecycle_open(const coord_config *cfg, repo **r, cairn_err *e)
{
    *r = NULL;
    int rc = coord_config_need_repository(cfg, e);
    if (rc)
        return rc;
    return repo_open(r, cfg->repository, cfg->store, false, e);
}

struct kind {
    const char *name;
    uint64_t n;
};

static size_t kinds(const repo *r, struct kind out[10])
{
    store_counts q;
    repo_stats(r, &q);
    const struct kind all[] = {{"put", q.puts},
                               {"part_put", q.part_puts},
                               {"get", q.gets},
                               {"head", q.heads},
                               {"list", q.lists},
                               {"delete", q.deletes},
                               {"multipart", q.mpu_initiates},
                               {"multipart_abort", q.mpu_aborts},
                               {"retries", q.retries}};
    size_t n = sizeof(all) / sizeof(all[0]);
    memcpy(out, all, sizeof(all));
    return n;
}

json_object *lifecycle_requests_json(const repo *r)
{
    struct kind k[10];
    size_t n = kinds(r, k);
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < n; i++)
        json_object_object_add(o, k[i].name, json_object_new_int64((int64_t)k[i].n));
    return o;
}

const char *lifecycle_requests_text(const repo *r, char *buf, size_t cap)
{
    struct kind k[10];
    size_t n = kinds(r, k), len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++) {
        if (k[i].n == 0)
            continue;
        int w = snprintf(buf + len, cap - len, "%s%s %llu", len ? ", " : "", k[i].name,
                         (unsigned long long)k[i].n);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}

int64_t lifecycle_duration_ms(const char *s)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    long long v = strtoll(s, &end, 10);
    int64_t unit = 1000;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 86400 * 1000;
    else
        return -1;
    if (v < 0 || v > 100LL * 365 * 86400)
        return -1;
    return (int64_t)v * unit;
}

const char *lifecycle_json_text(json_object *doc)
{
    return json_object_to_json_string_ext(doc,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

void lifecycle_print_json(json_object *doc)
{
    printf("%s\n", lifecycle_json_text(doc));
    json_object_put(doc);
}
