/* POST /v1/runs/{id}/cancel, GET /v1/runs/{id}/wait,
 * POST /v1/runs/{id}/resume and DELETE /v1/runs/{id}. */
#include "api.h"
#include "clock.h"
#include "reply.h"
#include "runs.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cancel's reason, as told to the job and kept on the run. */
#define CANCEL_REASON_MAX 1000
#define WAIT_DEFAULT_S 30
#define WAIT_MAX_S 300
/* One XREAD BLOCK at most this long, so a wait never outlasts Redis' view
 * of the connection by much. */
#define WAIT_SLICE_MS 10000
/* After run_finished is in the stream the ledger follows within moments
 * (the stream is written first); how long to give it. */
#define LEDGER_CATCH_UP_MS 2000

struct seen {
    char last[EVENT_ID_SIZE];
    int finished;
};

static int note_entry(void *ctx, const char *id, const char *name, const char *data)
{
    (void)data;
    struct seen *s = ctx;
    snprintf(s->last, sizeof s->last, "%s", id);
    s->finished |= event_is_terminal(name);
    return 0;
}

/* Reloads the snapshot, for up to catch_up_ms until the ledger shows the
 * end the stream showed (0: once). 1 terminal, 0 not, -1 error. */
static int reload_terminal(struct call *c, const char *run_id, struct run *r, int64_t catch_up_ms)
{
    int64_t until = clock_mono_ms() + catch_up_ms;
    for (;;) {
        run_clear(r);
        if (store_run_get(c->st, run_id, r) != 0)
            return -1;
        if (run_status_terminal(r->status) || clock_mono_ms() >= until)
            return run_status_terminal(r->status) ? 1 : 0;
        clock_sleep_ms(10);
    }
}

int api_wait_terminal(struct call *c, struct run *r, int64_t timeout_ms)
{
    if (call_bus(c) == NULL)
        return run_status_terminal(r->status) ? 1 : -1;
    /* The ledger has an end before the stream does: a waiter is answered
     * once run_finished is there to read too (or the stream has expired). */
    char last_id[EVENT_ID_SIZE], last_name[EVENT_NAME_SIZE];
    int last = bus_last(c->bus, r->id, last_id, last_name);
    if (run_status_terminal(r->status) && (last != 0 || event_is_terminal(last_name)))
        return 1;
    char run_id[ID_SIZE];
    snprintf(run_id, sizeof run_id, "%s", r->id);
    struct seen s = {"0-0", 0};
    if (r->last_event_id[0] != '\0')
        snprintf(s.last, sizeof s.last, "%s", r->last_event_id);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (!s.finished) {
        int64_t left = deadline - clock_mono_ms();
        /* The timeout passed with no end in the stream: answer now with
         * the snapshot as it is (an end that raced in still counts). */
        if (left <= 0)
            return reload_terminal(c, run_id, r, 0);
        int block = left < WAIT_SLICE_MS ? (int)left : WAIT_SLICE_MS;
        int n = bus_read(c->bus, run_id, s.last, 100, block > 0 ? block : 1, note_entry, &s);
        if (n < 0)
            return -1;
        /* A stream gone under a waiter: its run was deleted (rolled back). */
        if (n == 0 && bus_last(c->bus, run_id, last_id, last_name) == 1)
            return reload_terminal(c, run_id, r, 0);
    }
    return reload_terminal(c, run_id, r, LEDGER_CATCH_UP_MS);
}

/* 1 once the run is gone from the ledger, within within_ms; else 0. */
static int gone_within(struct call *c, const char *run_id, int64_t within_ms)
{
    int64_t until = clock_mono_ms() + within_ms;
    for (;;) {
        struct run r;
        memset(&r, 0, sizeof r); /* a run not found leaves it as it was */
        int got = store_run_get(c->st, run_id, &r);
        run_clear(&r);
        if (got == 1 || clock_mono_ms() >= until)
            return got == 1;
        clock_sleep_ms(10);
    }
}

static int reply_run(struct call *c, int status, const struct run *r)
{
    return reply_json(c->req, status, runs_to_json(r, c->req->cfg, c->req->base, c->secret, clock_now_ms()), NULL);
}

