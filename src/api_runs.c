/* POST /v1/runs, GET /v1/runs, GET /v1/runs/{id}. */
#include "api.h"
#include "auth.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "runs.h"
#include "schema.h"
#include "stream_rules.h"
#include "ui_stream.h"
#include "webhook.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a 429 asks a client to wait before creating again. */
#define QUOTA_RETRY_AFTER_S 5

static const char *const create_fields[] = {
    "type", "input", "thread_id", "metadata", "multitask_strategy", "producer_token",
    "on_disconnect", "start_after_s", "start_at", "expires_after_s", "priority", "concurrency_key",
    "webhook",
};

/* How far ahead a run may be scheduled, or given to expire. */
#define SCHEDULE_MAX_S (365L * 86400)

static int known_field(const char *k)
{
    for (size_t i = 0; i < sizeof create_fields / sizeof create_fields[0]; i++)
        if (strcmp(k, create_fields[i]) == 0)
            return 1;
    return 0;
}

static const char *const strategies[] = {"reject", "enqueue", "interrupt", "rollback"};

static int parse_strategy(const char *s, enum multitask *out)
{
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++)
        if (strcmp(s, strategies[i]) == 0) {
            *out = (enum multitask)i;
            return 0;
        }
    return -1;
}

/* An optional whole number from lo to hi: 0, or -1 when it is there and
 * anything else. */
static int check_int(json_t *v, long lo, long hi)
{
    return v == NULL || (json_is_integer(v) && json_integer_value(v) >= lo &&
                         json_integer_value(v) <= hi) ? 0 : -1;
}

/* The schedule's fields: when to start, when to give up waiting, the
 * priority and the concurrency key. 0, or -1 after answering 422. */
static int check_schedule(struct request *req, json_t *body)
{
    json_t *after = json_object_get(body, "start_after_s");
    json_t *at = json_object_get(body, "start_at");
    json_t *key = json_object_get(body, "concurrency_key");
    int64_t when;
    if (check_int(after, 0, SCHEDULE_MAX_S) != 0)
        return reply_problem(req, 422, "invalid_field", "/start_after_s: must be a whole number from 0 to %ld",
                             SCHEDULE_MAX_S), -1;
    if (at != NULL && (!json_is_string(at) || clock_parse_rfc3339(json_string_value(at), &when) != 0))
        return reply_problem(req, 422, "invalid_field",
                             "/start_at: must be an RFC 3339 date-time such as 2026-11-21T10:00:00Z"), -1;
    if (at != NULL && when > clock_now_ms() + SCHEDULE_MAX_S * 1000)
        return reply_problem(req, 422, "invalid_field", "/start_at: at most 365 days ahead"), -1;
    if (at != NULL && after != NULL)
        return reply_problem(req, 422, "invalid_field", "/start_at: give start_at or start_after_s, not both"), -1;
    if (check_int(json_object_get(body, "expires_after_s"), 1, SCHEDULE_MAX_S) != 0)
        return reply_problem(req, 422, "invalid_field", "/expires_after_s: must be a whole number from 1 to %ld",
                             SCHEDULE_MAX_S), -1;
    if (check_int(json_object_get(body, "priority"), PRIORITY_MIN, PRIORITY_MAX) != 0)
        return reply_problem(req, 422, "invalid_field", "/priority: must be a whole number from %d to %d",
                             PRIORITY_MIN, PRIORITY_MAX), -1;
    if (key != NULL && (!json_is_string(key) || json_string_length(key) == 0 ||
                        json_string_length(key) >= CONCURRENCY_KEY_SIZE))
        return reply_problem(req, 422, "invalid_field", "/concurrency_key: must be a string of 1 to %d bytes",
                             CONCURRENCY_KEY_SIZE - 1), -1;
    return 0;
}

/* Sets r's schedule from a checked body: its times from now. */
static void take_schedule(struct run *r, json_t *body)
{
    int64_t now = clock_now_ms(), at = 0;
    r->created_at = now; /* what start_after_s and expires_after_s count from */
    json_t *after = json_object_get(body, "start_after_s");
    json_t *when = json_object_get(body, "start_at");
    json_t *expires = json_object_get(body, "expires_after_s");
    json_t *key = json_object_get(body, "concurrency_key");
    if (after != NULL && json_integer_value(after) > 0)
        r->start_at = now + json_integer_value(after) * 1000;
    /* A time already past is kept as asked: the run starts at once. */
    if (json_is_string(when) && clock_parse_rfc3339(json_string_value(when), &at) == 0)
        r->start_at = at;
    if (expires != NULL)
        r->expires_at = now + json_integer_value(expires) * 1000;
    r->priority = (int)json_integer_value(json_object_get(body, "priority"));
    if (json_is_string(key))
        snprintf(r->concurrency_key, sizeof r->concurrency_key, "%s", json_string_value(key));
}

