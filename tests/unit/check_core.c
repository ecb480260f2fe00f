/* Unit tests of the modules that need no server: config, event ids and
 * names, SSE framing, the job protocol, request parsing, replies,
 * signed links and the SQLite store. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "event.h"
#include "out.h"
#include "protocol.h"
#include "reply.h"
#include "request.h"
#include "schema.h"
#include "sse.h"
#include "store.h"

/* ---- helpers ---- */

static char mem[8192];
static struct membuf mb;
static struct out o;

static void mem_reset(void)
{
    mb = (struct membuf){.data = mem, .cap = sizeof mem};
    mem[0] = '\0';
    membuf_out(&mb, &o);
}

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/opstream-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- config ---- */

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

/* ---- events ---- */

START_TEST(test_event_names_follow_the_pattern)
{
    ck_assert(event_name_valid("progress"));
    ck_assert(event_name_valid("my.job-step_2"));
    ck_assert(!event_name_valid(""));
    ck_assert(!event_name_valid("Progress"));
    ck_assert(!event_name_valid("1abc"));
    ck_assert(!event_name_valid("bad\nname"));
    ck_assert(!event_name_valid("has space"));
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    ck_assert(event_name_valid(longname));
    longname[64] = 'a', longname[65] = '\0';
    ck_assert(!event_name_valid(longname));
}
END_TEST

