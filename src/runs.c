/* The run lifecycle. Order matters for exactly-once: the event is written
 * to Redis first, then the ledger; a crash between the two leaves the
 * stream ahead of the ledger, which recovery reconciles from the stream. */
#include "runs.h"
#include "clock.h"

#include <stdio.h>
#include <unistd.h>
#include <string.h>

static const char *const terminal[] = {"succeeded", "failed", "cancelled", "timed_out"};

int runs_status_terminal(const char *status)
{
    for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
        if (strcmp(status, terminal[i]) == 0)
            return 1;
    return 0;
}

/* Appends exactly once. text is the event's JSON, encoded once by the
 * caller for Redis and the archive alike. After a broken connection the
 * entry may or may not have landed; the write token tells which, so a
 * retry never doubles an event. */
static int append(struct runs_ctx *rc, const char *run_id, const char *name,
                  const char *text, char out_id[EVENT_ID_SIZE])
{
    char token[ID_SIZE];
    crypto_new_id(token);
    int r = bus_append(rc->bus, run_id, name, text, token, rc->cfg->stream_maxlen, out_id);
    while (r != 0) {
        if (rc->reconnect == NULL || rc->reconnect(rc) != 0)
            break;
        int found = bus_find_write(rc->bus, run_id, token, out_id);
        if (found == 1)
            r = 0;
        else if (found == 0)
            r = bus_append(rc->bus, run_id, name, text, token, rc->cfg->stream_maxlen, out_id);
    }
    return r;
}

int runs_emit(struct runs_ctx *rc, const char *run_id, const char *name,
              json_t *data, char out_id[EVENT_ID_SIZE])
{
    char *text = json_dumps(data, JSON_COMPACT);
    int r = text != NULL && append(rc, run_id, name, text, out_id) == 0 &&
            store_run_event(rc->st, run_id, out_id, name, text, clock_now_ms()) == 0;
    free(text);
    return r ? 0 : -1;
}

static int collect_id(void *ctx, struct run *r)
{
    json_array_append_new(ctx, json_string(r->id));
    return 0;
}

/* interrupt and rollback: every earlier active run of the thread is
 * cancelled (and, for rollback, deleted once it has ended). The new run
 * stays parked until the last of them has ended. */
static void interrupt_thread(struct runs_ctx *rc, const struct run *r, int rollback)
{
    struct run_filter f = {.owner = r->owner, .thread_id = r->thread_id, .active = 1,
                           .before_seq = r->seq, .limit = 10000};
    json_t *ids = json_array();
    if (store_run_list(rc->st, &f, collect_id, ids) == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
            if (rollback)
                store_run_mark_delete(rc->st, json_string_value(id));
            runs_cancel(rc, json_string_value(id));
        }
    }
    json_decref(ids);
}

/* Puts a run on the queue, waiting for Redis as long as rc allows. */
static int enqueue(struct runs_ctx *rc, const char *run_id)
{
    while (bus_enqueue(rc->bus, run_id) != 0)
        if (rc->reconnect == NULL || rc->reconnect(rc) != 0)
            return -1;
    return 0;
}

/* After a run has ended: a rolled-back run goes with its events, and the
 * next parked run of its thread, if any, may start. */
static void after_finish(struct runs_ctx *rc, const char *run_id)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return;
    if (r.delete_on_finish && store_run_delete(rc->st, r.id) == 0)
        bus_delete_run(rc->bus, r.id);
    char next[ID_SIZE];
    if (r.thread_id[0] != '\0' && store_thread_release(rc->st, r.owner, r.thread_id, next) == 1)
        enqueue(rc, next);
    run_clear(&r);
}

enum create_result runs_create(struct runs_ctx *rc, struct run *r,
                               const struct create_opts *o, struct run *existing)
{
    crypto_new_id(r->id);
    snprintf(r->status, sizeof r->status, "queued");
    r->created_at = r->updated_at = clock_now_ms();
    if (r->metadata == NULL)
        r->metadata = json_object();
    enum create_result res = store_run_create(rc->st, r, o, existing);
    if (res != CREATE_NEW)
        return res;
    char id[EVENT_ID_SIZE];
    json_t *data = json_pack("{s:s, s:s}", "status", "queued", "type", r->type);
    if (r->parked)
        json_object_set_new(data, "waiting_for_thread", json_true());
    int ok = runs_emit(rc, r->id, "run_queued", data, id) == 0 &&
             (r->parked || bus_enqueue(rc->bus, r->id) == 0);
    json_decref(data);
    if (!ok) {
        store_run_delete(rc->st, r->id);
        return CREATE_ERROR;
    }
    snprintf(r->last_event_id, sizeof r->last_event_id, "%s", id);
    if (r->parked && (o->strategy == MT_INTERRUPT || o->strategy == MT_ROLLBACK))
        interrupt_thread(rc, r, o->strategy == MT_ROLLBACK);
    return CREATE_NEW;
}

