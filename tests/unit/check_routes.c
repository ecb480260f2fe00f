/* Handler tests: requests driven through api_handle with a fake request
 * and a memory sink, against a SQLite ledger in a scratch directory and
 * no Redis at all (its socket does not exist), in the manner of cgit's
 * tests that run the CGI binary directly. Each answer is checked as a
 * client sees it: status, headers, problem+json code. */
#include "unit.h"

#include "api.h"
#include "crypto.h"
#include "jobtypes.h"
#include "run.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "unit-test-token"

static struct config cfg;
static struct jobtypes types;
static struct api app;
static struct store *st;

static void setup(void)
{
    setup_tmp();
    config_defaults(&cfg);
    snprintf(cfg.database, sizeof cfg.database, "%s/ledger.db", tmpdir);
    snprintf(cfg.redis, sizeof cfg.redis, "unix:%s/no-redis.sock", tmpdir);
    snprintf(cfg.jobtypes_dir, sizeof cfg.jobtypes_dir, "%s", tmpdir);
    cfg.body_max_bytes = 4096;
    write_tmp("countdown.json",
              "{\"name\":\"countdown\",\"command\":[\"countdown\"],\"input_schema\":"
              "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"maximum\":10}},"
              "\"additionalProperties\":false}}");
    char err[CONFIG_ERR_SIZE], hash[HASH_HEX_SIZE];
    ck_assert_msg(jobtypes_load(cfg.jobtypes_dir, &types, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(api_init(&app, &cfg, &types), 0);
    st = store_open(cfg.database, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    crypto_hash_text(TOKEN, hash);
    ck_assert_int_eq(store_token_insert(st, hash, "alice", "unit", 1), 0);
}

static void teardown(void)
{
    store_close(st);
    free(app.openapi);
    jobtypes_free(&types);
    teardown_tmp();
}

/* A run of alice's, with the question pending when given. */
static void put_asking_run(const char *pending, char id[ID_SIZE])
{
    put_run(st, "alice", RUN_RUNNING, id);
    struct status_change ask = {STATUS_BIT(RUN_RUNNING), RUN_INPUT_REQUIRED};
    json_t *p = J(pending);
    ck_assert_int_eq(store_run_await_input(st, &ask, id, p, 1700000000001), 0);
    json_decref(p);
}

/* One answer as the client reads it. */
struct answer {
    int status;
    char head[2048];
    json_t *body;   /* NULL when the body is not JSON */
    const char *text;
};

static void answer_clear(struct answer *a)
{
    json_decref(a->body);
    a->body = NULL;
}

/* Extra CGI variables: "NAME", "value", ... NULL. */
static struct answer ask_v(const char *method, const char *uri, const char *body,
                           const char *const *vars)
{
    static char query[512], length[24];
    const char *q = strchr(uri, '?');
    snprintf(query, sizeof query, "%s", q ? q + 1 : "");
    snprintf(length, sizeof length, "%zu", body ? strlen(body) : 0);
    struct fake_env e = {{"REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "CONTENT_LENGTH"},
                         {method, uri, query, length}, body, 0};
    int n = 4;
    for (; vars != NULL && vars[0] != NULL && n < FAKE_VARS; vars += 2, n++) {
        e.names[n] = vars[0];
        e.values[n] = vars[1];
    }
    struct request req;
    fake_request(&req, &e, &cfg);
    api_handle(&app, &req);
    struct answer a = {0};
    ck_assert_msg(sscanf(mem, "Status: %d", &a.status) == 1, "no status line: %.80s", mem);
    const char *sep = strstr(mem, "\r\n\r\n");
    ck_assert_msg(sep != NULL, "no end of headers: %.200s", mem);
    snprintf(a.head, sizeof a.head, "%.*s", (int)(sep + 2 - mem), mem);
    a.text = sep + 4;
    a.body = json_loads(a.text, 0, NULL);
    return a;
}

static const char *const with_token[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN, NULL};

static struct answer ask(const char *method, const char *uri, const char *body)
{
    return ask_v(method, uri, body, with_token);
}

static const char *code_of(const struct answer *a)
{
    const char *c = json_string_value(json_object_get(a->body, "code"));
    return c ? c : "(none)";
}

/* The answer is a problem+json with this status and code. */
static void expect_problem(struct answer a, int status, const char *code)
{
    ck_assert_msg(a.status == status && strcmp(code_of(&a), code) == 0,
                  "wanted %d %s, got %d %s: %s", status, code, a.status, code_of(&a), a.text);
    ck_assert_ptr_nonnull(strstr(a.head, "Content-Type: application/problem+json"));
    ck_assert_int_eq(json_integer_value(json_object_get(a.body, "status")), status);
    ck_assert_ptr_nonnull(json_object_get(a.body, "title"));
    answer_clear(&a);
}

/* The path of a route row, with its {...} filled in. */
static void route_path(const struct route *rt, const char *id, char *out, size_t size)
{
    /* {name} and {type} name a job type; any other argument the run. */
    size_t n = (size_t)snprintf(out, size, "/api");
    for (const char *p = rt->pattern; *p != '\0' && n < size;) {
        if (*p != '{') {
            out[n++] = *p++;
            continue;
        }
        int type = strncmp(p, "{name}", 6) == 0 || strncmp(p, "{type}", 6) == 0;
        n += (size_t)snprintf(out + n, size - n, "%s", type ? "countdown" : id);
        p = strchr(p, '}') + 1;
    }
    out[n < size ? n : size - 1] = '\0';
}

START_TEST(test_every_protected_route_wants_credentials)
{
    size_t n;
    const struct route *rt = api_routes(&n);
    char id[ID_SIZE], path[256];
    put_run(st, "alice", RUN_SUCCEEDED, id);
    for (size_t i = 0; i < n; i++) {
        route_path(&rt[i], id, path, sizeof path);
        if (rt[i].flags & ROUTE_PUBLIC) {
            struct answer a = ask_v(rt[i].method, path, NULL, NULL);
            ck_assert_msg(a.status != 401, "%s %s", rt[i].method, path);
            answer_clear(&a);
            continue;
        }
        expect_problem(ask_v(rt[i].method, path, NULL, NULL), 401, "unauthorized");
        const char *bad[] = {"HTTP_AUTHORIZATION", "Bearer not-a-token", NULL};
        expect_problem(ask_v(rt[i].method, path, NULL, bad), 401, "invalid_token");
    }
}
END_TEST

START_TEST(test_every_route_answers_another_method_with_405_and_allow)
{
    size_t n;
    const struct route *rt = api_routes(&n);
    char path[256], allow[64];
    for (size_t i = 0; i < n; i++) {
        route_path(&rt[i], "AAAAAAAAAAAAAAAAAAAAAA", path, sizeof path);
        struct answer a = ask("PUT", path, NULL);
        snprintf(allow, sizeof allow, "Allow: ");
        ck_assert_msg(a.status == 405 && strstr(a.head, allow) != NULL &&
                      strstr(strstr(a.head, allow), rt[i].method) != NULL,
                      "%s: %s", path, a.head);
        expect_problem(a, 405, "method_not_allowed");
    }
    /* The Allow header names every method of the path, none other. */
    struct answer a = ask("PUT", "/api/v1/runs", NULL);
    ck_assert_ptr_nonnull(strstr(a.head, "Allow: POST, GET\r\n"));
    answer_clear(&a);
}
END_TEST

/* What each row of the route table answers a well-formed request for an
 * ended run of the caller's, with Redis away. A new route without a line
 * here fails the test. */
static const struct {
    const char *route;
    int status;
} ended_run_answers[] = {
    {"POST /v1/runs", 400},                    /* no body */
    {"GET /v1/runs", 200},
    {"GET /v1/runs/{id}", 200},
    {"DELETE /v1/runs/{id}", 503},             /* Redis is away: its keys cannot go */
    {"GET /v1/runs/{id}/events", 200},         /* an empty stream: come back later */
    {"POST /v1/runs/{id}/events", 409},        /* ended: nothing more may be published */
    {"POST /v1/runs/{id}/finish", 409},        /* ended already */
    {"POST /v1/runs/{id}/cancel", 409},
    {"GET /v1/runs/{id}/wait", 200},           /* ended already: no waiting */
    {"POST /v1/runs/{id}/resume", 400},        /* no body */
    {"POST /v1/runs/{id}/rerun", 503},         /* Redis is away: nothing can be queued */
    {"GET /v1/types", 200},
    {"GET /v1/types/{name}", 200},
    {"POST /v1/chat/{type}", 400},             /* no body */
    {"GET /v1/chat/{type}/{id}/stream", 204},  /* no active run in that chat */
    {"POST /langgraph/assistants/search", 200},
    {"GET /langgraph/assistants/{id}", 404},   /* a run's id is no job type */
    {"POST /langgraph/threads", 200},          /* the ledger makes threads, Redis or not */
    {"POST /langgraph/threads/search", 200},
    /* The run has no thread: a thread of its id is none of the caller's. */
    {"GET /langgraph/threads/{id}", 404},
    {"DELETE /langgraph/threads/{id}", 404},
    {"GET /langgraph/threads/{id}/state", 404},
    {"POST /langgraph/threads/{id}/history", 404},
    {"POST /langgraph/threads/{id}/runs", 400}, /* no body */
    {"GET /langgraph/threads/{id}/runs", 200},  /* none */
    {"POST /langgraph/threads/{id}/runs/stream", 400},
    {"POST /langgraph/threads/{id}/runs/wait", 400},
    {"GET /langgraph/threads/{id}/runs/{run}", 404},
    {"DELETE /langgraph/threads/{id}/runs/{run}", 404},
    {"GET /langgraph/threads/{id}/runs/{run}/join", 404},
    {"GET /langgraph/threads/{id}/runs/{run}/stream", 404},
    {"POST /langgraph/threads/{id}/runs/{run}/cancel", 404},
    {"POST /langgraph/runs", 400},
    {"POST /langgraph/runs/stream", 400},
    {"POST /langgraph/runs/wait", 400},
    {"GET /v1/health", 503},                   /* Redis is away */
    {"GET /v1/metrics", 403},                  /* no REMOTE_ADDR: not a loopback client */
    {"GET /v1/openapi.json", 200},
    {"POST /mcp", 400},                        /* no body: a JSON-RPC parse error */
    {"GET /mcp", 406},                         /* no Accept: text/event-stream */
    {"DELETE /mcp", 400},                      /* no Mcp-Session-Id */
};

START_TEST(test_every_route_answers_its_caller)
{
    size_t n;
    const struct route *rt = api_routes(&n);
    char id[ID_SIZE], path[256], name[160];
    put_run(st, "alice", RUN_SUCCEEDED, id);
    ck_assert_uint_eq(n, sizeof ended_run_answers / sizeof ended_run_answers[0]);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s %s", rt[i].method, rt[i].pattern);
        int want = -1;
        for (size_t k = 0; k < n; k++)
            if (strcmp(ended_run_answers[k].route, name) == 0)
                want = ended_run_answers[k].status;
        ck_assert_msg(want > 0, "no expected answer for %s", name);
        route_path(&rt[i], id, path, sizeof path);
        struct answer a = ask(rt[i].method, path, NULL);
        ck_assert_msg(a.status == want, "%s: %d, wanted %d: %s", name, a.status, want, a.text);
        answer_clear(&a);
    }
}
END_TEST

START_TEST(test_unknown_paths_are_404)
{
    expect_problem(ask("GET", "/api/v1/nothing", NULL), 404, "route_not_found");
    expect_problem(ask("GET", "/elsewhere/v1/runs", NULL), 404, "route_not_found");
    expect_problem(ask("GET", "/api/v1/runs/a/b/c/d", NULL), 404, "route_not_found");
}
END_TEST

START_TEST(test_create_refuses_bad_bodies)
{
    expect_problem(ask("POST", "/api/v1/runs", "{\"type\":"), 400, "invalid_json");
    expect_problem(ask("POST", "/api/v1/runs", ""), 400, "invalid_json");
    expect_problem(ask("POST", "/api/v1/runs", "[1]"), 422, "invalid_body");
    expect_problem(ask("POST", "/api/v1/runs", "{\"type\":\"countdown\",\"x\":1}"), 422,
                   "unknown_field");
    expect_problem(ask("POST", "/api/v1/runs", "{\"type\":\"nope\"}"), 422, "unknown_type");
    struct answer a = ask("POST", "/api/v1/runs", "{\"type\":\"countdown\",\"input\":{\"n\":11}}");
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "detail")),
                     "/input/n: must be <= 10");
    expect_problem(a, 422, "invalid_input");
    expect_problem(ask("POST", "/api/v1/runs", "{\"type\":\"countdown\",\"multitask_strategy\":\"x\"}"),
                   422, "invalid_field");
    /* Nesting past json_max_depth is refused before it is parsed. */
    char deep[4096];
    int n = snprintf(deep, sizeof deep, "{\"type\":\"countdown\",\"metadata\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    struct answer d = ask("POST", "/api/v1/runs", deep);
    ck_assert_str_eq(json_string_value(json_object_get(d.body, "detail")),
                     "JSON nested deeper than 64 levels");
    expect_problem(d, 400, "json_too_deep");
    /* Refused by its declared length, before a byte is read. */
    const char *big[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN, "CONTENT_LENGTH", "5000", NULL};
    char body[5001];
    memset(body, ' ', 5000);
    body[5000] = '\0';
    expect_problem(ask_v("POST", "/api/v1/runs", body, big), 413, "body_too_large");
    const char *key[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN, "HTTP_IDEMPOTENCY_KEY", "a b", NULL};
    expect_problem(ask_v("POST", "/api/v1/runs", "{\"type\":\"countdown\"}", key), 400,
                   "invalid_idempotency_key");
}
END_TEST

static int count_run(void *ctx, struct run *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(test_create_without_redis_is_503_and_leaves_no_run)
{
    expect_problem(ask("POST", "/api/v1/runs", "{\"type\":\"countdown\",\"input\":{\"n\":1}}"), 503,
                   "redis_unavailable");
    int runs = 0;
    struct run_filter all = {.limit = 10};
    ck_assert_int_eq(store_run_list(st, &all, count_run, &runs), 0);
    ck_assert_int_eq(runs, 0);
}
END_TEST

START_TEST(test_runs_are_seen_by_their_owner_only)
{
    char mine[ID_SIZE], theirs[ID_SIZE], path[128];
    put_run(st, "alice", RUN_QUEUED, mine);
    put_run(st, "bob", RUN_QUEUED, theirs);
    snprintf(path, sizeof path, "/api/v1/runs/%s", mine);
    struct answer a = ask("GET", path, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "status")), "queued");
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "id")), mine);
    answer_clear(&a);
    /* Someone else's run and no run at all look the same. */
    snprintf(path, sizeof path, "/api/v1/runs/%s", theirs);
    expect_problem(ask("GET", path, NULL), 404, "run_not_found");
    expect_problem(ask("GET", "/api/v1/runs/AAAAAAAAAAAAAAAAAAAAAA", NULL), 404, "run_not_found");
    expect_problem(ask("GET", "/api/v1/runs/not-an-id", NULL), 404, "run_not_found");
    a = ask("GET", "/api/v1/runs", NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(a.body, "data")), 1);
    answer_clear(&a);
}
END_TEST

