/* One run, start to end. The job's stdout and stderr are read line by
 * line with poll(); its stdin is written without blocking, so neither a
 * chatty nor a silent job can stall the worker. */
#include "execute.h"
#include "clock.h"
#include "log.h"
#include "protocol.h"
#include "schema.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_SLICE_MS 100

struct linebuf {
    char *buf;          /* job_line_max_bytes */
    size_t len;
    int skipping;       /* inside the rest of a line already cut */
    int open;
    int from_stderr;
};

struct job {
    struct runs_ctx *rc;
    const char *run_id;
    const struct jobtype *type;
    struct child child;
    struct linebuf out, err;
    char *input;        /* first stdin line, pending part from input_off */
    size_t input_len, input_off;
    json_t *result;
    json_t *cancel_why;  /* the cancel's {reason, discard?}, once asked to stop */
    long lines;         /* output lines so far: at most one event each */
    long long bytes;    /* output bytes so far, stdout and stderr */
    int over_limit;     /* past job_max_events or job_max_output_bytes */
    int ended;          /* the run's stream ended without us (recovery took us for dead) */
    char key_slot[KEY_SLOT_SIZE]; /* its concurrency_key's slots; "" when none */
    int64_t next_connect_ms;      /* the control read's next try at a lost Redis */
    int64_t leased_until_ms;      /* monotonic: the lease last renewed runs out then */
    char tail[STDERR_TAIL_BYTES];
    size_t tail_len;
};

/* How often the end is tried again while the ledger is away, and how
 * much of the lease it leaves for clocks that differ. */
#define END_RETRY_MS 200
#define END_LEASE_MARGIN_DIV 4

/* The run's end, tried again while this runner still holds its lease: a
 * ledger away for a moment (a restart, a failover) only delays it; once
 * the lease is out, recovery owns the run. -1 then. */
static int finish_while_leased(struct job *j, enum run_status status, json_t *result,
                               json_t *error)
{
    int64_t last = j->leased_until_ms - j->rc->cfg->lease_ms / END_LEASE_MARGIN_DIV;
    for (;;) {
        if (runs_finish(j->rc, j->run_id, status, result, error) >= 0)
            return 0;
        if (clock_mono_ms() + END_RETRY_MS >= last)
            return -1;
        clock_sleep_ms(END_RETRY_MS);
    }
}

/* The bus reconnects on its own (runs_ctx.reconnect) until the worker is
 * stopped; meanwhile the job's output waits in its pipe. */
static int emit(struct job *j, const char *name, json_t *data)
{
    char id[EVENT_ID_SIZE];
    int r = runs_emit(j->rc, j->run_id, name, data, id);
    if (r == 0)
        return 0;
    if (r == 1)
        j->ended = 1;
    else
        log_warn("run %s: a %s event could not be written", j->run_id, name);
    return -1;
}

static void keep_tail(struct job *j, const char *line, size_t len)
{
    if (len + 1 > sizeof j->tail) {
        line += len + 1 - sizeof j->tail;
        len = sizeof j->tail - 1;
    }
    size_t need = len + 1;
    if (j->tail_len + need > sizeof j->tail) {
        size_t drop = j->tail_len + need - sizeof j->tail;
        memmove(j->tail, j->tail + drop, j->tail_len - drop);
        j->tail_len -= drop;
    }
    memcpy(j->tail + j->tail_len, line, len);
    j->tail_len += len;
    j->tail[j->tail_len++] = '\n';
}

/* The job asks for input: the run waits (input_required) with the schema
 * the job sent, which resume checks the input against. */
static void ask_for_input(struct job *j, struct job_msg *m)
{
    char why[SCHEMA_ERR_SIZE];
    json_t *schema = json_object_get(m->data, "schema");
    if (!json_is_object(schema) || schema_check(schema, why, sizeof why) != 0) {
        json_t *log = json_pack("{s:s, s:s}", "stream", "stdout", "rejected",
                                "input_required needs data.schema in the supported JSON Schema subset");
        emit(j, "log", log);
        json_decref(log);
        return;
    }
    if (runs_await_input(j->rc, j->run_id, m->data) < 0)
        log_warn("run %s: its input request could not be recorded", j->run_id);
}

