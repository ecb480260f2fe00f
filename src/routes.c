/* The route table: read it and you know the API. A new endpoint is one
 * row here and one handler. Besides dispatch, this file holds the
 * authorization policy the rows' flags stand for (who may call what). */
#include "api.h"
#include "auth.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The last column names the query parameters a route takes: any other
 * is refused (a signed link's exp and sig go with ROUTE_LINK_AUTH). */
static const struct route routes[] = {
    {"POST", "/v1/runs", api_create_run, ROUTE_STREAM_ACCEPT, "format"},
    {"GET", "/v1/runs", api_list_runs, 0,
     "status,type,thread_id,metadata_key,metadata_value,limit,cursor"},
    {"GET", "/v1/runs/{id}", api_get_run, 0, ""},
    {"DELETE", "/v1/runs/{id}", api_delete_run, 0, ""},
    {"GET", "/v1/runs/{id}/events", api_events, ROUTE_LINK_AUTH | ROUTE_STREAM,
     "lastEventId,after,limit,types,format"},
    {"POST", "/v1/runs/{id}/events", api_publish, ROUTE_PRODUCER_AUTH, ""},
    {"POST", "/v1/runs/{id}/finish", api_finish, ROUTE_PRODUCER_AUTH, ""},
    {"POST", "/v1/runs/{id}/cancel", api_cancel, ROUTE_WAIT_PARAM, "wait,action"},
    {"GET", "/v1/runs/{id}/wait", api_wait, ROUTE_LONG_POLL, "timeout"},
    {"POST", "/v1/runs/{id}/resume", api_resume, 0, ""},
    {"POST", "/v1/runs/{id}/rerun", api_rerun, 0, ""},
    {"GET", "/v1/types", api_types, 0, ""},
    {"GET", "/v1/types/{name}", api_type, 0, ""},
    {"POST", "/v1/chat/{type}", api_chat_send, ROUTE_LONG_POLL, ""},
    {"GET", "/v1/chat/{type}/{id}/stream", api_chat_stream, ROUTE_STREAM, ""},
    /* LangGraph's runs API (api_langgraph.c); literal segments before
     * the {...} they would match. */
    {"POST", "/langgraph/assistants/search", api_lg_assistants_search, 0, ""},
    {"GET", "/langgraph/assistants/{id}", api_lg_assistant, 0, ""},
    {"POST", "/langgraph/threads", api_lg_thread_create, 0, ""},
    {"POST", "/langgraph/threads/search", api_lg_threads_search, 0, ""},
    {"GET", "/langgraph/threads/{id}", api_lg_thread, 0, "include"},
    {"DELETE", "/langgraph/threads/{id}", api_lg_thread_delete, 0, ""},
    {"GET", "/langgraph/threads/{id}/state", api_lg_thread_state, 0, "subgraphs,select"},
    {"POST", "/langgraph/threads/{id}/history", api_lg_thread_history, 0, ""},
    {"POST", "/langgraph/threads/{id}/runs", api_lg_thread_run_create, 0, ""},
    {"GET", "/langgraph/threads/{id}/runs", api_lg_runs_list, 0, "limit,offset,status,select"},
    {"POST", "/langgraph/threads/{id}/runs/stream", api_lg_thread_run_stream, ROUTE_LONG_POLL, "namespace"},
    {"POST", "/langgraph/threads/{id}/runs/wait", api_lg_thread_run_wait, ROUTE_LONG_POLL, ""},
    {"GET", "/langgraph/threads/{id}/runs/{run}", api_lg_run, 0, ""},
    {"DELETE", "/langgraph/threads/{id}/runs/{run}", api_lg_run_delete, 0, ""},
    {"GET", "/langgraph/threads/{id}/runs/{run}/join", api_lg_run_join, ROUTE_LONG_POLL,
     "cancel_on_disconnect"},
    {"GET", "/langgraph/threads/{id}/runs/{run}/stream", api_lg_run_join_stream, ROUTE_STREAM,
     "cancel_on_disconnect,stream_mode,namespace,checkpoint_id"},
    {"POST", "/langgraph/threads/{id}/runs/{run}/cancel", api_lg_run_cancel, ROUTE_WAIT_PARAM,
     "wait,action,reason"},
    {"POST", "/langgraph/runs", api_lg_run_create, 0, ""},
    {"POST", "/langgraph/runs/stream", api_lg_run_stream, ROUTE_LONG_POLL, "namespace"},
    {"POST", "/langgraph/runs/wait", api_lg_run_wait, ROUTE_LONG_POLL, ""},
    {"GET", "/v1/health", api_health, ROUTE_PUBLIC | ROUTE_NO_LEDGER, ""},
    /* Who may read it is metrics_access's (api_metrics). */
    {"GET", "/v1/metrics", api_metrics, ROUTE_PUBLIC, ""},
    {"GET", "/v1/openapi.json", api_openapi, ROUTE_PUBLIC, ""},
    {"POST", "/mcp", api_mcp_post, ROUTE_STREAM_ACCEPT, ""},
    {"GET", "/mcp", api_mcp_get, ROUTE_STREAM, ""},
    {"DELETE", "/mcp", api_mcp_delete, 0, ""},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

const struct route *api_routes(size_t *n)
{
    *n = N_ROUTES;
    return routes;
}

/* Matches path against pattern segment by segment, capturing "{...}". */
static int match(const char *pattern, const char *path,
                 char args[ROUTE_ARGS_MAX][ROUTE_ARG_SIZE])
{
    int nargs = 0;
    while (*pattern != '\0' && *path != '\0') {
        if (*pattern != '/' || *path != '/')
            return 0;
        pattern++, path++;
        size_t plen = strcspn(pattern, "/");
        size_t slen = strcspn(path, "/");
        if (pattern[0] == '{') {
            if (slen == 0 || slen >= ROUTE_ARG_SIZE || nargs == ROUTE_ARGS_MAX)
                return 0;
            memcpy(args[nargs], path, slen);
            args[nargs++][slen] = '\0';
        } else if (plen != slen || strncmp(pattern, path, plen) != 0) {
            return 0;
        }
        pattern += plen, path += slen;
    }
    return *pattern == '\0' && *path == '\0';
}

static const struct route *route_find(struct request *req, char *allow, size_t allowsize)
{
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!match(routes[i].pattern, req->path, req->args))
            continue;
        if (strcmp(routes[i].method, req->method) == 0)
            return &routes[i];
        size_t n = strlen(allow);
        snprintf(allow + n, allowsize - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    return NULL;
}

/* The first query parameter the route does not take, into unknown (at
 * most size - 1 bytes of its name): 1, or 0 when there is none. */
static int unknown_param(const struct request *req, const struct route *rt, char *unknown,
                         size_t size)
{
    for (const char *p = req->query; *p != '\0';) {
        size_t n = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        int link = (rt->flags & ROUTE_LINK_AUTH) && request_listed("exp,sig", p, klen);
        if (n > 0 && !link && !request_listed(rt->query, p, klen)) {
            snprintf(unknown, size, "%.*s", (int)(klen < size ? klen : size - 1), p);
            return 1;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}

/* A signed link for the run the path names, under its owner's key. */
static int link_valid(struct call *c)
{
    struct run r;
    const char *id = c->req->args[0];
    if (!crypto_id_valid(id) || store_run_get(c->st, id, &r) != 0)
        return 0;
    int ok = call_link_key(c, r.owner, c->secret) == 0 &&
             auth_link_valid(c->req, c->secret, id);
    run_clear(&r);
    return ok;
}

/* A producer credential for the run the path names: 1 valid (the
 * caller is the run's owner for this request), 0 not, -1 when the ledger
 * cannot tell. */
static int producer_valid(struct call *c, const char *claimed, const char *sig)
{
    struct run r;
    const char *id = c->req->args[0];
    if (strcmp(claimed, id) != 0)
        return 0;
    int got = store_run_get(c->st, id, &r);
    if (got != 0)
        return got < 0 ? -1 : 0;
    int ok = -1;
    if (call_link_key(c, r.owner, c->secret) == 0) {
        ok = crypto_verify_producer(c->secret, id, sig) == 0;
        if (ok)
            snprintf(c->req->owner, sizeof c->req->owner, "%s", r.owner);
    }
    run_clear(&r);
    return ok;
}

int api_identify(struct call *c)
{
    struct request *req = c->req;
    switch (auth_identify(req, c->st)) {
    case AUTH_OK:
        log_context(NULL, req->owner, NULL);
        if (call_link_key(c, req->owner, c->secret) == 0)
            return 0;
        break;
    case AUTH_MISSING:
        reply_problem(req, 401, "unauthorized", "send Authorization: Bearer <token>");
        return -1;
    case AUTH_INVALID:
        reply_problem(req, 401, "invalid_token", "the credentials were not accepted");
        return -1;
    case AUTH_ERROR:
        break;
    }
    reply_problem(req, 503, "store_unavailable", "credentials cannot be checked now");
    return -1;
}

static int authorize(struct call *c, const struct route *rt)
{
    struct request *req = c->req;
    if (rt->flags & ROUTE_PUBLIC)
        return 0;
    if ((rt->flags & ROUTE_LINK_AUTH) && link_valid(c)) {
        c->link_ok = 1;
        return 0;
    }
    char claimed[ID_SIZE], sig[SIG_SIZE];
    if ((rt->flags & ROUTE_PRODUCER_AUTH) && auth_producer_claim(req, claimed, sig)) {
        int v = producer_valid(c, claimed, sig);
        if (v > 0) {
            c->producer_ok = 1;
            return 0;
        }
        if (v == 0) {
            reply_problem(req, 401, "invalid_token", "the credentials were not accepted");
            return -1;
        }
        reply_problem(req, 503, "store_unavailable", "credentials cannot be checked now");
        return -1;
    }
    return api_identify(c);
}

/* The request's route, matched once however often it is asked: NULL
 * when none matches (req->routed -1: the URI is not below the API). */
static const struct route *route_of(struct request *req)
{
    if (req->routed == 0) {
        req->routed = request_init(req) == 0 ? 1 : -1;
        req->allow[0] = '\0';
        req->route = req->routed == 1 ? route_find(req, req->allow, sizeof req->allow) : NULL;
    }
    return req->route;
}

int api_long_poll(struct request *req, int streams_hold)
{
    const struct route *rt = route_of(req);
    long wait = 0;
    char types[8];
    /* A stream filtered by types= stays with its request (the hub sends
     * every event). */
    int filtered = rt != NULL && (rt->flags & ROUTE_STREAM) &&
                   request_query(req, "types", types, sizeof types) != 1;
    char format[8];
    int formed = request_query(req, "format", format, sizeof format) != 1;
    return rt != NULL && ((rt->flags & ROUTE_LONG_POLL) ||
                          ((rt->flags & ROUTE_STREAM) && (streams_hold || filtered)) ||
                          ((rt->flags & ROUTE_STREAM_ACCEPT) &&
                           (request_accepts(req, "text/event-stream") || formed)) ||
                          ((rt->flags & ROUTE_WAIT_PARAM) &&
                           request_query_int(req, "wait", 0, 1, 0, &wait) == 0 && wait == 1));
}

/* Streams answered on request threads now (the hub counts its own). */
static atomic_int thread_streams;

int api_thread_streams(void)
{
    return atomic_load(&thread_streams);
}

/* One request answered, under its route ("unmatched" for none). */
static void count_request(const struct request *req, const struct route *rt, int64_t started_us)
{
    char route[160], labels[224];
    if (rt != NULL)
        snprintf(route, sizeof route, "%s %s", rt->method, rt->pattern);
    else
        snprintf(route, sizeof route, "unmatched");
    snprintf(labels, sizeof labels, "route=\"%s\"", route);
    metrics_observe("opstream_request_duration_seconds", labels,
                    (double)(clock_mono_us() - started_us) / 1e6);
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route,
             req->status != 0 ? req->status : 200);
    metrics_count("opstream_requests_total", labels, 1);
}

static void answer_unrouted(struct request *req)
{
    if (req->allow[0] != '\0') {
        char hdr[96];
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", req->allow);
        reply_problem_h(req, 405, hdr, "method_not_allowed", "use %s", req->allow);
        return;
    }
    reply_problem(req, 404, "route_not_found", "no such endpoint");
}

static void serve_route(const struct api *api, struct request *req, const struct route *rt)
{
    /* Every line this request logs names it, and its owner and run once
     * known. */
    char request_id[ID_SIZE];
    crypto_new_id(request_id);
    log_context(request_id, "", "");
    /* A run's route names it in its last argument (/runs/{id}, .../runs/{run}). */
    int nargs = 0;
    for (const char *p = rt->pattern; (p = strchr(p, '{')) != NULL; p++)
        nargs++;
    if (strstr(rt->pattern, "runs/{") != NULL && nargs > 0 && crypto_id_valid(req->args[nargs - 1]))
        log_context(NULL, NULL, req->args[nargs - 1]);
    int64_t started = clock_mono_ms();
    struct call c = {.req = req, .api = api};
    char unknown[64];
    if (call_open(&c) != 0 && !(rt->flags & ROUTE_NO_LEDGER))
        call_unavailable(&c, "store_unavailable", "the run ledger is not reachable");
    else if (authorize(&c, rt) != 0)
        ; /* answered */
    else if (unknown_param(req, rt, unknown, sizeof unknown))
        reply_problem(req, 400, "unknown_parameter", "?%s: unknown query parameter", unknown);
    else if (rt->flags & ROUTE_STREAM) {
        atomic_fetch_add(&thread_streams, 1);
        rt->handler(&c);
        atomic_fetch_sub(&thread_streams, 1);
    } else {
        rt->handler(&c);
    }
    call_close(&c);
    log_debug("%s %s%s: %lld ms", req->method, req->base, req->path,
              (long long)(clock_mono_ms() - started));
    log_context("", "", "");
}

void api_handle(const struct api *api, struct request *req)
{
    int64_t started_us = clock_mono_us();
    const struct route *rt = route_of(req);
    if (rt == NULL) {
        answer_unrouted(req);
        count_request(req, NULL, started_us);
        return;
    }
    serve_route(api, req, rt);
    count_request(req, rt, started_us);
}
