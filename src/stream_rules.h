#ifndef OPSTREAM_STREAM_RULES_H
#define OPSTREAM_STREAM_RULES_H

#include "auth.h"
#include "bus.h"
#include "config.h"
#include "out.h"
#include "store.h"

#include "langgraph.h"
#include "mcp.h"

#include <stdint.h>

/* The rules of a live SSE stream once its replay is sent, written once
 * for the two loops that drive one: the stream hub (hub.c), and a
 * request's own thread where a stream cannot be in a hub (api_events.c:
 * no hub, mod_fcgid, CGI, a full hub). What opens a stream (the replay,
 * the 204 for a client at the end) is the request's (api_events.c). */

/* Without Redis this long, a stream ends cleanly and its client resumes
 * from its last event on a new request. */
#define STREAM_REDIS_PATIENCE_MS 3000

/* What a stream's client reads of each event: the event itself, the MCP
 * message it stands for (mcp.h), the AI SDK's UI message chunk
 * (ui_stream.h), or LangGraph's stream events (langgraph.h). */
enum stream_form { FORM_EVENTS, FORM_MCP, FORM_UI, FORM_LANGGRAPH };
struct stream_view {
    enum stream_form form;
    struct mcp_view mcp; /* FORM_MCP's */
    struct lg_view lg;   /* FORM_LANGGRAPH's */
};

/* What a stream is watched under. */
struct stream_watch {
    char run_id[ID_SIZE];
    struct auth_proof proof;     /* the credentials it was opened with */
    long long revocations;       /* the bus's revocation count they were last checked at */
    int64_t last_write_ms;       /* monotonic */
    int cancel_on_gone;          /* on_disconnect: cancel (a create-and-stream) */
    const struct stream_view *view; /* NULL: the events as they are; the hub keeps a copy */
};

void stream_watch_init(struct stream_watch *w, const char *run_id, const struct auth_proof *proof,
                       long long revocations, int cancel_on_gone);

/* A keepalive comment after keepalive_ms/3 of silence: a web server may
 * see its client gone only on the second write after it went, and the
 * stream should be freed within keepalive_ms. */
static inline int stream_quiet_ms(int keepalive_ms)
{
    return keepalive_ms / 3;
}
/* How often a stream asks whether a credential was revoked. */
static inline int stream_recheck_ms(int keepalive_ms)
{
    return keepalive_ms / 2;
}
int stream_keepalive_due(const struct stream_watch *w, int keepalive_ms, int64_t now_ms);

/* Why the stream ends now, before its run does, or NULL: the process is
 * stopping (a SIGTERM, a reload: the response ends at an event boundary
 * and the client resumes elsewhere), or the signed link that opened it
 * expired (the client comes back and is asked for a fresh link). */
const char *stream_end_reason(const struct stream_watch *w, int stopping, long long now_s);

/* 1 when a credential of the stream was revoked: asked of the ledger st
 * only when the bus's count (revocations, <0 when unknown) moved since it
 * was last checked. A ledger that cannot tell does not cut the stream. */
int stream_revoked(struct stream_watch *w, long long revocations, struct store *st);

/* The stream's client left before the run's end: under on_disconnect:
 * cancel the run is cancelled, as from its Cancel button. st: a ledger,
 * or NULL to open one; bus NULL (Redis away): it is logged that the run
 * could not be cancelled. */
void stream_client_gone(const struct stream_watch *w, const struct config *cfg, struct store *st,
                        struct bus *bus);

/* One event as a stream's client sees it: as is (view NULL), or in the
 * view's form (an MCP view has nothing for most events). 0, or -1 when
 * the client is gone. */
int stream_frame(struct out *o, const struct stream_view *view, const char *run_id, const char *id,
                 const char *name, const char *data);

#endif
