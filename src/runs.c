/* The run lifecycle: the table of legal transitions, one function per
 * transition, and the projections events keep in the snapshot.
 *
 * Order matters for exactly-once. An event is written to Redis first,
 * then archived with the ledger; a crash between the two leaves the stream
 * ahead, which settling reconciles. Transitions change the ledger first,
 * guarded by the statuses they are legal from, and write their event only
 * when they won: a claim against a cancel, a finish against a requeue of a
 * runner that seemed dead, a resume against a resume, and an input
 * request, whose event must not reach a client before the ledger accepts
 * the resume it asks for. A winner that dies before writing its end is
 * stood in for by settling, from the ledger; Redis keeps that to one end
 * (bus_append). */
#include "runs.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#define BIT STATUS_BIT

/* Every status change, from where to where. Each is ledger-first: the
 * ledger changes, then the transition's events are written to the stream
 * (the ones named after each row). */
static const struct transition transitions[RUN_OPS] = {
    [OP_CREATE] = {"create", 0, BIT(RUN_QUEUED)},                         /* run_queued */
    [OP_CLAIM] = {"claim", BIT(RUN_QUEUED), BIT(RUN_RUNNING)},           /* run_started */
    [OP_INPUT_REQUEST] = {"input request", BIT(RUN_RUNNING), BIT(RUN_INPUT_REQUIRED)}, /* input_required */
    /* input_received follows when the job has the input on its stdin. */
    [OP_RESUME] = {"resume", BIT(RUN_INPUT_REQUIRED), BIT(RUN_RUNNING)},
    [OP_RESUME_UNDO] = {"resume undo", BIT(RUN_RUNNING), BIT(RUN_INPUT_REQUIRED)},
    [OP_REQUEUE] = {"requeue", STATUS_CLAIMED, BIT(RUN_QUEUED)},         /* run_queued */
    [OP_CANCEL_QUEUED] = {"cancel", BIT(RUN_QUEUED), BIT(RUN_CANCELLED)}, /* cancel_requested run_finished */
    /* A run that started can no longer expire. */
    [OP_FINISH] = {"finish", STATUS_CLAIMED, STATUS_TERMINAL & ~BIT(RUN_EXPIRED)}, /* run_finished */
    [OP_REPAIR] = {"repair", STATUS_CLAIMED, STATUS_TERMINAL & ~BIT(RUN_EXPIRED)},
    [OP_EXPIRE] = {"expire", BIT(RUN_QUEUED), BIT(RUN_EXPIRED)},         /* run_expired run_finished */
};

const struct transition *runs_transition(enum run_op op)
{
    return &transitions[op];
}

int runs_transition_legal(enum run_status from, enum run_status to)
{
    for (int op = 0; op < RUN_OPS; op++)
        if ((transitions[op].from & BIT(from)) && (transitions[op].to & BIT(to)))
            return 1;
    return 0;
}

/* The store's view of a transition to one status. A status the
 * transition cannot reach leaves no status to start from, so nothing
 * matches and the store changes nothing. */
static struct status_change change(enum run_op op, enum run_status to)
{
    const struct transition *t = &transitions[op];
    return (struct status_change){(t->to & BIT(to)) ? t->from : 0, to};
}

/* Appends exactly once: 0, or 1 when the stream has ended already (see
 * bus_append), -1. text is the event's JSON, encoded once by the caller
 * for Redis and the archive alike. After a broken connection the entry
 * may or may not have landed; the write token tells which, so a retry
 * never doubles an event. */

/* An archived page being put back into a stream: owned copies. */
struct restore_page {
    size_t n;
    char *ids[BUS_RESTORE_MAX], *names[BUS_RESTORE_MAX], *datas[BUS_RESTORE_MAX];
};

static int page_add(void *ctx, const char *id, const char *name, const char *data)
{
    struct restore_page *p = ctx;
    p->ids[p->n] = strdup(id);
    p->names[p->n] = strdup(name);
    p->datas[p->n] = strdup(data);
    p->n++;
    return p->n == BUS_RESTORE_MAX;
}

static void page_free(struct restore_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->ids[i]), free(p->names[i]), free(p->datas[i]);
    p->n = 0;
}

int runs_restore(struct runs_ctx *rc, const char *run_id, const char *top)
{
    struct event_id after;
    if (event_id_parse(top, &after) != 0)
        return -1;
    int total = 0, got;
    do {
        struct restore_page p = {0};
        got = store_events_after(rc->st, run_id, &after, NULL, BUS_RESTORE_MAX, page_add, &p);
        int ok = 1;
        for (size_t i = 0; i < p.n; i++)
            ok = ok && p.ids[i] && p.names[i] && p.datas[i];
        int put = got < 0 || !ok ? -1
                  : bus_restore(rc->bus, run_id, rc->cfg->stream_maxlen, p.n,
                                (const char *const *)p.ids, (const char *const *)p.names,
                                (const char *const *)p.datas);
        if (put >= 0 && p.n > 0)
            event_id_parse(p.ids[p.n - 1], &after);
        page_free(&p);
        if (put < 0)
            return -1;
        total += put;
    } while (got == BUS_RESTORE_MAX);
    if (total > 0)
        log_run(LOG_WARN, run_id, "redis had lost its last %d events; put back from the ledger",
                total);
    return total;
}

