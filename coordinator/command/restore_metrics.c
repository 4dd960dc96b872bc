#include "command/restore_metrics.h"

#include <stdio.h>

#include "cli/metrics.h"

void restore_metrics_requests(store_counts *q, const jobrun_node *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++)
        fleet_requests_add(q, jobs[i].job ? jobs[i].job->requests : NULL);
}

void restore_metrics_write(const char *path, const char *cluster, fleet *f, const jobrun_node *jobs,
                           size_t n, const store_counts *earlier, const restore_plan *plan,
                           uint64_t duration_ms)
{
    metrics *mx = NULL;
    cairn_err e;
    if (metrics_new(&mx, cluster, &e) != 0) {
        fprintf(stderr, "cairn restore: warning: the metrics file was not written: %s\n", e.msg);
        return;
    }
    store_counts q = *earlier;
    restore_metrics_requests(&q, jobs, n);
    size_t failed = 0;
    for (size_t i = 0; jobs && i < n; i++) {
        const Cairn__Rpc__JobInfo *j = jobs[i].job;
        const fleet_agent *a = fleet_get(f, jobs[i].agent);
        failed += jobs[i].failed;
        if (!j)
            continue;
        if (a->info)
            metrics_add(mx, "cairn_restore_node_bytes", "Bytes the node restored",
                        (double)j->bytes_done, "node", a->info->address, NULL);
    }
    if (plan) {
        metrics_add(mx, "cairn_restore_tables", "Tables the last restore restored",
                    (double)plan->n_tables, NULL);
        metrics_add(mx, "cairn_restore_files", "Files the last restore restored",
                    (double)plan->n_files, NULL);
        metrics_add(mx, "cairn_restore_read_bytes",
                    "Bytes of the files the last restore read from the repository",
                    (double)plan->bytes, NULL);
    }
    metrics_requests(mx, "restore", &q);
    metrics_add(mx, "cairn_restore_failed_nodes", "Nodes on which the last restore failed",
                (double)failed, NULL);
    metrics_outcome(mx, "restore", path, plan != NULL, duration_ms);
    metrics_write_or_warn(mx, "restore", path);
    metrics_free(mx);
}
