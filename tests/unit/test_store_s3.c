/*
 * The s3:// driver against moto_server, which checks every SigV4 signature, with
 * a fault-injecting proxy in between (tests/integration/s3env.py starts both).
 * Skipped, saying why, when moto is not installed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "agent_config.h"
#include "coord_config.h"
#include "store/s3/s3put.h"
#include "store/store.h"
#include "store/s3/store_s3.h"
#include "testutil.h"

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

static void read_info(void)
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

static int start_env(void **state)
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

static int stop_env(void **state)
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
static void need_env(void)
{
    if (!env.up && env.missing) {
        print_message("SKIP: %s\n", env.skip_reason);
        skip();
    }
    if (!env.up)
        fail_msg("%s", env.skip_reason);
}

/* The options the following open_at and store_open calls use (NULL: none). */
static void set_options(const store_s3_options *o)
{
    store_options_free(env.opts);
    env.opts = NULL;
    cairn_err e;
    if (o && store_options_new(&env.opts, o, &e) != 0)
        fail_msg("store_options_new: %s", e.msg);
}

static void configure(const char *secret, size_t part_size, unsigned parts_in_flight)
{
    store_s3_options o = {.access_key_id = env.key_id,
                          .secret_access_key = secret ? secret : env.secret,
                          .path_style = -1,
                          .verify_tls = -1,
                          .part_size = part_size,
                          .parts_in_flight = parts_in_flight};
    set_options(&o);
}

static store *open_at(const char *endpoint, const char *bucket_prefix)
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

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    char **out = arg;
    size_t old = *out ? strlen(*out) : 0;
    *out = realloc(*out, old + size * n + 1);
    memcpy(*out + old, p, size * n);
    (*out)[old + size * n] = '\0';
    return size * n;
}

static char *proxy_call(const char *method, const char *body)
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

static void faults(const char *json)
{
    free(proxy_call("DELETE", NULL));
    if (json)
        free(proxy_call("POST", json));
}

/* Requests the proxy saw whose path contains needle and whose fault or Range
 * header is as given (NULL: any). */
static int proxy_seen(const char *method, const char *needle, const char *fault, const char *range)
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
static void fill(unsigned char *bytes, size_t len, uint64_t *state)
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

static int hash_sink(void *ctx, const void *bytes, size_t len, cairn_err *e)
{
    struct hasher *h = ctx;
    EVP_DigestUpdate(h->md, bytes, len);
    h->bytes += len;
    return 0;
}

static void hash_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Streams len pseudo-random bytes into key; returns their SHA-256. */
static void put_stream(store *s, const char *key, uint64_t len, uint64_t seed, char sha[65])
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

static void get_hash(store *s, const char *key, char sha[65], uint64_t *bytes)
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

