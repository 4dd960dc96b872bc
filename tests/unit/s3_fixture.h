/*
 * s3_fixture - moto_server, which checks every SigV4 signature, with a
 * fault-injecting proxy in between (tests/integration/s3env.py starts both), and
 * what the s3:// unit tests do with them: stores opened on the endpoint or the
 * proxy, faults armed through the proxy, streams put and hashed.
 *
 * Header-only: each test program includes it once, runs start_env and stop_env
 * around its group, and calls need_env first in every test that uses moto.
 */
#ifndef CAIRN_TEST_S3_FIXTURE_H
#define CAIRN_TEST_S3_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "store/s3/store_s3.h"
#include "store/store.h"

#define MiB (1u << 20)

static struct {
    bool up;
    bool missing;
    char skip_reason[256];
    pid_t pid;
    int stdin_fd;
    char info_path[64];
    char endpoint[128];
    char proxy[128];
    char key_id[128];
    char secret[128];
    store_options *opts; /* what configure() made */
} env;

/* ---- the moto fixture ------------------------------------------------------- */

static inline void read_info(void)
{
    json_object *j = json_object_from_file(env.info_path);
    assert_non_null(j);
    json_object *v;
    struct {
        const char *name;
        char *dst;
    } fields[] = {{"endpoint", env.endpoint},
                  {"proxy", env.proxy},
                  {"access_key_id", env.key_id},
                  {"secret_access_key", env.secret}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        assert_true(json_object_object_get_ex(j, fields[i].name, &v));
        snprintf(fields[i].dst, 128, "%s", json_object_get_string(v));
    }
    json_object_put(j);
}

static inline int start_env(void **state)
{
    (void)state;
    const char *src = getenv("CAIRN_SOURCE_DIR");
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/integration/s3env.py", src ? src : "../..");
    snprintf(env.info_path, sizeof(env.info_path), "/tmp/cairn-s3env-%ld.json", (long)getpid());
    unlink(env.info_path);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    env.pid = fork();
    assert_true(env.pid >= 0);
    if (env.pid == 0) {
        dup2(fds[0], 0);
        close(fds[1]);
        execlp("python3", "python3", script, "serve", "--info", env.info_path, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    env.stdin_fd = fds[1];
    struct stat st;
    for (int i = 0; i < 600 && stat(env.info_path, &st) != 0; i++) {
        int status;
        if (waitpid(env.pid, &status, WNOHANG) == env.pid) {
            env.pid = 0;
            env.missing = WIFEXITED(status) && WEXITSTATUS(status) == 77;
            snprintf(env.skip_reason, sizeof(env.skip_reason), "%s",
                     env.missing ? "moto_server is not installed (pip install 'moto[server]')"
                                 : "the moto fixture failed to start (see its output above)");
            return 0;
        }
        usleep(100000);
    }
    assert_int_equal(stat(env.info_path, &st), 0);
    read_info();
    env.up = true;
    return 0;
}

static inline int stop_env(void **state)
{
    (void)state;
    store_options_free(env.opts);
    env.opts = NULL;
    if (env.stdin_fd > 0)
        close(env.stdin_fd);
    if (env.pid > 0)
        waitpid(env.pid, NULL, 0);
    unlink(env.info_path);
    return 0;
}

/* Only a missing moto skips; a fixture that breaks fails. */
static inline void need_env(void)
{
    if (!env.up && env.missing) {
        print_message("SKIP: %s\n", env.skip_reason);
        skip();
    }
    if (!env.up)
        fail_msg("%s", env.skip_reason);
}

/* The options the following open_at and store_open calls use (NULL: none). */
static inline void set_options(const store_s3_options *o)
{
    store_options_free(env.opts);
    env.opts = NULL;
    cairn_err e;
    if (o && store_options_new(&env.opts, o, &e) != 0)
        fail_msg("store_options_new: %s", e.msg);
}

static inline void configure(const char *secret, size_t part_size, unsigned parts_in_flight)
{
    store_s3_options o = {.access_key_id = env.key_id,
                          .secret_access_key = secret ? secret : env.secret,
                          .path_style = -1,
                          .verify_tls = -1,
                          .part_size = part_size,
                          .parts_in_flight = parts_in_flight};
    set_options(&o);
}

/* configure() with a spool directory for objects named at commit. */
static inline void configure_spool(const char *dir, uint64_t spool_max)
{
    store_s3_options o = {.access_key_id = env.key_id,
                          .secret_access_key = env.secret,
                          .path_style = -1,
                          .verify_tls = -1,
                          .spool_dir = dir,
                          .spool_file_max = spool_max};
    set_options(&o);
}

/* Bytes that do not repeat, so a part sent twice or out of place shows. */
static inline unsigned char *s3_pattern(size_t n)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static inline store *open_at(const char *endpoint, const char *bucket_prefix)
{
    char url[512];
    snprintf(url, sizeof(url), "s3://%s?endpoint=%s&region=us-east-1", bucket_prefix, endpoint);
    store *s = NULL;
    cairn_err e;
    err_clear(&e);
    if (store_open(&s, url, env.opts, &e) != 0)
        fail_msg("store_open(%s): %s", url, e.msg);
    return s;
}

/* ---- the proxy's control endpoint ------------------------------------------- */

static inline size_t collect(char *p, size_t size, size_t n, void *arg)
{
    char **out = arg;
    size_t old = *out ? strlen(*out) : 0;
    *out = realloc(*out, old + size * n + 1);
    memcpy(*out + old, p, size * n);
    (*out)[old + size * n] = '\0';
    return size * n;
}

static inline char *proxy_call(const char *method, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/__faults", env.proxy);
    CURL *h = curl_easy_init();
    char *out = NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    return out;
}

static inline void faults(const char *json)
{
    free(proxy_call("DELETE", NULL));
    if (json)
        free(proxy_call("POST", json));
}

/* Requests the proxy saw whose path contains needle and whose fault or Range
 * header is as given (NULL: any). */
static inline int proxy_seen(const char *method, const char *needle, const char *fault,
                             const char *range)
{
    char *out = proxy_call("GET", NULL);
    json_object *j = json_tokener_parse(out), *log, *v;
    free(out);
    assert_true(json_object_object_get_ex(j, "log", &log));
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(log); i++) {
        json_object *r = json_object_array_get_idx(log, i);
        json_object_object_get_ex(r, "method", &v);
        if (strcmp(json_object_get_string(v), method) != 0)
            continue;
        json_object_object_get_ex(r, "path", &v);
        if (!strstr(json_object_get_string(v), needle))
            continue;
        json_object_object_get_ex(r, "fault", &v);
        if (fault && (!v || strcmp(json_object_get_string(v), fault) != 0))
            continue;
        json_object_object_get_ex(r, "range", &v);
        if (range && (!v || strcmp(json_object_get_string(v), range) != 0))
            continue;
        n++;
    }
    json_object_put(j);
    return n;
}

/* ---- data ------------------------------------------------------------------- */

/* Deterministic incompressible bytes, any amount without holding them. */
static inline void fill(unsigned char *bytes, size_t len, uint64_t *state)
{
    for (size_t i = 0; i < len; i++) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        bytes[i] = (unsigned char)*state;
    }
}

