/* Metrics: counted in process memory, added up in Redis, served in
 * Prometheus' text exposition format (metrics.h). */
#include "metrics.h"
#include "bus.h"
#include "clock.h"
#include "config.h"
#include "jobtypes.h"
#include "log.h"
#include "run.h"
#include "store.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every family served, in this order: a series of no family here is not
 * served (and none is made but by this file's callers). */
static const struct family {
    const char *name, *type, *help;
} families[] = {
    {"opstream_runs_created_total", "counter", "Runs created, by job type."},
    {"opstream_runs_started_total", "counter", "Runs a worker started, by job type."},
    {"opstream_runs_ended_total", "counter", "Runs ended, by job type and final status."},
    {"opstream_runs_active", "gauge",
     "Runs queued, running or waiting for input, by job type and status (the ledger's count)."},
    {"opstream_events_appended_total", "counter", "Events appended to runs' streams."},
    {"opstream_requests_total", "counter", "Requests answered, by route and status."},
    {"opstream_request_duration_seconds", "histogram",
     "Time from a request's routing until its answer is written, by route (a stream's: until "
     "the hub takes it, or its end on a request's thread)."},
    {"opstream_open_streams", "gauge", "Event streams a responder process holds open."},
    {"opstream_hub_lag_seconds", "gauge",
     "The longest time, in a responder's last report, from an event's append to its hub "
     "sending it."},
    {"opstream_worker_slots", "gauge", "Runs a worker process may run at once."},
    {"opstream_worker_slots_in_use", "gauge", "Runs a worker process is running."},
    {"opstream_webhook_deliveries_total", "counter",
     "Webhook delivery attempts, by outcome: delivered, failed (tried again later), given_up."},
    {"opstream_webhooks_pending", "gauge", "Webhooks due for an attempt or under way."},
    {"opstream_redis_errors_total", "counter",
     "Redis commands that failed for want of a working connection, by program."},
    {"opstream_ledger_errors_total", "counter", "Ledger statements that failed, by program."},
    {"opstream_metrics_dropped_total", "counter",
     "Counts a process could not keep (more distinct series than it holds)."},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

/* Upper bounds of the request histogram's buckets, in seconds. */
static const double buckets[] = {0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

/* This process's counts since its last report, by series. */
struct slot {
    char key[METRICS_SERIES_SIZE]; /* "" while free */
    long long n;
    double x;                     /* a histogram's sum */
    int decimal;
};
#define SLOTS (2 * METRICS_SERIES_MAX)
static struct slot slots[SLOTS];
static size_t used;                      /* slots taken, */
static size_t used_at[METRICS_SERIES_MAX]; /* and which: a report reads only these */
static long long dropped;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char slot_key[crypto_shorthash_KEYBYTES];
static char process[160];
static char program_label[64];
static metrics_gauges_fn gauges_fn;
static void *gauges_ctx;

void metrics_init(const char *program)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    char p[160];
    snprintf(p, sizeof p, "%s@%s:%ld", program, host, (long)getpid());
    metrics_label(p, process, sizeof process);
    metrics_label(program, program_label, sizeof program_label);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < used; i++)
        slots[used_at[i]] = (struct slot){0};
    used = 0;
    dropped = 0;
    gauges_fn = NULL;
    crypto_shorthash_keygen(slot_key);
    pthread_mutex_unlock(&lock);
    bus_errors_take();
    store_errors_take();
}

const char *metrics_process(void)
{
    return process;
}

void metrics_label(const char *value, char *out, size_t size)
{
    size_t k = 0;
    for (const char *p = value; *p != '\0' && k + 3 < size; p++) {
        if (*p == '\\' || *p == '"' || *p == '\n') {
            out[k++] = '\\';
            out[k++] = *p == '\n' ? 'n' : *p;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

/* The slot of key, made when new: NULL when the table is full (lock held). */
static struct slot *slot_of(const char *key)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key), slot_key);
    for (size_t i = 0; i < SLOTS; i++) {
        size_t at = (h + i) % SLOTS;
        struct slot *s = &slots[at];
        if (strcmp(s->key, key) == 0)
            return s;
        if (s->key[0] == '\0') {
            if (used >= METRICS_SERIES_MAX)
                return NULL;
            snprintf(s->key, sizeof s->key, "%s", key);
            used_at[used++] = at;
            return s;
        }
    }
    return NULL;
}

/* Adds to a series (lock held). */
static void add(const char *key, long long n, double x, int decimal)
{
    struct slot *s = strlen(key) < METRICS_SERIES_SIZE ? slot_of(key) : NULL;
    if (s == NULL) {
        dropped++;
        return;
    }
    s->n += n;
    s->x += x;
    s->decimal |= decimal;
}

static void series(char *out, size_t size, const char *name, const char *suffix,
                   const char *labels, const char *more)
{
    int any = labels[0] != '\0' || more[0] != '\0';
    snprintf(out, size, "%s%s%s%s%s%s%s", name, suffix, any ? "{" : "", labels,
             labels[0] != '\0' && more[0] != '\0' ? "," : "", more, any ? "}" : "");
}

void metrics_count(const char *name, const char *labels, long long by)
{
    char key[METRICS_SERIES_SIZE + 1];
    series(key, sizeof key, name, "", labels, "");
    pthread_mutex_lock(&lock);
    add(key, by, 0, 0);
    pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *labels, double seconds)
{
    char key[METRICS_SERIES_SIZE + 1], le[32];
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (seconds > buckets[i])
            continue;
        snprintf(le, sizeof le, "le=\"%g\"", buckets[i]);
        series(key, sizeof key, name, "_bucket", labels, le);
        add(key, 1, 0, 0);
    }
    series(key, sizeof key, name, "_bucket", labels, "le=\"+Inf\"");
    add(key, 1, 0, 0);
    series(key, sizeof key, name, "_count", labels, "");
    add(key, 1, 0, 0);
    series(key, sizeof key, name, "_sum", labels, "");
    add(key, 0, seconds, 1);
    pthread_mutex_unlock(&lock);
}