/* An event appended and not yet archived (runs_ctx.defer_archive). */
struct pending_event {
    char run_id[ID_SIZE];
    char id[EVENT_ID_SIZE];
    char *name;         /* and its data after its NUL: one allocation */
    int progress;
    int64_t current, total;
};

/* The most events kept back: a round that emits more archives them now. */
#define PENDING_MAX 1024

/* Keeps ev back for runs_flush: 0, or -1 (nothing kept). */
static int keep_back(struct runs_ctx *rc, const struct archived_event *ev)
{
    if (rc->pending == NULL && (rc->pending = calloc(PENDING_MAX, sizeof *rc->pending)) == NULL)
        return -1;
    if (rc->npending == PENDING_MAX)
        runs_flush(rc);
    size_t nl = strlen(ev->name) + 1, dl = strlen(ev->data) + 1;
    struct pending_event *p = &rc->pending[rc->npending];
    if ((p->name = malloc(nl + dl)) == NULL)
        return -1;
    memcpy(p->name, ev->name, nl);
    memcpy(p->name + nl, ev->data, dl);
    snprintf(p->run_id, sizeof p->run_id, "%s", ev->run_id);
    snprintf(p->id, sizeof p->id, "%s", ev->id);
    p->progress = ev->progress;
    p->current = ev->current;
    p->total = ev->total;
    rc->npending++;
    return 0;
}

int runs_flush(struct runs_ctx *rc)
{
    size_t n = rc->npending;
    if (n == 0)
        return 0;
    struct archived_event ev[PENDING_MAX];
    for (size_t i = 0; i < n; i++) {
        const struct pending_event *p = &rc->pending[i];
        ev[i] = (struct archived_event){.run_id = p->run_id, .id = p->id, .name = p->name,
                                        .data = p->name + strlen(p->name) + 1,
                                        .progress = p->progress, .current = p->current,
                                        .total = p->total};
    }
    int64_t now = clock_now_ms();
    size_t lost = 0, first = 0;
    if (store_run_events(rc->st, ev, n, now) != 0)
        for (size_t i = 0; i < n; i++)
            if (store_run_events(rc->st, &ev[i], 1, now) != 0 && lost++ == 0)
                first = i;
    if (lost > 0)
        log_warn("%zu events (run %s's %s first) were not archived; they are when their runs "
                 "settle", lost, ev[first].run_id, ev[first].id);
    for (size_t i = 0; i < n; i++)
        free(rc->pending[i].name);
    rc->npending = 0;
    return lost > 0 ? -1 : 0;
}

/* runs_flush when something of the run is kept back. */
static int flush_run(struct runs_ctx *rc, const char *run_id)
{
    for (size_t i = 0; i < rc->npending; i++)
        if (strcmp(rc->pending[i].run_id, run_id) == 0)
            return runs_flush(rc);
    return 0;
}

/* The newest id the run is known to have, below which no new id may go:
 * what this context last wrote to it over the same connection (no other
 * Redis process can have come between), else the ledger's. A ledger that
 * cannot say leaves none: the write goes on as it did before floors. */
static void floor_of(struct runs_ctx *rc, const char *run_id, char out[EVENT_ID_SIZE])
{
    out[0] = '\0';
    if (rc->known_conn != 0 && rc->known_conn == bus_serial(rc->bus) &&
        strcmp(rc->known_run, run_id) == 0)
        snprintf(out, EVENT_ID_SIZE, "%s", rc->known_id);
    /* (What this context kept back of the run is the ledger's first: a
     * Redis that came back without it is then repaired, not written past.) */
    else if (rc->st != NULL && (flush_run(rc, run_id) != 0 ||
                                store_run_last_event(rc->st, run_id, out) != 0))
        out[0] = '\0';
}

static void known(struct runs_ctx *rc, const char *run_id, const char *id)
{
    rc->known_conn = bus_serial(rc->bus);
    snprintf(rc->known_run, sizeof rc->known_run, "%s", run_id);
    snprintf(rc->known_id, sizeof rc->known_id, "%s", id);
}

void runs_known(struct runs_ctx *rc, const char *run_id, const char *last_id)
{
    known(rc, run_id, last_id);
}

/* One append; a stream that lost its tail in Redis (a restart from an AOF
 * that lacks the last second, a failover to a replica that lacked the
 * last writes) gets it back from the archive first, ids and all. */
static int append_once(struct runs_ctx *rc, const char *run_id, const char *name,
                       const char *text, const char *token, const char *wanted,
                       char out_id[EVENT_ID_SIZE])
{
    char floor[EVENT_ID_SIZE];
    floor_of(rc, run_id, floor);
    for (int tries = 0;; tries++) {
        int r = bus_append(rc->bus, run_id, name, text, token, rc->cfg->stream_maxlen, floor,
                           wanted, clock_now_ms(), out_id);
        if (r != BUS_APPEND_BEHIND)
            return r;
        /* Twice behind means the archive does not reach the floor: the
         * floor was read before the write it names was archived. */
        if (tries >= 2 || runs_restore(rc, run_id, out_id) < 0)
            return -1;
    }
}

