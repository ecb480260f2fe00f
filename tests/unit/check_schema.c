/* Unit tests of schema.c. */
#include "unit.h"

#include "schema.h"

static const char *validate_text(const char *schema, const char *value)
{
    static char err[SCHEMA_ERR_SIZE];
    json_t *s = J(schema), *v = J(value);
    char cerr[SCHEMA_ERR_SIZE];
    ck_assert_msg(schema_check(s, cerr, sizeof cerr) == 0, "schema refused: %s", cerr);
    int r = schema_validate(s, v, "/input", err, sizeof err);
    json_decref(s);
    json_decref(v);
    return r == 0 ? NULL : err;
}

/* Each schema is refused by schema_check with exactly its message. */
static void expect_refused(const char *bad[][2], size_t n)
{
    char err[SCHEMA_ERR_SIZE];
    for (size_t i = 0; i < n; i++) {
        json_t *s = J(bad[i][0]);
        ck_assert_int_eq(schema_check(s, err, sizeof err), -1);
        ck_assert_str_eq(err, bad[i][1]);
        json_decref(s);
    }
}

START_TEST(test_schema_reports_the_failing_path)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"maximum\":1000},"
                    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":3}}},"
                    "\"required\":[\"n\"],\"additionalProperties\":false}";
    ck_assert_ptr_null(validate_text(s, "{\"n\":5,\"tags\":[\"a\",\"bcd\"]}"));
    ck_assert_str_eq(validate_text(s, "{\"n\":1001}"), "/input/n: must be <= 1000");
    ck_assert_str_eq(validate_text(s, "{}"), "/input/n: is required");
    ck_assert_str_eq(validate_text(s, "{\"n\":1,\"x\":2}"), "/input/x: is not allowed");
    ck_assert_str_eq(validate_text(s, "{\"n\":\"1\"}"), "/input/n: must be of type \"integer\"");
    ck_assert_str_eq(validate_text(s, "{\"n\":1,\"tags\":[\"ok\",\"toolong\"]}"),
                     "/input/tags/1: must be at most 3 characters long");
    ck_assert_str_eq(validate_text(s, "[]"), "/input: must be of type \"object\"");
}
END_TEST

START_TEST(test_schema_keywords_behave_as_json_schema)
{
    ck_assert_ptr_null(validate_text("{\"type\":\"integer\"}", "3.0"));
    ck_assert_ptr_nonnull(validate_text("{\"type\":\"integer\"}", "3.5"));
    ck_assert_ptr_null(validate_text("{\"type\":[\"string\",\"null\"]}", "null"));
    ck_assert_ptr_null(validate_text("{\"enum\":[\"a\",{\"b\":1}]}", "{\"b\":1}"));
    ck_assert_ptr_nonnull(validate_text("{\"enum\":[\"a\"]}", "\"b\""));
    ck_assert_ptr_nonnull(validate_text("{\"minimum\":0}", "-0.5"));
    ck_assert_ptr_null(validate_text("{\"minimum\":0}", "\"not a number\""));
    /* Lengths count characters, not bytes: "héé" is 3 characters. */
    ck_assert_ptr_null(validate_text("{\"maxLength\":3,\"minLength\":3}", "\"h\u00e9\u00e9\""));
    ck_assert_ptr_null(validate_text("{\"additionalProperties\":{\"type\":\"number\"}}", "{\"a\":1}"));
    ck_assert_str_eq(validate_text("{\"additionalProperties\":{\"type\":\"number\"}}", "{\"a/b~\":true}"),
                     "/input/a~1b~0: must be of type \"number\"");
}
END_TEST

