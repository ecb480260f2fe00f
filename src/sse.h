#ifndef OPSTREAM_SSE_H
#define OPSTREAM_SSE_H

#include "out.h"

/* The only writer of text/event-stream bytes. Each call writes one complete
 * frame and flushes, so a failed flush is seen at once (client gone).
 * Returns 0, or -1 when the client is gone or a field is unsafe. */
/* extra: more header lines, each ending in CRLF, or NULL. */
int sse_headers(struct out *o, const char *extra);
int sse_retry(struct out *o, int retry_ms);
/* An event; without a name (NULL) it is a "message", without an id
 * (NULL) it leaves the client's last id be. */
int sse_event(struct out *o, const char *id, const char *name, const char *data);
int sse_comment(struct out *o, const char *text);
/* The most bytes sse_event writes for these fields (a frame's buffer). */
size_t sse_event_max(const char *id, const char *name, const char *data);

#endif
