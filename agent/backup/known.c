/*
 * known - the blobs of the parent backup's node manifest (and of the increments since
 * it, for a full backup after a chain), by id.
 *
 * Design notes. A node may hold hundreds of thousands of files, so an entry is kept
 * small: the binary id and, for a member, the index of its pack (pack ids are kept
 * once each) with its place, which fits 32 bits since a pack is at most REPO_PACK_MAX.
 * Two open-addressing tables, each slot starting with the 32-byte key and a used
 * byte, share one probe. The index is built once, before the upload's threads start,
 * and only read after, so lookups need no lock.
 */
#include "backup/known.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/debug.h"
#include "base/hex.h"
#include "repo/manifest.h"

#define ID_BYTES 32

struct kn_blob {
    uint8_t id[ID_BYTES];
    uint8_t used;
    uint32_t pack; /* 0: a blob of its own; else 1 + index into packs */
    uint32_t offset, length;
};

struct kn_pack {
    uint8_t id[ID_BYTES];
    uint8_t used;
    uint32_t index;
};

/* An open-addressing table of slots of `stride` bytes, key first, used byte next. */
typedef struct kn_table {
    uint8_t *slots;
    size_t stride, cap, n;
} kn_table;

struct known {
    kn_table blobs, packs;
    char (*pack_ids)[BLOB_ID_HEX + 1];
    size_t npacks;
};

static size_t probe(const kn_table *t, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h)); /* the key is a SHA-256: any 8 bytes are uniform */
    size_t i = (size_t)h & (t->cap - 1);
    for (;;) {
        const uint8_t *s = t->slots + i * t->stride;
        if (!s[ID_BYTES] || memcmp(s, key, ID_BYTES) == 0)
            return i;
        i = (i + 1) & (t->cap - 1);
    }
}

