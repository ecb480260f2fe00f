#ifndef OPSTREAM_SSE_H
#define OPSTREAM_SSE_H

#include "out.h"

/* The only writer of text/event-stream bytes. Each call writes one complete
 * frame and flushes, so a failed flush is seen at once (client gone).
 * Returns 0, or -1 when the client is gone or a field is unsafe. */
/* extra: more header lines, each ending in CRLF, or NULL. */
int sse_headers(struct out *o, const char *extra);
int sse_retry(struct out *o, int retry_ms);
int sse_event(struct out *o, const char *id, const char *name, const char *data);
int sse_comment(struct out *o, const char *text);
/* The most bytes sse_event writes for these fields (a frame's buffer). */
size_t sse_event_max(const char *id, const char *name, const char *data);

/* A stream's cadence, alike on its own thread and in the hub: a keepalive
 * after keepalive_ms/3 of silence (a web server may see its client gone
 * only on the second write after it went), and a look for revoked
 * credentials every keepalive_ms/2. */
static inline int sse_quiet_ms(int keepalive_ms)
{
    return keepalive_ms / 3;
}

static inline int sse_recheck_ms(int keepalive_ms)
{
    return keepalive_ms / 2;
}

#endif
