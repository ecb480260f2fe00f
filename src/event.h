#ifndef OPSTREAM_EVENT_H
#define OPSTREAM_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* A Redis stream entry id "ms-seq": at most 20 + 1 + 20 digits. */
#define EVENT_ID_SIZE 48
#define EVENT_NAME_MAX 64
#define EVENT_NAME_SIZE (EVENT_NAME_MAX + 1)

struct event_id {
    uint64_t ms;
    uint64_t seq;
};

/* Names a job may emit: [a-z][a-z0-9_.-]{0,63}. */
int event_name_valid(const char *name);
/* Parses "ms-seq" (or a bare "ms", meaning "ms-0") strictly: digits only, no
 * overflow. Returns 0 on success. */
int event_id_parse(const char *s, struct event_id *out);
int event_id_cmp(const struct event_id *a, const struct event_id *b);
void event_id_format(const struct event_id *id, char out[EVENT_ID_SIZE]);
/* The id just before id: a reader that goes on from it gets id next (a
 * gap event carries it, so a reconnect goes on from the first event still
 * available). */
void event_id_before(const struct event_id *id, char out[EVENT_ID_SIZE]);
/* The event a job sends to ask for input. It shares its name with the
 * status it leads to; that name is spelled here and in run.c only. */
#define EVENT_INPUT_REQUIRED "input_required"
/* The one event that ends a run's stream. */
#define EVENT_TERMINAL "run_finished"

/* True for the event that ends every run. */
int event_is_terminal(const char *name);

#endif
