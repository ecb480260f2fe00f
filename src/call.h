#ifndef OPSTREAM_CALL_H
#define OPSTREAM_CALL_H

#include "auth.h"
#include "bus.h"
#include "jobtypes.h"
#include "request.h"
#include "store.h"
#include "stream_rules.h"

#include <stdatomic.h>

/* What every request shares, read-only after start. */
struct api {
    const struct config *cfg;
    const struct jobtypes *types;
    char *openapi;   /* the document, its servers set to base_path */
    const atomic_int *stopping; /* set when the process stops: streams end; may be NULL */
    /* Where an event loop can take a stream over once its replay is sent
     * (the FastCGI responder's hub): 0 when it did, and the response is no
     * longer the request's; 1 when it is full (the stream ends, its client
     * comes back later); -1: the stream stays on the request's thread.
     * NULL where there is none (CGI). w: what the stream is watched
     * under (stream_rules.h). */
    int (*hand_off)(struct request *req, const struct stream_watch *w, const char *cursor);
};

/* One request's resources, opened by the router and closed after; the
 * helpers below are what every handler shares. */
struct call {
    struct request *req;
    const struct api *api;
    struct store *st;           /* NULL when the ledger cannot be opened */
    struct bus *bus;            /* NULL until call_bus() */
    char link_secret[HASH_HEX_SIZE]; /* the stack's, from the ledger */
    char secret[HASH_HEX_SIZE]; /* the key of the caller's links, once known */
    int link_ok;                /* a valid signed link authorized this run */
    int producer_ok;            /* the run's producer credential did */
};

/* The calling thread serves request after request: it connects to the
 * ledger and Redis now and keeps the connections from one call to the
 * next, until call_thread_end() closes them. */
void call_thread_keep(const struct config *cfg);
void call_thread_end(void);

/* Opens the ledger (or takes the thread's kept connections) and reads the
 * link secret: 0, or -1 (logged) when the ledger is not reachable. */
int call_open(struct call *c);
void call_close(struct call *c);

/* The key that signs owner's links now (see crypto_owner_key): 0, or -1
 * when the ledger cannot be read. */
int call_link_key(struct call *c, const char *owner, char out[HASH_HEX_SIZE]);

/* Connects to Redis on first use; NULL when Redis is unreachable. */
struct bus *call_bus(struct call *c);
/* Reads the JSON body: 0 with *body set (the caller owns it), or -1 after
 * answering 400 (malformed, empty) or 413 (over body_max_bytes). */
int call_json_body(struct call *c, json_t **body);
/* Loads the run named by the path if the caller may see it. 0, or -1
 * after answering (404 looks the same for "absent" and "not yours"). */
int call_owned_run(struct call *c, struct run *r);
/* A part of the stack (code: store_unavailable, redis_unavailable) is
 * away: 503 with Retry-After. An EventSource takes any 5xx for the end,
 * so a request for an event stream gets an empty stream instead: the
 * retry delay, a comment saying why, and its end, after which it comes
 * back. */
int call_unavailable(struct call *c, const char *code, const char *detail);
/* That empty stream, for a stream already promised. */
int call_stream_later(struct call *c, const char *detail);

#endif
