/* LangGraph's runs API under {base_path}/langgraph (langgraph.h): what
 * @langchain/langgraph-sdk's Client calls, over ordinary runs. An
 * assistant is a job type; a thread a thread_id (made as such by
 * threads.create, with its metadata in the ledger); a run a run, seen the
 * same from every other route. */
#include "api.h"
#include "clock.h"
#include "crypto.h"
#include "langgraph.h"
#include "reply.h"
#include "runs.h"
#include "stream_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Threads and runs a search or a list reads at most. */
#define LG_SCAN_MAX 10000
#define LG_LIST_MAX 1000
#define LG_WAIT_MS (3600 * 1000)

/* 1 when every member of want is in have with an equal value. */
static int contains(const json_t *have, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
        if (!json_equal(json_object_get(have, k), v))
            return 0;
    return 1;
}

/* limit and offset of a search body: 0, or -1 after answering 422. */
static int page_of(struct request *req, const json_t *body, long dflt, long *limit, long *offset)
{
    json_t *l = json_object_get(body, "limit"), *o = json_object_get(body, "offset");
    *limit = l ? (long)json_integer_value(l) : dflt;
    *offset = o ? (long)json_integer_value(o) : 0;
    if ((l && !json_is_integer(l)) || (o && !json_is_integer(o)) || *limit < 1 ||
        *limit > LG_LIST_MAX || *offset < 0 || *offset > LG_SCAN_MAX)
        return reply_problem(req, 422, "invalid_field", "/limit: 1 to %d; /offset: 0 to %d",
                             LG_LIST_MAX, LG_SCAN_MAX), -1;
    return 0;
}

/* A search's body: an object, or none. 0, or -1 after answering. */
static int search_body(struct call *c, json_t **body)
{
    *body = NULL;
    if (c->req->content_length <= 0) {
        *body = json_object();
        return 0;
    }
    if (call_json_body(c, body) != 0)
        return -1;
    if (!json_is_object(*body)) {
        json_decref(*body);
        return reply_problem(c->req, 422, "invalid_body", "the body must be a JSON object"), -1;
    }
    return 0;
}

/* --- assistants: the job types. */

int api_lg_assistants_search(struct call *c)
{
    json_t *body;
    long limit, offset;
    if (search_body(c, &body) != 0)
        return -1;
    if (page_of(c->req, body, 10, &limit, &offset) != 0) {
        json_decref(body);
        return -1;
    }
    const char *graph = json_string_value(json_object_get(body, "graph_id"));
    json_t *meta = json_object_get(body, "metadata");
    json_t *out = json_array();
    const struct jobtypes *types = c->api->types;
    for (size_t i = 0; i < types->n && (long)json_array_size(out) < limit; i++) {
        json_t *a = lg_assistant(&types->v[i]);
        int match = (graph == NULL || strcmp(graph, types->v[i].name) == 0) &&
                    (!json_is_object(meta) || contains(json_object_get(a, "metadata"), meta));
        if (match && offset-- <= 0)
            json_array_append(out, a);
        json_decref(a);
    }
    json_decref(body);
    return reply_json(c->req, 200, out, NULL);
}

int api_lg_assistant(struct call *c)
{
    const struct jobtype *jt = jobtypes_find(c->api->types, c->req->args[0]);
    if (jt == NULL)
        return reply_problem(c->req, 404, "assistant_not_found", "no assistant (job type) of this id");
    return reply_json(c->req, 200, lg_assistant(jt), NULL);
}

/* --- threads. */

/* The newest run of the caller's thread into r: 0, 1 none, -1. */
static int newest(struct call *c, const char *thread_id, struct run *r)
{
    struct run_filter f = {.owner = c->req->owner, .thread_id = thread_id};
    return store_run_newest(c->st, &f, r);
}

/* The thread the path names (args[0]), the caller's: 0, or -1 after
 * answering 404 (or 503). */
static int path_thread(struct call *c, struct thread *t)
{
    int got = store_thread_get(c->st, c->req->owner, c->req->args[0], t);
    if (got < 0)
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read"), -1;
    if (got > 0)
        return reply_problem(c->req, 404, "thread_not_found", "no such thread"), -1;
    return 0;
}

/* A thread as LangGraph shows it: with its newest run's status and values. */
static json_t *thread_view(struct call *c, const struct thread *t)
{
    struct run r;
    int got = newest(c, t->id, &r);
    json_t *view = lg_thread(t, got == 0 ? &r : NULL);
    run_clear(&r);
    return view;
}

