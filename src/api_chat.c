/* The AI SDK's chat shape (its DefaultChatTransport): POST
 * /v1/chat/{type} sends a chat's messages and answers with the new run's
 * UI message stream; GET /v1/chat/{type}/{chat id}/stream resumes the
 * chat's active run (204 when it has none). A chat is a thread: its id is
 * the runs' thread_id, and each message sent is an ordinary run. */
#include "api.h"
#include "reply.h"
#include "schema.h"
#include "stream_rules.h"
#include "ui_stream.h"

#include <stdio.h>
#include <string.h>

/* The transport's own fields; every other body field is the job's input,
 * beside messages. */
static int transport_field(const char *k)
{
    return strcmp(k, "id") == 0 || strcmp(k, "trigger") == 0 || strcmp(k, "messageId") == 0;
}

/* The run's input: the body without the transport's fields. 0, or -1
 * after answering 422. */
static int chat_input(struct call *c, const struct jobtype *jt, json_t *body, json_t **input)
{
    struct request *req = c->req;
    json_t *id = json_object_get(body, "id");
    if (!json_is_object(body))
        return reply_problem(req, 422, "invalid_body", "the body must be a JSON object"), -1;
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) >= THREAD_SIZE)
        return reply_problem(req, 422, "invalid_field", "/id: the chat id, a string of 1 to %d bytes",
                             THREAD_SIZE - 1), -1;
    if (!json_is_array(json_object_get(body, "messages")))
        return reply_problem(req, 422, "invalid_field", "/messages: must be an array"), -1;
    *input = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        if (!transport_field(k))
            json_object_set(*input, k, v);
    }
    json_t *schema = json_object_get(jt->doc, "input_schema");
    char why[SCHEMA_ERR_SIZE];
    if (schema != NULL && schema_validate(schema, *input, "/input", why, sizeof why) != 0) {
        json_decref(*input);
        return reply_problem(req, 422, "invalid_input", "%s", why), -1;
    }
    return 0;
}

int api_chat_send(struct call *c)
{
    struct request *req = c->req;
    const struct jobtype *jt = jobtypes_find(c->api->types, req->args[0]);
    if (jt == NULL)
        return reply_problem(req, 404, "unknown_type", "no job type named %.64s", req->args[0]);
    json_t *body, *input;
    if (call_json_body(c, &body) != 0)
        return -1;
    if (chat_input(c, jt, body, &input) != 0) {
        json_decref(body);
        return -1;
    }
    struct run r;
    memset(&r, 0, sizeof r);
    snprintf(r.owner, sizeof r.owner, "%s", req->owner);
    snprintf(r.type, sizeof r.type, "%s", jt->name);
    snprintf(r.thread_id, sizeof r.thread_id, "%s", json_string_value(json_object_get(body, "id")));
    json_decref(body);
    r.input = input;
    r.metadata = json_object();
    if (jt->webhook != NULL)
        snprintf(r.webhook, sizeof r.webhook, "%s", jt->webhook);
    /* A chat takes one message at a time: a second while a run answers
     * the first is 409 thread_busy. */
    struct create_opts opts = {.strategy = MT_REJECT, .max_active = req->cfg->max_active_runs_per_owner};
    struct stream_view view = {.form = FORM_UI};
    struct create_answer how = {.stream = 1, .view = &view};
    return api_create_answer(c, &r, &opts, &how);
}

int api_chat_stream(struct call *c)
{
    struct request *req = c->req;
    struct run_filter f = {.owner = req->owner, .type = req->args[0], .thread_id = req->args[1],
                           .statuses = STATUS_ACTIVE};
    struct run r;
    int got = store_run_newest(c->st, &f, &r);
    if (got != 0) /* nothing to resume: the chat's last answer is whole */
        return got < 0 ? reply_problem(req, 503, "store_unavailable", "the run ledger cannot be read")
                       : reply_empty(req, 204, NULL);
    char headers[REQUEST_PATH_SIZE + 128];
    snprintf(headers, sizeof headers, "Content-Location: %s/v1/runs/%s\r\n" UI_STREAM_HEADER,
             req->base, r.id);
    struct stream_view view = {.form = FORM_UI};
    int rc = api_stream_run(c, &r, headers, 0, &view);
    run_clear(&r);
    return rc;
}
