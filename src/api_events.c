/* GET /v1/runs/{id}/events: the SSE stream (its replay, and its live part
 * where there is no hub: stream_rules.h), and its JSON page form.
 *
 * One loop serves replay and live alike: XREAD BLOCK from the last id sent
 * returns what is already there at once and waits only when the client is
 * up to date, so the seam between the two cannot drop or repeat an event. */
#include "api.h"
#include "auth.h"
#include "clock.h"
#include "log.h"
#include "mcp.h"
#include "reply.h"
#include "runs.h"
#include "sse.h"
#include "stream_rules.h"
#include "ui_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BATCH 100
/* Entries read per round trip for a JSON page: a types filter may skip
 * most of them, and the page stops where it is full. */
#define PAGE_READ_BATCH 1000
#define STOP_SLICE_MS 500

/* Where a reader of a run's events is: its cursor, and whether the run's
 * end or the client's has come. The JSON form collects into page instead
 * of writing frames, within budget, keeping only types when set. */
struct stream {
    struct out *out;
    char cursor[EVENT_ID_SIZE];
    int finished;
    int gone;
    json_t *page;
    int budget;
    const char *types;   /* "a,b,c" or NULL */
    const struct stream_view *view; /* a view's stream's: frames in its form */
    const char *run_id;
};

/* Every event when no types= was given. */
static int type_wanted(const char *types, const char *name)
{
    return types == NULL || request_listed(types, name, strlen(name));
}

static int add_entry(void *ctx, const char *id, const char *name, const char *data)
{
    struct stream *s = ctx;
    snprintf(s->cursor, sizeof s->cursor, "%s", id);
    /* Nothing follows the end: no expired-stream gap after it either. */
    s->finished = event_is_terminal(name);
    if (type_wanted(s->types, name)) {
        json_t *d = json_loads(data, 0, NULL);
        json_array_append_new(s->page, json_pack("{s:s, s:s, s:o}", "id", id, "event", name,
                                                 "data", d ? d : json_null()));
        s->budget--;
    }
    return s->budget <= 0;
}

static int send_entry(void *ctx, const char *id, const char *name, const char *data)
{
    struct stream *s = ctx;
    if (s->page != NULL)
        return add_entry(ctx, id, name, data);
    /* A filtered stream keeps the named events, and always a gap and the end. */
    int wanted = type_wanted(s->types, name) || strcmp(name, "gap") == 0 || event_is_terminal(name);
    if (wanted && stream_frame(s->out, s->view, s->run_id, id, name, data) != 0) {
        s->gone = 1;
        return 1;
    }
    snprintf(s->cursor, sizeof s->cursor, "%s", id);
    if (event_is_terminal(name)) {
        s->finished = 1;
        return 1;
    }
    return 0;
}

/* The resume point: Last-Event-ID, else ?lastEventId, else the start. */
static int read_cursor(struct request *req, struct event_id *out, char text[EVENT_ID_SIZE])
{
    const char *h = request_env(req, "HTTP_LAST_EVENT_ID");
    char q[EVENT_ID_SIZE];
    const char *s = "0-0";
    if (h != NULL && h[0] != '\0') {
        s = h;
    } else {
        int r = request_query(req, "lastEventId", q, sizeof q);
        if (r < 0)
            return -1;
        if (r == 0 && q[0] != '\0')
            s = q;
    }
    if (strlen(s) >= EVENT_ID_SIZE || event_id_parse(s, out) != 0)
        return -1;
    event_id_format(out, text);
    return 0;
}

/* Redis went away mid-stream: try again with backoff, for as long as
 * the stream rules give Redis (STREAM_REDIS_PATIENCE_MS), so that the
 * client is let go (and reconnects later) rather than left hanging. */
static int reconnect(struct call *c)
{
    bus_free(c->bus);
    c->bus = NULL;
    int64_t until = clock_mono_ms() + STREAM_REDIS_PATIENCE_MS;
    for (int wait_ms = 100;; wait_ms = wait_ms < 800 ? wait_ms * 2 : 800) {
        if (call_bus(c) != NULL)
            return 0;
        int64_t left = until - clock_mono_ms();
        if (left <= 0)
            return -1;
        clock_sleep_ms(wait_ms < left ? wait_ms : (int)left);
    }
}

#define ARCHIVE_PAGE 500

/* 1 when Redis lost the newest events of the run that the ledger holds
 * (a restart from an AOF without its last second, a failover to a replica
 * that lacked the last writes): the stream is older than the ledger's
 * newest id, or gone while the run has not ended. 0, -1. */
