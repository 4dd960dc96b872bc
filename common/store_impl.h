/*
 * store_impl - the driver interface behind store.h. Private to the store modules.
 *
 * store.c validates keys and dispatches on the URL scheme; a driver only moves
 * bytes. Adding a driver (s3://) means one more store_driver and one line in
 * store.c's table, with no change to callers.
 */
#ifndef CAIRN_STORE_IMPL_H
#define CAIRN_STORE_IMPL_H

#include <stdint.h>

#include "store.h"

typedef struct store_driver {
    const char *scheme; /* with "://", e.g. "file://" */
    /* url is the full URL; *impl is the driver's state, shared by all threads. */
    int (*open)(const char *url, void **impl, cairn_err *e);
    void (*close)(void *impl);
    int (*put_begin)(void *impl, const char *key, void **wimpl, cairn_err *e);
    int (*write)(void *wimpl, const void *buf, size_t len, cairn_err *e);
    int (*commit)(void *wimpl, cairn_err *e); /* frees wimpl */
    void (*abort)(void *wimpl);               /* frees wimpl */
    int (*get)(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e);
    int (*head)(void *impl, const char *key, uint64_t *size, cairn_err *e);
    int (*list)(void *impl, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e);
    int (*del)(void *impl, const char *key, cairn_err *e);
} store_driver;

extern const store_driver store_file_driver;

/* Test hook: after `bytes` more bytes written by file:// writers, writes fail with
 * errnum (e.g. ENOSPC) as a full disk would. errnum 0 turns the fault off. */
void store_file_fail_writes_after(uint64_t bytes, int errnum);

#endif
