/* Unit tests of crypto.c. */
#include "unit.h"

#include "crypto.h"

START_TEST(test_ids_are_unique_and_url_safe)
{
    char a[ID_SIZE], b[ID_SIZE];
    crypto_new_id(a);
    crypto_new_id(b);
    ck_assert_uint_eq(strlen(a), ID_LEN);
    ck_assert_str_ne(a, b);
    ck_assert(crypto_id_valid(a));
    ck_assert(!crypto_id_valid("short"));
    ck_assert(!crypto_id_valid("AAAAAAAAAAAAAAAAAAAAA/"));
    ck_assert(!crypto_id_valid("AAAAAAAAAAAAAAAAAAAAAAA"));
}
END_TEST

START_TEST(test_signed_links_verify_only_their_run_and_expiry)
{
    char secret[HASH_HEX_SIZE], sig[SIG_SIZE];
    crypto_new_secret(secret);
    ck_assert_int_eq(crypto_sign_link(secret, "run1", 2000000000, sig), 0);
    ck_assert_int_eq(crypto_verify_link(secret, "run1", 2000000000, sig), 0);
    ck_assert_int_eq(crypto_verify_link(secret, "run2", 2000000000, sig), -1);
    ck_assert_int_eq(crypto_verify_link(secret, "run1", 2000000001, sig), -1);
    char other[HASH_HEX_SIZE];
    crypto_new_secret(other);
    ck_assert_int_eq(crypto_verify_link(other, "run1", 2000000000, sig), -1);
    ck_assert_int_eq(crypto_verify_link(secret, "run1", 2000000000, ""), -1);
}
END_TEST

START_TEST(test_owner_keys_differ_by_owner_and_epoch)
{
    char secret[HASH_HEX_SIZE], k0[HASH_HEX_SIZE], k1[HASH_HEX_SIZE], kb[HASH_HEX_SIZE];
    char again[HASH_HEX_SIZE], sig[SIG_SIZE];
    crypto_new_secret(secret);
    ck_assert_int_eq(crypto_owner_key(secret, "alice", 0, k0), 0);
    ck_assert_int_eq(crypto_owner_key(secret, "alice", 0, again), 0);
    ck_assert_int_eq(crypto_owner_key(secret, "alice", 1, k1), 0);
    ck_assert_int_eq(crypto_owner_key(secret, "bob", 0, kb), 0);
    ck_assert_str_eq(k0, again);
    ck_assert_str_ne(k0, k1);
    ck_assert_str_ne(k0, kb);
    /* A link signed under one epoch does not verify under the next. */
    ck_assert_int_eq(crypto_sign_link(k0, "run1", 2000000000, sig), 0);
    ck_assert_int_eq(crypto_verify_link(k0, "run1", 2000000000, sig), 0);
    ck_assert_int_eq(crypto_verify_link(k1, "run1", 2000000000, sig), -1);
    ck_assert_int_eq(crypto_owner_key("not hex", "alice", 0, k0), -1);
}
END_TEST

START_TEST(test_producer_signatures_are_not_links)
{
    char secret[HASH_HEX_SIZE], sig[SIG_SIZE], link[SIG_SIZE];
    crypto_new_secret(secret);
    ck_assert_int_eq(crypto_sign_producer(secret, "run1", sig), 0);
    ck_assert_int_eq(crypto_verify_producer(secret, "run1", sig), 0);
    ck_assert_int_eq(crypto_verify_producer(secret, "run2", sig), -1);
    /* Neither verifies as the other, for any expiry a link could have. */
    ck_assert_int_eq(crypto_verify_link(secret, "run1", 0, sig), -1);
    ck_assert_int_eq(crypto_sign_link(secret, "run1", 0, link), 0);
    ck_assert_int_eq(crypto_verify_producer(secret, "run1", link), -1);
}
END_TEST

UNIT_MAIN("crypto",
          test_producer_signatures_are_not_links,
          test_ids_are_unique_and_url_safe,
          test_signed_links_verify_only_their_run_and_expiry,
          test_owner_keys_differ_by_owner_and_epoch)