/* The run's webhook, or its type's: where its end will be told. */
static const char *webhook_of(json_t *body, const struct jobtype *jt)
{
    json_t *hook = json_object_get(body, "webhook");
    return json_is_string(hook) ? json_string_value(hook) : jt->webhook;
}

/* 0, or -1 after answering 422 for a webhook that is no URL or one
 * that may not be reached. */
static int check_webhook(struct request *req, json_t *body, const struct jobtype *jt)
{
    json_t *hook = json_object_get(body, "webhook");
    const char *url = webhook_of(body, jt);
    char why[160];
    if (hook != NULL && !json_is_string(hook))
        return reply_problem(req, 422, "invalid_field", "/webhook: must be a URL"), -1;
    if (url != NULL && webhook_url_check(req->cfg, url, why, sizeof why) != 0)
        return reply_problem(req, 422, "webhook_not_allowed", "/webhook: %s", why), -1;
    return 0;
}

/* Create-and-stream: the client asks for the run's events as the
 * answer, or for a form of them (format=). */
static int wants_stream(struct request *req)
{
    char format[16];
    return request_accepts(req, "text/event-stream") ||
           request_query(req, "format", format, sizeof format) != 1;
}

/* What a create body asks for, read once while it is checked. */
struct create_body {
    const struct jobtype *jt;
    enum multitask strategy;
    const char *webhook;          /* the body's, else the type's; NULL for none */
    int producer;                 /* producer_token: true */
    int cancel_on_disconnect;     /* on_disconnect: cancel */
};

/* Checks the create body's shape and reads it into out (stream: the
 * answer is a stream); answers and returns -1 on the first problem found. */
static int check_create(struct call *c, json_t *body, int stream, struct create_body *out)
{
    struct request *req = c->req;
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (!known_field(k))
            return reply_problem(req, 422, "unknown_field", "/%.64s: unknown field", k), -1;
    }
    json_t *type = json_object_get(body, "type");
    json_t *input = json_object_get(body, "input");
    json_t *thread = json_object_get(body, "thread_id");
    json_t *meta = json_object_get(body, "metadata");
    if (!json_is_string(type))
        return reply_problem(req, 422, "invalid_field", "/type: must be a string"), -1;
    const struct jobtype *jt = jobtypes_find(c->api->types, json_string_value(type));
    if (jt == NULL)
        return reply_problem(req, 422, "unknown_type", "/type: no job type named %.64s",
                             json_string_value(type)), -1;
    if (input != NULL && !json_is_object(input))
        return reply_problem(req, 422, "invalid_field", "/input: must be an object"), -1;
    if (thread != NULL && !json_is_null(thread) &&
        (!json_is_string(thread) || json_string_length(thread) == 0 ||
         json_string_length(thread) >= THREAD_SIZE))
        return reply_problem(req, 422, "invalid_field",
                             "/thread_id: must be a string of 1 to %d bytes", THREAD_SIZE - 1), -1;
    if (meta != NULL && !json_is_object(meta))
        return reply_problem(req, 422, "invalid_field", "/metadata: must be an object"), -1;
    if (check_schedule(req, body) != 0 || check_webhook(req, body, jt) != 0)
        return -1;
    json_t *od = json_object_get(body, "on_disconnect");
    if (od != NULL && (!json_is_string(od) || (strcmp(json_string_value(od), "continue") != 0 &&
                                               strcmp(json_string_value(od), "cancel") != 0)))
        return reply_problem(req, 422, "invalid_field", "/on_disconnect: must be continue or cancel"), -1;
    if (od != NULL && !stream)
        return reply_problem(req, 422, "invalid_field",
                             "/on_disconnect: applies to a create that streams (Accept: text/event-stream)"), -1;
    json_t *producer = json_object_get(body, "producer_token");
    if (producer != NULL && !json_is_boolean(producer))
        return reply_problem(req, 422, "invalid_field", "/producer_token: must be true or false"), -1;
    if (json_is_true(producer) && stream)
        return reply_problem(req, 422, "invalid_field",
                             "/producer_token: a stream has no room for it; ask opstream token create --run"), -1;
    json_t *mt = json_object_get(body, "multitask_strategy");
    out->strategy = MT_REJECT;
    if (mt != NULL && (!json_is_string(mt) || parse_strategy(json_string_value(mt), &out->strategy) != 0))
        return reply_problem(req, 422, "invalid_field",
                             "/multitask_strategy: must be reject, enqueue, interrupt or rollback"), -1;
    if (mt != NULL && !json_is_string(thread))
        return reply_problem(req, 422, "invalid_field",
                             "/multitask_strategy: applies to runs with a thread_id"), -1;
    json_t *schema = json_object_get(jt->doc, "input_schema");
    json_t *empty = json_object();
    char why[SCHEMA_ERR_SIZE];
    int bad = schema != NULL &&
              schema_validate(schema, input ? input : empty, "/input", why, sizeof why) != 0;
    json_decref(empty);
    if (bad)
        return reply_problem(req, 422, "invalid_input", "%s", why), -1;
    out->jt = jt;
    out->webhook = webhook_of(body, jt);
    out->producer = json_is_true(producer);
    out->cancel_on_disconnect = od != NULL && strcmp(json_string_value(od), "cancel") == 0;
    return 0;
}

