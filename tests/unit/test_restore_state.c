/* The restore's records in the agent's state directory: tombstone GC before the load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "restore/restore_state.h"

typedef struct seen {
    char ks[64][64], table[64][64];
    bool was_on[64];
    size_t n;
} seen;

static void collect(void *ctx, const char *ks, const char *table, bool was_on)
{
    seen *s = ctx;
    snprintf(s->ks[s->n], sizeof(s->ks[0]), "%s", ks);
    snprintf(s->table[s->n], sizeof(s->table[0]), "%s", table);
    s->was_on[s->n++] = was_on;
}

static int find(const seen *s, const char *ks, const char *table)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ks[i], ks) == 0 && strcmp(s->table[i], table) == 0)
            return (int)i;
    return -1;
}

static void test_gc_records(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-rstate-XXXXXX", base[RSTATE_PATH_MAX], path[RSTATE_PATH_MAX + 32];
    assert_non_null(mkdtemp(dir));
    cairn_err e;
    assert_int_equal(rstate_base(dir, "prod", "t1", true, base, sizeof(base), &e), 0);
    assert_false(rstate_gc_recorded(base, "shop", "orders"));
    seen s = {0};
    rstate_gc_each(base, collect, &s); /* no record yet: nothing, no error */
    assert_int_equal(s.n, 0);

    assert_int_equal(rstate_gc_record(base, "shop", "orders", true, &e), 0);
    /* Keyspaces may hold dots (Alternator): the record still tells them apart. */
    assert_int_equal(rstate_gc_record(base, "alternator_a.b", "c", false, &e), 0);
    assert_int_equal(rstate_gc_record(base, "alternator_a", "b.c", true, &e), 0);
    assert_true(rstate_gc_recorded(base, "shop", "orders"));
    assert_false(rstate_gc_recorded(base, "shop", "items"));
    /* A record that is not one is skipped, the others still come. */
    snprintf(path, sizeof(path), "%s/gc/bad+record", base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("maybe\n", f);
    fclose(f);

    rstate_gc_each(base, collect, &s);
    assert_int_equal(s.n, 3);
    int i = find(&s, "shop", "orders");
    assert_true(i >= 0 && s.was_on[i]);
    i = find(&s, "alternator_a.b", "c");
    assert_true(i >= 0 && !s.was_on[i]);
    i = find(&s, "alternator_a", "b.c");
    assert_true(i >= 0 && s.was_on[i]);

    assert_int_equal(rstate_remove(base, false, &e), 0);
    assert_false(rstate_gc_recorded(base, "shop", "orders"));
    assert_int_equal(rstate_remove_tree(dir, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gc_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
