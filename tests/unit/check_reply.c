/* Unit tests of reply.c. */
#include "unit.h"

#include "reply.h"

START_TEST(test_problem_reply_is_rfc9457)
{
    struct fake_env e = {{NULL}, {NULL}, NULL, 0};
    struct request r;
    fake_request(&r, &e, NULL);
    ck_assert_int_eq(reply_problem(&r, 404, "run_not_found", "no run %s", "x"), 0);
    ck_assert_ptr_nonnull(strstr(mem, "Status: 404 Not Found\r\n"));
    ck_assert_ptr_nonnull(strstr(mem, "Content-Type: application/problem+json\r\n"));
    json_t *j = json_loads(strstr(mem, "\r\n\r\n") + 4, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "run_not_found");
    ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), "no run x");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 404);
    ck_assert_ptr_nonnull(json_object_get(j, "type"));
    ck_assert_ptr_nonnull(json_object_get(j, "title"));
    json_decref(j);
}
END_TEST

UNIT_MAIN("reply",
          test_problem_reply_is_rfc9457)
