/* Unit tests of auth.c: who a request is, from each identity source, and
 * what a signed link authorizes. */
#include "unit.h"

#include "auth.h"
#include "clock.h"
#include "crypto.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

static struct config cfg;
static struct store *st;

static void setup(void)
{
    setup_tmp();
    config_defaults(&cfg);
    snprintf(cfg.database, sizeof cfg.database, "%s/auth.db", tmpdir);
    char err[CONFIG_ERR_SIZE], hash[HASH_HEX_SIZE];
    st = store_open(cfg.database, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    crypto_hash_text("ops_secret", hash);
    ck_assert_int_eq(store_token_insert(st, hash, "carol", "unit", 1), 0);
}

static void teardown(void)
{
    store_close(st);
    teardown_tmp();
}

/* Who a request with these variables is: the answer, and req->owner. */
static enum auth_result identify(const char *name, const char *value, const char *name2,
                                 const char *value2, char owner[OWNER_SIZE])
{
    struct fake_env e = {{name, name2}, {value, value2}, NULL, 0};
    struct request req;
    fake_request(&req, &e, &cfg);
    enum auth_result r = auth_identify(&req, st);
    snprintf(owner, OWNER_SIZE, "%s", req.owner);
    return r;
}

START_TEST(test_a_bearer_token_names_its_owner_and_nothing_else_does)
{
    char owner[OWNER_SIZE];
    ck_assert_int_eq(identify("HTTP_AUTHORIZATION", "Bearer ops_secret", NULL, NULL, owner), AUTH_OK);
    ck_assert_str_eq(owner, "carol");
    ck_assert_int_eq(identify("HTTP_AUTHORIZATION", "Bearer ops_other", NULL, NULL, owner), AUTH_INVALID);
    ck_assert_int_eq(identify("HTTP_AUTHORIZATION", "Basic b3BzX3NlY3JldA==", NULL, NULL, owner),
                     AUTH_INVALID);
    ck_assert_int_eq(identify("HTTP_AUTHORIZATION", "", NULL, NULL, owner), AUTH_MISSING);
    ck_assert_int_eq(identify(NULL, NULL, NULL, NULL, owner), AUTH_MISSING);
    char longer[TOKEN_SIZE + 16];
    snprintf(longer, sizeof longer, "Bearer %0*d", TOKEN_SIZE, 7);
    ck_assert_int_eq(identify("HTTP_AUTHORIZATION", longer, NULL, NULL, owner), AUTH_INVALID);
    /* REMOTE_USER counts only when the configuration trusts it. */
    ck_assert_int_eq(identify("REMOTE_USER", "mallory", NULL, NULL, owner), AUTH_MISSING);
}
END_TEST

START_TEST(test_remote_user_when_trusted_and_nobody_when_auth_is_off)
{
    char owner[OWNER_SIZE];
    cfg.trust_remote_user = 1;
    ck_assert_int_eq(identify("REMOTE_USER", "dave", "HTTP_AUTHORIZATION", "Bearer ops_secret", owner),
                     AUTH_OK);
    ck_assert_str_eq(owner, "dave");
    char huge[OWNER_SIZE + 8];
    memset(huge, 'u', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert_int_eq(identify("REMOTE_USER", huge, NULL, NULL, owner), AUTH_INVALID);
    ck_assert_int_eq(identify("REMOTE_USER", "", "HTTP_AUTHORIZATION", "Bearer ops_secret", owner),
                     AUTH_OK);
    ck_assert_str_eq(owner, "carol");
    cfg.auth = AUTH_NONE;
    ck_assert_int_eq(identify(NULL, NULL, NULL, NULL, owner), AUTH_OK);
    ck_assert_str_eq(owner, "anonymous");
}
END_TEST

START_TEST(test_a_signed_link_opens_its_run_until_it_expires)
{
    char secret[HASH_HEX_SIZE], sig[SIG_SIZE], query[160];
    crypto_new_secret(secret);
    long long exp = clock_now_ms() / 1000 + 60;
    ck_assert_int_eq(crypto_sign_link(secret, "run1", exp, sig), 0);
    snprintf(query, sizeof query, "exp=%lld&sig=%s", exp, sig);
    struct fake_env e = {{NULL}, {NULL}, NULL, 0};
    struct request req;
    fake_request(&req, &e, &cfg);
    req.query = query; /* as request_init sets it; the query changes below */
    ck_assert(auth_link_valid(&req, secret, "run1"));
    ck_assert(!auth_link_valid(&req, secret, "run2"));
    snprintf(query, sizeof query, "exp=%lld&sig=%s", exp + 1, sig);
    ck_assert(!auth_link_valid(&req, secret, "run1"));
    exp = clock_now_ms() / 1000 - 1;
    ck_assert_int_eq(crypto_sign_link(secret, "run1", exp, sig), 0);
    snprintf(query, sizeof query, "exp=%lld&sig=%s", exp, sig);
    ck_assert(!auth_link_valid(&req, secret, "run1"));
    snprintf(query, sizeof query, "exp=%lld", exp + 120);
    ck_assert(!auth_link_valid(&req, secret, "run1"));
    /* Correctly signed, but further ahead than link_ttl_s. */
    exp = clock_now_ms() / 1000 + cfg.link_ttl_s + 60;
    ck_assert_int_eq(crypto_sign_link(secret, "run1", exp, sig), 0);
    snprintf(query, sizeof query, "exp=%lld&sig=%s", exp, sig);
    ck_assert(!auth_link_valid(&req, secret, "run1"));
    exp = clock_now_ms() / 1000 + cfg.link_ttl_s - 60;
    ck_assert_int_eq(crypto_sign_link(secret, "run1", exp, sig), 0);
    snprintf(query, sizeof query, "exp=%lld&sig=%s", exp, sig);
    ck_assert(auth_link_valid(&req, secret, "run1"));
}
END_TEST

UNIT_MAIN_WITH("auth", setup, teardown,
               test_a_bearer_token_names_its_owner_and_nothing_else_does,
               test_remote_user_when_trusted_and_nobody_when_auth_is_off,
               test_a_signed_link_opens_its_run_until_it_expires)
