#include "net/http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"

struct http_pool {
    pthread_mutex_t lock; /* guards idle and n_idle */
    size_t keep;
    size_t n_idle;
    CURL *idle[];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init is not thread-safe: run it once, before any handle exists. */
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_pool_new(http_pool **out, size_t keep, cairn_err *e)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(e, CAIRN_ENOMEM, "cannot initialise libcurl: %s",
                       curl_easy_strerror(curl_init_rc));
    http_pool *p = calloc(1, sizeof(*p) + keep * sizeof(CURL *));
    if (!p)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    p->keep = keep;
    *out = p;
    return 0;
}

CURL *http_pool_get(http_pool *p)
{
    CURL *h = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->n_idle > 0)
        h = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    return h ? h : curl_easy_init();
}

void http_pool_put(http_pool *p, CURL *h)
{
    if (!h)
        return;
    /* Reset keeps the connection and session caches, and drops every option. */
    curl_easy_reset(h);
    pthread_mutex_lock(&p->lock);
    CAIRN_ASSERT(p->n_idle <= p->keep);
    if (p->n_idle < p->keep) {
        p->idle[p->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (h)
        curl_easy_cleanup(h);
}

void http_pool_free(http_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *http_uri_encode(const char *s, const char *keep)
{
    static const char digits[] = "0123456789ABCDEF";
    if (!s)
        return NULL;
    char *out = malloc(3 * strlen(s) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep && strchr(keep, *p))) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = digits[*p >> 4];
            *o++ = digits[*p & 15];
        }
    }
    *o = '\0';
    return out;
}
