/* Unit tests of request.c. */
#include "unit.h"

#include "request.h"

START_TEST(test_request_strips_base_path_and_query)
{
    struct fake_env e = {{"REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "CONTENT_LENGTH"},
                         {"GET", "/api/v1/runs/abc?x=1", "x=1", "12"}, NULL, 0};
    struct request r;
    fake_request(&r, &e, NULL);
    ck_assert_int_eq(request_init(&r), 0);
    ck_assert_str_eq(r.path, "/v1/runs/abc");
    ck_assert_str_eq(r.method, "GET");
    ck_assert_int_eq(r.content_length, 12);
    e.values[1] = "/apix/v1/runs";
    ck_assert_int_eq(request_init(&r), -1);
    e.values[1] = "/other";
    ck_assert_int_eq(request_init(&r), -1);
}
END_TEST

START_TEST(test_request_query_decodes_and_bounds)
{
    struct fake_env e = {{"REQUEST_URI", "QUERY_STRING"},
                         {"/api/v1", "a=1&lastEventId=17-3&sp=a+b%2Fc&bad=%zz&nul=%00&long=0123456789"}, NULL, 0};
    struct request r;
    fake_request(&r, &e, NULL);
    ck_assert_int_eq(request_init(&r), 0);
    char v[8];
    ck_assert_int_eq(request_query(&r, "lastEventId", v, sizeof v), 0);
    ck_assert_str_eq(v, "17-3");
    ck_assert_int_eq(request_query(&r, "sp", v, sizeof v), 0);
    ck_assert_str_eq(v, "a b/c");
    ck_assert_int_eq(request_query(&r, "missing", v, sizeof v), 1);
    ck_assert_int_eq(request_query(&r, "bad", v, sizeof v), -1);
    ck_assert_int_eq(request_query(&r, "nul", v, sizeof v), -1);
    ck_assert_int_eq(request_query(&r, "long", v, sizeof v), -1);
    ck_assert_int_eq(request_query(&r, "last", v, sizeof v), 1);
}
END_TEST

UNIT_MAIN("request",
          test_request_strips_base_path_and_query,
          test_request_query_decodes_and_bounds)