/* A thread id a path holds as it is: what encodeURIComponent (the SDK's)
 * leaves alone, so that the id in the URL is the id. */
static int valid_thread_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ROUTE_ARG_SIZE)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()") == n;
}

int api_lg_thread_create(struct call *c)
{
    struct request *req = c->req;
    json_t *body;
    if (search_body(c, &body) != 0)
        return -1;
    json_t *meta = json_object_get(body, "metadata");
    json_t *tid = json_object_get(body, "thread_id");
    const char *if_exists = json_string_value(json_object_get(body, "if_exists"));
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(body, k, v)
        if (rc == 0 && strcmp(k, "metadata") && strcmp(k, "thread_id") && strcmp(k, "if_exists") &&
            strcmp(k, "graph_id") && strcmp(k, "supersteps") && strcmp(k, "ttl"))
            rc = (reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1);
    if (rc == 0 && meta != NULL && !json_is_null(meta) && !json_is_object(meta))
        rc = (reply_problem(req, 422, "invalid_field", "/metadata: must be an object"), -1);
    if (rc == 0 && tid != NULL && !json_is_null(tid) &&
        (!json_is_string(tid) || !valid_thread_id(json_string_value(tid))))
        rc = (reply_problem(req, 422, "invalid_field",
                            "/thread_id: 1 to %d of A-Z a-z 0-9 - _ . ! ~ * ' ( )", ROUTE_ARG_SIZE - 1), -1);
    if (rc == 0 && if_exists != NULL && strcmp(if_exists, "raise") && strcmp(if_exists, "do_nothing"))
        rc = (reply_problem(req, 422, "invalid_field", "/if_exists: raise or do_nothing"), -1);
    if (rc != 0) {
        json_decref(body);
        return -1;
    }
    struct thread t = {.created_at = clock_now_ms()};
    snprintf(t.owner, sizeof t.owner, "%s", req->owner);
    if (json_is_string(tid))
        snprintf(t.id, sizeof t.id, "%s", json_string_value(tid));
    else
        crypto_new_id(t.id);
    t.updated_at = t.created_at;
    t.metadata = json_is_object(meta) ? json_incref(meta) : json_object();
    int made = store_thread_create(c->st, &t);
    int keep = if_exists != NULL && strcmp(if_exists, "do_nothing") == 0;
    char id[THREAD_SIZE];
    snprintf(id, sizeof id, "%s", t.id);
    thread_clear(&t);
    json_decref(body);
    if (made < 0 || (made == 1 && keep && store_thread_get(c->st, req->owner, id, &t) != 0))
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be written");
    if (made == 1 && !keep)
        return reply_problem(req, 409, "thread_exists", "a thread of this id exists");
    if (made == 0 && store_thread_get(c->st, req->owner, id, &t) != 0)
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read");
    json_t *view = thread_view(c, &t);
    thread_clear(&t);
    return reply_json(req, 200, view, NULL);
}

struct thread_search {
    struct call *c;
    const json_t *metadata;
    const char *status;
    long skip, limit;
    json_t *out;
};

static int add_thread(void *ctx, struct thread *t)
{
    struct thread_search *s = ctx;
    if (json_is_object(s->metadata) && !contains(t->metadata, s->metadata))
        return 0;
    json_t *view = thread_view(s->c, t);
    if (s->status != NULL && strcmp(json_string_value(json_object_get(view, "status")), s->status) != 0) {
        json_decref(view);
        return 0;
    }
    if (s->skip-- > 0)
        json_decref(view);
    else
        json_array_append_new(s->out, view);
    return (long)json_array_size(s->out) >= s->limit;
}

int api_lg_threads_search(struct call *c)
{
    json_t *body;
    struct thread_search s = {.c = c};
    if (search_body(c, &body) != 0)
        return -1;
    if (page_of(c->req, body, 10, &s.limit, &s.skip) != 0) {
        json_decref(body);
        return -1;
    }
    s.metadata = json_object_get(body, "metadata");
    s.status = json_string_value(json_object_get(body, "status"));
    s.out = json_array();
    int rc = store_thread_list(c->st, c->req->owner, LG_SCAN_MAX, add_thread, &s);
    json_decref(body);
    if (rc != 0) {
        json_decref(s.out);
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    }
    return reply_json(c->req, 200, s.out, NULL);
}

