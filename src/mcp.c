/* Runs as the Model Context Protocol sees them (see mcp.h). */
#include "mcp.h"
#include "clock.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

int mcp_version_known(const char *version)
{
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(version, versions[i]) == 0)
            return 1;
    return 0;
}

enum mcp_kind mcp_message_kind(const json_t *msg)
{
    if (json_is_array(msg))
        return MCP_BATCH;
    const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");
    json_t *params = json_object_get(msg, "params");
    int has_result = json_object_get(msg, "result") != NULL;
    int has_error = json_object_get(msg, "error") != NULL;
    if (!json_is_object(msg) || version == NULL || strcmp(version, "2.0") != 0 ||
        (id != NULL && !json_is_string(id) && !json_is_integer(id)))
        return MCP_INVALID;
    if (method != NULL)
        return !json_is_string(method) || (params != NULL && !json_is_object(params)) ||
               has_result || has_error ? MCP_INVALID : id != NULL ? MCP_REQUEST : MCP_NOTIFICATION;
    return id != NULL && has_result != has_error ? MCP_RESPONSE : MCP_INVALID;
}

int mcp_event_id(const char *run_id, const char *event_id, char *out, size_t size)
{
    int n = snprintf(out, size, "%s.%s", run_id, event_id);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* "RUN.REST": the run's id (checked) and what follows the dot. */
static const char *split_run(const char *s, char run_id[ID_SIZE])
{
    const char *dot = strchr(s, '.');
    if (dot == NULL || dot - s >= ID_SIZE)
        return NULL;
    memcpy(run_id, s, (size_t)(dot - s));
    run_id[dot - s] = '\0';
    return crypto_id_valid(run_id) ? dot + 1 : NULL;
}

int mcp_event_id_parse(const char *s, char run_id[ID_SIZE], char event_id[EVENT_ID_SIZE])
{
    struct event_id id;
    const char *rest = split_run(s, run_id);
    if (rest == NULL || strlen(rest) >= EVENT_ID_SIZE || event_id_parse(rest, &id) != 0)
        return -1;
    event_id_format(&id, event_id);
    return 0;
}

int mcp_elicit_id_parse(const char *s, char run_id[ID_SIZE])
{
    char event[EVENT_ID_SIZE];
    return strncmp(s, "input.", 6) == 0 ? mcp_event_id_parse(s + 6, run_id, event) : -1;
}

static const char *const levels[] = {"debug", "info", "notice", "warning",
                                     "error", "critical", "alert", "emergency"};

int mcp_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof levels / sizeof levels[0]); i++)
        if (strcmp(name, levels[i]) == 0)
            return i;
    return -2;
}

/* A task's statuses are MCP's names, not a run's (three are spelled
 * alike). */
#define MCP_TASK_WORKING "working"
#define MCP_TASK_INPUT_REQUIRED "input_required"
#define MCP_TASK_COMPLETED "completed"
#define MCP_TASK_CANCELLED "cancelled"
#define MCP_TASK_FAILED "failed"

const char *mcp_task_status(enum run_status s)
{
    switch (s) {
    case RUN_QUEUED:
    case RUN_RUNNING:
        return MCP_TASK_WORKING;
    case RUN_INPUT_REQUIRED:
        return MCP_TASK_INPUT_REQUIRED;
    case RUN_SUCCEEDED:
        return MCP_TASK_COMPLETED;
    case RUN_CANCELLED:
        return MCP_TASK_CANCELLED;
    default:
        return MCP_TASK_FAILED;
    }
}

static json_t *related(const char *run_id)
{
    return json_pack("{s:{s:s}}", "io.modelcontextprotocol/related-task", "taskId", run_id);
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
    char t[40];
    if (clock_rfc3339(ms, t, sizeof t) == 0)
        json_object_set_new(o, key, json_string(t));
}

/* The error's message, or the status when the error has none. */
static const char *error_text(const json_t *error, const char *status)
{
    const char *m = json_string_value(json_object_get(error, "message"));
    return m != NULL ? m : status;
}