static void handle_line(struct job *j, const char *line, size_t len, int from_stderr,
                        int truncated)
{
    /* Past a bound nothing more is kept: the job is being stopped. */
    if (j->over_limit || ++j->lines > j->rc->cfg->job_max_events) {
        j->over_limit = 1;
        return;
    }
    if (from_stderr)
        keep_tail(j, line, len);
    struct job_msg m;
    protocol_parse_line(line, len, from_stderr, truncated, j->rc->cfg->json_max_depth, &m);
    if (m.kind == JOB_RESULT) {
        json_decref(j->result);
        j->result = json_incref(m.data);
    } else if (m.kind == JOB_INPUT_REQUIRED) {
        ask_for_input(j, &m);
    } else {
        emit(j, m.name, m.data);
    }
    job_msg_clear(&m);
}

/* Reads what is there; splits it into lines. Returns -1 at end of file. */
static int pump(struct job *j, struct linebuf *lb, int fd)
{
    char chunk[8192];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0)
        return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
    if (n == 0) {
        if (lb->len > 0 && !lb->skipping)
            handle_line(j, lb->buf, lb->len, lb->from_stderr, 0);
        lb->len = 0;
        return -1;
    }
    j->bytes += n;
    if (j->bytes > j->rc->cfg->job_max_output_bytes)
        j->over_limit = 1;
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (!lb->skipping)
                handle_line(j, lb->buf, lb->len, lb->from_stderr, 0);
            lb->len = 0;
            lb->skipping = 0;
        } else if (!lb->skipping) {
            lb->buf[lb->len++] = c;
            if (lb->len == (size_t)j->rc->cfg->job_line_max_bytes) {
                handle_line(j, lb->buf, lb->len, lb->from_stderr, 1);
                lb->len = 0;
                lb->skipping = 1;
            }
        }
    }
    return 0;
}

static void write_input(struct job *j)
{
    ssize_t n = write(j->child.in_fd, j->input + j->input_off, j->input_len - j->input_off);
    if (n > 0)
        j->input_off += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        j->input_off = j->input_len; /* the job closed stdin: nothing more to give */
}

/* Stops the whole process group: TERM, then KILL after the grace time. */
static void stop_group(struct job *j, int *exited, int *wstatus)
{
    spawn_signal(&j->child, SIGTERM);
    int64_t until = clock_mono_ms() + j->rc->cfg->kill_grace_ms;
    while (!*exited && clock_mono_ms() < until) {
        if (waitpid(j->child.pid, wstatus, WNOHANG) == j->child.pid)
            *exited = 1;
        else
            clock_sleep_ms(20);
    }
    spawn_signal(&j->child, SIGKILL);
}

enum ending { END_EXIT, END_TIMEOUT, END_STOPPED, END_CANCELLED, END_OUTPUT_LIMIT, END_ENDED };

/* Queues a line for the job's stdin, written as the pipe takes it. */
static int give_input(struct job *j, const json_t *value)
{
    char *line = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (line == NULL)
        return -1;
    size_t len = strlen(line), pending = j->input_len - j->input_off;
    char *buf = malloc(pending + len + 1);
    if (buf == NULL) {
        free(line);
        return -1;
    }
    memcpy(buf, j->input + j->input_off, pending);
    memcpy(buf + pending, line, len);
    buf[pending + len] = '\n';
    free(line);
    free(j->input);
    j->input = buf;
    j->input_off = 0;
    j->input_len = pending + len + 1;
    return 0;
}

/* The control read is all a quiet job asks of Redis: a connection that
 * broke (a Redis restart) must not pass for "no message" for ever. It
 * tries to connect anew once per worker_poll_ms, each try bounded by
 * that too, so the job's supervision never waits longer. 1 when it got
 * a connection now. */
