/* {base_path}/mcp: the Model Context Protocol's Streamable HTTP transport
 * (revision 2025-11-25; 2025-06-18 and 2025-03-26 clients are answered in
 * theirs). Tools are job types, tasks are runs, and the stream that
 * answers a tools/call or a tasks/result is the run's event stream seen
 * through an MCP view (mcp.h): the same replay, archive and hub, with
 * event ids "RUN.EVENT" that a GET with Last-Event-ID resumes.
 *
 * Nothing lives in the process: a session is a Redis note {owner,
 * version, elicit, level} under its id, a call's stream a note under its
 * run, so that any responder on any host serves any session. */
#include "api.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "mcp.h"
#include "reply.h"
#include "runs.h"
#include "schema.h"
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A session unused this long is gone; every request renews it. */
#define SESSION_TTL_S 86400
/* How long a call's stream can be resumed, and a task's result kept
 * (the run's own stays in the ledger until it is collected). */
#define CALL_TTL_S (7 * 86400)
#define TASK_TTL_MS (CALL_TTL_S * 1000)
#define TASK_POLL_MS 1000
#define TASKS_PAGE 50
/* How long tasks/cancel waits for the job to stop, to answer with the
 * task cancelled. */
#define CANCEL_WAIT_MS 10000

/* JSON-RPC's error codes, and the session's. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL = -32603,
    RPC_SESSION_NOT_FOUND = -32001,
};

struct session {
    char id[ID_SIZE];
    char owner[OWNER_SIZE];
    char version[16];
    int elicit;
    int level;
};

/* A JSON-RPC error answer; id may be NULL (null). */
static int rpc_error(struct call *c, int http, const json_t *id, int code, const char *message)
{
    json_t *body = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                             id ? id : json_null(), "error", "code", code, "message", message);
    return reply_json(c->req, http, body, NULL);
}

static int rpc_result(struct call *c, const json_t *id, json_t *result, const char *headers)
{
    return reply_json(c->req, 200, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
                                             "result", result), headers);
}

static void session_name(const char *sid, char out[BUS_NOTE_NAME_SIZE])
{
    snprintf(out, BUS_NOTE_NAME_SIZE, "mcp-session:%s", sid);
}

static void call_name(const char *run_id, char out[BUS_NOTE_NAME_SIZE])
{
    snprintf(out, BUS_NOTE_NAME_SIZE, "mcp-call:%s", run_id);
}

static int session_save(struct call *c, const struct session *s)
{
    char name[BUS_NOTE_NAME_SIZE];
    session_name(s->id, name);
    json_t *j = json_pack("{s:s, s:s, s:b, s:i}", "owner", s->owner, "version", s->version,
                          "elicit", s->elicit, "level", s->level);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int rc = text != NULL ? bus_note_put(c->bus, name, text, SESSION_TTL_S) : -1;
    free(text);
    return rc;
}

/* The request's session, its owner the caller: 0, or -1 after answering
 * (400 without one, 404 for one unknown, expired or another owner's: the
 * client starts a new one). */
