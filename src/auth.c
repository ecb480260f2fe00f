/* Who is asking. Tokens are compared by hash only; a signed link
 * authorizes one run's event stream and nothing else. */
#include "auth.h"
#include "clock.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum auth_result auth_identify(struct request *req, struct store *st)
{
    const struct config *cfg = req->cfg;
    if (cfg->auth == AUTH_NONE) {
        snprintf(req->owner, sizeof req->owner, "anonymous");
        return AUTH_OK;
    }
    const char *user = request_env(req, "REMOTE_USER");
    if (cfg->trust_remote_user && user != NULL && user[0] != '\0') {
        if (strlen(user) >= sizeof req->owner)
            return AUTH_INVALID;
        snprintf(req->owner, sizeof req->owner, "%s", user);
        return AUTH_OK;
    }
    const char *h = request_env(req, "HTTP_AUTHORIZATION");
    if (h == NULL || h[0] == '\0')
        return AUTH_MISSING;
    if (strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) >= TOKEN_SIZE)
        return AUTH_INVALID;
    char hash[HASH_HEX_SIZE];
    crypto_hash_text(h + 7, hash);
    int r = store_token_owner(st, hash, req->owner);
    return r == 0 ? AUTH_OK : (r == 1 ? AUTH_INVALID : AUTH_ERROR);
}

int auth_link_valid(const struct request *req, const char *secret, const char *run_id)
{
    char exp[24], sig[SIG_SIZE];
    if (request_query(req, "exp", exp, sizeof exp) != 0 ||
        request_query(req, "sig", sig, sizeof sig) != 0)
        return 0;
    char *end;
    long long e = strtoll(exp, &end, 10);
    /* A link lives at most link_ttl_s: one signed further ahead was not
     * made here, whoever holds the key. */
    long long now_s = clock_now_ms() / 1000;
    if (*end != '\0' || e < now_s || e > now_s + req->cfg->link_ttl_s)
        return 0;
    return crypto_verify_link(secret, run_id, (int64_t)e, sig) == 0;
}