void metrics_gauge(char *out, size_t size, const char *name, const char *label, double value)
{
    size_t n = strlen(out);
    if (n < size)
        snprintf(out + n, size - n, "%s{%s=\"%s\"} %.6g\n", name, label, process, value);
}

void metrics_set_gauges(metrics_gauges_fn fn, void *ctx)
{
    gauges_fn = fn;
    gauges_ctx = ctx;
}

/* The counts taken out of the table for one report. */
struct taken {
    size_t n;
    const char *fields[METRICS_SERIES_MAX + 3];
    char values[METRICS_SERIES_MAX + 3][40];
    const char *vals[METRICS_SERIES_MAX + 3];
    long long ns[METRICS_SERIES_MAX + 3];
    double xs[METRICS_SERIES_MAX + 3];
    char extra[3][METRICS_SERIES_SIZE];
};

static void take_one(struct taken *t, const char *field, long long n, double x, int decimal)
{
    t->fields[t->n] = field;
    t->ns[t->n] = n;
    t->xs[t->n] = x;
    if (decimal)
        snprintf(t->values[t->n], sizeof t->values[t->n], "%.6f", x);
    else
        snprintf(t->values[t->n], sizeof t->values[t->n], "%lld", n);
    t->vals[t->n] = t->values[t->n];
    t->n++;
}

/* Moves every count into t (lock held); slots keep their keys, so the
 * fields stay valid. */
static void take(struct taken *t)
{
    t->n = 0;
    for (size_t i = 0; i < used; i++) {
        struct slot *s = &slots[used_at[i]];
        if (s->n == 0 && s->x == 0)
            continue;
        take_one(t, s->key, s->n, s->x, s->decimal);
        s->n = 0;
        s->x = 0;
    }
    unsigned long long redis = bus_errors_take(), ledger = store_errors_take();
    const char *names[] = {"opstream_redis_errors_total", "opstream_ledger_errors_total",
                           "opstream_metrics_dropped_total"};
    long long counts[] = {(long long)redis, (long long)ledger, dropped};
    dropped = 0;
    for (size_t i = 0; i < 3; i++) {
        if (counts[i] == 0)
            continue;
        char label[96];
        snprintf(label, sizeof label, "program=\"%s\"", program_label);
        series(t->extra[i], sizeof t->extra[i], names[i], "", label, "");
        take_one(t, t->extra[i], counts[i], 0, 0);
    }
}