/* A page size above the maximum is capped, not refused: 201 runs asked
 * for 500 (and for more than a long holds) at a time come 200 first. */
START_TEST(test_list_caps_limit)
{
    char id[ID_SIZE];
    for (int i = 0; i < 201; i++)
        put_run(st, "alice", RUN_SUCCEEDED, id);
    const char *asks[] = {"/api/v1/runs?limit=500", "/api/v1/runs?limit=99999999999999999999999"};
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        struct answer a = ask("GET", asks[i], NULL);
        ck_assert_int_eq(a.status, 200);
        ck_assert_int_eq(json_array_size(json_object_get(a.body, "data")), 200);
        ck_assert(json_is_string(json_object_get(a.body, "next_cursor")));
        answer_clear(&a);
    }
}
END_TEST

START_TEST(test_list_refuses_bad_parameters)
{
    char id[ID_SIZE];
    put_run(st, "alice", RUN_RUNNING, id);
    put_run(st, "alice", RUN_FAILED, id);
    expect_problem(ask("GET", "/api/v1/runs?limit=0", NULL), 400, "invalid_parameter");
    expect_problem(ask("GET", "/api/v1/runs?limit=-1", NULL), 400, "invalid_parameter");
    expect_problem(ask("GET", "/api/v1/runs?limit=2x", NULL), 400, "invalid_parameter");
    expect_problem(ask("GET", "/api/v1/runs?status=sleeping", NULL), 400, "invalid_parameter");
    expect_problem(ask("GET", "/api/v1/runs?cursor=bm9wZQ", NULL), 400, "invalid_cursor");
    struct answer a = ask("GET", "/api/v1/runs?status=active", NULL);
    json_t *data = json_object_get(a.body, "data");
    ck_assert_int_eq(json_array_size(data), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "status")), "running");
    answer_clear(&a);
    a = ask("GET", "/api/v1/runs?status=failed", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(a.body, "data")), 1);
    answer_clear(&a);
}
END_TEST