const char *runs_host(void)
{
    static char host[256];
    if (host[0] == '\0' && gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    return host;
}

int runs_start(struct runs_ctx *rc, const char *run_id, const char *entry)
{
    int64_t now = clock_now_ms();
    int r = store_run_claim(rc->st, run_id, now, now + rc->cfg->lease_ms, runs_host(), entry);
    if (r != 0)
        return r;
    char id[EVENT_ID_SIZE];
    json_t *data = json_pack("{s:s}", "status", "running");
    r = runs_emit(rc, run_id, "run_started", data, id);
    json_decref(data);
    return r;
}

int runs_finish(struct runs_ctx *rc, const char *run_id, const char *status,
                json_t *result, json_t *error)
{
    json_t *data = json_pack("{s:s}", "status", status);
    if (error != NULL)
        json_object_set(data, "error", error);
    else
        json_object_set(data, "result", result ? result : json_null());
    char id[EVENT_ID_SIZE];
    char *text = json_dumps(data, JSON_COMPACT);
    int r = text != NULL && append(rc, run_id, "run_finished", text, id) == 0 &&
            store_run_finish(rc->st, run_id, status, result, error, id, text, clock_now_ms()) == 0;
    free(text);
    json_decref(data);
    if (!r)
        return -1;
    /* The archive has every event now: Redis keeps them for retention_s. */
    bus_expire_run(rc->bus, run_id, rc->cfg->retention_s);
    after_finish(rc, run_id);
    return 0;
}

void runs_note_progress(struct runs_ctx *rc, const char *run_id, const char *name,
                        const json_t *data)
{
    json_t *cur = json_object_get(data, "current");
    json_t *tot = json_object_get(data, "total");
    if (strcmp(name, "progress") == 0 && json_is_integer(cur))
        store_run_progress(rc->st, run_id, json_integer_value(cur),
                           json_is_integer(tot) ? json_integer_value(tot) : 0, clock_now_ms());
}

json_t *runs_error(const char *code, const char *message)
{
    return json_pack("{s:s, s:s}", "code", code, "message", message);
}

enum cancel_result runs_cancel(struct runs_ctx *rc, const char *run_id)
{
    int64_t now = clock_now_ms();
    char id[EVENT_ID_SIZE];
    int r = store_run_cancel_queued(rc->st, run_id, now);
    if (r < 0)
        return CANCEL_ERROR;
    json_t *data = json_pack("{s:s}", "reason", "requested");
    enum cancel_result res = CANCEL_ERROR;
    if (r == 0) {
        json_t *err = runs_error("cancelled", "the run was cancelled before it started");
        if (runs_emit(rc, run_id, "cancel_requested", data, id) == 0 &&
            runs_finish(rc, run_id, "cancelled", NULL, err) == 0)
            res = CANCEL_ENDED;
        json_decref(err);
    } else {
        struct run cur;
        if (store_run_get(rc->st, run_id, &cur) == 0) {
            if (runs_status_terminal(cur.status))
                res = CANCEL_TERMINAL;
            else if ((r = store_run_cancel_requested(rc->st, run_id, now)) >= 0 &&
                     (r == 1 || runs_emit(rc, run_id, "cancel_requested", data, id) == 0) &&
                     bus_control_push(rc->bus, run_id, "{\"cancel\":true}") == 0)
                res = CANCEL_ASKED;
            run_clear(&cur);
        }
    }
    json_decref(data);
    return res;
}

/* "?exp=..&sig=.." for a run's events link. */
static int events_query(const char *run_id, const char *secret, int64_t exp, char *out,
                        size_t size)
{
    char sig[SIG_SIZE];
    if (crypto_sign_link(secret, run_id, exp, sig) != 0)
        return -1;
    int n = snprintf(out, size, "?exp=%lld&sig=%s", (long long)exp, sig);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static json_t *time_or_null(int64_t ms)
{
    char buf[CLOCK_RFC3339_SIZE];
    if (ms == 0 || clock_rfc3339(ms, buf, sizeof buf) != 0)
        return json_null();
    return json_string(buf);
}

static json_t *or_null(json_t *j)
{
    return j ? json_incref(j) : json_null();
}

json_t *runs_to_json(const struct run *r, const struct config *cfg,
                     const char *secret, int64_t now_ms)
{
    char self[256], events[512], cancel[300], query[128] = "";
    snprintf(self, sizeof self, "%s/v1/runs/%s", cfg->base_path, r->id);
    snprintf(cancel, sizeof cancel, "%s/cancel", self);
    if (secret != NULL)
        events_query(r->id, secret, now_ms / 1000 + cfg->link_ttl_s, query,
                          sizeof query);
    snprintf(events, sizeof events, "%s/events%s", self, query);
    json_t *progress = r->has_progress
        ? json_pack("{s:I, s:I}", "current", (json_int_t)r->progress_current,
                    "total", (json_int_t)r->progress_total)
        : json_null();
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:i, s:{s:s, s:s, s:s}}",
        "id", r->id, "type", r->type, "status", r->status,
        "thread_id", r->thread_id[0] ? json_string(r->thread_id) : json_null(),
        "owner", r->owner, "input", or_null(r->input),
        "result", or_null(r->result), "error", or_null(r->error),
        "pending_input", or_null(r->pending_input), "progress", progress,
        "steps", r->steps ? json_incref(r->steps) : json_array(),
        "metadata", r->metadata ? json_incref(r->metadata) : json_object(),
        "created_at", time_or_null(r->created_at),
        "started_at", time_or_null(r->started_at),
        "finished_at", time_or_null(r->finished_at),
        "updated_at", time_or_null(r->updated_at),
        "last_event_id", r->last_event_id[0] ? json_string(r->last_event_id) : json_null(),
        "attempt", r->attempt,
        "links", "self", self, "events", events, "cancel", cancel);
}
