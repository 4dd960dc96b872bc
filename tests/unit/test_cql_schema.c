/*
 * Tests for agent/node/cql: DESCRIBE SCHEMA and its fallbacks, queries that carry secrets, table
 * ids, against the in-process fake server of cql_fake.h that answers each request frame with
 * scripted frames and records what it received.
 */
#include "cql_fake.h"

typedef struct schema_seen {
    int n;
    char ks[4][16], type[4][16], name[4][16], stmt[4][64];
} schema_seen;

static int on_schema(void *ctx, const char *ks, const char *type, const char *name,
                     const char *stmt, cairn_err *e)
{
    schema_seen *s = ctx;
    snprintf(s->ks[s->n], 16, "%s", ks ? ks : "<null>");
    snprintf(s->type[s->n], 16, "%s", type);
    snprintf(s->name[s->n], 16, "%s", name);
    snprintf(s->stmt[s->n], 64, "%s", stmt);
    s->n++;
    return 0;
}

static void test_describe_schema(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 4, NULL);
    put_i32(b, 3);
    const char *rows[3][4] = {
        {"ks1", "keyspace", "ks1", "CREATE KEYSPACE ks1 WITH replication = {...};"},
        {"ks1", "table", "t1", "CREATE TABLE ks1.t1 (k int PRIMARY KEY) WITH ID = x;"},
        {NULL, "role", "admin", "CREATE ROLE admin;"},
    };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            put_bytes(b, rows[i][j]);
    /* A second query whose rows have the wrong shape. */
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 2, NULL);
    put_i32(b, 1);
    put_bytes(b, "a");
    put_bytes(b, "b");
    fake_start(f);

    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form = CQL_DESCRIBE_OLD_SCYLLA;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), 0);
    assert_int_equal(form, CQL_DESCRIBE_PASSWORDS);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ks[0], "ks1");
    assert_string_equal(s.type[1], "table");
    assert_string_equal(s.name[1], "t1");
    assert_string_equal(s.stmt[1], "CREATE TABLE ks1.t1 (k int PRIMARY KEY) WITH ID = x;");
    assert_string_equal(s.ks[2], "<null>");
    assert_string_equal(s.type[2], "role");
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "2 columns"));
    cql_close(c);
    fake_stop(f);
    const char *q = "DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS";
    assert_int_equal(f->got[1].body.p[3], strlen(q));
    assert_memory_equal(f->got[1].body.p + 4, q, strlen(q));
    fake_free(f);
}

/* A refusal of AND PASSWORDS, answered with one row by the plain form. */
static void describe_refused(int32_t code, const char *msg, cql_describe_form want)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), code, msg);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 4, NULL);
    put_i32(b, 1);
    put_bytes(b, "ks1");
    put_bytes(b, "keyspace");
    put_bytes(b, "ks1");
    put_bytes(b, "CREATE KEYSPACE ks1 WITH replication = {...};");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form = CQL_DESCRIBE_PASSWORDS;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), 0);
    assert_int_equal(form, want);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.type[0], "keyspace");
    cql_close(c);
    fake_stop(f);
    const char *q = "DESCRIBE SCHEMA WITH INTERNALS";
    assert_int_equal(f->got[2].body.p[3], strlen(q));
    assert_memory_equal(f->got[2].body.p + 4, q, strlen(q));
    fake_free(f);
}

/* ScyllaDB before 2025.1 does not know AND PASSWORDS; a user that is no superuser may
 * not use it: either way the schema comes without auth. */
static void test_describe_schema_fallback(void **state)
{
    describe_refused(0x2000, "line 1:31 mismatched input 'AND' expecting EOF",
                     CQL_DESCRIBE_OLD_SCYLLA);
    describe_refused(0x2100, "DESCRIBE SCHEMA WITH PASSWORDS needs a superuser",
                     CQL_DESCRIBE_NOT_SUPERUSER);
}

/* Any other refusal is an error, not a reason to describe less. */
static void test_describe_schema_other_error(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x1001, "overloaded");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    schema_seen s = {0};
    cairn_err e;
    cql_describe_form form;
    assert_int_equal(cql_describe_schema(c, on_schema, &s, &form, &e), CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "overloaded"));
    cql_close(c);
    fake_stop(f);
    assert_int_equal(f->ngot, 2);
    fake_free(f);
}

