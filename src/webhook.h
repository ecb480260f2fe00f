#ifndef OPSTREAM_WEBHOOK_H
#define OPSTREAM_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "run.h"

#define WEBHOOK_ERROR_SIZE 160
/* "t=<seconds>,v1=<64 hex>" */
#define WEBHOOK_SIG_SIZE 96

/* Once per process, before any other call here (libcurl's global init). */
int webhook_init(void);

/* Whether a run or a type may name url: http or https, no user name or
 * password, and either taken in by a webhook_allow entry or not internal
 * by its host's name (localhost, or an address literal that is not
 * public, whatever IPv4 address an IPv6 one carries). 0, or -1 with why.
 * A name that resolves to an internal address is refused later, when a
 * delivery connects, unless it is one an allowed entry names. */
int webhook_url_check(const struct config *cfg, const char *url, char *why, size_t size);
/* Whether a webhook_allow entry takes url in (one short enough for
 * webhook_url_check): the same scheme, host and port, and a path (dot
 * segments removed, none of '.', '/' or '\' percent-encoded) at or below
 * the entry's, on a segment boundary. */
int webhook_allowed(const struct config *cfg, const char *url);

/* What one attempt came to. */
struct webhook_attempt {
    int64_t at_ms;
    long status;                       /* the HTTP status; 0 without an answer */
    char error[WEBHOOK_ERROR_SIZE];    /* why there was no answer; "" with one */
    int64_t duration_ms;
};

/* POSTs body (a run's snapshot) to url, signed with secret: 1 delivered
 * (a 2xx answer), 0 not (a is filled either way). attempt is told to the
 * receiver, and id names the delivery (the run's id). */
int webhook_deliver(const struct config *cfg, const char *url, const char *secret_hex,
                    const char *id, int attempt, const char *body, struct webhook_attempt *a);

/* The Opstream-Signature header's value: "t=<t>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" under secret>". 0, or -1 for a secret that is not hex. */
int webhook_signature(const char *secret_hex, int64_t t, const char *body,
                      char out[WEBHOOK_SIG_SIZE]);

#endif
