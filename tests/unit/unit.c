/* What the unit tests share. */
#include "unit.h"
#include "crypto.h"
#include "store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char mem[262144]; /* a full page of 200 runs fits */
struct membuf mb;
struct out o;

void mem_reset(void)
{
    mb = (struct membuf){.data = mem, .cap = sizeof mem};
    mem[0] = '\0';
    membuf_out(&mb, &o);
}

char tmpdir[64];

const char *write_tmp(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

void setup_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/opstream-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

void test_ledger(char *out, size_t size, const char *name)
{
    const char *engine = getenv("OPSTREAM_UNIT_LEDGER");
    if (engine == NULL || strcmp(engine, "postgresql") != 0) {
        snprintf(out, size, "%s/%s.db", tmpdir, name);
        return;
    }
    /* A database of its own, on the server PGHOST and PGPORT name. */
    PGconn *c = PQconnectdb("dbname=postgres");
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS t_%s", name);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof sql, "CREATE DATABASE t_%s", name);
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    snprintf(out, size, "postgresql:///t_%s", name);
}

void teardown_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

void put_run(struct store *st, const char *owner, enum run_status s, char id[ID_SIZE])
{
    struct run r = {0};
    crypto_new_id(r.id);
    snprintf(r.owner, sizeof r.owner, "%s", owner);
    snprintf(r.type, sizeof r.type, "countdown");
    r.status = s;
    r.input = json_object();
    r.created_at = 1700000000000;
    struct create_opts none = {0};
    ck_assert_int_eq(store_run_create(st, &r, &none, NULL), CREATE_NEW);
    snprintf(id, ID_SIZE, "%s", r.id);
    run_clear(&r);
}

static const char *fake_getenv(void *ctx, const char *name)
{
    struct fake_env *e = ctx;
    for (int i = 0; i < FAKE_VARS && e->names[i]; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static int fake_read(void *ctx, char *buf, size_t n)
{
    struct fake_env *e = ctx;
    size_t left = e->body ? strlen(e->body) - e->body_off : 0;
    if (left == 0)
        return 0;
    if (n > left)
        n = left;
    memcpy(buf, e->body + e->body_off, n);
    e->body_off += n;
    return (int)n;
}

static struct config default_cfg;

void fake_request(struct request *r, struct fake_env *e, const struct config *cfg)
{
    memset(r, 0, sizeof *r);
    if (cfg == NULL) {
        config_defaults(&default_cfg);
        cfg = &default_cfg;
    }
    r->cfg = cfg;
    r->getenv = fake_getenv;
    r->read = fake_read;
    r->ctx = e;
    mem_reset();
    r->out = o;
}

int unit_main_with(const char *name, void (*setup)(void), void (*teardown)(void),
                   const TTest *const tests[], size_t n)
{
    if (crypto_init() != 0)
        return 99;
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
