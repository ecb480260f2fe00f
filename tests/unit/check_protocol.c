/* Unit tests of protocol.c. */
#include "unit.h"

#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse(const char *line, int err, struct job_msg *m)
{
    protocol_parse_line(line, strlen(line), err, 0, 64, m);
}

START_TEST(test_protocol_event_lines_become_events)
{
    struct job_msg m;
    parse("{\"event\":\"progress\",\"data\":{\"current\":1}}", 0, &m);
    ck_assert_int_eq(m.kind, JOB_EVENT);
    ck_assert_str_eq(m.name, "progress");
    ck_assert_int_eq(json_integer_value(json_object_get(m.data, "current")), 1);
    job_msg_clear(&m);
    parse("{\"event\":\"result\",\"data\":[1,2]}", 0, &m);
    ck_assert_int_eq(m.kind, JOB_RESULT);
    ck_assert(json_is_array(m.data));
    job_msg_clear(&m);
    parse("{\"event\":\"input_required\",\"data\":{\"schema\":{}}}", 0, &m);
    ck_assert_int_eq(m.kind, JOB_INPUT_REQUIRED);
    job_msg_clear(&m);
    parse("{\"event\":\"custom.thing\"}", 0, &m);
    ck_assert_int_eq(m.kind, JOB_EVENT);
    ck_assert(json_is_object(m.data));
    job_msg_clear(&m);
}
END_TEST

START_TEST(test_protocol_refuses_reserved_and_bad_names)
{
    struct job_msg m;
    const char *lines[] = {
        "{\"event\":\"run_finished\",\"data\":{\"status\":\"succeeded\"}}",
        "{\"event\":\"Bad Name\",\"data\":{}}",
        "{\"event\":\"x\\nevent: y\",\"data\":{}}",
        "{\"event\":\"progress\",\"data\":5}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        parse(lines[i], 0, &m);
        ck_assert_int_eq(m.kind, JOB_LOG);
        ck_assert_str_eq(m.name, "log");
        ck_assert_ptr_nonnull(json_object_get(m.data, "rejected"));
        job_msg_clear(&m);
    }
}
END_TEST

START_TEST(test_protocol_other_lines_are_logs)
{
    struct job_msg m;
    parse("hello world", 0, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert_str_eq(json_string_value(json_object_get(m.data, "stream")), "stdout");
    ck_assert_str_eq(json_string_value(json_object_get(m.data, "line")), "hello world");
    job_msg_clear(&m);
    parse("{\"event\":\"progress\"}", 1, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert_str_eq(json_string_value(json_object_get(m.data, "stream")), "stderr");
    job_msg_clear(&m);
    parse("{not json", 0, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    job_msg_clear(&m);
    protocol_parse_line("bad \xff\xfe utf8", 12, 0, 1, 64, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert(json_is_true(json_object_get(m.data, "truncated")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(m.data, "line")));
    job_msg_clear(&m);
}
END_TEST

START_TEST(test_protocol_invalid_utf8_and_nul_are_escaped)
{
    struct job_msg m;
    /* A stray continuation byte, a cut sequence, an overlong '/', a
     * surrogate, a NUL; valid multi-byte text around them is kept. */
    const char line[] = "a\x80" "b\xc3 \xc0\xaf \xed\xa0\x80 \xc3\xa9\xe2\x82\xac \0z";
    protocol_parse_line(line, sizeof line - 1, 1, 0, 64, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert_str_eq(json_string_value(json_object_get(m.data, "line")),
                     "a\\x80b\\xc3 \\xc0\\xaf \\xed\\xa0\\x80 \xc3\xa9\xe2\x82\xac \\x00z");
    job_msg_clear(&m);
}
END_TEST

START_TEST(test_protocol_a_line_nested_too_deep_is_a_cut_flagged_log)
{
    size_t n = 3000;
    char *line = malloc(2 * n + 64);
    ck_assert_ptr_nonnull(line);
    size_t len = (size_t)sprintf(line, "{\"event\":\"result\",\"data\":");
    for (size_t i = 0; i < n; i++)
        line[len++] = '[';
    for (size_t i = 0; i < n; i++)
        line[len++] = ']';
    line[len++] = '}';
    struct job_msg m;
    protocol_parse_line(line, len, 0, 0, 64, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert_str_eq(json_string_value(json_object_get(m.data, "rejected")),
                     "JSON nested deeper than 64 levels");
    ck_assert(json_is_true(json_object_get(m.data, "truncated")));
    ck_assert_uint_eq(json_string_length(json_object_get(m.data, "line")), PROTOCOL_DEEP_KEEP_BYTES);
    job_msg_clear(&m);
    /* At the bound it is still an event. */
    const char *three = "{\"event\":\"x\",\"data\":{\"a\":[]}}";
    protocol_parse_line(three, strlen(three), 0, 0, 3, &m);
    ck_assert_int_eq(m.kind, JOB_EVENT);
    job_msg_clear(&m);
    protocol_parse_line(three, strlen(three), 0, 0, 2, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    job_msg_clear(&m);
    free(line);
}
END_TEST

UNIT_MAIN("protocol",
          test_protocol_event_lines_become_events,
          test_protocol_refuses_reserved_and_bad_names,
          test_protocol_other_lines_are_logs,
          test_protocol_invalid_utf8_and_nul_are_escaped,
          test_protocol_a_line_nested_too_deep_is_a_cut_flagged_log)
