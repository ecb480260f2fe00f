/* One run, start to end, as events of the worker's loop: the job's
 * stdout and stderr are read line by line as they become readable, its
 * stdin written as it takes more, its exit seen through a pidfd, and its
 * deadlines kept by ticks. Nothing here waits on the job, so one loop
 * supervises many jobs and neither a chatty nor a silent job stalls it. */
#define _GNU_SOURCE /* pidfd_open's number */
#include "execute.h"
#include "clock.h"
#include "log.h"
#include "mcp.h"
#include "protocol.h"
#include "schema.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A line buffer starts this big and grows to job_line_max_bytes only for
 * a line that needs it; bigger ones are let go after the line, so that an
 * idle job costs a few KiB however long its longest line was. */
#define LINE_START_SIZE 256
#define LINE_KEEP_SIZE 4096

struct linebuf {
    char *buf;
    size_t len, cap;
    int skipping;       /* inside the rest of a line already cut */
    int open;
    int from_stderr;
};

enum ending { END_EXIT, END_TIMEOUT, END_STOPPED, END_CANCELLED, END_OUTPUT_LIMIT, END_ENDED };

struct job {
    struct runs_ctx *rc;
    char run_id[ID_SIZE];
    const struct jobtype *type;
    struct child child;
    int pidfd;          /* -1: the exit is looked for at each tick */
    struct linebuf out, err;
    char *input;        /* lines for stdin not yet written, from input_off */
    size_t input_len, input_off;
    json_t *result;
    json_t *cancel_why;  /* the cancel's {reason, discard?}, once asked to stop */
    long lines;         /* output lines so far: at most one event each */
    long long bytes;    /* output bytes so far, stdout and stderr */
    int over_limit;     /* past job_max_events or job_max_output_bytes */
    int ended;          /* the run's stream ended without us (recovery took us for dead) */
    int exited;         /* reaped: wstatus holds how */
    int wstatus;
    enum ending end;    /* why it is being stopped; END_EXIT while it is not */
    int64_t deadline_ms;     /* monotonic: its type's timeout */
    int64_t kill_at_ms;      /* monotonic: SIGKILL after the TERM; 0 when not stopping */
    int64_t leased_until_ms; /* monotonic: the lease last renewed runs out then */
    int64_t retry_end_ms;    /* monotonic: the end's next try; 0 before the first */
    char key_slot[KEY_SLOT_SIZE]; /* its concurrency_key's slots; "" when none */
    int asks_mcp;       /* an MCP client asks its questions: they must fit an elicitation */
    /* What the worker's context last knew of this run's newest id (see
     * runs_known): one context serves all the jobs, so each keeps its own. */
    unsigned long long known_conn;
    char known_id[EVENT_ID_SIZE];
    char tail[STDERR_TAIL_BYTES];
    size_t tail_len;
};

/* Around a write for the job's run: the context's memory of that run's
 * newest id is the job's, so that no write needs the ledger for it. */
static void enter(struct job *j)
{
    struct runs_ctx *rc = j->rc;
    if (j->known_conn != 0 && strcmp(rc->known_run, j->run_id) != 0) {
        rc->known_conn = j->known_conn;
        memcpy(rc->known_run, j->run_id, ID_SIZE);
        memcpy(rc->known_id, j->known_id, EVENT_ID_SIZE);
    }
}

static void leave(struct job *j)
{
    struct runs_ctx *rc = j->rc;
    if (strcmp(rc->known_run, j->run_id) == 0) {
        j->known_conn = rc->known_conn;
        memcpy(j->known_id, rc->known_id, EVENT_ID_SIZE);
    }
}

/* How often the end is tried again while the ledger is away, and how
 * much of the lease it leaves for clocks that differ. */
#define END_RETRY_MS 200
#define END_LEASE_MARGIN_DIV 4

/* The bus reconnects on its own (runs_ctx.reconnect) until the worker is
 * stopped; meanwhile the job's output waits in its pipe. */
