#include "command/backup_metrics.h"

void backup_metrics_done(metrics *mx, fleet *f, const jobrun_node *jobs, size_t n, size_t n_tables,
                         const Cairn__Repo__ClusterManifest *m, const store_counts *q)
{
    uint64_t stored = 0;
    for (size_t i = 0; i < n; i++)
        stored += jobs[i].job ? jobs[i].job->bytes_stored : 0;
    metrics_add(mx, "cairn_backup_nodes", "Nodes in the last complete backup", (double)n, NULL);
    metrics_add(mx, "cairn_backup_tables", "Tables in the last complete backup", (double)n_tables,
                NULL);
    metrics_add(mx, "cairn_backup_files", "Files in the last complete backup", (double)m->files,
                NULL);
    metrics_add(mx, "cairn_backup_read_bytes", "Bytes of the files the last complete backup holds",
                (double)m->bytes, NULL);
    metrics_add(mx, "cairn_backup_uploaded_bytes",
                "Bytes of blobs the repository lacked, uploaded by the last complete backup",
                (double)m->uploaded_bytes, NULL);
    metrics_add(mx, "cairn_backup_stored_bytes",
                "Compressed bytes the last complete backup wrote to the repository", (double)stored,
                NULL);
    metrics_add(mx, "cairn_backup_snapshot_skew_seconds",
                "Spread of the nodes' snapshot times in the last complete backup",
                (double)m->skew_ms / 1000.0, NULL);
    metrics_requests(mx, "backup", q);
    for (size_t i = 0; i < n; i++) {
        const Cairn__Rpc__JobInfo *j = jobs[i].job;
        const fleet_agent *a = fleet_get(f, jobs[i].agent);
        if (!j || !a->info)
            continue;
        metrics_add(mx, "cairn_backup_node_read_bytes", "Bytes of the node's files in the backup",
                    (double)j->bytes_total, "node", a->info->address, NULL);
        metrics_add(mx, "cairn_backup_node_uploaded_bytes",
                    "Bytes the node uploaded that the repository lacked", (double)j->bytes_uploaded,
                    "node", a->info->address, NULL);
        metrics_add(mx, "cairn_backup_node_stored_bytes",
                    "Compressed bytes the node wrote to the repository", (double)j->bytes_stored,
                    "node", a->info->address, NULL);
    }
}

void backup_metrics_write(metrics *mx, const char *path, size_t failed_nodes, bool ok,
                          uint64_t duration_ms)
{
    metrics_add(mx, "cairn_backup_failed_nodes", "Nodes on which the last backup failed",
                (double)failed_nodes, NULL);
    metrics_outcome(mx, "backup", path, ok, duration_ms);
    metrics_write_or_warn(mx, "backup", path);
}
