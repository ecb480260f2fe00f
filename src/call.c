/* The helpers every handler shares, below the route table: a request's
 * ledger and bus, its body, and the run its path names. */
#include "call.h"
#include "api.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "sse.h"

#include <string.h>

/* A thread that serves request after request keeps its connections
 * between them: a request takes them (and owns them meanwhile, so it may
 * drop one that broke) and gives them back at its end. */
static __thread int keeping;
static __thread struct store *kept_store;
static __thread struct bus *kept_bus;
static __thread char kept_secret[HASH_HEX_SIZE]; /* the link secret, read once; "" before */

void call_thread_keep(const struct config *cfg)
{
    keeping = 1;
    /* Connected before this thread takes a request: no request pays for
     * a connect. */
    char err[CONFIG_ERR_SIZE];
    kept_store = store_open(cfg->database, err, sizeof err);
    kept_bus = bus_connect(cfg, 2000, err, sizeof err);
}

void call_thread_end(void)
{
    store_close(kept_store);
    bus_free(kept_bus);
    kept_store = NULL;
    kept_bus = NULL;
    kept_secret[0] = '\0';
    keeping = 0;
}

int call_open(struct call *c)
{
    char err[CONFIG_ERR_SIZE];
    c->st = kept_store;
    kept_store = NULL;
    /* A kept Redis connection that Redis closed meanwhile (a restart) is
     * not tried: the request connects anew. */
    c->bus = kept_bus;
    kept_bus = NULL;
    if (c->bus != NULL && !bus_alive(c->bus)) {
        bus_free(c->bus);
        c->bus = NULL;
    }
    if (c->st == NULL)
        c->st = store_open(c->api->cfg->database, err, sizeof err);
    /* The stack's link secret is made once, at init: a kept connection
     * reads it once. */
    if (c->st != NULL && keeping && kept_secret[0] != '\0') {
        memcpy(c->link_secret, kept_secret, sizeof kept_secret);
        return 0;
    }
    if (c->st != NULL && store_link_secret(c->st, c->link_secret) == 0) {
        if (keeping)
            memcpy(kept_secret, c->link_secret, sizeof kept_secret);
        return 0;
    }
    log_error("%s", c->st ? "cannot read link secret" : err);
    store_close(c->st);
    c->st = NULL;
    return -1;
}

/* A process without a reporter (CGI's: one request and gone) hands its
 * counts over at the request's end, over the request's connection when
 * it made one. */
static void report_counts(struct call *c)
{
    char err[CONFIG_ERR_SIZE];
    struct bus *b = c->bus != NULL ? c->bus : bus_connect(c->api->cfg, 1000, err, sizeof err);
    if (b != NULL)
        metrics_report(b);
    if (b != c->bus)
        bus_free(b);
}

void call_close(struct call *c)
{
    if (!keeping && !metrics_reporter_running())
        report_counts(c);
    if (keeping && c->bus != NULL && bus_alive(c->bus)) {
        kept_bus = c->bus;
        c->bus = NULL;
    }
    if (keeping && c->st != NULL) {
        if (store_settle(c->st) != 0)
            log_error("a request left a ledger transaction open; rolled back");
        kept_store = c->st;
        c->st = NULL;
    }
    bus_free(c->bus);
    c->bus = NULL;
    store_close(c->st);
    c->st = NULL;
}

int call_link_key(struct call *c, const char *owner, char out[HASH_HEX_SIZE])
{
    int64_t epoch;
    if (store_owner_epoch(c->st, owner, &epoch) != 0)
        return -1;
    return crypto_owner_key(c->link_secret, owner, epoch, out);
}

struct bus *call_bus(struct call *c)
{
    if (c->bus == NULL) {
        char err[CONFIG_ERR_SIZE];
        c->bus = bus_connect(c->api->cfg, 2000, err, sizeof err);
        if (c->bus == NULL)
            log_warn("%s", err);
    }
    return c->bus;
}

int call_json_body(struct call *c, json_t **body)
{
    struct request *req = c->req;
    char why[256];
    switch (request_json_body(req, body, why, sizeof why)) {
    case BODY_OK:
        return 0;
    case BODY_TOO_LARGE:
        reply_problem(req, 413, "body_too_large", "the body is over %ld bytes",
                      req->cfg->body_max_bytes);
        return -1;
    case BODY_MISSING:
        reply_problem(req, 400, "invalid_json", "the body is empty");
        return -1;
    case BODY_TOO_DEEP:
        reply_problem(req, 400, "json_too_deep", "JSON nested deeper than %d levels",
                      req->cfg->json_max_depth);
        return -1;
    case BODY_BAD_JSON:
        reply_problem(req, 400, "invalid_json", "malformed JSON: %s", why);
        return -1;
    case BODY_INCOMPLETE:
        reply_problem(req, 408, "request_timeout",
                      "the body ended before its declared length or did not arrive within %d ms",
                      req->cfg->request_timeout_ms);
        return -1;
    }
    return -1;
}

int call_owned_run(struct call *c, struct run *r)
{
    const char *id = c->req->args[0];
    int rc = crypto_id_valid(id) ? store_run_get(c->st, id, r) : 1;
    if (rc < 0) {
        call_unavailable(c, "store_unavailable", "the run ledger cannot be read");
        return -1;
    }
    if (rc == 0 && (c->link_ok || c->producer_ok || strcmp(r->owner, c->req->owner) == 0))
        return 0;
    if (rc == 0)
        run_clear(r);
    reply_problem(c->req, 404, "run_not_found", "no run with this id");
    return -1;
}

/* An event stream's request: its route streams, and the client takes an
 * event stream (not the JSON form). */
static int wants_stream(const struct request *req)
{
    const struct route *rt = req->route;
    return rt != NULL && (rt->flags & ROUTE_STREAM) &&
           !(request_accepts(req, "application/json") && !request_accepts(req, "text/event-stream"));
}

int call_stream_later(struct call *c, const char *detail)
{
    struct out *o = &c->req->out;
    if (sse_headers(o, NULL) != 0 || sse_retry(o, c->req->cfg->retry_ms) != 0)
        return -1;
    return sse_comment(o, detail);
}

int call_unavailable(struct call *c, const char *code, const char *detail)
{
    if (!wants_stream(c->req))
        return reply_problem(c->req, 503, code, "%s", detail);
    return call_stream_later(c, detail);
}
