#ifndef OPSTREAM_JOB_H
#define OPSTREAM_JOB_H

#include <jansson.h>

/* What the shipped jobs share: the job protocol's two ends. */

/* The run's input, the first stdin line; exits 2 when it is not an object. */
json_t *job_input(const char *prog);
/* The next stdin line as JSON (resume input); NULL at end of input. */
json_t *job_read(void);
/* Writes {"event": event, "data": data} and flushes; data is stolen. */
void job_emit(const char *event, json_t *data);
/* An integer field of the input, dflt when absent; exits 2 when out of range. */
long long job_int(const char *prog, const json_t *in, const char *key, long long dflt,
                  long long lo, long long hi);
void job_sleep_ms(long long ms);

#endif
