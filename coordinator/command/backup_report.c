/*
 * backup_report - what `cairn backup` tells the operator at its end: the summary of a
 * complete backup (human or --json) with the requests the coordinator and every agent
 * sent, and what an interrupted one kept.
 */
#include "command/backup_report.h"

#include <stdio.h>

#include <json-c/json.h>

#include "cli/human.h"

store_counts backup_report_requests(repo *r, const jobrun_node *jobs, size_t n,
                                    const store_counts *agents)
{
    store_counts t;
    repo_stats(r, &t);
    t.mpu_initiates += t.mpu_completes + t.mpu_aborts; /* reported as one figure */
    t.mpu_completes = t.mpu_aborts = 0;
    for (size_t i = 0; i < n; i++)
        fleet_requests_add(&t, jobs[i].job ? jobs[i].job->requests : NULL);
    store_counts_add(&t, agents);
    return t;
}

void backup_report_done(const char *tag, bool json, size_t nodes, size_t tables,
                        const Cairn__Repo__ClusterManifest *m, const store_counts *q,
                        uint64_t duration)
{
    const char *names[] = {"put",  "part_put", "get",       "head",
                           "list", "delete",   "multipart", "retries"};
    const uint64_t counts[] = {q->puts,  q->part_puts, q->gets,          q->heads,
                               q->lists, q->deletes,   q->mpu_initiates, q->retries};
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", json_object_new_string(tag));
        json_object_object_add(o, "nodes", json_object_new_int64((int64_t)nodes));
        json_object_object_add(o, "tables", json_object_new_int64((int64_t)tables));
        json_object_object_add(o, "files", json_object_new_int64((int64_t)m->files));
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)m->bytes));
        json_object_object_add(o, "uploaded_bytes",
                               json_object_new_int64((int64_t)m->uploaded_bytes));
        json_object_object_add(o, "skew_ms", json_object_new_int64((int64_t)m->skew_ms));
        json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)duration));
        json_object *rq = json_object_new_object();
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            json_object_object_add(rq, names[i], json_object_new_int64((int64_t)counts[i]));
        json_object_object_add(o, "requests", rq);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return;
    }
    char b1[32], b2[32], b3[32];
    printf("backup %s complete\n", tag);
    printf("  nodes     %zu\n  tables    %zu\n  files     %llu\n", nodes, tables,
           (unsigned long long)m->files);
    printf("  bytes     %s (uploaded %s)\n", human_bytes(m->bytes, b1, sizeof(b1)),
           human_bytes(m->uploaded_bytes, b2, sizeof(b2)));
    printf("  skew      %llu ms\n  duration  %s\n", (unsigned long long)m->skew_ms,
           human_duration(duration, b3, sizeof(b3)));
    printf("  requests ");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        printf(" %s %llu", names[i], (unsigned long long)counts[i]);
    printf("\n");
}

/* What an interrupted backup leaves: the nodes that stopped, and what they had
 * uploaded, which the next backup finds in the repository and does not send again. */
void backup_report_interrupted(const jobrun_node *jobs, size_t n, bool keep_snapshot)
{
    size_t stopped = n, unconfirmed = 0;
    uint64_t uploaded = 0;
    for (size_t i = 0; jobs && i < n; i++) {
        const jobrun_node *j = &jobs[i];
        if (j->interrupted && !j->stopped) {
            stopped--;
            unconfirmed++;
        }
        if (j->job)
            uploaded += j->job->bytes_uploaded;
    }
    char ub[32];
    fprintf(stderr, "cairn backup: interrupted: %zu nodes stopped", stopped);
    if (unconfirmed)
        fprintf(stderr,
                ", %zu did not confirm in time (their agents stop the job at its next "
                "check)",
                unconfirmed);
    fprintf(stderr,
            ", %s uploaded is kept and will be reused by the next backup; no backup was "
            "recorded%s\n",
            human_bytes(uploaded, ub, sizeof(ub)),
            keep_snapshot ? "" : ", the snapshots of the tag were cleared");
}