/* A statement holding a salted hash: its error names the label, never the statement,
 * and what ScyllaDB quotes back of it is cut out. */
static void test_query_secret(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    error_body(answer(add_step(f, OP_QUERY), OP_ERROR), 0x2000,
               "line 1:40 no viable alternative at input '$6$salt$hash' and 'x'");
    fake_start(f);
    cql_conn *c = connect_ok(f);
    cairn_err e;
    const char *stmt = "CREATE ROLE r WITH SALTED_HASH = '$6$salt$hash' AND LOGIN = true";
    assert_int_equal(cql_query_secret(c, stmt, "the statement", &e), CAIRN_EREMOTE);
    assert_null(strstr(e.msg, "salt"));
    assert_null(strstr(e.msg, "SALTED_HASH"));
    assert_non_null(strstr(e.msg, "refused the statement with error 0x2000"));
    assert_non_null(strstr(e.msg, "at input '*' and '*'"));
    cql_close(c);
    fake_stop(f);
    fake_free(f);
}

static void test_table_id(void **state)
{
    fake *f = fake_new();
    script_ready(f);
    buf *b = answer(add_step(f, OP_QUERY), OP_RESULT);
    put_i32(b, 2);
    put_i32(b, 0x0001);
    put_i32(b, 1);
    put_str(b, "system_schema");
    put_str(b, "tables");
    put_str(b, "id");
    put_u16(b, 0x000C);
    put_i32(b, 1);
    static const uint8_t uuid[16] = {0x5a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x11, 0xef,
                                     0x80, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
    put_i32(b, 16);
    put(b, uuid, 16);
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 0);
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    put_bytes(b, "short");
    b = answer(add_step(f, OP_QUERY), OP_RESULT);
    rows_header(b, 0, 1, NULL);
    put_i32(b, 1);
    put_i32(b, 16);
    put(b, uuid, 16);
    fake_start(f);

    cql_conn *c = connect_ok(f);
    char id[33];
    cairn_err e;
    assert_int_equal(cql_table_id(c, "ks1", "Users_2", id, &e), 0);
    assert_string_equal(id, "5a1b2c3d4e5f11ef80000123456789ab");
    assert_int_equal(cql_table_id(c, "ks1", "gone", id, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "ks1.gone"));
    assert_int_equal(cql_table_id(c, "ks1", "t", id, &e), CAIRN_EPROTO);

    /* Recent ScyllaDB allows 192-byte names, Alternator has "." and "-" in them. */
    char long_name[224];
    memset(long_name, 'a', 192);
    long_name[192] = '\0';
    assert_int_equal(cql_table_id(c, "alternator_my-table.v2", long_name, id, &e), 0);
    assert_string_equal(id, "5a1b2c3d4e5f11ef80000123456789ab");

    /* Names that could change the query never reach the server. */
    memset(long_name, 'a', 223);
    long_name[223] = '\0';
    assert_int_equal(cql_table_id(c, "ks1' OR '1'='1", "t", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", "t'", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", "", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, NULL, "t", id, &e), CAIRN_EINVAL);
    assert_int_equal(cql_table_id(c, "ks1", long_name, id, &e), CAIRN_EINVAL);
    cql_close(c);
    fake_stop(f);
    assert_int_equal(f->ngot, 5);
    const char *q = "SELECT id FROM system_schema.tables WHERE keyspace_name = 'ks1' AND "
                    "table_name = 'Users_2'";
    assert_int_equal(f->got[1].body.p[3], strlen(q));
    assert_memory_equal(f->got[1].body.p + 4, q, strlen(q));
    const char *alt = "keyspace_name = 'alternator_my-table.v2' AND table_name = 'aaaa";
    assert_non_null(memmem(f->got[4].body.p, f->got[4].body.len, alt, strlen(alt)));
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_schema),
        cmocka_unit_test(test_describe_schema_fallback),
        cmocka_unit_test(test_describe_schema_other_error),
        cmocka_unit_test(test_query_secret),
        cmocka_unit_test(test_table_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
