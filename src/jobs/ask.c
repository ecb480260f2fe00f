/* ask: asks for an answer mid-run (input_required), waits for the resume
 * input on its next stdin line, and returns it as its result. */
#include "job.h"

#include <stdio.h>

int main(void)
{
    json_t *in = job_input("ask");
    json_t *prompt = json_object_get(in, "prompt");
    job_emit("input_required", json_pack(
        "{s:s, s:{s:s, s:{s:{s:s, s:i}}, s:[s], s:b}}",
        "prompt", json_is_string(prompt) ? json_string_value(prompt) : "Your answer?",
        "schema", "type", "object", "properties", "answer", "type", "string", "minLength", 1,
        "required", "answer", "additionalProperties", 0));
    json_decref(in);
    json_t *reply = job_read();
    if (reply == NULL) {
        fprintf(stderr, "ask: no answer came\n");
        return 3;
    }
    /* Cancelled while it waited: the worker says so on stdin before SIGTERM. */
    if (json_object_get(reply, "cancel") != NULL) {
        fprintf(stderr, "ask: cancelled before an answer came\n");
        json_decref(reply);
        return 3;
    }
    job_emit("result", json_pack("{s:O}", "answer", json_object_get(reply, "answer")));
    json_decref(reply);
    return 0;
}
