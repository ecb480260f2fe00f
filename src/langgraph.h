#ifndef OPSTREAM_LANGGRAPH_H
#define OPSTREAM_LANGGRAPH_H

#include <jansson.h>

#include "jobtypes.h"
#include "run.h"
#include "store.h"

/* LangGraph's runs API spoken over opstream's runs: an assistant is a
 * job type, a thread is a thread, a run is a run. This file holds the
 * shapes and the rule that makes a run's events LangGraph's stream
 * events; api_langgraph.c the routes.
 *
 * The rule (a stream asks for modes with stream_mode, default values):
 * - run_queued (the run's first) is "metadata" {run_id, thread_id};
 * - a job's event named as LangGraph's (values, updates, custom,
 *   messages, messages/partial, messages/complete, messages/metadata,
 *   events, debug, tasks, checkpoints) is that event, sent when its mode
 *   was asked for (messages under messages-tuple, messages/... under
 *   messages);
 * - step_finished is "updates" {<step name>: its data};
 * - any other event but the run's own is "custom" {event, data};
 * - run_finished: succeeded is "values" (the run's result, when it is an
 *   object) then "end"; cancelled is "end"; any other end is "error"
 *   {error: its code, message}. */

enum lg_mode {
    LG_VALUES = 1, LG_UPDATES = 2, LG_CUSTOM = 4, LG_MESSAGES = 8, LG_MESSAGES_TUPLE = 16,
    LG_EVENTS = 32, LG_DEBUG = 64, LG_TASKS = 128, LG_CHECKPOINTS = 256,
};

/* What a LangGraph stream sends: its modes, and the thread it names. */
struct lg_view {
    unsigned modes;
    char thread_id[THREAD_SIZE];
};

/* stream_mode (a string, an array of them, or NULL: values) as modes:
 * 0, or -1 when a mode is unknown. */
int lg_modes(const json_t *stream_mode, unsigned *modes);
/* The same from a query (repeated stream_mode parameters, as the SDK
 * sends them): 0, -1. */
int lg_modes_query(const char *query, unsigned *modes);

#define LG_FRAMES_MAX 2
/* The stream events (names and JSON data texts, the caller frees the
 * data) of run run_id's event name with data: their number, or -1. */
int lg_frames(const struct lg_view *v, const char *run_id, const char *name, const char *data,
              const char *names[LG_FRAMES_MAX], char *datas[LG_FRAMES_MAX]);

/* A run status as LangGraph names it: pending, running, success, error,
 * timeout, interrupted. */
const char *lg_run_status(enum run_status s);

json_t *lg_run(const struct run *r);
json_t *lg_assistant(const struct jobtype *jt);
/* latest: the thread's newest run, or NULL when it has none. */
json_t *lg_thread(const struct thread *t, const struct run *latest);
json_t *lg_thread_state(const char *thread_id, const struct run *latest);
/* What a finished run is to runs.wait and runs.join: its values (its
 * result), or {"__error__": {error, message}} when it failed. */
json_t *lg_outcome(const struct run *r);

#endif