json_t *mcp_tool_result(const char *run_id, int task, const json_t *finished)
{
    const char *status = json_string_value(json_object_get(finished, "status"));
    json_t *result = json_object_get(finished, "result");
    json_t *error = json_object_get(finished, "error");
    enum run_status st;
    int ok = status != NULL && run_status_parse(status, &st) == 0 && st == RUN_SUCCEEDED;
    char *dumped = NULL;
    if (ok || error == NULL)
        dumped = json_dumps(result ? result : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    const char *text = dumped ? dumped : error_text(error, status ? status : "the run did not succeed");
    json_t *out = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
                            "isError", !ok);
    free(dumped);
    if (json_is_object(result))
        json_object_set(out, "structuredContent", result);
    if (task)
        json_object_set_new(out, "_meta", related(run_id));
    return out;
}

json_t *mcp_task(const struct run *r, int ttl_ms, int poll_ms)
{
    json_t *t = json_pack("{s:s, s:s, s:i, s:i}", "taskId", r->id, "status",
                          mcp_task_status(r->status), "ttl", ttl_ms, "pollInterval", poll_ms);
    set_time(t, "createdAt", r->created_at);
    set_time(t, "lastUpdatedAt", r->updated_at ? r->updated_at : r->created_at);
    const char *why = NULL;
    if (r->error != NULL)
        why = error_text(r->error, run_status_name(r->status));
    else if (r->status == RUN_INPUT_REQUIRED)
        why = json_string_value(json_object_get(r->pending_input, "prompt"));
    if (why != NULL)
        json_object_set_new(t, "statusMessage", json_string(why));
    return t;
}

/* Copies the keys of src named in keys (NULL-ended) to dst; 0, or -1 when
 * src has any other. */
static int copy_keys(json_t *dst, const json_t *src, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v) {
        size_t i = 0;
        while (keys[i] != NULL && strcmp(keys[i], k) != 0)
            i++;
        if (keys[i] == NULL)
            return -1;
        json_object_set(dst, k, v);
    }
    return 0;
}

static json_t *elicit_property(const json_t *p)
{
    static const char *const string_keys[] = {"type", "title", "description", "minLength",
                                              "maxLength", "format", "default", "enum", NULL};
    static const char *const number_keys[] = {"type", "title", "description", "minimum",
                                              "maximum", "default", NULL};
    static const char *const bool_keys[] = {"type", "title", "description", "default", NULL};
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type == NULL)
        return NULL;
    const char *const *keys = strcmp(type, "string") == 0 ? string_keys
                            : strcmp(type, "number") == 0 || strcmp(type, "integer") == 0 ? number_keys
                            : strcmp(type, "boolean") == 0 ? bool_keys : NULL;
    json_t *out = json_object();
    if (keys == NULL || copy_keys(out, p, keys) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *mcp_elicit_schema(const json_t *schema)
{
    static const char *const top_keys[] = {"type", "properties", "required",
                                           "additionalProperties", "title", "description", NULL};
    json_t *props = json_object_get(schema, "properties");
    json_t *req = json_object_get(schema, "required");
    const char *type = json_string_value(json_object_get(schema, "type"));
    json_t *top = json_object();
    int ok = type != NULL && strcmp(type, "object") == 0 && json_is_object(props) &&
             (req == NULL || json_is_array(req)) && copy_keys(top, schema, top_keys) == 0;
    json_decref(top);
    if (!ok)
        return NULL;
    json_t *out = json_pack("{s:s, s:o}", "type", "object", "properties", json_object());
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        json_t *p = elicit_property(v);
        if (p == NULL) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(json_object_get(out, "properties"), k, p);
    }
    if (req != NULL)
        json_object_set(out, "required", req);
    return out;
}

/* The log level an event is heard at: a job's stderr a warning, its other
 * lines and events information. */
