#ifndef OPSTREAM_EXECUTE_H
#define OPSTREAM_EXECUTE_H

#include "jobtypes.h"
#include "runs.h"

/* How much of stderr the error of a failed run quotes. */
#define STDERR_TAIL_BYTES 2048

/* One running run: its job, its pipes, its deadlines. The worker's loop
 * owns it and calls the functions below when a descriptor is ready and
 * at each tick; none of them waits for the job. */
struct job;

/* Claims a queued run, as just read from the ledger, and starts its job:
 * 1 with the job to supervise in *out; 0 when there is nothing to
 * supervise (not queued any more, or ended at once: unknown type, a
 * command that cannot start); -1 when it could not be claimed and may
 * still wait for a start. */
int execute_start(struct runs_ctx *rc, const struct jobtypes *types, const struct run *r,
                  const char *entry, struct job **out);

enum job_fd { JOB_STDOUT, JOB_STDERR, JOB_STDIN, JOB_EXIT, JOB_FDS };
/* The descriptor to watch for which (readable; stdin: writable), or -1
 * when there is none to watch now. It may change after any call below. */
int execute_fd(const struct job *j, enum job_fd which);
void execute_ready(struct job *j, enum job_fd which);
/* A control message for the run: {"cancel": ...} or {"resume": input}. */
void execute_control(struct job *j, const char *msg);
/* Keeps the job's deadlines (its timeout, the kill after the TERM's
 * grace) and its end; stopping hands the run back to the queue. 1 once
 * the run is done with: the caller frees the job. */
int execute_tick(struct job *j, int stopping);
void execute_free(struct job *j);
/* Closes the job's descriptors in a process forked from the worker. */
void execute_forget(struct job *j);

const char *execute_run_id(const struct job *j);
/* True while the run's lease is to be renewed (not once its end is being
 * retried: that has the lease it has left). */
int execute_leased(const struct job *j);
/* The ledger renewed its lease until until_ms: its slots follow. */
void execute_renewed(struct job *j, int64_t until_ms);

/* Ends or re-queues every run whose worker stopped renewing its lease:
 * its orphaned job processes on this host are killed first; with attempts
 * left under its type's retries it is queued again, else it fails with
 * worker_lost. Each run gets exactly one run_finished. */
void execute_recover(struct runs_ctx *rc, const struct jobtypes *types);

/* Puts every queued run on the queue again: after Redis came back as
 * another process, which may lack the last queue entries. A run queued
 * twice is claimed once. The number of runs, -1 when some could not be. */
#define REQUEUE_PAGE 500
int execute_requeue(struct runs_ctx *rc);

#endif
