#ifndef OPSTREAM_HUB_H
#define OPSTREAM_HUB_H

#include "auth.h"
#include "config.h"
#include "stream_rules.h"

#include <stdatomic.h>

/* The stream hub of a responder process: one thread and one epoll loop
 * that hold every SSE stream whose replay has been sent, each with a few
 * hundred bytes of state, and read each run's new events once for all of
 * its viewers in the process (see hub.c). */
struct hub;

/* Starts the hub's thread, which holds at most cfg->max_streams streams
 * and ends them all once *stopping is set. NULL when it cannot start. */
struct hub *hub_start(const struct config *cfg, const atomic_int *stopping);
/* Waits for the hub to end its streams (after *stopping was set) and
 * frees it. */
void hub_stop(struct hub *h);

/* The stream on fd (a FastCGI connection, request_id, headers and replay
 * already written and flushed) goes on from cursor, the last event sent,
 * watched under w (stream_rules.h). 0: the hub owns fd now; -1: full or
 * stopping, fd is still the caller's. */
int hub_adopt(struct hub *h, int fd, int request_id, const struct stream_watch *w, const char *cursor);

/* The longest time from an event's append to its sending, in ms, since
 * the last call (0: none sent). */
long long hub_lag_take(struct hub *h);

/* Streams held or on their way in. */
int hub_streams(struct hub *h);

#endif