START_TEST(test_list_pages_end_at_list_max_bytes)
{
    char id[ID_SIZE], uri[160];
    for (int i = 0; i < 5; i++)
        put_run(st, "alice", RUN_QUEUED, id);
    cfg.list_max_bytes = 1024; /* less than two runs' JSON */
    int seen = 0, pages = 0;
    char cursor[96] = "";
    do {
        snprintf(uri, sizeof uri, "/api/v1/runs?limit=50%s%s", cursor[0] ? "&cursor=" : "", cursor);
        struct answer a = ask("GET", uri, NULL);
        ck_assert_int_eq(a.status, 200);
        ck_assert_int_eq(json_array_size(json_object_get(a.body, "data")), 1);
        ck_assert_uint_le(strlen(a.text), 2048);
        const char *next = json_string_value(json_object_get(a.body, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        seen++, pages++;
        answer_clear(&a);
    } while (cursor[0] != '\0' && pages < 10);
    ck_assert_int_eq(seen, 5);
}
END_TEST

START_TEST(test_events_refuse_a_bad_cursor_and_never_give_eventsource_a_5xx)
{
    char id[ID_SIZE], path[160];
    put_run(st, "alice", RUN_RUNNING, id);
    snprintf(path, sizeof path, "/api/v1/runs/%s/events?lastEventId=soon", id);
    expect_problem(ask("GET", path, NULL), 400, "invalid_cursor");
    const char *header[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN, "HTTP_LAST_EVENT_ID", "1-2-3", NULL};
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", id);
    expect_problem(ask_v("GET", path, NULL, header), 400, "invalid_cursor");
    /* Redis is away: the stream is empty but 200, with the retry delay. */
    struct answer a = ask("GET", path, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.head, "Content-Type: text/event-stream"));
    ck_assert_ptr_eq(strstr(a.text, "retry: "), a.text);
    answer_clear(&a);
    /* The JSON form can say so plainly. */
    const char *json[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN, "HTTP_ACCEPT", "application/json", NULL};
    expect_problem(ask_v("GET", path, NULL, json), 503, "redis_unavailable");
    snprintf(path, sizeof path, "/api/v1/runs/%s/events?limit=0", id);
    expect_problem(ask_v("GET", path, NULL, json), 400, "invalid_parameter");
}
END_TEST

START_TEST(test_cancel_and_wait_refuse_what_they_cannot_do)
{
    char done[ID_SIZE], path[160];
    put_run(st, "alice", RUN_CANCELLED, done);
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", done);
    expect_problem(ask("POST", path, ""), 409, "run_terminal");
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel?wait=2", done);
    expect_problem(ask("POST", path, ""), 400, "invalid_parameter");
    snprintf(path, sizeof path, "/api/v1/runs/%s/wait?timeout=301", done);
    expect_problem(ask("GET", path, NULL), 400, "invalid_parameter");
    expect_problem(ask("POST", "/api/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/cancel", ""), 404, "run_not_found");
    snprintf(path, sizeof path, "/api/v1/runs/%s/wait?timeout=0", done);
    struct answer a = ask("GET", path, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "status")), "cancelled");
    answer_clear(&a);
}
END_TEST

