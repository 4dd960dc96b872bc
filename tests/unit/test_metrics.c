/* The metrics file: the text format, its escaping and family order, the atomic
 * replace, and the last success a failed run carries over. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/metrics.h"

static char dir[] = "/tmp/cairn-metrics-XXXXXX";

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/cairn-metrics-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static size_t entries(void)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_format_and_order(void **state)
{
    (void)state;
    metrics *m = NULL;
    cairn_err e;
    assert_int_equal(metrics_new(&m, "prod", &e), 0);
    metrics_add(m, "cairn_backup_node_uploaded_bytes", "Bytes uploaded by a node", 10, "node",
                "10.0.0.1", NULL);
    metrics_add(m, "cairn_backup_files", "Files", 7, NULL);
    metrics_add(m, "cairn_backup_node_uploaded_bytes", "Bytes uploaded by a node", 20, "node",
                "10.0.0.2", NULL);
    metrics_add(m, "cairn_backup_duration_seconds", "A \\ help\nline \"quoted\"", 1.5, NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/cairn.prom", dir);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    /* The second node's sample joins its family, which is not split by the other one. */
    assert_string_equal(slurp(path),
                        "# HELP cairn_backup_node_uploaded_bytes Bytes uploaded by a node\n"
                        "# TYPE cairn_backup_node_uploaded_bytes gauge\n"
                        "cairn_backup_node_uploaded_bytes{cluster=\"prod\",node=\"10.0.0.1\"} 10\n"
                        "cairn_backup_node_uploaded_bytes{cluster=\"prod\",node=\"10.0.0.2\"} 20\n"
                        "# HELP cairn_backup_files Files\n"
                        "# TYPE cairn_backup_files gauge\n"
                        "cairn_backup_files{cluster=\"prod\"} 7\n"
                        "# HELP cairn_backup_duration_seconds A \\\\ help\\nline \"quoted\"\n"
                        "# TYPE cairn_backup_duration_seconds gauge\n"
                        "cairn_backup_duration_seconds{cluster=\"prod\"} 1.5\n");
}

static void test_label_escaping(void **state)
{
    (void)state;
    metrics *m = NULL;
    cairn_err e;
    assert_int_equal(metrics_new(&m, "a\"b\\c\nd", &e), 0);
    metrics_add(m, "cairn_x", "x", 18446744073709551615.0, NULL);
    char path[512];
    snprintf(path, sizeof(path), "%s/esc.prom", dir);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    /* Figures too large for a double to hold exactly are written in exponent form. */
    assert_string_equal(slurp(path),
                        "# HELP cairn_x x\n# TYPE cairn_x gauge\n"
                        "cairn_x{cluster=\"a\\\"b\\\\c\\nd\"} 1.8446744073709552e+19\n");
    double v = 0;
    assert_int_equal(metrics_read_value(path, "cairn_x", &v, &e), 0);
    assert_true(v > 1.8e19);
}

static void test_atomic_replace(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/r.prom", dir);
    FILE *f = fopen(path, "w");
    fputs("old contents\n", f);
    fclose(f);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    metrics *m = NULL;
    cairn_err e;
    assert_int_equal(metrics_new(&m, "c", &e), 0);
    metrics_add(m, "cairn_y", "y", 3, NULL);
    assert_int_equal(metrics_write(m, path, &e), 0);
    assert_int_equal(stat(path, &after), 0);
    /* A new file renamed over the old one, and no temporary file left behind. */
    assert_int_not_equal(before.st_ino, after.st_ino);
    assert_non_null(strstr(slurp(path), "cairn_y{cluster=\"c\"} 3\n"));
    assert_null(strstr(slurp(path), "old"));
    assert_int_equal(entries(), 1);
    /* A directory that does not exist: an error naming the file, nothing written. */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/missing/r.prom", dir);
    assert_int_not_equal(metrics_write(m, bad, &e), 0);
    assert_non_null(strstr(e.msg, "missing/r.prom.tmp."));
    metrics_free(m);
}

static void test_outcome_keeps_last_success(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/o.prom", dir);
    cairn_err e;
    double v = 0;
    /* A failed first run knows no success: the sample is left out. */
    metrics *m = NULL;
    assert_int_equal(metrics_new(&m, "c", &e), 0);
    metrics_outcome(m, "backup", path, false, 1200);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    assert_int_equal(metrics_read_value(path, "cairn_backup_success", &v, &e), 0);
    assert_true(v == 0.0);
    assert_int_equal(metrics_read_value(path, "cairn_backup_duration_seconds", &v, &e), 0);
    assert_true(v == 1.2);
    assert_int_equal(
        metrics_read_value(path, "cairn_backup_last_success_timestamp_seconds", &v, &e),
        CAIRN_ENOENT);
    /* An earlier success is carried over by a failed run. */
    FILE *f = fopen(path, "w");
    fputs("# HELP cairn_backup_last_success_timestamp_seconds x\n"
          "cairn_backup_last_success_timestamp_seconds{cluster=\"c\"} 1700000000.5\n",
          f);
    fclose(f);
    assert_int_equal(metrics_new(&m, "c", &e), 0);
    metrics_outcome(m, "backup", path, false, 10);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    assert_int_equal(
        metrics_read_value(path, "cairn_backup_last_success_timestamp_seconds", &v, &e), 0);
    assert_true(v == 1700000000.5);
    /* A successful run sets it to now. */
    assert_int_equal(metrics_new(&m, "c", &e), 0);
    metrics_outcome(m, "backup", path, true, 10);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    assert_int_equal(
        metrics_read_value(path, "cairn_backup_last_success_timestamp_seconds", &v, &e), 0);
    assert_true(v > 1700000000.5);
    assert_int_equal(metrics_read_value(path, "cairn_backup_success", &v, &e), 0);
    assert_true(v == 1.0);
}

static void test_requests(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/q.prom", dir);
    cairn_err e;
    metrics *m = NULL;
    assert_int_equal(metrics_new(&m, "c", &e), 0);
    store_counts q = {.puts = 5, .mpu_initiates = 1, .mpu_completes = 1, .retries = 2};
    metrics_requests(m, "purge", &q);
    assert_int_equal(metrics_write(m, path, &e), 0);
    metrics_free(m);
    const char *t = slurp(path);
    assert_non_null(strstr(t, "cairn_purge_requests{cluster=\"c\",kind=\"put\"} 5\n"));
    assert_non_null(strstr(t, "cairn_purge_requests{cluster=\"c\",kind=\"multipart\"} 2\n"));
    assert_non_null(strstr(t, "cairn_purge_requests{cluster=\"c\",kind=\"retry\"} 2\n"));
    /* One family, however many kinds. */
    const char *type = strstr(t, "# TYPE");
    assert_non_null(type);
    assert_null(strstr(type + 1, "# TYPE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcome_keeps_last_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
