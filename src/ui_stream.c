/* Run events as UI message chunks (ui_stream.h). */
#include "ui_stream.h"
#include "event.h"
#include "run.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The chunk types a job may make itself; the others (start, finish,
 * abort, error) are the run's to say. */
static const char *const job_chunks[] = {
    "text-start", "text-delta", "text-end", "reasoning-start", "reasoning-delta",
    "reasoning-end", "tool-input-start", "tool-input-delta", "tool-input-available",
    "tool-input-error", "tool-output-available", "tool-output-error", "source-url",
    "source-document", "file", "start-step", "finish-step", "message-metadata",
};

static int job_chunk(const char *name)
{
    for (size_t i = 0; i < sizeof job_chunks / sizeof job_chunks[0]; i++)
        if (strcmp(job_chunks[i], name) == 0)
            return 1;
    return 0;
}

static char *dump(json_t *chunk)
{
    char *text = chunk != NULL ? json_dumps(chunk, JSON_COMPACT) : NULL;
    json_decref(chunk);
    return text;
}

static json_t *data_part(const char *name, json_t *d)
{
    size_t n = strlen("data-") + strlen(name) + 1;
    char *type = malloc(n);
    if (type == NULL)
        return NULL;
    strcpy(type, "data-");
    strcat(type, name);
    json_t *chunk = json_pack("{s:s, s:O}", "type", type, "data", d ? d : json_null());
    free(type);
    return chunk;
}

/* "finish", "abort" or "error" for run_finished's data d. */
static json_t *ending(const json_t *d)
{
    const char *status = json_string_value(json_object_get(d, "status"));
    enum run_status st = RUN_FAILED;
    if (status != NULL)
        run_status_parse(status, &st);
    if (st == RUN_SUCCEEDED)
        return json_pack("{s:s}", "type", "finish");
    if (st == RUN_CANCELLED)
        return json_pack("{s:s}", "type", "abort");
    const char *msg = json_string_value(json_object_get(json_object_get(d, "error"), "message"));
    return json_pack("{s:s, s:s}", "type", "error", "errorText",
                     msg ? msg : status ? status : "the run failed");
}

int ui_chunks(const char *run_id, const char *name, const char *data, char *out[UI_CHUNKS_MAX])
{
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    int n = 0;
    if (strcmp(name, "run_queued") == 0 && json_object_get(d, "reason") == NULL) {
        out[n++] = dump(json_pack("{s:s, s:s}", "type", "start", "messageId", run_id));
    } else if (job_chunk(name) && json_is_object(d)) {
        json_t *chunk = json_deep_copy(d);
        json_object_set_new(chunk, "type", json_string(name));
        out[n++] = dump(chunk);
    } else {
        out[n++] = dump(data_part(name, d));
        if (event_is_terminal(name))
            out[n++] = dump(ending(d));
    }
    json_decref(d);
    for (int i = 0; i < n; i++) {
        if (out[i] == NULL) {
            for (int j = 0; j < n; j++)
                free(out[j]);
            return -1;
        }
    }
    return n;
}
