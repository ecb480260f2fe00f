/* Unit tests of store.c. */
#include "unit.h"

#include "ledger.h"
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
    test_ledger(path, sizeof path, "roundtrip");
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
    ck_assert_int_eq(store_run_claimed(st, r.id, "host", "1-0"), 0); /* by this host, for this entry */
    ck_assert_int_eq(store_run_claimed(st, r.id, "host", "2-0"), 1);
    ck_assert_int_eq(store_run_claimed(st, r.id, "other", "1-0"), 1);
    json_t *res = json_pack("{s:b}", "ok", 1);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_finish(st, &finish, r.id, res, NULL, "5-0", "{}", 1700000000400, 0), 0);
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

static int add_step(void *ctx, json_t *steps)
{
    json_array_append_new(steps, json_string(ctx));
    return 1;
}

static struct store *open_with_run(struct run *r, int64_t lease_until)
{
    char path[128], err[256];
    test_ledger(path, sizeof path, "forward");
    struct store *st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    *r = (struct run){0};
    crypto_new_id(r->id);
    strcpy(r->owner, "alice");
    strcpy(r->type, "countdown");
    r->status = RUN_QUEUED;
    r->input = json_object();
    r->created_at = 1000;
    struct create_opts opts = {.lease_until = lease_until};
    ck_assert_int_eq(store_run_create(st, r, &opts, NULL), CREATE_NEW);
    return st;
}

/* A progress event of n out of 10, as a job's line becomes one. */
static int progress_event(struct store *st, const char *run_id, const char *id, int64_t n,
                          int64_t now_ms)
{
    struct archived_event ev = {.run_id = run_id, .id = id, .name = "progress", .data = "{}",
                                .progress = 1, .current = n, .total = 10};
    return store_run_events(st, &ev, 1, now_ms);
}

/* Checks the run's latest event and progress; its updated_at. */
static int64_t check_latest(struct store *st, const char *id, const char *last, int64_t progress)
{
    struct run got;
    ck_assert_int_eq(store_run_get(st, id, &got), 0);
    ck_assert_str_eq(got.last_event_id, last);
    ck_assert_int_eq(got.progress_current, progress);
    int64_t updated = got.updated_at;
    run_clear(&got);
    return updated;
}

/* Writers of one run's events race (a runner, a responder cancelling, a
 * create interrupting its thread): whichever ledger write lands last, the
 * ledger keeps the latest event, progress and steps, and updated_at. */
START_TEST(test_store_ledger_only_moves_forward)
{
    struct run r, got;
    struct store *st = open_with_run(&r, 0);
    ck_assert_int_eq(store_run_event(st, r.id, "9-0", "cancel_requested", "{}", 5000), 0);
    ck_assert_int_eq(store_run_event(st, r.id, "3-0", "run_queued", "{}", 4000), 0); /* late */
    ck_assert_int_eq(progress_event(st, r.id, "5-0", 5, 3000), 0);
    ck_assert_int_eq(progress_event(st, r.id, "4-0", 4, 6000), 0); /* late */
    ck_assert_int_eq(store_run_edit_steps(st, r.id, "6-0", add_step, "six", 3000), 0);
    ck_assert_int_eq(store_run_edit_steps(st, r.id, "2-0", add_step, "two", 3000), 1); /* late */
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_str_eq(got.last_event_id, "9-0");
    ck_assert_int_eq(got.updated_at, 5000); /* a clock behind (3000) does not move it back */
    ck_assert_int_eq(got.progress_current, 5);
    ck_assert_int_eq(json_array_size(got.steps), 1);
    ck_assert_str_eq(json_string_value(json_array_get(got.steps, 0)), "six");
    run_clear(&got);
    /* The late event is archived all the same. */
    ck_assert_int_eq(store_archive_has(st, r.id, "run_queued"), 1);
    ck_assert_int_eq(store_archive_has(st, r.id, "progress"), 1);
    ck_assert_int_eq(store_archive_has(st, r.id, "run_finished"), 0);
    /* Reconciling archives what is missing and moves the ledger forward only. */
    json_t *entries = json_pack("[[s,s,s],[s,s,s]]", "3-0", "run_queued", "{}",
                                "10-1", "run_finished", "{\"status\":\"cancelled\"}");
    ck_assert_int_eq(store_archive_entries(st, r.id, entries, 7000, 0), 0);
    json_decref(entries);
    ck_assert_int_eq(store_archive_has(st, r.id, "run_finished"), 1);
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_str_eq(got.last_event_id, "10-1");
    run_clear(&got);
    /* A progress event in time moves all three in its one transaction. */
    ck_assert_int_eq(progress_event(st, r.id, "11-0", 7, 8000), 0);
    ck_assert_int_eq(check_latest(st, r.id, "11-0", 7), 8000);
    run_clear(&r);
    store_close(st);
}
END_TEST

