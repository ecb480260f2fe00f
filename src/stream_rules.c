/* The rules of a live SSE stream, for both loops that drive one (see
 * stream_rules.h). */
#include "stream_rules.h"
#include "log.h"
#include "mcp.h"
#include "sse.h"
#include "runs.h"
#include "ui_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stream_watch_init(struct stream_watch *w, const char *run_id, const struct auth_proof *proof,
                       long long revocations, int cancel_on_gone)
{
    memset(w, 0, sizeof *w);
    snprintf(w->run_id, sizeof w->run_id, "%s", run_id);
    w->proof = *proof;
    w->revocations = revocations;
    w->cancel_on_gone = cancel_on_gone;
}

int stream_keepalive_due(const struct stream_watch *w, int keepalive_ms, int64_t now_ms)
{
    return now_ms - w->last_write_ms >= stream_quiet_ms(keepalive_ms);
}

const char *stream_end_reason(const struct stream_watch *w, int stopping, long long now_s)
{
    if (stopping)
        return "the process stops";
    if (w->proof.link && w->proof.exp < now_s)
        return "its link expired";
    return NULL;
}

int stream_revoked(struct stream_watch *w, long long revocations, struct store *st)
{
    if (revocations < 0 || revocations == w->revocations || st == NULL)
        return 0;
    w->revocations = revocations;
    return auth_proof_holds(st, w->run_id, &w->proof) == 0;
}

void stream_client_gone(const struct stream_watch *w, const struct config *cfg, struct store *st,
                        struct bus *bus)
{
    if (!w->cancel_on_gone)
        return;
    char err[CONFIG_ERR_SIZE];
    struct store *own = st != NULL ? NULL : store_open(cfg->database, err, sizeof err);
    struct runs_ctx rc = {.cfg = cfg, .st = st != NULL ? st : own, .bus = bus};
    json_t *why = json_pack("{s:s}", "reason", "client_disconnected");
    if (rc.st == NULL || bus == NULL || runs_cancel(&rc, w->run_id, why) == CANCEL_ERROR)
        log_run(LOG_WARN, w->run_id, "its client left, but it could not be cancelled");
    else
        log_run(LOG_INFO, w->run_id, "its client left; cancelled (on_disconnect: cancel)");
    json_decref(why);
    store_close(own);
}

/* A UI message stream's frames of an event: its chunks, each a data
 * line under the event's id; after the end, [DONE]. */
static int ui_frame(struct out *o, const char *run_id, const char *id, const char *name,
                    const char *data)
{
    char *chunks[UI_CHUNKS_MAX];
    int n = ui_chunks(run_id, name, data, chunks);
    int rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && sse_event(o, id, NULL, chunks[i]) != 0)
            rc = -1;
        free(chunks[i]);
    }
    if (rc == 0 && event_is_terminal(name))
        rc = sse_event(o, NULL, NULL, "[DONE]");
    return rc;
}

/* LangGraph's stream events of an event, each under the event's id. */
static int lg_frame(struct out *o, const struct lg_view *v, const char *run_id, const char *id,
                    const char *name, const char *data)
{
    const char *names[LG_FRAMES_MAX];
    char *datas[LG_FRAMES_MAX];
    int n = lg_frames(v, run_id, name, data, names, datas);
    int rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && sse_event(o, id, names[i], datas[i]) != 0)
            rc = -1;
        free(datas[i]);
    }
    return rc;
}

/* One event as its stream's client sees it: as is, as a UI message
 * chunk, as LangGraph's stream events, or as the MCP message it stands
 * for (none for most events). */
int stream_frame(struct out *o, const struct stream_view *view, const char *run_id,
                     const char *id, const char *name, const char *data)
{
    if (view == NULL || view->form == FORM_EVENTS)
        return sse_event(o, id, name, data);
    if (view->form == FORM_UI)
        return ui_frame(o, run_id, id, name, data);
    if (view->form == FORM_LANGGRAPH)
        return lg_frame(o, &view->lg, run_id, id, name, data);
    char *msg = mcp_event_message(&view->mcp, run_id, id, name, data);
    char mid[MCP_EVENT_ID_SIZE];
    int rc = msg == NULL ? 0
           : mcp_event_id(run_id, id, mid, sizeof mid) != 0 ? -1 : sse_event(o, mid, "message", msg);
    free(msg);
    return rc;
}
