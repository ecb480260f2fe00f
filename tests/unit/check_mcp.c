/* Unit tests of mcp.c: runs as the Model Context Protocol sees them. */
#include "unit.h"

#include "mcp.h"
#include "stream_rules.h"

#include <stdlib.h>
#include <string.h>

static const char *const run_id = "AAAAAAAAAAAAAAAAAAAAAA";

static struct mcp_view view(const char *token, int elicit, int level, int task)
{
    struct mcp_view v = {.log_level = level, .elicit = elicit, .task = task, .created_ms = 1700000000000,
                         .ttl_ms = 60000};
    snprintf(v.rpc_id, sizeof v.rpc_id, "%s", "\"call-1\"");
    snprintf(v.progress_token, sizeof v.progress_token, "%s", token);
    return v;
}

/* The message an event is for v, parsed; NULL when none. */
static json_t *message(const struct mcp_view *v, const char *name, const char *data)
{
    char *text = mcp_event_message(v, run_id, "1700000000123-4", name, data);
    json_t *j = text ? J(text) : NULL;
    free(text);
    return j;
}

START_TEST(test_kinds_of_messages)
{
    const struct { const char *text; enum mcp_kind kind; } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", MCP_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\",\"params\":{}}", MCP_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", MCP_NOTIFICATION},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"input.x\",\"result\":{}}", MCP_RESPONSE},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1,\"message\":\"m\"}}", MCP_RESPONSE},
        {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MCP_BATCH},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_INVALID},
        {"{\"id\":1,\"method\":\"ping\"}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", MCP_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"result\":{}}", MCP_INVALID},
        {"\"2.0\"", MCP_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = J(cases[i].text);
        ck_assert_msg(mcp_message_kind(j) == cases[i].kind, "%s", cases[i].text);
        json_decref(j);
    }
}
END_TEST

START_TEST(test_event_ids_name_the_run)
{
    char out[MCP_EVENT_ID_SIZE], run[ID_SIZE], ev[EVENT_ID_SIZE];
    ck_assert_int_eq(mcp_event_id(run_id, "17-3", out, sizeof out), 0);
    ck_assert_str_eq(out, "AAAAAAAAAAAAAAAAAAAAAA.17-3");
    ck_assert_int_eq(mcp_event_id_parse(out, run, ev), 0);
    ck_assert_str_eq(run, run_id);
    ck_assert_str_eq(ev, "17-3");
    ck_assert_int_eq(mcp_event_id_parse("17-3", run, ev), -1);
    ck_assert_int_eq(mcp_event_id_parse("AAAAAAAAAAAAAAAAAAAAAA.x", run, ev), -1);
    ck_assert_int_eq(mcp_event_id_parse("../etc.1-0", run, ev), -1);
    ck_assert_int_eq(mcp_event_id_parse(".1-0", run, ev), -1);
    ck_assert_int_eq(mcp_elicit_id_parse("input.AAAAAAAAAAAAAAAAAAAAAA.5-0", run), 0);
    ck_assert_str_eq(run, run_id);
    ck_assert_int_eq(mcp_elicit_id_parse("AAAAAAAAAAAAAAAAAAAAAA.5-0", run), -1);
}
END_TEST

START_TEST(test_progress_needs_a_token)
{
    struct mcp_view v = view("7", 0, MCP_LOG_OFF, 0);
    json_t *m = message(&v, "progress", "{\"current\":3,\"total\":10,\"message\":\"three\"}");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "notifications/progress");
    json_t *p = json_object_get(m, "params");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "progressToken")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "progress")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "total")), 10);
    ck_assert_str_eq(json_string_value(json_object_get(p, "message")), "three");
    json_decref(m);
    struct mcp_view none = view("", 0, MCP_LOG_OFF, 0);
    ck_assert_ptr_null(message(&none, "progress", "{\"current\":3}"));
    ck_assert_ptr_null(message(&v, "progress", "{\"current\":\"x\"}"));
    ck_assert_ptr_null(message(&v, "step_started", "{\"name\":\"a\"}"));
}
END_TEST

START_TEST(test_the_end_answers_the_call)
{
    struct mcp_view v = view("", 0, MCP_LOG_OFF, 0);
    json_t *m = message(&v, "run_finished", "{\"status\":\"succeeded\",\"result\":{\"n\":1}}");
    ck_assert_str_eq(json_string_value(json_object_get(m, "id")), "call-1");
    json_t *r = json_object_get(m, "result");
    ck_assert(json_is_false(json_object_get(r, "isError")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "structuredContent"), "n")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
                     "{\"n\":1}");
    json_decref(m);
    /* A failure is isError with the error's message; a task's result names it. */
    struct mcp_view t = view("", 0, MCP_LOG_OFF, 1);
    m = message(&t, "run_finished", "{\"status\":\"failed\",\"error\":{\"code\":\"exit\",\"message\":\"it broke\"}}");
    r = json_object_get(m, "result");
    ck_assert(json_is_true(json_object_get(r, "isError")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0), "text")),
                     "it broke");
    ck_assert_ptr_null(json_object_get(r, "structuredContent"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "_meta"),
                     "io.modelcontextprotocol/related-task"), "taskId")), run_id);
    json_decref(m);
    /* A result that is no object: text only. */
    m = message(&v, "run_finished", "{\"status\":\"succeeded\",\"result\":[1,2]}");
    r = json_object_get(m, "result");
    ck_assert_ptr_null(json_object_get(r, "structuredContent"));
    json_decref(m);
}
END_TEST

