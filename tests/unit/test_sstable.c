/* SSTable names and the Data.db digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "scylla/sstable.h"
#include "testutil.h"

static void split_names(void **state)
{
    size_t plen;
    const char *comp;
    assert_int_equal(sstable_split("mc-5-big-Data.db", &plen, &comp), 0);
    assert_int_equal(plen, strlen("mc-5-big"));
    assert_string_equal(comp, "Data.db");
    assert_int_equal(
        sstable_split("me-3gsm_0lob_1zdg02we44my8dy25w-big-Digest.crc32", &plen, &comp), 0);
    assert_string_equal(comp, "Digest.crc32");
    assert_int_equal(sstable_split("la-1-big-TOC.txt", &plen, &comp), 0);
    assert_int_equal(sstable_split("ms-7-big-Partitions.db", &plen, &comp), 0);
    assert_true(sstable_is_data("md-12-big-Data.db"));
    assert_false(sstable_is_data("md-12-big-Index.db"));
    /* Not SSTable components. */
    assert_int_equal(sstable_split("schema.cql", &plen, &comp), CAIRN_EINVAL);
    assert_int_equal(sstable_split("mx-5-big-Data.db", &plen, &comp), CAIRN_EINVAL);
    assert_int_equal(sstable_split("mc--big-Data.db", &plen, &comp), CAIRN_EINVAL);
    assert_int_equal(sstable_split("mc-5-big-", &plen, &comp), CAIRN_EINVAL);
    assert_int_equal(sstable_split("mc-5-big-../../etc", &plen, &comp), CAIRN_EINVAL);
    assert_int_equal(sstable_split("mc-5/x-big-Data.db", &plen, &comp), CAIRN_EINVAL);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_digest(void **state)
{
    char dir[] = "/tmp/cairn-sstable-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    uint32_t crc = 0;
    cairn_err e;
    write_file(dir, "mc-1-big-Digest.crc32", "3735928559");
    assert_int_equal(sstable_read_digest(dfd, "mc-1-big-Data.db", &crc, &e), 0);
    assert_int_equal(crc, 3735928559u);
    /* Missing, malformed and out-of-range digests. */
    assert_int_equal(sstable_read_digest(dfd, "mc-2-big-Data.db", &crc, &e), CAIRN_ENOENT);
    write_file(dir, "mc-3-big-Digest.crc32", "12ab");
    assert_int_equal(sstable_read_digest(dfd, "mc-3-big-Data.db", &crc, &e), CAIRN_ECORRUPT);
    write_file(dir, "mc-4-big-Digest.crc32", "4294967296");
    assert_int_equal(sstable_read_digest(dfd, "mc-4-big-Data.db", &crc, &e), CAIRN_ECORRUPT);
    write_file(dir, "mc-5-big-Digest.crc32", "");
    assert_int_equal(sstable_read_digest(dfd, "mc-5-big-Data.db", &crc, &e), CAIRN_ECORRUPT);
    /* The line end that tools write after the number is accepted. */
    write_file(dir, "mc-6-big-Digest.crc32", "42\r\n");
    assert_int_equal(sstable_read_digest(dfd, "mc-6-big-Data.db", &crc, &e), 0);
    assert_int_equal(crc, 42);
    /* Names that cannot have a digest beside them. */
    assert_int_equal(sstable_read_digest(dfd, "notes.txt", &crc, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "notes.txt"));
    char longname[600];
    memset(longname, 'g', sizeof(longname));
    memcpy(longname, "mc-", 3);
    snprintf(longname + 520, sizeof(longname) - 520, "-big-Data.db");
    assert_int_equal(sstable_read_digest(dfd, longname, &crc, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "too long"));
    close(dfd);
    assert_int_equal(scratch_remove(dir), 0);
}

static void real_digests_match_their_data(void **state)
{
    /* The README's fact, on the real sets: Digest.crc32 is zlib's CRC-32 of Data.db. */
    const char *src = getenv("CAIRN_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/../shared/scylla/sstables/mc-lz4", src ? src : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        print_message("skipped: %s is absent (../shared not beside the checkout)\n", dir);
        skip();
    }
    FILE *ls = NULL;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -- '-Data.db$'", dir);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    char name[256];
    int checked = 0;
    while (fgets(name, sizeof(name), ls)) {
        name[strcspn(name, "\n")] = '\0';
        uint32_t want;
        cairn_err e;
        assert_int_equal(sstable_read_digest(dfd, name, &want, &e), 0);
        char crc_cmd[1400];
        snprintf(crc_cmd, sizeof(crc_cmd),
                 "python3 -c 'import zlib,sys; print(zlib.crc32(open(sys.argv[1],\"rb\").read()))' "
                 "%s/%s",
                 dir, name);
        FILE *p = popen(crc_cmd, "r");
        unsigned long got = 0;
        assert_int_equal(fscanf(p, "%lu", &got), 1);
        pclose(p);
        assert_int_equal(got, want);
        checked++;
    }
    pclose(ls);
    close(dfd);
    assert_true(checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_names),
        cmocka_unit_test(read_digest),
        cmocka_unit_test(real_digests_match_their_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
