#ifndef OPSTREAM_STORE_H
#define OPSTREAM_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "run.h"

/* What a new run does when its thread already has an active run. */
enum multitask { MT_REJECT, MT_ENQUEUE, MT_INTERRUPT, MT_ROLLBACK };

/* How long an Idempotency-Key is remembered. */
#define IDEMPOTENCY_TTL_MS (24LL * 3600 * 1000)

struct create_opts {
    const char *idem_key;    /* NULL when the request has none */
    const char *body_hash;   /* of the canonical request body */
    enum multitask strategy; /* with a thread_id */
    int max_active;          /* the owner's active runs at most; 0: no bound */
    int64_t lease_until;     /* a run not parked is due on the queue by then */
};

enum create_result {
    CREATE_NEW,         /* r was stored */
    CREATE_REPLAYED,    /* the key was seen with this body: existing holds that run */
    CREATE_KEY_REUSED,  /* the key was seen with another body */
    CREATE_THREAD_BUSY, /* reject, and the thread has an active run */
    CREATE_QUOTA,       /* the owner has max_active active runs already */
    CREATE_ERROR,
};

/* A status change as runs.c's transition table allows it: the run must be
 * in one of from, and goes to to. The functions that take one are the only
 * writers of a run's status; runs.c is their only caller. */
struct status_change {
    run_status_set from;
    enum run_status to;
};

/* Opens (creating and migrating) the ledger database where names it: a
 * SQLite file's path, or a postgresql:// connection string. Returns NULL
 * on failure, with a reason for the operator in err. */
struct store *store_open(const char *where, char *err, size_t errsize);
void store_close(struct store *st);
int store_ping(struct store *st);
/* "sqlite" or "postgresql". */
const char *store_engine(struct store *st);
/* Copies every run, event, token and setting of from into to, which
 * must hold no run and no token yet, in one transaction of to's: 0, or
 * -1 with a reason in err and nothing copied. */
int store_copy(struct store *to, struct store *from, char *err, size_t errsize);
/* Between two uses of a kept connection: a transaction left open (a bug)
 * is rolled back and the process's write lock let go: -1 then, else 0. */
int store_settle(struct store *st);

/* All return 0 on success, -1 on a database error; lookups return 1 when
 * nothing matched. */
/* Stores a new run in one transaction with its idempotency key, setting
 * r->seq. On CREATE_REPLAYED, existing is filled (the caller clears it). */
enum create_result store_run_create(struct store *st, struct run *r,
                                    const struct create_opts *o, struct run *existing);
int store_run_get(struct store *st, const char *id, struct run *out);
int store_run_delete(struct store *st, const char *id);
/* Status changes answer 0 when the run changed, 1 when it was not in a
 * status the change is legal from (nothing changed), -1 on error. */
/* Claimed under a lease held by host, for queue entry entry. */
int store_run_claim(struct store *st, const struct status_change *ch, const char *id,
                    int64_t now_ms, int64_t lease_until, const char *host, const char *entry);
/* Whether the run is running under a claim by host for queue entry
 * entry: 0 it is, 1 not, -1. */
int store_run_claimed(struct store *st, const char *id, const char *host, const char *entry);
/* Renews a running run's lease (and notes its job's process group). */
int store_run_lease(struct store *st, const char *id, int64_t lease_until, long pgid);

/* Renews the leases of many running runs in one transaction: a worker's
 * every run at once. */
int store_runs_lease(struct store *st, const char *const ids[], int n, int64_t lease_until);
/* A lease is a deadline by which some process must have moved the run on:
 * a queued run must be on the queue, a claimed one is renewed by its
 * runner, an ended one must be settled (runs_settle). A run whose lease
 * ran out is one whose process died in between. */
struct lost_run {
    char id[ID_SIZE];
    enum run_status status;
    char host[256];
    long pgid;
    char entry[EVENT_ID_SIZE];
};
/* Finds one run whose lease expired before now and takes it (its lease is
 * set to retake_until, so no other worker takes it too): 1, 0 none, -1. */
int store_lease_expired(struct store *st, int64_t now_ms, int64_t retake_until,
                        struct lost_run *out);
