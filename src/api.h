#ifndef OPSTREAM_API_H
#define OPSTREAM_API_H

#include "bus.h"
#include "jobtypes.h"
#include "request.h"
#include "store.h"

/* What every request shares, read-only after start. */
struct api {
    const struct config *cfg;
    const struct jobtypes *types;
    char *openapi;   /* the document, its servers set to base_path */
};

/* Prepares what api_handle serves; -1 if the built-in document is broken. */
int api_init(struct api *api, const struct config *cfg, const struct jobtypes *types);

/* One request's resources, opened by the router and closed after. */
struct call {
    struct request *req;
    const struct api *api;
    struct store *st;
    struct bus *bus;            /* NULL until call_bus() */
    char secret[HASH_HEX_SIZE]; /* link signing key */
    int link_ok;                /* a valid signed link authorized this run */
};

/* Routes a request to its handler and answers it; the only entry point
 * for the responder. */
void api_handle(const struct api *api, struct request *req);

/* Connects to Redis on first use; NULL when Redis is unreachable. */
struct bus *call_bus(struct call *c);
/* Reads the JSON body: 0 with *body set (the caller owns it), or -1 after
 * answering 400 (malformed, empty) or 413 (over body_max_bytes). */
int call_json_body(struct call *c, json_t **body);
/* Loads the run named by the path if the caller may see it. 0, or -1
 * after answering (404 looks the same for "absent" and "not yours"). */
int call_owned_run(struct call *c, struct run *r);

/* Handlers: one answer each, every failure as problem+json. */
int api_create_run(struct call *c);
int api_get_run(struct call *c);
int api_list_runs(struct call *c);
int api_events(struct call *c);
int api_cancel(struct call *c);
int api_wait(struct call *c);
int api_resume(struct call *c);
int api_types(struct call *c);
int api_type(struct call *c);
int api_health(struct call *c);
int api_openapi(struct call *c);

#endif
