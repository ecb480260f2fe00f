#ifndef OPSTREAM_RUNS_H
#define OPSTREAM_RUNS_H

#include <jansson.h>

#include "bus.h"
#include "config.h"
#include "store.h"

/* What a lifecycle step needs: the ledger and the event bus. reconnect,
 * when set, is called after a failed write to replace bus (0) or give up
 * (-1); without it a write fails at once. */
struct runs_ctx {
    const struct config *cfg;
    struct store *st;
    struct bus *bus;
    int (*reconnect)(struct runs_ctx *rc);
};

int runs_status_terminal(const char *status);

/* Appends one event to the run's stream and notes it in the ledger. data is
 * borrowed. */
int runs_emit(struct runs_ctx *rc, const char *run_id, const char *name,
              json_t *data, char out_id[EVENT_ID_SIZE]);

/* r has owner, type, input (and optionally metadata, thread_id) set; fills
 * id, status and times, stores the run, emits run_queued and queues it.
 * A run that cannot be queued is removed again, so none is left stranded.
 * With an idempotency key already seen, nothing is created: see
 * store_run_create for what existing then holds. */
enum create_result runs_create(struct runs_ctx *rc, struct run *r,
                               const struct create_opts *o, struct run *existing);

/* queued -> running under this host's lease, emitting run_started. 1 when
 * the run was not queued. entry is its queue entry. */
int runs_start(struct runs_ctx *rc, const char *run_id, const char *entry);
/* This machine's name, as leases record it. */
const char *runs_host(void);

/* Any -> terminal, emitting the single run_finished. result and error are
 * borrowed; either may be NULL. */
int runs_finish(struct runs_ctx *rc, const char *run_id, const char *status,
                json_t *result, json_t *error);

/* {"code": code, "message": message}, the shape of every run error. */
json_t *runs_error(const char *code, const char *message);

enum cancel_result { CANCEL_ENDED, CANCEL_ASKED, CANCEL_TERMINAL, CANCEL_ERROR };
/* Keeps the snapshot's progress in step with a progress event's data
 * ({current, total}); other events leave it be. */
void runs_note_progress(struct runs_ctx *rc, const char *run_id, const char *name,
                        const json_t *data);

/* A queued run ends at once: cancel_requested, then run_finished
 * (cancelled). A running one is asked to stop: cancel_requested, and a
 * control message its worker acts on. */
enum cancel_result runs_cancel(struct runs_ctx *rc, const char *run_id);

/* The public view of a run, with links under the base path. secret signs
 * links.events; NULL leaves the link unsigned. */
json_t *runs_to_json(const struct run *r, const struct config *cfg,
                     const char *secret, int64_t now_ms);

#endif