static int level_of(const char *name, const json_t *data)
{
    if (strcmp(name, "log") != 0)
        return MCP_LOG_DEBUG;
    const char *stream = json_string_value(json_object_get(data, "stream"));
    return stream != NULL && strcmp(stream, "stderr") == 0 ? MCP_LOG_WARNING : MCP_LOG_INFO;
}

static json_t *progress(const struct mcp_view *v, const json_t *data)
{
    json_t *current = json_object_get(data, "current");
    json_t *total = json_object_get(data, "total");
    json_t *token = json_loads(v->progress_token, JSON_DECODE_ANY, NULL);
    if (!json_is_number(current) || token == NULL) {
        json_decref(token);
        return NULL;
    }
    json_t *params = json_pack("{s:o, s:O}", "progressToken", token, "progress", current);
    if (json_is_number(total))
        json_object_set(params, "total", total);
    json_t *message = json_object_get(data, "message");
    if (json_is_string(message))
        json_object_set(params, "message", message);
    return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/progress",
                     "params", params);
}

static json_t *elicitation(const struct mcp_view *v, const char *run_id, const char *event_id,
                           const json_t *data)
{
    json_t *schema = mcp_elicit_schema(json_object_get(data, "schema"));
    char id[6 + MCP_EVENT_ID_SIZE];
    if (schema == NULL)
        return NULL;
    snprintf(id, sizeof id, "input.%s.%s", run_id, event_id);
    const char *prompt = json_string_value(json_object_get(data, "prompt"));
    json_t *params = json_pack("{s:s, s:s, s:o}", "mode", "form", "message",
                               prompt ? prompt : "The job asks for input.", "requestedSchema", schema);
    if (v->task)
        json_object_set_new(params, "_meta", related(run_id));
    return json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method",
                     "elicitation/create", "params", params);
}

static json_t *log_message(const char *name, const json_t *data, int level)
{
    json_t *d = strcmp(name, "log") == 0 ? json_incref((json_t *)data)
                                          : json_pack("{s:s, s:O}", "event", name, "data", data);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}}", "jsonrpc", "2.0", "method",
                     "notifications/message", "params", "level", levels[level], "logger",
                     "opstream", "data", d);
}

/* The task's status as a notification, where the event changes it. */
static json_t *task_status(const struct mcp_view *v, const char *run_id, const char *event_id,
                           const char *name)
{
    int waits = strcmp(name, EVENT_INPUT_REQUIRED) == 0;
    struct event_id id;
    if ((!waits && strcmp(name, "run_started") != 0 && strcmp(name, "input_received") != 0) ||
        event_id_parse(event_id, &id) != 0)
        return NULL;
    struct run r = {.status = waits ? RUN_INPUT_REQUIRED : RUN_RUNNING,
                    .created_at = v->created_ms, .updated_at = (int64_t)id.ms};
    snprintf(r.id, sizeof r.id, "%s", run_id);
    json_t *params = mcp_task(&r, v->ttl_ms, 0);
    json_object_del(params, "pollInterval");
    return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/tasks/status",
                     "params", params);
}

char *mcp_event_message(const struct mcp_view *v, const char *run_id, const char *event_id,
                        const char *name, const char *data)
{
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    json_t *msg = NULL;
    if (event_is_terminal(name)) {
        json_t *id = json_loads(v->rpc_id, JSON_DECODE_ANY, NULL);
        if (id != NULL)
            msg = json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", id, "result",
                            mcp_tool_result(run_id, v->task, d));
    } else if (strcmp(name, "progress") == 0 && v->progress_token[0] != '\0') {
        msg = progress(v, d);
    } else if (strcmp(name, EVENT_INPUT_REQUIRED) == 0 && v->elicit) {
        msg = elicitation(v, run_id, event_id, d);
    } else if (v->task && (msg = task_status(v, run_id, event_id, name)) != NULL) {
        /* a change of the task's status */
    } else if (v->log_level != MCP_LOG_OFF && d != NULL && level_of(name, d) >= v->log_level) {
        msg = log_message(name, d, level_of(name, d));
    }
    json_decref(d);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    return text;
}
