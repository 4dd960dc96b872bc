#include "base/hex.h"

#include "base/debug.h"

void hex_encode(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int hex_decode(const char *in, void *out, size_t n)
{
    unsigned char *p = out;
    for (size_t i = 0; i < n; i++) {
        int hi = digit(in[2 * i]), lo = hi < 0 ? -1 : digit(in[2 * i + 1]);
        if (lo < 0)
            return -1;
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void hex_digest_final(EVP_MD_CTX *md, char *out)
{
    unsigned char v[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, v, &n);
    CAIRN_ASSERT(n <= EVP_MAX_MD_SIZE);
    hex_encode(v, n, out);
}

void hex_sha256_final(EVP_MD_CTX *md, char out[HEX_SHA256_LEN + 1])
{
    CAIRN_ASSERT(EVP_MD_CTX_get_size(md) * 2 == HEX_SHA256_LEN);
    hex_digest_final(md, out);
}
