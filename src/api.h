#ifndef OPSTREAM_API_H
#define OPSTREAM_API_H

#include "call.h"

/* Prepares what api_handle serves; -1 if the built-in document is broken. */
int api_init(struct api *api, const struct config *cfg, const struct jobtypes *types);

enum route_flags {
    ROUTE_PUBLIC = 1,     /* no identity needed */
    ROUTE_LINK_AUTH = 2,  /* a signed link may stand in for identity */
    ROUTE_NO_LEDGER = 4,  /* answers even when the ledger is unreachable */
    ROUTE_LONG_POLL = 8,  /* holds its request for long (up to its timeout) */
    ROUTE_WAIT_PARAM = 16, /* so does it with ?wait=1 */
    ROUTE_STREAM = 32,    /* an event stream: long unless a hub takes it over */
    ROUTE_PRODUCER_AUTH = 64, /* the run's producer credential may stand in */
    ROUTE_STREAM_ACCEPT = 128, /* an event stream when Accept asks for one */
};

/* A row of the route table. */
struct route {
    const char *method;
    const char *pattern;  /* "{...}" matches one path segment */
    int (*handler)(struct call *c);
    int flags;
    const char *query;    /* the query parameters it takes: "a,b", "" none */
};

/* The route table, for those who walk it (the tests). */
const struct route *api_routes(size_t *n);

/* True when the request is a long poll, which holds whoever serves it
 * (a pool's thread would be lost to the others meanwhile); an event stream
 * is one when streams_hold (no hub takes streams over). */
int api_long_poll(struct request *req, int streams_hold);

/* Routes a request to its handler and answers it; the only entry point
 * for the responder. */
void api_handle(const struct api *api, struct request *req);

/* Handlers, one per route: one answer each, every failure as
 * problem+json. */
int api_create_run(struct call *c);
int api_get_run(struct call *c);
int api_rerun(struct call *c);
int api_list_runs(struct call *c);
int api_events(struct call *c);
int api_cancel(struct call *c);
int api_wait(struct call *c);
int api_resume(struct call *c);
int api_publish(struct call *c);
int api_finish(struct call *c);
int api_delete_run(struct call *c);
int api_chat_send(struct call *c);
int api_lg_assistants_search(struct call *c);
int api_lg_assistant(struct call *c);
int api_lg_thread_create(struct call *c);
int api_lg_threads_search(struct call *c);
int api_lg_thread(struct call *c);
int api_lg_thread_delete(struct call *c);
int api_lg_thread_state(struct call *c);
int api_lg_thread_history(struct call *c);
int api_lg_thread_run_create(struct call *c);
int api_lg_thread_run_stream(struct call *c);
int api_lg_thread_run_wait(struct call *c);
int api_lg_run_create(struct call *c);
int api_lg_run_stream(struct call *c);
int api_lg_run_wait(struct call *c);
int api_lg_runs_list(struct call *c);
int api_lg_run(struct call *c);
int api_lg_run_join(struct call *c);
int api_lg_run_join_stream(struct call *c);
int api_lg_run_cancel(struct call *c);
int api_lg_run_delete(struct call *c);
int api_chat_stream(struct call *c);
int api_types(struct call *c);
int api_type(struct call *c);
int api_health(struct call *c);
int api_metrics(struct call *c);
/* The caller's token, as every protected route takes it: 0 (req->owner
 * set), or -1 answered (401, or 503 when the ledger cannot tell). */
int api_identify(struct call *c);
/* Event streams answered on request threads at the moment. */
int api_thread_streams(void);
int api_openapi(struct call *c);

/* Streams run r from its first event, as GET .../events would, with
 * headers (CRLF-ended lines, or NULL) added to the stream's, in view's
 * form (NULL: the events as they are); with cancel_on_gone a client that
 * leaves before the end cancels the run. */
struct stream_view;
int api_stream_run(struct call *c, const struct run *r, const char *headers, int cancel_on_gone,
                   const struct stream_view *view);

/* How a create is answered: the run as JSON (with its producer
 * credential when asked), or its event stream in view's form (NULL: the
 * events as they are). */
struct create_answer {
    int producer;
    int stream;
    int cancel_on_disconnect;
    const struct stream_view *view;
    /* Set: answers instead (another protocol's shape of the run created,
     * or of the one an Idempotency-Key replayed). */
    int (*answer)(struct call *c, const struct run *r, int replayed, void *ctx);
    void *ctx;
};

/* Creates a run from a create body (POST /v1/runs's, borrowed) and
 * answers as how says (its producer and cancel_on_disconnect are the
 * body's); key: an Idempotency-Key or NULL. */
int api_create(struct call *c, json_t *body, const char *key, const struct create_answer *how);

/* Queues r (its fields set, its references owned here) and answers 202
 * with it, or the problem that kept it from being queued. A stream is
 * answered 200 with the run's URL in Content-Location, from its first
 * event on. */
int api_create_answer(struct call *c, struct run *r, const struct create_opts *opts,
                      const struct create_answer *how);

/* The form a stream is asked in (format=ui: the AI SDK's UI message
 * stream; none: the events as they are): 0, or -1 after answering 400. */
int api_stream_view(struct request *req, struct stream_view *view);

/* Streams r from after cursor in view's form, as a LangGraph join does:
 * a client at the end gets a stream of an "end" alone, not a 204 (which
 * LangGraph's clients take for an error). */
int api_stream_after(struct call *c, const struct run *r, const char *cursor, const char *headers,
                     const struct stream_view *view);

/* Streams r from after cursor as the MCP stream view stands for (mcp.h):
 * a tools/call's or a tasks/result's answer, or its resumption. */
struct mcp_view;
int api_stream_mcp(struct call *c, const struct run *r, const char *cursor, const char *headers,
                   const struct mcp_view *view);
/* Blocks on run r's stream (no polling) until its end or timeout_ms;
 * r holds the latest snapshot: 1 ended, 0 timed out, -1 error. */
int api_wait_terminal(struct call *c, struct run *r, int64_t timeout_ms);

/* A list's opaque cursor: the creation order of the last run of a page. */
#define CURSOR_SIZE 64
void api_cursor_encode(int64_t seq, char out[CURSOR_SIZE]);
int api_cursor_decode(const char *text, int64_t *seq);

int api_mcp_post(struct call *c);
int api_mcp_get(struct call *c);
int api_mcp_delete(struct call *c);

#endif
