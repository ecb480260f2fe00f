/* A run's events as the protocol views see them: the same bytes as an
 * event's data and as its name under LangGraph's stream modes (each mode
 * and all) and the AI SDK's UI message stream; and as a stream_mode, in
 * a query and as JSON. */
#include "fuzz.h"
#include "langgraph.h"
#include "ui_stream.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"run_queued", "run_started", "values", "updates", "custom",
                                    "messages", "messages/partial", "step_finished", "progress",
                                    "text-delta", "tool-input-available", "run_finished", "gap"};

/* Every frame of one event under v, freed. */
static void frames(const struct lg_view *v, const char *name, const char *data)
{
    const char *fnames[LG_FRAMES_MAX];
    char *datas[LG_FRAMES_MAX];
    int n = lg_frames(v, "AAAAAAAAAAAAAAAAAAAAAA", name, data, fnames, datas);
    for (int i = 0; i < n; i++)
        free(datas[i]);
    char *chunks[UI_CHUNKS_MAX];
    n = ui_chunks("AAAAAAAAAAAAAAAAAAAAAA", name, data, chunks);
    for (int i = 0; i < n; i++)
        free(chunks[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (text == NULL)
        return 0;
    unsigned modes;
    lg_modes_query(text, &modes);
    json_t *doc = fuzz_json_body(data, size);
    if (doc != NULL)
        lg_modes(doc, &modes);
    json_decref(doc);
    struct lg_view v = {.modes = 0, .thread_id = "t"};
    for (unsigned m = 1; m <= LG_CHECKPOINTS; m <<= 1) {
        v.modes = m;
        frames(&v, "values", text);
    }
    v.modes = 2 * LG_CHECKPOINTS - 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        frames(&v, names[i], text);
    frames(&v, text, "{}");
    free(text);
    return 0;
}
