/* opstream-worker: claims queued runs and executes their jobs, all of
 * them supervised from this one process's loop. */
#include "bus.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "execute.h"
#include "jobtypes.h"
#include "log.h"
#include "metrics.h"
#include "runs.h"
#include "startup.h"
#include "store.h"
#include "supervisor.h"
#include "webhook.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
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

/* The jobs under way, whose leases are renewed while Redis is away. */
static struct supervisor *jobs;

/* Connects to Redis, retrying with backoff until it answers or we stop.
 * The jobs waiting meanwhile are alive: their leases say so. */
static struct bus *connect_bus(const struct config *cfg)
{
    int wait_ms = 100;
    char err[CONFIG_ERR_SIZE];
    while (!stopping) {
        if (jobs != NULL)
            supervisor_renew(jobs);
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
    rc->bus = NULL; /* (what runs meanwhile fails, rather than use it) */
    rc->bus = connect_bus(rc->cfg);
    return rc->bus != NULL ? 0 : -1;
}

#define SLOT_RETRY_MS 50
/* Waiting runs of a type a claimed ticket looks at, best first. */
#define PICK_DEPTH 10

enum pick { PICK_START, PICK_NONE, PICK_LATER };

/* Takes the slots a run needs to start: its concurrency key's, then its
 * type's. 1 taken, 0 its key is full, -1 its type is full. */
static int take_slots(struct runs_ctx *rc, const struct jobtype *jt, const struct run *r)
{
    int64_t now = clock_now_ms(), until = now + rc->cfg->lease_ms;
    char slot[KEY_SLOT_SIZE] = "";
    if (jt->max_per_key > 0 && r->concurrency_key[0] != '\0') {
        jobtype_key_slot(jt->name, r->concurrency_key, slot);
        if (bus_slot_take(rc->bus, slot, r->id, jt->max_per_key, now, until) != 1)
            return 0;
    }
    if (jt->max_concurrency > 0 &&
        bus_slot_take(rc->bus, jt->name, r->id, jt->max_concurrency, now, until) != 1) {
        if (slot[0] != '\0')
            bus_slot_free(rc->bus, slot, r->id);
        return -1;
    }
    return 1;
}

/* Tries to start c, a run a ticket looks at: PICK_START with its id in
 * chosen, PICK_LATER when its type is full, PICK_NONE to look further
 * (*key_full set when its key's slots were the reason). A run met that
 * can never start leaves the waiting set; one past its expiry ends
 * expired. */
static enum pick try_run(struct runs_ctx *rc, const struct jobtype *jt, const struct run *c,
                         int64_t now, int *key_full)
{
    if (c->status != RUN_QUEUED) {
        bus_waiting_remove(rc->bus, jt->name, c->id);
        return PICK_NONE;
    }
    if (c->start_at > now)
        return PICK_NONE; /* not due: its promotion puts it among the waiting */
    if (c->expires_at != 0 && c->started_at == 0 && now >= c->expires_at) {
        runs_expire(rc, c->id);
        bus_waiting_remove(rc->bus, jt->name, c->id);
        return PICK_NONE;
    }
    if (bus_pick(rc->bus, c->id, rc->cfg->lease_ms) != 1)
        return PICK_NONE;
    int t = take_slots(rc, jt, c);
    *key_full |= t == 0;
    if (t != 1) {
        bus_unpick(rc->bus, c->id); /* it waits on: another may start it */
        return t < 0 ? PICK_LATER : PICK_NONE;
    }
    bus_waiting_remove(rc->bus, jt->name, c->id);
    return PICK_START;
}

/* What a claimed ticket starts: the best waiting run of its type that
 * may start now (often, not always, its own), looked at best first: the
 * top PICK_DEPTH of its type's waiting set, with its own run at its place
 * by score (a ticket can always start its own, whatever the waiting set
 * holds). Each is read from the ledger only when its turn comes; the one
 * to start is handed over in *chosen, as read. */
static enum pick pick_run(struct runs_ctx *rc, const struct jobtypes *types, const char *ticket_run,
                          struct run *chosen)
{
    struct run own;
    if (store_run_get(rc->st, ticket_run, &own) != 0)
        return PICK_NONE;
    const struct jobtype *jt = jobtypes_find(types, own.type);
    if (jt == NULL) { /* execute_start ends it: unknown_type */
        *chosen = own;
        return PICK_START;
    }
    char ids[PICK_DEPTH][ID_SIZE];
    int n = bus_waiting_top(rc->bus, own.type, PICK_DEPTH, ids), key_full = 0, own_done = 0;
    for (int i = 0; i < n; i++)
        own_done |= strcmp(ids[i], own.id) == 0; /* tried at its place in the set */
    enum pick res = PICK_NONE;
    int64_t now = clock_now_ms();
    for (int i = 0; i <= n && res == PICK_NONE; i++) {
        struct run c = {0};
        int is_own = i < n && strcmp(ids[i], own.id) == 0;
        if (i < n && !is_own && store_run_get(rc->st, ids[i], &c) != 0) {
            bus_waiting_remove(rc->bus, own.type, ids[i]); /* deleted meanwhile */
            continue;
        }
        struct run *cand = is_own ? &own : &c;
        if (!own_done && (i == n || runs_queue_score(cand) < runs_queue_score(&own))) {
            own_done = 1;
            if ((res = try_run(rc, jt, &own, now, &key_full)) == PICK_START)
                cand = &own;
        }
        if (i < n && res == PICK_NONE)
            res = try_run(rc, jt, cand, now, &key_full);
        if (res == PICK_START) {
            *chosen = *cand; /* moved: cleared by the caller */
            *cand = (struct run){0};
        }
        run_clear(&c);
    }
    run_clear(&own);
    return res == PICK_NONE && key_full ? PICK_LATER : res;
}

/* Webhook deliveries under way, each in a process of its own: the loop
 * never waits on a receiver. */
#define DELIVERERS_MAX 4
#define BACKOFF_MAX_MS (3600 * 1000)
static pid_t deliverers[DELIVERERS_MAX];

/* The wait before attempt n + 1: backoff doubled after each failure. */
static int64_t backoff_ms(const struct config *cfg, int n)
{
    int64_t ms = cfg->webhook_backoff_ms;
    for (int i = 1; i < n && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* One attempt, recorded on the run: then the webhook is done (delivered,
 * or given up after webhook_max_attempts), or due again after its
 * backoff. A deliverer that dies leaves it taken until its lease ends. */
static int deliver_one(const struct config *cfg, const char *run_id)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    metrics_init("opstream-worker"); /* the worker's counts are not ours to report */
    char err[CONFIG_ERR_SIZE], secret[HASH_HEX_SIZE];
    struct store *st = store_open(cfg->database, err, sizeof err);
    struct bus *b = st ? bus_connect(cfg, 5000, err, sizeof err) : NULL;
    struct run r;
    if (b == NULL || store_run_get(st, run_id, &r) != 0) {
        log_run(LOG_WARN, run_id, "webhook not attempted: %s", b == NULL ? err : "the run cannot be read");
        bus_free(b);
        store_close(st);
        return 1;
    }
    log_run_known(r.id, r.owner, r.request_id);
    if (r.webhook_state != WEBHOOK_PENDING) {
        bus_webhook_done(b, run_id);
    } else if (store_webhook_secret(st, secret) == 0) {
        int n = (int)json_array_size(r.webhook_attempts) + 1;
        json_t *view = runs_to_json(&r, cfg, cfg->base_path, NULL, clock_now_ms());
        char *body = json_dumps(view, JSON_COMPACT);
        struct webhook_attempt a = {.at_ms = clock_now_ms()};
        snprintf(a.error, sizeof a.error, "the run could not be encoded");
        int ok = body != NULL && webhook_deliver(cfg, r.webhook, secret, r.id, n, body, &a);
        enum webhook_state state = ok ? WEBHOOK_DELIVERED
                                   : n >= cfg->webhook_max_attempts ? WEBHOOK_GIVEN_UP
                                                                    : WEBHOOK_PENDING;
        char at[CLOCK_RFC3339_SIZE];
        clock_rfc3339(a.at_ms, at, sizeof at);
        json_t *rec = json_pack("{s:i, s:s, s:o, s:o, s:I}", "attempt", n, "at", at,
                                "status", a.status ? json_integer(a.status) : json_null(),
                                "error", a.error[0] ? json_string(a.error) : json_null(),
                                "duration_ms", (json_int_t)a.duration_ms);
        if (body != NULL && store_webhook_attempt(st, run_id, rec, state) >= 0) {
            if (state != WEBHOOK_PENDING)
                bus_webhook_done(b, run_id);
            else
                bus_webhook_later(b, run_id, clock_now_ms() + backoff_ms(cfg, n));
        }
        log_run(LOG_INFO, run_id, "webhook attempt %d: %s", n,
                ok ? webhook_state_name(WEBHOOK_DELIVERED) : a.error[0] ? a.error : "not acknowledged");
        metrics_count("opstream_webhook_deliveries_total",
                      ok ? "state=\"delivered\""
                      : state == WEBHOOK_GIVEN_UP ? "state=\"given_up\"" : "state=\"failed\"", 1);
        metrics_report(b);
        json_decref(rec);
        json_decref(view);
        free(body);
    }
    run_clear(&r);
    bus_free(b);
    store_close(st);
    return 0;
}

/* Starts deliveries that are due while there is room for them; *next_ms
 * as for schedule_due. */
static void deliver_due(struct runs_ctx *rc, int64_t *next_ms)
{
    for (int i = 0; i < DELIVERERS_MAX; i++)
        if (deliverers[i] != 0 && waitpid(deliverers[i], NULL, WNOHANG) == deliverers[i])
            deliverers[i] = 0;
    *next_ms = 0;
    for (int i = 0; i < DELIVERERS_MAX; i++) {
        if (deliverers[i] != 0)
            continue;
        char run_id[ID_SIZE];
        int64_t now = clock_now_ms();
        /* Held for an attempt and its bookkeeping; then due again. */
        int64_t lease = now + rc->cfg->webhook_timeout_ms + rc->cfg->lease_ms;
        if (bus_webhook_take(rc->bus, now, lease, run_id, next_ms) != 1)
            return;
        pid_t pid = fork();
        if (pid == 0) {
            /* No job's pipe or uid: held here, they would keep the job
             * from seeing its end, or its uid taken after it. */
            supervisor_forget(jobs);
            _exit(deliver_one(rc->cfg, run_id));
        }
        if (pid < 0)
            return; /* due again when its lease ends */
        deliverers[i] = pid;
    }
}

/* The timed part of the queue: delayed runs that are due go onto it, and
 * queued runs past their expiry end; due webhooks are sent. *next_ms is
 * when something is due next (0: nothing), so the claim's wait ends then. */
static void schedule_due(struct runs_ctx *rc, int64_t *next_ms)
{
    int64_t now = clock_now_ms(), next_start = 0, next_expiry = 0, next_hook = 0;
    if (bus_promote(rc->bus, now, &next_start) < 0)
        next_start = 0;
    char run_id[ID_SIZE];
    for (int i = 0; i < 100 && bus_expiry_take(rc->bus, now, run_id, &next_expiry) == 1; i++)
        if (crypto_id_valid(run_id) && runs_expire(rc, run_id) < 0)
            log_run(LOG_WARN, run_id, "could not be expired; it is when next claimed");
    deliver_due(rc, &next_hook);
    int64_t due[] = {next_start, next_expiry, next_hook};
    *next_ms = 0;
    for (size_t i = 0; i < sizeof due / sizeof due[0]; i++)
        if (due[i] != 0 && (*next_ms == 0 || due[i] < *next_ms))
            *next_ms = due[i];
}

/* Room for every job's descriptors (three pipes, a pidfd, a uid): the
 * soft limit raised as far as the hard one allows (root may raise that
 * too). How many jobs fit: jobs_max, or fewer, with a warning, when the
 * limit cannot be raised far enough. */
#define FDS_PER_JOB 5
#define FDS_SPARE 64
static int fit_fd_limit(int jobs_max)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)jobs_max * FDS_PER_JOB + FDS_SPARE;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return jobs_max;
    struct rlimit more = {want, rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? want : rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
        return jobs_max;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want)
        return jobs_max;
    int fit = rl.rlim_cur > FDS_SPARE + FDS_PER_JOB ? (int)((rl.rlim_cur - FDS_SPARE) / FDS_PER_JOB) : 1;
    log_warn("worker_jobs = %d needs %lu descriptors, and the limit is %lu (LimitNOFILE, "
             "ulimit -n): up to %d runs at once", jobs_max, (unsigned long)want,
             (unsigned long)rl.rlim_cur, fit);
    return fit;
}

