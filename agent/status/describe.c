#include "status/describe.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/tabledir.h"
#include "base/log.h"
#include "base/path.h"
#include "handlers.h"
#include "scylla/names.h"

/* Bytes of the Data.db files right in dir (not its snapshots/, upload/, staging/). */
static uint64_t dir_data_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t bytes = 0;
    struct dirent *de;
    char path[4400];
    struct stat st;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 8 && strcmp(de->d_name + len - 8, "-Data.db") == 0 &&
            path_fmt(path, sizeof(path), NULL, "%s/%s", dir, de->d_name) == 0 &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    return bytes;
}

/* What the table holds: every "<name>-<id>" directory of the keyspace counts, because
 * the describe answer has no table id; a dropped table's directory keeps only its
 * snapshots, which are not counted. The same walk adds the links waiting in backups/
 * to the node's. */
static uint64_t table_usage(Cairn__Rpc__NodeInfo *n, const char *ks, const char *name)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < n->n_data_dirs; i++) {
        char kdir[4096];
        if (path_fmt(kdir, sizeof(kdir), NULL, "%s/%s", n->data_dirs[i], ks) != 0)
            continue;
        DIR *d = opendir(kdir);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char tdir[4400];
            if (!tabledir_match(de->d_name, name, NULL) ||
                path_fmt(tdir, sizeof(tdir), NULL, "%s/%s", kdir, de->d_name) != 0)
                continue;
            bytes += dir_data_bytes(tdir);
            tabledir_backups_count(tdir, &n->backups_files, &n->backups_bytes);
        }
        closedir(d);
    }
    return bytes;
}

/* Every field is malloc'd so that cairn__rpc__node_info__free_unpacked frees it. */
static int add_table(Cairn__Rpc__NodeInfo *n, const char *ks, const char *name)
{
    Cairn__Rpc__Table **nt = realloc(n->tables, (n->n_tables + 1) * sizeof(*nt));
    if (!nt)
        return CAIRN_ENOMEM;
    n->tables = nt;
    Cairn__Rpc__Table *t = malloc(sizeof(*t));
    if (!t)
        return CAIRN_ENOMEM;
    cairn__rpc__table__init(t);
    t->keyspace = strdup(ks);
    t->name = strdup(name);
    t->has_live_bytes = 1;
    t->live_bytes = table_usage(n, ks, name);
    nt[n->n_tables++] = t;
    return (t->keyspace && t->name) ? 0 : CAIRN_ENOMEM;
}

static bool in_list(char **items, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(items[i]) == len && strncmp(items[i], s, len) == 0)
            return true;
    return false;
}

