#include "store/s3/s3xml.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libxml(void)
{
    xmlInitParser();
}

/* Parses without network access or entity expansion: responses are data, and a
 * hostile endpoint must not make the parser fetch or blow up anything. */
static xmlDocPtr parse(const char *buf, size_t len)
{
    pthread_once(&init_once, init_libxml);
    if (len > INT32_MAX)
        return NULL;
    return xmlReadMemory(buf, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
    for (const xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (named(n, name))
            return n;
    return NULL;
}

/* Copies the text of parent's child element name into buf (empty when absent). */
static void child_text(const xmlNode *parent, const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    const xmlNode *n = child(parent, name);
    if (!n)
        return;
    xmlChar *s = xmlNodeGetContent(n);
    if (s)
        snprintf(buf, cap, "%s", (const char *)s);
    xmlFree(s);
}

/* A malloc'd copy of the text of parent's child element name; NULL when absent,
 * or when memory ran out, which sets *nomem (so it is not taken for a bad answer). */
static char *child_dup(const xmlNode *parent, const char *name, bool *nomem)
{
    const xmlNode *n = child(parent, name);
    if (!n)
        return NULL;
    xmlChar *s = xmlNodeGetContent(n);
    char *out = s ? strdup((const char *)s) : NULL;
    if (s && !out)
        *nomem = true;
    xmlFree(s);
    return out;
}

static int no_memory(cairn_err *e)
{
    return err_set(e, CAIRN_ENOMEM, "out of memory reading an S3 answer");
}

static int bad_doc(cairn_err *e, const char *what)
{
    return err_set(e, CAIRN_EPROTO, "the store answered with a malformed %s document", what);
}

bool s3xml_error_parse(const char *buf, size_t len, s3xml_error *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr doc = parse(buf, len);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    bool ok = root && named(root, "Error");
    if (ok) {
        child_text(root, "Code", out->code, sizeof(out->code));
        child_text(root, "Message", out->message, sizeof(out->message));
        child_text(root, "Region", out->region, sizeof(out->region));
    }
    xmlFreeDoc(doc);
    return ok;
}

int s3xml_upload_id(const char *buf, size_t len, char **out, cairn_err *e)
{
    *out = NULL;
    xmlDocPtr doc = parse(buf, len);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    bool nomem = false;
    if (root && named(root, "InitiateMultipartUploadResult"))
        *out = child_dup(root, "UploadId", &nomem);
    xmlFreeDoc(doc);
    if (nomem)
        return no_memory(e);
    if (!*out || !**out) {
        free(*out);
        *out = NULL;
        return bad_doc(e, "InitiateMultipartUploadResult");
    }
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int64_t s3xml_time_ms(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    long ms = 0;
    const char *p = s + 19;
    if (*p == '.') {
        long scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    /* Days from the civil date (Howard Hinnant's algorithm): no timegm, no TZ. */
    int yy = mo <= 2 ? y - 1 : y;
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
}

/* The NextContinuationToken-style marker child, required when the page says it is
 * truncated. */
static int next_marker(const xmlNode *root, const char *name, char **out, cairn_err *e)
{
    bool nomem = false;
    *out = child_dup(root, name, &nomem);
    if (nomem)
        return no_memory(e);
    if (*out && **out)
        return 0;
    free(*out);
    *out = NULL;
    return err_set(e, CAIRN_EPROTO, "the store said the listing goes on but gave no %s", name);
}

static bool truncated(const xmlNode *root)
{
    char t[8];
    child_text(root, "IsTruncated", t, sizeof(t));
    return strcmp(t, "true") == 0;
}

int s3xml_list_page_ex(const char *buf, size_t len, s3xml_object_ex_cb cb, void *ctx, char **next,
                       cairn_err *e)
{
    *next = NULL;
    xmlDocPtr doc = parse(buf, len);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !named(root, "ListBucketResult")) {
        xmlFreeDoc(doc);
        return bad_doc(e, "ListBucketResult");
    }
    int rc = 0;
    bool nomem = false;
    for (const xmlNode *n = root->children; n && !rc; n = n->next) {
        if (!named(n, "Contents"))
            continue;
        char *key = child_dup(n, "Key", &nomem);
        char size_s[32], time_s[64];
        uint64_t size;
        child_text(n, "Size", size_s, sizeof(size_s));
        child_text(n, "LastModified", time_s, sizeof(time_s));
        if (nomem)
            rc = no_memory(e);
        else if (!key || parse_size(size_s, &size) != 0)
            rc = bad_doc(e, "ListBucketResult");
        else
            rc = cb(ctx, key, size, s3xml_time_ms(time_s), e);
        free(key);
    }
    if (!rc && truncated(root))
        rc = next_marker(root, "NextContinuationToken", next, e);
    xmlFreeDoc(doc);
    return rc;
}

struct untimed {
    s3xml_object_cb cb;
    void *ctx;
};

static int drop_time(void *arg, const char *key, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    (void)mtime_ms;
    const struct untimed *u = arg;
    return u->cb(u->ctx, key, size, e);
}

int s3xml_list_page(const char *buf, size_t len, s3xml_object_cb cb, void *ctx, char **next,
                    cairn_err *e)
{
    struct untimed u = {cb, ctx};
    return s3xml_list_page_ex(buf, len, drop_time, &u, next, e);
}

int s3xml_uploads_page(const char *buf, size_t len, s3xml_upload_cb cb, void *ctx, char **next_key,
                       char **next_id, cairn_err *e)
{
    *next_key = *next_id = NULL;
    xmlDocPtr doc = parse(buf, len);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !named(root, "ListMultipartUploadsResult")) {
        xmlFreeDoc(doc);
        return bad_doc(e, "ListMultipartUploadsResult");
    }
    int rc = 0;
    for (const xmlNode *n = root->children; n && !rc; n = n->next) {
        if (!named(n, "Upload"))
            continue;
        bool nomem = false;
        char *key = child_dup(n, "Key", &nomem), *id = child_dup(n, "UploadId", &nomem);
        char time_s[64];
        child_text(n, "Initiated", time_s, sizeof(time_s));
        if (nomem)
            rc = no_memory(e);
        else if (!key || !id || !*id)
            rc = bad_doc(e, "ListMultipartUploadsResult");
        else
            rc = cb(ctx, key, id, s3xml_time_ms(time_s), e);
        free(key);
        free(id);
    }
    if (!rc && truncated(root)) {
        rc = next_marker(root, "NextKeyMarker", next_key, e);
        if (!rc && (rc = next_marker(root, "NextUploadIdMarker", next_id, e)) != 0) {
            free(*next_key);
            *next_key = NULL;
        }
    }
    xmlFreeDoc(doc);
    return rc;
}

/* Serializes doc into a malloc'd buffer and frees doc. */
static int dump(xmlDocPtr doc, char **out, size_t *out_len, cairn_err *e)
{
    xmlChar *mem = NULL;
    int n = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &n, "UTF-8");
    xmlFreeDoc(doc);
    *out = mem && n > 0 ? malloc((size_t)n) : NULL;
    if (!*out) {
        xmlFree(mem);
        return err_set(e, CAIRN_ENOMEM, "out of memory building an S3 request");
    }
    memcpy(*out, mem, (size_t)n);
    *out_len = (size_t)n;
    xmlFree(mem);
    return 0;
}

static xmlNodePtr new_root(xmlDocPtr *doc, const char *name)
{
    pthread_once(&init_once, init_libxml);
    *doc = xmlNewDoc(BAD_CAST "1.0");
    if (!*doc)
        return NULL;
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST name);
    if (!root)
        return NULL;
    xmlDocSetRootElement(*doc, root);
    xmlNewNs(root, BAD_CAST S3_NS, NULL);
    return root;
}