int api_lg_thread(struct call *c)
{
    struct thread t;
    if (path_thread(c, &t) != 0)
        return -1;
    json_t *view = thread_view(c, &t);
    thread_clear(&t);
    return reply_json(c->req, 200, view, NULL);
}

static int collect_run(void *ctx, struct run *r)
{
    json_t *ids = ctx;
    json_array_append_new(ids, json_pack("{s:s, s:b}", "id", r->id, "active",
                                         !run_status_terminal(r->status)));
    return 0;
}

/* Every run of the caller's thread: [{id, active}], newest first; NULL. */
static json_t *thread_runs(struct call *c, const char *thread_id)
{
    json_t *ids = json_array();
    struct run_filter f = {.owner = c->req->owner, .thread_id = thread_id, .limit = LG_SCAN_MAX};
    if (store_run_list(c->st, &f, collect_run, ids) != 0) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

int api_lg_thread_delete(struct call *c)
{
    struct thread t;
    if (path_thread(c, &t) != 0)
        return -1;
    thread_clear(&t);
    json_t *runs = thread_runs(c, c->req->args[0]), *one;
    size_t i;
    if (runs == NULL || call_bus(c) == NULL) {
        json_decref(runs);
        return reply_problem(c->req, 503, "unavailable", "the thread cannot be deleted now");
    }
    json_array_foreach(runs, i, one) {
        if (json_is_true(json_object_get(one, "active"))) {
            json_decref(runs);
            return reply_problem(c->req, 409, "run_active",
                                 "the thread has an active run; cancel it first");
        }
    }
    int rc = 0;
    json_array_foreach(runs, i, one)
        if (bus_delete_run(c->bus, json_string_value(json_object_get(one, "id"))) != 0)
            rc = -1;
    json_decref(runs);
    if (rc != 0 || store_thread_delete(c->st, c->req->owner, c->req->args[0]) != 0)
        return reply_problem(c->req, 503, "unavailable", "the thread cannot be deleted now");
    return reply_empty(c->req, 204, NULL);
}

int api_lg_thread_state(struct call *c)
{
    struct thread t;
    if (path_thread(c, &t) != 0)
        return -1;
    thread_clear(&t);
    struct run r;
    int got = newest(c, c->req->args[0], &r);
    if (got < 0)
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    json_t *state = lg_thread_state(c->req->args[0], got == 0 ? &r : NULL);
    run_clear(&r);
    return reply_json(c->req, 200, state, NULL);
}

int api_lg_thread_history(struct call *c)
{
    struct thread t;
    json_t *body;
    long limit, offset;
    if (path_thread(c, &t) != 0)
        return -1;
    thread_clear(&t);
    if (search_body(c, &body) != 0)
        return -1;
    int bad = page_of(c->req, body, 10, &limit, &offset);
    json_decref(body);
    if (bad)
        return -1;
    json_t *runs = thread_runs(c, c->req->args[0]), *one;
    if (runs == NULL)
        return reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read");
    json_t *out = json_array();
    size_t i;
    /* A state per run, newest first: a run is LangGraph's checkpoint. */
    json_array_foreach(runs, i, one) {
        struct run r;
        if ((long)i < offset || (long)json_array_size(out) >= limit ||
            store_run_get(c->st, json_string_value(json_object_get(one, "id")), &r) != 0)
            continue;
        json_array_append_new(out, lg_thread_state(c->req->args[0], &r));
        run_clear(&r);
    }
    json_decref(runs);
    return reply_json(c->req, 200, out, NULL);
}

/* --- runs. */

/* The LangGraph fields a run's create takes: taken, accepted and let be
 * (they configure a graph opstream does not have), or refused. */
static const char *const lg_taken[] = {
    "assistant_id", "input", "metadata", "multitask_strategy", "after_seconds", "webhook",
    "on_disconnect", "if_not_exists", "stream_mode", "on_completion",
};
static const char *const lg_let_be[] = {
    "config", "context", "stream_subgraphs", "stream_resumable", "feedback_keys", "durability",
    "checkpoint_during", "langsmith_tracer", "strict_resume",
};
static const char *const lg_refused[] = {
    "command", "interrupt_before", "interrupt_after", "checkpoint", "checkpoint_id",
};

static int listed(const char *const *list, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], k) == 0)
            return 1;
    return 0;
}
#define LISTED(list, k) listed(list, sizeof list / sizeof list[0], k)

/* How a create is answered. */
enum lg_answer { LG_CREATE, LG_STREAM, LG_WAIT };