/* Starts the run a ticket picked; its entry is acknowledged once the
 * claim is in the ledger. A run that could not be claimed may still wait,
 * with this entry its only ticket: the entry stays pending, to be
 * reclaimed after a lease and a half, and the pick goes now. */
static void start(struct runs_ctx *rc, const struct jobtypes *types, const struct run *r,
                  const char *entry)
{
    struct job *j;
    int started = execute_start(rc, types, r, entry, &j);
    if (started == 1) {
        supervisor_add(jobs, j);
    } else if (started == 0) {
        bus_ack(rc->bus, entry);
    } else {
        log_run(LOG_WARN, r->id, "could not be claimed; its queue entry %s is taken again later", entry);
        bus_unpick(rc->bus, r->id);
    }
}

static struct config *worker_cfg;

/* This worker's gauges, for its metrics reports. */
static void worker_gauges(char *out, size_t size, void *ctx)
{
    (void)ctx;
    metrics_gauge(out, size, "opstream_worker_slots", "worker", worker_cfg->worker_jobs);
    metrics_gauge(out, size, "opstream_worker_slots_in_use", "worker",
                  jobs != NULL ? supervisor_count(jobs) : 0);
}

/* While jobs run, the queue is asked without waiting and the jobs' loop
 * waits this long instead: how soon a new run starts on a busy worker. */
