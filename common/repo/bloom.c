#include "repo/bloom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"

#define MIN_BITS 1024u
#define MAX_K    24u

struct bloom {
    uint64_t *words;
    uint64_t nbits;
    unsigned k;
};

static uint64_t hex_word(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10) & 15u;
        v = v << 4 | d;
    }
    return v;
}

int bloom_new(bloom **out, uint64_t n, double fp, size_t max_bytes, cairn_err *e)
{
    *out = NULL;
    CAIRN_ASSERT(fp > 0 && fp < 1);
    if (n == 0)
        n = 1;
    double ln2 = log(2.0);
    double bits = -(double)n * log(fp) / (ln2 * ln2);
    if (max_bytes && bits > (double)max_bytes * 8)
        bits = (double)max_bytes * 8;
    uint64_t nbits = bits < MIN_BITS ? MIN_BITS : (uint64_t)bits;
    nbits = (nbits + 63) & ~(uint64_t)63;
    unsigned k = (unsigned)lround((double)nbits / (double)n * ln2);
    k = k < 1 ? 1 : k > MAX_K ? MAX_K : k;
    bloom *b = calloc(1, sizeof(*b));
    if (b)
        b->words = calloc(nbits / 64, sizeof(uint64_t));
    if (!b || !b->words) {
        free(b);
        return err_set(e, CAIRN_ENOMEM, "out of memory for a Bloom filter of %llu bytes",
                       (unsigned long long)(nbits / 8));
    }
    b->nbits = nbits;
    b->k = k;
    *out = b;
    return 0;
}

void bloom_free(bloom *b)
{
    if (!b)
        return;
    free(b->words);
    free(b);
}

/* Kirsch-Mitzenmacher: bit i is h1 + i*h2; h2 odd so the probes differ. */
#define PROBES(b, id, body)                                                                        \
    do {                                                                                           \
        uint64_t h1 = hex_word(id), h2 = hex_word((id) + 16) | 1;                                  \
        for (unsigned i = 0; i < (b)->k; i++) {                                                    \
            uint64_t bit = (h1 + (uint64_t)i * h2) % (b)->nbits;                                   \
            body;                                                                                  \
        }                                                                                          \
    } while (0)

void bloom_add(bloom *b, const char *id)
{
    PROBES(b, id, b->words[bit / 64] |= (uint64_t)1 << (bit % 64));
}

bool bloom_has(const bloom *b, const char *id)
{
    PROBES(b, id, if (!(b->words[bit / 64] & ((uint64_t)1 << (bit % 64)))) return false);
    return true;
}

size_t bloom_bytes(const bloom *b)
{
    return (size_t)(b->nbits / 8);
}

unsigned bloom_hashes(const bloom *b)
{
    return b->k;
}

double bloom_fp(const bloom *b)
{
    uint64_t set = 0;
    for (uint64_t i = 0; i < b->nbits / 64; i++)
        set += (uint64_t)__builtin_popcountll(b->words[i]);
    return pow((double)set / (double)b->nbits, (double)b->k);
}
