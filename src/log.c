/* Logging: one line per message on stderr, which the web server or the
 * supervisor collects. Only the program edges log; modules return errors. */
#include "log.h"
#include "clock.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "opstream";
static enum log_level log_max = LOG_INFO;
static int log_json;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

#define LOG_FIELD_SIZE 160
/* The thread's request, as log_context set it. */
static __thread char ctx_request[LOG_FIELD_SIZE], ctx_owner[LOG_FIELD_SIZE], ctx_run[LOG_FIELD_SIZE];

void log_init(const char *prog, enum log_level max, int json)
{
    log_prog = prog;
    log_max = max;
    log_json = json;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_context(const char *request_id, const char *owner, const char *run_id)
{
    if (request_id != NULL)
        snprintf(ctx_request, sizeof ctx_request, "%s", request_id);
    if (owner != NULL)
        snprintf(ctx_owner, sizeof ctx_owner, "%s", owner);
    if (run_id != NULL)
        snprintf(ctx_run, sizeof ctx_run, "%s", run_id);
}

/* Runs this process works on outside any request of its own (a
 * worker's): their owner and the request that made them, for their
 * lines. A full table forgets its oldest. */
#define LOG_RUNS 1024
static struct {
    char run[LOG_FIELD_SIZE], owner[LOG_FIELD_SIZE], request[LOG_FIELD_SIZE];
} runs[LOG_RUNS];
static size_t runs_next;
static pthread_mutex_t runs_lock = PTHREAD_MUTEX_INITIALIZER;

void log_run_known(const char *run_id, const char *owner, const char *request_id)
{
    pthread_mutex_lock(&runs_lock);
    size_t at = LOG_RUNS;
    for (size_t i = 0; i < LOG_RUNS && at == LOG_RUNS; i++)
        if (strcmp(runs[i].run, run_id) == 0)
            at = i;
    if (owner == NULL) {
        if (at < LOG_RUNS)
            runs[at].run[0] = '\0';
    } else {
        if (at == LOG_RUNS) {
            for (size_t i = 0; i < LOG_RUNS && at == LOG_RUNS; i++)
                if (runs[i].run[0] == '\0')
                    at = i;
            if (at == LOG_RUNS)
                at = runs_next++ % LOG_RUNS;
        }
        snprintf(runs[at].run, sizeof runs[at].run, "%s", run_id);
        snprintf(runs[at].owner, sizeof runs[at].owner, "%s", owner);
        snprintf(runs[at].request, sizeof runs[at].request, "%s", request_id ? request_id : "");
    }
    pthread_mutex_unlock(&runs_lock);
}

/* The owner and request of a run log_run_known was told of: 1, or 0. */
static int run_known(const char *run_id, char *owner, char *request)
{
    int found = 0;
    pthread_mutex_lock(&runs_lock);
    for (size_t i = 0; i < LOG_RUNS && !found; i++) {
        if (runs[i].run[0] != '\0' && strcmp(runs[i].run, run_id) == 0) {
            memcpy(owner, runs[i].owner, LOG_FIELD_SIZE);
            memcpy(request, runs[i].request, LOG_FIELD_SIZE);
            found = 1;
        }
    }
    pthread_mutex_unlock(&runs_lock);
    return found;
}

const char *log_request_id(void)
{
    return ctx_request;
}

static void put_field(json_t *line, const char *name, const char *value)
{
    if (value != NULL && value[0] != '\0')
        json_object_set_new(line, name, json_string(value));
}

/* One line of message msg (about run_id, or NULL for the thread's own). */
static void emit(enum log_level level, const char *run_id, const char *msg)
{
    char ts[CLOCK_RFC3339_SIZE];
    clock_rfc3339(clock_now_ms(), ts, sizeof ts);
    if (log_json) {
        json_t *text_of = json_string(msg);
        if (text_of == NULL) { /* not UTF-8: its other bytes become '?', the line stays */
            char ascii[1024];
            size_t i = 0;
            for (; msg[i] != '\0' && i < sizeof ascii - 1; i++)
                ascii[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
            ascii[i] = '\0';
            text_of = json_string(ascii);
        }
        json_t *line = json_pack("{s:s, s:s, s:s, s:I, s:o}", "time", ts, "level", log_names[level],
                                 "program", log_prog, "pid", (json_int_t)getpid(), "msg", text_of);
        /* A line about a run other than the thread's request's names
         * that run's owner and request, where this process knows them. */
        char owner[LOG_FIELD_SIZE] = "", request[LOG_FIELD_SIZE] = "";
        if (run_id == NULL || strcmp(run_id, ctx_run) == 0) {
            memcpy(owner, ctx_owner, sizeof owner);
            memcpy(request, ctx_request, sizeof request);
        } else {
            run_known(run_id, owner, request);
        }
        put_field(line, "run_id", run_id != NULL ? run_id : ctx_run);
        put_field(line, "owner", owner);
        put_field(line, "request_id", request);
        char *text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(line);
        if (text != NULL) {
            size_t len = strlen(text);
            text[len] = '\n'; /* json_dumps's NUL becomes the line's end */
            fwrite(text, 1, len + 1, stderr);
        }
        free(text);
        return;
    }
    char line[1300];
    int n = snprintf(line, sizeof line - 1, "%s %s[%ld] %s: %s%s%s%s", ts, log_prog, (long)getpid(),
                     log_names[level], run_id != NULL ? "run " : "", run_id != NULL ? run_id : "",
                     run_id != NULL ? ": " : "", msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 2 ? (size_t)n : sizeof line - 2;
    line[len] = '\n';
    line[len + 1] = '\0';
    /* One fputs per line so that threads do not interleave within a line. */
    fputs(line, stderr);
}

static void vlog(enum log_level level, const char *run_id, const char *fmt, va_list ap)
{
    if (level > log_max)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, run_id, msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void log_run(enum log_level level, const char *run_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, run_id, fmt, ap);
    va_end(ap);
}
