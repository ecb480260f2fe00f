/* opstream-worker: claims queued runs and executes their job. */
#include "bus.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "execute.h"
#include "jobtypes.h"
#include "log.h"
#include "runs.h"
#include "startup.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: opstream-worker [-c CONFIG]\n"
               "Claims queued runs and executes their job type's command.\n"
               "  -c FILE    config file (default: $OPSTREAM_CONF or %s)\n"
               "  --help, --version\n", config_default_path());
}

/* Connects to Redis, retrying with backoff until it answers or we stop.
 * A runner waiting meanwhile is alive: rc->lease_run's lease says so. */
static struct bus *connect_bus(const struct config *cfg, struct runs_ctx *rc)
{
    int wait_ms = 100;
    char err[CONFIG_ERR_SIZE];
    while (!stopping) {
        if (rc != NULL && rc->lease_run != NULL)
            store_run_lease(rc->st, rc->lease_run, clock_now_ms() + cfg->lease_ms, 0);
        struct bus *b = bus_connect(cfg, 5000, err, sizeof err);
        if (b != NULL && bus_queue_init(b) == 0)
            return b;
        bus_free(b);
        log_warn("%s; retrying in %d ms", b ? "cannot create the queue group" : err, wait_ms);
        clock_sleep_ms(wait_ms);
        wait_ms = wait_ms < 5000 ? wait_ms * 2 : 5000;
    }
    return NULL;
}

/* runs_ctx.reconnect for the worker: wait for Redis as long as it takes,
 * unless the worker is being stopped. */
static int reconnect(struct runs_ctx *rc)
{
    bus_free(rc->bus);
    rc->bus = connect_bus(rc->cfg, rc);
    return rc->bus != NULL ? 0 : -1;
}

#define SLOT_RETRY_MS 50

/* Takes a slot of the run's type when the type limits its concurrency.
 * 1 when the run may start now (also when it is no longer queued: the
 * runner then just lets it be). */
static int slot_free(struct runs_ctx *rc, const struct jobtypes *types, const char *run_id)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return 1;
    const struct jobtype *jt = jobtypes_find(types, r.type);
    int ok = 1;
    if (jt != NULL && jt->max_concurrency > 0 && r.status == RUN_QUEUED) {
        int64_t now = clock_now_ms();
        ok = bus_slot_take(rc->bus, jt->name, run_id, jt->max_concurrency, now,
                           now + rc->cfg->lease_ms) == 1;
    }
    run_clear(&r);
    return ok;
}

/* One claimed run being executed by a runner process. */
struct runner {
    pid_t pid;
    char entry[EVENT_ID_SIZE];  /* its queue entry, acknowledged when done */
};

/* A runner: one run, in a process of its own with its own connections,
 * so runs never wait for each other and a crash takes only one. It dies
 * with its worker; the run's lease then tells the others. */
static int run_one(const struct config *cfg, const struct jobtypes *types, const char *run_id,
                   const char *entry)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    /* A runner stops when its worker says so (SIGUSR1, after the grace
     * period), not on the terminal's Ctrl-C or a SIGTERM to the group. */
    stopping = 0;
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGUSR1, &sa, NULL);
    char err[CONFIG_ERR_SIZE];
    struct runs_ctx rc = {.cfg = cfg, .reconnect = reconnect, .lease_run = run_id};
    rc.st = store_open(cfg->database, err, sizeof err);
    rc.bus = rc.st ? connect_bus(cfg, &rc) : NULL;
    if (rc.st == NULL || rc.bus == NULL) {
        log_error("run %s: %s", run_id, rc.st ? "redis unreachable" : err);
        return 1;
    }
    execute_run(&rc, types, run_id, entry, &stopping);
    bus_free(rc.bus);
    store_close(rc.st);
    return 0;
}

static void start_runner(const struct config *cfg, const struct jobtypes *types,
                         struct runner *runners, int n, const char *run_id, const char *entry)
{
    int slot = 0;
    while (slot < n && runners[slot].pid != 0)
        slot++;
    pid_t pid = fork();
    if (pid == 0) {
        free(runners); /* the worker's table, not the runner's */
        _exit(run_one(cfg, types, run_id, entry));
    }
    if (pid < 0) {
        log_error("cannot fork a runner for %s", run_id);
        return; /* left pending: recovery picks it up */
    }
    runners[slot].pid = pid;
    snprintf(runners[slot].entry, sizeof runners[slot].entry, "%s", entry);
}

/* Collects finished runners (all of them, waiting, when all is set) and
 * acknowledges their queue entries; returns how many still run. */