static int lost_tail(const struct run *r, const struct stream_info *info)
{
    struct event_id newest;
    if (r->last_event_id[0] == '\0')
        return 0;
    if (event_id_parse(r->last_event_id, &newest) != 0)
        return -1;
    if (!info->exists)
        return !run_status_terminal(r->status);
    return event_id_cmp(&info->last, &newest) < 0;
}

/* Puts the lost tail back from the archive before anything is read, so
 * that this reader and every later one gets it (a writer that comes first
 * does the same: runs.c). */
static int restore(struct call *c, const struct run *r, struct stream_info *info)
{
    char err[CONFIG_ERR_SIZE], top[EVENT_ID_SIZE] = "0-0";
    struct store *st = c->st ? c->st : store_open(c->req->cfg->database, err, sizeof err);
    if (st == NULL)
        return -1;
    if (info->exists)
        event_id_format(&info->last, top);
    struct runs_ctx rc = {.cfg = c->req->cfg, .st = st, .bus = c->bus};
    int put = runs_restore(&rc, r->id, top);
    if (st != c->st)
        store_close(st);
    return put < 0 || bus_stream_info(c->bus, r->id, info) != 0 ? -1 : 0;
}

/* The client has events that neither Redis nor the ledger holds any more
 * (Redis lost them together with their writer, as a machine crash does):
 * a gap says that what it holds after last_recorded is no longer on
 * record, and the stream goes on after its cursor, whose id keeps it from
 * going backwards. */
static int lost_before(const struct run *r, struct stream *s, const struct stream_info *info)
{
    char data[192], last[EVENT_ID_SIZE], at[EVENT_ID_SIZE];
    event_id_format(&info->last, last);
    snprintf(at, sizeof at, "%s", s->cursor);
    snprintf(data, sizeof data, "{\"reason\":\"lost\",\"last_recorded\":\"%s\"}", last);
    log_run(LOG_WARN, r->id, "a client resumes from %s, after the newest event on record (%s)",
            at, last);
    send_entry(s, at, "gap", data);
    return 0;
}

/* Delivers what Redis no longer holds of the events after the cursor:
 * from the SQLite archive, which keeps every event. Where the archive was
 * deleted too, an explicit gap event says so (never silence), with an id
 * that lets a reconnect go on after the hole. A finished run whose stream
 * expired is served from the archive alone. -1 when Redis or SQLite
 * cannot be read. */
static int catch_up(struct call *c, const struct run *r, struct stream *s)
{
    struct stream_info info;
    struct event_id cur;
    if (bus_stream_info(c->bus, r->id, &info) != 0 || event_id_parse(s->cursor, &cur) != 0)
        return -1;
    int lost = lost_tail(r, &info);
    if (lost < 0)
        return -1;
    if (lost && restore(c, r, &info) != 0)
        return -1;
    if (info.exists && event_id_cmp(&cur, &info.last) > 0)
        return lost_before(r, s, &info);
    if (info.exists && !(info.trimmed && event_id_cmp(&cur, &info.first) < 0))
        return 0; /* Redis holds everything after the cursor */
    char err[CONFIG_ERR_SIZE];
    struct store *st = c->st ? c->st : store_open(c->req->cfg->database, err, sizeof err);
    if (st == NULL)
        return -1;
    int n = ARCHIVE_PAGE, rc = 0;
    while (n == ARCHIVE_PAGE && !s->finished && !s->gone && (s->page == NULL || s->budget > 0)) {
        event_id_parse(s->cursor, &cur);
        n = store_events_after(st, r->id, &cur, info.exists ? &info.first : NULL, ARCHIVE_PAGE,
                               send_entry, s);
        if (n < 0)
            rc = -1;
    }
    if (st != c->st)
        store_close(st);
    event_id_parse(s->cursor, &cur);
    char data[192], first[EVENT_ID_SIZE], gap_id[EVENT_ID_SIZE];
    if (rc != 0 || s->finished || s->gone)
        return rc;
    if (info.exists && r->archive_deleted && event_id_cmp(&cur, &info.first) < 0) {
        event_id_format(&info.first, first);
        event_id_before(&info.first, gap_id);
        snprintf(data, sizeof data, "{\"reason\":\"trimmed\",\"first_available\":\"%s\"}", first);
        send_entry(s, gap_id, "gap", data);
    } else if (!info.exists && run_status_terminal(r->status) && r->last_event_id[0] != '\0') {
        snprintf(data, sizeof data, "{\"reason\":\"expired\",\"status\":\"%s\","
                 "\"first_available\":null}", run_status_name(r->status));
        send_entry(s, r->last_event_id, "gap", data);
        s->finished = 1;
    }
    return rc;
}