/* The worker archives a round's events together: all of them or none,
 * so that a bad one (its run deleted meanwhile) fails the batch and the
 * caller can write them one by one. */
START_TEST(test_store_events_of_many_runs_in_one_transaction)
{
    struct run a;
    struct store *st = open_with_run(&a, 0);
    struct archived_event ev[] = {
        {.run_id = a.id, .id = "1-0", .name = "run_started", .data = "{}"},
        {.run_id = a.id, .id = "2-0", .name = "progress", .data = "{}", .progress = 1,
         .current = 3, .total = 9},
        {.run_id = a.id, .id = "3-0", .name = "progress", .data = "{}", .progress = 1,
         .current = 5, .total = 9},
        {.run_id = a.id, .id = "4-0", .name = "log", .data = "{}"},
        {.run_id = "0000000000000000000000", .id = "1-0", .name = "log", .data = "{}"},
    };
    ck_assert_int_eq(store_run_events(st, ev, 5, 2000), -1);
    ck_assert_int_eq(store_archive_has(st, a.id, "run_started"), 0); /* none of it */
    ck_assert_int_eq(store_run_events(st, ev, 4, 2000), 0);
    ck_assert_int_eq(store_archive_has(st, a.id, "run_started"), 1);
    ck_assert_int_eq(store_archive_has(st, a.id, "log"), 1);
    check_latest(st, a.id, "4-0", 5); /* each run's latest, in progress too */
    run_clear(&a);
    store_close(st);
}
END_TEST

/* A lease is due work: a queued run must be on the queue, an ended one
 * settled. Each shows up expired, with its status, until cleared. */
START_TEST(test_store_leases_of_queued_and_ended_runs)
{
    struct run r;
    struct store *st = open_with_run(&r, 2000);
    struct lost_run lost;
    ck_assert_int_eq(store_lease_expired(st, 1999, 5000, &lost), 0);
    ck_assert_int_eq(store_lease_expired(st, 2001, 5000, &lost), 1);
    ck_assert_str_eq(lost.id, r.id);
    ck_assert_int_eq(lost.status, RUN_QUEUED);
    ck_assert_int_eq(store_lease_expired(st, 2001, 5000, &lost), 0); /* taken */
    ck_assert_int_eq(store_run_lease_clear(st, r.id, STATUS_TERMINAL), 1); /* not ended */
    ck_assert_int_eq(store_run_lease_clear(st, r.id, STATUS_BIT(RUN_QUEUED)), 0);
    ck_assert_int_eq(store_lease_expired(st, 9999, 20000, &lost), 0);
    struct status_change cancel = {runs_transition(OP_CANCEL_QUEUED)->from, RUN_CANCELLED};
    ck_assert_int_eq(store_run_cancel_queued(st, &cancel, r.id, NULL, 3000, 8000), 0);
    ck_assert_int_eq(store_lease_expired(st, 8001, 20000, &lost), 1);
    ck_assert_int_eq(lost.status, RUN_CANCELLED);
    ck_assert_int_eq(store_run_lease_clear(st, r.id, STATUS_TERMINAL), 0);
    ck_assert_int_eq(store_lease_expired(st, 99999, 200000, &lost), 0);
    run_clear(&r);
    store_close(st);
}
END_TEST

