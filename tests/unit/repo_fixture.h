/*
 * repo_fixture - a scratch file repository for unit tests, and blobs stored in it
 * under their real SHA-256.
 *
 * Header-only: each test program includes it once.
 */
#ifndef CAIRN_TEST_REPO_FIXTURE_H
#define CAIRN_TEST_REPO_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/hex.h"
#include "repo/repo.h"

typedef struct repo_fixture {
    char dir[64];
    char root[96]; /* the repository's directory, <dir>/repo */
    char url[128];
    repo *r;
} repo_fixture;

/* Creates a directory and an initialised repository in it; 0 or -1. */
static inline int repo_fixture_open(repo_fixture *f)
{
    strcpy(f->dir, "/tmp/cairn-coord-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/repo", f->dir);
    snprintf(f->url, sizeof(f->url), "file://%s", f->root);
    cairn_err e;
    return repo_open(&f->r, f->url, NULL, true, &e) == 0 ? 0 : -1;
}

/* Closes the repository and removes the directory; 0 or -1. */
static inline int repo_fixture_close(repo_fixture *f)
{
    repo_close(f->r);
    f->r = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* cmocka setup and teardown of a test whose state is a repo_fixture. */
static inline int repo_fixture_setup(void **state)
{
    repo_fixture *f = calloc(1, sizeof(*f));
    if (!f || repo_fixture_open(f) != 0)
        return -1;
    *state = f;
    return 0;
}

static inline int repo_fixture_teardown(void **state)
{
    int rc = repo_fixture_close(*state);
    free(*state);
    return rc;
}

/* Stores data as a blob; id (65 bytes) receives its id. 0 or a cairn status. */
static inline int repo_fixture_put(repo_fixture *f, const char *data, char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/blob", f->dir);
    FILE *file = fopen(path, "w+");
    if (!file)
        return CAIRN_EIO;
    fputs(data, file);
    fflush(file);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, data, strlen(data));
    hex_digest_final(md, id);
    EVP_MD_CTX_free(md);
    cairn_err e;
    int rc = repo_blob_put_fd(f->r, id, fileno(file), 1, NULL, NULL, &e);
    fclose(file);
    return rc;
}

#endif
