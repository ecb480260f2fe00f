#ifndef OPSTREAM_RUN_H
#define OPSTREAM_RUN_H

#include <jansson.h>
#include <stdint.h>

#include "crypto.h"
#include "event.h"

#define OWNER_SIZE 128
#define TYPE_SIZE 65
#define THREAD_SIZE 129
#define CONCURRENCY_KEY_SIZE 129
#define WEBHOOK_URL_SIZE 2049
/* A run's priority: higher starts first among the queued runs of a type. */
#define PRIORITY_MIN (-100)
#define PRIORITY_MAX 100
/* Room for the longest status name, or "active" as a list filter. */
#define STATUS_NAME_SIZE 24

/* Every status a run can have. Their names live in run.c's table and
 * nowhere else: code compares these values, SQL binds the names. */
enum run_status {
    RUN_QUEUED,
    RUN_RUNNING,
    RUN_INPUT_REQUIRED,
    RUN_SUCCEEDED,
    RUN_FAILED,
    RUN_CANCELLED,
    RUN_TIMED_OUT,
    RUN_EXPIRED,      /* still queued at its expires_at */
    RUN_STATUS_COUNT
};

/* A set of statuses, one bit each. */
typedef unsigned run_status_set;
#define STATUS_BIT(s) (1u << (s))
#define STATUS_ACTIVE (STATUS_BIT(RUN_QUEUED) | STATUS_BIT(RUN_RUNNING) | STATUS_BIT(RUN_INPUT_REQUIRED))
#define STATUS_TERMINAL (STATUS_BIT(RUN_SUCCEEDED) | STATUS_BIT(RUN_FAILED) | \
                         STATUS_BIT(RUN_CANCELLED) | STATUS_BIT(RUN_TIMED_OUT) | \
                         STATUS_BIT(RUN_EXPIRED))
/* Held by a worker: the run has a lease. */
#define STATUS_CLAIMED (STATUS_BIT(RUN_RUNNING) | STATUS_BIT(RUN_INPUT_REQUIRED))

/* Where a run's webhook stands. Their names live in run.c's table and
 * nowhere else, as the statuses' do. */
enum webhook_state {
    WEBHOOK_NONE,       /* the run names no webhook */
    WEBHOOK_PENDING,    /* to be delivered (again) */
    WEBHOOK_DELIVERED,
    WEBHOOK_GIVEN_UP,   /* after webhook_max_attempts */
    WEBHOOK_STATE_COUNT
};

const char *run_status_name(enum run_status s);
/* 0 with *out set, or -1 for a name that is no status. */
int run_status_parse(const char *name, enum run_status *out);
int run_status_terminal(enum run_status s);

/* NULL for WEBHOOK_NONE. */
const char *webhook_state_name(enum webhook_state w);
/* The state a name stands for; WEBHOOK_NONE for NULL or any other name. */
enum webhook_state webhook_state_parse(const char *name);

/* What a client of a run in this status does next: "provide_input"
 * (resume), "none" (it has ended), else "wait". */
const char *run_next_action(enum run_status s);

/* A row of the run ledger. JSON members are owned references. */
struct run {
    char id[ID_SIZE];
    char owner[OWNER_SIZE];
    char type[TYPE_SIZE];
    enum run_status status;
    char thread_id[THREAD_SIZE];   /* "" when none */
    json_t *input, *result, *error, *pending_input, *steps, *metadata;
    int has_progress;
    int64_t progress_current, progress_total;
    int64_t created_at, started_at, finished_at, updated_at; /* ms, 0 = unset */
    char last_event_id[EVENT_ID_SIZE];
    int attempt;
    int64_t seq;          /* creation order, strictly increasing */
    int parked;           /* queued behind an earlier run of its thread */
    int delete_on_finish; /* rolled back: deleted once it has ended */
    int archive_deleted;  /* its archived events were deleted (gc) */
    char rerun_of[ID_SIZE]; /* the run this one repeats; "" when none */
    char request_id[ID_SIZE]; /* the request that made it, as its logs name it; "" when none */
    int64_t start_at;       /* ms; not started before (0: as soon as it can) */
    int64_t expires_at;     /* ms; ends expired if still queued then (0: never) */
    int priority;           /* PRIORITY_MIN..PRIORITY_MAX, default 0 */
    char concurrency_key[CONCURRENCY_KEY_SIZE]; /* "" when none */
    char webhook[WEBHOOK_URL_SIZE]; /* told of the run's end; "" when none */
    enum webhook_state webhook_state;
    json_t *webhook_attempts; /* [{at, status, error, duration_ms}] */
};

void run_clear(struct run *r);

#endif
