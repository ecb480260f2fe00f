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

UNIT_MAIN("crypto",
          test_ids_are_unique_and_url_safe,
          test_signed_links_verify_only_their_run_and_expiry)
