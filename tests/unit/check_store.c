/* Unit tests of store.c. */
#include "unit.h"

#include "runs.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

static int archive_line(void *ctx, const char *id, const char *name, const char *data)
{
    char line[256];
    snprintf(line, sizeof line, "%s %s %s\n", id, name, data);
    struct membuf *m = ctx;
    struct out o2;
    membuf_out(m, &o2);
    return out_puts(&o2, line);
}

START_TEST(test_store_run_roundtrip_and_finish)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/s.db", tmpdir);
    struct store *st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    struct run r = {0};
    crypto_new_id(r.id);
    strcpy(r.owner, "alice");
    strcpy(r.type, "countdown");
    r.status = RUN_QUEUED;
    r.input = json_pack("{s:i}", "n", 3);
    r.created_at = 1700000000123;
    struct create_opts none = {0};
    ck_assert_int_eq(store_run_create(st, &r, &none, NULL), CREATE_NEW);
    ck_assert_int_eq(r.seq, 1);
    struct run got;
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_str_eq(got.owner, "alice");
    ck_assert_int_eq(got.status, RUN_QUEUED);
    ck_assert_int_eq(json_integer_value(json_object_get(got.input, "n")), 3);
    ck_assert_int_eq(got.created_at, 1700000000123);
    run_clear(&got);

    struct status_change claim = {runs_transition(OP_CLAIM)->from, RUN_RUNNING};
    struct status_change finish = {runs_transition(OP_FINISH)->from, RUN_SUCCEEDED};
    ck_assert_int_eq(store_run_claim(st, &claim, r.id, 1700000000200, 1700000010200, "host", "1-0"), 0);
    ck_assert_int_eq(store_run_claim(st, &claim, r.id, 1700000000300, 1700000010300, "host", "1-0"), 1); /* only once */
    json_t *res = json_pack("{s:b}", "ok", 1);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_finish(st, &finish, r.id, res, NULL, "5-0", "{}", 1700000000400), 0);
    struct membuf arch = {.data = mem, .cap = sizeof mem};
    mem[0] = '\0';
    struct event_id zero = {0, 0}, five = {5, 0};
    ck_assert_int_eq(store_events_after(st, r.id, &zero, NULL, 10, archive_line, &arch), 2);
    ck_assert_str_eq(mem, "4-0 progress {\"current\":1}\n5-0 run_finished {}\n");
    ck_assert_int_eq(store_events_after(st, r.id, &zero, &five, 10, archive_line, &arch), 1);
    ck_assert_int_eq(store_events_after(st, r.id, &five, NULL, 10, archive_line, &arch), 0);
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_int_eq(got.status, RUN_SUCCEEDED);
    ck_assert_str_eq(got.last_event_id, "5-0");
    ck_assert(json_is_true(json_object_get(got.result, "ok")));
    ck_assert_int_eq(got.attempt, 1);
    run_clear(&got);
    json_decref(res);
    ck_assert_int_eq(store_run_get(st, "AAAAAAAAAAAAAAAAAAAAAA", &got), 1);

    char s1[HASH_HEX_SIZE], s2[HASH_HEX_SIZE];
    ck_assert_int_eq(store_link_secret(st, s1), 0);
    ck_assert_int_eq(store_link_secret(st, s2), 0);
    ck_assert_str_eq(s1, s2); /* created once, then kept */
    run_clear(&r);
    store_close(st);

    /* Reopening an up-to-date database migrates nothing and keeps the data. */
    st = store_open(path, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(store_link_secret(st, s2), 0);
    ck_assert_str_eq(s1, s2);
    store_close(st);
}
END_TEST

UNIT_MAIN("store",
          test_store_run_roundtrip_and_finish)
