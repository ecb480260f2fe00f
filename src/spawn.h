#ifndef OPSTREAM_SPAWN_H
#define OPSTREAM_SPAWN_H

#include <sys/types.h>

struct child {
    pid_t pid;    /* also the process group id */
    int in_fd;    /* job's stdin, ours to write */
    int out_fd;   /* job's stdout */
    int err_fd;   /* job's stderr */
    int uid_fd;   /* holds the job's own uid for as long as it is open; -1: none */
};

/* Whom a job of a root worker runs as: a uid no other running job has,
 * from [uid_min, uid_max] (uid_min 0: no range), with a group of the same
 * number; else user, with its HOME ("": the worker's own user). */
struct spawn_as {
    const char *user;
    long uid_min, uid_max;
};

/* The most variables a job's environment holds. */
#define SPAWN_ENV_MAX 96

/* Starts argv in its own process group with pipes on 0, 1, 2 and no other
 * descriptor. argv[0] without a '/' is looked up in dir. env is
 * NULL-terminated "K=V"; with PATH, HOME, LANG and TZ from the worker
 * (PATH has a default) where env does not set them, it is the job's whole
 * environment. Never uses a shell. */
struct job_limits;
/* cwd (NULL: keep) and limits (NULL or 0 fields: keep) apply to the job. */
/* as: see struct spawn_as; NULL keeps the worker's user. */
int spawn_job(const char *const argv[], const char *dir, char *const env[],
              const char *cwd, const struct job_limits *limits, const struct spawn_as *as,
              struct child *out, char *err, size_t errsize);
/* Signals the job's whole process group. */
int spawn_signal(const struct child *c, int sig);
/* Closes the pipes and gives the job's uid back: only once it is reaped. */
void spawn_close(struct child *c);

#endif
