#ifndef OPSTREAM_RUNS_H
#define OPSTREAM_RUNS_H

#include <jansson.h>

#include "bus.h"
#include "config.h"
#include "store.h"

/* The run lifecycle, in one place: every change of a run's status is one
 * of these transitions, made by the function of the same name below. */
enum run_op {
    OP_CREATE,        /* runs_create */
    OP_CLAIM,         /* runs_start */
    OP_INPUT_REQUEST, /* runs_await_input */
    OP_RESUME,        /* runs_resume */
    OP_RESUME_UNDO,   /* runs_resume, when the input cannot be handed over */
    OP_REQUEUE,       /* runs_requeue */
    OP_CANCEL_QUEUED, /* runs_cancel of a run no worker has claimed */
    OP_FINISH,        /* runs_finish, runs_conclude */
    OP_REPAIR,        /* runs_repair: the end is in the stream, not the ledger */
    OP_EXPIRE,        /* runs_expire: still queued at its expires_at */
    RUN_OPS
};

/* One row of the transition table. */
struct transition {
    const char *name;
    run_status_set from;   /* 0: the run does not exist yet */
    run_status_set to;
};

const struct transition *runs_transition(enum run_op op);
/* True when some transition takes a run from one status to the other. */
int runs_transition_legal(enum run_status from, enum run_status to);

/* What a lifecycle step needs: the ledger and the event bus. reconnect,
 * when set, is called after a failed write to replace bus (0) or give up
 * (-1); without it a write fails at once. */
struct runs_ctx {
    const struct config *cfg;
    struct store *st;
    struct bus *bus;
    int (*reconnect)(struct runs_ctx *rc);
    /* The run this context wrote to last, and over which connection: the
     * newest id it knows that run to have without asking the ledger. */
    unsigned long long known_conn;
    char known_run[ID_SIZE];
    char known_id[EVENT_ID_SIZE];
    /* Set (the worker): events are archived together by runs_flush, one
     * transaction for all the events of a round, instead of one each.
     * Until then they are in the stream only, as after a writer that died
     * between its append and its archive: settling archives them. */
    int defer_archive;
    struct pending_event *pending;
    size_t npending;
};

/* The newest id of the run the caller has just read from the ledger (""
 * for none: a run just made), so that its next write need not ask. */
void runs_known(struct runs_ctx *rc, const char *run_id, const char *last_id);

/* Puts back into a run's stream, after its newest id top, what the
 * archive holds beyond it (Redis lost writes the ledger has), and logs a
 * warning when there was any: the number of events put back, -1. */
int runs_restore(struct runs_ctx *rc, const char *run_id, const char *top);

/* Appends one event to the run's stream, archives it, and keeps the
 * snapshot's projections (progress, steps[]) in step with it, whoever
 * emits it: a job, opstream publish, the system. data is borrowed. 0, 1
 * when the stream has ended already (nothing written), -1. */
int runs_emit(struct runs_ctx *rc, const char *run_id, const char *name,
              json_t *data, char out_id[EVENT_ID_SIZE]);

/* Archives the events runs_emit kept back, in one transaction (one each
 * when that fails, so that one bad event loses no other), and lets go of
 * them: 0, or -1 when some could not be archived (logged; they are when
 * their runs settle). */
int runs_flush(struct runs_ctx *rc);

/* r has owner, type, input (and optionally metadata, thread_id, the
 * schedule with the created_at it counts from) set; fills id, status and
 * times, stores the run, emits run_queued and queues it.
 * A run that cannot be queued is removed again, so none is left stranded.
 * With an idempotency key already seen, nothing is created: see
 * store_run_create for what existing then holds. */
enum create_result runs_create(struct runs_ctx *rc, struct run *r,
                               const struct create_opts *o, struct run *existing);

/* Transitions answer 0 done, 1 when the run was not in a status the
 * transition is legal from (nothing written), -1 on error. */

/* Claimed under this host's lease (r as read from the ledger), emitting
 * run_started. entry is its queue entry. 0 once the ledger has the
 * claim, even when run_started could not be archived (settling does that
 * later). */
