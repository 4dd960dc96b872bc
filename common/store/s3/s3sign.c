#include "store/s3/s3sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/hex.h"
#include "net/http.h"

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
        /* Names and values: '/' is encoded too. */
        pairs[i].name = http_uri_encode(params[i].name, NULL);
        pairs[i].value = http_uri_encode(params[i].value ? params[i].value : "", NULL);
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
    hex_encode(md, mdlen, out);
}