static int count_run(void *ctx, struct run *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int count_token(void *ctx, const char *id, const char *owner, const char *name,
                       int64_t created_at)
{
    (void)owner;
    (void)name;
    (void)created_at;
    ck_assert_int_eq(strlen(id), TOKEN_ID_LEN);
    ++*(int *)ctx;
    return 0;
}

static int listed(struct store *st, const struct run_filter *f)
{
    int n = 0;
    ck_assert_int_eq(store_run_list(st, f, count_run, &n), 0);
    return n;
}

/* Creating under an idempotency key, a quota and a busy thread, and the
 * listing filters: what every engine must answer alike. */
START_TEST(test_store_create_rules_and_listing)
{
    char path[128], err[256];
    test_ledger(path, sizeof path, "create");
    struct store *st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    struct run a = {0}, b = {0}, again = {0}, existing = {0};
    crypto_new_id(a.id);
    strcpy(a.owner, "alice");
    strcpy(a.type, "countdown");
    strcpy(a.thread_id, "t1");
    a.input = json_object();
    a.metadata = json_pack("{s:s,s:i,s:b}", "team", "blue", "n", 7, "vip", 1);
    a.created_at = 1000;
    struct create_opts keyed = {.idem_key = "k1", .body_hash = "h1", .strategy = MT_REJECT,
                                .max_active = 2};
    ck_assert_int_eq(store_run_create(st, &a, &keyed, NULL), CREATE_NEW);
    /* The same key and body: the same run; another body: refused. */
    again = a;
    again.metadata = NULL; /* a's own: only a is listed by it */
    crypto_new_id(again.id);
    ck_assert_int_eq(store_run_create(st, &again, &keyed, &existing), CREATE_REPLAYED);
    ck_assert_str_eq(existing.id, a.id);
    run_clear(&existing);
    struct create_opts other_body = keyed;
    other_body.body_hash = "h2";
    ck_assert_int_eq(store_run_create(st, &again, &other_body, NULL), CREATE_KEY_REUSED);
    /* The thread is busy: reject refuses, enqueue parks. */
    struct create_opts plain = {.strategy = MT_REJECT, .max_active = 2};
    ck_assert_int_eq(store_run_create(st, &again, &plain, NULL), CREATE_THREAD_BUSY);
    plain.strategy = MT_ENQUEUE;
    ck_assert_int_eq(store_run_create(st, &again, &plain, NULL), CREATE_NEW);
    ck_assert_int_eq(again.parked, 1);
    ck_assert_int_eq(again.seq, a.seq + 1);
    /* alice has two active runs: a third is over her quota. */
    b = (struct run){0};
    crypto_new_id(b.id);
    strcpy(b.owner, "alice");
    strcpy(b.type, "steps");
    b.input = json_object();
    b.created_at = 2000;
    ck_assert_int_eq(store_run_create(st, &b, &plain, NULL), CREATE_QUOTA);
    strcpy(b.owner, "bob");
    ck_assert_int_eq(store_run_create(st, &b, &plain, NULL), CREATE_NEW);
    /* The parked run waits for the thread; it starts once a is over. */
    char next[ID_SIZE];
    ck_assert_int_eq(store_thread_release(st, "alice", "t1", 9000, next), 0);
    struct status_change cancel = {runs_transition(OP_CANCEL_QUEUED)->from, RUN_CANCELLED};
    ck_assert_int_eq(store_run_cancel_queued(st, &cancel, a.id, NULL, 3000, 0), 0);
    ck_assert_int_eq(store_thread_release(st, "alice", "t1", 9000, next), 1);
    ck_assert_str_eq(next, again.id);

    struct run_filter f = {.owner = "alice", .limit = 10};
    ck_assert_int_eq(listed(st, &f), 2);
    f.statuses = STATUS_ACTIVE;
    ck_assert_int_eq(listed(st, &f), 1);
    f.statuses = 0;
    f.metadata_key = "team";
    f.metadata_value = "blue";
    ck_assert_int_eq(listed(st, &f), 1);
    f.metadata_value = "red";
    ck_assert_int_eq(listed(st, &f), 0);
    f.metadata_key = "n";
    f.metadata_value = "7";
    ck_assert_int_eq(listed(st, &f), 1);
    f.metadata_key = "vip";
    f.metadata_value = "true";
    ck_assert_int_eq(listed(st, &f), 1);
    f = (struct run_filter){.owner = "alice", .before_seq = again.seq, .limit = 10};
    ck_assert_int_eq(listed(st, &f), 1);
    f = (struct run_filter){.type = "steps", .limit = 10};
    ck_assert_int_eq(listed(st, &f), 1);

    /* Tokens, revocation and the owner's epoch. */
    int64_t epoch = -1;
    ck_assert_int_eq(store_owner_epoch(st, "alice", &epoch), 0);
    ck_assert_int_eq(epoch, 0);
    ck_assert_int_eq(store_token_insert(st, "0123456789abcdef0123", "alice", "ci", 5), 0);
    char owner[OWNER_SIZE];
    ck_assert_int_eq(store_token_owner(st, "0123456789abcdef0123", owner), 0);
    ck_assert_str_eq(owner, "alice");
    int tokens = 0;
    ck_assert_int_eq(store_token_list(st, count_token, &tokens), 0);
    ck_assert_int_eq(tokens, 1);
    ck_assert_int_eq(store_token_revoke(st, "0123456789ab", owner), 0);
    ck_assert_int_eq(store_token_revoke(st, "0123456789ab", owner), 1);
    ck_assert_int_eq(store_owner_epoch(st, "alice", &epoch), 0);
    ck_assert_int_eq(epoch, 1);

    /* Webhook attempts pile up while pending, then stop. */
    struct run w = {0};
    crypto_new_id(w.id);
    strcpy(w.owner, "carol");
    strcpy(w.type, "countdown");
    strcpy(w.webhook, "http://127.0.0.1:9/hook");
    w.input = json_object();
    w.created_at = 3000;
    struct create_opts none = {0};
    ck_assert_int_eq(store_run_create(st, &w, &none, NULL), CREATE_NEW);
    json_t *attempt = json_pack("{s:i}", "status", 500);
    ck_assert_int_eq(store_webhook_attempt(st, w.id, attempt, WEBHOOK_PENDING), 0);
    ck_assert_int_eq(store_webhook_attempt(st, w.id, attempt, WEBHOOK_DELIVERED), 0);
    ck_assert_int_eq(store_webhook_attempt(st, w.id, attempt, WEBHOOK_DELIVERED), 1);
    json_decref(attempt);
    struct run got;
    ck_assert_int_eq(store_run_get(st, w.id, &got), 0);
    ck_assert_int_eq(json_array_size(got.webhook_attempts), 2);
    ck_assert_int_eq(got.webhook_state, WEBHOOK_DELIVERED);
    run_clear(&got);

    /* Archives of runs that ended before a time go, and the runs say so. */
    ck_assert_int_eq(store_run_event(st, a.id, "1-0", "log", "{}", 3000), 0);
    ck_assert_int_eq(store_archives_delete(st, 3001, 4000), 1);
    ck_assert_int_eq(store_archive_has(st, a.id, "log"), 0);
    ck_assert_int_eq(store_run_get(st, a.id, &got), 0);
    ck_assert_int_eq(got.archive_deleted, 1);
    run_clear(&got);
    ck_assert_int_eq(store_run_delete(st, a.id), 0);
    ck_assert_int_eq(store_run_get(st, a.id, &got), 1);

    run_clear(&a);
    run_clear(&b);
    run_clear(&w);
    again.input = NULL;
    again.metadata = NULL;
    store_close(st);
}
END_TEST

/* The active runs' literal, which the partial index and the counts at
 * create share, names exactly the active statuses. */
START_TEST(test_store_active_literal_names_the_active_statuses)
{
    char want[256] = "status IN (";
    for (int st = 0; st < RUN_STATUS_COUNT; st++)
        if (STATUS_ACTIVE & STATUS_BIT(st))
            snprintf(want + strlen(want), sizeof want - strlen(want), "'%s', ",
                     run_status_name((enum run_status)st));
    snprintf(want + strlen(want) - 2, 3, ")");
    ck_assert_str_eq(LEDGER_ACTIVE_SQL, want);
}
END_TEST

/* A writer gone silent inside its transaction (its host died: no FIN
 * ever comes) does not hold every other writer: the server ends its
 * session within seconds, and the next write goes through. (SQLite: one
 * host, whose kernel lets a dead process's locks go.) */
START_TEST(test_store_a_silent_writer_lets_go)
{
    char path[128], err[256];
    test_ledger(path, sizeof path, "silent");
    if (strncmp(path, "postgresql:", 11) != 0)
        return;
    struct store *st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    const struct ledger_engine *e = ledger_engine_for(path);
    struct ledger *silent = e->open(path, err, sizeof err);
    ck_assert_msg(silent != NULL, "%s", err);
    ck_assert_int_eq(e->begin(silent), 0); /* the write lock, then nothing more */
    struct lost_run lost;
    ck_assert_int_eq(store_lease_expired(st, 1, 2, &lost), 0); /* a write: waits for the lock */
    ck_assert_int_ne(e->commit(silent), 0); /* its session was ended */
    e->close(silent);
    store_close(st);
}
END_TEST

UNIT_MAIN("store",
          test_store_create_rules_and_listing,
          test_store_run_roundtrip_and_finish,
          test_store_ledger_only_moves_forward,
          test_store_events_of_many_runs_in_one_transaction,
          test_store_leases_of_queued_and_ended_runs,
          test_store_active_literal_names_the_active_statuses,
          test_store_a_silent_writer_lets_go)