/* Idempotency-Key: 1 to 255 visible ASCII characters. */
static int key_valid(const char *k)
{
    size_t n = 0;
    for (; k[n] != '\0'; n++)
        if (k[n] < 0x21 || k[n] > 0x7e || n >= 255)
            return 0;
    return n > 0;
}

/* The answer to a create that queued nothing. */
static int create_problem(struct request *req, enum create_result res)
{
    switch (res) {
    case CREATE_KEY_REUSED:
        return reply_problem(req, 422, "idempotency_key_reused",
                             "this Idempotency-Key was used with a different body");
    case CREATE_QUOTA: {
        char retry[48];
        snprintf(retry, sizeof retry, "Retry-After: %d\r\n", QUOTA_RETRY_AFTER_S);
        return reply_problem_h(req, 429, retry, "owner_quota",
                               "%d runs of yours are active already; wait for one to end",
                               req->cfg->max_active_runs_per_owner);
    }
    case CREATE_THREAD_BUSY:
        return reply_problem(req, 409, "thread_busy",
                             "the thread has an active run and the strategy is reject");
    default:
        log_error("create run: ledger or bus write failed");
        return reply_problem(req, 503, "unavailable", "the run could not be queued");
    }
}

int api_create_answer(struct call *c, struct run *r, const struct create_opts *opts,
                      const struct create_answer *how)
{
    struct request *req = c->req;
    struct runs_ctx rc = {.cfg = req->cfg, .st = c->st, .bus = call_bus(c)};
    if (rc.bus == NULL) {
        run_clear(r);
        return reply_problem(req, 503, "redis_unavailable", "the event bus is not reachable");
    }
    struct run old;
    memset(&old, 0, sizeof old);
    enum create_result res = runs_create(&rc, r, opts, &old);
    if (res != CREATE_NEW && res != CREATE_REPLAYED) {
        run_clear(r);
        return create_problem(req, res);
    }
    const struct run *shown = res == CREATE_REPLAYED ? &old : r;
    log_context(NULL, NULL, shown->id);
    if (how->answer != NULL) {
        int answered = how->answer(c, shown, res == CREATE_REPLAYED, how->ctx);
        run_clear(r);
        run_clear(&old);
        return answered;
    }
    char headers[REQUEST_PATH_SIZE + 128];
    if (how->stream) {
        int ui = how->view != NULL && how->view->form == FORM_UI;
        snprintf(headers, sizeof headers, "Content-Location: %s/v1/runs/%s\r\n%s%s", req->base,
                 shown->id, res == CREATE_REPLAYED ? "Idempotent-Replayed: true\r\n" : "",
                 ui ? UI_STREAM_HEADER : "");
        int streamed = api_stream_run(c, shown, headers, how->cancel_on_disconnect, how->view);
        run_clear(r);
        run_clear(&old);
        return streamed;
    }
    snprintf(headers, sizeof headers, "Location: %s/v1/runs/%s\r\n%s", req->base,
             shown->id, res == CREATE_REPLAYED ? "Idempotent-Replayed: true\r\n" : "");
    json_t *view = runs_to_json(shown, req->cfg, req->base, c->secret, clock_now_ms());
    char token[PRODUCER_TOKEN_SIZE];
    if (how->producer && auth_producer_token(c->secret, shown->id, token) == 0)
        json_object_set_new(view, "producer_token", json_string(token));
    run_clear(r);
    run_clear(&old);
    return reply_json(req, 202, view, headers);
}