int runs_start(struct runs_ctx *rc, const struct run *r, const char *entry);
/* This machine's name, as leases record it. */
const char *runs_host(void);

/* The job asks for input: data holds the schema resume will check. */
int runs_await_input(struct runs_ctx *rc, const char *run_id, json_t *data);

enum resume_result { RESUMED, RESUME_NOT_WAITING, RESUME_ERROR };
/* Hands input to the job waiting in r: one winner among concurrent
 * resumes; if the input cannot be handed over, the run waits again. */
enum resume_result runs_resume(struct runs_ctx *rc, const struct run *r, json_t *input);

/* Back to the queue for another attempt (reason: worker_lost,
 * worker_stopped); attempt > 0 is told in the run_queued event. */
int runs_requeue(struct runs_ctx *rc, const char *run_id, const char *reason, int attempt);

/* Ends a claimed run with status: the ledger first (against a requeue),
 * then the single run_finished. result and error are borrowed; either may
 * be NULL. 0 once the ledger has the end, 1 when the run was not claimed
 * any more (another process ended or requeued it), -1. */
int runs_finish(struct runs_ctx *rc, const char *run_id, enum run_status status,
                json_t *result, json_t *error);

/* runs_finish for a run's outside producer: its job, still running, is
 * stopped and writes nothing more. */
int runs_conclude(struct runs_ctx *rc, const char *run_id, enum run_status status,
                  json_t *result, json_t *error);

/* A runner died between writing run_finished and the ledger: the ledger
 * is brought level from the stream, writing nothing twice. 0 when the
 * stream held the end, 1 when it did not, -1. */
int runs_repair(struct runs_ctx *rc, const char *run_id);

/* Settles an ended run: its run_finished written (from the ledger, when
 * its writer died before writing it), every event Redis holds archived,
 * the stream set to expire, and the next parked run of its thread queued.
 * Every end does this, and recovery again for an end whose process died
 * before it was done. 0, 1 when the run has not ended, -1. */
int runs_settle(struct runs_ctx *rc, const char *run_id);

/* A queued run whose process died before it was on the queue (a create,
 * a requeue, a thread's next run): its run_queued written if missing, and
 * on the queue. A second entry for a run is harmless: only one claim wins. */
int runs_queue_again(struct runs_ctx *rc, const char *run_id);

/* Ends a run still queued at its expires_at that never started:
 * run_expired, then run_finished (expired). 0 done, 1 when it was not
 * queued (started, cancelled, expired already), had started once (queued
 * again for another attempt) or is not due yet, -1. */
int runs_expire(struct runs_ctx *rc, const char *run_id);

/* Where a queued run stands among its type's: higher priority first,
 * then the older. */
long long runs_queue_score(const struct run *r);

/* {"code": code, "message": message}, the shape of every run error. */
json_t *runs_error(const char *code, const char *message);

enum cancel_result { CANCEL_ENDED, CANCEL_ASKED, CANCEL_TERMINAL, CANCEL_ERROR };
/* A queued run ends at once: cancel_requested, then run_finished
 * (cancelled). A running one is asked to stop: cancel_requested, and a
 * control message its worker acts on. why is {reason, discard?} (NULL:
 * {"reason": "requested"}): the data of cancel_requested, kept in the
 * run's error, and told to a running job. */
enum cancel_result runs_cancel(struct runs_ctx *rc, const char *run_id, const json_t *why);

/* A cancelled run's error: code cancelled, message, and why's members. */
json_t *runs_cancel_error(const char *message, const json_t *why);

/* run_finished's data: the status, and the result (null if none) or the
 * error; an unsuccessful end keeps the job's last result beside its
 * error. The caller owns it; result and error are borrowed. */
json_t *runs_end_data(enum run_status status, json_t *result, json_t *error);

/* A time as the API writes it (RFC 3339, UTC, milliseconds); 0 is null. */
json_t *runs_time_json(int64_t ms);

/* The public view of a run, with links under base (the request's, see
 * request_init). secret signs links.events; NULL leaves it unsigned. */
json_t *runs_to_json(const struct run *r, const struct config *cfg, const char *base,
                     const char *secret, int64_t now_ms);

#endif
