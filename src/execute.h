#ifndef OPSTREAM_EXECUTE_H
#define OPSTREAM_EXECUTE_H

#include <signal.h>

#include "jobtypes.h"
#include "runs.h"

/* How much of stderr the error of a failed run quotes. */
#define STDERR_TAIL_BYTES 2048

/* Takes a queued run through its whole life: start, run the job, record
 * the end with exactly one run_finished. Returns when the run is terminal
 * or was not ours to run. stopping asks it to end the job early. */
void execute_run(struct runs_ctx *rc, const struct jobtypes *types,
                 const char *run_id, volatile sig_atomic_t *stopping);

#endif