/* An appended event is archived, and so becomes the floor of every other
 * writer, only once a replica holds it (when Redis has one): else its
 * master could die with it, after a failover another writer would append
 * past it, and the archive would hold an event the stream cannot. A write
 * whose master failed before a replica answered is in doubt, and done
 * again under the id it had. */
static int replicated(struct runs_ctx *rc, int r, const char *id, char wanted[EVENT_ID_SIZE])
{
    if (r != BUS_APPEND_OK || bus_replicated(rc->bus) >= 0)
        return r;
    snprintf(wanted, EVENT_ID_SIZE, "%s", id);
    return -1;
}

static int append(struct runs_ctx *rc, const char *run_id, const char *name,
                  const char *text, char out_id[EVENT_ID_SIZE])
{
    char token[ID_SIZE], wanted[EVENT_ID_SIZE] = "";
    crypto_new_id(token);
    int r = replicated(rc, append_once(rc, run_id, name, text, token, wanted, out_id), out_id,
                       wanted);
    while (r < 0) {
        if (rc->reconnect == NULL || rc->reconnect(rc) != 0)
            break;
        int found = bus_find_write(rc->bus, run_id, token, out_id);
        if (found == 1)
            r = replicated(rc, 0, out_id, wanted);
        else if (found == 0)
            r = replicated(rc, append_once(rc, run_id, name, text, token, wanted, out_id), out_id,
                           wanted);
    }
    if (r == 0) {
        known(rc, run_id, out_id);
        metrics_count("opstream_events_appended_total", "", 1);
    }
    return r;
}

#define STEP_NAME_MAX 128
#define STEP_STATUS_MAX 32
#define STEPS_MAX 1000

static json_t *time_now(void)
{
    char ts[CLOCK_RFC3339_SIZE];
    clock_rfc3339(clock_now_ms(), ts, sizeof ts);
    return json_string(ts);
}

struct step_event {
    const char *name;   /* step_started or step_finished */
    const json_t *data;
};

/* step_started appends a running step; step_finished closes the latest
 * running step of that name (or records one that was never started).
 * Steps use the run statuses' names. Events whose data has no usable name
 * still stream, but leave steps be: 1 when steps changed. */
static int edit_steps(void *ctx, json_t *steps)
{
    const struct step_event *ev = ctx;
    const char *running = run_status_name(RUN_RUNNING);
    json_t *name = json_object_get(ev->data, "name");
    json_t *msg = json_object_get(ev->data, "message");
    json_t *status = json_object_get(ev->data, "status");
    int finished = strcmp(ev->name, "step_finished") == 0;
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > STEP_NAME_MAX || json_array_size(steps) >= STEPS_MAX)
        return 0;
    json_t *step = NULL;
    for (size_t i = json_array_size(steps); finished && i-- > 0 && step == NULL;) {
        json_t *s = json_array_get(steps, i);
        const char *st = json_string_value(json_object_get(s, "status"));
        if (json_equal(json_object_get(s, "name"), name) && st && strcmp(st, running) == 0)
            step = s;
    }
    if (step == NULL) {
        step = json_pack("{s:O, s:s, s:n, s:n, s:n}", "name", name, "status", running,
                         "started_at", "finished_at", "message");
        if (!finished)
            json_object_set_new(step, "started_at", time_now());
        json_array_append_new(steps, step);
    }
    if (finished) {
        int told = json_is_string(status) && json_string_length(status) <= STEP_STATUS_MAX;
        json_object_set_new(step, "status", json_string(told ? json_string_value(status)
                                                             : run_status_name(RUN_SUCCEEDED)));
        json_object_set_new(step, "finished_at", time_now());
    }
    if (json_is_string(msg))
        json_object_set(step, "message", msg);
    return 1;
}

/* At the run's end, a step still running ends as the run did (status,
 * the run status's name): 1 when one did. */
static int close_steps(void *ctx, json_t *steps)
{
    const char *status = ctx;
    size_t i;
    json_t *step;
    int closed = 0;
    json_array_foreach(steps, i, step) {
        const char *st = json_string_value(json_object_get(step, "status"));
        if (st != NULL && strcmp(st, run_status_name(RUN_RUNNING)) == 0) {
            json_object_set_new(step, "status", json_string(status));
            json_object_set_new(step, "finished_at", time_now());
            closed = 1;
        }
    }
    return closed;
}

static int is_step_event(const char *name)
{
    return strcmp(name, "step_started") == 0 || strcmp(name, "step_finished") == 0;
}

/* The snapshot's projections: progress from progress events ({current,
 * total}, archived with the event itself: runs_emit), steps[] from
 * step_started and step_finished, and run_finished, which closes the
 * steps still running. Other events leave them be. */
static int project(struct runs_ctx *rc, const char *run_id, const char *event_id,
                   const char *name, const json_t *data)
{
    if (is_step_event(name)) {
        struct step_event ev = {name, data};
        return store_run_edit_steps(rc->st, run_id, event_id, edit_steps, &ev, clock_now_ms()) < 0 ? -1 : 0;
    }
    const char *status = json_string_value(json_object_get(data, "status"));
    if (event_is_terminal(name) && status != NULL)
        return store_run_edit_steps(rc->st, run_id, event_id, close_steps, (void *)status,
                                    clock_now_ms()) < 0 ? -1 : 0;
    return 0;
}