/* Redis is away as a stream starts: an empty one, which its client
 * comes back from (call_unavailable). */
static int stream_later(struct call *c)
{
    return call_stream_later(c, "event bus unavailable; reconnect later");
}

/* The ledger the stream rules ask whether a credential was revoked: the
 * request's, or one opened for the question. */
static int revoked(struct call *c, struct stream_watch *w, long long now)
{
    if (now < 0 || now == w->revocations)
        return 0;
    char err[CONFIG_ERR_SIZE];
    struct store *st = c->st ? c->st : store_open(c->req->cfg->database, err, sizeof err);
    int r = stream_revoked(w, now, st);
    if (st != c->st)
        store_close(st);
    return r;
}

/* An MCP stream opens with an event that has an id and no message, so
 * that its client can resume it from the start (the transport's
 * resumability: a client resumes only a stream that gave it an id). */
static int prime(struct out *o, const char *run_id, const char *cursor)
{
    char mid[MCP_EVENT_ID_SIZE];
    return mcp_event_id(run_id, cursor, mid, sizeof mid) != 0 ? -1 : sse_event(o, mid, "message", "");
}

/* The replay, then, once it is sent, the stream goes to the hub where
 * there is one; else (no hub, or a full one) this thread drives it by the
 * same rules (stream_rules.h): a keepalive after stream_quiet_ms of
 * silence, a look for a hang-up every slice (the web server notices a
 * vanished client on the write after it vanished and then closes our
 * connection), the early ends, revocations, Redis's patience, and
 * on_disconnect: cancel. */
static int stream_events(struct call *c, const struct run *r, const char *cursor,
                         const char *headers, int cancel_on_gone, const struct stream_view *view,
                         const char *types)
{
    const char *run_id = r->id;
    const struct config *cfg = c->req->cfg;
    /* A slice is at most STOP_SLICE_MS so that a stopping process ends
     * its streams promptly. */
    int slice_ms = cfg->keepalive_ms / 4 > 50 ? cfg->keepalive_ms / 4 : 50;
    if (slice_ms > STOP_SLICE_MS)
        slice_ms = STOP_SLICE_MS;
    struct stream s = {.out = &c->req->out, .view = view, .run_id = run_id, .types = types};
    snprintf(s.cursor, sizeof s.cursor, "%s", cursor);
    struct auth_proof proof;
    auth_proof_take(c->req, c->link_ok, r->owner, &proof);
    struct stream_watch w;
    stream_watch_init(&w, run_id, &proof, bus_revocations(c->bus), cancel_on_gone);
    w.view = view;
    if (sse_headers(s.out, headers) != 0 || sse_retry(s.out, cfg->retry_ms) != 0 ||
        (view != NULL && view->form == FORM_MCP && prime(s.out, run_id, cursor) != 0) || catch_up(c, r, &s) != 0)
        return -1;
    /* The replay, up to what Redis holds now; then an event loop takes the
     * stream over where there is one, and this thread is free. */
    int n = READ_BATCH;
    while (n == READ_BATCH && !s.finished && !s.gone)
        n = bus_read(c->bus, run_id, s.cursor, READ_BATCH, 0, send_entry, &s);
    /* (Redis gone meanwhile, n < 0: the loop below reconnects.) */
    /* (A filtered stream stays on this thread: the hub sends every event.) */
    if (n >= 0 && !s.finished && !s.gone && c->api->hand_off != NULL && types == NULL) {
        int h = c->api->hand_off(c->req, &w, s.cursor);
        if (h == 0)
            return 0;
        /* A full hub: the stream ends here and its client comes back
         * after the retry delay, from its last event. A create-and-stream
         * stays here instead: its response is the only one it gets. */
        if (h > 0 && !cancel_on_gone)
            return sse_comment(s.out, "server busy; reconnect later");
    }
    /* A stream may stay open for hours and needs only Redis from here on:
     * its SQLite connection and page cache go now, not at the end. */
    store_close(c->st);
    c->st = NULL;
    char server[BUS_SERVER_SIZE];
    snprintf(server, sizeof server, "%s", bus_server(c->bus));
    int64_t last_check = clock_mono_ms();
    w.last_write_ms = last_check;
    const char *why = NULL;
    while (!s.finished && !s.gone) {
        int stopping = c->api->stopping != NULL && atomic_load(c->api->stopping);
        if ((why = stream_end_reason(&w, stopping, clock_now_ms() / 1000)) != NULL)
            break;
        if (clock_mono_ms() - last_check >= stream_recheck_ms(cfg->keepalive_ms)) {
            last_check = clock_mono_ms();
            if (revoked(c, &w, bus_revocations(c->bus))) {
                why = "its credentials were revoked";
                break;
            }
        }
        if (stream_keepalive_due(&w, cfg->keepalive_ms, clock_mono_ms())) {
            s.gone = sse_comment(s.out, "keepalive") != 0;
            w.last_write_ms = clock_mono_ms();
            continue;
        }
        int64_t wait = stream_quiet_ms(cfg->keepalive_ms) - (clock_mono_ms() - w.last_write_ms);
        n = bus_read(c->bus, run_id, s.cursor, READ_BATCH,
                     wait < slice_ms ? (int)(wait > 0 ? wait : 0) : slice_ms, send_entry, &s);
        if (n > 0)
            w.last_write_ms = clock_mono_ms();
        if (n >= 0 && out_gone(s.out))
            s.gone = 1;
        /* Back from a Redis outage, the stream may have moved on (trimmed
         * or expired) while we were away. */
        if (n < 0 && reconnect(c) != 0) {
            why = "redis unreachable, closing";
            break;
        }
        /* Another Redis process may lack the last writes: the client
         * resumes through a request, which puts them back first. */
        if (n < 0 && strcmp(bus_server(c->bus), server) != 0) {
            why = "redis was replaced, closing";
            break;
        }
        if (n < 0 && catch_up(c, r, &s) != 0) {
            why = "redis unreachable, closing";
            break;
        }
    }
    if (why != NULL && strcmp(why, "the process stops") != 0)
        log_run(LOG_INFO, run_id, "its stream: %s", why);
    if (s.gone && !s.finished)
        stream_client_gone(&w, cfg, c->st, c->bus);
    return 0;
}