struct lg_create {
    enum lg_answer how;
    struct stream_view view;
    int delete_on_end;   /* on_completion: delete */
    int cancel_on_gone;  /* on_disconnect: cancel */
};

/* The header that tells the SDK where to reconnect (a path below its API
 * URL): Location. Apache takes a Location holding a path in a 200 answer
 * for a CGI local redirect (mod_cgi, mod_fcgid) and serves that path
 * instead; behind it the header is X-Opstream-Location, which the shipped
 * Apache configuration turns back into a Location on its way out. */
static const char *reconnect_header(const struct request *req)
{
    const char *sw = request_env(req, "SERVER_SOFTWARE");
    return sw != NULL && strncmp(sw, "Apache", 6) == 0 ? "X-Opstream-Location" : "Location";
}

/* The run's LangGraph URL below the base: /threads/T/runs/R. */
static void run_path(const struct call *c, const struct run *r, const char *tail, char *out,
                     size_t size)
{
    snprintf(out, size, "%s/langgraph/threads/%s/runs/%s%s", c->req->base, r->thread_id, r->id, tail);
}

static int answer(struct call *c, const struct run *r, int replayed, void *ctx)
{
    (void)replayed;
    struct lg_create *lc = ctx;
    struct request *req = c->req;
    char where[REQUEST_PATH_SIZE + 2 * ROUTE_ARG_SIZE + 64];
    char headers[sizeof where * 2 + 64];
    if (lc->delete_on_end && store_run_mark_delete(c->st, r->id) != 0)
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be written");
    run_path(c, r, "", where, sizeof where);
    /* Location is what the SDK reconnects to, below its API URL. */
    int n = snprintf(headers, sizeof headers, "Content-Location: %s\r\n", where);
    if (lc->how == LG_STREAM) {
        snprintf(headers + n, sizeof headers - (size_t)n, "%s: /threads/%s/runs/%s/stream\r\n",
                 reconnect_header(req), r->thread_id, r->id);
        return api_stream_run(c, r, headers, lc->cancel_on_gone, &lc->view);
    }
    if (lc->how == LG_CREATE)
        return reply_json(req, 200, lg_run(r), headers);
    struct run now;
    if (store_run_get(c->st, r->id, &now) != 0)
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read");
    int w = api_wait_terminal(c, &now, LG_WAIT_MS);
    int rc = w < 0 ? reply_problem(req, 503, "unavailable", "the run cannot be watched now")
           : w == 0 ? reply_problem(req, 504, "wait_timeout", "the run has not ended")
                    : reply_json(req, 200, lg_outcome(&now), headers);
    run_clear(&now);
    return rc;
}

/* Makes opstream's create body of a LangGraph one: 0, or -1 after
 * answering. thread_id: the run's thread. */
static int translate(struct call *c, json_t *lg, const char *thread_id, int threaded,
                     struct lg_create *lc, json_t **body)
{
    struct request *req = c->req;
    const char *k;
    json_t *v;
    if (!json_is_object(lg))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    json_object_foreach(lg, k, v) {
        if (LISTED(lg_refused, k) && !json_is_null(v))
            return reply_problem(req, 422, "unsupported_field",
                                 "/%.64s: a job has no graph to interrupt or checkpoint", k), -1;
        if (!LISTED(lg_taken, k) && !LISTED(lg_let_be, k) && !LISTED(lg_refused, k))
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
    }
    json_t *assistant = json_object_get(lg, "assistant_id");
    json_t *input = json_object_get(lg, "input");
    json_t *after = json_object_get(lg, "after_seconds");
    json_t *od = json_object_get(lg, "on_disconnect");
    json_t *mt = json_object_get(lg, "multitask_strategy");
    const char *done = json_string_value(json_object_get(lg, "on_completion"));
    if (!json_is_string(assistant))
        return reply_problem(req, 422, "invalid_field", "/assistant_id: the job type, a string"), -1;
    if (input != NULL && !json_is_null(input) && !json_is_object(input))
        return reply_problem(req, 422, "invalid_field", "/input: must be an object or null"), -1;
    if (after != NULL && !json_is_null(after) && !json_is_number(after))
        return reply_problem(req, 422, "invalid_field", "/after_seconds: must be a number"), -1;
    if (done != NULL && strcmp(done, "delete") && strcmp(done, "keep"))
        return reply_problem(req, 422, "invalid_field", "/on_completion: delete or keep"), -1;
    lc->view.form = FORM_LANGGRAPH;
    if (lg_modes(json_object_get(lg, "stream_mode"), &lc->view.lg.modes) != 0)
        return reply_problem(req, 422, "invalid_field",
                             "/stream_mode: values, updates, custom, messages, messages-tuple, events, "
                             "debug, tasks or checkpoints"), -1;
    snprintf(lc->view.lg.thread_id, sizeof lc->view.lg.thread_id, "%s", thread_id);
    lc->delete_on_end = done != NULL && strcmp(done, "delete") == 0;
    *body = json_pack("{s:O, s:s, s:o}", "type", assistant, "thread_id", thread_id,
                      "input", json_is_object(input) ? json_incref(input) : json_object());
    json_t *meta = json_object_get(lg, "metadata");
    if (json_is_object(meta))
        json_object_set(*body, "metadata", meta);
    if (threaded && mt != NULL && !json_is_null(mt))
        json_object_set(*body, "multitask_strategy", mt);
    if (json_is_number(after) && json_number_value(after) > 0)
        json_object_set_new(*body, "start_after_s", json_integer((json_int_t)(json_number_value(after) + 0.999)));
    json_t *hook = json_object_get(lg, "webhook");
    if (hook != NULL && !json_is_null(hook))
        json_object_set(*body, "webhook", hook);
    /* on_disconnect is a stream's: a wait or a create has no client to lose. */
    if (lc->how == LG_STREAM && od != NULL && !json_is_null(od))
        json_object_set(*body, "on_disconnect", od);
    lc->cancel_on_gone = lc->how == LG_STREAM && json_is_string(od) &&
                         strcmp(json_string_value(od), "cancel") == 0;
    return 0;
}

