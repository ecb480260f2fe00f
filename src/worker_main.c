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
#include <unistd.h>

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

/* Connects to Redis, retrying with backoff until it answers or we stop. */
static struct bus *connect_bus(const struct config *cfg)
{
    int wait_ms = 100;
    char err[CONFIG_ERR_SIZE];
    while (!stopping) {
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
    rc->bus = connect_bus(rc->cfg);
    return rc->bus != NULL ? 0 : -1;
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
    rc.bus = connect_bus(&cfg);
    if (rc.bus != NULL)
        log_info("ready as %s (%zu job types)", consumer, types.n);
    while (!stopping && rc.bus != NULL) {
        char run_id[ID_SIZE], entry[EVENT_ID_SIZE];
        int r = bus_claim(rc.bus, consumer, cfg.worker_poll_ms, run_id, entry);
        if (r < 0) {
            log_warn("queue read failed; reconnecting");
            reconnect(&rc);
            continue;
        }
        if (r == 0)
            continue;
        if (crypto_id_valid(run_id))
            execute_run(&rc, &types, run_id, &stopping);
        else
            log_warn("queue entry %s names no valid run; dropped", entry);
        if (rc.bus != NULL)
            bus_ack(rc.bus, entry);
    }
    log_info("stopping");
    bus_free(rc.bus);
    store_close(st);
    jobtypes_free(&types);
    return 0;
}