/* 1 when the cursor is at or past r's terminal event (its id into
 * end_id, when not NULL), 0 not, -1 when Redis cannot tell. Redis knows
 * while it holds the stream; the ledger once the stream has expired (not
 * before: its end may still be on its way to Redis). */
static int at_end(struct call *c, const struct run *r, const struct event_id *cur,
                  char end_id[EVENT_ID_SIZE])
{
    char last_id[EVENT_ID_SIZE], last_name[EVENT_NAME_SIZE];
    int last = bus_last(c->bus, r->id, last_id, last_name);
    struct event_id lid;
    int done = last == 0 ? event_is_terminal(last_name) && event_id_parse(last_id, &lid) == 0
                         : last == 1 && run_status_terminal(r->status) &&
                               event_id_parse(r->last_event_id, &lid) == 0;
    if (done && end_id != NULL)
        event_id_format(&lid, end_id);
    return last < 0 ? -1 : done && event_id_cmp(cur, &lid) >= 0;
}

int api_stream_after(struct call *c, const struct run *r, const char *cursor, const char *headers,
                     const struct stream_view *view)
{
    struct event_id cur;
    char end_id[EVENT_ID_SIZE];
    if (call_bus(c) == NULL || event_id_parse(cursor, &cur) != 0)
        return stream_later(c);
    int end = at_end(c, r, &cur, end_id);
    if (end < 0)
        return stream_later(c);
    if (end == 0)
        return stream_events(c, r, cursor, headers, 0, view, NULL);
    /* Its client has it all: a stream of the end alone. */
    struct out *o = &c->req->out;
    return sse_headers(o, headers) != 0 || sse_retry(o, c->req->cfg->retry_ms) != 0 ||
           sse_event(o, end_id, "end", "null") != 0 ? -1 : 0;
}

int api_stream_run(struct call *c, const struct run *r, const char *headers, int cancel_on_gone,
                   const struct stream_view *view)
{
    if (call_bus(c) == NULL)
        return stream_later(c);
    return stream_events(c, r, "0-0", headers, cancel_on_gone, view, NULL);
}

int api_stream_mcp(struct call *c, const struct run *r, const char *cursor, const char *headers,
                   const struct mcp_view *mcp)
{
    if (call_bus(c) == NULL)
        return stream_later(c);
    struct stream_view view = {.form = FORM_MCP, .mcp = *mcp};
    return stream_events(c, r, cursor, headers, 0, &view, NULL);
}

