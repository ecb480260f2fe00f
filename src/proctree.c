/* The processes of opstream.fcgi, as nginx has them: one master (the
 * process that was started) holds the listening socket and keeps
 * responder_processes responders alive, replacing one that dies at once;
 * a responder stops (gracefully) when its master dies. The master's own
 * death is its process manager's to handle, and the socket outlives it
 * only where the manager holds it (systemd's socket unit, script/server):
 * connections then wait in the backlog for the next master's responders.
 * Signals are taken with sigwait from the set given, blocked already:
 * SIGTERM/SIGINT stop the tree, SIGUSR1 replaces the responders (a
 * reload), SIGCHLD drives the restarts. */
#define _GNU_SOURCE
#include "proctree.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

void proctree_name(const char *name)
{
#ifdef __linux__
    prctl(PR_SET_NAME, name);
#else
    (void)name;
#endif
}

/* A new responder; the child never returns. */
static pid_t start_responder(const sigset_t *set, proctree_responder fn)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        proctree_name("fcgi-responder");
        _exit(fn(set, master));
    }
    if (pid < 0)
        log_error("cannot fork: %s", strerror(errno));
    return pid;
}

/* Restarting a responder that cannot even start must not become a fork
 * loop. */
static void pace(int64_t *last_start)
{
    if (clock_mono_ms() - *last_start < 100)
        clock_sleep_ms(100);
    *last_start = clock_mono_ms();
}

int proctree_run(const sigset_t *set, int n, proctree_responder fn)
{
    proctree_name("fcgi-master");
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (pids == NULL) {
        log_error("out of memory");
        return 1;
    }
    for (int i = 0; i < n; i++)
        pids[i] = start_responder(set, fn);
    int64_t last_start = clock_mono_ms();
    log_info("master: %d responder processes", n);
    for (;;) {
        int sig = 0;
        sigwait(set, &sig);
        if (sig == SIGUSR1) {
            /* A reload: the new ones first, then the old ones stop. */
            log_info("reload: replacing the responders");
            for (int i = 0; i < n; i++) {
                pid_t old = pids[i];
                pids[i] = start_responder(set, fn);
                if (old > 0)
                    kill(old, SIGTERM);
            }
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
        pid_t dead;
        int status;
        while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] != dead)
                    continue;
                if (WIFSIGNALED(status))
                    log_warn("responder %ld killed by signal %d; replacing it", (long)dead,
                             WTERMSIG(status));
                else
                    log_warn("responder %ld exited with status %d; replacing it", (long)dead,
                             WEXITSTATUS(status));
                pace(&last_start);
                pids[i] = start_responder(set, fn);
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0)
        ;
    free(pids);
    log_info("stopped");
    return 0;
}