START_TEST(test_questions_become_elicitations)
{
    const char *ask = "{\"prompt\":\"Name?\",\"schema\":{\"type\":\"object\",\"properties\":{\"name\":"
                      "{\"type\":\"string\",\"minLength\":1}},\"required\":[\"name\"],\"additionalProperties\":false}}";
    struct mcp_view v = view("", 1, MCP_LOG_OFF, 0);
    json_t *m = message(&v, "input_required", ask);
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "elicitation/create");
    ck_assert_str_eq(json_string_value(json_object_get(m, "id")), "input.AAAAAAAAAAAAAAAAAAAAAA.1700000000123-4");
    json_t *p = json_object_get(m, "params");
    ck_assert_str_eq(json_string_value(json_object_get(p, "message")), "Name?");
    json_t *want = J("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1}},"
                     "\"required\":[\"name\"]}");
    ck_assert(json_equal(json_object_get(p, "requestedSchema"), want));
    json_decref(want);
    json_decref(m);
    /* A client that cannot be asked hears of it as a task status, where it is one. */
    struct mcp_view quiet = view("", 0, MCP_LOG_OFF, 1);
    m = message(&quiet, "input_required", ask);
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "notifications/tasks/status");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "params"), "status")), "input_required");
    json_decref(m);
}
END_TEST

START_TEST(test_elicitation_schema_subset)
{
    const char *inside[] = {
        "{\"type\":\"object\",\"properties\":{}}",
        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1},"
        "\"ok\":{\"type\":\"boolean\",\"default\":true},\"c\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]}}}",
    };
    const char *outside[] = {
        "{\"type\":\"array\"}",
        "{\"type\":\"object\"}",
        "{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\",\"properties\":{}}}}",
        "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"pattern\":\"a+\"}}}",
        "{\"type\":\"object\",\"properties\":{\"s\":{\"oneOf\":[]}}}",
        "{\"type\":\"object\",\"properties\":{},\"oneOf\":[]}",
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        json_t *s = J(inside[i]), *e = mcp_elicit_schema(s);
        ck_assert_msg(e != NULL && json_equal(s, e), "%s", inside[i]);
        json_decref(s);
        json_decref(e);
    }
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        json_t *s = J(outside[i]);
        ck_assert_msg(mcp_elicit_schema(s) == NULL, "%s", outside[i]);
        json_decref(s);
    }
}
END_TEST

START_TEST(test_log_lines_at_the_level_asked)
{
    struct mcp_view warn = view("", 0, MCP_LOG_WARNING, 0);
    json_t *m = message(&warn, "log", "{\"stream\":\"stderr\",\"line\":\"oops\"}");
    ck_assert_str_eq(json_string_value(json_object_get(m, "method")), "notifications/message");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "params"), "level")), "warning");
    json_decref(m);
    ck_assert_ptr_null(message(&warn, "log", "{\"stream\":\"stdout\",\"line\":\"fine\"}"));
    struct mcp_view debug = view("", 0, MCP_LOG_DEBUG, 0);
    m = message(&debug, "step_started", "{\"name\":\"a\"}");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(m, "params"), "data"), "event")),
                     "step_started");
    json_decref(m);
    ck_assert_int_eq(mcp_level_parse("error"), MCP_LOG_ERROR);
    ck_assert_int_eq(mcp_level_parse("loud"), -2);
}
END_TEST

