/*
 * SigV4 as the s3 driver does it: canonical paths and query strings built by
 * s3sign, signatures made by libcurl. A small signer written here from the AWS
 * specification reproduces the signatures of AWS's documented S3 examples, and
 * libcurl's Authorization header, captured on a local socket, must carry the same
 * signatures for the same requests.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net/http.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3xml.h"

/* The credentials and time of AWS's S3 SigV4 examples. */
#define EX_KEY_ID "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE   "20130524T000000Z"
#define EX_HOST   "examplebucket.s3.amazonaws.com"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- encoding --------------------------------------------------------------- */

static void check_encode(const char *in, bool keep_slash, const char *want)
{
    char *got = http_uri_encode(in, keep_slash ? "/" : NULL);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_uri_encode(void **state)
{
    (void)state;
    check_encode("", true, "");
    check_encode("AZaz09-_.~", false, "AZaz09-_.~");
    check_encode("/test$file.text", true, "/test%24file.text");
    check_encode("a b/c", true, "a%20b/c");
    check_encode("a b/c", false, "a%20b%2Fc");
    /* '+' is a plus, never a space; '%' itself is encoded. */
    check_encode("1+1=2&x;y", false, "1%2B1%3D2%26x%3By");
    check_encode("100%", true, "100%25");
    check_encode("!'()*,:@$", true, "%21%27%28%29%2A%2C%3A%40%24");
    /* Bytes above 0x7f, one escape per byte, uppercase hex. */
    check_encode("\xc3\xa9", true, "%C3%A9");
}

static void check_query(const s3sign_param *p, size_t n, const char *want)
{
    char *got = s3sign_query(p, n);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_canonical_query(void **state)
{
    (void)state;
    check_query(NULL, 0, "");
    /* Valueless parameters read "name=". */
    check_query((s3sign_param[]){{"lifecycle", NULL}}, 1, "lifecycle=");
    check_query((s3sign_param[]){{"uploads", ""}}, 1, "uploads=");
    /* Sorted by name, whatever the order given. */
    check_query((s3sign_param[]){{"prefix", "J"}, {"max-keys", "2"}}, 2, "max-keys=2&prefix=J");
    check_query((s3sign_param[]){{"uploadId", "abc"}, {"partNumber", "10"}}, 2,
                "partNumber=10&uploadId=abc");
    /* Values encoded, slashes included; uppercase sorts before lowercase. */
    check_query((s3sign_param[]){{"prefix", "backups/Test Cluster/"},
                                 {"list-type", "2"},
                                 {"continuation-token", "1/2+3=="}},
                3,
                "continuation-token=1%2F2%2B3%3D%3D&list-type=2&prefix=backups%2FTest%"
                "20Cluster%2F");
    check_query((s3sign_param[]){{"b", "1"}, {"B", "2"}, {"a", "3"}}, 3, "B=2&a=3&b=1");
    /* The same name twice: sorted by value. */
    check_query((s3sign_param[]){{"k", "z"}, {"k", "a"}}, 2, "k=a&k=z");
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[65];
    s3sign_sha256_hex("", 0, hex);
    assert_string_equal(hex, EMPTY_SHA);
    s3sign_sha256_hex("Welcome to Amazon S3.", 21, hex);
    assert_string_equal(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

/* ---- a signer from the specification ----------------------------------------- */

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* headers: "name:value" lines, lowercase names, already sorted. */
static void canonical_request(const char *method, const char *path, const char *query,
                              const char *const *headers, size_t n, const char *payload_sha,
                              char *out, size_t cap)
{
    int len = snprintf(out, cap, "%s\n%s\n%s\n", method, path, query);
    for (size_t i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, "%s\n", headers[i]);
    len += snprintf(out + len, cap - (size_t)len, "\n");
    for (size_t i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, "%s%.*s", i ? ";" : "",
                        (int)(strchr(headers[i], ':') - headers[i]), headers[i]);
    snprintf(out + len, cap - (size_t)len, "\n%s", payload_sha);
}

static void signature(const char *secret, const char *amz_date, const char *region,
                      const char *creq, char out[65])
{
    char date[9], scope[128], sts[512], creq_hex[65], key[128];
    snprintf(date, sizeof(date), "%.8s", amz_date);
    snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date, region);
    s3sign_sha256_hex(creq, strlen(creq), creq_hex);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hex);
    unsigned char k[32];
    snprintf(key, sizeof(key), "AWS4%s", secret);
    hmac(key, strlen(key), date, k);
    hmac(k, 32, region, k);
    hmac(k, 32, "s3", k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, sts, k);
    hex(k, 32, out);
}

struct example {
    const char *name;
    const char *method;
    const char *path; /* as given, encoded by s3sign */
    s3sign_param query[3];
    size_t nquery;
    const char *headers[6]; /* "name:value" beyond host, sorted with it */
    size_t nheaders;
    const char *body;
    const char *want; /* AWS's published signature, or NULL for cairn's own cases */
};

/* AWS S3 API reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk": its four examples. */
static const struct example examples[] = {
    {"GET Object",
     "GET",
     "/test.txt",
     {{0}},
     0,
     {"range:bytes=0-9", "x-amz-content-sha256:" EMPTY_SHA, "x-amz-date:" EX_DATE},
     3,
     NULL,
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {"PUT Object",
     "PUT",
     "/test$file.text",
     {{0}},
     0,
     {"date:Fri, 24 May 2013 00:00:00 GMT",
      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      "x-amz-date:" EX_DATE, "x-amz-storage-class:REDUCED_REDUNDANCY"},
     4,
     "Welcome to Amazon S3.",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {"GET Bucket Lifecycle",
     "GET",
     "/",
     {{"lifecycle", NULL}},
     1,
     {"x-amz-content-sha256:" EMPTY_SHA, "x-amz-date:" EX_DATE},
     2,
     NULL,
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {"GET Bucket (List Objects)",
     "GET",
     "/",
     {{"prefix", "J"}, {"max-keys", "2"}},
     2,
     {"x-amz-content-sha256:" EMPTY_SHA, "x-amz-date:" EX_DATE},
     2,
     NULL,
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
    /* What cairn sends: encoded keys, a continuation token, a session token. */
    {"ListObjectsV2 page",
     "GET",
     "/",
     {{"list-type", "2"}, {"prefix", "backups/Test Cluster/"}, {"continuation-token", "1/2+3=="}},
     3,
     {"x-amz-content-sha256:" EMPTY_SHA, "x-amz-date:" EX_DATE,
      "x-amz-security-token:FwoGZXIvYXdzEJr//////////wEaDA=="},
     3,
     NULL,
     NULL},
    {"part upload",
     "PUT",
     "/blobs/ab/a b+c",
     {{"uploadId", "2~X.y_z-"}, {"partNumber", "7"}},
     2,
     {"content-type:application/octet-stream",
      "x-amz-content-sha256:"
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      "x-amz-date:" EX_DATE},
     3,
     "Welcome to Amazon S3.",
     NULL},
};

/* The canonical request of example x, with host first among its headers. */
static void example_creq(const struct example *x, char *path, char *query, char *out, size_t cap)
{
    const char *hdrs[8];
    size_t n = 0;
    bool host_done = false;
    for (size_t i = 0; i < x->nheaders; i++) {
        if (!host_done && strcmp(x->headers[i], "host") > 0) {
            hdrs[n++] = "host:" EX_HOST;
            host_done = true;
        }
        hdrs[n++] = x->headers[i];
    }
    if (!host_done)
        hdrs[n++] = "host:" EX_HOST;
    const char *payload = NULL;
    for (size_t i = 0; !payload && i < x->nheaders; i++)
        if (strncmp(x->headers[i], "x-amz-content-sha256:", 21) == 0)
            payload = x->headers[i] + 21;
    canonical_request(x->method, path, query, hdrs, n, payload, out, cap);
}

static void test_documented_signatures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        const struct example *x = &examples[i];
        if (!x->want)
            continue;
        char *path = http_uri_encode(x->path, "/");
        char *query = s3sign_query(x->query, x->nquery);
        char creq[2048], sig[65];
        example_creq(x, path, query, creq, sizeof(creq));
        signature(EX_SECRET, EX_DATE, "us-east-1", creq, sig);
        if (strcmp(sig, x->want) != 0)
            fail_msg("%s: signature %s, AWS says %s; canonical request:\n%s", x->name, sig, x->want,
                     creq);
        free(path);
        free(query);
    }
}

/* ---- what libcurl sends ------------------------------------------------------ */

struct capture {
    int fd;
    int port;
    char request[16384];
};

static void *serve_one(void *arg)
{
    struct capture *c = arg;
    int conn = accept(c->fd, NULL, NULL);
    size_t len = 0;
    c->request[0] = '\0';
    while (conn >= 0 && len + 1 < sizeof(c->request)) {
        ssize_t n = recv(conn, c->request + len, sizeof(c->request) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        c->request[len] = '\0';
        char *end = strstr(c->request, "\r\n\r\n");
        const char *cl = strcasestr(c->request, "\r\nContent-Length:");
        size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
        if (end && len >= (size_t)(end + 4 - c->request) + body)
            break;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (conn >= 0) {
        send(conn, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
        close(conn);
    }
    return NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* Sends example x through libcurl as the driver would, and returns the signature
 * and signed headers of the Authorization header it produced. */
static void curl_sign(const struct example *x, const char *path, const char *query, char sig[65],
                      char *signed_headers, size_t cap)
{
    struct capture c = {0};
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(c.fd, 1), 0);
    getsockname(c.fd, (struct sockaddr *)&sa, &sl);
    c.port = ntohs(sa.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, serve_one, &c);

    char url[1024], connect_to[128];
    snprintf(url, sizeof(url), "http://" EX_HOST "%s%s%s", path, query[0] ? "?" : "", query);
    snprintf(connect_to, sizeof(connect_to), EX_HOST ":80:127.0.0.1:%d", c.port);
    struct curl_slist *to = curl_slist_append(NULL, connect_to), *hdrs = NULL;
    for (size_t i = 0; i < x->nheaders; i++) {
        char line[512];
        const char *colon = strchr(x->headers[i], ':');
        /* The fixed date stands in for the clock; everything else is what the
         * driver itself adds. */
        snprintf(line, sizeof(line), "%.*s: %s", (int)(colon - x->headers[i]), x->headers[i],
                 colon + 1);
        hdrs = curl_slist_append(hdrs, line);
    }
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, to);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(h, CURLOPT_USERNAME, EX_KEY_ID);
    curl_easy_setopt(h, CURLOPT_PASSWORD, EX_SECRET);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (x->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(x->body));
    }
    if (strcmp(x->method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(to);
    pthread_join(th, NULL);
    close(c.fd);

    /* The request line carries path and query exactly as built. */
    char line[1100];
    snprintf(line, sizeof(line), "%s %s%s%s HTTP/1.1\r\n", x->method, path, query[0] ? "?" : "",
             query);
    assert_true(strncmp(c.request, line, strlen(line)) == 0);
    const char *auth = strcasestr(c.request, "\r\nAuthorization: AWS4-HMAC-SHA256 ");
    assert_non_null(auth);
    assert_non_null(strstr(auth, "Credential=" EX_KEY_ID "/20130524/us-east-1/s3/aws4_request"));
    const char *sh = strstr(auth, "SignedHeaders=");
    const char *sg = strstr(auth, "Signature=");
    assert_non_null(sh);
    assert_non_null(sg);
    sh += strlen("SignedHeaders=");
    snprintf(signed_headers, cap, "%.*s", (int)strcspn(sh, ", \r"), sh);
    snprintf(sig, 65, "%.64s", sg + strlen("Signature="));
}

static void test_curl_signs_canonical_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        const struct example *x = &examples[i];
        char *path = http_uri_encode(x->path, "/");
        char *query = s3sign_query(x->query, x->nquery);
        char creq[2048], want[65], got[65], signed_headers[256], want_headers[256] = "";
        example_creq(x, path, query, creq, sizeof(creq));
        signature(EX_SECRET, EX_DATE, "us-east-1", creq, want);
        if (x->want)
            assert_string_equal(want, x->want);
        /* The signed-headers line of the canonical request. */
        const char *last = strrchr(creq, '\n');
        const char *prev = last - 1;
        while (prev > creq && *prev != '\n')
            prev--;
        snprintf(want_headers, sizeof(want_headers), "%.*s", (int)(last - prev - 1), prev + 1);
        curl_sign(x, path, query, got, signed_headers, sizeof(signed_headers));
        assert_string_equal(signed_headers, want_headers);
        if (strcmp(got, want) != 0)
            fail_msg("%s: libcurl signed %s, the specification gives %s for:\n%s", x->name, got,
                     want, creq);
        free(path);
        free(query);
    }
}

/* ---- XML --------------------------------------------------------------------- */

static int count_key(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    (void)e;
    char *seen = ctx;
    strcat(seen, key);
    char n[32];
    snprintf(n, sizeof(n), "=%llu;", (unsigned long long)size);
    strcat(seen, n);
    return 0;
}

static void test_xml(void **state)
{
    (void)state;
    s3xml_error x;
    static const char err[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed"
        "</Code><Message>The authorization header is malformed; the region 'us-east-1' is "
        "wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>1</RequestId>"
        "</Error>";
    assert_true(s3xml_error_parse(err, sizeof(err) - 1, &x));
    assert_string_equal(x.code, "AuthorizationHeaderMalformed");
    assert_string_equal(x.region, "eu-west-1");
    assert_false(s3xml_error_parse("not xml", 7, &x));
    assert_false(s3xml_error_parse("", 0, &x));

    static const char page[] =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
        "<Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1/2+3==</NextContinuationToken>"
        "<Contents><Key>p/a &amp; b</Key><Size>10</Size></Contents>"
        "<Contents><Key>p/c</Key><Size>0</Size></Contents></ListBucketResult>";
    char seen[256] = "", *next = NULL;
    cairn_err e;
    assert_int_equal(s3xml_list_page(page, sizeof(page) - 1, count_key, seen, &next, &e), 0);
    assert_string_equal(seen, "p/a & b=10;p/c=0;");
    assert_string_equal(next, "1/2+3==");
    free(next);
    static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "</ListBucketResult>";
    assert_int_equal(s3xml_list_page(last, sizeof(last) - 1, count_key, seen, &next, &e), 0);
    assert_null(next);
    static const char bad[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                              "</ListBucketResult>";
    assert_int_equal(s3xml_list_page(bad, sizeof(bad) - 1, count_key, seen, &next, &e),
                     CAIRN_EPROTO);
    /* Entities are not expanded: a hostile answer cannot make the parser fetch or grow. */
    static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                              "\"file:///etc/passwd\">]><Error><Code>&x;</Code></Error>";
    assert_true(s3xml_error_parse(xxe, sizeof(xxe) - 1, &x));
    assert_null(strstr(x.code, "root"));

    char *id = NULL;
    static const char init[] = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                               "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>";
    assert_int_equal(s3xml_upload_id(init, sizeof(init) - 1, &id, &e), 0);
    assert_string_equal(id, "VXBsb2FkIElE");
    free(id);
    assert_int_equal(s3xml_upload_id("<x/>", 4, &id, &e), CAIRN_EPROTO);

    char *etags[] = {"\"a1\"", "\"b&2\""};
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(s3xml_complete_body(etags, 2, &body, &len, &e), 0);
    body = realloc(body, len + 1);
    body[len] = '\0';
    assert_non_null(strstr(body, "<Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part>"));
    assert_non_null(strstr(body, "<PartNumber>2</PartNumber><ETag>\"b&amp;2\"</ETag>"));
    free(body);
    const char *keys[] = {"p/a<b", "p/c"};
    assert_int_equal(s3xml_delete_body(keys, 2, &body, &len, &e), 0);
    body = realloc(body, len + 1);
    body[len] = '\0';
    assert_non_null(strstr(body, "<Quiet>true</Quiet>"));
    assert_non_null(strstr(body, "<Object><Key>p/a&lt;b</Key></Object>"));
    free(body);
    static const char dres[] = "<DeleteResult><Deleted><Key>p/c</Key></Deleted><Error><Key>p/a"
                               "</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
                               "</DeleteResult>";
    size_t failed = 0;
    char key[64];
    assert_int_equal(s3xml_delete_result(dres, sizeof(dres) - 1, &failed, &x, key, sizeof(key), &e),
                     0);
    assert_int_equal(failed, 1);
    assert_string_equal(key, "p/a");
    assert_string_equal(x.code, "AccessDenied");
}

static int stop_at(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    (void)size;
    int *n = ctx;
    if (++*n < 2)
        return 0;
    return err_set(e, CAIRN_EIO, "stopped at %s", key);
}

/* Answers a store may get wrong: each is CAIRN_EPROTO naming the document, and no
 * callback sees an entry it cannot read. */
static void test_xml_malformed(void **state)
{
    (void)state;
    cairn_err e;
    char seen[256] = "", *next = NULL;
    static const char *const bad_pages[] = {
        "not xml",
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>12ab</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
        "</NextContinuationToken></ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
        err_clear(&e);
        assert_int_equal(
            s3xml_list_page(bad_pages[i], strlen(bad_pages[i]), count_key, seen, &next, &e),
            CAIRN_EPROTO);
        assert_null(next);
        assert_string_equal(seen, "");
    }
    /* The callback's failure stops the page and is what the page returns. */
    static const char page[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "<NextContinuationToken>t</NextContinuationToken>"
                               "<Contents><Key>a</Key><Size>1</Size></Contents>"
                               "<Contents><Key>b</Key><Size>2</Size></Contents>"
                               "<Contents><Key>c</Key><Size>3</Size></Contents></ListBucketResult>";
    int n = 0;
    assert_int_equal(s3xml_list_page(page, sizeof(page) - 1, stop_at, &n, &next, &e), CAIRN_EIO);
    assert_int_equal(n, 2);
    assert_string_equal(e.msg, "stopped at b");
    assert_null(next);

    char *id = NULL;
    static const char no_id[] = "<InitiateMultipartUploadResult><UploadId></UploadId>"
                                "</InitiateMultipartUploadResult>";
    assert_int_equal(s3xml_upload_id(no_id, sizeof(no_id) - 1, &id, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "InitiateMultipartUploadResult"));
    assert_null(id);
    assert_int_equal(s3xml_upload_id("", 0, &id, &e), CAIRN_EPROTO);

    size_t failed = 9;
    s3xml_error x;
    char key[8];
    assert_int_equal(s3xml_delete_result("<Error/>", 8, &failed, &x, key, sizeof(key), &e),
                     CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "DeleteResult"));
    assert_int_equal(failed, 0);
    /* Every failure is counted; the first is named, cut to the room given. */
    static const char two[] = "<DeleteResult><Error><Key>first/key</Key><Code>InternalError</Code>"
                              "</Error><Error><Key>second</Key><Code>AccessDenied</Code></Error>"
                              "</DeleteResult>";
    assert_int_equal(s3xml_delete_result(two, sizeof(two) - 1, &failed, &x, key, sizeof(key), &e),
                     0);
    assert_int_equal(failed, 2);
    assert_string_equal(key, "first/k");
    assert_string_equal(x.code, "InternalError");
    assert_string_equal(x.message, "");
    /* An empty delete body is still a well-formed document. */
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(s3xml_delete_body(NULL, 0, &body, &len, &e), 0);
    assert_true(len > 0);
    free(body);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_documented_signatures),
        cmocka_unit_test(test_curl_signs_canonical_requests),
        cmocka_unit_test(test_xml),
        cmocka_unit_test(test_xml_malformed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
