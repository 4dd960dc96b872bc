#include "repo/blob.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "base/crc.h"
#include "base/hex.h"

#define HASH_BUF (256u << 10)

struct blob_enc {
    ZSTD_CCtx *cctx;
    void *out;
    size_t out_cap;
};

struct blob_dec {
    ZSTD_DCtx *dctx;
    EVP_MD_CTX *sha;
    void *out;
    size_t out_cap;
    char expected[BLOB_ID_HEX + 1]; /* empty: no SHA-256 check */
    uint64_t size;
    bool frame_done; /* the frame has been decoded and flushed entirely */
};

bool blob_id_valid(const char *id)
{
    size_t i = 0;
    for (; id[i]; i++) {
        if (i >= BLOB_ID_HEX || !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    }
    return i == BLOB_ID_HEX;
}

struct blob_sum {
    EVP_MD_CTX *sha; /* NULL: not asked for */
    XXH3_state_t *xxh;
    bool crc;
    uint32_t crc32;
    uint64_t size;
};

int blob_sum_new(blob_sum **out, unsigned what, cairn_err *e)
{
    *out = NULL;
    bool sha = what & BLOB_SUM_SHA256, xxh = what & BLOB_SUM_XXH3;
    blob_sum *s = calloc(1, sizeof(*s));
    if (s) {
        s->sha = sha ? EVP_MD_CTX_new() : NULL;
        s->xxh = xxh ? XXH3_createState() : NULL;
    }
    if (!s || (sha && !s->sha) || (xxh && !s->xxh) ||
        (sha && EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) ||
        (xxh && XXH3_64bits_reset(s->xxh) != XXH_OK)) {
        blob_sum_free(s);
        return err_set(e, CAIRN_ENOMEM, "out of memory hashing a file");
    }
    s->crc = what & BLOB_SUM_CRC32;
    s->crc32 = 0;
    *out = s;
    return 0;
}

void blob_sum_update(blob_sum *s, const void *buf, size_t len)
{
    if (s->sha)
        EVP_DigestUpdate(s->sha, buf, len);
    if (s->xxh)
        XXH3_64bits_update(s->xxh, buf, len);
    if (s->crc)
        s->crc32 = crc_update(s->crc32, buf, len);
    s->size += len;
}

void blob_sum_final(blob_sum *s, blob_sums *out)
{
    out->id[0] = '\0';
    if (s->sha)
        hex_sha256_final(s->sha, out->id);
    out->crc32 = s->crc ? s->crc32 : 0;
    out->xxh3 = s->xxh ? XXH3_64bits_digest(s->xxh) : 0;
    out->size = s->size;
}

void blob_sum_free(blob_sum *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->sha);
    XXH3_freeState(s->xxh);
    free(s);
}

