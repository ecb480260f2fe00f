/* LangGraph's shapes and stream events (langgraph.h). */
#include "langgraph.h"
#include "event.h"
#include "runs.h"

#include <stdlib.h>
#include <string.h>

/* LangGraph's run statuses: another vocabulary than opstream's. */
#define LG_STATUS_PENDING "pending"
#define LG_STATUS_RUNNING "running"
#define LG_STATUS_SUCCESS "success"
#define LG_STATUS_ERROR "error"
#define LG_STATUS_TIMEOUT "timeout"
#define LG_STATUS_INTERRUPTED "interrupted"

static const struct { const char *name; unsigned mode; } modes[] = {
    {"values", LG_VALUES}, {"updates", LG_UPDATES}, {"custom", LG_CUSTOM},
    {"messages", LG_MESSAGES}, {"messages-tuple", LG_MESSAGES_TUPLE}, {"events", LG_EVENTS},
    {"debug", LG_DEBUG}, {"tasks", LG_TASKS}, {"checkpoints", LG_CHECKPOINTS},
};

static unsigned mode_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strlen(modes[i].name) == len && strncmp(modes[i].name, name, len) == 0)
            return modes[i].mode;
    return 0;
}

int lg_modes(const json_t *stream_mode, unsigned *out)
{
    *out = 0;
    if (stream_mode == NULL || json_is_null(stream_mode)) {
        *out = LG_VALUES;
        return 0;
    }
    if (json_is_string(stream_mode)) {
        *out = mode_of(json_string_value(stream_mode), json_string_length(stream_mode));
        return *out != 0 ? 0 : -1;
    }
    if (!json_is_array(stream_mode))
        return -1;
    size_t i;
    json_t *m;
    json_array_foreach(stream_mode, i, m) {
        unsigned one = json_is_string(m) ? mode_of(json_string_value(m), json_string_length(m)) : 0;
        if (one == 0)
            return -1;
        *out |= one;
    }
    if (*out == 0)
        *out = LG_VALUES;
    return 0;
}

int lg_modes_query(const char *query, unsigned *out)
{
    static const char key[] = "stream_mode=";
    *out = 0;
    for (const char *p = query; *p != '\0';) {
        size_t n = strcspn(p, "&");
        if (n > sizeof key - 1 && strncmp(p, key, sizeof key - 1) == 0) {
            unsigned one = mode_of(p + sizeof key - 1, n - (sizeof key - 1));
            if (one == 0)
                return -1;
            *out |= one;
        }
        p += n + (p[n] == '&');
    }
    if (*out == 0)
        *out = LG_VALUES;
    return 0;
}

/* The mode a job's event named as LangGraph's is sent under, or 0 when
 * its name is not one of them. */
static unsigned passed_mode(const char *name)
{
    if (strcmp(name, "messages") == 0)
        return LG_MESSAGES_TUPLE;
    if (strncmp(name, "messages/", 9) == 0)
        return LG_MESSAGES;
    return strcmp(name, "messages-tuple") == 0 ? 0 : mode_of(name, strlen(name));
}

/* The run's own events: they say how it goes, not what it makes. */
static int system_event(const char *name)
{
    static const char *const own[] = {"run_started", "run_queued", "run_expired", "cancel_requested",
                                      "input_received", "gap"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcmp(own[i], name) == 0)
            return 1;
    return 0;
}