static int reap(struct runs_ctx *rc, struct runner *runners, int n, int all)
{
    int busy = 0;
    for (int i = 0; i < n; i++) {
        if (runners[i].pid == 0)
            continue;
        if (waitpid(runners[i].pid, NULL, all ? 0 : WNOHANG) == runners[i].pid) {
            bus_ack(rc->bus, runners[i].entry);
            runners[i].pid = 0;
        } else {
            busy++;
        }
    }
    return busy;
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    for (int i = 1; i < argc; i++) {
        enum startup_flag f = startup_flag("opstream-worker", argc, argv, &i, &conf, usage);
        if (f == FLAG_EXIT)
            return 0;
        if (f == FLAG_OTHER) {
            usage(stderr);
            return 2;
        }
    }
    struct config cfg;
    char err[CONFIG_ERR_SIZE];
    if (startup("opstream-worker", conf, &cfg) != 0)
        return 1;
    if (geteuid() == 0 && cfg.job_user[0] == '\0')
        log_warn("running as root with job_user empty: jobs run as root and can read "
                 "the database, the config and Redis");
    struct jobtypes types;
    if (jobtypes_load(cfg.jobtypes_dir, &types, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    struct store *st = store_open(cfg.database, err, sizeof err);
    if (st == NULL) {
        log_error("%s", err);
        jobtypes_free(&types);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char consumer[128], host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(consumer, sizeof consumer, "%s:%ld", host, (long)getpid());
    struct runs_ctx rc = {.cfg = &cfg, .st = st, .reconnect = reconnect};
    rc.bus = connect_bus(&cfg, NULL);
    struct runner *runners = calloc((size_t)cfg.worker_jobs, sizeof *runners);
    if (rc.bus != NULL && runners != NULL)
        log_info("ready as %s (%zu job types, up to %d runs at once)", consumer, types.n,
                 cfg.worker_jobs);
    int64_t recovered = 0;
    int reclaim = 0;
    while (!stopping && rc.bus != NULL && runners != NULL) {
        if (clock_mono_ms() - recovered >= cfg.lease_ms / 2) {
            execute_recover(&rc, &types);
            /* Consumers gone for ten leases, and what all have acknowledged. */
            bus_queue_tidy(rc.bus, consumer, 10 * cfg.lease_ms);
            recovered = clock_mono_ms();
            reclaim = 1;
        }
        int busy = reap(&rc, runners, cfg.worker_jobs, 0);
        if (busy == cfg.worker_jobs) {
            clock_sleep_ms(20); /* every slot taken: the next claim waits for one */
            continue;
        }
        char run_id[ID_SIZE], entry[EVENT_ID_SIZE];
        int poll_ms = cfg.worker_poll_ms < cfg.lease_ms / 2 ? cfg.worker_poll_ms : cfg.lease_ms / 2;
        /* An entry read by a worker that died before its claim reached the
         * ledger is pending under that worker: after a lease, it is ours. */
        int r = reclaim ? bus_reclaim(rc.bus, consumer, cfg.lease_ms, run_id, entry) : 0;
        if (r == 1) {
            log_warn("queue entry %s: its reader stopped before claiming it; taken over", entry);
        } else if (r == 0) {
            reclaim = 0; /* none left: new entries until the next round */
            r = bus_claim(rc.bus, consumer, poll_ms, run_id, entry);
        }
        if (r < 0) {
            log_warn("queue read failed; reconnecting");
            reconnect(&rc);
            continue;
        }
        if (r == 0)
            continue;
        if (!crypto_id_valid(run_id)) {
            log_warn("queue entry %s names no valid run; dropped", entry);
            bus_ack(rc.bus, entry);
            continue;
        }
        if (!slot_free(&rc, &types, run_id)) {
            /* Its type is at max_concurrency everywhere: back to the queue,
             * after a pause so the workers do not spin on it. */
            clock_sleep_ms(SLOT_RETRY_MS);
            if (bus_enqueue(rc.bus, run_id) == 0)
                bus_ack(rc.bus, entry);
            continue;
        }
        start_runner(&cfg, &types, runners, cfg.worker_jobs, run_id, entry);
    }
    /* Stopping: claim nothing more, let the runs finish for the grace
     * period, then have the runners hand the rest back to the queue. */
    int64_t until = clock_mono_ms() + cfg.shutdown_grace_ms;
    while (runners != NULL && reap(&rc, runners, cfg.worker_jobs, 0) > 0 && clock_mono_ms() < until)
        clock_sleep_ms(20);
    for (int i = 0; runners != NULL && i < cfg.worker_jobs; i++)
        if (runners[i].pid != 0)
            kill(runners[i].pid, SIGUSR1);
    if (runners != NULL)
        reap(&rc, runners, cfg.worker_jobs, 1);
    free(runners);
    log_info("stopping");
    bus_free(rc.bus);
    store_close(st);
    jobtypes_free(&types);
    return 0;
}
