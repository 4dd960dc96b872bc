/*
 * snapshots - ListSnapshots: every snapshot on this node, per tag and table, from
 * ScyllaDB's REST API. The agent reports them all; which ones cairn made is the
 * coordinator's decision (`cairn snapshots`), since only it sees the repository.
 *
 * The result is built with malloc throughout, so that the dispatcher frees it with
 * cairn__rpc__snapshot_list__free_unpacked like an unpacked message.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static char *dup_field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return strdup(json_object_get_string(v));
}

/* One entry for tag and the table object t ({"ks", "cf", "total", "live"}). */
static Cairn__Rpc__SnapshotEntry *entry_new(const char *tag, json_object *t)
{
    Cairn__Rpc__SnapshotEntry *en = malloc(sizeof(*en));
    if (!en)
        return NULL;
    cairn__rpc__snapshot_entry__init(en);
    en->tag = strdup(tag);
    en->keyspace = dup_field(t, "ks");
    en->table = dup_field(t, "cf");
    json_object *total = NULL;
    if (json_object_object_get_ex(t, "total", &total)) {
        en->has_bytes = 1;
        en->bytes = (uint64_t)json_object_get_int64(total);
    }
    if (!en->tag) {
        cairn__rpc__snapshot_entry__free_unpacked(en, NULL);
        return NULL;
    }
    return en;
}

static int add_entry(Cairn__Rpc__SnapshotList *l, Cairn__Rpc__SnapshotEntry *en, cairn_err *e)
{
    if (!en)
        return err_set(e, CAIRN_ENOMEM, "out of memory listing snapshots");
    Cairn__Rpc__SnapshotEntry **v = realloc(l->entries, (l->n_entries + 1) * sizeof(*v));
    if (!v) {
        cairn__rpc__snapshot_entry__free_unpacked(en, NULL);
        return err_set(e, CAIRN_ENOMEM, "out of memory listing snapshots");
    }
    l->entries = v;
    l->entries[l->n_entries++] = en;
    return 0;
}

/* Entries of one {"key": tag, "value": [tables]} element; malformed ones are skipped. */
static int add_tag(Cairn__Rpc__SnapshotList *l, json_object *item, cairn_err *e)
{
    json_object *key = NULL, *tables = NULL;
    if (!json_object_object_get_ex(item, "key", &key) ||
        !json_object_is_type(key, json_type_string))
        return 0;
    const char *tag = json_object_get_string(key);
    if (!json_object_object_get_ex(item, "value", &tables) ||
        !json_object_is_type(tables, json_type_array) || json_object_array_length(tables) == 0) {
        Cairn__Rpc__SnapshotEntry *en = malloc(sizeof(*en));
        if (en) {
            cairn__rpc__snapshot_entry__init(en);
            if (!(en->tag = strdup(tag))) {
                free(en);
                en = NULL;
            }
        }
        return add_entry(l, en, e);
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < json_object_array_length(tables); i++)
        rc = add_entry(l, entry_new(tag, json_object_array_get_idx(tables, i)), e);
    return rc;
}

int agent_list_snapshots(agent *a, Cairn__Rpc__Response *resp, cairn_err *e)
{
    json_object *arr = NULL;
    int rc = scylla_snapshot_details(a->rest, &arr, e);
    if (rc)
        return rc;
    Cairn__Rpc__SnapshotList *l = malloc(sizeof(*l));
    if (!l) {
        json_object_put(arr);
        return err_set(e, CAIRN_ENOMEM, "out of memory listing snapshots");
    }
    cairn__rpc__snapshot_list__init(l);
    for (size_t i = 0; !rc && i < json_object_array_length(arr); i++)
        rc = add_tag(l, json_object_array_get_idx(arr, i), e);
    json_object_put(arr);
    if (rc) {
        cairn__rpc__snapshot_list__free_unpacked(l, NULL);
        return rc;
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_SNAPSHOTS;
    resp->snapshots = l;
    return 0;
}