static int control_reconnect(struct job *j)
{
    const struct config *cfg = j->rc->cfg;
    int64_t now = clock_mono_ms();
    if (now < j->next_connect_ms)
        return 0;
    j->next_connect_ms = now + cfg->worker_poll_ms;
    char err[CONFIG_ERR_SIZE];
    struct bus *b = bus_connect(cfg, cfg->worker_poll_ms, err, sizeof err);
    if (b == NULL)
        return 0;
    bus_free(j->rc->bus);
    j->rc->bus = b;
    log_info("run %s: Redis answers again; its control messages are read again", j->run_id);
    return 1;
}

/* Reads one control message for the run, if any: what the responders ask
 * of a running job (cancel, or resume input for its next stdin line). */
static enum ending read_control(struct job *j)
{
    char *msg = NULL;
    int got = bus_control_pop(j->rc->bus, j->run_id, &msg);
    if (got < 0 && control_reconnect(j))
        got = bus_control_pop(j->rc->bus, j->run_id, &msg);
    if (got != 1)
        return END_EXIT;
    json_t *m = json_loads(msg, 0, NULL);
    free(msg);
    json_t *cancel = json_object_get(m, "cancel");
    enum ending e = json_is_true(cancel) || json_is_object(cancel) ? END_CANCELLED : END_EXIT;
    if (json_is_object(cancel)) {
        /* Told on stdin before SIGTERM: {"cancel": {"reason", "discard"?}},
         * written now as far as the pipe takes it, so that a job's TERM
         * handler can read why it is stopped. */
        j->cancel_why = json_incref(cancel);
        json_t *line = json_pack("{s:O}", "cancel", cancel);
        if (give_input(j, line) == 0)
            write_input(j);
        json_decref(line);
    }
    json_t *input = json_object_get(m, "resume");
    if (input != NULL && give_input(j, input) == 0) {
        json_t *data = json_pack("{s:O}", "input", input);
        emit(j, "input_received", data);
        json_decref(data);
    }
    json_decref(m);
    return e;
}