/* The lease's work is done (queued: it is on the queue; ended: settled),
 * if the run is still in one of statuses. */
int store_run_lease_clear(struct store *st, const char *id, run_status_set statuses);
/* Queued again for another attempt, due on the queue by lease_until; the
 * question goes. */
int store_run_requeue(struct store *st, const struct status_change *ch, const char *id,
                      int64_t now_ms, int64_t lease_until);
/* Ended before it started, with error, atomically against a claim; to be
 * settled by lease_until. */
int store_run_cancel_queued(struct store *st, const struct status_change *ch, const char *id,
                            const json_t *error, int64_t now_ms, int64_t lease_until);
/* Still queued at its expires_at, never started (a run queued again for
 * another attempt does not expire): ended with error, atomically against
 * a claim; to be settled by lease_until. */
int store_run_expire(struct store *st, const struct status_change *ch, const char *id,
                     const json_t *error, int64_t now_ms, int64_t lease_until);
/* Waiting for input, with what the job asked for. */
int store_run_await_input(struct store *st, const struct status_change *ch, const char *id,
                          const json_t *pending, int64_t now_ms);
/* Given its input: the question goes. One winner among concurrent calls. */
int store_run_resume(struct store *st, const struct status_change *ch, const char *id,
                     int64_t now_ms);
/* Marks a run to be deleted with its events once it has ended. */
int store_run_mark_delete(struct store *st, const char *id);
/* When no run of the thread is active any more, unparks its oldest parked
 * run, due on the queue by lease_until: 1 with its id in out, 0 when there
 * is none to start now, -1. */
int store_thread_release(struct store *st, const char *owner, const char *thread_id,
                         int64_t lease_until, char out[ID_SIZE]);
/* Notes that cancellation was asked for: 0 first time, 1 asked before. */
int store_run_cancel_requested(struct store *st, const char *id, int64_t now_ms);
/* An event to archive: a progress event's current and total (progress
 * set) move the snapshot's progress too, unless a later one did. */
struct archived_event {
    const char *run_id, *id, *name, *data;
    int progress;
    int64_t current, total;
};
/* Archives events (each run's in the order appended) and notes each
 * run's latest unless a later one is noted already, all in one
 * transaction. */
int store_run_events(struct store *st, const struct archived_event *ev, size_t n, int64_t now_ms);
/* store_run_events of one event that is not progress. */
int store_run_event(struct store *st, const char *id, const char *event_id,
                    const char *name, const char *data, int64_t now_ms);
/* Archives what the archive lacks of entries ([[id, name, data], ...] in
 * stream order), in one transaction, as store_run_event does; with
 * settled, an ended run's lease is cleared in it too (store_run_lease_clear):
 * the last of settling. */
int store_archive_entries(struct store *st, const char *run_id, const json_t *entries,
                          int64_t now_ms, int settled);
/* 1 when the archive holds an event of that name for the run, 0, -1. */
int store_archive_has(struct store *st, const char *run_id, const char *name);
/* The newest event id the ledger holds of a run ("" when none): 0, 1
 * when there is no such run, -1. */
int store_run_last_event(struct store *st, const char *run_id, char out[EVENT_ID_SIZE]);
/* Archived events with after < id (< before, when before is not NULL), in
 * order, at most limit; fn returns non-zero to stop. The count, or -1. */
int store_events_after(struct store *st, const char *run_id, const struct event_id *after,
                       const struct event_id *before, int limit,
                       int (*fn)(void *ctx, const char *id, const char *name, const char *data),
                       void *ctx);
/* Deletes the archived events of runs finished before the given time and
 * records that they are gone; the number of runs, or -1. */
int store_archives_delete(struct store *st, int64_t finished_before_ms, int64_t now_ms);
/* Edits the run's steps[] under the write lock for the event event_id:
 * edit changes the array in place and returns 1 to keep the change, 0 to
 * leave it. 0, 1 no such run or a later step event applied already, -1. */
int store_run_edit_steps(struct store *st, const char *id, const char *event_id,
                         int (*edit)(void *ctx, json_t *steps), void *ctx, int64_t now_ms);