int runs_emit(struct runs_ctx *rc, const char *run_id, const char *name,
              json_t *data, char out_id[EVENT_ID_SIZE])
{
    char *text = json_dumps(data, JSON_COMPACT);
    int r = text != NULL ? append(rc, run_id, name, text, out_id) : -1;
    struct archived_event ev = {.run_id = run_id, .id = out_id, .name = name, .data = text};
    /* The commonest event: its projection goes with its archive. */
    if (r == 0 && strcmp(name, "progress") == 0) {
        json_t *cur = json_object_get(data, "current"), *tot = json_object_get(data, "total");
        ev.progress = json_is_integer(cur);
        ev.current = json_integer_value(cur);
        ev.total = json_is_integer(tot) ? json_integer_value(tot) : 0;
    }
    /* (Step events are projected under the write lock right after their
     * archive, so they are never kept back; the end's closing of steps
     * does not wait for its archive.) */
    int kept = r == 0 && rc->defer_archive && !is_step_event(name) && keep_back(rc, &ev) == 0;
    if (r == 0 && !kept && store_run_events(rc->st, &ev, 1, clock_now_ms()) != 0)
        r = -1;
    if (r == 0 && (!kept || event_is_terminal(name)) && project(rc, run_id, out_id, name, data) != 0)
        r = -1;
    free(text);
    return r;
}

/* Emits an event whose data is only {"status": status} plus what a
 * transition adds. */
static int emit_status(struct runs_ctx *rc, const char *run_id, const char *name,
                       enum run_status status, json_t *more)
{
    json_t *data = json_pack("{s:s}", "status", run_status_name(status));
    if (more != NULL)
        json_object_update(data, more);
    char id[EVENT_ID_SIZE];
    int r = runs_emit(rc, run_id, name, data, id);
    json_decref(data);
    return r;
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
    struct run_filter f = {.owner = r->owner, .thread_id = r->thread_id,
                           .statuses = STATUS_ACTIVE, .before_seq = r->seq, .limit = 10000};
    json_t *ids = json_array();
    json_t *why = json_pack("{s:s}", "reason", "interrupted by a newer run on its thread");
    if (store_run_list(rc->st, &f, collect_id, ids) == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) {
            if (rollback)
                store_run_mark_delete(rc->st, json_string_value(id));
            runs_cancel(rc, json_string_value(id), why);
        }
    }
    json_decref(ids);
    json_decref(why);
}

long long runs_queue_score(const struct run *r)
{
    /* Exact in a Redis score (a double) for any priority in range and
     * up to 10^13 runs. */
    return (long long)r->priority * 10000000000000LL - (long long)r->seq;
}

/* On the queue, or in the delayed set until its start_at; with an
 * expiry, in the expiring set too. */
static int put_on_queue(struct bus *b, const struct run *r)
{
    /* Queued again (handed back, recovered): pickable again at once. */
    if (r->started_at != 0 && bus_unpick(b, r->id) != 0)
        return -1;
    if (r->expires_at != 0 && r->started_at == 0 && bus_expiry_add(b, r->id, r->expires_at) != 0)
        return -1;
    if (r->start_at > clock_now_ms())
        return bus_delay(b, r->id, r->type, runs_queue_score(r), r->start_at);
    return bus_enqueue(b, r->id, r->type, runs_queue_score(r));
}

/* Puts a run on the queue, waiting for Redis as long as rc allows. */
static int enqueue(struct runs_ctx *rc, const char *run_id)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return -1;
    int ret = 0;
    while (put_on_queue(rc->bus, &r) != 0)
        if (rc->reconnect == NULL || rc->reconnect(rc) != 0) {
            ret = -1;
            break;
        }
    run_clear(&r);
    return ret;
}

/* A lease from now: the deadline for the next step of a run. */
static int64_t lease_from_now(const struct runs_ctx *rc)
{
    return clock_now_ms() + rc->cfg->lease_ms;
}

static int collect_entry(void *ctx, const char *id, const char *name, const char *data)
{
    json_array_append_new(ctx, json_pack("[s, s, s]", id, name, data));
    return 0;
}

#define RECONCILE_BATCH 500

/* Archives whatever Redis holds of the run that the archive lacks: an
 * event whose writer died between the two writes, or kept back
 * (runs_ctx.defer_archive). Redis is read to its end, in batches, the
 * last archived with the lease cleared when settled; 0, or -1 when
 * either could not be read or written. */
static int reconcile(struct runs_ctx *rc, const char *run_id, int settled)
{
    char cursor[EVENT_ID_SIZE] = "0-0";
    for (;;) {
        json_t *batch = json_array();
        int n = bus_read(rc->bus, run_id, cursor, RECONCILE_BATCH, 0, collect_entry, batch);
        int last = n >= 0 && n < RECONCILE_BATCH;
        int ok = n >= 0 && ((n == 0 && !(last && settled)) ||
                            store_archive_entries(rc->st, run_id, batch, clock_now_ms(),
                                                  last && settled) == 0);
        if (ok && n > 0)
            snprintf(cursor, sizeof cursor, "%s",
                     json_string_value(json_array_get(json_array_get(batch, (size_t)n - 1), 0)));
        json_decref(batch);
        if (!ok)
            return -1;
        if (last)
            return 0;
    }
}