/* The slot of key, used or free, after growing t to keep it under 70 % full. */
static uint8_t *slot_for(kn_table *t, const uint8_t *key, cairn_err *e)
{
    if ((t->n + 1) * 10 > t->cap * 7) {
        kn_table g = {calloc(t->cap ? t->cap * 2 : 1024, t->stride), t->stride,
                      t->cap ? t->cap * 2 : 1024, t->n};
        if (!g.slots) {
            err_set(e, CAIRN_ENOMEM, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < t->cap; i++) {
            const uint8_t *s = t->slots + i * t->stride;
            if (s[ID_BYTES])
                memcpy(g.slots + probe(&g, s) * g.stride, s, g.stride);
        }
        free(t->slots);
        *t = g;
    }
    return t->slots + probe(t, key) * t->stride;
}

/* The index of pack id, added when new. */
static int pack_index(known *k, const char *id, uint32_t *index, cairn_err *e)
{
    uint8_t key[ID_BYTES];
    if (hex_decode(id, key, sizeof(key)) != 0)
        return err_set(e, CAIRN_ECORRUPT, "'%s' is not a pack id", id);
    struct kn_pack *p = (struct kn_pack *)slot_for(&k->packs, key, e);
    if (!p)
        return CAIRN_ENOMEM;
    if (!p->used) {
        void *grown = realloc(k->pack_ids, (k->npacks + 1) * sizeof(*k->pack_ids));
        if (!grown)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        k->pack_ids = grown;
        memcpy(k->pack_ids[k->npacks], id, BLOB_ID_HEX + 1);
        *p = (struct kn_pack){.used = 1, .index = (uint32_t)k->npacks++};
        memcpy(p->id, key, ID_BYTES);
        k->packs.n++;
    }
    *index = p->index;
    return 0;
}

static int add_file(known *k, const Cairn__Repo__FileEntry *f, cairn_err *e)
{
    repo_ref ref;
    uint8_t key[ID_BYTES];
    int rc = manifest_file_ref(f, &ref, e);
    if (rc)
        return rc;
    CAIRN_ASSERT(ref.offset <= REPO_PACK_MAX && ref.length <= REPO_PACK_MAX);
    struct kn_blob v = {.used = 1, .offset = (uint32_t)ref.offset, .length = (uint32_t)ref.length};
    if (hex_decode(ref.blob, key, sizeof(key)) != 0)
        return err_set(e, CAIRN_ECORRUPT, "'%s' is not a blob id", ref.blob);
    if (ref.pack && (rc = pack_index(k, ref.pack, &v.pack, e)) != 0)
        return rc;
    v.pack += ref.pack ? 1 : 0;
    memcpy(v.id, key, ID_BYTES);
    struct kn_blob *s = (struct kn_blob *)slot_for(&k->blobs, key, e);
    if (!s)
        return CAIRN_ENOMEM;
    k->blobs.n += s->used ? 0 : 1;
    *s = v; /* the same blob twice: either place holds it */
    return 0;
}

static int add_table(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    for (size_t i = 0; i < t->n_files; i++) {
        int rc = add_file(ctx, t->files[i], e);
        if (rc)
            return rc;
    }
    return 0;
}

int known_empty(known **out, cairn_err *e)
{
    known *k = calloc(1, sizeof(*k));
    if (!k)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    k->blobs.stride = sizeof(struct kn_blob);
    k->packs.stride = sizeof(struct kn_pack);
    *out = k;
    return 0;
}

/* One reading of a manifest into k: from the copy (fd >= 0) or the repository. */
static int read_into(known *k, repo *r, const char *key, int fd, const char *copy,
                     const char *sha256, cairn_err *e)
{
    Cairn__Repo__NodeManifest *h = NULL;
    int rc = manifest_node_read_copy(r, key, fd, copy, sha256, &h, add_table, k, e);
    if (h)
        cairn__repo__node_manifest__free_unpacked(h, NULL);
    return rc ? err_prefix(e, "reading the manifest %s", key) : 0;
}

/* Reads key into k, from copy when copy holds the same bytes (*from_copy). The SHA-256
 * is known only at the end of a reading: k must be empty, and is only right on success. */
static int add_manifest(known *k, repo *r, const char *key, const char *sha256, const char *copy,
                        bool *from_copy, cairn_err *e)
{
    CAIRN_ASSERT(k->blobs.n == 0);
    *from_copy = false;
    int fd = copy ? open(copy, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        cairn_err ce; /* another backup's manifest: the repository has this one */
        *from_copy = read_into(k, r, key, fd, copy, sha256, &ce) == 0;
        close(fd);
        if (*from_copy)
            return 0;
    }
    return read_into(k, r, key, -1, NULL, sha256, e);
}

int known_load(known **out, repo *r, const char *key, const char *sha256, const char *copy,
               bool *from_copy, cairn_err *e)
{
    *from_copy = false;
    known *k = NULL;
    int rc = known_empty(&k, e);
    if (rc)
        return rc;
    if ((rc = add_manifest(k, r, key, sha256, copy, from_copy, e)) != 0) {
        known_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

/* Every blob of from into k, its pack by id. */
static int merge(known *k, const known *from, cairn_err *e)
{
    for (size_t i = 0; i < from->blobs.cap; i++) {
        const struct kn_blob *b =
            (const struct kn_blob *)(from->blobs.slots + i * from->blobs.stride);
        if (!b->used)
            continue;
        struct kn_blob v = *b;
        if (b->pack && pack_index(k, from->pack_ids[b->pack - 1], &v.pack, e) != 0)
            return e->code;
        v.pack += b->pack ? 1 : 0;
        struct kn_blob *s = (struct kn_blob *)slot_for(&k->blobs, b->id, e);
        if (!s)
            return CAIRN_ENOMEM;
        k->blobs.n += s->used ? 0 : 1;
        *s = v;
    }
    return 0;
}

int known_add(known *k, repo *r, const char *key, const char *sha256, const char *copy,
              bool *from_copy, cairn_err *e)
{
    known *more = NULL;
    int rc = known_load(&more, r, key, sha256, copy, from_copy, e);
    if (!rc)
        rc = merge(k, more, e);
    known_free(more);
    return rc;
}

bool known_find(const known *k, const char *id, repo_ref *ref)
{
    uint8_t key[ID_BYTES];
    if (!k->blobs.cap || hex_decode(id, key, sizeof(key)) != 0)
        return false;
    const struct kn_blob *s =
        (const struct kn_blob *)(k->blobs.slots + probe(&k->blobs, key) * k->blobs.stride);
    if (!s->used)
        return false;
    if (ref)
        *ref = (repo_ref){.blob = id,
                          .pack = s->pack ? k->pack_ids[s->pack - 1] : NULL,
                          .offset = s->offset,
                          .length = s->length};
    return true;
}

size_t known_count(const known *k)
{
    return k->blobs.n;
}

void known_free(known *k)
{
    if (!k)
        return;
    free(k->blobs.slots);
    free(k->packs.slots);
    free(k->pack_ids);
    free(k);
}