#define CLAIM_IDLE_MS 10

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
    if (geteuid() == 0 && cfg.job_uid_min == 0 && cfg.job_user[0] == '\0')
        log_warn("running as root with job_uid_range and job_user empty: jobs run as root and "
                 "can read the database, the config and Redis");
    else if (geteuid() == 0 && cfg.job_uid_min == 0)
        log_warn("job_uid_range is empty: the jobs of every run share the user %s and can "
                 "signal and trace one another", cfg.job_user);
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
    cfg.worker_jobs = fit_fd_limit(cfg.worker_jobs);
    worker_cfg = &cfg;
    metrics_init("opstream-worker");
    metrics_set_gauges(worker_gauges, NULL);
    int64_t reported = 0;
    struct runs_ctx rc = {.cfg = &cfg, .st = st, .reconnect = reconnect, .defer_archive = 1};
    rc.bus = connect_bus(&cfg);
    jobs = supervisor_new(&rc, cfg.worker_jobs);
    if (rc.bus != NULL && jobs != NULL)
        log_info("ready as %s (%zu job types, up to %d runs at once)", consumer, types.n,
                 cfg.worker_jobs);
    int64_t recovered = 0, check_at = 0;
    int reclaim = 0;
    char server[BUS_SERVER_SIZE] = "";
    int64_t requeue_at = 0; /* 0: none to do */
    while (!stopping && rc.bus != NULL && jobs != NULL) {
        /* Redis came back as another process (a restart, a failover),
         * which may lack the last queue entries: every queued run goes
         * on the queue again, tried again each half lease until done. */
        const char *now_server = bus_server(rc.bus);
        if (strcmp(server, now_server) != 0) {
            if (server[0] != '\0')
                requeue_at = clock_mono_ms();
            snprintf(server, sizeof server, "%s", now_server);
        }
        if (requeue_at != 0 && clock_mono_ms() >= requeue_at) {
            int n = execute_requeue(&rc);
            if (n >= 0)
                log_warn("redis is another process now: %d queued runs put on the queue again", n);
            else
                log_warn("redis is another process now: not every queued run could be put on "
                         "the queue again; retrying");
            requeue_at = n >= 0 ? 0 : clock_mono_ms() + cfg.lease_ms / 2;
        }
        if (clock_mono_ms() - recovered >= cfg.lease_ms / 2) {
            execute_recover(&rc, &types);
            /* Consumers gone for ten leases, and what all have acknowledged. */
            bus_queue_tidy(rc.bus, consumer, 10 * cfg.lease_ms);
            recovered = clock_mono_ms();
            reclaim = 1;
        }
        /* Due starts and expiries, whether or not a slot is free here:
         * when one is due, and at least every poll. */
        int poll_ms = cfg.worker_poll_ms < cfg.lease_ms / 2 ? cfg.worker_poll_ms : cfg.lease_ms / 2;
        int64_t now = clock_now_ms();
        if (now >= check_at) {
            int64_t next_due;
            schedule_due(&rc, &next_due);
            check_at = now + poll_ms;
            if (next_due != 0 && next_due < check_at)
                check_at = next_due;
        }
        if (clock_mono_ms() - reported >= METRICS_REPORT_MS) {
            metrics_report(rc.bus);
            reported = clock_mono_ms();
        }
        int busy = supervisor_count(jobs);
        supervisor_run(jobs, 0, 0);
        if (busy == cfg.worker_jobs) {
            supervisor_run(jobs, CLAIM_IDLE_MS, 0); /* every slot taken: the next claim waits for one */
            continue;
        }
        char run_id[ID_SIZE], entry[EVENT_ID_SIZE];
        int64_t until_due = check_at - clock_now_ms();
        if (until_due < poll_ms)
            poll_ms = until_due > 1 ? (int)until_due : 1;
        /* An entry read by a worker that died before its claim reached the
         * ledger is pending under that worker: after a lease and a half, it
         * is ours. (Its reader's pick lasts a lease from a moment after the
         * read: taken over sooner, the pick could still stand, and the
         * ticket would be spent with its run left waiting.) */
        int r = reclaim ? bus_reclaim(rc.bus, consumer, cfg.lease_ms + cfg.lease_ms / 2, run_id, entry)
                        : 0;
        if (r == 1) {
            log_warn("queue entry %s: its reader stopped before claiming it; taken over", entry);
        } else if (r == 0) {
            reclaim = 0; /* none left: new entries until the next round */
            /* With jobs to look after, the queue is not waited on. */
            r = bus_claim(rc.bus, consumer, supervisor_count(jobs) > 0 ? 0 : poll_ms, run_id, entry);
        }
        if (r < 0) {
            log_warn("queue read failed; reconnecting");
            reconnect(&rc);
            continue;
        }
        if (r == 0) {
            supervisor_run(jobs, CLAIM_IDLE_MS, 0);
            continue;
        }
        if (!crypto_id_valid(run_id)) {
            log_warn("queue entry %s names no valid run; dropped", entry);
            bus_ack(rc.bus, entry);
            continue;
        }
        struct run chosen = {0};
        enum pick p = pick_run(&rc, &types, run_id, &chosen);
        if (p == PICK_LATER) {
            /* Its type (or every key waiting) is at its limit everywhere:
             * the ticket goes back, after a pause so the workers do not
             * spin on it. */
            supervisor_run(jobs, SLOT_RETRY_MS, 0);
            if (bus_ticket(rc.bus, run_id) == 0)
                bus_ack(rc.bus, entry);
            continue;
        }
        if (p == PICK_NONE) {
            bus_ack(rc.bus, entry); /* nothing left to start: a spent ticket */
            continue;
        }
        start(&rc, &types, &chosen, entry);
        run_clear(&chosen);
    }
    /* Stopping: claim nothing more, let the runs finish for the grace
     * period, then have the jobs hand the rest back to the queue. */
    int64_t until = clock_mono_ms() + cfg.shutdown_grace_ms;
    while (jobs != NULL && supervisor_count(jobs) > 0)
        supervisor_run(jobs, 20, clock_mono_ms() >= until);
    supervisor_free(jobs);
    jobs = NULL;
    runs_flush(&rc);
    free(rc.pending);
    metrics_set_gauges(NULL, NULL); /* gone: its gauges go stale */
    metrics_report(rc.bus);
    log_info("stopping");
    bus_free(rc.bus);
    store_close(st);
    jobtypes_free(&types);
    return 0;
}