static int read_timeout(struct call *c, long *secs)
{
    if (request_query_int(c->req, "timeout", 0, WAIT_MAX_S, WAIT_DEFAULT_S, secs) == 0)
        return 0;
    reply_problem(c->req, 400, "invalid_parameter", "timeout: must be a whole number of seconds from 0 to %d",
                  WAIT_MAX_S);
    return -1;
}

int api_wait(struct call *c)
{
    long secs;
    struct run r;
    if (read_timeout(c, &secs) != 0 || call_owned_run(c, &r) != 0)
        return -1;
    int w = api_wait_terminal(c, &r, secs * 1000);
    int rc = w < 0 ? reply_problem(c->req, 503, "unavailable", "the run cannot be watched now")
                   : reply_run(c, w == 1 ? 200 : 202, &r);
    run_clear(&r);
    return rc;
}

/* A cancel body is {reason?, discard?}: 0, or -1 after answering 422 for
 * the first field that is wrong or unknown. */
static int check_cancel_body(struct request *req, json_t *body)
{
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_field", "/: must be an object"), -1;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "reason") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) > CANCEL_REASON_MAX)
                return reply_problem(req, 422, "invalid_field",
                                     "/reason: must be a string of 1 to %d bytes", CANCEL_REASON_MAX), -1;
        } else if (strcmp(k, "discard") == 0) {
            if (!json_is_boolean(v))
                return reply_problem(req, 422, "invalid_field", "/discard: must be true or false"), -1;
        } else {
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
        }
    }
    return 0;
}

/* The cancel's optional body: *why is NULL for none, else a new
 * {reason, discard?} (reason "requested" when not given). 0, or -1 after
 * answering. */
static int read_cancel_body(struct call *c, json_t **why)
{
    *why = NULL;
    if (c->req->content_length <= 0)
        return 0;
    json_t *body;
    if (call_json_body(c, &body) != 0)
        return -1;
    int rc = check_cancel_body(c->req, body);
    if (rc == 0) {
        json_t *reason = json_object_get(body, "reason");
        json_t *discard = json_object_get(body, "discard");
        *why = json_pack("{s:s}", "reason", reason ? json_string_value(reason) : "requested");
        if (discard != NULL)
            json_object_set(*why, "discard", discard);
    }
    json_decref(body);
    return rc;
}

/* A run's traces everywhere: its ledger row (its archive and idempotency
 * keys go with it) and its keys in Redis. 0, or -1. */
static int delete_run(struct call *c, const char *run_id)
{
    /* Redis first: a ledger row left by a failure still serves its events
     * from the archive, and the delete can be asked again. */
    return call_bus(c) == NULL || bus_delete_run(c->bus, run_id) != 0 ||
           store_run_delete(c->st, run_id) != 0 ? -1 : 0;
}

int api_delete_run(struct call *c)
{
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    int ended = run_status_terminal(r.status);
    char id[ID_SIZE];
    snprintf(id, sizeof id, "%s", r.id);
    run_clear(&r);
    if (!ended)
        return reply_problem(c->req, 409, "run_active",
                             "the run has not ended; cancel it with action=rollback to delete it");
    if (delete_run(c, id) != 0)
        return reply_problem(c->req, 503, "unavailable", "the run could not be deleted");
    return reply_empty(c->req, 204, NULL);
}

/* action=interrupt (the default: cancel) or rollback (cancel, then
 * delete): 0 with rollback set, or -1 after answering 400. */
static int read_action(struct call *c, int *rollback)
{
    char action[16];
    int q = request_query(c->req, "action", action, sizeof action);
    *rollback = q == 0 && strcmp(action, "rollback") == 0;
    if (q < 0 || (q == 0 && !*rollback && strcmp(action, "interrupt") != 0))
        return reply_problem(c->req, 400, "invalid_parameter", "action: interrupt or rollback"), -1;
    return 0;
}

