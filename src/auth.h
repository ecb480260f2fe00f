#ifndef OPSTREAM_AUTH_H
#define OPSTREAM_AUTH_H

#include "request.h"
#include "store.h"

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_ERROR };

/* Sets req->owner from the configured identity source: nobody (auth =
 * none), the web server's REMOTE_USER when trusted, or a bearer token. */
enum auth_result auth_identify(struct request *req, struct store *st);
/* True when exp/sig in the query sign this run, have not expired, and
 * expire at most link_ttl_s from now. */
int auth_link_valid(const struct request *req, const char *secret, const char *run_id);

#endif