/* A report that failed: its counts go back, for the next one. */
static void put_back(const struct taken *t)
{
    for (size_t i = 0; i < t->n; i++) {
        int decimal = strchr(t->values[i], '.') != NULL;
        add(t->fields[i], t->ns[i], t->xs[i], decimal);
    }
}

int metrics_report(struct bus *b)
{
    /* One report at a time: the taken counts are in one static place. */
    static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
    static struct taken t;
    static char gauges[8192];
    pthread_mutex_lock(&one);
    gauges[0] = '\0';
    if (gauges_fn != NULL)
        gauges_fn(gauges, sizeof gauges, gauges_ctx);
    pthread_mutex_lock(&lock);
    take(&t);
    pthread_mutex_unlock(&lock);
    int r = bus_metrics_report(b, process, clock_now_ms(), gauges_fn != NULL ? gauges : NULL,
                               t.n, t.fields, t.vals);
    if (r != 0) {
        pthread_mutex_lock(&lock);
        put_back(&t);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&one);
    return r;
}

struct reporter {
    const struct config *cfg;
    const atomic_int *stopping;
    int keep;
};

static void *report_loop(void *arg)
{
    struct reporter *rp = arg;
    struct bus *b = NULL;
    char err[CONFIG_ERR_SIZE];
    for (int last = 0; !last;) {
        /* Sleeps in short steps, so that a stop is reported at once. */
        for (int waited = 0; waited < METRICS_REPORT_MS && !atomic_load(rp->stopping); waited += 50)
            clock_sleep_ms(50);
        last = atomic_load(rp->stopping);
        if (b == NULL)
            b = bus_connect(rp->cfg, 1000, err, sizeof err);
        if (b != NULL && (metrics_report(b) != 0 || !rp->keep)) {
            bus_free(b);
            b = NULL;
        }
    }
    bus_free(b);
    free(rp);
    return NULL;
}

static atomic_int reporter_running;

int metrics_reporter_running(void)
{
    return atomic_load(&reporter_running);
}

int metrics_reporter_start(const struct config *cfg, const atomic_int *stopping, int keep)
{
    struct reporter *rp = malloc(sizeof *rp);
    pthread_t t;
    pthread_attr_t attr;
    if (rp == NULL)
        return -1;
    *rp = (struct reporter){cfg, stopping, keep};
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, report_loop, rp);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        free(rp);
        return -1;
    }
    atomic_store(&reporter_running, 1);
    return 0;
}

/* The exposition's lines before they are grouped: "name{labels} value". */
struct lines {
    char **v;
    size_t n, cap;
};

static void line_add(struct lines *l, const char *text, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return;
        l->v = v;
        l->cap = cap;
    }
    char *s = malloc(len + 1);
    if (s == NULL)
        return;
    memcpy(s, text, len);
    s[len] = '\0';
    l->v[l->n++] = s;
}

