#ifndef OPSTREAM_SUPERVISOR_H
#define OPSTREAM_SUPERVISOR_H

#include "execute.h"
#include "runs.h"

/* The jobs one worker runs at once, all in one loop: their pipes and
 * exits in one epoll set, their deadlines kept by ticks, their leases
 * renewed together in one ledger transaction, and their control messages
 * read only when a run's bell rings. */
struct supervisor;

/* For up to max jobs; rc is shared by all of them (and the caller). */
struct supervisor *supervisor_new(struct runs_ctx *rc, int max);
void supervisor_free(struct supervisor *s);
int supervisor_count(const struct supervisor *s);
/* Takes a started job (execute_start) to supervise until its run is
 * done; there must be room for it (supervisor_count below max). A
 * descriptor the epoll set refuses now is tried again at each tick. */
void supervisor_add(struct supervisor *s, struct job *j);
/* Handles what happened to the jobs within wait_ms (0: what is there
 * now), and what is due: ticks, bells, leases. stopping: the jobs are to
 * hand their runs back (the grace period is over). */
void supervisor_run(struct supervisor *s, int wait_ms, int stopping);
/* Renews the leases of every job when due (every lease_ms/3; after a
 * failure, sooner): also while the worker waits for Redis. */
void supervisor_renew(struct supervisor *s);
/* In a process forked from the worker: closes every job's descriptors,
 * and nothing else (its connections are the libraries' to keep). */
void supervisor_forget(struct supervisor *s);

#endif
