/*
 * store_impl - the driver interface behind store.h. Private to the store modules.
 *
 * store.c validates keys and dispatches on the URL scheme; a driver only moves
 * bytes. Adding a driver means one more store_driver and one line in store.c's
 * table, with no change to callers.
 */
#ifndef CAIRN_STORE_IMPL_H
#define CAIRN_STORE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct s3conf;

/* Each driver's part of the process's settings. */
struct store_options {
    struct s3conf *s3;
};

typedef struct store_driver {
    const char *scheme; /* with "://", e.g. "file://" */
    /* url is the full URL; o may be NULL; *impl is the driver's state, shared by all
     * threads. */
    int (*open)(const char *url, const store_options *o, void **impl, cairn_err *e);
    void (*close)(void *impl);
    /* size_hint: about how many bytes will be written, 0 when unknown. */
    int (*put_begin)(void *impl, const char *key, uint64_t size_hint, void **wimpl, cairn_err *e);
    int (*write)(void *wimpl, const void *buf, size_t len, cairn_err *e);
    int (*commit)(void *wimpl, cairn_err *e); /* frees wimpl */
    void (*abort)(void *wimpl);               /* frees wimpl */
    /* Optional, all three or none: see store_put_begin_unnamed. The writer is used
     * with write and abort as any other, and ended by commit_as. */
    int (*put_begin_unnamed)(void *impl, const char *dir, void **wimpl, cairn_err *e);
    int (*commit_as)(void *impl, void *wimpl, const char *key, cairn_err *e); /* frees wimpl */
    uint64_t (*unnamed_max)(void *impl);
    int (*get)(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e);
    /* Bytes [offset, offset + length), length > 0: see store_get_range. */
    int (*get_range)(void *impl, const char *key, uint64_t offset, uint64_t length, store_sink sink,
                     void *ctx, cairn_err *e);
    int (*head)(void *impl, const char *key, uint64_t *size, cairn_err *e);
    /* Keys in byte order; store.c drops those store_key_check refuses (names others
     * put beside a repository), so a driver need not filter them. A driver gives
     * list, or list_ex, or both; store.c reads one through the other. */
    int (*list)(void *impl, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e);
    /* The listing with modification times; store.c reports -1 without it. */
    int (*list_ex)(void *impl, const char *prefix, store_list_ex_cb cb, void *ctx, cairn_err *e);
    /* Optional: see store_sweep_stale. */
    int (*sweep_stale)(void *impl, int64_t cutoff_ms, bool remove, store_list_ex_cb cb, void *ctx,
                       cairn_err *e);
    int (*del)(void *impl, const char *key, cairn_err *e);
    /* Optional: deletes in batches; store.c calls del for each key without it. */
    int (*del_many)(void *impl, const char *const *keys, size_t n, cairn_err *e);
    /* Optional: the driver's request counts; store.c counts calls without it. */
    void (*stats)(void *impl, store_counts *out);
} store_driver;

extern const store_driver store_file_driver;
extern const store_driver store_s3_driver;

/* Test hook: after `bytes` more bytes written by file:// writers, writes fail with
 * errnum (e.g. ENOSPC) as a full disk would. errnum 0 turns the fault off. */
void store_file_fail_writes_after(uint64_t bytes, int errnum);

#endif
