/* The processes of opstream.fcgi, so that the listening socket outlives
 * any one of them. A keeper (the process that was started) holds the
 * socket and keeps a supervisor alive; the supervisor keeps the responders
 * alive, replacing one that dies at once, and starts a new keeper as its
 * child should the keeper die, which then watches its parent. All hold
 * the socket: while one is replaced, connections wait in the backlog.
 * Signals are taken with sigwait from the set given, blocked already:
 * SIGTERM/SIGINT stop the tree, SIGUSR1 replaces the responders (a
 * reload), SIGCHLD and SIGUSR2 (a parent's death) drive it. */
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

static int responders;
static proctree_responder respond;

/* A new process for one role, given its parent's pid; the child never
 * returns. watch_parent asks for SIGUSR2 when the parent dies, and gives
 * the role 0 for a parent that died already (between fork and prctl). */
static pid_t start_role(const sigset_t *set, int (*role)(const sigset_t *, pid_t), int watch_parent)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
#ifdef __linux__
        if (watch_parent)
            prctl(PR_SET_PDEATHSIG, SIGUSR2);
#endif
        _exit(role(set, !watch_parent || getppid() == parent ? parent : 0));
    }
    if (pid < 0)
        log_error("cannot fork: %s", strerror(errno));
    return pid;
}

void proctree_name(const char *name)
{
#ifdef __linux__
    prctl(PR_SET_NAME, name);
#else
    (void)name;
#endif
}

static int responder_role(const sigset_t *set, pid_t parent)
{
    proctree_name("fcgi-responder");
    return respond(set, parent);
}

/* Restarting a role that cannot even start must not become a fork loop. */
static void pace(int64_t *last_start)
{
    if (clock_mono_ms() - *last_start < 100)
        clock_sleep_ms(100);
    *last_start = clock_mono_ms();
}

static int keeper_role(const sigset_t *set, pid_t supervisor);

/* The supervisor keeps responder_processes responders alive: one that
 * dies (even by SIGKILL) is replaced at once, SIGUSR1 replaces them all
 * (a reload: new ones first, then the old ones stop gracefully), SIGTERM
 * stops them. When its keeper dies (SIGUSR2), it starts a new one. */
static int supervise(const sigset_t *set, pid_t keeper)
{
    int n = responders;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (pids == NULL)
        return 1;
    for (int i = 0; i < n; i++)
        pids[i] = start_role(set, responder_role, 0);
    int64_t last_start = clock_mono_ms();
    pid_t kid = keeper > 0 ? 0 : start_role(set, keeper_role, 1); /* a keeper of its own */
    log_info("supervising %d responder processes", n);
    for (;;) {
        int sig = 0;
        sigwait(set, &sig);
        if (sig == SIGUSR2) {
            log_warn("the keeper died; starting another");
            if (kid <= 0)
                kid = start_role(set, keeper_role, 1);
            continue;
        }
        if (sig == SIGUSR1) {
            log_info("reload: replacing the responders");
            for (int i = 0; i < n; i++) {
                pid_t old = pids[i];
                pids[i] = start_role(set, responder_role, 0);
                if (old > 0)
                    kill(old, SIGTERM);
            }
            continue;
        }
        if (sig != SIGCHLD)
            break;
        pid_t dead;
        int status;
        while ((dead = waitpid(-1, &status, WNOHANG)) > 0) {
            if (dead == kid) {
                log_warn("the keeper %ld died; starting another", (long)dead);
                pace(&last_start);
                kid = start_role(set, keeper_role, 1);
            }
            for (int i = 0; i < n; i++) {
                if (pids[i] != dead)
                    continue;
                if (WIFSIGNALED(status))
                    log_warn("responder %ld killed by signal %d; replacing it", (long)dead,
                             WTERMSIG(status));
                pace(&last_start);
                pids[i] = start_role(set, responder_role, 0);
            }
        }
    }
    if (kid > 0)
        kill(kid, SIGKILL); /* it would start a supervisor when this one ends */
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0)
        ;
    free(pids);
    log_info("stopped");
    return 0;
}

static int supervisor_role(const sigset_t *set, pid_t keeper)
{
    proctree_name("fcgi-supervisor");
    return supervise(set, keeper);
}

/* The keeper holds the listening socket and keeps a supervisor alive, so
 * that the socket outlives any one process: while the supervisor and its
 * responders are replaced, connections wait in the backlog instead of
 * being refused (which web servers turn into 5xx). The first keeper is the
 * process that was started; when it dies, the supervisor starts a new one
 * as its child (supervisor > 0 here), which watches its parent instead of
 * a child of its own. SIGTERM stops the whole tree, SIGUSR1 reloads it. */
static int keeper_role(const sigset_t *set, pid_t supervisor)
{
    pid_t sup = 0;
    int parent_alive = supervisor > 0;
    proctree_name("fcgi-keeper");
    int64_t last_start = clock_mono_ms();
    if (!parent_alive)
        sup = start_role(set, supervisor_role, 1);
    for (;;) {
        int sig = 0;
        sigwait(set, &sig);
        if (sig == SIGCHLD) {
            pid_t dead;
            while ((dead = waitpid(-1, NULL, WNOHANG)) > 0)
                if (dead == sup)
                    sup = 0;
        } else if (sig == SIGUSR2) {
            parent_alive = 0;
        } else if (sig == SIGUSR1) {
            pid_t s = sup > 0 ? sup : parent_alive ? getppid() : 0;
            if (s > 0)
                kill(s, SIGUSR1);
            continue;
        } else {
            if (sup > 0) {
                kill(sup, SIGTERM);
                waitpid(sup, NULL, 0);
            } else if (parent_alive) {
                kill(getppid(), SIGTERM);
            }
            return 0;
        }
        if (sup <= 0 && !parent_alive) {
            log_warn("the supervisor died; starting another");
            pace(&last_start);
            sup = start_role(set, supervisor_role, 1);
        }
    }
}

int proctree_run(const sigset_t *set, int n, proctree_responder fn)
{
    responders = n;
    respond = fn;
    return keeper_role(set, 0);
}