struct hasher {
    EVP_MD_CTX *md;
    uint64_t bytes;
};

static inline int hash_sink(void *ctx, const void *bytes, size_t len, cairn_err *e)
{
    struct hasher *h = ctx;
    EVP_DigestUpdate(h->md, bytes, len);
    h->bytes += len;
    return 0;
}

static inline void hash_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Streams len pseudo-random bytes into key; returns their SHA-256. */
static inline void put_stream(store *s, const char *key, uint64_t len, uint64_t seed, char sha[65])
{
    store_writer *w;
    cairn_err e;
    assert_int_equal(store_put_begin_hint(s, key, len, &w, &e), 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char *bytes = malloc(MiB);
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < MiB ? (size_t)(len - done) : MiB;
        fill(bytes, n, &seed);
        EVP_DigestUpdate(md, bytes, n);
        if (store_writer_write(w, bytes, n, &e) != 0)
            fail_msg("write: %s", e.msg);
        done += n;
    }
    free(bytes);
    if (store_writer_commit(w, &e) != 0)
        fail_msg("commit: %s", e.msg);
    hash_hex(md, sha);
    EVP_MD_CTX_free(md);
}

static inline void get_hash(store *s, const char *key, char sha[65], uint64_t *bytes)
{
    struct hasher h = {EVP_MD_CTX_new(), 0};
    EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);
    cairn_err e;
    if (store_get(s, key, hash_sink, &h, &e) != 0)
        fail_msg("get %s: %s", key, e.msg);
    hash_hex(h.md, sha);
    EVP_MD_CTX_free(h.md);
    *bytes = h.bytes;
}

struct listing {
    char **keys;
    size_t n;
    uint64_t bytes;
};

static inline int list_cb(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    struct listing *l = ctx;
    l->keys = realloc(l->keys, (l->n + 1) * sizeof(*l->keys));
    l->keys[l->n++] = strdup(key);
    l->bytes += size;
    return 0;
}

static inline void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    memset(l, 0, sizeof(*l));
}

#endif