/* The run's end, to be settled by settle_by, and, when event_id is not
 * NULL (an end taken from the stream), its run_finished archived in the
 * same transaction: the event is archived even when the change does not
 * apply (1), as the stream already holds it. */
int store_run_finish(struct store *st, const struct status_change *ch, const char *id,
                     const json_t *result, const json_t *error,
                     const char *event_id, const char *event_data, int64_t now_ms,
                     int64_t settle_by);
/* Which runs a listing wants; NULL or 0 fields do not filter. */
struct run_filter {
    const char *owner;
    run_status_set statuses; /* 0: any */
    const char *type;
    const char *thread_id;
    int64_t before_seq;    /* only runs created before this one */
    /* Only runs whose metadata has this key with this value (a string,
     * or a number or boolean written as JSON writes it); NULL: any. */
    const char *metadata_key;
    const char *metadata_value;
    int limit;
};

/* Newest first; calls fn for each matching run (fn returns non-zero to
 * stop). */
int store_run_list(struct store *st, const struct run_filter *f,
                   int (*fn)(void *ctx, struct run *r), void *ctx);
/* The newest run f matches (f->limit aside) into out: 0, 1 when none
 * does, -1. */
int store_run_newest(struct store *st, const struct run_filter *f, struct run *out);

/* A thread made as such (the LangGraph surface's threads.create), with
 * its metadata; opstream's own API knows a thread by its runs alone. */
struct thread {
    char id[THREAD_SIZE];
    char owner[OWNER_SIZE];
    json_t *metadata;   /* owned */
    int64_t created_at, updated_at;
};
void thread_clear(struct thread *t);
/* 0 made, 1 when the owner has a thread of that id already, -1. */
int store_thread_create(struct store *st, const struct thread *t);
/* 0 found, 1 none, -1. */
int store_thread_get(struct store *st, const char *owner, const char *id, struct thread *out);
/* The owner's threads, newest first, at most limit; fn returns non-zero
 * to stop (t is the store's: fn takes what it keeps). */
int store_thread_list(struct store *st, const char *owner, int limit,
                      int (*fn)(void *ctx, struct thread *t), void *ctx);
/* Removes the thread and every run of it (their archives with them), in
 * one transaction: 0, or -1. */
int store_thread_delete(struct store *st, const char *owner, const char *id);

int store_token_insert(struct store *st, const char *hash, const char *owner,
                       const char *name, int64_t now_ms);
int store_token_owner(struct store *st, const char *hash, char owner[OWNER_SIZE]);
/* A token's public id: the first characters of its hash. */
#define TOKEN_ID_LEN 12
/* Every token: its id, owner, name and creation time; fn returns non-zero
 * to stop. */
int store_token_list(struct store *st,
                     int (*fn)(void *ctx, const char *id, const char *owner, const char *name,
                               int64_t created_at),
                     void *ctx);
/* Deletes the token with this id and moves its owner's link epoch, in one
 * transaction: 0 with its owner in owner, 1 no such token, -1. */
int store_token_revoke(struct store *st, const char *id, char owner[OWNER_SIZE]);
/* The owner's link epoch (0 until a first revocation): 0, or -1. */
/* The runs still active (queued, running, waiting for input), counted
 * by type and status: fn once per pair. 0, or -1. */
typedef void (*store_count_fn)(void *ctx, const char *type, const char *status, long long n);
int store_run_active_counts(struct store *st, store_count_fn fn, void *ctx);
/* Statements this process saw fail since the last call. */
unsigned long long store_errors_take(void);
int store_owner_epoch(struct store *st, const char *owner, int64_t *epoch);
/* The HMAC key for signed links, created on first use. */
int store_link_secret(struct store *st, char out[HASH_HEX_SIZE]);
/* The HMAC key that signs webhooks, created on first use. */
int store_webhook_secret(struct store *st, char out[HASH_HEX_SIZE]);
/* Records a delivery attempt of a pending webhook and its state after it
 * (pending, delivered, given_up): 0, 1 when it was not pending, -1. */
int store_webhook_attempt(struct store *st, const char *id, const json_t *attempt,
                          enum webhook_state state);

#endif
