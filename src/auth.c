/* Who is asking. Tokens are compared by hash only; a signed link
 * authorizes one run's event stream and nothing else. */
#include "auth.h"
#include "clock.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The token a request presents: Authorization's bearer token, else
 * x-api-key's (LangGraph's clients send one there); "" for none, NULL
 * for an Authorization of another scheme. */
static const char *presented_token(const struct request *req)
{
    const char *h = request_env(req, "HTTP_AUTHORIZATION");
    const char *key = request_env(req, "HTTP_X_API_KEY");
    if (h != NULL && h[0] != '\0')
        return strncmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    return key != NULL ? key : "";
}

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
    const char *token = presented_token(req);
    if (token != NULL && token[0] == '\0')
        return AUTH_MISSING;
    if (token == NULL || strlen(token) >= TOKEN_SIZE)
        return AUTH_INVALID;
    char hash[HASH_HEX_SIZE];
    crypto_hash_text(token, hash);
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

int auth_producer_token(const char *owner_key, const char *run_id,
                        char out[PRODUCER_TOKEN_SIZE])
{
    char sig[SIG_SIZE];
    if (crypto_sign_producer(owner_key, run_id, sig) != 0)
        return -1;
    snprintf(out, PRODUCER_TOKEN_SIZE, "%s%s.%s", PRODUCER_PREFIX, run_id, sig);
    return 0;
}

int auth_producer_claim(const struct request *req, char run_id[ID_SIZE], char sig[SIG_SIZE])
{
    const char *h = request_env(req, "HTTP_AUTHORIZATION");
    const size_t plen = sizeof PRODUCER_PREFIX - 1;
    if (h == NULL || strncmp(h, "Bearer " PRODUCER_PREFIX, 7 + plen) != 0)
        return 0;
    const char *id = h + 7 + plen;
    const char *dot = strchr(id, '.');
    if (dot == NULL || dot - id != ID_LEN || strlen(dot + 1) >= SIG_SIZE)
        return 0;
    memcpy(run_id, id, ID_LEN);
    run_id[ID_LEN] = '\0';
    snprintf(sig, SIG_SIZE, "%s", dot + 1);
    return crypto_id_valid(run_id);
}

void auth_proof_take(const struct request *req, int link, const char *run_owner,
                     struct auth_proof *p)
{
    memset(p, 0, sizeof *p);
    p->link = link;
    snprintf(p->owner, sizeof p->owner, "%s", link ? run_owner : req->owner);
    if (link) {
        char exp[24];
        if (request_query(req, "exp", exp, sizeof exp) == 0)
            p->exp = strtoll(exp, NULL, 10);
        if (request_query(req, "sig", p->sig, sizeof p->sig) != 0)
            p->sig[0] = '\0';
        return;
    }
    /* No auth, or the web server's user: nothing here can be revoked. */
    const char *user = request_env(req, "REMOTE_USER");
    if (req->cfg->auth == AUTH_NONE || (req->cfg->trust_remote_user && user != NULL && user[0] != '\0'))
        return;
    const char *token = presented_token(req);
    if (token != NULL && token[0] != '\0' && strlen(token) < TOKEN_SIZE)
        crypto_hash_text(token, p->token_hash);
}

int auth_proof_holds(struct store *st, const char *run_id, const struct auth_proof *p)
{
    if (p->link) {
        char secret[HASH_HEX_SIZE], key[HASH_HEX_SIZE];
        int64_t epoch;
        if (store_link_secret(st, secret) != 0 || store_owner_epoch(st, p->owner, &epoch) != 0 ||
            crypto_owner_key(secret, p->owner, epoch, key) != 0)
            return -1;
        return p->exp >= clock_now_ms() / 1000 &&
               crypto_verify_link(key, run_id, (int64_t)p->exp, p->sig) == 0;
    }
    if (p->token_hash[0] == '\0')
        return 1;
    char owner[OWNER_SIZE];
    int r = store_token_owner(st, p->token_hash, owner);
    if (r < 0)
        return -1;
    return r == 0 && strcmp(owner, p->owner) == 0;
}
