/* Unit tests of config.c. */
#include "unit.h"

#include "config.h"

START_TEST(test_config_reads_keys_over_defaults)
{
    struct config c;
    char err[CONFIG_ERR_SIZE];
    config_defaults(&c);
    ck_assert_int_eq(c.keepalive_ms, 15000);
    const char *p = write_tmp("a.conf", "# comment\n\n redis = 127.0.0.1:6380 \n"
                                        "keepalive_ms=500\nauth = none\ntrust_remote_user = yes\n");
    ck_assert_int_eq(config_load(&c, p, err, sizeof err), 0);
    ck_assert_str_eq(c.redis, "127.0.0.1:6380");
    ck_assert_int_eq(c.keepalive_ms, 500);
    ck_assert_int_eq(c.auth, AUTH_NONE);
    ck_assert_int_eq(c.trust_remote_user, 1);
    ck_assert_str_eq(c.base_path, "/api");
}
END_TEST

START_TEST(test_config_error_names_file_line_and_key)
{
    struct config c;
    char err[CONFIG_ERR_SIZE], want[CONFIG_ERR_SIZE];
    config_defaults(&c);
    const char *p = write_tmp("b.conf", "redis = unix:/x\nretry_ms = soon\n");
    ck_assert_int_eq(config_load(&c, p, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: retry_ms: not a whole number", p);
    ck_assert_str_eq(err, want);
    p = write_tmp("c.conf", "no equals sign\n");
    ck_assert_int_eq(config_load(&c, p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":1: expected key = value"));
    p = write_tmp("d.conf", "base_path = /api/\n");
    ck_assert_int_eq(config_load(&c, p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "base_path"));
    p = write_tmp("e.conf", "body_max_bytes = 99999999999999999999999\n");
    ck_assert_int_eq(config_load(&c, p, err, sizeof err), -1);
}
END_TEST

UNIT_MAIN("config",
          test_config_reads_keys_over_defaults,
          test_config_error_names_file_line_and_key)