static char *dump(json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

/* run_finished's frames. */
static int ending(const struct lg_view *v, json_t *d, const char *names[], char *datas[])
{
    enum run_status st = RUN_FAILED;
    const char *status = json_string_value(json_object_get(d, "status"));
    if (status != NULL)
        run_status_parse(status, &st);
    int n = 0;
    if (st == RUN_SUCCEEDED || st == RUN_CANCELLED) {
        json_t *result = json_object_get(d, "result");
        if (st == RUN_SUCCEEDED && (v->modes & LG_VALUES) && json_is_object(result)) {
            names[n] = "values";
            datas[n++] = dump(json_incref(result));
        }
        names[n] = "end";
        datas[n++] = strdup("null");
        return n;
    }
    json_t *e = json_object_get(d, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    names[n] = "error";
    datas[n++] = dump(json_pack("{s:s, s:s}", "error", code ? code : lg_run_status(st),
                                "message", msg ? msg : "the run failed"));
    return n;
}

int lg_frames(const struct lg_view *v, const char *run_id, const char *name, const char *data,
              const char *names[LG_FRAMES_MAX], char *datas[LG_FRAMES_MAX])
{
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    int n = 0;
    unsigned mode;
    if (strcmp(name, "run_queued") == 0 && json_object_get(d, "reason") == NULL) {
        names[n] = "metadata";
        datas[n++] = dump(json_pack("{s:s, s:s, s:i}", "run_id", run_id, "thread_id", v->thread_id,
                                    "attempt", 1));
    } else if (event_is_terminal(name)) {
        n = ending(v, d, names, datas);
    } else if ((mode = passed_mode(name)) != 0) {
        if (v->modes & mode) {
            names[n] = name;
            datas[n++] = dump(json_incref(d ? d : json_null()));
        }
    } else if (strcmp(name, "step_finished") == 0 && (v->modes & LG_UPDATES) &&
               json_is_string(json_object_get(d, "name"))) {
        names[n] = "updates";
        datas[n++] = dump(json_pack("{s:O}", json_string_value(json_object_get(d, "name")), d));
    } else if (!system_event(name) && (v->modes & LG_CUSTOM)) {
        names[n] = "custom";
        datas[n++] = dump(json_pack("{s:s, s:O}", "event", name, "data", d ? d : json_null()));
    }
    json_decref(d);
    for (int i = 0; i < n; i++) {
        if (datas[i] == NULL) {
            for (int k = 0; k < n; k++)
                free(datas[k]);
            return -1;
        }
    }
    return n;
}

const char *lg_run_status(enum run_status s)
{
    switch (s) {
    case RUN_QUEUED:
        return LG_STATUS_PENDING;
    case RUN_RUNNING:
    case RUN_INPUT_REQUIRED:
        return LG_STATUS_RUNNING;
    case RUN_SUCCEEDED:
        return LG_STATUS_SUCCESS;
    case RUN_TIMED_OUT:
        return LG_STATUS_TIMEOUT;
    case RUN_CANCELLED:
        return LG_STATUS_INTERRUPTED;
    default:
        return LG_STATUS_ERROR;
    }
}

/* A reference of j's own, or a new empty object when there is none. */
static json_t *owned_object(json_t *j)
{
    return j != NULL ? json_incref(j) : json_object();
}

json_t *lg_run(const struct run *r)
{
    return json_pack("{s:s, s:s?, s:s, s:o, s:o, s:s, s:o, s:n, s:{s:o}}", "run_id", r->id,
                     "thread_id", r->thread_id[0] ? r->thread_id : NULL, "assistant_id", r->type,
                     "created_at", runs_time_json(r->created_at),
                     "updated_at", runs_time_json(r->updated_at), "status", lg_run_status(r->status),
                     "metadata", owned_object(r->metadata), "multitask_strategy",
                     "kwargs", "input", owned_object(r->input));
}

json_t *lg_assistant(const struct jobtype *jt)
{
    json_t *title = json_object_get(jt->doc, "title");
    json_t *desc = json_object_get(jt->doc, "description");
    json_t *meta = json_object_get(jt->doc, "metadata");
    return json_pack("{s:s, s:s, s:s, s:s?, s:{}, s:{}, s:o, s:i, s:n, s:n}", "assistant_id", jt->name,
                     "graph_id", jt->name, "name", title ? json_string_value(title) : jt->name,
                     "description", desc ? json_string_value(desc) : NULL, "config", "context",
                     "metadata", owned_object(meta), "version", 1, "created_at", "updated_at");
}

/* A thread's values: its newest run's result, when that is an object. */
static json_t *values_of(const struct run *latest)
{
    return latest != NULL && json_is_object(latest->result) ? json_incref(latest->result) : json_object();
}

json_t *lg_thread(const struct thread *t, const struct run *latest)
{
    const char *status = "idle";
    if (latest != NULL && !run_status_terminal(latest->status))
        status = latest->status == RUN_INPUT_REQUIRED ? "interrupted" : "busy";
    else if (latest != NULL && latest->status != RUN_SUCCEEDED && latest->status != RUN_CANCELLED)
        status = "error";
    int64_t updated = latest != NULL && latest->updated_at > t->updated_at ? latest->updated_at : t->updated_at;
    return json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:{}, s:{}}", "thread_id", t->id,
                     "created_at", runs_time_json(t->created_at), "updated_at", runs_time_json(updated),
                     "metadata", owned_object(t->metadata), "status", status,
                     "values", values_of(latest), "interrupts", "config");
}

json_t *lg_thread_state(const char *thread_id, const struct run *latest)
{
    return json_pack("{s:o, s:[], s:[], s:{s:s, s:s, s:s?}, s:{}, s:o, s:n}", "values", values_of(latest),
                     "next", "tasks", "checkpoint", "thread_id", thread_id, "checkpoint_ns", "",
                     "checkpoint_id", latest != NULL ? latest->id : NULL, "metadata",
                     "created_at", latest != NULL ? runs_time_json(latest->updated_at) : json_null(),
                     "parent_checkpoint");
}

json_t *lg_outcome(const struct run *r)
{
    if (r->status == RUN_SUCCEEDED || r->status == RUN_CANCELLED)
        return values_of(r);
    const char *code = json_string_value(json_object_get(r->error, "code"));
    const char *msg = json_string_value(json_object_get(r->error, "message"));
    return json_pack("{s:{s:s, s:s}}", "__error__", "error", code ? code : lg_run_status(r->status),
                     "message", msg ? msg : "the run failed");
}