/* run_finished's data: the status, and the result (null if none) or the
 * error. An unsuccessful end keeps the job's last result beside its error
 * (a stopped agent's partial answer). */
json_t *runs_end_data(enum run_status status, json_t *result, json_t *error)
{
    json_t *data = json_pack("{s:s}", "status", run_status_name(status));
    if (error != NULL)
        json_object_set(data, "error", error);
    if (error == NULL || result != NULL)
        json_object_set(data, "result", result ? result : json_null());
    return data;
}

/* The ledger has the run ended: its run_finished is in the stream or the
 * archive, else it is written now from the ledger (its writer died after
 * the ledger changed). */
static int end_written(struct runs_ctx *rc, const struct run *r)
{
    char id[EVENT_ID_SIZE], name[EVENT_NAME_SIZE];
    int last = bus_last(rc->bus, r->id, id, name);
    if (last < 0)
        return -1;
    if (last == 0 && event_is_terminal(name))
        return 0;
    int archived = store_archive_has(rc->st, r->id, "run_finished");
    if (archived != 0)
        return archived < 0 ? -1 : 0;
    json_t *data = runs_end_data(r->status, r->result, r->error);
    int ret = runs_emit(rc, r->id, EVENT_TERMINAL, data, id);
    json_decref(data);
    return ret < 0 ? -1 : 0; /* 1: its writer was alive after all, and first */
}

/* runs_settle of a run the ledger has ended: each step may be done
 * again, and the last (the archive completed, the lease cleared) says it
 * is done. end_known: its run_finished was just written. */
static int settle_ended(struct runs_ctx *rc, const struct run *r, int end_known)
{
    if ((!end_known && end_written(rc, r) != 0) ||
        bus_expire_run(rc->bus, r->id, rc->cfg->retention_s) != 0)
        return -1;
    if (r->thread_id[0] != '\0') {
        /* The next run is due on the queue under a lease of its own. */
        char next[ID_SIZE];
        int released = store_thread_release(rc->st, r->owner, r->thread_id,
                                            lease_from_now(rc), next);
        if (released < 0 || (released == 1 && enqueue(rc, next) != 0))
            return -1;
    }
    if (r->delete_on_finish) /* rolled back: gone, with its events */
        return store_run_delete(rc->st, r->id) == 0 ? bus_delete_run(rc->bus, r->id) : -1;
    /* Its webhook is due now; once only, however often it is settled. */
    if (r->webhook_state == WEBHOOK_PENDING &&
        bus_webhook_schedule(rc->bus, r->id, clock_now_ms()) != 0)
        return -1;
    return reconcile(rc, r->id, 1);
}

static int settle(struct runs_ctx *rc, const char *run_id, int end_known)
{
    struct run r;
    int got = store_run_get(rc->st, run_id, &r);
    if (got != 0)
        return got < 0 ? -1 : 1;
    int ret = run_status_terminal(r.status) ? settle_ended(rc, &r, end_known) : 1;
    run_clear(&r);
    return ret;
}

int runs_settle(struct runs_ctx *rc, const char *run_id)
{
    return settle(rc, run_id, 0);
}

int runs_queue_again(struct runs_ctx *rc, const char *run_id)
{
    char id[EVENT_ID_SIZE], name[EVENT_NAME_SIZE];
    int last = bus_last(rc->bus, run_id, id, name);
    if (last < 0)
        return -1;
    /* Its run_queued event was not written either (or Redis lost it). */
    if (last == 1 || strcmp(name, "run_queued") != 0) {
        json_t *data = json_pack("{s:s, s:s}", "status", run_status_name(RUN_QUEUED),
                                 "reason", "recovered");
        int r = runs_emit(rc, run_id, "run_queued", data, id);
        json_decref(data);
        if (r != 0)
            return -1;
    }
    if (enqueue(rc, run_id) != 0)
        return -1;
    return store_run_lease_clear(rc->st, run_id, STATUS_BIT(RUN_QUEUED)) < 0 ? -1 : 0;
}

/* Counts a run under its type: started, or ended with its status (the
 * ledger's change made just now, once for each run). */
static void count_type(const char *name, const char *run_type, const char *status)
{
    char type[96], labels[160];
    metrics_label(run_type, type, sizeof type);
    if (status != NULL)
        snprintf(labels, sizeof labels, "type=\"%s\",status=\"%s\"", type, status);
    else
        snprintf(labels, sizeof labels, "type=\"%s\"", type);
    metrics_count(name, labels, 1);
}

/* The same, the type read from the ledger. */
static void count_run(struct runs_ctx *rc, const char *run_id, const char *name,
                      const char *status)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return;
    count_type(name, r.type, status);
    run_clear(&r);
}

static void count_end(struct runs_ctx *rc, const char *run_id, enum run_status status)
{
    count_run(rc, run_id, "opstream_runs_ended_total", run_status_name(status));
}

