/* A message POSTed to the MCP endpoint, as api_mcp.c reads it: the body's
 * bounds and parser, then its kind; and the same bytes as the data of
 * every event a stream's view maps (progress, questions, the end, log
 * lines), as a job's schema offered for an elicitation, and as a
 * Last-Event-ID. */
#include "fuzz.h"
#include "mcp.h"
#include "request.h"

#include <stdlib.h>
#include <string.h>

static const char *const events[] = {"progress", "input_required", "run_finished", "log",
                                     "run_started", "step_started"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (text == NULL)
        return 0;
    char run[ID_SIZE], ev[EVENT_ID_SIZE];
    mcp_event_id_parse(text, run, ev);
    mcp_elicit_id_parse(text, run);
    json_t *doc = fuzz_json_body(data, size);
    if (doc != NULL) {
        mcp_message_kind(doc);
        json_decref(mcp_elicit_schema(doc));
        json_decref(mcp_tool_result("AAAAAAAAAAAAAAAAAAAAAA", 1, doc));
    }
    json_decref(doc);
    struct mcp_view v = {.rpc_id = "7", .progress_token = "\"p\"", .log_level = MCP_LOG_DEBUG,
                         .elicit = 1, .task = 1};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        free(mcp_event_message(&v, "AAAAAAAAAAAAAAAAAAAAAA", "1-0", events[i], text));
        v.task = !v.task;
    }
    free(text);
    return 0;
}
