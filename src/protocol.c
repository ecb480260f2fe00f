/* The job protocol: stdout lines that are {"event": NAME, "data": {...}}
 * become events; everything else is a log line. Names the system itself
 * emits are refused, so a job can never fake the end of its run. */
#include "protocol.h"
#include "json_depth.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

static const char *const reserved[] = {
    "run_queued", "run_started", "run_finished", "cancel_requested",
    "input_received", "gap", "run_expired",
};

int protocol_name_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    return 0;
}

int protocol_publishable(const char *name)
{
    return event_name_valid(name) && !protocol_name_reserved(name) &&
           strcmp(name, "result") != 0 && strcmp(name, EVENT_INPUT_REQUIRED) != 0;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0
 * when it is not one: no overlong forms, surrogates or code points past
 * U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

json_t *protocol_text(const char *s, size_t len)
{
    json_t *j = memchr(s, '\0', len) == NULL ? json_stringn(s, len) : NULL;
    if (j != NULL)
        return j;
    char *copy = malloc(4 * len + 1);
    if (copy == NULL)
        return json_string("");
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = s[i] == '\0' ? 0 : utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0) {
            o += (size_t)snprintf(copy + o, 5, "\\x%02x", (unsigned char)s[i]);
            i += 1;
        } else {
            memcpy(copy + o, s + i, n);
            o += n, i += n;
        }
    }
    j = json_stringn(copy, o);
    free(copy);
    return j ? j : json_string("");
}

static void make_log(const char *line, size_t len, int from_stderr,
                     int truncated, const char *rejected, struct job_msg *out)
{
    out->kind = JOB_LOG;
    strcpy(out->name, "log");
    out->data = json_object();
    json_object_set_new(out->data, "stream", json_string(from_stderr ? "stderr" : "stdout"));
    json_object_set_new(out->data, "line", protocol_text(line, len));
    if (truncated)
        json_object_set_new(out->data, "truncated", json_true());
    if (rejected != NULL)
        json_object_set_new(out->data, "rejected", json_string(rejected));
}

void protocol_parse_line(const char *line, size_t len, int from_stderr,
                         int truncated, int max_depth, struct job_msg *out)
{
    memset(out, 0, sizeof *out);
    if (from_stderr || truncated || len == 0 || line[0] != '{') {
        make_log(line, len, from_stderr, truncated, NULL, out);
        return;
    }
    if (json_too_deep(line, len, max_depth)) {
        char why[64];
        snprintf(why, sizeof why, "JSON nested deeper than %d levels", max_depth);
        int cut = len > PROTOCOL_DEEP_KEEP_BYTES;
        make_log(line, cut ? PROTOCOL_DEEP_KEEP_BYTES : len, 0, cut, why, out);
        return;
    }
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *ev = json_object_get(doc, "event");
    if (doc == NULL || !json_is_string(ev)) {
        json_decref(doc);
        make_log(line, len, 0, 0, NULL, out);
        return;
    }
    const char *name = json_string_value(ev);
    json_t *data = json_object_get(doc, "data");
    const char *why = NULL;
    if (strcmp(name, "result") == 0) {
        out->kind = JOB_RESULT;
        strcpy(out->name, "result");
        out->data = data ? json_incref(data) : json_null();
        json_decref(doc);
        return;
    }
    if (!event_name_valid(name))
        why = "invalid event name";
    else if (protocol_name_reserved(name))
        why = "reserved event name";
    else if (data != NULL && !json_is_object(data))
        why = "data must be an object";
    if (why != NULL) {
        json_decref(doc);
        make_log(line, len, 0, 0, why, out);
        return;
    }
    out->kind = strcmp(name, EVENT_INPUT_REQUIRED) == 0 ? JOB_INPUT_REQUIRED : JOB_EVENT;
    strcpy(out->name, name);
    out->data = data ? json_incref(data) : json_object();
    json_decref(doc);
}

void job_msg_clear(struct job_msg *m)
{
    json_decref(m->data);
    m->data = NULL;
}
