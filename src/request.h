#ifndef OPSTREAM_REQUEST_H
#define OPSTREAM_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "out.h"
#include "run.h"

#define REQUEST_PATH_SIZE 512
#define ROUTE_ARGS_MAX 2
#define ROUTE_ARG_SIZE 128

/* A bounded, validated view of one request, independent of FastCGI so the
 * handlers can be driven from tests. */
struct request {
    const char *method;
    char base[REQUEST_PATH_SIZE];   /* the URI's part above the API, as the client wrote it */
    char path[REQUEST_PATH_SIZE];   /* below the base path, no query */
    const char *query;              /* raw, may be "" */
    long content_length;            /* -1 when absent */
    const struct config *cfg;
    struct out out;

    const char *(*getenv)(void *ctx, const char *name);
    int (*read)(void *ctx, char *buf, size_t n);  /* bytes read, 0 at end */
    void *ctx;

    /* Filled by the router, which matches a request once (routes.c). */
    int routed;                     /* 0 not yet; 1 matched (route may be NULL); -1 no path */
    const void *route;              /* its struct route, NULL when none matched */
    char allow[64];                 /* with no route: the methods the path takes, or "" */
    char args[ROUTE_ARGS_MAX][ROUTE_ARG_SIZE];
    char owner[OWNER_SIZE];
    int status;                     /* the answer's, once reply.c wrote it (0: 200 or none) */
};

/* Fills method, base, path and query from the CGI variables. The API
 * lies below base_path in REQUEST_URI or, where a server names the script
 * in the URI (CGI, an alias), in its PATH_INFO. -1 when it is neither, or
 * too long. */
int request_init(struct request *req);
/* A CGI variable such as "HTTP_LAST_EVENT_ID"; NULL when absent. */
const char *request_env(const struct request *req, const char *name);
/* True when the Accept header names type (anywhere in it). */
int request_accepts(const struct request *req, const char *type);
/* 1 when name (len bytes) is an item of the comma-separated list (a
 * route's query parameters, an events filter's types=). */
int request_listed(const char *list, const char *name, size_t len);
/* True when an address (IPv4, IPv6, IPv4-mapped) is a loopback one. */
int request_addr_loopback(const char *addr);
/* True when the client's address (REMOTE_ADDR) is a loopback one. */
int request_from_loopback(const struct request *req);
/* Looks up a query parameter and percent-decodes it. 0 found, 1 absent,
 * -1 malformed or longer than size. */
int request_query(const struct request *req, const char *name, char *out, size_t size);

/* An integer query parameter within [min, max]; dflt when absent.
 * 0, or -1 when malformed or out of range. */
int request_query_int(const struct request *req, const char *name, long min,
                      long max, long dflt, long *out);

/* A page size: a whole number from 1, where more than max means max (a
 * client asking for much gets a full page, not an error); dflt when
 * absent. 0, or -1 when malformed or below 1. */
int request_query_limit(const struct request *req, long max, long dflt, long *out);

enum body_status { BODY_OK, BODY_TOO_LARGE, BODY_BAD_JSON, BODY_MISSING, BODY_TOO_DEEP, BODY_INCOMPLETE };
/* Reads and parses a JSON body within cfg->body_max_bytes and nested no
 * deeper than cfg->json_max_depth; a declared length over the limit is
 * refused before reading anything, a nesting before parsing. A body that
 * ends before its declared length, or whose reading fails (its deadline
 * passed), is BODY_INCOMPLETE. */
enum body_status request_json_body(struct request *req, json_t **out,
                                   char *why, size_t whysize);

#endif
