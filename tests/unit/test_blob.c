#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "repo/blob.h"
#include "testutil.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* A deterministic generator, so "incompressible" data needs no /dev/urandom. */
static void random_bytes(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

static void encode(const unsigned char *data, size_t len, size_t chunk, buf *out)
{
    blob_enc *enc;
    cairn_err e;
    assert_int_equal(blob_enc_new(&enc, BLOB_DEFAULT_LEVEL, &e), 0);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = chunk < len - off ? chunk : len - off;
        assert_int_equal(blob_enc_write(enc, data + off, n, mem_sink, out, &e), 0);
    }
    assert_int_equal(blob_enc_finish(enc, mem_sink, out, &e), 0);
    blob_enc_free(enc);
}

/* Decodes in chunks; returns the status of the first failing call. */
static int decode(const unsigned char *z, size_t zlen, size_t chunk, const char *id, buf *out,
                  uint64_t *size, cairn_err *e)
{
    blob_dec *dec;
    int rc = blob_dec_new(&dec, id, e);
    if (rc)
        return rc;
    for (size_t off = 0; off < zlen && !rc; off += chunk) {
        size_t n = chunk < zlen - off ? chunk : zlen - off;
        rc = blob_dec_write(dec, z + off, n, mem_sink, out, e);
    }
    if (!rc)
        rc = blob_dec_finish(dec, size, e);
    blob_dec_free(dec);
    return rc;
}

static void hash_mem(const unsigned char *data, size_t len, char id[65], uint32_t *crc)
{
    char path[] = "/tmp/cairn-blob-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    uint64_t size = 0;
    cairn_err e;
    assert_int_equal(blob_hash_fd(fd, id, crc, &size, &e), 0);
    assert_int_equal(size, len);
    close(fd);
}

