/* POST /v1/runs/{id}/events: an event from a producer outside the job,
 * under the rules of a job's output line: the same names, the same size,
 * and progress and step_* keep the snapshot up to date as theirs do. */
#include "api.h"
#include "clock.h"
#include "protocol.h"
#include "reply.h"
#include "runs.h"

#include <string.h>

/* The body is {event, data?}: 0, or -1 after answering 422 for the first
 * field that is wrong or unknown. */
static int check_publish_body(struct request *req, json_t *body)
{
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "event") != 0 && strcmp(k, "data") != 0)
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
    }
    json_t *name = json_object_get(body, "event");
    json_t *data = json_object_get(body, "data");
    if (!json_is_string(name))
        return reply_problem(req, 422, "invalid_field", "/event: must be a string"), -1;
    if (!protocol_publishable(json_string_value(name)))
        return reply_problem(req, 422, "invalid_event_name",
                             "/event: must match [a-z][a-z0-9_.-]{0,63} and not be one only "
                             "the system or the job emits"), -1;
    if (data != NULL && !json_is_object(data))
        return reply_problem(req, 422, "invalid_field", "/data: must be an object"), -1;
    return 0;
}

/* Writes the event: 0 after answering 202 {id}, or -1 after answering
 * the problem. */
static int publish(struct call *c, const struct run *run, const char *name, json_t *data)
{
    const char *run_id = run->id;
    struct request *req = c->req;
    /* A job's line holds {"event":..,"data":..}: the data alone fitting
     * in job_line_max_bytes is the same bound, give or take the name. */
    size_t size = json_dumpb(data, NULL, 0, JSON_COMPACT);
    if (size > (size_t)req->cfg->job_line_max_bytes)
        return reply_problem(req, 413, "event_too_large",
                             "/data: more than %d bytes as JSON", req->cfg->job_line_max_bytes), -1;
    struct runs_ctx rc = {.cfg = req->cfg, .st = c->st, .bus = call_bus(c)};
    if (rc.bus == NULL)
        return reply_problem(req, 503, "redis_unavailable", "the event bus is not reachable"), -1;
    long long n = bus_count_published(rc.bus, run_id);
    if (n < 0)
        return reply_problem(req, 503, "redis_unavailable", "the event bus is not reachable"), -1;
    if (n > req->cfg->job_max_events)
        return reply_problem(req, 409, "publish_limit",
                             "the run has taken its %ld published events", req->cfg->job_max_events), -1;
    char id[EVENT_ID_SIZE];
    runs_known(&rc, run_id, run->last_event_id);
    int r = runs_emit(&rc, run_id, name, data, id);
    if (r == 1)
        return reply_problem(req, 409, "run_terminal", "the run has ended"), -1;
    if (r != 0)
        return reply_problem(req, 503, "unavailable", "the event could not be written"), -1;
    return reply_json(req, 202, json_pack("{s:s}", "id", id), NULL);
}

int api_publish(struct call *c)
{
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    json_t *body = NULL;
    int rc = -1;
    if (run_status_terminal(r.status))
        reply_problem(c->req, 409, "run_terminal", "the run has ended (%s)", run_status_name(r.status));
    else if (call_json_body(c, &body) == 0 && check_publish_body(c->req, body) == 0) {
        json_t *data = json_object_get(body, "data");
        json_t *empty = data == NULL ? json_object() : NULL;
        rc = publish(c, &r, json_string_value(json_object_get(body, "event")),
                     data != NULL ? data : empty);
        json_decref(empty);
    }
    json_decref(body);
    run_clear(&r);
    return rc;
}

/* The finish body is {status: succeeded|failed, result?, error?}, error
 * an object with a message, only for failed: 0, or -1 after answering
 * 422. */
static int check_finish_body(struct request *req, json_t *body, enum run_status *status)
{
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (strcmp(k, "status") != 0 && strcmp(k, "result") != 0 && strcmp(k, "error") != 0)
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
    }
    const char *s = json_string_value(json_object_get(body, "status"));
    if (s == NULL || run_status_parse(s, status) != 0 ||
        (*status != RUN_SUCCEEDED && *status != RUN_FAILED))
        return reply_problem(req, 422, "invalid_field", "/status: must be succeeded or failed"), -1;
    json_t *error = json_object_get(body, "error");
    if (error != NULL && *status != RUN_FAILED)
        return reply_problem(req, 422, "invalid_field", "/error: only a failed run has one"), -1;
    if (error != NULL && (!json_is_object(error) ||
                          !json_is_string(json_object_get(error, "message"))))
        return reply_problem(req, 422, "invalid_field", "/error: must be an object with a message"), -1;
    return 0;
}

int api_finish(struct call *c)
{
    struct request *req = c->req;
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    json_t *body = NULL;
    enum run_status status;
    int rc = -1;
    if (run_status_terminal(r.status))
        reply_problem(req, 409, "run_terminal", "the run has ended (%s)", run_status_name(r.status));
    else if (r.status == RUN_QUEUED)
        reply_problem(req, 409, "run_not_started", "the run has not started; finish it once it runs");
    else if (call_json_body(c, &body) == 0 && check_finish_body(req, body, &status) == 0) {
        struct runs_ctx rc_ = {.cfg = req->cfg, .st = c->st, .bus = call_bus(c)};
        json_t *error = json_object_get(body, "error");
        json_t *own = error != NULL || status != RUN_FAILED ? NULL
                    : runs_error("producer_failed", "its producer ended the run as failed");
        int ended = rc_.bus == NULL ? -1
                  : runs_conclude(&rc_, r.id, status, json_object_get(body, "result"),
                                  error != NULL ? error : own);
        json_decref(own);
        char id[ID_SIZE];
        snprintf(id, sizeof id, "%s", r.id);
        run_clear(&r);
        if (ended == 1)
            reply_problem(req, 409, "run_terminal", "the run has ended");
        else if (ended < 0 || store_run_get(c->st, id, &r) != 0)
            reply_problem(req, 503, "unavailable", "the end could not be recorded");
        else
            rc = reply_json(req, 200, runs_to_json(&r, req->cfg, req->base, c->secret, clock_now_ms()),
                            NULL);
    }
    json_decref(body);
    run_clear(&r);
    return rc;
}