START_TEST(test_resume_wants_a_waiting_run_and_valid_input)
{
    char queued[ID_SIZE], waiting[ID_SIZE], path[160];
    put_run(st, "alice", RUN_QUEUED, queued);
    put_asking_run("{\"schema\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},"
                   "\"required\":[\"ok\"]}}", waiting);
    snprintf(path, sizeof path, "/api/v1/runs/%s/resume", queued);
    expect_problem(ask("POST", path, "{\"input\":{\"ok\":true}}"), 409, "not_waiting_for_input");
    snprintf(path, sizeof path, "/api/v1/runs/%s/resume", waiting);
    expect_problem(ask("POST", path, "{\"input\":{}}"), 422, "invalid_input");
    expect_problem(ask("POST", path, "{\"input\":{\"ok\":true},\"more\":1}"), 422, "unknown_field");
    expect_problem(ask("POST", path, "{}"), 422, "invalid_field");
    expect_problem(ask("POST", path, "{"), 400, "invalid_json");
    /* Valid, but the job cannot be told without Redis: the run still waits. */
    expect_problem(ask("POST", path, "{\"input\":{\"ok\":true}}"), 503, "redis_unavailable");
    struct run r;
    ck_assert_int_eq(store_run_get(st, waiting, &r), 0);
    ck_assert_int_eq(r.status, RUN_INPUT_REQUIRED);
    run_clear(&r);
}
END_TEST