static int session_load(struct call *c, const json_t *id, struct session *s)
{
    const char *sid = request_env(c->req, "HTTP_MCP_SESSION_ID");
    if (sid == NULL || sid[0] == '\0')
        return rpc_error(c, 400, id, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"), -1;
    const char *version = request_env(c->req, "HTTP_MCP_PROTOCOL_VERSION");
    if (version != NULL && !mcp_version_known(version))
        return rpc_error(c, 400, id, RPC_INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version"), -1;
    if (call_bus(c) == NULL)
        return reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable"), -1;
    char name[BUS_NOTE_NAME_SIZE], *text = NULL;
    int got = strlen(sid) < ID_SIZE && crypto_id_valid(sid) ? (session_name(sid, name),
              bus_note_get(c->bus, name, SESSION_TTL_S, &text)) : 0;
    if (got < 0)
        return reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable"), -1;
    json_t *j = got ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *owner = json_string_value(json_object_get(j, "owner"));
    const char *v = json_string_value(json_object_get(j, "version"));
    int ok = owner != NULL && v != NULL && strcmp(owner, c->req->owner) == 0;
    if (ok) {
        snprintf(s->id, sizeof s->id, "%s", sid);
        snprintf(s->owner, sizeof s->owner, "%s", owner);
        snprintf(s->version, sizeof s->version, "%s", v);
        s->elicit = json_is_true(json_object_get(j, "elicit"));
        s->level = (int)json_integer_value(json_object_get(j, "level"));
    }
    json_decref(j);
    if (!ok)
        return rpc_error(c, 404, id, RPC_SESSION_NOT_FOUND, "Session not found"), -1;
    return 0;
}

/* The host part of a Host header or an origin's authority: its length
 * without the port. */
static size_t host_len(const char *h)
{
    if (h[0] == '[')
        return strcspn(h, "]") + (strchr(h, ']') != NULL);
    return strcspn(h, ":/");
}

static int host_is(const char *h, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(h, name, n) == 0;
}

/* 1 when host (of n bytes) is one a loopback address answers to. */
static int loopback_name(const char *h, size_t n)
{
    return host_is(h, n, "localhost") || host_is(h, n, "[::1]") ||
           (n >= 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n);
}

/* 1 when host (of n bytes) is in the space-separated list. */
static int listed(const char *list, const char *h, size_t n)
{
    for (const char *p = list; *p != '\0';) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len > 0 && len == n && strncasecmp(p, h, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* The transport's security rules against DNS rebinding: the Host must be
 * one of mcp_allowed_hosts where it is set, else, on a loopback address
 * (where a rebound name reaches a local server), a loopback name; and an
 * Origin, where one is sent, must name that same host. */
static int origin_ok(const struct request *req)
{
    const char *origin = request_env(req, "HTTP_ORIGIN");
    const char *host = request_env(req, "HTTP_HOST");
    const char *addr = request_env(req, "SERVER_ADDR");
    const char *allowed = req->cfg->mcp_allowed_hosts;
    size_t hn = host ? host_len(host) : 0;
    if (allowed[0] != '\0' ? host == NULL || !listed(allowed, host, hn)
        : host != NULL && request_addr_loopback(addr) && !loopback_name(host, hn))
        return 0;
    if (origin == NULL)
        return 1;
    const char *rest = strncmp(origin, "https://", 8) == 0 ? origin + 8
                     : strncmp(origin, "http://", 7) == 0 ? origin + 7 : NULL;
    /* Host names only: a server may pass Host without its port (nginx's
     * $host). */
    return rest != NULL && host != NULL && host_len(rest) == hn && strncasecmp(rest, host, hn) == 0;
}

/* A run of the session's owner by its id: 0; 1 none (or another's: the
 * same to the caller); -1 after answering 503. */
static int owned_run(struct call *c, const struct session *s, const char *run_id, struct run *r)
{
    int rc = crypto_id_valid(run_id) ? store_run_get(c->st, run_id, r) : 1;
    if (rc < 0)
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read"), -1;
    if (rc == 0 && strcmp(r->owner, s->owner) != 0) {
        run_clear(r);
        rc = 1;
    }
    return rc;
}

/* params.taskId's run: 0, or -1 after answering (an unknown task). */
static int task_run(struct call *c, const struct session *s, const json_t *id,
                    const json_t *params, struct run *r)
{
    const char *task = json_string_value(json_object_get(params, "taskId"));
    int rc = task != NULL && strlen(task) < ID_SIZE ? owned_run(c, s, task, r) : 1;
    if (rc > 0)
        rpc_error(c, 200, id, RPC_INVALID_PARAMS, "Unknown task");
    return rc == 0 ? 0 : -1;
}

static json_t *tool_of(const struct jobtype *jt)
{
    json_t *schema = json_object_get(jt->doc, "input_schema");
    json_t *out = json_object_get(jt->doc, "output_schema");
    json_t *desc = json_object_get(jt->doc, "description");
    json_t *t = json_pack("{s:s, s:O, s:{s:s}}", "name", jt->name, "inputSchema",
                          schema ? schema : json_pack("{s:s}", "type", "object"), "execution",
                          "taskSupport", "optional");
    if (schema == NULL)
        json_decref(json_object_get(t, "inputSchema"));
    if (json_is_string(desc))
        json_object_set(t, "description", desc);
    if (json_is_object(out))
        json_object_set(t, "outputSchema", out);
    return t;
}

static int m_tools_list(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    (void)s, (void)params;
    json_t *tools = json_array();
    for (size_t i = 0; i < c->api->types->n; i++)
        json_array_append_new(tools, tool_of(&c->api->types->v[i]));
    return rpc_result(c, id, json_pack("{s:o}", "tools", tools), NULL);
}

/* The view of a stream that answers request id (JSON text saved with
 * it), from the session's wishes. */
static int view_init(struct mcp_view *v, const struct session *s, const json_t *id,
                     const json_t *token, int task, const struct run *r)
{
    memset(v, 0, sizeof *v);
    char *idt = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    char *tokt = token ? json_dumps(token, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int ok = idt != NULL && strlen(idt) < sizeof v->rpc_id && (token == NULL || tokt != NULL) &&
             (tokt == NULL || strlen(tokt) < sizeof v->progress_token);
    if (ok) {
        snprintf(v->rpc_id, sizeof v->rpc_id, "%s", idt);
        snprintf(v->progress_token, sizeof v->progress_token, "%s", tokt ? tokt : "");
    }
    free(idt);
    free(tokt);
    v->log_level = s->level;
    v->elicit = s->elicit;
    v->task = task;
    v->created_ms = r->created_at;
    v->ttl_ms = TASK_TTL_MS;
    return ok ? 0 : -1;
}

/* Saves what a GET needs to resume the stream of view v of run_id. */
static int view_save(struct call *c, const char *run_id, const struct mcp_view *v)
{
    char name[BUS_NOTE_NAME_SIZE];
    call_name(run_id, name);
    json_t *j = json_pack("{s:s, s:s, s:b, s:I}", "id", v->rpc_id, "progress", v->progress_token,
                          "task", v->task, "created", (json_int_t)v->created_ms);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int rc = text ? bus_note_put(c->bus, name, text, CALL_TTL_S) : -1;
    free(text);
    return rc;
}

static int view_load(struct call *c, const struct session *s, const char *run_id,
                     struct mcp_view *v)
{
    char name[BUS_NOTE_NAME_SIZE], *text = NULL;
    call_name(run_id, name);
    if (bus_note_get(c->bus, name, CALL_TTL_S, &text) <= 0)
        return -1;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *tok = json_string_value(json_object_get(j, "progress"));
    int ok = id != NULL && tok != NULL && strlen(id) < sizeof v->rpc_id &&
             strlen(tok) < sizeof v->progress_token;
    if (ok) {
        memset(v, 0, sizeof *v);
        snprintf(v->rpc_id, sizeof v->rpc_id, "%s", id);
        snprintf(v->progress_token, sizeof v->progress_token, "%s", tok);
        v->task = json_is_true(json_object_get(j, "task"));
        v->created_ms = json_integer_value(json_object_get(j, "created"));
        v->ttl_ms = TASK_TTL_MS;
        v->log_level = s->level;
        v->elicit = s->elicit;
    }
    json_decref(j);
    return ok ? 0 : -1;
}

/* A tool call's arguments that its type's schema refuses: a tool error
 * the model can read and correct (not a protocol error). */
static json_t *tool_error(const char *text)
{
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError", 1);
}

static const char *create_failure(enum create_result res)
{
    switch (res) {
    case CREATE_QUOTA:
        return "Too many of your runs are active; wait for one to end";
    case CREATE_THREAD_BUSY:
        return "The thread has an active run";
    default:
        return "The run could not be queued now; try again";
    }
}

/* Remembers which run request id of the session started, for a
 * notifications/cancelled that names the request. */
static void request_note(struct call *c, const struct session *s, const char *rpc_id,
                         const char *run_id)
{
    char name[BUS_NOTE_NAME_SIZE];
    if (snprintf(name, sizeof name, "mcp-request:%s:%s", s->id, rpc_id) < (int)sizeof name)
        bus_note_put(c->bus, name, run_id, CALL_TTL_S);
}

static int m_tools_call(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    json_t *task = json_object_get(params, "task");
    json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
    const struct jobtype *jt = name ? jobtypes_find(c->api->types, name) : NULL;
    if (jt == NULL)
        return rpc_error(c, 200, id, RPC_INVALID_PARAMS, name ? "Unknown tool" : "params.name must be a string");
    if ((args != NULL && !json_is_object(args)) || (task != NULL && !json_is_object(task)) ||
        (token != NULL && !json_is_string(token) && !json_is_integer(token)))
        return rpc_error(c, 200, id, RPC_INVALID_PARAMS,
                         "params.arguments and params.task must be objects, a progressToken a string or an integer");
    if (task == NULL && !request_accepts(c->req, "text/event-stream"))
        return rpc_error(c, 406, id, RPC_INVALID_REQUEST, "Not Acceptable: a call's answer is a text/event-stream");
    json_t *schema = json_object_get(jt->doc, "input_schema");
    json_t *input = args ? json_incref(args) : json_object();
    char why[SCHEMA_ERR_SIZE];
    if (schema != NULL && schema_validate(schema, input, "/arguments", why, sizeof why) != 0) {
        json_decref(input);
        return rpc_result(c, id, tool_error(why), NULL);
    }
    struct run r, old;
    memset(&r, 0, sizeof r);
    memset(&old, 0, sizeof old);
    snprintf(r.owner, sizeof r.owner, "%s", s->owner);
    snprintf(r.type, sizeof r.type, "%s", jt->name);
    r.input = input;
    r.metadata = json_pack("{s:s}", MCP_RUN_METADATA, s->id);
    const char *hook = jt->webhook;
    if (hook != NULL)
        snprintf(r.webhook, sizeof r.webhook, "%s", hook);
    struct runs_ctx rc = {.cfg = c->req->cfg, .st = c->st, .bus = c->bus};
    struct create_opts opts = {.strategy = MT_REJECT, .max_active = c->req->cfg->max_active_runs_per_owner};
    enum create_result res = runs_create(&rc, &r, &opts, &old);
    run_clear(&old);
    if (res != CREATE_NEW) {
        run_clear(&r);
        return rpc_error(c, 200, id, RPC_INTERNAL, create_failure(res));
    }
    int ret;
    struct mcp_view v;
    if (task != NULL) {
        ret = rpc_result(c, id, json_pack("{s:o}", "task", mcp_task(&r, TASK_TTL_MS, TASK_POLL_MS)), NULL);
    } else if (view_init(&v, s, id, token, 0, &r) != 0 || view_save(c, r.id, &v) != 0) {
        ret = rpc_error(c, 200, id, RPC_INTERNAL, "The call's stream could not be set up; its run is queued");
    } else {
        request_note(c, s, v.rpc_id, r.id);
        ret = api_stream_mcp(c, &r, "0-0", NULL, &v);
    }
    run_clear(&r);
    return ret;
}

static int m_tasks_get(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    struct run r;
    if (task_run(c, s, id, params, &r) != 0)
        return -1;
    int ret = rpc_result(c, id, mcp_task(&r, TASK_TTL_MS, TASK_POLL_MS), NULL);
    run_clear(&r);
    return ret;
}

/* run_finished's data, from the ledger's row of an ended run. */
static int m_tasks_result(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    struct run r;
    if (task_run(c, s, id, params, &r) != 0)
        return -1;
    int ret;
    struct mcp_view v;
    if (run_status_terminal(r.status)) {
        json_t *d = runs_end_data(r.status, r.result, r.error);
        ret = rpc_result(c, id, mcp_tool_result(r.id, 1, d), NULL);
        json_decref(d);
    } else if (!request_accepts(c->req, "text/event-stream")) {
        ret = rpc_error(c, 406, id, RPC_INVALID_REQUEST, "Not Acceptable: a task's result comes as a text/event-stream");
    } else if (view_init(&v, s, id, NULL, 1, &r) != 0 || view_save(c, r.id, &v) != 0) {
        ret = rpc_error(c, 200, id, RPC_INTERNAL, "The task's stream could not be set up");
    } else {
        /* From where the run is: a question it waits on is asked again
         * (it is the last event but for log lines). */
        char cursor[EVENT_ID_SIZE] = "0-0";
        struct event_id last;
        if (r.last_event_id[0] != '\0' && event_id_parse(r.last_event_id, &last) == 0) {
            if (r.status == RUN_INPUT_REQUIRED)
                event_id_before(&last, cursor);
            else
                event_id_format(&last, cursor);
        }
        ret = api_stream_mcp(c, &r, cursor, NULL, &v);
    }
    run_clear(&r);
    return ret;
}

struct task_page {
    json_t *tasks;
    int64_t last_seq;
    int more;
};

static int add_task(void *ctx, struct run *r)
{
    struct task_page *p = ctx;
    if (json_array_size(p->tasks) == TASKS_PAGE) {
        p->more = 1; /* the one extra row only tells that a next page exists */
        return 1;
    }
    json_array_append_new(p->tasks, mcp_task(r, TASK_TTL_MS, TASK_POLL_MS));
    p->last_seq = r->seq;
    return 0;
}

static int m_tasks_list(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    json_t *cur = json_object_get(params, "cursor");
    struct run_filter f = {.owner = s->owner, .limit = TASKS_PAGE + 1};
    if (cur != NULL && (!json_is_string(cur) || json_string_length(cur) >= CURSOR_SIZE ||
                        api_cursor_decode(json_string_value(cur), &f.before_seq) != 0))
        return rpc_error(c, 200, id, RPC_INVALID_PARAMS, "Invalid cursor");
    struct task_page p = {.tasks = json_array()};
    if (store_run_list(c->st, &f, add_task, &p) < 0) {
        json_decref(p.tasks);
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    }
    json_t *result = json_pack("{s:o}", "tasks", p.tasks);
    if (p.more) {
        char next[CURSOR_SIZE];
        api_cursor_encode(p.last_seq, next);
        json_object_set_new(result, "nextCursor", json_string(next));
    }
    return rpc_result(c, id, result, NULL);
}

static int m_tasks_cancel(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    struct run r;
    if (task_run(c, s, id, params, &r) != 0)
        return -1;
    struct runs_ctx rc = {.cfg = c->req->cfg, .st = c->st, .bus = c->bus};
    json_t *why = json_pack("{s:s}", "reason", "cancelled by the MCP client (tasks/cancel)");
    enum cancel_result res = run_status_terminal(r.status) ? CANCEL_TERMINAL : runs_cancel(&rc, r.id, why);
    json_decref(why);
    int ret;
    if (res == CANCEL_TERMINAL)
        ret = rpc_error(c, 200, id, RPC_INVALID_PARAMS, "Cannot cancel a task in a terminal status");
    else if (res == CANCEL_ERROR || api_wait_terminal(c, &r, CANCEL_WAIT_MS) < 0)
        ret = rpc_error(c, 200, id, RPC_INTERNAL, "The cancellation could not be recorded now");
    else
        ret = rpc_result(c, id, mcp_task(&r, TASK_TTL_MS, TASK_POLL_MS), NULL);
    run_clear(&r);
    return ret;
}

static int m_ping(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    (void)s, (void)params;
    return rpc_result(c, id, json_object(), NULL);
}

static int m_set_level(struct call *c, struct session *s, const json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "level"));
    int level = name ? mcp_level_parse(name) : -2;
    if (level < 0)
        return rpc_error(c, 200, id, RPC_INVALID_PARAMS, "params.level must be a logging level");
    s->level = level;
    if (session_save(c, s) != 0)
        return rpc_error(c, 200, id, RPC_INTERNAL, "The level could not be saved now");
    return rpc_result(c, id, json_object(), NULL);
}

static const struct {
    const char *method;
    int (*fn)(struct call *c, struct session *s, const json_t *id, json_t *params);
} methods[] = {
    {"ping", m_ping},
    {"tools/list", m_tools_list},
    {"tools/call", m_tools_call},
    {"tasks/get", m_tasks_get},
    {"tasks/result", m_tasks_result},
    {"tasks/list", m_tasks_list},
    {"tasks/cancel", m_tasks_cancel},
    {"logging/setLevel", m_set_level},
};

static int initialize(struct call *c, const json_t *id, json_t *params)
{
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    json_t *caps = json_object_get(params, "capabilities");
    if (asked == NULL || (caps != NULL && !json_is_object(caps)))
        return rpc_error(c, 200, id, RPC_INVALID_PARAMS,
                         "params.protocolVersion must be a string, params.capabilities an object");
    if (call_bus(c) == NULL)
        return reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable");
    struct session s = {.level = MCP_LOG_OFF};
    crypto_new_id(s.id);
    snprintf(s.owner, sizeof s.owner, "%s", c->req->owner);
    snprintf(s.version, sizeof s.version, "%s", mcp_version_known(asked) ? asked : MCP_VERSION_LATEST);
    s.elicit = json_is_object(json_object_get(caps, "elicitation"));
    if (session_save(c, &s) != 0)
        return reply_problem(c->req, 503, "redis_unavailable", "the session could not be kept");
    json_t *result = json_pack(
        "{s:s, s:{s:{s:b}, s:{}, s:{s:{}, s:{}, s:{s:{s:{}}}}}, s:{s:s, s:s}, s:s}",
        "protocolVersion", s.version, "capabilities", "tools", "listChanged", 0, "logging", "tasks",
        "list", "cancel", "requests", "tools", "call", "serverInfo", "name", "opstream", "version",
        PACKAGE_VERSION, "instructions",
        "Each tool is a job type of this opstream; a call runs it as a durable run whose progress "
        "comes as notifications. Call long tools as tasks: they outlive this session.");
    char headers[ID_SIZE + 32];
    snprintf(headers, sizeof headers, "Mcp-Session-Id: %s\r\n", s.id);
    return rpc_result(c, id, result, headers);
}

/* The client's answer to an elicitation/create: the run's input (accept),
 * or its cancellation (decline, cancel). 202, or 400 when it is not an
 * answer to a question still open. */
static int answer(struct call *c, const struct session *s, json_t *msg)
{
    const char *rid = json_string_value(json_object_get(msg, "id"));
    json_t *result = json_object_get(msg, "result");
    const char *action = json_string_value(json_object_get(result, "action"));
    json_t *content = json_object_get(result, "content");
    char run_id[ID_SIZE];
    struct run r;
    if (rid == NULL || mcp_elicit_id_parse(rid, run_id) != 0 || owned_run(c, s, run_id, &r) != 0)
        return rpc_error(c, 400, NULL, RPC_INVALID_REQUEST, "Bad Request: no question of this server has this id");
    if (json_object_get(msg, "error") != NULL) { /* the client could not ask */
        run_clear(&r);
        return reply_empty(c->req, 202, NULL);
    }
    const char *bad = NULL;
    char why[SCHEMA_ERR_SIZE];
    json_t *schema = json_object_get(r.pending_input, "schema");
    struct runs_ctx rc = {.cfg = c->req->cfg, .st = c->st, .bus = c->bus};
    if (r.status != RUN_INPUT_REQUIRED) {
        bad = "Bad Request: the run is not waiting for input";
    } else if (action == NULL || (strcmp(action, "accept") != 0 && strcmp(action, "decline") != 0 &&
                                  strcmp(action, "cancel") != 0)) {
        bad = "Bad Request: result.action must be accept, decline or cancel";
    } else if (strcmp(action, "accept") != 0) {
        json_t *why_cancel = json_pack("{s:s}", "reason", strcmp(action, "decline") == 0
                                       ? "the user declined to answer" : "the user dismissed the question");
        if (runs_cancel(&rc, r.id, why_cancel) == CANCEL_ERROR)
            bad = "Bad Request: the run could not be cancelled now";
        json_decref(why_cancel);
    } else if (!json_is_object(content) ||
               (schema != NULL && schema_validate(schema, content, "/content", why, sizeof why) != 0)) {
        bad = json_is_object(content) ? why : "Bad Request: result.content must be an object";
    } else if (runs_resume(&rc, &r, content) != RESUMED) {
        bad = "Bad Request: the run was resumed already";
    }
    run_clear(&r);
    return bad ? rpc_error(c, 400, NULL, RPC_INVALID_PARAMS, bad) : reply_empty(c->req, 202, NULL);
}

/* notifications/cancelled: the run the named request started is
 * cancelled, as tasks/cancel would (a task is cancelled by tasks/cancel
 * only, as the transport says). */
static void cancelled(struct call *c, const struct session *s, json_t *params)
{
    json_t *req_id = json_object_get(params, "requestId");
    const char *reason = json_string_value(json_object_get(params, "reason"));
    char *idt = req_id ? json_dumps(req_id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char name[BUS_NOTE_NAME_SIZE], *run_id = NULL;
    struct run r;
    if (idt != NULL && snprintf(name, sizeof name, "mcp-request:%s:%s", s->id, idt) < (int)sizeof name &&
        bus_note_get(c->bus, name, CALL_TTL_S, &run_id) > 0 && owned_run(c, s, run_id, &r) == 0) {
        struct runs_ctx rc = {.cfg = c->req->cfg, .st = c->st, .bus = c->bus};
        json_t *why = json_pack("{s:s}", "reason", reason ? reason : "cancelled by the MCP client");
        if (!run_status_terminal(r.status))
            runs_cancel(&rc, r.id, why);
        json_decref(why);
        run_clear(&r);
    }
    free(run_id);
    free(idt);
}

static int valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

int api_mcp_post(struct call *c)
{
    struct request *req = c->req;
    if (!origin_ok(req))
        return rpc_error(c, 403, NULL, RPC_INVALID_REQUEST, "Forbidden: Origin not allowed");
    char why[128];
    json_t *msg = NULL;
    switch (request_json_body(req, &msg, why, sizeof why)) {
    case BODY_OK:
        break;
    case BODY_TOO_LARGE:
        return rpc_error(c, 413, NULL, RPC_INVALID_REQUEST, "Content Too Large");
    case BODY_INCOMPLETE:
        return rpc_error(c, 400, NULL, RPC_PARSE_ERROR, "Parse error: the body ended early");
    default:
        return rpc_error(c, 400, NULL, RPC_PARSE_ERROR, "Parse error");
    }
    int ret;
    enum mcp_kind kind = mcp_message_kind(msg);
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    struct session s;
    if (kind == MCP_BATCH) {
        ret = rpc_error(c, 400, NULL, RPC_INVALID_REQUEST, "Invalid Request: batches are not accepted");
    } else if (kind == MCP_INVALID) {
        ret = rpc_error(c, 400, valid_id(id) ? id : NULL, RPC_INVALID_REQUEST, "Invalid Request");
    } else if (method != NULL && strcmp(method, "initialize") == 0) {
        ret = kind == MCP_REQUEST ? initialize(c, id, params)
                         : rpc_error(c, 400, NULL, RPC_INVALID_REQUEST, "Invalid Request: initialize is a request");
    } else if (session_load(c, valid_id(id) ? id : NULL, &s) != 0) {
        ret = -1;
    } else if (kind == MCP_RESPONSE) {
        ret = answer(c, &s, msg);
    } else if (kind == MCP_NOTIFICATION) {
        if (strcmp(method, "notifications/cancelled") == 0)
            cancelled(c, &s, params);
        ret = reply_empty(req, 202, NULL);
    } else {
        size_t i = 0, n = sizeof methods / sizeof methods[0];
        while (i < n && strcmp(methods[i].method, method) != 0)
            i++;
        ret = i < n ? methods[i].fn(c, &s, id, params)
                    : rpc_error(c, 200, id, RPC_METHOD_NOT_FOUND, "Method not found");
    }
    json_decref(msg);
    return ret;
}

/* GET: a stream cut before its answer goes on from Last-Event-ID. There
 * is no stream of the session's own (405): every message this server
 * sends answers a request. */
int api_mcp_get(struct call *c)
{
    struct request *req = c->req;
    if (!origin_ok(req))
        return rpc_error(c, 403, NULL, RPC_INVALID_REQUEST, "Forbidden: Origin not allowed");
    if (!request_accepts(req, "text/event-stream"))
        return rpc_error(c, 406, NULL, RPC_INVALID_REQUEST, "Not Acceptable: GET takes text/event-stream");
    struct session s;
    if (session_load(c, NULL, &s) != 0)
        return -1;
    const char *last = request_env(req, "HTTP_LAST_EVENT_ID");
    if (last == NULL || last[0] == '\0')
        return reply_problem_h(req, 405, "Allow: POST, DELETE\r\n", "method_not_allowed",
                               "a session has no stream of its own; resume a cut one with Last-Event-ID");
    char run_id[ID_SIZE], cursor[EVENT_ID_SIZE];
    struct run r;
    struct mcp_view v;
    if (strlen(last) >= MCP_EVENT_ID_SIZE || mcp_event_id_parse(last, run_id, cursor) != 0)
        return rpc_error(c, 400, NULL, RPC_INVALID_REQUEST, "Bad Request: Last-Event-ID is not one of this server's");
    int got = owned_run(c, &s, run_id, &r);
    if (got < 0)
        return -1;
    if (got > 0 || view_load(c, &s, run_id, &v) != 0) {
        if (got == 0)
            run_clear(&r);
        return rpc_error(c, 404, NULL, RPC_INVALID_REQUEST, "Not Found: no stream to resume");
    }
    int ret = api_stream_mcp(c, &r, cursor, NULL, &v);
    run_clear(&r);
    return ret;
}

int api_mcp_delete(struct call *c)
{
    struct session s;
    if (!origin_ok(c->req))
        return rpc_error(c, 403, NULL, RPC_INVALID_REQUEST, "Forbidden: Origin not allowed");
    if (session_load(c, NULL, &s) != 0)
        return -1;
    char name[BUS_NOTE_NAME_SIZE];
    session_name(s.id, name);
    if (bus_note_delete(c->bus, name) != 0)
        return reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable");
    return reply_empty(c->req, 204, NULL);
}