static void test_hash_fd(void **state)
{
    (void)state;
    char id[65];
    uint32_t crc = 1;
    hash_mem((const unsigned char *)"", 0, id, &crc);
    assert_string_equal(id, EMPTY_SHA);
    assert_int_equal(crc, 0);
    hash_mem((const unsigned char *)"abc", 3, id, &crc);
    assert_string_equal(id, ABC_SHA);
    assert_int_equal(crc, 0x352441c2);
    hash_mem((const unsigned char *)"abc", 3, id, NULL);
    assert_string_equal(id, ABC_SHA);

    /* It hashes from offset 0 whatever the file position. */
    char path[] = "/tmp/cairn-blob-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    assert_int_equal(write(fd, "abc", 3), 3);
    assert_int_equal(blob_hash_fd(fd, id, NULL, NULL, NULL), 0);
    assert_string_equal(id, ABC_SHA);
    close(fd);
    cairn_err e;
    assert_int_not_equal(blob_hash_fd(fd, id, NULL, NULL, &e), 0);
}

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(blob_id_valid(ABC_SHA));
    assert_false(blob_id_valid(""));
    assert_false(blob_id_valid("abc"));
    assert_false(blob_id_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(blob_id_valid(ABC_SHA "0"));
    assert_false(
        blob_id_valid("../7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

static void round_trip(const unsigned char *data, size_t len, size_t enc_chunk, size_t dec_chunk,
                       buf *z_out)
{
    char id[65];
    hash_mem(data, len, id, NULL);
    buf z = {0}, plain = {0};
    encode(data, len, enc_chunk, &z);
    /* Exactly one frame, with a content checksum. */
    assert_int_equal(ZSTD_findFrameCompressedSize(z.data, z.len), z.len);
    /* Frame header descriptor after the 4-byte magic: bit 2 is the checksum flag. */
    assert_true(z.len > 5);
    assert_int_equal(z.data[0] | z.data[1] << 8 | z.data[2] << 16 | (uint32_t)z.data[3] << 24,
                     ZSTD_MAGICNUMBER);
    assert_true(z.data[4] & 0x04);
    uint64_t size = 99;
    cairn_err e;
    assert_int_equal(decode(z.data, z.len, dec_chunk, id, &plain, &size, &e), 0);
    assert_int_equal(size, len);
    assert_int_equal(plain.len, len);
    if (len)
        assert_memory_equal(plain.data, data, len);
    free(plain.data);
    if (z_out)
        *z_out = z;
    else
        free(z.data);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip(NULL, 0, 1, 1, NULL);
    round_trip((const unsigned char *)"abc", 3, 1, 1, NULL);
    unsigned char small[1000];
    memset(small, 'q', sizeof(small));
    round_trip(small, sizeof(small), 7, 1, NULL);

    size_t big = 6u << 20;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)("scylla sstable "[i % 15] + (i >> 20));
    buf z;
    round_trip(data, big, 1u << 20, 4093, &z);
    assert_true(z.len < big / 20);
    free(z.data);

    /* Incompressible data costs almost nothing over its size. */
    size_t rnd = 3u << 20;
    random_bytes(data, rnd, 7);
    round_trip(data, rnd, 100000, 65536, &z);
    assert_true(z.len < rnd + rnd / 1000 + 1024);
    free(z.data);
    free(data);
}

/* zstd's worker threads write one frame that any decoder reads, and that names the
 * same blob: only the plain bytes do. */
static void test_enc_workers(void **state)
{
    (void)state;
    size_t len = 12u << 20;
    unsigned char *data = malloc(len);
    assert_non_null(data);
    random_bytes(data, len / 2, 11);
    for (size_t i = len / 2; i < len; i++)
        data[i] = (unsigned char)("partition row cell "[i % 19]);
    blob_enc *enc;
    cairn_err e;
    buf z = {0};
    assert_int_equal(blob_enc_new(&enc, BLOB_DEFAULT_LEVEL, &e), 0);
    assert_int_equal(blob_enc_workers(enc, 99), BLOB_ENC_WORKERS_MAX); /* Debian's has threads */
    for (size_t off = 0; off < len; off += 256 * 1024)
        assert_int_equal(blob_enc_write(enc, data + off, 256 * 1024, mem_sink, &z, &e), 0);
    assert_int_equal(blob_enc_finish(enc, mem_sink, &z, &e), 0);
    blob_enc_free(enc);
    assert_true(z.len < len * 3 / 4);
    unsigned long long plain = ZSTD_getFrameContentSize(z.data, z.len);
    assert_true(plain == len || plain == ZSTD_CONTENTSIZE_UNKNOWN);
    char id[BLOB_ID_HEX + 1];
    int fd = test_make_file(data, len);
    uint64_t size = 0;
    assert_int_equal(blob_hash_fd(fd, id, NULL, &size, &e), 0);
    close(fd);
    buf out = {0};
    assert_int_equal(decode(z.data, z.len, 65536, id, &out, &size, &e), 0);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, data, len);
    free(out.data);
    free(z.data);
    free(data);
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t len = 300000;
    unsigned char *data = malloc(len);
    random_bytes(data, len / 2, 3);
    memset(data + len / 2, 'x', len / 2);
    char id[65];
    hash_mem(data, len, id, NULL);
    buf z = {0}, out = {0};
    encode(data, len, len, &z);
    cairn_err e;

    /* A flipped byte inside the frame. */
    unsigned char *bad = malloc(z.len + 64);
    memcpy(bad, z.data, z.len);
    bad[z.len / 3] ^= 0x40;
    assert_int_equal(decode(bad, z.len, 4096, id, &out, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, id));

    /* Truncated: the frame never ends. */
    out.len = 0;
    assert_int_equal(decode(z.data, z.len - 5, 4096, id, &out, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_non_null(strstr(e.msg, id));
    out.len = 0;
    assert_int_equal(decode(z.data, 0, 4096, id, &out, NULL, &e), CAIRN_ECORRUPT);

    /* Trailing garbage, and a second frame. */
    memcpy(bad, z.data, z.len);
    bad[z.len] = 0;
    out.len = 0;
    assert_int_equal(decode(bad, z.len + 1, 4096, id, &out, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "follow the end"));
    buf two = {0};
    encode(data, len, len, &two);
    encode((const unsigned char *)"more", 4, 4, &two);
    out.len = 0;
    assert_int_equal(decode(two.data, two.len, 1u << 20, id, &out, NULL, &e), CAIRN_ECORRUPT);

    /* A valid frame under the wrong name. */
    out.len = 0;
    assert_int_equal(decode(z.data, z.len, 4096, ABC_SHA, &out, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, ABC_SHA));
    assert_non_null(strstr(e.msg, id)); /* the actual hash is shown too */

    /* No expected name: only the frame is checked. */
    out.len = 0;
    assert_int_equal(decode(z.data, z.len, 4096, NULL, &out, NULL, &e), 0);
    out.len = 0;
    assert_int_equal(decode(z.data, z.len - 1, 4096, NULL, &out, NULL, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "zstd data"));

    /* Not a blob id at all. */
    blob_dec *dec = NULL;
    assert_int_equal(blob_dec_new(&dec, "../etc/passwd", &e), CAIRN_EINVAL);
    assert_null(dec);

    free(two.data);
    free(bad);
    free(out.data);
    free(z.data);
    free(data);
}

static int failing_sink(void *ctx, const void *p, size_t len, cairn_err *e)
{
    return *(int *)ctx == 0 ? err_set(e, CAIRN_ENOSPC, "sink full") : *(int *)ctx;
}

static void test_sink_errors(void **state)
{
    (void)state;
    unsigned char data[5000];
    random_bytes(data, sizeof(data), 1);
    cairn_err e;
    int mode = 0;
    blob_enc *enc;
    assert_int_equal(blob_enc_new(&enc, 3, &e), 0);
    int rc = blob_enc_write(enc, data, sizeof(data), failing_sink, &mode, &e);
    if (rc == 0)
        rc = blob_enc_finish(enc, failing_sink, &mode, &e);
    assert_int_equal(rc, CAIRN_ENOSPC);
    assert_string_equal(e.msg, "sink full");
    blob_enc_free(enc);

    buf z = {0};
    encode(data, sizeof(data), sizeof(data), &z);
    char id[65];
    hash_mem(data, sizeof(data), id, NULL);
    blob_dec *dec;
    assert_int_equal(blob_dec_new(&dec, id, &e), 0);
    mode = 1; /* a positive return must not pass for success */
    assert_int_equal(blob_dec_write(dec, z.data, z.len, failing_sink, &mode, &e), CAIRN_EIO);
    blob_dec_free(dec);
    free(z.data);
}

/* Empty writes are no-ops, and freeing nothing is allowed. */
static void test_empty(void **state)
{
    (void)state;
    cairn_err e;
    int mode = 0;
    blob_enc *enc;
    assert_int_equal(blob_enc_new(&enc, 1, &e), 0);
    assert_int_equal(blob_enc_write(enc, NULL, 0, failing_sink, &mode, &e), 0);
    buf z = {0};
    assert_int_equal(blob_enc_finish(enc, mem_sink, &z, &e), 0);
    blob_enc_free(enc);
    blob_enc_free(NULL);
    blob_dec_free(NULL);
    /* An empty file's blob decodes to nothing and is named by the empty SHA-256. */
    blob_dec *dec;
    const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_int_equal(blob_dec_new(&dec, empty, &e), 0);
    assert_int_equal(blob_dec_write(dec, z.data, z.len, failing_sink, &mode, &e), 0);
    uint64_t size = 1;
    assert_int_equal(blob_dec_finish(dec, &size, &e), 0);
    assert_int_equal(size, 0);
    blob_dec_free(dec);
    free(z.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_fd),     cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_enc_workers), cmocka_unit_test(test_sink_errors),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
