#ifndef OPSTREAM_EXECUTE_H
#define OPSTREAM_EXECUTE_H

#include <signal.h>

#include "jobtypes.h"
#include "runs.h"

/* How much of stderr the error of a failed run quotes. */
#define STDERR_TAIL_BYTES 2048

/* Takes a queued run through its whole life: start, run the job, record
 * the end with exactly one run_finished. Returns when the run is terminal
 * or was not ours to run (0), or -1 when it could not be claimed and may
 * still wait for a start. stopping asks it to end the job early. */
int execute_run(struct runs_ctx *rc, const struct jobtypes *types,
                 const char *run_id, const char *entry, volatile sig_atomic_t *stopping);

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