static int list_cb(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    struct listing *l = ctx;
    l->keys = realloc(l->keys, (l->n + 1) * sizeof(*l->keys));
    l->keys[l->n++] = strdup(key);
    l->bytes += size;
    return 0;
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    memset(l, 0, sizeof(*l));
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_locations(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "s3://AKIAXXXX:SeCrEt@bucket/x",
        "s3://bucket/x?secret_access_key=SeCrEt",
        "s3://bucket/x?endpoint=http://h:1&aws_access_key_id=AKIAXXXX",
        "s3://bucket/x?X-Amz-Credential=SeCrEt",
        "s3://bucket/x?session_token=SeCrEt",
    };
    store *s = NULL;
    cairn_err e;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(store_open(&s, refused[i], env.opts, &e), CAIRN_ECONFIG);
        assert_non_null(strstr(e.msg, "credentials do not belong"));
        assert_null(strstr(e.msg, "SeCrEt"));
    }
    assert_int_equal(store_open(&s, "s3://bucket/x?colour=blue", env.opts, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "unknown parameter 'colour'"));
    assert_int_equal(store_open(&s, "s3://bucket/x?endpoint=ftp://h", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?endpoint=http://h/some/path", env.opts, &e),
                     CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?region=Not:A:Region", env.opts, &e),
                     CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?path_style=maybe", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bu/x", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket!/x", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/a/../b", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/a//b", env.opts, &e), CAIRN_EINVAL);

    /* No credentials anywhere: said at open, naming both places to put them. */
    char *saved[2] = {getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")};
    for (int i = 0; i < 2; i++)
        saved[i] = saved[i] ? strdup(saved[i]) : NULL;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    set_options(NULL);
    assert_int_equal(store_open(&s, "s3://bucket/x", env.opts, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "no S3 credentials for bucket bucket"));
    assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
    /* From the environment; the location's region and path style are its own
     * business, but not turning off TLS checks this machine makes. */
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    assert_int_equal(store_open(&s,
                                "s3://my.bucket/some/prefix/?region=eu-west-1&path_style="
                                "false&verify_tls=false",
                                env.opts, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "verify_tls=false"));
    assert_int_equal(store_open(&s,
                                "s3://my.bucket/some/prefix/?region=eu-west-1&path_style="
                                "false&verify_tls=true",
                                env.opts, &e),
                     0);
    assert_string_equal(store_url(s),
                        "s3://my.bucket/some/prefix/?region=eu-west-1&path_style=false&verify_"
                        "tls=true");
    store_close(s);
    if (saved[0])
        setenv("AWS_ACCESS_KEY_ID", saved[0], 1);
    else
        unsetenv("AWS_ACCESS_KEY_ID");
    if (saved[1])
        setenv("AWS_SECRET_ACCESS_KEY", saved[1], 1);
    else
        unsetenv("AWS_SECRET_ACCESS_KEY");
    free(saved[0]);
    free(saved[1]);
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/cairn-s3conf-%ld.yaml", (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config_files(void **state)
{
    (void)state;
    agent_config a;
    cairn_err e;
    char *path = write_file("cluster: c\nlisten: tcp://127.0.0.1:7400\ninsecure: true\n"
                            "s3:\n  access_key_id: AKIAAGENT\n  secret_access_key: \"s/ec+ret\"\n"
                            "  region: eu-west-1\n  endpoint: https://minio:9000/\n"
                            "  path_style: false\n  verify_tls: true\n  part_size_mib: 16\n"
                            "  parts_in_flight: 4\n  upload_memory_mib: 64\n"
                            "  stall_timeout: 7\n  allow_location_overrides: true\n");
    if (agent_config_load(path, &a, &e) != 0)
        fail_msg("%s", e.msg);
    store_s3_options o;
    assert_int_equal(store_s3_config_options(&a.s3, path, &o, &e), 0);
    assert_string_equal(o.access_key_id, "AKIAAGENT");
    assert_string_equal(o.secret_access_key, "s/ec+ret");
    assert_string_equal(o.region, "eu-west-1");
    assert_int_equal(o.path_style, 0);
    assert_int_equal(o.verify_tls, 1);
    assert_int_equal(o.part_size, 16 * MiB);
    assert_int_equal(o.parts_in_flight, 4);
    assert_int_equal(o.upload_memory, 64 * MiB);
    assert_int_equal(o.stall_timeout, 7);
    assert_int_equal(o.allow_location_overrides, 1);
    agent_config_free(&a);

    /* Mistakes are named by key, never by value. */
    static const char *const bad[][2] = {
        {"  access_key_id: AKIAONLY\n", "go together"},
        {"  access_key_id: A\n  secret_access_key: SeCrEt\n  path_style: sometimes\n",
         "s3.path_style must be true or false"},
        {"  verify_tls: SeCrEt\n", "s3.verify_tls must be true or false"},
        {"  endpoint: SeCrEt.example.com\n", "s3.endpoint must be"},
        {"  region: SeCrEt_Region\n", "s3.region must be"},
        {"  session_token: SeCrEt\n", "needs s3.access_key_id"},
        {"  stall_timeout: 0\n", "stall_timeout"},
        {"  stall_timeout: 3601\n", "stall_timeout"},
        {"  allow_location_overrides: SeCrEt\n", "s3.allow_location_overrides must be"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "cluster: c\ninsecure: true\nagents: [\"h:1\"]\ns3:\n%s",
                 bad[i][0]);
        coord_config c;
        assert_int_not_equal(coord_config_load(write_file(text), &c, &e), 0);
        assert_non_null(strstr(e.msg, bad[i][1]));
        assert_null(strstr(e.msg, "SeCrEt"));
    }
    /* Part settings are the agent's: the coordinator writes only small objects. */
    coord_config c;
    assert_int_equal(coord_config_load(write_file("cluster: c\ninsecure: true\nagents: "
                                                  "[\"h:1\"]\ns3:\n  part_size_mib: 8\n"),
                                       &c, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "part_size_mib"));
    unlink(path);
}

static void test_part_size(void **state)
{
    (void)state;
    assert_int_equal(s3put_part_size(0, 8 * MiB), 8 * MiB);
    assert_int_equal(s3put_part_size(1000, 1 * MiB), STORE_S3_MIN_PART);
    assert_int_equal(s3put_part_size(50ull << 30, 8 * MiB), 8 * MiB);
    /* 1 TiB needs parts above 100 MiB to fit in 10,000, with room for zstd. */
    size_t p = s3put_part_size(1ull << 40, 8 * MiB);
    assert_true((uint64_t)p * S3PUT_MAX_PARTS >= (1ull << 40) + (1ull << 40) / 64);
    assert_true(p % MiB == 0);
    assert_true(p < 120 * MiB);
}

static void test_round_trip(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/round/trip");
    cairn_err e;
    /* Keys with bytes SigV4 must encode, in the path and in list prefixes. */
    static const char *const keys[] = {"backups/Test Cluster/t1/backup.manifest",
                                       "a/b+c=d&e;f,g(h)i!j*k'l$m@n:o~p", "a/plain",
                                       "zz/%41 percent"};
    for (size_t i = 0; i < 4; i++) {
        if (store_put_buf(s, keys[i], keys[i], strlen(keys[i]), &e) != 0)
            fail_msg("put %s: %s", keys[i], e.msg);
    }
    for (size_t i = 0; i < 4; i++) {
        buf m = {0};
        uint64_t size = 0;
        assert_int_equal(store_get(s, keys[i], mem_sink, &m, &e), 0);
        assert_string_equal(m.data, keys[i]);
        free(m.data);
        assert_int_equal(store_head(s, keys[i], &size, &e), 0);
        assert_int_equal(size, strlen(keys[i]));
    }
    /* An empty object is one PUT of nothing. */
    assert_int_equal(store_put_buf(s, "empty", "", 0, &e), 0);
    uint64_t size = 99;
    assert_int_equal(store_head(s, "empty", &size, &e), 0);
    assert_int_equal(size, 0);

    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.keys[0], "a/b+c=d&e;f,g(h)i!j*k'l$m@n:o~p");
    assert_string_equal(l.keys[1], "a/plain");
    assert_string_equal(l.keys[2], "backups/Test Cluster/t1/backup.manifest");
    assert_string_equal(l.keys[3], "empty");
    assert_string_equal(l.keys[4], "zz/%41 percent");
    listing_free(&l);
    assert_int_equal(store_list(s, "backups/Test Cl", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    listing_free(&l);
    assert_int_equal(store_list(s, "nothing/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 0);

    for (size_t i = 0; i < 4; i++)
        assert_int_equal(store_delete(s, keys[i], &e), 0);
    assert_int_equal(store_delete(s, "empty", &e), 0);
    assert_int_equal(store_delete(s, "never/was", &e), 0);
    assert_int_equal(store_get(s, keys[0], mem_sink, NULL, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "does not exist"));
    assert_int_equal(store_head(s, keys[1], NULL, &e), CAIRN_ENOENT);

    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 5);
    assert_int_equal(c.gets, 5);
    assert_int_equal(c.heads, 6);
    assert_int_equal(c.lists, 3);
    assert_int_equal(c.deletes, 6);
    assert_int_equal(c.part_puts + c.mpu_initiates + c.mpu_completes + c.retries, 0);
    store_close(s);
}

/* A put named at commit: one PUT under the prefix, within one part and no more. */
static void test_unnamed_put(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/unnamed");
    cairn_err e;
    uint64_t max = store_unnamed_max(s);
    assert_int_equal(max, STORE_S3_MIN_PART);
    store_writer *w = NULL;
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    assert_int_equal(store_writer_write(w, "named later", 11, &e), 0);
    assert_int_equal(store_writer_commit_as(w, "blobs/ab/named", &e), 0);
    buf m = {0};
    assert_int_equal(store_get(s, "blobs/ab/named", mem_sink, &m, &e), 0);
    assert_int_equal(m.len, 11);
    assert_memory_equal(m.data, "named later", 11);
    free(m.data);

    /* More than one part cannot be named later: refused, nothing sent. */
    char *big = calloc(1, (size_t)max + 1);
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    assert_int_equal(store_writer_write(w, big, (size_t)max + 1, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "one part"));
    store_writer_abort(w);
    free(big);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 1);
    assert_int_equal(c.mpu_initiates, 0);
    assert_int_equal(store_delete(s, "blobs/ab/named", &e), 0);
    store_close(s);
}

/* Virtual-hosted addressing: bucket.endpoint/key (libcurl resolves *.localhost itself). */
static void test_virtual_hosted(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    char endpoint[160], url[256];
    snprintf(endpoint, sizeof(endpoint), "http://localhost:%s", strrchr(env.endpoint, ':') + 1);
    snprintf(url, sizeof(url), "s3://cairn-test/virtual?endpoint=%s&path_style=false", endpoint);
    store *s = NULL;
    cairn_err e;
    if (store_open(&s, url, env.opts, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(store_put_buf(s, "a b/c", "abc", 3, &e), 0);
    buf m = {0};
    assert_int_equal(store_get(s, "a b/c", mem_sink, &m, &e), 0);
    assert_string_equal(m.data, "abc");
    free(m.data);
    struct listing l = {0};
    assert_int_equal(store_list(s, "a ", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], "a b/c");
    listing_free(&l);
    assert_int_equal(store_delete(s, "a b/c", &e), 0);
    store_close(s);
}

static void test_multipart_200mb(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 3);
    store *s = open_at(env.endpoint, "cairn-test/big");
    const uint64_t size = 200ull * 1000 * 1000;
    char put_sha[65], got_sha[65];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now();
    put_stream(s, "blob", size, 42, put_sha);
    double t1 = now();
    uint64_t got = 0, head = 0;
    cairn_err e;
    assert_int_equal(store_head(s, "blob", &head, &e), 0);
    assert_int_equal(head, size);
    get_hash(s, "blob", got_sha, &got);
    double t2 = now();
    getrusage(RUSAGE_SELF, &ru1);
    assert_int_equal(got, size);
    assert_string_equal(put_sha, got_sha);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 0);
    assert_int_equal(c.mpu_initiates, 1);
    assert_int_equal(c.part_puts, (size + 5 * MiB - 1) / (5 * MiB));
    assert_int_equal(c.mpu_completes, 1);
    assert_int_equal(c.mpu_aborts, 0);
    print_message("200 MB: put %.1f s (%.0f MB/s, %llu parts), get %.1f s; peak RSS %ld MiB\n",
                  t1 - t0, size / 1e6 / (t1 - t0), (unsigned long long)c.part_puts, t2 - t1,
                  ru1.ru_maxrss / 1024);
#ifndef __SANITIZE_ADDRESS__
    /* Three 5 MiB part buffers and a read buffer: far from the object's size. */
    assert_true(ru1.ru_maxrss < 64 * 1024);
#endif
    assert_int_equal(store_delete(s, "blob", &e), 0);
    store_close(s);
    (void)ru0;
}

struct filler {
    store *s;
    int from, to;
};

static void *fill_keys(void *arg)
{
    struct filler *f = arg;
    cairn_err e;
    for (int i = f->from; i < f->to; i++) {
        char key[64];
        snprintf(key, sizeof(key), "many/%05d", i);
        if (store_put_buf(f->s, key, key, strlen(key), &e) != 0)
            return strdup(e.msg);
    }
    return NULL;
}

static void test_list_pages(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/pages");
    enum { N = 1100, THREADS = 8 };
    pthread_t th[THREADS];
    struct filler f[THREADS];
    for (int t = 0; t < THREADS; t++) {
        f[t] = (struct filler){s, t * N / THREADS, (t + 1) * N / THREADS};
        pthread_create(&th[t], NULL, fill_keys, &f[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        char *err = NULL;
        pthread_join(th[t], (void **)&err);
        if (err)
            fail_msg("put: %s", err);
    }
    struct listing l = {0};
    cairn_err e;
    assert_int_equal(store_list(s, "many/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, N);
    for (size_t i = 0; i < l.n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "many/%05zu", i);
        assert_string_equal(l.keys[i], want);
    }
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.lists, 2); /* 1,000 keys a page */
    /* DeleteObjects in batches of 1,000. */
    if (store_delete_many(s, (const char *const *)l.keys, l.n, &e) != 0)
        fail_msg("delete_many: %s", e.msg);
    store_stats(s, &c);
    assert_int_equal(c.deletes, 2);
    listing_free(&l);
    assert_int_equal(store_list(s, "many/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 0);
    store_close(s);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    need_env();
    configure("this-is-not-the-secret", 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/auth");
    cairn_err e;
    assert_int_equal(store_put_buf(s, "x", "x", 1, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "cairn-test"));
    assert_non_null(strstr(e.msg, env.key_id));
    assert_non_null(strstr(e.msg, "SignatureDoesNotMatch"));
    assert_non_null(strstr(e.msg, "secret access key"));
    assert_null(strstr(e.msg, "this-is-not-the-secret"));
    assert_null(strstr(e.msg, env.secret));
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), CAIRN_EAUTH);
    /* Refusals are final: no retry. */
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.retries, 0);
    store_close(s);

    /* An access key id the store does not know. */
    store_s3_options o = {.access_key_id = "AKIANOSUCHKEY0000000",
                          .secret_access_key = "x",
                          .path_style = -1,
                          .verify_tls = -1};
    set_options(&o);
    s = open_at(env.endpoint, "cairn-test/auth");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "AKIANOSUCHKEY0000000"));
    assert_non_null(strstr(e.msg, "InvalidAccessKeyId"));
    store_close(s);
}

static void test_missing_bucket(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-missing/x");
    cairn_err e;
    /* Not "no such object": nothing could be written there either. */
    assert_int_equal(store_get(s, "cairn.repo", mem_sink, NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-missing does not exist"));
    assert_int_equal(store_put_buf(s, "cairn.repo", "x", 1, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-missing does not exist"));
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), CAIRN_ECONFIG);
    store_close(s);
}

static uint64_t retries(store *s)
{
    store_counts c;
    store_stats(s, &c);
    return c.retries;
}

static void test_faults_retried(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/faults");
    cairn_err e;
    faults("[{\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"status\",\"status\":500},"
           " {\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"status\",\"status\":503,"
           "  \"code\":\"SlowDown\"},"
           " {\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"drop\"},"
           " {\"method\":\"HEAD\",\"action\":\"status\",\"status\":503,\"count\":2},"
           " {\"method\":\"GET\",\"match\":\"list-type\",\"action\":\"drop\"},"
           " {\"method\":\"DELETE\",\"action\":\"status\",\"status\":429,\"code\":\"SlowDown\"}]");
    if (store_put_buf(s, "small", "0123456789", 10, &e) != 0)
        fail_msg("put: %s", e.msg);
    assert_int_equal(proxy_seen("PUT", "/small", "status", NULL), 2);
    assert_int_equal(proxy_seen("PUT", "/small", "drop", NULL), 1);
    /* libcurl itself resends once when a reused connection turns out dead, so a
     * dropped connection may cost no retry of ours. */
    assert_in_range(retries(s), 2, 3);
    uint64_t size = 0, before = retries(s);
    assert_int_equal(store_head(s, "small", &size, &e), 0);
    assert_int_equal(size, 10);
    assert_int_equal(retries(s) - before, 2);
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    listing_free(&l);
    assert_int_equal(proxy_seen("GET", "list-type", "drop", NULL), 1);
    before = retries(s);
    assert_int_equal(store_delete(s, "small", &e), 0);
    assert_int_equal(retries(s) - before, 1);
    assert_int_equal(store_head(s, "small", NULL, &e), CAIRN_ENOENT);

    /* A GET cut short resumes where it stopped, with Range and If-Match. */
    char put_sha[65], got_sha[65];
    faults(NULL);
    put_stream(s, "cut", 3 * MiB, 7, put_sha);
    faults("[{\"method\":\"GET\",\"match\":\"/cut\",\"action\":\"truncate\",\"keep\":1048576}]");
    uint64_t got = 0;
    before = retries(s);
    get_hash(s, "cut", got_sha, &got);
    assert_int_equal(got, 3 * MiB);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(proxy_seen("GET", "/cut", "truncate", NULL), 1);
    assert_int_equal(proxy_seen("GET", "/cut", NULL, "bytes=1048576-"), 1);
    assert_int_equal(retries(s) - before, 1);

    /* Multipart: a dropped initiation, a failed part, a dropped part and a failed
     * completion are all retried. */
    faults("[{\"method\":\"PUT\",\"match\":\"partNumber=2\",\"action\":\"status\",\"status\":503,"
           "  \"code\":\"SlowDown\"},"
           " {\"method\":\"PUT\",\"match\":\"partNumber=3\",\"action\":\"drop\"},"
           " {\"method\":\"POST\",\"match\":\"uploadId\",\"action\":\"status\",\"status\":500},"
           " {\"method\":\"POST\",\"match\":\"uploads\",\"action\":\"drop\"}]");
    before = retries(s);
    put_stream(s, "multi", 12 * MiB, 9, put_sha);
    assert_in_range(retries(s) - before, 2, 4);
    assert_int_equal(proxy_seen("PUT", "partNumber=", "drop", NULL), 1);
    assert_int_equal(proxy_seen("POST", "uploads", "drop", NULL), 1);
    get_hash(s, "multi", got_sha, &got);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(store_delete(s, "multi", &e), 0);
    assert_int_equal(store_delete(s, "cut", &e), 0);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_initiates, 1);
    assert_int_equal(c.part_puts, 3);
    assert_int_equal(c.mpu_completes, 1);
    assert_int_equal(c.mpu_aborts, 0);
    faults(NULL);
    store_close(s);
}

static void test_region_errors(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.proxy, "cairn-test/region");
    cairn_err e;
    faults("[{\"action\":\"respond\",\"status\":400,\"body\":\"<Error><Code>"
           "AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; "
           "expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>\"}]");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-test is in region eu-west-1, not us-east-1"));
    assert_non_null(strstr(e.msg, "region=eu-west-1"));
    faults("[{\"method\":\"HEAD\",\"action\":\"respond\",\"status\":301,"
           "  \"headers\":{\"x-amz-bucket-region\":\"eu-central-1\"}}]");
    assert_int_equal(store_head(s, "x", NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "region eu-central-1"));
    /* Endless 503s give up after a bounded number of tries, with the store's words. */
    faults("[{\"method\":\"GET\",\"action\":\"status\",\"status\":503,\"code\":\"SlowDown\","
           "  \"count\":100}]");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "SlowDown"));
    faults(NULL);
    store_close(s);
}

static void test_multipart_abort(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/abort");
    cairn_err e;
    /* A refused part fails the write and aborts the upload. */
    faults("[{\"method\":\"PUT\",\"match\":\"partNumber=2\",\"action\":\"status\",\"status\":403,"
           "  \"code\":\"AccessDenied\",\"count\":10}]");
    store_writer *w;
    assert_int_equal(store_put_begin_hint(s, "refused", 12 * MiB, &w, &e), 0);
    unsigned char *bytes = calloc(1, MiB);
    int rc = 0;
    for (int i = 0; i < 12 && !rc; i++)
        rc = store_writer_write(w, bytes, MiB, &e);
    if (!rc)
        rc = store_writer_commit(w, &e);
    else
        store_writer_abort(w);
    assert_int_equal(rc, CAIRN_EAUTH);
    assert_int_equal(proxy_seen("DELETE", "uploadId=", NULL, NULL), 1);
    assert_int_equal(store_head(s, "refused", NULL, &e), CAIRN_ENOENT);

    /* A writer abandoned half way aborts its upload too. */
    faults(NULL);
    assert_int_equal(store_put_begin_hint(s, "abandoned", 0, &w, &e), 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(store_writer_write(w, bytes, MiB, &e), 0);
    store_writer_abort(w);
    assert_int_equal(proxy_seen("PUT", "/abandoned?partNumber=1", NULL, NULL), 1);
    assert_int_equal(proxy_seen("DELETE", "/abandoned?uploadId=", NULL, NULL), 1);
    assert_int_equal(store_head(s, "abandoned", NULL, &e), CAIRN_ENOENT);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_aborts, 2);
    assert_int_equal(c.mpu_completes, 0);
    free(bytes);
    store_close(s);
}

/* A store that accepts a request and then says nothing costs one stall time per
 * try, and the try is retried like any other failure. */
static void test_stall(void **state)
{
    (void)state;
    need_env();
    store_s3_options o = {.access_key_id = env.key_id,
                          .secret_access_key = env.secret,
                          .path_style = -1,
                          .verify_tls = -1,
                          .stall_timeout = 2};
    set_options(&o);
    store *s = open_at(env.proxy, "cairn-test/stall");
    cairn_err e;
    faults("[{\"method\":\"PUT\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20}]");
    double t0 = now();
    if (store_put_buf(s, "stalled", "0123456789", 10, &e) != 0)
        fail_msg("put: %s", e.msg);
    double put_s = now() - t0;
    assert_int_equal(proxy_seen("PUT", "/stalled", "hang", NULL), 1);
    faults("[{\"method\":\"GET\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20}]");
    buf m = {0};
    t0 = now();
    if (store_get(s, "stalled", mem_sink, &m, &e) != 0)
        fail_msg("get: %s", e.msg);
    double get_s = now() - t0;
    assert_int_equal(m.len, 10);
    assert_memory_equal(m.data, "0123456789", 10);
    free(m.data);
    print_message("stall_timeout 2 s: a hung put retried and done in %.1f s, a hung get in %.1f "
                  "s\n",
                  put_s, get_s);
    assert_true(put_s >= 1.5 && put_s < 8);
    assert_true(get_s >= 1.5 && get_s < 8);

    /* A store that never answers: every try costs one stall time, and then it fails. */
    faults("[{\"method\":\"HEAD\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20,"
           "  \"count\":100}]");
    t0 = now();
    assert_int_equal(store_head(s, "stalled", NULL, &e), CAIRN_ETIMEDOUT);
    double head_s = now() - t0;
    int tries = proxy_seen("HEAD", "/stalled", "hang", NULL);
    print_message("a store that never answers: %d tries, given up after %.1f s\n", tries, head_s);
    assert_non_null(strstr(e.msg, "timed out"));
    assert_in_range(tries, 2, 8);
    /* At most 8 stall times and the backoff between them (under 12 s). */
    assert_true(head_s >= 2.0 * tries - 1 && head_s < 8 * 2 + 12 + 4);
    faults(NULL);
    assert_int_equal(store_delete(s, "stalled", &e), 0);
    store_close(s);
}

/* A completion the store did, whose answer was lost: the retry finds the upload
 * gone, but the object is there, whole, so the put succeeded. */
static void test_lost_complete(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/lost");
    cairn_err e;
    /* The retry told NoSuchUpload (as a store says once the upload is done), or
     * every answer lost. */
    static const char *const rules[] = {
        "[{\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"lose\"},"
        " {\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"respond\","
        "  \"status\":404,\"body\":\"<Error><Code>NoSuchUpload</Code></Error>\"}]",
        "[{\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"lose\","
        "  \"count\":100}]",
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        faults(rules[i]);
        char put_sha[65], got_sha[65];
        uint64_t got = 0;
        put_stream(s, "lost", 12 * MiB, 11 + i, put_sha);
        assert_true(proxy_seen("POST", "/lost?uploadId=", "lose", NULL) >= 1);
        assert_true(proxy_seen("POST", "/lost?uploadId=", NULL, NULL) >= 2);
        get_hash(s, "lost", got_sha, &got);
        assert_int_equal(got, 12 * MiB);
        assert_string_equal(put_sha, got_sha);
    }
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_aborts, 0);

    /* Gone for real (no object): still a failure, and the upload is aborted. */
    faults("[{\"method\":\"POST\",\"match\":\"/gone?uploadId=\",\"action\":\"respond\","
           "  \"status\":404,\"body\":\"<Error><Code>NoSuchUpload</Code></Error>\"}]");
    store_writer *w;
    assert_int_equal(store_put_begin_hint(s, "gone", 12 * MiB, &w, &e), 0);
    unsigned char *zeros = calloc(1, MiB);
    for (int i = 0; i < 12; i++)
        assert_int_equal(store_writer_write(w, zeros, MiB, &e), 0);
    free(zeros);
    assert_int_equal(store_writer_commit(w, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "is gone"));
    assert_int_equal(store_head(s, "gone", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_delete(s, "lost", &e), 0);
    faults(NULL);
    store_close(s);
}

/* A resumed GET takes only an answer that carries the rest of the same object. */
static void test_resume_checked(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.proxy, "cairn-test/resume");
    cairn_err e;
    char put_sha[65];
    put_stream(s, "obj", 3 * MiB, 13, put_sha);
    static const struct {
        int status;
        const char *headers;
    } wrong[] = {
        {206, "\"Content-Range\":\"bytes 0-3145727/3145728\""},       /* from the start again */
        {206, "\"Content-Range\":\"bytes 1048576-4194303/4194304\""}, /* another object's size */
        {206, "\"Content-Range\":\"bytes 1048577-3145727/3145728\""}, /* a byte too far */
        {206, "\"X-None\":\"no Content-Range\""},
        {200, "\"X-None\":\"a whole object, but not of this size\""},
        {204, "\"X-None\":\"no content\""},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char rules[512];
        snprintf(rules, sizeof(rules),
                 "[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\","
                 "  \"keep\":1048576},"
                 " {\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"respond\",\"status\":%d,"
                 "  \"headers\":{%s},\"body\":\"not the rest of the object\"}]",
                 wrong[i].status, wrong[i].headers);
        faults(rules);
        buf m = {0};
        assert_int_equal(store_get(s, "obj", mem_sink, &m, &e), CAIRN_EPROTO);
        assert_non_null(strstr(e.msg, "s3://cairn-test/resume/obj"));
        assert_non_null(strstr(e.msg, "from byte 1048576"));
        assert_int_equal(m.len, MiB); /* nothing of the wrong answer reached the sink */
        free(m.data);
    }
    /* The right answer is still taken, and so is the whole object again from a
     * store that ignores Range (skipped through to where the first answer stopped). */
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\",\"keep\":1048576}]");
    char got_sha[65];
    uint64_t got = 0;
    get_hash(s, "obj", got_sha, &got);
    assert_string_equal(put_sha, got_sha);
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\",\"keep\":1048576},"
           " {\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"norange\"}]");
    got = 0;
    get_hash(s, "obj", got_sha, &got);
    assert_int_equal(got, 3 * MiB);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(proxy_seen("GET", "/obj", "norange", "bytes=1048576-"), 1);
    faults(NULL);
    assert_int_equal(store_delete(s, "obj", &e), 0);
    store_close(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations),      cmocka_unit_test(test_config_files),
        cmocka_unit_test(test_part_size),      cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_virtual_hosted), cmocka_unit_test(test_multipart_200mb),
        cmocka_unit_test(test_list_pages),     cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_missing_bucket), cmocka_unit_test(test_faults_retried),
        cmocka_unit_test(test_region_errors),  cmocka_unit_test(test_multipart_abort),
        cmocka_unit_test(test_stall),          cmocka_unit_test(test_lost_complete),
        cmocka_unit_test(test_resume_checked), cmocka_unit_test(test_unnamed_put),
    };
    int rc = cmocka_run_group_tests(tests, start_env, stop_env);
    curl_global_cleanup();
    return rc;
}