int api_create(struct call *c, json_t *body, const char *key, const struct create_answer *how)
{
    struct request *req = c->req;
    struct create_body want;
    if (check_create(c, body, how->stream, &want) != 0)
        return -1;
    /* Retries compare by the canonical body: same content, same hash,
     * whatever the key order or spacing. */
    char hash[HASH_HEX_SIZE] = "";
    if (key != NULL) {
        char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        if (canon == NULL)
            return reply_problem(req, 500, "internal", "the body could not be encoded");
        crypto_hash_text(canon, hash);
        free(canon);
    }
    struct create_opts opts = {.idem_key = key, .body_hash = hash, .strategy = want.strategy,
                               .max_active = req->cfg->max_active_runs_per_owner};
    struct run r;
    memset(&r, 0, sizeof r);
    snprintf(r.owner, sizeof r.owner, "%s", req->owner);
    snprintf(r.type, sizeof r.type, "%s", want.jt->name);
    json_t *thread = json_object_get(body, "thread_id");
    if (json_is_string(thread))
        snprintf(r.thread_id, sizeof r.thread_id, "%s", json_string_value(thread));
    json_t *input = json_object_get(body, "input");
    json_t *meta = json_object_get(body, "metadata");
    r.input = input ? json_incref(input) : json_object();
    r.metadata = meta ? json_incref(meta) : json_object();
    take_schedule(&r, body);
    if (want.webhook != NULL)
        snprintf(r.webhook, sizeof r.webhook, "%s", want.webhook);
    struct create_answer answer = *how;
    answer.producer = want.producer;
    answer.cancel_on_disconnect = want.cancel_on_disconnect;
    return api_create_answer(c, &r, &opts, &answer);
}

int api_create_run(struct call *c)
{
    struct request *req = c->req;
    const char *key = request_env(req, "HTTP_IDEMPOTENCY_KEY");
    if (key != NULL && !key_valid(key))
        return reply_problem(req, 400, "invalid_idempotency_key",
                             "Idempotency-Key must be 1 to 255 visible ASCII characters");
    struct stream_view view;
    if (api_stream_view(req, &view) != 0)
        return -1;
    json_t *body;
    if (call_json_body(c, &body) != 0)
        return -1;
    struct create_answer how = {
        .stream = wants_stream(req),
        .view = view.form == FORM_EVENTS ? NULL : &view,
    };
    int rc = api_create(c, body, key, &how);
    json_decref(body);
    return rc;
}

int api_get_run(struct call *c)
{
    struct run r;
    if (call_owned_run(c, &r) != 0)
        return -1;
    json_t *view = runs_to_json(&r, c->req->cfg, c->req->base, c->secret, clock_now_ms());
    run_clear(&r);
    return reply_json(c->req, 200, view, NULL);
}

/* POST /v1/runs/{id}/rerun: a new run of the same type, input, thread and
 * metadata, linked to this one (rerun_of), under the same rules as any
 * create: the thread's strategy is reject, the owner's quota holds. */
int api_rerun(struct call *c)
{
    struct run old;
    if (call_owned_run(c, &old) != 0)
        return -1;
    if (jobtypes_find(c->api->types, old.type) == NULL) {
        int r = reply_problem(c->req, 422, "unknown_type", "the run's job type %.64s is gone", old.type);
        run_clear(&old);
        return r;
    }
    struct run r;
    memset(&r, 0, sizeof r);
    snprintf(r.owner, sizeof r.owner, "%s", old.owner);
    snprintf(r.type, sizeof r.type, "%s", old.type);
    snprintf(r.thread_id, sizeof r.thread_id, "%s", old.thread_id);
    snprintf(r.rerun_of, sizeof r.rerun_of, "%s", old.id);
    r.input = old.input ? json_incref(old.input) : json_object();
    r.metadata = old.metadata ? json_incref(old.metadata) : json_object();
    r.priority = old.priority;
    snprintf(r.concurrency_key, sizeof r.concurrency_key, "%s", old.concurrency_key);
    snprintf(r.webhook, sizeof r.webhook, "%s", old.webhook);
    run_clear(&old);
    struct create_opts opts = {.strategy = MT_REJECT, .max_active = c->req->cfg->max_active_runs_per_owner};
    const struct create_answer how = {0};
    return api_create_answer(c, &r, &opts, &how);
}

/* The list cursor is opaque to clients: base64url of "seq:N", the
 * position in creation order of the last run of the previous page. */