static enum ending supervise(struct job *j, int timeout_s, int *wstatus,
                             volatile sig_atomic_t *stopping)
{
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    int64_t renew_every = j->rc->cfg->lease_ms / 3, renewed = clock_mono_ms();
    if (store_run_lease(j->rc->st, j->run_id, clock_now_ms() + j->rc->cfg->lease_ms, j->child.pid) == 0)
        j->leased_until_ms = renewed + j->rc->cfg->lease_ms;
    int exited = 0;
    enum ending end = END_EXIT;
    while (j->out.open || j->err.open) {
        if (clock_mono_ms() - renewed >= renew_every) {
            int64_t until = clock_now_ms() + j->rc->cfg->lease_ms;
            if (store_run_lease(j->rc->st, j->run_id, until, 0) == 0)
                j->leased_until_ms = clock_mono_ms() + j->rc->cfg->lease_ms;
            if (j->type->max_concurrency > 0)
                bus_slot_renew(j->rc->bus, j->type->name, j->run_id, until);
            if (j->key_slot[0] != '\0')
                bus_slot_renew(j->rc->bus, j->key_slot, j->run_id, until);
            renewed = clock_mono_ms();
        }
        if (!exited && end == END_EXIT) {
            if (clock_mono_ms() >= deadline)
                end = END_TIMEOUT;
            else if (*stopping)
                end = END_STOPPED;
            else if (j->over_limit)
                end = END_OUTPUT_LIMIT;
            else if (j->ended)
                end = END_ENDED;
            else
                end = read_control(j);
            if (end != END_EXIT)
                stop_group(j, &exited, wstatus);
        }
        struct pollfd p[3];
        int np = 0;
        p[np++] = (struct pollfd){.fd = j->out.open ? j->child.out_fd : -1, .events = POLLIN};
        p[np++] = (struct pollfd){.fd = j->err.open ? j->child.err_fd : -1, .events = POLLIN};
        int want_in = j->input_off < j->input_len;
        p[np++] = (struct pollfd){.fd = want_in ? j->child.in_fd : -1, .events = POLLOUT};
        if (poll(p, (nfds_t)np, POLL_SLICE_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents && pump(j, &j->out, j->child.out_fd) < 0)
            j->out.open = 0;
        if (p[1].revents && pump(j, &j->err, j->child.err_fd) < 0)
            j->err.open = 0;
        if (want_in && p[2].revents)
            write_input(j);
        /* The job itself ended but something it forked still holds the
         * pipes: the run is over, so the whole group goes. */
        if (!exited && waitpid(j->child.pid, wstatus, WNOHANG) == j->child.pid) {
            exited = 1;
            spawn_signal(&j->child, SIGKILL);
        }
    }
    if (!exited)
        waitpid(j->child.pid, wstatus, 0);
    spawn_signal(&j->child, SIGKILL);
    return end;
}

static json_t *exit_error(const struct job *j, int wstatus)
{
    json_t *e = json_object();
    char msg[96];
    if (WIFSIGNALED(wstatus)) {
        snprintf(msg, sizeof msg, "the job was killed by signal %d", WTERMSIG(wstatus));
        json_object_set_new(e, "signal", json_integer(WTERMSIG(wstatus)));
    } else {
        snprintf(msg, sizeof msg, "the job exited with status %d", WEXITSTATUS(wstatus));
        json_object_set_new(e, "exit_status", json_integer(WEXITSTATUS(wstatus)));
    }
    json_object_set_new(e, "code", json_string("job_failed"));
    json_object_set_new(e, "message", json_string(msg));
    json_object_set_new(e, "stderr_tail", protocol_text(j->tail, j->tail_len));
    return e;
}

static void finish_with_error(struct runs_ctx *rc, const char *run_id, const char *code,
                              const char *message)
{
    json_t *e = runs_error(code, message);
    if (runs_finish(rc, run_id, RUN_FAILED, NULL, e) < 0)
        log_error("run %s: could not record its end", run_id);
    json_decref(e);
}

static int start_job(struct job *j, const struct jobtype *jt, const struct run *r,
                     char *err, size_t errsize)
{
    char env_id[64], env_type[96], env_attempt[48];
    snprintf(env_id, sizeof env_id, "OPSTREAM_RUN_ID=%s", r->id);
    snprintf(env_type, sizeof env_type, "OPSTREAM_RUN_TYPE=%s", r->type);
    snprintf(env_attempt, sizeof env_attempt, "OPSTREAM_ATTEMPT=%d", r->attempt + 1);
    char *env[JOBTYPE_ENV_MAX + 4];
    size_t ne = 0;
    for (size_t i = 0; jt->env[i] != NULL; i++)
        env[ne++] = jt->env[i];
    env[ne++] = env_id;
    env[ne++] = env_type;
    env[ne++] = env_attempt;
    env[ne] = NULL;
    const struct config *cfg = j->rc->cfg;
    struct spawn_as as = {cfg->job_user, cfg->job_uid_min, cfg->job_uid_max};
    if (spawn_job(jt->argv, cfg->job_path, env, jt->cwd, &jt->limits, &as, &j->child, err,
                  errsize) != 0)
        return -1;
    fcntl(j->child.in_fd, F_SETFL, O_NONBLOCK);
    char *line = json_dumps(r->input ? r->input : json_object(), JSON_COMPACT);
    size_t len = line ? strlen(line) : 0;
    j->input = malloc(len + 2);
    if (j->input != NULL) {
        memcpy(j->input, line ? line : "", len);
        j->input[len] = '\n';
        j->input_len = len + 1;
    }
    free(line);
    return 0;
}

/* The worker is stopping and the job did not finish in time: the run goes
 * back to the queue for another worker, as a new attempt. */
static void hand_back(struct runs_ctx *rc, const char *run_id)
{
    if (runs_requeue(rc, run_id, "worker_stopped", 0) != 0)
        log_error("run %s: could not be handed back; recovery will", run_id);
}

int execute_run(struct runs_ctx *rc, const struct jobtypes *types,
                const char *run_id, const char *entry, volatile sig_atomic_t *stopping)
{
    struct run r;
    if (store_run_get(rc->st, run_id, &r) != 0)
        return -1;
    if (r.status != RUN_QUEUED || runs_start(rc, run_id, entry) != 0) {
        int waiting = r.status == RUN_QUEUED;
        run_clear(&r);
        return waiting ? -1 : 0;
    }
    /* The ledger has the claim and its lease: the entry has done its work. */
    bus_ack(rc->bus, entry);
    const struct jobtype *jt = jobtypes_find(types, r.type);
    if (jt == NULL) {
        finish_with_error(rc, run_id, "unknown_type", "this worker has no such job type");
        run_clear(&r);
        return 0;
    }
    /* The claim holds the lease for lease_ms from now. */
    struct job j = {.rc = rc, .run_id = run_id, .type = jt,
                    .leased_until_ms = clock_mono_ms() + rc->cfg->lease_ms};
    if (jt->max_per_key > 0 && r.concurrency_key[0] != '\0')
        jobtype_key_slot(jt->name, r.concurrency_key, j.key_slot);
    char err[512];
    size_t line_max = (size_t)rc->cfg->job_line_max_bytes;
    j.out = (struct linebuf){.buf = malloc(line_max), .open = 1};
    j.err = (struct linebuf){.buf = malloc(line_max), .open = 1, .from_stderr = 1};
    if (j.out.buf == NULL || j.err.buf == NULL || start_job(&j, jt, &r, err, sizeof err) != 0) {
        log_warn("run %s: %s", run_id, j.out.buf && j.err.buf ? err : "out of memory");
        finish_with_error(rc, run_id, "spawn_failed", "the job's command could not be started");
    } else {
        log_info("run %s: started %s (pid %ld)", run_id, r.type, (long)j.child.pid);
        int ws = 0;
        enum ending end = supervise(&j, jt->timeout_s, &ws, stopping);
        if (j.ended) /* whatever the job did: the run's end is written */
            end = END_ENDED;
        json_t *error = NULL;
        enum run_status status = RUN_SUCCEEDED;
        if (end == END_TIMEOUT) {
            status = RUN_TIMED_OUT;
            error = runs_error("timeout", "the job ran longer than its type allows");
        } else if (end == END_CANCELLED) {
            status = RUN_CANCELLED;
            error = runs_cancel_error("the run was cancelled while it ran", j.cancel_why);
        } else if (end == END_OUTPUT_LIMIT || (end == END_EXIT && j.over_limit)) {
            status = RUN_FAILED;
            error = runs_error("output_limit", "the job wrote more than job_max_events lines "
                                              "or job_max_output_bytes bytes");
        } else if (end != END_STOPPED && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
            status = RUN_FAILED;
            error = exit_error(&j, ws);
        }
        if (end == END_STOPPED) /* handed back, not ended */
            hand_back(rc, run_id);
        else if (end != END_ENDED && finish_while_leased(&j, status, j.result, error) < 0)
            log_error("run %s: could not record its end", run_id);
        log_info("run %s: %s", run_id,
                 end == END_STOPPED ? "handed back to the queue"
                 : end == END_ENDED ? "ended elsewhere (taken for lost); its job stopped"
                                    : run_status_name(status));
        bus_control_clear(rc->bus, run_id);
        if (jt->max_concurrency > 0)
            bus_slot_free(rc->bus, jt->name, run_id);
        if (j.key_slot[0] != '\0')
            bus_slot_free(rc->bus, j.key_slot, run_id);
        json_decref(error);
        spawn_close(&j.child);
    }
    json_decref(j.result);
    json_decref(j.cancel_why);
    free(j.input);
    free(j.out.buf);
    free(j.err.buf);
    run_clear(&r);
    return 0;
}

void execute_recover(struct runs_ctx *rc, const struct jobtypes *types)
{
    struct lost_run lost;
    int64_t now;
    while (now = clock_now_ms(),
           store_lease_expired(rc->st, now, now + rc->cfg->lease_ms, &lost) == 1) {
        if (lost.status == RUN_QUEUED) {
            if (runs_queue_again(rc, lost.id) != 0)
                log_warn("run %s: could not be put on the queue; retrying later", lost.id);
            continue;
        }
        if (run_status_terminal(lost.status)) {
            if (runs_settle(rc, lost.id) < 0)
                log_warn("run %s: could not be settled; retrying later", lost.id);
            continue;
        }
        /* Its job may still run, orphaned: same machine, same group. */
        if (lost.pgid > 0 && strcmp(lost.host, runs_host()) == 0)
            kill(-(pid_t)lost.pgid, SIGKILL);
        if (lost.entry[0] != '\0')
            bus_ack(rc->bus, lost.entry);
        bus_control_clear(rc->bus, lost.id);
        /* Its end may already be in the stream: then only the ledger is
         * brought level. Unreadable now: its lease runs out again later. */
        int repaired = runs_repair(rc, lost.id);
        if (repaired <= 0)
            continue;
        struct run r;
        if (store_run_get(rc->st, lost.id, &r) != 0)
            continue;
        const struct jobtype *jt = jobtypes_find(types, r.type);
        int retry = jt != NULL && r.attempt <= jt->retries;
        if (jt != NULL && jt->max_concurrency > 0)
            bus_slot_free(rc->bus, jt->name, lost.id);
        if (jt != NULL && jt->max_per_key > 0 && r.concurrency_key[0] != '\0') {
            char slot[KEY_SLOT_SIZE];
            jobtype_key_slot(jt->name, r.concurrency_key, slot);
            bus_slot_free(rc->bus, slot, lost.id);
        }
        log_warn("run %s: its worker stopped renewing the lease; %s", lost.id,
                 retry ? "queued again" : "failed (worker_lost)");
        if (retry) {
            if (runs_requeue(rc, lost.id, "worker_lost", r.attempt) < 0)
                log_error("run %s: could not be queued again", lost.id);
        } else {
            json_t *e = runs_error("worker_lost", "the worker running this run stopped");
            if (runs_finish(rc, lost.id, RUN_FAILED, NULL, e) < 0)
                log_error("run %s: could not record its end", lost.id);
            json_decref(e);
        }
        run_clear(&r);
    }
}

/* Queued runs, newest first, a page at a time. */
struct queued_page {
    char ids[REQUEUE_PAGE][ID_SIZE];
    int64_t seq[REQUEUE_PAGE];
    int n;
};

static int queued_one(void *ctx, struct run *r)
{
    struct queued_page *p = ctx;
    snprintf(p->ids[p->n], ID_SIZE, "%s", r->id);
    p->seq[p->n] = r->seq;
    p->n++;
    return 0;
}

int execute_requeue(struct runs_ctx *rc)
{
    struct queued_page *p = malloc(sizeof *p);
    if (p == NULL)
        return -1;
    struct run_filter f = {.statuses = STATUS_BIT(RUN_QUEUED), .limit = REQUEUE_PAGE};
    int n = 0, ret = 0;
    do {
        p->n = 0;
        if (store_run_list(rc->st, &f, queued_one, p) != 0) {
            ret = -1;
            break;
        }
        for (int i = 0; i < p->n; i++, n++)
            if (runs_queue_again(rc, p->ids[i]) != 0)
                ret = -1;
        f.before_seq = p->n > 0 ? p->seq[p->n - 1] : 0;
    } while (p->n == REQUEUE_PAGE);
    free(p);
    return ret == 0 ? n : -1;
}