enum create_result runs_create(struct runs_ctx *rc, struct run *r,
                               const struct create_opts *o, struct run *existing)
{
    crypto_new_id(r->id);
    r->status = RUN_QUEUED;
    if (r->request_id[0] == '\0')
        snprintf(r->request_id, sizeof r->request_id, "%s", log_request_id());
    /* A schedule counted from creation set the creation time already. */
    if (r->created_at == 0)
        r->created_at = clock_now_ms();
    r->updated_at = r->created_at;
    if (r->metadata == NULL)
        r->metadata = json_object();
    struct create_opts opts = *o;
    opts.lease_until = lease_from_now(rc);
    enum create_result res = store_run_create(rc->st, r, &opts, existing);
    if (res != CREATE_NEW)
        return res;
    runs_known(rc, r->id, "");
    char id[EVENT_ID_SIZE];
    json_t *data = json_pack("{s:s, s:s}", "status", run_status_name(r->status), "type", r->type);
    if (r->parked)
        json_object_set_new(data, "waiting_for_thread", json_true());
    if (r->start_at != 0)
        json_object_set_new(data, "start_at", runs_time_json(r->start_at));
    int ok = runs_emit(rc, r->id, "run_queued", data, id) == 0 &&
             (r->parked || put_on_queue(rc->bus, r) == 0);
    json_decref(data);
    if (!ok) {
        store_run_delete(rc->st, r->id);
        return CREATE_ERROR;
    }
    snprintf(r->last_event_id, sizeof r->last_event_id, "%s", id);
    count_type("opstream_runs_created_total", r->type, NULL);
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

/* How often a claim the ledger did not answer is asked after. */
#define CLAIM_RETRY_MS 200

/* A claim the ledger failed to answer (a restart, a failover) may have
 * been kept: its commit landed, its answer did not. It is tried again,
 * and a refusal then is ours when the run is running under this host and
 * queue entry. For half a lease at most: 0 claimed, 1 not ours, -1. */
static int claim(struct runs_ctx *rc, const struct status_change *ch, const char *run_id,
                 const char *entry)
{
    int64_t give_up = clock_mono_ms() + rc->cfg->lease_ms / 2;
    int failed = 0;
    for (;;) {
        int64_t now = clock_now_ms();
        int r = store_run_claim(rc->st, ch, run_id, now, now + rc->cfg->lease_ms, runs_host(), entry);
        if (r == 1 && failed)
            r = store_run_claimed(rc->st, run_id, runs_host(), entry);
        if (r >= 0 || clock_mono_ms() >= give_up)
            return r;
        failed = 1;
        clock_sleep_ms(CLAIM_RETRY_MS);
    }
}

int runs_start(struct runs_ctx *rc, const struct run *run, const char *entry)
{
    const char *run_id = run->id;
    struct status_change ch = change(OP_CLAIM, RUN_RUNNING);
    int r = claim(rc, &ch, run_id, entry);
    if (r != 0)
        return r;
    /* The claim is the ledger's: the run is ours to run, whatever befalls
     * its run_started. An append that reached Redis but not the archive
     * (the ledger gone a moment later) is archived when the run settles;
     * calling the start failed would leave a claimed run with no job
     * until its lease ran out, and end it worker_lost. */
    r = emit_status(rc, run_id, "run_started", ch.to, NULL);
    if (r < 0)
        log_run(LOG_WARN, run_id, "claimed, but its run_started was not archived; it is when "
                "the run settles");
    count_type("opstream_runs_started_total", run->type, NULL);
    return r == 1 ? 1 : 0;
}

int runs_await_input(struct runs_ctx *rc, const char *run_id, json_t *data)
{
    struct status_change ch = change(OP_INPUT_REQUEST, RUN_INPUT_REQUIRED);
    int r = store_run_await_input(rc->st, &ch, run_id, data, clock_now_ms());
    if (r != 0)
        return r;
    char id[EVENT_ID_SIZE];
    return runs_emit(rc, run_id, EVENT_INPUT_REQUIRED, data, id);
}

enum resume_result runs_resume(struct runs_ctx *rc, const struct run *r, json_t *input)
{
    int64_t now = clock_now_ms();
    struct status_change ch = change(OP_RESUME, RUN_RUNNING);
    int flip = store_run_resume(rc->st, &ch, r->id, now);
    if (flip != 0)
        return flip == 1 ? RESUME_NOT_WAITING : RESUME_ERROR;
    json_t *msg = json_pack("{s:O}", "resume", input);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    int pushed = text != NULL && bus_control_push(rc->bus, r->id, text) == 0;
    json_decref(msg);
    free(text);
    if (pushed)
        return RESUMED;
    /* Not handed over: the run gets its question back. */
    struct status_change undo = change(OP_RESUME_UNDO, RUN_INPUT_REQUIRED);
    store_run_await_input(rc->st, &undo, r->id, r->pending_input, now);
    return RESUME_ERROR;
}

int runs_requeue(struct runs_ctx *rc, const char *run_id, const char *reason, int attempt)
{
    struct status_change ch = change(OP_REQUEUE, RUN_QUEUED);
    int r = store_run_requeue(rc->st, &ch, run_id, clock_now_ms(), lease_from_now(rc));
    if (r != 0)
        return r;
    json_t *more = json_pack("{s:s}", "reason", reason);
    if (attempt > 0)
        json_object_set_new(more, "attempt", json_integer(attempt));
    r = emit_status(rc, run_id, "run_queued", ch.to, more) == 0 && enqueue(rc, run_id) == 0 ? 0 : -1;
    json_decref(more);
    return r;
}

int runs_finish(struct runs_ctx *rc, const char *run_id, enum run_status status,
                json_t *result, json_t *error)
{
    struct status_change ch = change(OP_FINISH, status);
    if (ch.from == 0)
        return -1; /* not an ending */
    int r = store_run_finish(rc->st, &ch, run_id, result, error, NULL, NULL, clock_now_ms(),
                             lease_from_now(rc));
    if (r != 0)
        return r;
    /* The ledger has the end. Should this process die before the event is
     * written, settling writes it from the ledger once the lease is out. */
    json_t *data = runs_end_data(status, result, error);
    char id[EVENT_ID_SIZE];
    int wrote = runs_emit(rc, run_id, EVENT_TERMINAL, data, id);
    if (wrote >= 0)
        settle(rc, run_id, wrote == 0);
    json_decref(data);
    count_end(rc, run_id, status);
    return 0;
}

int runs_conclude(struct runs_ctx *rc, const char *run_id, enum run_status status,
                  json_t *result, json_t *error)
{
    int r = runs_finish(rc, run_id, status, result, error);
    /* A job still running for the run stops: its worker writes nothing
     * more (a lost message is found on its next write, or by its lease). */
    if (r == 0 && bus_control_push(rc->bus, run_id, "{\"ended\":true}") != 0)
        log_run(LOG_WARN, run_id, "ended by its producer, but its job could not be told");
    return r;
}

int runs_repair(struct runs_ctx *rc, const char *run_id)
{
    char id[EVENT_ID_SIZE], name[EVENT_NAME_SIZE], *text = NULL;
    int last = bus_last(rc->bus, run_id, id, name);
    if (last < 0)
        return -1;
    if (last == 1 || !event_is_terminal(name))
        return 1;
    if (bus_entry(rc->bus, run_id, id, &text) != 0)
        return -1;
    json_t *d = json_loads(text, 0, NULL);
    enum run_status status = RUN_FAILED;
    const char *told = json_string_value(json_object_get(d, "status"));
    if (told != NULL)
        run_status_parse(told, &status);
    struct status_change ch = change(OP_REPAIR, status);
    int r = store_run_finish(rc->st, &ch, run_id, json_object_get(d, "result"),
                             json_object_get(d, "error"), id, text, clock_now_ms(),
                             lease_from_now(rc));
    json_decref(d);
    free(text);
    if (r == 0) {
        runs_settle(rc, run_id);
        count_end(rc, run_id, status);
    }
    return r < 0 ? -1 : 0;
}

json_t *runs_error(const char *code, const char *message)
{
    return json_pack("{s:s, s:s}", "code", code, "message", message);
}

/* cancel_requested's data: why, or the reason given when none is. */
static json_t *cancel_why(const json_t *why)
{
    return why != NULL ? json_deep_copy(why) : json_pack("{s:s}", "reason", "requested");
}

json_t *runs_cancel_error(const char *message, const json_t *why)
{
    json_t *e = runs_error(run_status_name(RUN_CANCELLED), message);
    json_t *w = cancel_why(why);
    json_object_update_missing(e, w);
    json_decref(w);
    return e;
}

/* Cancel of a queued run: the ledger first, against a worker's claim;
 * then both events, and what follows every end. */
static enum cancel_result cancel_queued(struct runs_ctx *rc, const char *run_id,
                                        const json_t *why, int *not_queued)
{
    struct status_change ch = change(OP_CANCEL_QUEUED, RUN_CANCELLED);
    json_t *err = runs_cancel_error("the run was cancelled before it started", why);
    int r = store_run_cancel_queued(rc->st, &ch, run_id, err, clock_now_ms(), lease_from_now(rc));
    enum cancel_result res = CANCEL_ERROR;
    *not_queued = r == 1;
    if (r == 0) {
        json_t *reason = cancel_why(why);
        json_t *end = runs_end_data(ch.to, NULL, err);
        char id[EVENT_ID_SIZE];
        /* 1: a recovery wrote the end for us already (we were slow). */
        if (runs_emit(rc, run_id, "cancel_requested", reason, id) >= 0 &&
            runs_emit(rc, run_id, EVENT_TERMINAL, end, id) >= 0) {
            runs_settle(rc, run_id);
            res = CANCEL_ENDED;
        }
        json_decref(reason);
        json_decref(end);
        count_end(rc, run_id, ch.to);
    }
    json_decref(err);
    return res;
}

int runs_expire(struct runs_ctx *rc, const char *run_id)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return -1;
    int64_t now = clock_now_ms(), at = r.started_at == 0 ? r.expires_at : 0;
    char type[TYPE_SIZE];
    snprintf(type, sizeof type, "%s", r.type);
    run_clear(&r);
    if (at == 0 || now < at)
        return 1; /* no expiry, not yet, or it has started once already */
    struct status_change ch = change(OP_EXPIRE, RUN_EXPIRED);
    json_t *err = runs_error(run_status_name(RUN_EXPIRED), "the run was still queued at its expires_at");
    int ret = store_run_expire(rc->st, &ch, run_id, err, now, lease_from_now(rc));
    if (ret == 0) {
        json_t *why = json_pack("{s:o}", "expires_at", runs_time_json(at));
        json_t *end = runs_end_data(ch.to, NULL, err);
        char id[EVENT_ID_SIZE];
        /* The ledger has the end: a writer that dies here leaves the
         * events to recovery, as for any end. */
        if (runs_emit(rc, run_id, "run_expired", why, id) >= 0 &&
            runs_emit(rc, run_id, EVENT_TERMINAL, end, id) >= 0)
            runs_settle(rc, run_id);
        json_decref(why);
        json_decref(end);
        count_type("opstream_runs_ended_total", type, run_status_name(ch.to));
    }
    json_decref(err);
    return ret;
}