void api_cursor_encode(int64_t seq, char out[CURSOR_SIZE])
{
    char raw[32];
    int n = snprintf(raw, sizeof raw, "seq:%lld", (long long)seq);
    sodium_bin2base64(out, CURSOR_SIZE, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int api_cursor_decode(const char *text, int64_t *seq)
{
    char raw[32];
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)raw, sizeof raw - 1, text, strlen(text), NULL,
                          &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    raw[n] = '\0';
    char *end;
    if (strncmp(raw, "seq:", 4) != 0 || raw[4] < '1' || raw[4] > '9')
        return -1;
    long long v = strtoll(raw + 4, &end, 10);
    if (*end != '\0' || v < 1)
        return -1;
    *seq = v;
    return 0;
}

struct list_ctx {
    json_t *data;
    const struct call *c;
    int limit;
    int64_t last_seq;
    int more;
    size_t bytes;   /* of the runs' JSON so far */
};

/* A page ends at limit runs or at list_max_bytes of JSON, whichever
 * comes first; it always holds one run, so paging always moves on. */
static int add_run(void *ctx, struct run *r)
{
    struct list_ctx *l = ctx;
    if ((int)json_array_size(l->data) == l->limit) {
        l->more = 1; /* the one extra row only tells that a next page exists */
        return 1;
    }
    json_t *view = runs_to_json(r, l->c->req->cfg, l->c->req->base, l->c->secret, clock_now_ms());
    size_t size = json_dumpb(view, NULL, 0, JSON_COMPACT);
    if (json_array_size(l->data) > 0 && l->bytes + size > (size_t)l->c->req->cfg->list_max_bytes) {
        json_decref(view);
        l->more = 1;
        return 1;
    }
    l->bytes += size;
    json_array_append_new(l->data, view);
    l->last_seq = r->seq;
    return 0;
}

/* A metadata filter's key or value, with its NUL. */
#define META_FILTER_SIZE 256

int api_list_runs(struct call *c)
{
    struct request *req = c->req;
    long limit;
    if (request_query_limit(req, 200, 50, &limit) != 0)
        return reply_problem(req, 400, "invalid_parameter",
                             "limit: must be a whole number from 1 (more than 200 means 200)");
    char status[STATUS_NAME_SIZE] = "", type[TYPE_SIZE] = "", thread[THREAD_SIZE] = "";
    char cursor[CURSOR_SIZE] = "";
    struct run_filter f = {.owner = req->owner, .limit = (int)limit + 1};
    enum run_status one;
    int q = request_query(req, "status", status, sizeof status);
    if (q == 0 && strcmp(status, "active") == 0)
        f.statuses = STATUS_ACTIVE;
    else if (q == 0 && run_status_parse(status, &one) == 0)
        f.statuses = STATUS_BIT(one);
    else if (q == 0)
        return reply_problem(req, 400, "invalid_parameter",
                             "status: must be active or a run status");
    else if (q < 0)
        return reply_problem(req, 400, "invalid_parameter", "status: malformed");
    if ((q = request_query(req, "type", type, sizeof type)) < 0)
        return reply_problem(req, 400, "invalid_parameter", "type: malformed or too long");
    f.type = q == 0 ? type : NULL;
    if ((q = request_query(req, "thread_id", thread, sizeof thread)) < 0)
        return reply_problem(req, 400, "invalid_parameter", "thread_id: malformed or too long");
    f.thread_id = q == 0 ? thread : NULL;
    char meta_key[META_FILTER_SIZE], meta_value[META_FILTER_SIZE];
    int qk = request_query(req, "metadata_key", meta_key, sizeof meta_key);
    int qv = request_query(req, "metadata_value", meta_value, sizeof meta_value);
    if (qk < 0 || qv < 0 || qk != qv)
        return reply_problem(req, 400, "invalid_parameter",
                             "metadata_key and metadata_value: both or neither, each at most %d bytes",
                             META_FILTER_SIZE - 1);
    f.metadata_key = qk == 0 ? meta_key : NULL;
    f.metadata_value = qv == 0 ? meta_value : NULL;
    q = request_query(req, "cursor", cursor, sizeof cursor);
    if (q < 0 || (q == 0 && api_cursor_decode(cursor, &f.before_seq) != 0))
        return reply_problem(req, 400, "invalid_cursor", "cursor: not one this API gave out");

    struct list_ctx l = {json_array(), c, (int)limit, 0, 0, 0};
    if (store_run_list(c->st, &f, add_run, &l) != 0) {
        json_decref(l.data);
        return reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read");
    }
    json_t *next = json_null();
    if (l.more) {
        api_cursor_encode(l.last_seq, cursor);
        next = json_string(cursor);
    }
    return reply_json(req, 200, json_pack("{s:o, s:o}", "data", l.data, "next_cursor", next), NULL);
}
