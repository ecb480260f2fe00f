#ifndef OPSTREAM_AUTH_H
#define OPSTREAM_AUTH_H

#include "crypto.h"
#include "request.h"
#include "store.h"

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_ERROR };

/* Sets req->owner from the configured identity source: nobody (auth =
 * none), the web server's REMOTE_USER when trusted, or a bearer token. */
enum auth_result auth_identify(struct request *req, struct store *st);
/* True when exp/sig in the query sign this run, have not expired, and
 * expire at most link_ttl_s from now. */
int auth_link_valid(const struct request *req, const char *secret, const char *run_id);

/* A producer credential: "opp.<run id>.<signature>", the signature made
 * with the run owner's link key (crypto_sign_producer). It lets its
 * holder publish events to that one run and do nothing else; revoking a
 * credential of the owner ends it with the owner's links. */
#define PRODUCER_PREFIX "opp."
#define PRODUCER_TOKEN_SIZE (sizeof PRODUCER_PREFIX + ID_LEN + 1 + SIG_SIZE)
int auth_producer_token(const char *owner_key, const char *run_id,
                        char out[PRODUCER_TOKEN_SIZE]);
/* 1 when the request's bearer credential is a producer credential, with
 * the run it names and its signature; 0 when it is not one. */
int auth_producer_claim(const struct request *req, char run_id[ID_SIZE], char sig[SIG_SIZE]);

/* What a request's credentials were, kept so an open stream can check
 * them again later (after a revocation) without the request. */
struct auth_proof {
    int link;                       /* a signed link; else a token or the server's word */
    char owner[OWNER_SIZE];         /* whose credentials (a link: the run's owner) */
    char token_hash[HASH_HEX_SIZE]; /* a bearer token's hash; "" for none */
    long long exp;                  /* a link's expiry and signature */
    char sig[SIG_SIZE];
};
/* Takes the proof of an authorized request: link when a signed link
 * authorized it, for a run of run_owner. */
void auth_proof_take(const struct request *req, int link, const char *run_owner,
                     struct auth_proof *p);
/* 1 while the proof still holds for run_id, 0 once revoked or expired,
 * -1 when the ledger cannot tell. */
int auth_proof_holds(struct store *st, const char *run_id, const struct auth_proof *p);

#endif