static int emit(struct job *j, const char *name, json_t *data)
{
    char id[EVENT_ID_SIZE];
    enter(j);
    int r = runs_emit(j->rc, j->run_id, name, data, id);
    leave(j);
    if (r == 0)
        return 0;
    if (r == 1)
        j->ended = 1;
    else
        log_run(LOG_WARN, j->run_id, "a %s event could not be written", name);
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
    json_t *elicit = j->asks_mcp && json_is_object(schema) ? mcp_elicit_schema(schema) : NULL;
    const char *refused =
        !json_is_object(schema) || schema_check(schema, why, sizeof why) != 0
            ? "input_required needs data.schema in the supported JSON Schema subset"
        : j->asks_mcp && elicit == NULL
            ? "input_required: an MCP client is asked through elicitation, whose schema is a flat "
              "object of strings, numbers, integers, booleans and string enums"
            : NULL;
    json_decref(elicit);
    if (refused != NULL) {
        json_t *log = json_pack("{s:s, s:s}", "stream", "stdout", "rejected", refused);
        emit(j, "log", log);
        json_decref(log);
        return;
    }
    enter(j);
    int r = runs_await_input(j->rc, j->run_id, m->data);
    leave(j);
    if (r < 0)
        log_run(LOG_WARN, j->run_id, "its input request could not be recorded");
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

/* The line so far is handled; a big buffer goes with it. */
static void line_done(struct job *j, struct linebuf *lb, int truncated)
{
    if (lb->len > 0 || !truncated)
        handle_line(j, lb->buf != NULL ? lb->buf : "", lb->len, lb->from_stderr, truncated);
    lb->len = 0;
    if (lb->cap > LINE_KEEP_SIZE) {
        free(lb->buf);
        lb->buf = NULL;
        lb->cap = 0;
    }
}

/* Room for one more byte, up to max: 0, or -1 when memory ran out. */
static int line_room(struct linebuf *lb, size_t max)
{
    if (lb->len < lb->cap)
        return 0;
    size_t cap = lb->cap ? lb->cap * 2 : LINE_START_SIZE;
    if (cap > max)
        cap = max;
    char *b = realloc(lb->buf, cap);
    if (b == NULL)
        return -1;
    lb->buf = b;
    lb->cap = cap;
    return 0;
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
            line_done(j, lb, 0);
        lb->len = 0;
        return -1;
    }
    j->bytes += n;
    if (j->bytes > j->rc->cfg->job_max_output_bytes)
        j->over_limit = 1;
    size_t max = (size_t)j->rc->cfg->job_line_max_bytes;
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (!lb->skipping)
                line_done(j, lb, 0);
            lb->len = 0;
            lb->skipping = 0;
        } else if (!lb->skipping) {
            if (line_room(lb, max) != 0) {
                j->over_limit = 1; /* out of memory: the job is stopped */
                return 0;
            }
            lb->buf[lb->len++] = c;
            if (lb->len == max) {
                line_done(j, lb, 1);
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
    if (j->input_off == j->input_len) {
        free(j->input);
        j->input = NULL;
        j->input_len = j->input_off = 0;
    }
}

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
    if (pending > 0)
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

/* Asks the whole process group to stop: TERM now, KILL after the grace
 * time (at a tick). */
static void stop_job(struct job *j, enum ending why)
{
    j->end = why;
    if (j->exited)
        return;
    spawn_signal(&j->child, SIGTERM);
    j->kill_at_ms = clock_mono_ms() + j->rc->cfg->kill_grace_ms;
}

void execute_control(struct job *j, const char *msg)
{
    json_t *m = json_loads(msg, 0, NULL);
    if (m == NULL || j->exited || j->end != END_EXIT) {
        json_decref(m);
        return; /* its job is ending already */
    }
    /* Its producer ended the run: the job stops, and nothing more is
     * written for it. */
    if (json_is_true(json_object_get(m, "ended")))
        j->ended = 1;
    json_t *cancel = json_object_get(m, "cancel");
    int cancelled = json_is_true(cancel) || json_is_object(cancel);
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
    if (cancelled)
        stop_job(j, END_CANCELLED);
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
        log_run(LOG_ERROR, run_id, "could not record its end");
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
    int fds[] = {j->child.in_fd, j->child.out_fd, j->child.err_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    /* Its exit as a descriptor the loop watches; without one (an old
     * kernel), each tick asks. */
    j->pidfd = (int)syscall(SYS_pidfd_open, j->child.pid, 0);
    if (j->pidfd >= 0)
        fcntl(j->pidfd, F_SETFD, FD_CLOEXEC);
    json_t *first = r->input ? json_incref(r->input) : json_object();
    int ok = give_input(j, first);
    json_decref(first);
    if (ok != 0)
        log_run(LOG_WARN, r->id, "out of memory for its input");
    return 0;
}

/* The worker is stopping and the job did not finish in time: the run goes
 * back to the queue for another worker, as a new attempt. */
static void hand_back(struct runs_ctx *rc, const char *run_id)
{
    if (runs_requeue(rc, run_id, "worker_stopped", 0) != 0)
        log_run(LOG_ERROR, run_id, "could not be handed back; recovery will");
}

/* What a run holds besides its lease: its control list and its slots. */
static void release(struct runs_ctx *rc, const struct jobtype *jt, const char *run_id,
                    const char *key_slot)
{
    bus_control_clear(rc->bus, run_id);
    if (jt != NULL && jt->max_concurrency > 0)
        bus_slot_free(rc->bus, jt->name, run_id);
    if (key_slot[0] != '\0')
        bus_slot_free(rc->bus, key_slot, run_id);
}

void execute_forget(struct job *j)
{
    if (j->pidfd >= 0)
        close(j->pidfd);
    spawn_close(&j->child);
}

void execute_free(struct job *j)
{
    if (j == NULL)
        return;
    execute_forget(j);
    log_run_known(j->run_id, NULL, NULL);
    json_decref(j->result);
    json_decref(j->cancel_why);
    free(j->input);
    free(j->out.buf);
    free(j->err.buf);
    free(j);
}

int execute_start(struct runs_ctx *rc, const struct jobtypes *types, const struct run *r,
                  const char *entry, struct job **out)
{
    *out = NULL;
    const char *run_id = r->id;
    log_run_known(run_id, r->owner, r->request_id);
    /* Its run_started goes onto what the ledger had of it when read. */
    runs_known(rc, run_id, r->last_event_id);
    /* A claim refused: the run is not queued any more. */
    int claimed = r->status == RUN_QUEUED ? runs_start(rc, r, entry) : 1;
    if (claimed != 0)
        return claimed < 0 ? -1 : 0;
    /* The ledger has the claim and its lease: the entry has done its work. */
    bus_ack(rc->bus, entry);
    const struct jobtype *jt = jobtypes_find(types, r->type);
    if (jt == NULL) {
        finish_with_error(rc, run_id, "unknown_type", "this worker has no such job type");
        return 0;
    }
    struct job *j = calloc(1, sizeof *j);
    char err[512] = "out of memory";
    if (j != NULL) {
        /* The claim holds the lease for lease_ms from now. */
        *j = (struct job){.rc = rc, .type = jt, .pidfd = -1,
                          .child = {.in_fd = -1, .out_fd = -1, .err_fd = -1, .uid_fd = -1},
                          .out = {.open = 1}, .err = {.open = 1, .from_stderr = 1},
                          .deadline_ms = clock_mono_ms() + (int64_t)jt->timeout_s * 1000,
                          .leased_until_ms = clock_mono_ms() + rc->cfg->lease_ms};
        snprintf(j->run_id, sizeof j->run_id, "%s", run_id);
        j->asks_mcp = json_object_get(r->metadata, MCP_RUN_METADATA) != NULL;
        if (jt->max_per_key > 0 && r->concurrency_key[0] != '\0')
            jobtype_key_slot(jt->name, r->concurrency_key, j->key_slot);
    }
    if (j == NULL || start_job(j, jt, r, err, sizeof err) != 0) {
        log_run(LOG_WARN, run_id, "%s", err);
        finish_with_error(rc, run_id, "spawn_failed", "the job's command could not be started");
        release(rc, jt, run_id, j ? j->key_slot : "");
        execute_free(j);
        return 0;
    }
    leave(j); /* its run_started */
    log_run(LOG_INFO, run_id, "started %s (pid %ld)", r->type, (long)j->child.pid);
    /* Its process group, for recovery to kill should this worker die. */
    if (store_run_lease(rc->st, run_id, clock_now_ms() + rc->cfg->lease_ms, j->child.pid) == 0)
        j->leased_until_ms = clock_mono_ms() + rc->cfg->lease_ms;
    *out = j;
    return 1;
}

int execute_fd(const struct job *j, enum job_fd which)
{
    switch (which) {
    case JOB_STDOUT:
        return j->out.open ? j->child.out_fd : -1;
    case JOB_STDERR:
        return j->err.open ? j->child.err_fd : -1;
    case JOB_STDIN:
        return j->input != NULL && !j->exited ? j->child.in_fd : -1;
    case JOB_EXIT:
        return j->exited ? -1 : j->pidfd;
    default:
        return -1;
    }
}

static void reap(struct job *j)
{
    if (!j->exited && waitpid(j->child.pid, &j->wstatus, WNOHANG) == j->child.pid) {
        j->exited = 1;
        /* The job itself ended but something it forked may still hold
         * the pipes: the run is over, so the whole group goes. */
        spawn_signal(&j->child, SIGKILL);
    }
}

void execute_ready(struct job *j, enum job_fd which)
{
    if (which == JOB_STDOUT && j->out.open && pump(j, &j->out, j->child.out_fd) < 0)
        j->out.open = 0;
    else if (which == JOB_STDERR && j->err.open && pump(j, &j->err, j->child.err_fd) < 0)
        j->err.open = 0;
    else if (which == JOB_STDIN && j->input != NULL)
        write_input(j);
    else if (which == JOB_EXIT)
        reap(j);
}

const char *execute_run_id(const struct job *j)
{
    return j->run_id;
}

int execute_leased(const struct job *j)
{
    return j->retry_end_ms == 0;
}

void execute_renewed(struct job *j, int64_t until_ms)
{
    j->leased_until_ms = clock_mono_ms() + j->rc->cfg->lease_ms;
    if (j->type->max_concurrency > 0)
        bus_slot_renew(j->rc->bus, j->type->name, j->run_id, until_ms);
    if (j->key_slot[0] != '\0')
        bus_slot_renew(j->rc->bus, j->key_slot, j->run_id, until_ms);
}

/* The run's end, once the job is gone and its pipes are drained: tried
 * again at later ticks while this worker still holds the lease (a ledger
 * away for a moment only delays it); once the lease is out, recovery
 * owns the run. 1 when done with. */
static int finish(struct job *j)
{
    enum ending end = j->ended ? END_ENDED : j->end; /* whatever the job did: the run's end is written */
    int ws = j->wstatus;
    json_t *error = NULL;
    enum run_status status = RUN_SUCCEEDED;
    if (end == END_TIMEOUT) {
        status = RUN_TIMED_OUT;
        error = runs_error("timeout", "the job ran longer than its type allows");
    } else if (end == END_CANCELLED) {
        status = RUN_CANCELLED;
        error = runs_cancel_error("the run was cancelled while it ran", j->cancel_why);
    } else if (end == END_OUTPUT_LIMIT || (end == END_EXIT && j->over_limit)) {
        status = RUN_FAILED;
        error = runs_error("output_limit", "the job wrote more than job_max_events lines "
                                          "or job_max_output_bytes bytes");
    } else if (end != END_STOPPED && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
        status = RUN_FAILED;
        error = exit_error(j, ws);
    }
    enter(j);
    int r = end == END_STOPPED || end == END_ENDED ? 0
                                                    : runs_finish(j->rc, j->run_id, status, j->result, error);
    leave(j);
    if (end == END_STOPPED) { /* handed back, not ended */
        hand_back(j->rc, j->run_id);
    } else if (r < 0) {
        int64_t last = j->leased_until_ms - j->rc->cfg->lease_ms / END_LEASE_MARGIN_DIV;
        int64_t now = clock_mono_ms();
        if (now + END_RETRY_MS < last) {
            j->retry_end_ms = now + END_RETRY_MS;
            json_decref(error);
            return 0;
        }
        log_run(LOG_ERROR, j->run_id, "could not record its end");
    }
    log_run(LOG_INFO, j->run_id, "%s",
            end == END_STOPPED ? "handed back to the queue"
            : end == END_ENDED ? "ended elsewhere (taken for lost); its job stopped"
                               : run_status_name(status));
    release(j->rc, j->type, j->run_id, j->key_slot);
    json_decref(error);
    return 1;
}

int execute_tick(struct job *j, int stopping)
{
    int64_t now = clock_mono_ms();
    if (j->retry_end_ms != 0)
        return now >= j->retry_end_ms ? finish(j) : 0;
    if (j->pidfd < 0 || j->exited)
        reap(j);
    if (!j->exited && j->end == END_EXIT) {
        if (now >= j->deadline_ms)
            stop_job(j, END_TIMEOUT);
        else if (stopping)
            stop_job(j, END_STOPPED);
        else if (j->over_limit)
            stop_job(j, END_OUTPUT_LIMIT);
        else if (j->ended)
            stop_job(j, END_ENDED);
    }
    if (!j->exited && j->kill_at_ms != 0 && now >= j->kill_at_ms) {
        spawn_signal(&j->child, SIGKILL);
        j->kill_at_ms = 0;
    }
    if (!j->exited || j->out.open || j->err.open)
        return 0;
    return finish(j);
}

void execute_recover(struct runs_ctx *rc, const struct jobtypes *types)
{
    struct lost_run lost;
    int64_t now;
    while (now = clock_now_ms(),
           store_lease_expired(rc->st, now, now + rc->cfg->lease_ms, &lost) == 1) {
        if (lost.status == RUN_QUEUED) {
            if (runs_queue_again(rc, lost.id) != 0)
                log_run(LOG_WARN, lost.id, "could not be put on the queue; retrying later");
            continue;
        }
        if (run_status_terminal(lost.status)) {
            if (runs_settle(rc, lost.id) < 0)
                log_run(LOG_WARN, lost.id, "could not be settled; retrying later");
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
        log_run(LOG_WARN, lost.id, "its worker stopped renewing the lease; %s",
                retry ? "queued again" : "failed (worker_lost)");
        if (retry) {
            if (runs_requeue(rc, lost.id, "worker_lost", r.attempt) < 0)
                log_run(LOG_ERROR, lost.id, "could not be queued again");
        } else {
            json_t *e = runs_error("worker_lost", "the worker running this run stopped");
            if (runs_finish(rc, lost.id, RUN_FAILED, NULL, e) < 0)
                log_run(LOG_ERROR, lost.id, "could not record its end");
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
