#ifndef OPSTREAM_PROCTREE_H
#define OPSTREAM_PROCTREE_H

#include <signal.h>
#include <sys/types.h>

/* A responder process's work: returns its exit status. master is the
 * process that forked it, for a check that it still lives. */
typedef int (*proctree_responder)(const sigset_t *set, pid_t master);

/* Becomes the master of n responders running fn (see proctree.c), until
 * SIGTERM or SIGINT; returns the exit status. */
int proctree_run(const sigset_t *set, int n, proctree_responder fn);

/* Names this process for ps ("fcgi-master", "fcgi-responder"). */
void proctree_name(const char *name);

#endif