static int create(struct call *c, enum lg_answer how, int threaded)
{
    struct request *req = c->req;
    json_t *lg, *body = NULL;
    struct lg_create lc = {.how = how};
    char thread_id[THREAD_SIZE];
    if (threaded)
        snprintf(thread_id, sizeof thread_id, "%s", req->args[0]);
    else
        crypto_new_id(thread_id); /* a stateless run has a thread of its own */
    if (call_json_body(c, &lg) != 0)
        return -1;
    int rc = translate(c, lg, thread_id, threaded, &lc, &body);
    const char *ine = json_string_value(json_object_get(lg, "if_not_exists"));
    if (rc == 0 && threaded) {
        struct thread t = {.created_at = clock_now_ms(), .updated_at = clock_now_ms()};
        snprintf(t.owner, sizeof t.owner, "%s", req->owner);
        snprintf(t.id, sizeof t.id, "%s", thread_id);
        int made = ine != NULL && strcmp(ine, "create") == 0 ? store_thread_create(c->st, &t)
                                                               : store_thread_get(c->st, req->owner, thread_id, &t);
        thread_clear(&t);
        if (made < 0)
            rc = (reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read"), -1);
        else if (made == 1 && (ine == NULL || strcmp(ine, "create") != 0))
            rc = (reply_problem(req, 404, "thread_not_found", "no such thread (if_not_exists: create makes it)"), -1);
    }
    json_decref(lg);
    if (rc != 0) {
        json_decref(body);
        return -1;
    }
    struct create_answer ca = {.stream = how == LG_STREAM, .answer = answer, .ctx = &lc};
    rc = api_create(c, body, NULL, &ca);
    json_decref(body);
    return rc;
}

int api_lg_thread_run_create(struct call *c) { return create(c, LG_CREATE, 1); }
int api_lg_thread_run_stream(struct call *c) { return create(c, LG_STREAM, 1); }
int api_lg_thread_run_wait(struct call *c) { return create(c, LG_WAIT, 1); }
int api_lg_run_create(struct call *c) { return create(c, LG_CREATE, 0); }
int api_lg_run_stream(struct call *c) { return create(c, LG_STREAM, 0); }
int api_lg_run_wait(struct call *c) { return create(c, LG_WAIT, 0); }

/* The run the path names (args[1]) in the thread it names (args[0]),
 * the caller's: 0, or -1 after answering 404. */
static int path_run(struct call *c, struct run *r)
{
    int got = store_run_get(c->st, c->req->args[1], r);
    if (got == 0 && (strcmp(r->owner, c->req->owner) != 0 || strcmp(r->thread_id, c->req->args[0]) != 0)) {
        run_clear(r);
        got = 1;
    }
    if (got != 0)
        return got < 0 ? reply_problem(c->req, 503, "store_unavailable", "the run ledger cannot be read")
                       : reply_problem(c->req, 404, "run_not_found", "no such run in this thread"), -1;
    return 0;
}

struct run_page {
    const char *status;
    long skip, limit;
    json_t *out;
};

static int add_run(void *ctx, struct run *r)
{
    struct run_page *p = ctx;
    if (p->status != NULL && strcmp(lg_run_status(r->status), p->status) != 0)
        return 0;
    if (p->skip-- <= 0)
        json_array_append_new(p->out, lg_run(r));
    return (long)json_array_size(p->out) >= p->limit;
}

int api_lg_runs_list(struct call *c)
{
    struct request *req = c->req;
    long offset;
    char status[16];
    struct run_page p = {0};
    int sq = request_query(req, "status", status, sizeof status);
    if (request_query_limit(req, LG_LIST_MAX, 10, &p.limit) != 0 ||
        request_query_int(req, "offset", 0, LG_SCAN_MAX, 0, &offset) != 0 || sq < 0)
        return reply_problem(req, 400, "invalid_parameter", "limit 1..%d, offset 0..%d, status",
                             LG_LIST_MAX, LG_SCAN_MAX);
    p.skip = offset;
    p.status = sq == 0 ? status : NULL;
    p.out = json_array();
    struct run_filter f = {.owner = req->owner, .thread_id = req->args[0], .limit = LG_SCAN_MAX};
    if (store_run_list(c->st, &f, add_run, &p) != 0) {
        json_decref(p.out);
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read");
    }
    return reply_json(req, 200, p.out, NULL);
}

int api_lg_run(struct call *c)
{
    struct run r;
    if (path_run(c, &r) != 0)
        return -1;
    json_t *view = lg_run(&r);
    run_clear(&r);
    return reply_json(c->req, 200, view, NULL);
}

int api_lg_run_join(struct call *c)
{
    struct run r;
    if (path_run(c, &r) != 0)
        return -1;
    int w = api_wait_terminal(c, &r, LG_WAIT_MS);
    int rc = w < 0 ? reply_problem(c->req, 503, "unavailable", "the run cannot be watched now")
           : w == 0 ? reply_problem(c->req, 504, "wait_timeout", "the run has not ended")
                    : reply_json(c->req, 200, lg_outcome(&r), NULL);
    run_clear(&r);
    return rc;
}

int api_lg_run_join_stream(struct call *c)
{
    struct request *req = c->req;
    struct run r;
    struct stream_view view = {.form = FORM_LANGGRAPH};
    /* The SDK sends -1 for "from the start". */
    const char *last = request_env(req, "HTTP_LAST_EVENT_ID");
    char cursor[EVENT_ID_SIZE] = "0-0";
    struct event_id id;
    if (last != NULL && last[0] != '\0' && strcmp(last, "-1") != 0) {
        if (strlen(last) >= EVENT_ID_SIZE || event_id_parse(last, &id) != 0)
            return reply_problem(req, 400, "invalid_cursor", "the event id must look like 1700000000000-0");
        event_id_format(&id, cursor);
    }
    if (lg_modes_query(req->query, &view.lg.modes) != 0)
        return reply_problem(req, 400, "invalid_parameter", "stream_mode: an unknown mode");
    if (path_run(c, &r) != 0)
        return -1;
    snprintf(view.lg.thread_id, sizeof view.lg.thread_id, "%s", r.thread_id);
    char where[REQUEST_PATH_SIZE + 2 * ROUTE_ARG_SIZE + 64];
    char headers[sizeof where * 2 + 64];
    run_path(c, &r, "", where, sizeof where);
    snprintf(headers, sizeof headers, "Content-Location: %s\r\n%s: /threads/%s/runs/%s/stream\r\n",
             where, reconnect_header(req), r.thread_id, r.id);
    int rc = api_stream_after(c, &r, cursor, headers, &view);
    run_clear(&r);
    return rc;
}

/* Cancel and delete are the run's own routes' (args[0] the run's id
 * there), once the run is known to be the thread's. */
static int as_run_route(struct call *c, int (*handler)(struct call *c))
{
    struct run r;
    if (path_run(c, &r) != 0)
        return -1;
    run_clear(&r);
    snprintf(c->req->args[0], sizeof c->req->args[0], "%s", c->req->args[1]);
    return handler(c);
}

int api_lg_run_cancel(struct call *c) { return as_run_route(c, api_cancel); }
int api_lg_run_delete(struct call *c) { return as_run_route(c, api_delete_run); }