START_TEST(test_schema_check_refuses_what_it_does_not_support)
{
    char err[SCHEMA_ERR_SIZE];
    const char *bad[][2] = {
        {"{\"type\":\"integr\"}", "/type: unknown type integr"},
        {"{\"pattern\":\"x\"}", "/pattern: keyword pattern is not supported"},
        {"{\"properties\":{\"a\":{\"minLength\":-1}}}", "/properties/a/minLength: must be a whole number >= 0"},
        {"{\"items\":[]}", "/items: a schema must be an object"},
        {"[]", "/: a schema must be an object"},
    };
    expect_refused(bad, sizeof bad / sizeof bad[0]);
    /* Deep nesting is refused, not recursed into without end. */
    char deep[4096] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "{\"items\":");
    strcat(deep, "{}");
    for (int i = 0; i < 100; i++)
        strcat(deep, "}");
    json_t *s = J(deep);
    ck_assert_int_eq(schema_check(s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "nested too deeply"));
    json_decref(s);
}
END_TEST

/* oneOf with a discriminator: the property's value picks the branch, and
 * the error names the branch's own failing path. */
START_TEST(test_schema_one_of_by_discriminator)
{
    const char *s =
        "{\"type\":\"object\",\"required\":[\"kind\"],\"discriminator\":{\"propertyName\":\"kind\"},"
        "\"oneOf\":["
        "{\"properties\":{\"kind\":{\"enum\":[\"lab\"]},\"samples\":{\"type\":\"integer\",\"maximum\":96}},"
        "\"required\":[\"samples\"],\"additionalProperties\":false},"
        "{\"properties\":{\"kind\":{\"enum\":[\"field\",\"survey\"]},\"site\":{\"type\":\"string\"}},"
        "\"additionalProperties\":false}]}";
    ck_assert_ptr_null(validate_text(s, "{\"kind\":\"lab\",\"samples\":12}"));
    ck_assert_ptr_null(validate_text(s, "{\"kind\":\"survey\",\"site\":\"north\"}"));
    ck_assert_str_eq(validate_text(s, "{\"kind\":\"lab\",\"samples\":97}"), "/input/samples: must be <= 96");
    ck_assert_str_eq(validate_text(s, "{\"kind\":\"lab\"}"), "/input/samples: is required");
    /* The other branch's field is not the lab's. */
    ck_assert_str_eq(validate_text(s, "{\"kind\":\"lab\",\"samples\":1,\"site\":\"x\"}"),
                     "/input/site: is not allowed");
    ck_assert_str_eq(validate_text(s, "{\"kind\":\"sea\"}"), "/input/kind: must be one of lab, field, survey");
    ck_assert_str_eq(validate_text(s, "{\"site\":\"x\"}"), "/input/kind: is required");
    ck_assert_str_eq(validate_text(s, "[1]"), "/input: must be of type \"object\"");

    const char *bad[][2] = {
        {"{\"oneOf\":[{}]}", "/oneOf: oneOf and discriminator go together"},
        {"{\"discriminator\":{\"propertyName\":\"k\"}}", "/discriminator: oneOf and discriminator go together"},
        {"{\"oneOf\":[],\"discriminator\":{\"propertyName\":\"k\"}}", "/oneOf: must be a non-empty array of schemas"},
        {"{\"oneOf\":[{}],\"discriminator\":{\"propertyName\":\"k\"}}", "/oneOf/0: must give k an enum of its values"},
        {"{\"oneOf\":[{\"properties\":{\"k\":{\"enum\":[1]}}}],\"discriminator\":{\"propertyName\":\"k\"}}",
         "/oneOf/0: k's values must be strings"},
        {"{\"oneOf\":[{\"properties\":{\"k\":{\"enum\":[\"a\"]}}},{\"properties\":{\"k\":{\"enum\":[\"b\",\"a\"]}}}],"
         "\"discriminator\":{\"propertyName\":\"k\"}}", "/oneOf/1: k value a is another branch's too"},
        {"{\"oneOf\":[{}],\"discriminator\":{\"name\":\"k\"}}", "/discriminator: must be {\"propertyName\": NAME}"},
    };
    expect_refused(bad, sizeof bad / sizeof bad[0]);
}
END_TEST

UNIT_MAIN("schema",
          test_schema_reports_the_failing_path,
          test_schema_keywords_behave_as_json_schema,
          test_schema_check_refuses_what_it_does_not_support,
          test_schema_one_of_by_discriminator)
