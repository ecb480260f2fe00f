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
    ck_assert_str_eq(r.base, "/api");
}
END_TEST

/* Where the URI names the script (CGI, an alias), PATH_INFO tells where
 * the API begins, and the links keep the client's base. */
START_TEST(test_request_path_info_names_the_base)
{
    struct fake_env e = {{"REQUEST_URI", "PATH_INFO"},
                         {"/cgi-bin/opstream.cgi/v1/runs/r1?a=b", "/v1/runs/r1"}, NULL, 0};
    struct request r;
    fake_request(&r, &e, NULL);
    ck_assert_int_eq(request_init(&r), 0);
    ck_assert_str_eq(r.path, "/v1/runs/r1");
    ck_assert_str_eq(r.base, "/cgi-bin/opstream.cgi");
    e.values[1] = "/v1/runs/other"; /* not the end of the URI: refused */
    ck_assert_int_eq(request_init(&r), -1);
    e.values[1] = "";
    ck_assert_int_eq(request_init(&r), -1);
    e.values[0] = "/api/v1/runs/r1"; /* base_path still wins */
    e.values[1] = "/runs/r1";
    ck_assert_int_eq(request_init(&r), 0);
    ck_assert_str_eq(r.path, "/v1/runs/r1");
    ck_assert_str_eq(r.base, "/api");
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
          test_request_path_info_names_the_base,
          test_request_query_decodes_and_bounds)
