/*
 * hex - lowercase hexadecimal text of bytes: blob ids, digests, random names.
 */
#ifndef CAIRN_HEX_H
#define CAIRN_HEX_H

#include <stddef.h>

#include <openssl/evp.h>

/* Writes 2 * n lowercase hex digits of in and a NUL to out (room for 2 * n + 1). */
void hex_encode(const void *in, size_t n, char *out);

/* Reads 2 * n lowercase hex digits of in into n bytes of out; -1 when one of them is
 * not a lowercase hex digit (a NUL included). */
int hex_decode(const char *in, void *out, size_t n);

/* Finishes digest context md and writes its value in hex to out (room for 2 *
 * EVP_MAX_MD_SIZE + 1); the context can be reused after EVP_DigestInit_ex. */
void hex_digest_final(EVP_MD_CTX *md, char *out);

/* hex_digest_final for a SHA-256 context, whose text fits 65 bytes (blob ids, manifest
 * hashes). */
#define HEX_SHA256_LEN 64
void hex_sha256_final(EVP_MD_CTX *md, char out[HEX_SHA256_LEN + 1]);

#endif
