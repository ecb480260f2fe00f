/* Unit tests of runs.c: the transition table is the lifecycle of the
 * contract, and the ledger refuses every change the table does not allow. */
#include "unit.h"

#include "runs.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#define B STATUS_BIT

/* The contract's lifecycle, written out pair by pair:
 * queued -> running <-> input_required -> succeeded | failed | cancelled |
 * timed_out; a queued run can be cancelled, or expire; a claimed run whose
 * worker is lost or stopped is queued again. Nothing leaves a terminal
 * status. */
static int contract_allows(enum run_status from, enum run_status to)
{
    switch (from) {
    case RUN_QUEUED:
        return to == RUN_RUNNING || to == RUN_CANCELLED || to == RUN_EXPIRED;
    case RUN_RUNNING:
        return to == RUN_INPUT_REQUIRED || to == RUN_QUEUED ||
               (run_status_terminal(to) && to != RUN_EXPIRED);
    case RUN_INPUT_REQUIRED:
        return to == RUN_RUNNING || to == RUN_QUEUED ||
               (run_status_terminal(to) && to != RUN_EXPIRED);
    default:
        return 0;
    }
}

START_TEST(test_every_pair_of_statuses_is_legal_only_as_the_contract_says)
{
    for (int a = 0; a < RUN_STATUS_COUNT; a++)
        for (int b = 0; b < RUN_STATUS_COUNT; b++)
            ck_assert_msg(runs_transition_legal(a, b) == contract_allows(a, b),
                          "%s -> %s: the table says %d", run_status_name(a), run_status_name(b),
                          runs_transition_legal(a, b));
    /* A run comes into being queued, and only creation has no status before. */
    for (int op = 0; op < RUN_OPS; op++) {
        const struct transition *t = runs_transition(op);
        ck_assert_msg((t->from == 0) == (op == OP_CREATE), "%s", t->name);
        ck_assert_msg(t->to != 0 && t->name != NULL, "%d", op);
    }
    ck_assert_uint_eq(runs_transition(OP_CREATE)->to, B(RUN_QUEUED));
}
END_TEST

START_TEST(test_status_names_round_trip)
{
    for (int s = 0; s < RUN_STATUS_COUNT; s++) {
        enum run_status back;
        ck_assert_int_eq(run_status_parse(run_status_name(s), &back), 0);
        ck_assert_int_eq(back, s);
        const char *n = run_status_name(s);
        int ends = strcmp(n, "succeeded") == 0 || strcmp(n, "failed") == 0 ||
                   strcmp(n, "cancelled") == 0 || strcmp(n, "timed_out") == 0 ||
                   strcmp(n, "expired") == 0;
        ck_assert_msg(run_status_terminal(s) == ends, "%s", n);
        ck_assert_msg(((STATUS_ACTIVE & B(s)) != 0) == !ends, "%s", n);
        /* next_action: the contract's three answers, by status name. */
        const char *next = ends ? "none" : strcmp(n, "input_required") == 0 ? "provide_input" : "wait";
        ck_assert_str_eq(run_next_action(s), next);
    }
    enum run_status none;
    ck_assert_int_eq(run_status_parse("active", &none), -1);
    ck_assert_int_eq(run_status_parse("", &none), -1);
}
END_TEST

static struct store *st;

/* The ledger write of op, as runs.c makes it. */
static int store_op(enum run_op op, const struct status_change *ch, const char *id)
{
    json_t *pending = J("{\"schema\":{\"type\":\"object\"}}");
    int64_t now = 1700000001000;
    int r = -1;
    switch (op) {
    case OP_CLAIM:
        r = store_run_claim(st, ch, id, now, now + 1000, "host", "1-0");
        break;
    case OP_INPUT_REQUEST:
    case OP_RESUME_UNDO:
        r = store_run_await_input(st, ch, id, pending, now);
        break;
    case OP_RESUME:
        r = store_run_resume(st, ch, id, now);
        break;
    case OP_REQUEUE:
        r = store_run_requeue(st, ch, id, now, 0);
        break;
    case OP_CANCEL_QUEUED:
        r = store_run_cancel_queued(st, ch, id, pending, now, 0);
        break;
    case OP_EXPIRE:
        r = store_run_expire(st, ch, id, pending, now, 0);
        break;
    case OP_FINISH:
    case OP_REPAIR:
        r = store_run_finish(st, ch, id, NULL, NULL, "9-0", "{}", now, 0);
        break;
    default:
        ck_abort_msg("no ledger write for op %d", op);
    }
    json_decref(pending);
    return r;
}

START_TEST(test_the_ledger_refuses_every_transition_the_table_does_not_allow)
{
    char path[128], err[256];
    test_ledger(path, sizeof path, "transitions");
    st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    int changed = 0, refused = 0;
    for (int op = OP_CLAIM; op < RUN_OPS; op++) {
        const struct transition *t = runs_transition(op);
        for (int a = 0; a < RUN_STATUS_COUNT; a++)
            for (int b = 0; b < RUN_STATUS_COUNT; b++) {
                /* What runs.c asks of the store: a target the row cannot
                 * reach leaves no status to start from. */
                struct status_change ch = {(t->to & B(b)) ? t->from : 0, b};
                int legal = (t->from & B(a)) && (t->to & B(b));
                char id[ID_SIZE];
                put_run(st, "alice", a, id);
                int r = store_op(op, &ch, id);
                struct run got;
                ck_assert_int_eq(store_run_get(st, id, &got), 0);
                ck_assert_msg(r == (legal ? 0 : 1) && (int)got.status == (legal ? b : a),
                              "%s from %s to %s: answered %d, now %s", t->name,
                              run_status_name(a), run_status_name(b), r,
                              run_status_name(got.status));
                run_clear(&got);
                changed += legal;
                refused += !legal;
            }
    }
    /* Every row changes something and refuses something. */
    ck_assert_int_gt(changed, RUN_OPS - 1);
    ck_assert_int_gt(refused, 300);
    store_close(st);
}
END_TEST

UNIT_MAIN("runs",
          test_every_pair_of_statuses_is_legal_only_as_the_contract_says,
          test_status_names_round_trip,
          test_the_ledger_refuses_every_transition_the_table_does_not_allow)
