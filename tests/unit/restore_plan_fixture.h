/* What the restore planner's tests share: blob ids, file entries, tables added to a plan. */
#ifndef CAIRN_TEST_RESTORE_PLAN_FIXTURE_H
#define CAIRN_TEST_RESTORE_PLAN_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "command/restore_plan.h"
#include "repo/manifest.h"

#define BLOB_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define BLOB_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define PACK_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define PACK_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static inline Cairn__Repo__FileEntry file_entry(const char *name, const char *blob, uint64_t size)
{
    Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT;
    f.name = (char *)name;
    f.blob = (char *)blob;
    f.size = size;
    return f;
}

/* Adds table ks.name of source node `source` with the n files given. */
static inline int add_table(restore_plan *p, uint32_t source, const char *ks, const char *name,
                            Cairn__Repo__FileEntry *files, size_t n)
{
    Cairn__Repo__FileEntry *ptrs[16];
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &files[i];
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = (char *)ks;
    te.name = (char *)name;
    te.files = ptrs;
    te.n_files = n;
    p->cur_source = source;
    cairn_err e;
    err_clear(&e);
    return restore_plan_add_table(p, &te, &e);
}

static const select_filter all_tables = {0};

#endif