int api_stream_view(struct request *req, struct stream_view *view)
{
    char format[16];
    int q = request_query(req, "format", format, sizeof format);
    memset(view, 0, sizeof *view);
    view->form = FORM_EVENTS;
    if (q == 0 && strcmp(format, "ui") == 0)
        view->form = FORM_UI;
    else if (q != 1)
        return reply_problem(req, 400, "invalid_parameter",
                             "format: ui (the AI SDK's UI message stream), or none"), -1;
    return 0;
}

/* The JSON form's parameters. */
struct page_query {
    char after[EVENT_ID_SIZE];
    long limit;
    char types[512];
    int all_types;
};

/* Reads after, limit and types: 0, or -1 after answering 400. Checked
 * before Redis is asked, so a bad request is told so whatever Redis does. */
static int read_page_query(struct request *req, struct page_query *p)
{
    struct event_id cur;
    snprintf(p->after, sizeof p->after, "0-0");
    int aq = request_query(req, "after", p->after, sizeof p->after);
    if (aq < 0 || (aq == 0 && event_id_parse(p->after, &cur) != 0))
        return reply_problem(req, 400, "invalid_cursor", "the event id must look like 1700000000000-0"), -1;
    if (request_query_limit(req, 1000, 100, &p->limit) != 0)
        return reply_problem(req, 400, "invalid_parameter",
                             "limit: must be a whole number from 1 (more than 1000 means 1000)"), -1;
    int tq = request_query(req, "types", p->types, sizeof p->types);
    if (tq < 0)
        return reply_problem(req, 400, "invalid_parameter", "types: malformed or too long"), -1;
    p->all_types = tq != 0;
    return 0;
}

static int events_page(struct call *c, const struct run *r, const struct page_query *p)
{
    struct stream s = {.page = json_array(), .budget = (int)p->limit,
                       .types = p->all_types ? NULL : p->types};
    snprintf(s.cursor, sizeof s.cursor, "%s", p->after);
    int rc = catch_up(c, r, &s);
    /* Then from Redis, in batches, until the page is full or the run has
     * nothing more (filtered-out events still move the cursor on). */
    for (int n = 1; rc == 0 && n > 0 && s.budget > 0 && !s.finished;) {
        n = bus_read(c->bus, r->id, s.cursor, PAGE_READ_BATCH, 0, send_entry, &s);
        rc = n < 0 ? -1 : 0;
    }
    if (rc != 0) {
        json_decref(s.page);
        return reply_problem(c->req, 503, "redis_unavailable", "the event bus is not reachable");
    }
    /* A page that reached the run's end has no next one: null tells the
     * client it has it all, without one more request to learn so. */
    json_t *next = !s.finished && strcmp(s.cursor, p->after) != 0 ? json_string(s.cursor) : json_null();
    return reply_json(c->req, 200, json_pack("{s:o, s:o}", "data", s.page, "next_cursor", next), NULL);
}

static int wants_json(const struct request *req)
{
    return request_accepts(req, "application/json") && !request_accepts(req, "text/event-stream");
}

int api_events(struct call *c)
{
    struct request *req = c->req;
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    struct event_id cur;
    char cursor[EVENT_ID_SIZE];
    struct page_query page;
    int json = wants_json(req);
    if (json ? read_page_query(req, &page) != 0 : read_cursor(req, &cur, cursor) != 0) {
        if (!json)
            reply_problem(req, 400, "invalid_cursor", "the event id must look like 1700000000000-0");
        run_clear(&r);
        return -1;
    }
    /* The stream honours types= as the page does. */
    char types[512];
    int tq = json ? 1 : request_query(req, "types", types, sizeof types);
    if (tq < 0) {
        run_clear(&r);
        return reply_problem(req, 400, "invalid_parameter", "types: malformed or too long");
    }
    struct stream_view view;
    if (api_stream_view(req, &view) != 0) {
        run_clear(&r);
        return -1;
    }
    if (call_bus(c) == NULL) {
        run_clear(&r);
        return json ? reply_problem(req, 503, "redis_unavailable", "the event bus is not reachable")
                    : stream_later(c);
    }
    int rc;
    if (json) {
        rc = events_page(c, &r, &page);
        run_clear(&r);
        return rc;
    }
    /* A cursor at or past the terminal event: 204 tells EventSource to stop. */
    int end = at_end(c, &r, &cur, NULL);
    if (end != 0) {
        run_clear(&r);
        return end > 0 ? reply_empty(req, 204, NULL) : stream_later(c);
    }
    int ui = view.form == FORM_UI;
    rc = stream_events(c, &r, cursor, ui ? UI_STREAM_HEADER : NULL, 0, ui ? &view : NULL,
                       tq == 0 ? types : NULL);
    run_clear(&r);
    return rc;
}
