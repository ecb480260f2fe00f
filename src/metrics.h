#ifndef OPSTREAM_METRICS_H
#define OPSTREAM_METRICS_H
/* What GET /v1/metrics serves, in Prometheus' text format. Each process
 * counts in its own memory (a request costs no round trip) and hands its
 * counts to Redis, where every process's add up, at least every
 * METRICS_REPORT_MS, with its gauges (open streams, slots in use), which
 * are its own and labelled with it. A process that dies loses what it
 * had not handed over yet; one whose report fails keeps it for the next. */
#include <stdatomic.h>
#include <stddef.h>

struct bus;
struct store;
struct jobtypes;

#define METRICS_REPORT_MS 1000
/* A process not heard from for this long is gone: its gauges are dropped. */
#define METRICS_STALE_MS (5 * METRICS_REPORT_MS)
/* Distinct series one process counts; beyond, counts go to
 * opstream_metrics_dropped_total (labels come from bounded sets: routes,
 * statuses, job types). */
#define METRICS_SERIES_MAX 4096
#define METRICS_SERIES_SIZE 200

/* This process, as its gauges' label value: "PROGRAM@HOST:PID"; and
 * nothing counted yet (a forked child starts afresh). */
void metrics_init(const char *program);
const char *metrics_process(void);

/* Adds by to the counter name{labels}; labels is "k=\"v\",..." or "". */
void metrics_count(const char *name, const char *labels, long long by);
/* One observation of seconds into the histogram name{labels}. */
void metrics_observe(const char *name, const char *labels, double seconds);
/* A label value as the format wants it (\\, \" and \n escaped), cut to fit size. */
void metrics_label(const char *value, char *out, size_t size);

/* The process's gauges: lines "name{labels} value\n" written into out
 * (size bytes), each labelled with metrics_process(). */
typedef void (*metrics_gauges_fn)(char *out, size_t size, void *ctx);
/* Appends the line "name{label=\"PROCESS\"} value" to out (a string of size bytes). */
void metrics_gauge(char *out, size_t size, const char *name, const char *label, double value);
void metrics_set_gauges(metrics_gauges_fn fn, void *ctx);

/* Hands this process's counts and gauges to Redis: 0, or -1 (kept). */
int metrics_report(struct bus *b);
/* Reports from a thread of its own while *stopping is 0, connecting as
 * it must; with keep 0 it connects for each report and closes again (a
 * process that keeps no connection between requests: mod_fcgid's). 0
 * started, -1. */
struct config;
int metrics_reporter_start(const struct config *cfg, const atomic_int *stopping, int keep);
/* True once this process has such a reporter. */
int metrics_reporter_running(void);

/* The exposition: every process's counts from Redis, the ledger's
 * active runs by type and status, the webhooks waiting. malloc'd text
 * (the caller frees), or NULL when Redis cannot be read. */
char *metrics_render(struct bus *b, struct store *st, const struct jobtypes *types);

#endif
