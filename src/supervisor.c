/* The jobs of one worker, supervised from one loop. Each job costs its
 * struct job and a few descriptors (three pipes, a pidfd); the loop's
 * Redis and ledger connections are shared by all of them. */
#include "supervisor.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* How often every job's deadlines are looked at, and bells read. */
#define TICK_MS 100
/* Events handled per wait. */
#define EVENTS_MAX 256
/* Bells read per tick; older bells than this are stale: their run ended
 * or its worker died (recovery clears what it held). */
#define BELLS_MAX 1000
#define BELL_STALE_MS 60000
#define RENEW_RETRY_MS 250    /* a failed lease renewal is tried again this soon */

struct slot {
    struct job *job;            /* NULL: free */
    int fd[JOB_FDS];            /* what the epoll set watches for it; -1: nothing */
};

struct supervisor {
    struct runs_ctx *rc;
    int epfd;
    struct slot *slots;
    int max, n;
    int *free;                  /* free slot numbers, a stack */
    int nfree;
    const char **ids;           /* scratch: the runs whose leases are renewed */
    char (*bells)[ID_SIZE];     /* scratch: the runs whose bell rang, BELLS_MAX */
    int64_t ticked_ms;
    int64_t renew_at_ms;        /* when the leases are next renewed */
    int renew_failing;          /* the last renewal failed: said once per outage */
};

struct supervisor *supervisor_new(struct runs_ctx *rc, int max)
{
    struct supervisor *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->rc = rc;
    s->max = max;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->slots = calloc((size_t)max, sizeof *s->slots);
    s->free = calloc((size_t)max, sizeof *s->free);
    s->ids = calloc((size_t)max, sizeof *s->ids);
    s->bells = calloc(BELLS_MAX, sizeof *s->bells);
    if (s->epfd < 0 || s->slots == NULL || s->free == NULL || s->ids == NULL || s->bells == NULL) {
        supervisor_free(s);
        return NULL;
    }
    for (int i = 0; i < max; i++) {
        s->free[s->nfree++] = max - 1 - i;
        for (int k = 0; k < JOB_FDS; k++)
            s->slots[i].fd[k] = -1;
    }
    s->renew_at_ms = clock_mono_ms() + rc->cfg->lease_ms / 3;
    return s;
}

/* Brings the epoll set level with what the job wants watched now. */
static void sync_fds(struct supervisor *s, int i)
{
    struct slot *sl = &s->slots[i];
    for (int k = 0; k < JOB_FDS; k++) {
        int want = sl->job != NULL ? execute_fd(sl->job, (enum job_fd)k) : -1;
        if (sl->fd[k] == want)
            continue;
        /* Removed before its descriptor closes: a copy of it in another
         * process (a webhook deliverer) would keep it in the set. */
        if (sl->fd[k] >= 0)
            epoll_ctl(s->epfd, EPOLL_CTL_DEL, sl->fd[k], NULL);
        sl->fd[k] = -1;
        if (want < 0)
            continue;
        struct epoll_event ev = {.events = k == JOB_STDIN ? EPOLLOUT : EPOLLIN,
                                 .data.u64 = (uint64_t)i * JOB_FDS + (uint64_t)k};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, want, &ev) == 0)
            sl->fd[k] = want;
        else
            log_run(LOG_WARN, execute_run_id(sl->job),
                    "cannot watch a descriptor of its job (%s); tried again", strerror(errno));
    }
}

static void drop(struct supervisor *s, int i)
{
    struct job *j = s->slots[i].job;
    s->slots[i].job = NULL;
    sync_fds(s, i);
    execute_free(j);
    s->free[s->nfree++] = i;
    s->n--;
}

/* After anything that happened to the job at slot i. */
static void settle(struct supervisor *s, int i, int stopping)
{
    if (execute_tick(s->slots[i].job, stopping) == 1)
        drop(s, i);
    else
        sync_fds(s, i);
}

void supervisor_free(struct supervisor *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->slots != NULL && i < s->max; i++)
        if (s->slots[i].job != NULL)
            drop(s, i);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s->slots);
    free(s->free);
    free(s->ids);
    free(s->bells);
    free(s);
}

int supervisor_count(const struct supervisor *s)
{
    return s->n;
}