START_TEST(test_types_health_and_openapi)
{
    struct answer a = ask("GET", "/api/v1/types", NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(a.body, "data"), 0),
                                                       "name")), "countdown");
    answer_clear(&a);
    expect_problem(ask("GET", "/api/v1/types/nope", NULL), 404, "type_not_found");
    a = ask_v("GET", "/api/v1/health", NULL, NULL);
    ck_assert_int_eq(a.status, 503);
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "ledger")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "redis")), "unreachable");
    answer_clear(&a);
    a = ask_v("GET", "/api/v1/openapi.json", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(a.body, "servers"), 0),
                                                       "url")), "/api");
    answer_clear(&a);
}
END_TEST

START_TEST(test_an_unreachable_ledger_is_503_except_for_health)
{
    snprintf(cfg.database, sizeof cfg.database, "%s/missing-dir/ledger.db", tmpdir);
    struct answer busy = ask("GET", "/api/v1/runs", NULL);
    ck_assert_ptr_nonnull(strstr(busy.head, "Retry-After: 1\r\n")); /* a client may come back */
    expect_problem(busy, 503, "store_unavailable");
    /* An EventSource takes a 5xx for the end: its stream request gets an
     * empty stream that tells it when to come back. */
    const char *const sse[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN,
                               "HTTP_ACCEPT", "text/event-stream", NULL};
    struct answer later = ask_v("GET", "/api/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/events", NULL, sse);
    ck_assert_int_eq(later.status, 200);
    ck_assert_ptr_nonnull(strstr(later.head, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(later.text, "retry: "));
    answer_clear(&later);
    const char *const json_form[] = {"HTTP_AUTHORIZATION", "Bearer " TOKEN,
                                     "HTTP_ACCEPT", "application/json", NULL};
    expect_problem(ask_v("GET", "/api/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/events", NULL, json_form), 503,
                   "store_unavailable");
    struct answer a = ask_v("GET", "/api/v1/health", NULL, NULL);
    ck_assert_int_eq(a.status, 503);
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "ledger")), "unreachable");
    ck_assert_str_eq(json_string_value(json_object_get(a.body, "ledger_engine")), "sqlite");
    answer_clear(&a);
}
END_TEST

UNIT_MAIN_WITH("routes", setup, teardown,
               test_every_protected_route_wants_credentials,
               test_every_route_answers_another_method_with_405_and_allow,
               test_every_route_answers_its_caller,
               test_unknown_paths_are_404,
               test_create_refuses_bad_bodies,
               test_create_without_redis_is_503_and_leaves_no_run,
               test_runs_are_seen_by_their_owner_only,
               test_list_refuses_bad_parameters,
               test_list_caps_limit,
               test_list_pages_end_at_list_max_bytes,
               test_events_refuse_a_bad_cursor_and_never_give_eventsource_a_5xx,
               test_cancel_and_wait_refuse_what_they_cannot_do,
               test_resume_wants_a_waiting_run_and_valid_input,
               test_types_health_and_openapi,
               test_an_unreachable_ledger_is_503_except_for_health)
