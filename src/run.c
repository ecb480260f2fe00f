/* What a run is: the ledger row, and its statuses by name. */
#include "run.h"

#include <string.h>

static const char *const status_names[RUN_STATUS_COUNT] = {
    [RUN_QUEUED] = "queued",
    [RUN_RUNNING] = "running",
    [RUN_INPUT_REQUIRED] = "input_required",
    [RUN_SUCCEEDED] = "succeeded",
    [RUN_FAILED] = "failed",
    [RUN_CANCELLED] = "cancelled",
    [RUN_TIMED_OUT] = "timed_out",
    [RUN_EXPIRED] = "expired",
};

static const char *const webhook_names[WEBHOOK_STATE_COUNT] = {
    [WEBHOOK_NONE] = NULL,
    [WEBHOOK_PENDING] = "pending",
    [WEBHOOK_DELIVERED] = "delivered",
    [WEBHOOK_GIVEN_UP] = "given_up",
};

const char *webhook_state_name(enum webhook_state w)
{
    return (unsigned)w < WEBHOOK_STATE_COUNT ? webhook_names[w] : NULL;
}

enum webhook_state webhook_state_parse(const char *name)
{
    for (int w = WEBHOOK_NONE + 1; name != NULL && w < WEBHOOK_STATE_COUNT; w++)
        if (strcmp(name, webhook_names[w]) == 0)
            return (enum webhook_state)w;
    return WEBHOOK_NONE;
}

const char *run_status_name(enum run_status s)
{
    return (unsigned)s < RUN_STATUS_COUNT ? status_names[s] : "unknown";
}

int run_status_parse(const char *name, enum run_status *out)
{
    for (int s = 0; s < RUN_STATUS_COUNT; s++)
        if (strcmp(name, status_names[s]) == 0) {
            *out = (enum run_status)s;
            return 0;
        }
    return -1;
}

int run_status_terminal(enum run_status s)
{
    return (STATUS_TERMINAL & STATUS_BIT(s)) != 0;
}

const char *run_next_action(enum run_status s)
{
    if (s == RUN_INPUT_REQUIRED)
        return "provide_input";
    return run_status_terminal(s) ? "none" : "wait";
}

void run_clear(struct run *r)
{
    json_decref(r->input);
    json_decref(r->result);
    json_decref(r->error);
    json_decref(r->pending_input);
    json_decref(r->steps);
    json_decref(r->metadata);
    json_decref(r->webhook_attempts);
    memset(r, 0, sizeof *r);
}