void supervisor_add(struct supervisor *s, struct job *j)
{
    int i = s->free[--s->nfree];
    s->slots[i].job = j;
    s->n++;
    settle(s, i, 0);
}

void supervisor_renew(struct supervisor *s)
{
    const struct config *cfg = s->rc->cfg;
    if (clock_mono_ms() < s->renew_at_ms)
        return;
    int n = 0;
    for (int i = 0; i < s->max && n < s->n; i++)
        if (s->slots[i].job != NULL && execute_leased(s->slots[i].job))
            s->ids[n++] = execute_run_id(s->slots[i].job);
    int64_t until = clock_now_ms() + cfg->lease_ms;
    if (store_runs_lease(s->rc->st, s->ids, n, until) != 0) {
        if (!s->renew_failing)
            log_warn("%d leases could not be renewed; trying again every %d ms", n, RENEW_RETRY_MS);
        s->renew_failing = 1;
        s->renew_at_ms = clock_mono_ms() + RENEW_RETRY_MS;
        return;
    }
    if (s->renew_failing)
        log_info("leases renewed again");
    s->renew_failing = 0;
    s->renew_at_ms = clock_mono_ms() + cfg->lease_ms / 3;
    for (int i = 0; i < s->max; i++)
        if (s->slots[i].job != NULL && execute_leased(s->slots[i].job))
            execute_renewed(s->slots[i].job, until);
}

static int find(const struct supervisor *s, const char *run_id)
{
    for (int i = 0; i < s->max; i++)
        if (s->slots[i].job != NULL && strcmp(execute_run_id(s->slots[i].job), run_id) == 0)
            return i;
    return -1;
}

/* The control messages of the runs whose bell rang, if they are ours. */
static void answer_bells(struct supervisor *s)
{
    char (*ids)[ID_SIZE] = s->bells;
    struct bus *b = s->rc->bus;
    int n = bus_control_ready(b, clock_now_ms() - BELL_STALE_MS, ids, BELLS_MAX);
    /* A broken connection must not pass for no bells for ever (a quiet
     * worker, every slot taken, asks Redis nothing else). */
    if (n < 0 && s->rc->reconnect != NULL && s->rc->reconnect(s->rc) == 0) {
        b = s->rc->bus;
        n = bus_control_ready(b, clock_now_ms() - BELL_STALE_MS, ids, BELLS_MAX);
    }
    for (int k = 0; k < n; k++) {
        int i = find(s, ids[k]);
        if (i < 0 || bus_control_taken(b, ids[k]) != 0)
            continue;
        char *msg;
        while (s->slots[i].job != NULL && bus_control_pop(b, ids[k], &msg) == 1) {
            execute_control(s->slots[i].job, msg);
            free(msg);
        }
        if (s->slots[i].job != NULL)
            settle(s, i, 0);
    }
}

void supervisor_run(struct supervisor *s, int wait_ms, int stopping)
{
    struct epoll_event ev[EVENTS_MAX];
    int n = epoll_wait(s->epfd, ev, EVENTS_MAX, wait_ms);
    for (int k = 0; k < n; k++) {
        int i = (int)(ev[k].data.u64 / JOB_FDS);
        enum job_fd which = (enum job_fd)(ev[k].data.u64 % JOB_FDS);
        /* (A job dropped earlier in this batch leaves its slot empty, or
         * taken by none: its events are stale.) */
        if (i >= s->max || s->slots[i].job == NULL || s->slots[i].fd[which] < 0)
            continue;
        execute_ready(s->slots[i].job, which);
        settle(s, i, stopping);
    }
    int64_t now = clock_mono_ms();
    if (s->n > 0 && (now - s->ticked_ms >= TICK_MS || stopping)) {
        s->ticked_ms = now;
        for (int i = 0; i < s->max; i++)
            if (s->slots[i].job != NULL)
                settle(s, i, stopping);
        if (s->n > 0)
            answer_bells(s);
    }
    if (s->n > 0)
        supervisor_renew(s);
    /* The round's events, archived together. */
    runs_flush(s->rc);
}

void supervisor_forget(struct supervisor *s)
{
    if (s == NULL)
        return;
    close(s->epfd);
    for (int i = 0; i < s->max; i++)
        if (s->slots[i].job != NULL)
            execute_forget(s->slots[i].job);
}