int blob_read_fd(int fd, blob_sum *sum, blob_enc *enc, store_sink sink, void *ctx,
                 blob_stop_fn stop, void *stop_arg, cairn_err *e)
{
    unsigned char *buf = malloc(HASH_BUF);
    if (!buf)
        return err_set(e, CAIRN_ENOMEM, "out of memory reading a file");
    int rc = 0;
    for (uint64_t off = 0;;) {
        ssize_t n = pread(fd, buf, HASH_BUF, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = err_sys(e, errno, "cannot read the file at offset %llu", (unsigned long long)off);
        if (n <= 0)
            break;
        /* Asked per chunk: a large file at a low rate limit takes minutes. */
        if (stop && stop(stop_arg, off)) {
            rc = err_set(e, CAIRN_EBUSY, "cancelled at offset %llu", (unsigned long long)off);
            break;
        }
        blob_sum_update(sum, buf, (size_t)n);
        if (enc && (rc = blob_enc_write(enc, buf, (size_t)n, sink, ctx, e)) != 0)
            break;
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

int blob_hash_fd_sums(int fd, bool crc32, blob_sums *out, cairn_err *e)
{
    blob_sum *sum = NULL;
    int rc = blob_sum_new(&sum, BLOB_SUM_SHA256 | BLOB_SUM_XXH3 | (crc32 ? BLOB_SUM_CRC32 : 0), e);
    if (!rc)
        rc = blob_read_fd(fd, sum, NULL, NULL, NULL, NULL, NULL, e);
    if (!rc)
        blob_sum_final(sum, out);
    blob_sum_free(sum);
    return rc;
}

int blob_hash_fd(int fd, char id[BLOB_ID_HEX + 1], uint32_t *crc32_or_null, uint64_t *size,
                 cairn_err *e)
{
    blob_sums s;
    int rc = blob_hash_fd_sums(fd, crc32_or_null != NULL, &s, e);
    if (rc)
        return rc;
    memcpy(id, s.id, BLOB_ID_HEX + 1);
    if (crc32_or_null)
        *crc32_or_null = s.crc32;
    if (size)
        *size = s.size;
    return 0;
}

static int zstd_err(cairn_err *e, int code, const char *what, size_t zr)
{
    return err_set(e, code, "%s: %s", what, ZSTD_getErrorName(zr));
}

/* A sink's nonzero return is passed on; a positive one would look like success to
 * callers that test < 0, so it becomes CAIRN_EIO. */
static int call_sink(store_sink sink, void *ctx, const void *buf, size_t len, cairn_err *e)
{
    if (len == 0)
        return 0;
    int rc = sink(ctx, buf, len, e);
    if (rc > 0)
        return err_set(e, CAIRN_EIO, "the consumer stopped the stream");
    return rc;
}

int blob_enc_new(blob_enc **out, int level, cairn_err *e)
{
    *out = NULL;
    blob_enc *b = calloc(1, sizeof(*b));
    if (!b)
        return err_set(e, CAIRN_ENOMEM, "out of memory creating a compressor");
    b->cctx = ZSTD_createCCtx();
    b->out_cap = ZSTD_CStreamOutSize();
    b->out = malloc(b->out_cap);
    if (!b->cctx || !b->out) {
        blob_enc_free(b);
        return err_set(e, CAIRN_ENOMEM, "out of memory creating a compressor");
    }
    size_t zr = ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(zr))
        zr = ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(zr)) {
        blob_enc_free(b);
        return zstd_err(e, CAIRN_EINVAL, "cannot set up zstd compression", zr);
    }
    *out = b;
    return 0;
}

unsigned blob_enc_workers(blob_enc *b, unsigned workers)
{
    if (workers > BLOB_ENC_WORKERS_MAX)
        workers = BLOB_ENC_WORKERS_MAX;
    /* A libzstd built without threads refuses: the caller's thread compresses. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_nbWorkers, (int)workers)))
        return 0;
    return workers;
}

static int enc_run(blob_enc *b, const void *buf, size_t len, ZSTD_EndDirective mode,
                   store_sink sink, void *ctx, cairn_err *e)
{
    ZSTD_inBuffer in = {buf, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {b->out, b->out_cap, 0};
        size_t left = ZSTD_compressStream2(b->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return zstd_err(e, CAIRN_EIO, "zstd compression failed", left);
        int rc = call_sink(sink, ctx, b->out, out.pos, e);
        if (rc)
            return rc;
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

int blob_enc_write(blob_enc *b, const void *buf, size_t len, store_sink sink, void *ctx,
                   cairn_err *e)
{
    if (len == 0)
        return 0;
    return enc_run(b, buf, len, ZSTD_e_continue, sink, ctx, e);
}

int blob_enc_finish(blob_enc *b, store_sink sink, void *ctx, cairn_err *e)
{
    return enc_run(b, NULL, 0, ZSTD_e_end, sink, ctx, e);
}

void blob_enc_free(blob_enc *b)
{
    if (!b)
        return;
    ZSTD_freeCCtx(b->cctx);
    free(b->out);
    free(b);
}

int blob_dec_new(blob_dec **out, const char *expected_id, cairn_err *e)
{
    *out = NULL;
    if (expected_id && !blob_id_valid(expected_id))
        return err_set(e, CAIRN_EINVAL, "'%s' is not a blob id (64 lowercase hex digits)",
                       expected_id);
    blob_dec *b = calloc(1, sizeof(*b));
    if (!b)
        return err_set(e, CAIRN_ENOMEM, "out of memory creating a decompressor");
    b->dctx = ZSTD_createDCtx();
    b->sha = EVP_MD_CTX_new();
    b->out_cap = ZSTD_DStreamOutSize();
    b->out = malloc(b->out_cap);
    if (!b->dctx || !b->sha || !b->out || EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
        blob_dec_free(b);
        return err_set(e, CAIRN_ENOMEM, "out of memory creating a decompressor");
    }
    if (expected_id)
        memcpy(b->expected, expected_id, BLOB_ID_HEX + 1);
    *out = b;
    return 0;
}

/* Names what is decoded in messages: "blob <id>", or "the zstd data" for an
 * object without a content name (the caller adds which). */
static void dec_name(const blob_dec *b, char out[BLOB_ID_HEX + 8])
{
    if (b->expected[0])
        snprintf(out, BLOB_ID_HEX + 8, "blob %s", b->expected);
    else
        snprintf(out, BLOB_ID_HEX + 8, "the zstd data");
}

static int dec_corrupt(const blob_dec *b, cairn_err *e, const char *why)
{
    char name[BLOB_ID_HEX + 8];
    dec_name(b, name);
    return err_set(e, CAIRN_ECORRUPT, "%s is corrupt: %s", name, why);
}

int blob_dec_write(blob_dec *b, const void *buf, size_t len, store_sink sink, void *ctx,
                   cairn_err *e)
{
    ZSTD_inBuffer in = {buf, len, 0};
    for (;;) {
        if (b->frame_done) {
            if (in.pos < in.size)
                return dec_corrupt(b, e, "bytes follow the end of its zstd frame");
            return 0;
        }
        ZSTD_outBuffer out = {b->out, b->out_cap, 0};
        size_t zr = ZSTD_decompressStream(b->dctx, &out, &in);
        if (ZSTD_isError(zr))
            return dec_corrupt(b, e, ZSTD_getErrorName(zr));
        if (out.pos > 0) {
            EVP_DigestUpdate(b->sha, b->out, out.pos);
            b->size += out.pos;
            int rc = call_sink(sink, ctx, b->out, out.pos, e);
            if (rc)
                return rc;
        }
        if (zr == 0)
            b->frame_done = true;
        /* A full output buffer may mean zstd holds more back: go round again. */
        else if (in.pos == in.size && out.pos < out.size)
            return 0;
    }
}

int blob_dec_finish(blob_dec *b, uint64_t *size, cairn_err *e)
{
    if (!b->frame_done)
        return dec_corrupt(b, e, "truncated, its zstd frame does not end");
    if (b->expected[0]) {
        char got[BLOB_ID_HEX + 1];
        hex_sha256_final(b->sha, got);
        if (strcmp(got, b->expected) != 0)
            return err_set(e, CAIRN_ECORRUPT,
                           "blob %s is corrupt: its content has SHA-256 %s instead of its name",
                           b->expected, got);
    }
    if (size)
        *size = b->size;
    return 0;
}

void blob_dec_free(blob_dec *b)
{
    if (!b)
        return;
    ZSTD_freeDCtx(b->dctx);
    EVP_MD_CTX_free(b->sha);
    free(b->out);
    free(b);
}