int s3xml_complete_body(char *const *etags, size_t n, char **out, size_t *out_len, cairn_err *e)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root = new_root(&doc, "CompleteMultipartUpload");
    bool ok = root != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        char num[24];
        snprintf(num, sizeof(num), "%zu", i + 1);
        xmlNodePtr part = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
        ok = part && xmlNewTextChild(part, NULL, BAD_CAST "PartNumber", BAD_CAST num) &&
             xmlNewTextChild(part, NULL, BAD_CAST "ETag", BAD_CAST etags[i]);
    }
    if (!ok) {
        xmlFreeDoc(doc);
        return err_set(e, CAIRN_ENOMEM, "out of memory building an S3 request");
    }
    return dump(doc, out, out_len, e);
}

int s3xml_delete_body(const char *const *keys, size_t n, char **out, size_t *out_len, cairn_err *e)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root = new_root(&doc, "Delete");
    bool ok = root && xmlNewTextChild(root, NULL, BAD_CAST "Quiet", BAD_CAST "true");
    for (size_t i = 0; ok && i < n; i++) {
        xmlNodePtr obj = xmlNewChild(root, NULL, BAD_CAST "Object", NULL);
        ok = obj && xmlNewTextChild(obj, NULL, BAD_CAST "Key", BAD_CAST keys[i]);
    }
    if (!ok) {
        xmlFreeDoc(doc);
        return err_set(e, CAIRN_ENOMEM, "out of memory building an S3 request");
    }
    return dump(doc, out, out_len, e);
}

int s3xml_delete_result(const char *buf, size_t len, size_t *failed, s3xml_error *first, char *key,
                        size_t cap, cairn_err *e)
{
    *failed = 0;
    memset(first, 0, sizeof(*first));
    if (cap)
        key[0] = '\0';
    xmlDocPtr doc = parse(buf, len);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !named(root, "DeleteResult")) {
        xmlFreeDoc(doc);
        return bad_doc(e, "DeleteResult");
    }
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (!named(n, "Error"))
            continue;
        if ((*failed)++ == 0) {
            child_text(n, "Key", key, cap);
            child_text(n, "Code", first->code, sizeof(first->code));
            child_text(n, "Message", first->message, sizeof(first->message));
        }
    }
    xmlFreeDoc(doc);
    return 0;
}
