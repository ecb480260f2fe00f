#ifndef OPSTREAM_UI_STREAM_H
#define OPSTREAM_UI_STREAM_H

/* The AI SDK's UI message stream protocol (v1): what a run's events are
 * to a useChat client. The rule, written once:
 * - run_queued (the run's first, not a requeue's) is "start", its
 *   messageId the run id;
 * - an event named as a chunk a job may make (text-delta, reasoning-*,
 *   tool-*, source-*, file, start-step, ...) is that chunk: its data's
 *   members, under that type;
 * - any other event is a "data-<name>" part holding its data;
 * - run_finished is its data-run_finished part, then "finish"
 *   (succeeded), "abort" (cancelled) or "error" (any other end). The
 *   stream's writer sends [DONE] after it. */

/* The response header that names the protocol. */
#define UI_STREAM_HEADER "x-vercel-ai-ui-message-stream: v1\r\n"

#define UI_CHUNKS_MAX 2

/* The chunks (JSON texts, the caller frees them) of the event name with
 * data (its JSON text) of run run_id: their number, or -1. */
int ui_chunks(const char *run_id, const char *name, const char *data, char *out[UI_CHUNKS_MAX]);

#endif