START_TEST(test_event_ids_parse_strictly_and_compare)
{
    struct event_id a, b;
    ck_assert_int_eq(event_id_parse("1700000000000-5", &a), 0);
    ck_assert_uint_eq(a.ms, 1700000000000ULL);
    ck_assert_uint_eq(a.seq, 5);
    ck_assert_int_eq(event_id_parse("17", &b), 0);
    ck_assert_uint_eq(b.seq, 0);
    ck_assert_int_eq(event_id_cmp(&b, &a), -1);
    ck_assert_int_eq(event_id_cmp(&a, &a), 0);
    const char *bad[] = {"", "-", "1-", "-1", "1-2-3", "x", "1 -2", "99999999999999999999999-0",
                         "18446744073709551616-0", "1-2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(event_id_parse(bad[i], &a) != 0, "accepted %s", bad[i]);
    char text[EVENT_ID_SIZE];
    struct event_id max = {UINT64_MAX, UINT64_MAX};
    event_id_format(&max, text);
    ck_assert_str_eq(text, "18446744073709551615-18446744073709551615");
    ck_assert(event_is_terminal("run_finished"));
    ck_assert(!event_is_terminal("progress"));
}
END_TEST

/* ---- SSE ---- */

START_TEST(test_sse_event_frame_and_flush)
{
    mem_reset();
    ck_assert_int_eq(sse_event(&o, "1-0", "progress", "{\"a\":1}"), 0);
    ck_assert_str_eq(mem, "id: 1-0\nevent: progress\ndata: {\"a\":1}\n\n");
    ck_assert_int_eq(mb.flushes, 1);
}
END_TEST

START_TEST(test_sse_cannot_be_injected)
{
    mem_reset();
    ck_assert_int_eq(sse_event(&o, "1-0\nevent: x", "progress", "{}"), -1);
    ck_assert_int_eq(sse_event(&o, "1-0", "a\rb", "{}"), -1);
    ck_assert_int_eq(sse_comment(&o, "x\n\ndata: y"), -1);
    ck_assert_str_eq(mem, "");
    /* Line breaks in data become separate data lines, never new fields. */
    ck_assert_int_eq(sse_event(&o, "2-0", "log", "one\nid: 9-9\r\nthree\rfour"), 0);
    ck_assert_str_eq(mem, "id: 2-0\nevent: log\ndata: one\ndata: id: 9-9\ndata: three\ndata: four\n\n");
}
END_TEST

START_TEST(test_sse_retry_and_keepalive)
{
    mem_reset();
    ck_assert_int_eq(sse_retry(&o, 2000), 0);
    ck_assert_int_eq(sse_comment(&o, "keepalive"), 0);
    ck_assert_str_eq(mem, "retry: 2000\n\n: keepalive\n\n");
    ck_assert_int_eq(mb.flushes, 2);
}
END_TEST

/* ---- job protocol ---- */

static void parse(const char *line, int err, struct job_msg *m)
{
    protocol_parse_line(line, strlen(line), err, 0, m);
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
    protocol_parse_line("bad \xff\xfe utf8", 12, 0, 1, &m);
    ck_assert_int_eq(m.kind, JOB_LOG);
    ck_assert(json_is_true(json_object_get(m.data, "truncated")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(m.data, "line")));
    job_msg_clear(&m);
}
END_TEST

/* ---- requests and replies ---- */

struct fake_env {
    const char *names[8];
    const char *values[8];
};

static const char *fake_getenv(void *ctx, const char *name)
{
    struct fake_env *e = ctx;
    for (int i = 0; i < 8 && e->names[i]; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static struct config req_cfg;

static void fake_request(struct request *r, struct fake_env *e)
{
    memset(r, 0, sizeof *r);
    config_defaults(&req_cfg);
    r->cfg = &req_cfg;
    r->getenv = fake_getenv;
    r->ctx = e;
    mem_reset();
    r->out = o;
}

START_TEST(test_request_strips_base_path_and_query)
{
    struct fake_env e = {{"REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "CONTENT_LENGTH"},
                         {"GET", "/api/v1/runs/abc?x=1", "x=1", "12"}};
    struct request r;
    fake_request(&r, &e);
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
                         {"/api/v1", "a=1&lastEventId=17-3&sp=a+b%2Fc&bad=%zz&nul=%00&long=0123456789"}};
    struct request r;
    fake_request(&r, &e);
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

START_TEST(test_problem_reply_is_rfc9457)
{
    struct fake_env e = {{NULL}, {NULL}};
    struct request r;
    fake_request(&r, &e);
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

/* ---- crypto ---- */

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

/* ---- store ---- */

static int archive_line(void *ctx, const char *id, const char *name, const char *data)
{
    char line[256];
    snprintf(line, sizeof line, "%s %s %s\n", id, name, data);
    struct membuf *m = ctx;
    struct out o2;
    membuf_out(m, &o2);
    return out_puts(&o2, line);
}

START_TEST(test_store_run_roundtrip_and_finish)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/s.db", tmpdir);
    struct store *st = store_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    struct run r = {0};
    crypto_new_id(r.id);
    strcpy(r.owner, "alice");
    strcpy(r.type, "countdown");
    strcpy(r.status, "queued");
    r.input = json_pack("{s:i}", "n", 3);
    r.created_at = 1700000000123;
    struct create_opts none = {0};
    ck_assert_int_eq(store_run_create(st, &r, &none, NULL), CREATE_NEW);
    ck_assert_int_eq(r.seq, 1);
    struct run got;
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_str_eq(got.owner, "alice");
    ck_assert_str_eq(got.status, "queued");
    ck_assert_int_eq(json_integer_value(json_object_get(got.input, "n")), 3);
    ck_assert_int_eq(got.created_at, 1700000000123);
    run_clear(&got);

    ck_assert_int_eq(store_run_claim(st, r.id, 1700000000200, 1700000010200, "host", "1-0"), 0);
    ck_assert_int_eq(store_run_claim(st, r.id, 1700000000300, 1700000010300, "host", "1-0"), 1); /* only once */
    json_t *res = json_pack("{s:b}", "ok", 1);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_event(st, r.id, "4-0", "progress", "{\"current\":1}", 1700000000300), 0);
    ck_assert_int_eq(store_run_finish(st, r.id, "succeeded", res, NULL, "5-0", "{}", 1700000000400), 0);
    struct membuf arch = {.data = mem, .cap = sizeof mem};
    mem[0] = '\0';
    struct event_id zero = {0, 0}, five = {5, 0};
    ck_assert_int_eq(store_events_after(st, r.id, &zero, NULL, 10, archive_line, &arch), 2);
    ck_assert_str_eq(mem, "4-0 progress {\"current\":1}\n5-0 run_finished {}\n");
    ck_assert_int_eq(store_events_after(st, r.id, &zero, &five, 10, archive_line, &arch), 1);
    ck_assert_int_eq(store_events_after(st, r.id, &five, NULL, 10, archive_line, &arch), 0);
    ck_assert_int_eq(store_run_get(st, r.id, &got), 0);
    ck_assert_str_eq(got.status, "succeeded");
    ck_assert_str_eq(got.last_event_id, "5-0");
    ck_assert(json_is_true(json_object_get(got.result, "ok")));
    ck_assert_int_eq(got.attempt, 1);
    run_clear(&got);
    json_decref(res);
    ck_assert_int_eq(store_run_get(st, "AAAAAAAAAAAAAAAAAAAAAA", &got), 1);

    char s1[HASH_HEX_SIZE], s2[HASH_HEX_SIZE];
    ck_assert_int_eq(store_link_secret(st, s1), 0);
    ck_assert_int_eq(store_link_secret(st, s2), 0);
    ck_assert_str_eq(s1, s2); /* created once, then kept */
    run_clear(&r);
    store_close(st);

    /* Reopening an up-to-date database migrates nothing and keeps the data. */
    st = store_open(path, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(store_link_secret(st, s2), 0);
    ck_assert_str_eq(s1, s2);
    store_close(st);
}
END_TEST

START_TEST(test_clock_formats_rfc3339_millis)
{
    char buf[CLOCK_RFC3339_SIZE];
    ck_assert_int_eq(clock_rfc3339(1700000000123, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z");
    ck_assert_int_eq(clock_rfc3339(1700000000123, buf, 10), -1);
}
END_TEST


/* ---- JSON Schema subset ---- */

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

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
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = J(bad[i][0]);
        ck_assert_int_eq(schema_check(s, err, sizeof err), -1);
        ck_assert_str_eq(err, bad[i][1]);
        json_decref(s);
    }
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

static int never_called(void *ctx, const char *id, const char *name, const char *data)
{
    (void)ctx, (void)id, (void)name, (void)data;
    ck_abort_msg("no entry can come from a missing connection");
    return 1;
}

START_TEST(test_bus_without_a_connection_fails_cleanly)
{
    char id[EVENT_ID_SIZE], name[EVENT_NAME_SIZE], run[ID_SIZE], *msg = NULL;
    ck_assert_int_eq(bus_ping(NULL), -1);
    ck_assert_int_eq(bus_append(NULL, "r", "log", "{}", "t", 10, id), -1);
    ck_assert_int_eq(bus_last(NULL, "r", id, name), -1);
    ck_assert_int_eq(bus_read(NULL, "r", "0-0", 10, 100, never_called, NULL), -1);
    ck_assert_int_eq(bus_control_pop(NULL, "r", &msg), -1);
    ck_assert_ptr_null(msg);
    ck_assert_int_eq(bus_control_clear(NULL, "r"), -1);
    ck_assert_int_eq(bus_claim(NULL, "c", 100, run, id), -1);
    ck_assert_int_eq(bus_enqueue(NULL, "r"), -1);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("modules");
    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_add_test(tc, test_config_reads_keys_over_defaults);
    tcase_add_test(tc, test_config_error_names_file_line_and_key);
    tcase_add_test(tc, test_event_names_follow_the_pattern);
    tcase_add_test(tc, test_event_ids_parse_strictly_and_compare);
    tcase_add_test(tc, test_sse_event_frame_and_flush);
    tcase_add_test(tc, test_sse_cannot_be_injected);
    tcase_add_test(tc, test_sse_retry_and_keepalive);
    tcase_add_test(tc, test_protocol_event_lines_become_events);
    tcase_add_test(tc, test_protocol_refuses_reserved_and_bad_names);
    tcase_add_test(tc, test_protocol_other_lines_are_logs);
    tcase_add_test(tc, test_request_strips_base_path_and_query);
    tcase_add_test(tc, test_request_query_decodes_and_bounds);
    tcase_add_test(tc, test_problem_reply_is_rfc9457);
    tcase_add_test(tc, test_ids_are_unique_and_url_safe);
    tcase_add_test(tc, test_signed_links_verify_only_their_run_and_expiry);
    tcase_add_test(tc, test_store_run_roundtrip_and_finish);
    tcase_add_test(tc, test_clock_formats_rfc3339_millis);
    tcase_add_test(tc, test_schema_reports_the_failing_path);
    tcase_add_test(tc, test_schema_keywords_behave_as_json_schema);
    tcase_add_test(tc, test_schema_check_refuses_what_it_does_not_support);
    tcase_add_test(tc, test_bus_without_a_connection_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (crypto_init() != 0)
        return 99;
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
