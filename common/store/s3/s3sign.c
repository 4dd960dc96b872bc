#include "store/s3/s3sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

char *s3sign_uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

struct enc_pair {
    char *name;
    char *value;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

char *s3sign_query(const s3sign_param *params, size_t n)
{
    struct enc_pair *pairs = calloc(n ? n : 1, sizeof(*pairs));
    if (!pairs)
        return NULL;
    char *out = NULL;
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        pairs[i].name = s3sign_uri_encode(params[i].name, false);
        pairs[i].value = s3sign_uri_encode(params[i].value ? params[i].value : "", false);
        if (!pairs[i].name || !pairs[i].value)
            goto out;
        total += strlen(pairs[i].name) + strlen(pairs[i].value) + 2;
    }
    qsort(pairs, n, sizeof(*pairs), pair_cmp);
    out = malloc(total);
    if (!out)
        goto out;
    char *o = out;
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
    *o = '\0';
out:
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return out;
}

void s3sign_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