START_TEST(test_runs_as_tasks)
{
    struct run r = {.status = RUN_INPUT_REQUIRED, .created_at = 1700000000000, .updated_at = 1700000001000};
    snprintf(r.id, sizeof r.id, "%s", run_id);
    r.pending_input = J("{\"prompt\":\"Name?\"}");
    json_t *t = mcp_task(&r, 1000, 500);
    ck_assert_str_eq(json_string_value(json_object_get(t, "status")), "input_required");
    ck_assert_str_eq(json_string_value(json_object_get(t, "statusMessage")), "Name?");
    ck_assert_str_eq(json_string_value(json_object_get(t, "createdAt")), "2023-11-14T22:13:20.000Z");
    ck_assert_str_eq(json_string_value(json_object_get(t, "lastUpdatedAt")), "2023-11-14T22:13:21.000Z");
    ck_assert_int_eq(json_integer_value(json_object_get(t, "ttl")), 1000);
    json_decref(t);
    json_decref(r.pending_input);
    const struct { enum run_status s; const char *task; } map[] = {
        {RUN_QUEUED, "working"}, {RUN_RUNNING, "working"}, {RUN_SUCCEEDED, "completed"},
        {RUN_FAILED, "failed"}, {RUN_CANCELLED, "cancelled"}, {RUN_TIMED_OUT, "failed"}, {RUN_EXPIRED, "failed"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        ck_assert_str_eq(mcp_task_status(map[i].s), map[i].task);
}
END_TEST

START_TEST(test_frames_of_a_view)
{
    struct stream_view v = {.form = FORM_MCP, .mcp = view("\"t\"", 0, MCP_LOG_OFF, 0)};
    mem_reset();
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "5-0", "step_started", "{}"), 0);
    ck_assert_str_eq(mem, ""); /* nothing for this client */
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "6-0", "progress", "{\"current\":1}"), 0);
    ck_assert_str_eq(mem, "event: message\ndata: {\"jsonrpc\":\"2.0\","
                          "\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"t\",\"progress\":1}}\n"
                          "id: AAAAAAAAAAAAAAAAAAAAAA.6-0\n\n");
    mem_reset();
    ck_assert_int_eq(stream_frame(&o, NULL, run_id, "6-0", "progress", "{}"), 0);
    ck_assert_str_eq(mem, "event: progress\ndata: {}\nid: 6-0\n\n");
}
END_TEST

/* The AI SDK's UI message stream (ui_stream.h): the chunks of the run's
 * events, each under its event's id, and [DONE] after the end. */
START_TEST(test_frames_of_the_ui_form)
{
    struct stream_view v = {.form = FORM_UI};
    mem_reset();
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "1-0", "run_queued", "{\"status\":\"queued\"}"), 0);
    ck_assert_str_eq(mem, "data: {\"type\":\"start\",\"messageId\":\"" "AAAAAAAAAAAAAAAAAAAAAA" "\"}\nid: 1-0\n\n");
    mem_reset();
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "2-0", "run_queued", "{\"status\":\"queued\",\"reason\":\"worker_lost\"}"), 0);
    ck_assert_str_eq(mem, "data: {\"type\":\"data-run_queued\",\"data\":{\"status\":\"queued\",\"reason\":\"worker_lost\"}}\nid: 2-0\n\n");
    mem_reset();
    /* A job's chunk passes through; its own "type" cannot change what it is. */
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "3-0", "text-delta", "{\"id\":\"t\",\"delta\":\"hi\",\"type\":\"finish\"}"), 0);
    ck_assert_str_eq(mem, "data: {\"id\":\"t\",\"delta\":\"hi\",\"type\":\"text-delta\"}\nid: 3-0\n\n");
    mem_reset();
    ck_assert_int_eq(stream_frame(&o, &v, run_id, "4-0", "finish", "{}"), 0); /* not the job's to say */
    ck_assert_str_eq(mem, "data: {\"type\":\"data-finish\",\"data\":{}}\nid: 4-0\n\n");
    const struct { const char *end, *last; } ends[] = {
        {"{\"status\":\"succeeded\",\"result\":null}", "{\"type\":\"finish\"}"},
        {"{\"status\":\"cancelled\",\"error\":{\"code\":\"cancelled\",\"message\":\"m\"}}", "{\"type\":\"abort\"}"},
        {"{\"status\":\"failed\",\"error\":{\"code\":\"exit\",\"message\":\"it broke\"}}",
         "{\"type\":\"error\",\"errorText\":\"it broke\"}"},
        {"{\"status\":\"timed_out\"}", "{\"type\":\"error\",\"errorText\":\"timed_out\"}"},
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        char want[512];
        mem_reset();
        ck_assert_int_eq(stream_frame(&o, &v, run_id, "9-0", "run_finished", ends[i].end), 0);
        snprintf(want, sizeof want, "data: {\"type\":\"data-run_finished\",\"data\":%s}\nid: 9-0\n\n"
                 "data: %s\nid: 9-0\n\ndata: [DONE]\n\n", ends[i].end, ends[i].last);
        ck_assert_str_eq(mem, want);
    }
}
END_TEST

UNIT_MAIN("mcp",
          test_kinds_of_messages,
          test_event_ids_name_the_run,
          test_progress_needs_a_token,
          test_the_end_answers_the_call,
          test_questions_become_elicitations,
          test_elicitation_schema_subset,
          test_frames_of_the_ui_form,
          test_log_lines_at_the_level_asked,
          test_runs_as_tasks,
          test_frames_of_a_view)