/* Tells the run's worker to stop it: {"cancel": why}. 0, or -1. */
static int push_cancel(struct runs_ctx *rc, const char *run_id, json_t *why)
{
    json_t *control = json_pack("{s:O}", "cancel", why);
    char *text = json_dumps(control, JSON_COMPACT);
    int r = text != NULL ? bus_control_push(rc->bus, run_id, text) : -1;
    free(text);
    json_decref(control);
    return r;
}

enum cancel_result runs_cancel(struct runs_ctx *rc, const char *run_id, const json_t *why)
{
    int not_queued = 0;
    enum cancel_result res = cancel_queued(rc, run_id, why, &not_queued);
    if (!not_queued)
        return res;
    /* Claimed already: not a transition, but a request its worker acts on,
     * told once however often it is asked. */
    struct run cur;
    if (store_run_get(rc->st, run_id, &cur) != 0)
        return CANCEL_ERROR;
    res = CANCEL_ERROR;
    int r;
    char id[EVENT_ID_SIZE];
    json_t *reason = cancel_why(why);
    if (run_status_terminal(cur.status))
        res = CANCEL_TERMINAL;
    else if ((r = store_run_cancel_requested(rc->st, run_id, clock_now_ms())) < 0)
        res = CANCEL_ERROR;
    else if (r == 0 && (r = runs_emit(rc, run_id, "cancel_requested", reason, id)) == 1)
        res = CANCEL_TERMINAL; /* it ended meanwhile */
    else if (r >= 0 && push_cancel(rc, run_id, reason) == 0)
        res = CANCEL_ASKED;
    json_decref(reason);
    run_clear(&cur);
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

json_t *runs_time_json(int64_t ms)
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

json_t *runs_to_json(const struct run *r, const struct config *cfg, const char *base,
                     const char *secret, int64_t now_ms)
{
    char self[768], events[1024], cancel[800], query[128] = "";
    snprintf(self, sizeof self, "%s/v1/runs/%s", base, r->id);
    snprintf(cancel, sizeof cancel, "%s/cancel", self);
    if (secret != NULL)
        events_query(r->id, secret, now_ms / 1000 + cfg->link_ttl_s, query,
                          sizeof query);
    snprintf(events, sizeof events, "%s/events%s", self, query);
    json_t *progress = r->has_progress
        ? json_pack("{s:I, s:I}", "current", (json_int_t)r->progress_current,
                    "total", (json_int_t)r->progress_total)
        : json_null();
    json_t *view = json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o, s:{s:s, s:s, s:s}}",
        "id", r->id, "type", r->type, "status", run_status_name(r->status),
        "thread_id", r->thread_id[0] ? json_string(r->thread_id) : json_null(),
        "owner", r->owner, "input", or_null(r->input),
        "result", or_null(r->result), "error", or_null(r->error),
        "pending_input", or_null(r->pending_input), "progress", progress,
        "steps", r->steps ? json_incref(r->steps) : json_array(),
        "metadata", r->metadata ? json_incref(r->metadata) : json_object(),
        "created_at", runs_time_json(r->created_at),
        "started_at", runs_time_json(r->started_at),
        "finished_at", runs_time_json(r->finished_at),
        "updated_at", runs_time_json(r->updated_at),
        "last_event_id", r->last_event_id[0] ? json_string(r->last_event_id) : json_null(),
        "attempt", r->attempt, "next_action", run_next_action(r->status),
        "rerun_of", r->rerun_of[0] ? json_string(r->rerun_of) : json_null(),
        "links", "self", self, "events", events, "cancel", cancel);
    json_object_set_new(view, "start_at", runs_time_json(r->start_at));
    json_object_set_new(view, "expires_at", runs_time_json(r->expires_at));
    json_object_set_new(view, "priority", json_integer(r->priority));
    json_object_set_new(view, "concurrency_key",
                        r->concurrency_key[0] ? json_string(r->concurrency_key) : json_null());
    json_object_set_new(view, "webhook", r->webhook[0] == '\0' ? json_null() :
        json_pack("{s:s, s:s?, s:o}", "url", r->webhook, "state",
                  webhook_state_name(r->webhook_state), "attempts",
                  r->webhook_attempts ? json_incref(r->webhook_attempts) : json_array()));
    return view;
}
