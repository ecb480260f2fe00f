#ifndef OPSTREAM_PROTOCOL_H
#define OPSTREAM_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>

#include "event.h"

/* What one line of a job's output means. */
enum job_msg_kind { JOB_EVENT, JOB_RESULT, JOB_INPUT_REQUIRED, JOB_LOG };

struct job_msg {
    enum job_msg_kind kind;
    char name[EVENT_NAME_SIZE];  /* the event to emit */
    json_t *data;                /* owned; always an object except for result */
};

/* How much of a refused over-deep line its log event keeps. */
#define PROTOCOL_DEEP_KEEP_BYTES 1024

/* Parses one line (without its newline) from the job's stdout or stderr.
 * Never fails: anything that is not a valid event becomes a log event,
 * flagged when it looked like an event but was refused. truncated marks a
 * line that was cut at the size limit. A line nesting JSON deeper than
 * max_depth is never parsed: it becomes a log event, flagged and cut. */
void protocol_parse_line(const char *line, size_t len, int from_stderr,
                         int truncated, int max_depth, struct job_msg *out);
void job_msg_clear(struct job_msg *m);
/* Names only the system emits; no job or producer may. */
int protocol_name_reserved(const char *name);
/* What a producer outside the job may publish (opstream publish, POST
 * .../events): a valid name that is neither reserved nor one that changes
 * the run (result, input_required), which only its job may send. */
int protocol_publishable(const char *name);

/* Bytes a job wrote, as a JSON string kept faithfully: valid UTF-8 as
 * it is, and each NUL byte or byte that is not part of valid UTF-8 as
 * the four characters \xNN, so that nothing is dropped and the string
 * reads back as it was stored. */
json_t *protocol_text(const char *s, size_t len);

#endif