/* User tables only: ScyllaDB's own keyspaces are not the operator's data. */
static int describe_tables(scylla *rest, Cairn__Rpc__NodeInfo *n, cairn_err *e)
{
    n->has_backups_files = n->has_backups_bytes = 1;
    char **ks = NULL, **cfs = NULL;
    size_t nks = 0, ncfs = 0;
    int rc = scylla_keyspaces(rest, "user", &ks, &nks, e);
    if (!rc)
        rc = scylla_tables(rest, &cfs, &ncfs, e);
    for (size_t i = 0; !rc && i < ncfs; i++) {
        const char *colon = strchr(cfs[i], ':');
        if (!colon || !in_list(ks, nks, cfs[i], (size_t)(colon - cfs[i])))
            continue;
        char ksname[64];
        size_t klen = (size_t)(colon - cfs[i]);
        if (klen >= sizeof(ksname))
            continue;
        memcpy(ksname, cfs[i], klen);
        ksname[klen] = '\0';
        if (!name_valid(NAME_KEYSPACE, ksname) || !name_valid(NAME_TABLE, colon + 1))
            continue;
        if (add_table(n, ksname, colon + 1))
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    scylla_strv_free(ks, nks);
    scylla_strv_free(cfs, ncfs);
    return rc;
}

static int describe_ring(scylla *rest, Cairn__Rpc__NodeInfo *n, cairn_err *e)
{
    scylla_endpoint *eps = NULL;
    size_t neps = 0;
    int rc = scylla_ring(rest, &eps, &neps, e);
    if (rc)
        return rc;
    n->ring = calloc(neps ? neps : 1, sizeof(*n->ring));
    if (!n->ring)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < neps; i++) {
        Cairn__Rpc__RingMember *m = malloc(sizeof(*m));
        if (!m) {
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
            break;
        }
        cairn__rpc__ring_member__init(m);
        m->host_id = strdup(eps[i].host_id);
        m->address = strdup(eps[i].address);
        m->up = eps[i].up;
        n->ring[n->n_ring++] = m;
        if (!m->host_id || !m->address)
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
        else if (!n->address && strcmp(eps[i].host_id, n->host_id) == 0 &&
                 !(n->address = strdup(eps[i].address)))
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    scylla_ring_free(eps, neps);
    return rc;
}

/* A ScyllaDB that does not say leaves the setting absent, not the node undescribed. */
static void describe_incremental(scylla *rest, Cairn__Rpc__NodeInfo *n)
{
    cairn_err ie;
    bool on;
    if (scylla_incremental_backups_get(rest, &on, &ie) != 0) {
        log_debug("incremental_backups unknown: %s", ie.msg);
        return;
    }
    n->has_incremental_backups = 1;
    n->incremental_backups = on;
}

int describe_node(scylla *rest, Cairn__Rpc__NodeInfo **out, cairn_err *e)
{
    *out = NULL;
    Cairn__Rpc__NodeInfo *n = malloc(sizeof(*n));
    if (!n)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    cairn__rpc__node_info__init(n);
    int rc = scylla_host_id(rest, &n->host_id, e);
    if (!rc)
        rc = scylla_cluster_name(rest, &n->scylla_cluster, e);
    if (!rc)
        rc = scylla_datacenter(rest, &n->dc, e);
    if (!rc)
        rc = scylla_rack(rest, &n->rack, e);
    if (!rc)
        rc = scylla_release_version(rest, &n->scylla_version, e);
    if (!rc)
        rc = scylla_data_dirs(rest, &n->data_dirs, &n->n_data_dirs, e);
    if (!rc)
        rc = describe_ring(rest, n, e);
    if (!rc)
        rc = scylla_tokens(rest, NULL, &n->tokens, &n->n_tokens, e);
    if (!rc)
        rc = describe_tables(rest, n, e);
    if (!rc)
        describe_incremental(rest, n);
    if (!rc && !(n->agent_version = strdup(CAIRN_VERSION)))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    if (!rc && !n->address)
        rc = err_set(e, CAIRN_EPROTO,
                     "ScyllaDB's ring does not list this node's host id %s: is it still joining?",
                     n->host_id);
    if (!rc && !name_valid(NAME_HOST_ID, n->host_id))
        rc = err_set(e, CAIRN_EPROTO, "ScyllaDB reported an invalid host id");
    /* Required fields must be non-NULL for packing even on the failure path. */
    if (rc) {
        cairn__rpc__node_info__free_unpacked(n, NULL);
        return rc;
    }
    *out = n;
    return 0;
}

/* What a job works on, from its id "<kind>:<what>" (job/start.h): an upload is a
 * backup's, both restore phases a restore's. */
static int job_identity(Cairn__Rpc__JobInfo *info)
{
    const char *colon = strchr(info->job_id, ':');
    if (!colon)
        return 0; /* not started from a request: nothing to name */
    size_t kl = (size_t)(colon - info->job_id);
    bool upload = kl == 6 && strncmp(info->job_id, "upload", 6) == 0;
    info->kind = strdup(upload ? "backup" : "restore");
    info->tag = strdup(colon + 1);
    return info->kind && info->tag ? 0 : CAIRN_ENOMEM;
}

/* The running jobs, so that `cairn status` shows a backup in progress. */
static int describe_jobs(jobs *js, Cairn__Rpc__NodeInfo *n, cairn_err *e)
{
    char **ids = NULL;
    size_t nids = 0;
    int rc = jobs_running(js, &ids, &nids, e);
    if (!rc && nids && !(n->jobs = calloc(nids, sizeof(*n->jobs))))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nids; i++) {
        Cairn__Rpc__JobInfo *info = malloc(sizeof(*info));
        if (!info) {
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
            break;
        }
        cairn_err je;
        if (jobs_info(js, ids[i], info, &je) != 0) {
            free(info); /* ended and was replaced since the listing: not running */
            continue;
        }
        n->jobs[n->n_jobs++] = info;
        if (job_identity(info) != 0)
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

int agent_describe(agent *a, Cairn__Rpc__Response *resp, cairn_err *e)
{
    Cairn__Rpc__NodeInfo *n;
    int rc = describe_node(a->rest, &n, e);
    if (!rc && (rc = describe_jobs(a->jobs, n, e)) != 0)
        cairn__rpc__node_info__free_unpacked(n, NULL);
    if (rc)
        return rc;
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_NODE;
    resp->node = n;
    return 0;
}