int api_cancel(struct call *c)
{
    long wait_flag, secs;
    int rollback;
    if (request_query_int(c->req, "wait", 0, 1, 0, &wait_flag) != 0)
        return reply_problem(c->req, 400, "invalid_parameter", "wait: must be 0 or 1");
    if (read_timeout(c, &secs) != 0 || read_action(c, &rollback) != 0)
        return -1;
    json_t *why;
    if (read_cancel_body(c, &why) != 0)
        return -1;
    struct run r;
    if (call_owned_run(c, &r) != 0) {
        json_decref(why);
        return -1;
    }
    struct runs_ctx rc = {.cfg = c->req->cfg, .st = c->st, .bus = call_bus(c)};
    /* A rollback marks the run first: its end, however it comes, deletes it. */
    int marked = !rollback || run_status_terminal(r.status) || store_run_mark_delete(c->st, r.id) == 0;
    enum cancel_result res = run_status_terminal(r.status) ? CANCEL_TERMINAL
                           : rc.bus && marked ? runs_cancel(&rc, r.id, why) : CANCEL_ERROR;
    json_decref(why);
    /* Rolling back a run that has ended is deleting it. */
    if (res == CANCEL_TERMINAL && rollback) {
        int gone = delete_run(c, r.id);
        run_clear(&r);
        return gone == 0 ? reply_empty(c->req, 204, NULL)
                         : reply_problem(c->req, 503, "unavailable", "the run could not be deleted");
    }
    if (res == CANCEL_TERMINAL) {
        run_clear(&r);
        return reply_problem(c->req, 409, "run_terminal", "the run has already ended");
    }
    if (res == CANCEL_ERROR) {
        run_clear(&r);
        return reply_problem(c->req, 503, "unavailable", "the cancellation could not be recorded");
    }
    char run_id[ID_SIZE];
    snprintf(run_id, sizeof run_id, "%s", r.id);
    run_clear(&r);
    int got = store_run_get(c->st, run_id, &r);
    if (got == 1 && rollback) /* cancelled while queued: gone already */
        return reply_empty(c->req, 204, NULL);
    if (got != 0)
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    int status = 202;
    if (wait_flag) {
        int w = api_wait_terminal(c, &r, secs * 1000);
        /* A rollback waited for is answered once the run is gone. */
        if (rollback && w != 0 && gone_within(c, run_id, LEDGER_CATCH_UP_MS)) {
            run_clear(&r);
            return reply_empty(c->req, 204, NULL);
        }
        if (w < 0) {
            run_clear(&r);
            return reply_problem(c->req, 503, "unavailable", "the run cannot be watched now");
        }
        status = w == 1 ? 200 : 202;
    }
    int ret = reply_run(c, status, &r);
    run_clear(&r);
    return ret;
}

/* Checks a resume body against what the job asked for; answers and
 * returns -1 on the first problem. */
static int check_resume(struct call *c, const json_t *body, const struct run *r)
{
    struct request *req = c->req;
    const char *k;
    json_t *v;
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    json_object_foreach((json_t *)body, k, v)
        if (strcmp(k, "input") != 0)
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
    json_t *input = json_object_get(body, "input");
    if (input == NULL)
        return reply_problem(req, 422, "invalid_field", "/input: is required"), -1;
    if (r->status != RUN_INPUT_REQUIRED)
        return reply_problem(req, 409, "not_waiting_for_input",
                             "the run is %s, not waiting for input", run_status_name(r->status)), -1;
    char why[SCHEMA_ERR_SIZE];
    json_t *schema = json_object_get(r->pending_input, "schema");
    if (schema != NULL && schema_validate(schema, input, "/input", why, sizeof why) != 0)
        return reply_problem(req, 422, "invalid_input", "%s", why), -1;
    return 0;
}

int api_resume(struct call *c)
{
    json_t *body;
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    if (call_json_body(c, &body) != 0) {
        run_clear(&r);
        return -1;
    }
    int rc = check_resume(c, body, &r);
    if (rc == 0 && call_bus(c) == NULL) {
        reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable");
        rc = -1;
    }
    if (rc == 0) {
        struct runs_ctx ctx = {.cfg = c->req->cfg, .st = c->st, .bus = c->bus};
        enum resume_result res = runs_resume(&ctx, &r, json_object_get(body, "input"));
        if (res == RESUME_NOT_WAITING)
            reply_problem(c->req, 409, "not_waiting_for_input", "the run was resumed already");
        else if (res == RESUME_ERROR)
            reply_problem(c->req, 503, "unavailable", "the input could not be handed over");
        rc = res == RESUMED ? 0 : -1;
    }
    if (rc == 0) {
        char run_id[ID_SIZE];
        snprintf(run_id, sizeof run_id, "%s", r.id);
        run_clear(&r);
        rc = store_run_get(c->st, run_id, &r) == 0
            ? reply_run(c, 202, &r)
            : reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    }
    json_decref(body);
    run_clear(&r);
    return rc;
}