static void line_addf(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_addf(struct lines *l, const char *fmt, ...)
{
    char buf[METRICS_SERIES_SIZE + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        line_add(l, buf, (size_t)n);
}

/* A counter from Redis, or a process's gauge lines (field NULL). */
static void took(void *ctx, const char *field, const char *value)
{
    struct lines *l = ctx;
    if (field != NULL) {
        line_addf(l, "%s %s", field, value);
        return;
    }
    for (const char *p = value; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        if (n > 0)
            line_add(l, p, n);
        p += n + (p[n] == '\n');
    }
}

struct active {
    const struct jobtypes *types;
    long long (*n)[3];
    struct lines *other;          /* types no longer configured */
};

static const enum run_status active_statuses[3] = {RUN_QUEUED, RUN_RUNNING, RUN_INPUT_REQUIRED};

static void counted(void *ctx, const char *type, const char *status, long long n)
{
    struct active *a = ctx;
    for (size_t k = 0; k < 3; k++) {
        if (strcmp(status, run_status_name(active_statuses[k])) != 0)
            continue;
        for (size_t i = 0; i < a->types->n; i++) {
            if (strcmp(a->types->v[i].name, type) == 0) {
                a->n[i][k] = n;
                return;
            }
        }
        char label[96];
        metrics_label(type, label, sizeof label);
        line_addf(a->other, "opstream_runs_active{type=\"%s\",status=\"%s\"} %lld", label,
                  status, n);
    }
}

/* Where a line's name ends: at its labels or its value. */
static size_t name_len(const char *line)
{
    return strcspn(line, "{ ");
}

/* The rank of a histogram's line within its label set, and its bucket's
 * bound. */
static double bound(const char *line, int *rank)
{
    size_t n = name_len(line);
    *rank = n > 4 && strncmp(line + n - 4, "_sum", 4) == 0     ? 1
            : n > 6 && strncmp(line + n - 6, "_count", 6) == 0 ? 2
                                                               : 0;
    const char *le = strstr(line, "le=\"");
    if (le == NULL)
        return 0;
    return strncmp(le + 4, "+Inf", 4) == 0 ? INFINITY : strtod(le + 4, NULL);
}

/* The labels of a line without le (a histogram's series), as a length. */
static size_t base_labels(const char *line, const char **start)
{
    const char *open = strchr(line, '{');
    if (open == NULL || open > line + name_len(line)) {
        *start = "";
        return 0;
    }
    *start = open + 1;
    const char *le = strstr(open, "le=\"");
    const char *close = strchr(open, '}');
    const char *end = le != NULL && le < close ? le : close;
    if (end > *start && end[-1] == ',')
        end--;
    return (size_t)(end - *start);
}

static int line_cmp(const void *pa, const void *pb)
{
    const char *a = *(char *const *)pa, *b = *(char *const *)pb;
    const char *la, *lb;
    size_t na = base_labels(a, &la), nb = base_labels(b, &lb);
    int c = strncmp(la, lb, na < nb ? na : nb);
    if (c != 0 || na != nb)
        return c != 0 ? c : (na < nb ? -1 : 1);
    int ra, rb;
    double ba = bound(a, &ra), bb = bound(b, &rb);
    if (ra != rb)
        return ra - rb;
    if (ba != bb)
        return ba < bb ? -1 : 1;
    return strcmp(a, b);
}

/* 1 when the line is of the family f. */
static int of_family(const char *line, const struct family *f)
{
    size_t n = name_len(line), fn = strlen(f->name);
    if (n == fn && strncmp(line, f->name, n) == 0)
        return 1;
    if (strcmp(f->type, "histogram") != 0 || n <= fn || strncmp(line, f->name, fn) != 0)
        return 0;
    const char *suffix = line + fn;
    size_t sn = n - fn;
    return (sn == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
           (sn == 4 && strncmp(suffix, "_sum", 4) == 0) ||
           (sn == 6 && strncmp(suffix, "_count", 6) == 0);
}

char *metrics_render(struct bus *b, struct store *st, const struct jobtypes *types)
{
    struct lines l = {0};
    if (bus_metrics_read(b, clock_now_ms() - METRICS_STALE_MS, took, &l) != 0) {
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
        free(l.v);
        return NULL;
    }
    /* Every type's active runs, 0 where the ledger has none; none at all
     * when the ledger cannot be read (an absent series, not a false 0). */
    long long (*n)[3] = calloc(types->n + 1, sizeof *n);
    struct active a = {types, n, &l};
    if (n != NULL && st != NULL && store_run_active_counts(st, counted, &a) == 0) {
        for (size_t i = 0; i < types->n; i++) {
            char label[96];
            metrics_label(types->v[i].name, label, sizeof label);
            for (size_t k = 0; k < 3; k++)
                line_addf(&l, "opstream_runs_active{type=\"%s\",status=\"%s\"} %lld", label,
                          run_status_name(active_statuses[k]), n[i][k]);
        }
    }
    free(n);
    long long pending = bus_webhooks_pending(b);
    if (pending >= 0)
        line_addf(&l, "opstream_webhooks_pending %lld", pending);
    qsort(l.v, l.n, sizeof *l.v, line_cmp);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    for (size_t k = 0; f != NULL && k < N_FAMILIES; k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", families[k].name, families[k].help,
                families[k].name, families[k].type);
        int any = 0;
        for (size_t i = 0; i < l.n; i++) {
            if (of_family(l.v[i], &families[k])) {
                fprintf(f, "%s\n", l.v[i]);
                any = 1;
            }
        }
        /* A counter without labels is 0 before its first count. */
        if (!any && strcmp(families[k].name, "opstream_events_appended_total") == 0)
            fprintf(f, "%s 0\n", families[k].name);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    if (f == NULL || fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
