/* The benchmark's load generator: one process, one epoll loop driving
 * libcurl's multi interface, so that thousands of connections cost a
 * curl handle each, not a process or a thread.
 *
 *   loadgen streams URLS SECONDS [options]
 *     opens every URL in the file URLS at once as an EventSource would
 *     (Accept: text/event-stream), reads SSE frames, and reports JSON:
 *     answers by status, events, latency (now - the "t" in each event's
 *     data, CLOCK_REALTIME ns; the end events, sent all at once after the
 *     paced ones, are not sampled), sequence gaps and repeats per stream
 *     ("seq"), streams that saw their end ("end":1 in the data).
 *     --publish KIND TARGETS RATE SECS: a publisher thread writes RATE
 *       events/s for SECS round-robin over the targets once every stream
 *       is open, then an end event to each. KIND: bus (TARGETS: run ids,
 *       appended to Redis as opstream's jobs do; REDIS names the server),
 *       nchan (TARGETS: publisher URLs), xadd (TARGETS: Redis stream keys,
 *       XADD as the FastAPI peer's own tasks write; REDIS_HOST, REDIS_PORT),
 *       announce (TARGETS: run ids; only the announcement every append
 *       makes, on each run's channel, for runs nobody here follows: what
 *       a responder pays for the rest of an installation; REDIS).
 *     --cpu "P ...": the CPU time these processes (not their children)
 *       spend while the publisher runs, as % of one core each (mean and
 *       max over them).
 *     --cut MS: MS after every stream is open, every connection is closed
 *       and opened again at once with Last-Event-ID (a reconnect storm).
 *     --pids "P ...": the RSS of these processes (and their children)
 *       is read before the streams open and once all are open.
 *     --kill "P ...": once every stream is open and events flow, SIGKILLs
 *       the one of these processes holding the most descriptors (the one
 *       serving the most streams) and reports the time to the next event
 *       of a stream that lost its connection (it reconnects after the
 *       server's retry:, else 3 s, as EventSource does).
 *
 *   loadgen http METHOD URL BODY CONNS SECONDS
 *     CONNS keep-alive connections, each sending the next request as soon
 *     as the last is answered, for SECONDS; reports requests/s, status
 *     counts, p50/p99 latency.
 *
 * Loopback only: it refuses any URL whose host is not 127.0.0.1. */
#define _GNU_SOURCE
#include "bus.h"
#include "clock.h"
#include "config.h"

#include <curl/curl.h>
#include <dirent.h>
#include <hiredis/hiredis.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 16384
#define URL_MAX 512

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
    return now_ns(CLOCK_MONOTONIC) / 1000000;
}

/* Latency samples in microseconds. */
static struct {
    int64_t *v;
    size_t n, cap;
} lat;

static void sample(int64_t us)
{
    if (lat.n == lat.cap) {
        size_t cap = lat.cap ? lat.cap * 2 : 65536;
        int64_t *p = realloc(lat.v, cap * sizeof *p);
        if (p == NULL)
            return;
        lat.v = p, lat.cap = cap;
    }
    lat.v[lat.n++] = us;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(double p)
{
    if (lat.n == 0)
        return -1;
    size_t i = (size_t)(p * (double)(lat.n - 1));
    return (double)lat.v[i] / 1000.0;
}

static int loopback(const char *url)
{
    return strncmp(url, "http://127.0.0.1:", 17) == 0;
}

/* ---- the epoll loop under libcurl's multi interface ---- */

static CURLM *multi;
static int ep;
static int64_t timeout_at = -1;  /* curl's timer, monotonic ms */

static int on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
    (void)e, (void)u, (void)sp;
    struct epoll_event ev = {.data.fd = s};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_timer(CURLM *m, long ms, void *u)
{
    (void)m, (void)u;
    timeout_at = ms < 0 ? -1 : mono_ms() + ms;
    return 0;
}

static void (*on_done)(CURL *e, CURLcode rc);

static void drain_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            on_done(msg->easy_handle, msg->data.result);
}

/* One round: waits up to max_ms for sockets or curl's timer. */
static void pump(int max_ms)
{
    struct epoll_event evs[512];
    int wait = max_ms;
    if (timeout_at >= 0) {
        int64_t d = timeout_at - mono_ms();
        if (d < wait)
            wait = d < 0 ? 0 : (int)d;
    }
    int n = epoll_wait(ep, evs, 512, wait), running;
    if (n == 0 && timeout_at >= 0 && mono_ms() >= timeout_at) {
        timeout_at = -1;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    for (int i = 0; i < n; i++) {
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi, evs[i].data.fd, flags, &running);
    }
    drain_done();
}

static void multi_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    ep = epoll_create1(EPOLL_CLOEXEC);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 20000L);
}

/* ---- streams ---- */

struct stream {
    CURL *e;
    struct curl_slist *hdrs;
    char url[URL_MAX];
    char last_id[64];
    long code;
    int ok;                     /* answered 200 at least once */
    int ended;                  /* saw its end */
    int live;                   /* a request is under way */
    int cut;                    /* lost its connection to --kill */
    int retry_ms;               /* the server's retry:, else EventSource's default */
    int64_t reconnect_at;       /* when a cut stream comes back, 0: not waiting */
    long events;
    long long seq;              /* the last seq seen */
    long gaps, repeats;
    size_t len;
    char buf[FRAME_MAX];
    char id[64];                /* of the frame being read */
};

static struct stream *streams;
static size_t nstreams;
static atomic_int all_open;
static int64_t kill_ms;          /* when --kill struck, 0 before */
static int64_t resumed_ms = -1;  /* first event after it on a cut stream */
static int kill_victims;         /* streams cut by the kill */

static long long field(const char *data, const char *name)
{
    const char *p = strstr(data, name);
    return p ? strtoll(p + strlen(name), NULL, 10) : -1;
}

static void frame(struct stream *s, const char *data)
{
    s->events++;
    long long seq = field(data, "\"seq\":");
    long long t = field(data, "\"t\":");
    int end = strstr(data, "\"end\":1") != NULL;
    /* The end events go out all at once, unpaced: their wait in that
     * queue says how fast the publisher is, not the server. */
    if (t > 0 && !end)
        sample((now_ns(CLOCK_REALTIME) - t) / 1000);
    if (seq > 0) {
        if (seq <= s->seq)
            s->repeats++;
        else if (s->seq > 0 && seq != s->seq + 1)
            s->gaps += seq - s->seq - 1;
        else if (s->seq == 0 && seq != 1)
            s->gaps += seq - 1;
        if (seq > s->seq)
            s->seq = seq;
    }
    if (end)
        s->ended = 1;
    if (s->cut && kill_ms > 0 && resumed_ms < 0)
        resumed_ms = mono_ms() - kill_ms;
}

/* SSE: lines; a blank line ends a frame. */
static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    struct stream *s = u;
    size_t total = size * n;
    for (size_t i = 0; i < total; i++) {
        char c = p[i];
        if (c != '\n') {
            if (s->len < FRAME_MAX - 1)
                s->buf[s->len++] = c;
            continue;
        }
        s->buf[s->len] = '\0';
        if (strncmp(s->buf, "retry:", 6) == 0)
            s->retry_ms = atoi(s->buf + 6);
        else if (strncmp(s->buf, "id: ", 4) == 0)
            snprintf(s->id, sizeof s->id, "%s", s->buf + 4);
        else if (strncmp(s->buf, "id:", 3) == 0)
            snprintf(s->id, sizeof s->id, "%s", s->buf + 3);
        else if (strncmp(s->buf, "data: ", 6) == 0 || strncmp(s->buf, "data:", 5) == 0)
            frame(s, s->buf + (s->buf[5] == ' ' ? 6 : 5));
        /* A frame's id counts once the frame is whole (its blank line),
         * wherever in it the id came. */
        if (s->len == 0 && s->id[0] != '\0') {
            snprintf(s->last_id, sizeof s->last_id, "%s", s->id);
            s->id[0] = '\0';
        }
        s->len = 0;
    }
    return total;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
    struct stream *s = u;
    int code;
    if (sscanf(p, "HTTP/%*s %d", &code) == 1) {
        s->code = code;
        if (code == 200)
            s->ok = 1;
    }
    return size * n;
}

static void stream_start(struct stream *s)
{
    if (s->e == NULL) {
        s->e = curl_easy_init();
        curl_easy_setopt(s->e, CURLOPT_URL, s->url);
        curl_easy_setopt(s->e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(s->e, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(s->e, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(s->e, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(s->e, CURLOPT_TCP_NODELAY, 1L);
    }
    curl_slist_free_all(s->hdrs);
    s->hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
    if (s->last_id[0] != '\0') {
        char h[96];
        snprintf(h, sizeof h, "Last-Event-ID: %s", s->last_id);
        s->hdrs = curl_slist_append(s->hdrs, h);
    }
    curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, s->hdrs);
    s->len = 0;
    s->id[0] = '\0';
    s->live = 1;
    curl_multi_add_handle(multi, s->e);
}

static int retry_ms = 3000;       /* EventSource's delay where the server sends none */
static int reconnect_on_close;    /* --kill: streams reconnect as EventSource does */

static void stream_done(CURL *e, CURLcode rc)
{
    (void)rc;
    struct stream *s;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
    curl_multi_remove_handle(multi, e);
    s->live = 0;
    if (reconnect_on_close && !s->ended && s->ok) {
        /* Cut: it comes back after retry_ms, as EventSource does. */
        s->reconnect_at = mono_ms() + (s->retry_ms > 0 ? s->retry_ms : retry_ms);
        if (kill_ms > 0 && !s->cut) {
            s->cut = 1;
            kill_victims++;
        }
    }
}

/* ---- the publisher thread ---- */

struct publisher {
    char kind[16];
    char **targets;
    size_t n;
    double rate;
    int seconds;
    const char *redis;
    long sent, failed;
    double achieved;
    const char *cpu_pids;
    double cpu_mean_pct, cpu_max_pct;
    int done;
};

#define CPU_PIDS_MAX 64

/* utime + stime of each pid, in clock ticks: the number of pids read. */
static int cpu_ticks(const char *pids, long long ticks[CPU_PIDS_MAX])
{
    char list[4096];
    int n = 0;
    snprintf(list, sizeof list, "%s", pids);
    for (char *save, *t = strtok_r(list, " ", &save); t != NULL && n < CPU_PIDS_MAX;
         t = strtok_r(NULL, " ", &save)) {
        char path[64], line[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", t);
        FILE *f = fopen(path, "r");
        ticks[n] = 0;
        if (f != NULL && fgets(line, sizeof line, f) != NULL) {
            /* Fields after the command's closing parenthesis: state is
             * field 3, utime 14, stime 15. */
            char *q = strrchr(line, ')');
            long long ut = 0, st = 0;
            if (q != NULL && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld",
                                    &ut, &st) == 2)
                ticks[n] = ut + st;
        }
        if (f != NULL)
            fclose(f);
        n++;
    }
    return n;
}

static int publish_one(struct publisher *p, struct bus *b, redisContext *x, CURL *c, size_t i,
                       long long seq, int end)
{
    char data[160];
    if (end)
        snprintf(data, sizeof data, "{\"seq\":%lld,\"t\":%" PRId64 ",\"end\":1,\"status\":\"succeeded\"}",
                 seq, now_ns(CLOCK_REALTIME));
    else
        snprintf(data, sizeof data, "{\"seq\":%lld,\"t\":%" PRId64 "}", seq, now_ns(CLOCK_REALTIME));
    if (x != NULL && strcmp(p->kind, "announce") == 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s %lld-0 %lld-1 %s %s", p->targets[i], seq, seq,
                 end ? "run_finished" : "progress", data);
        char channel[64];
        bus_notify_channel(p->targets[i], channel, sizeof channel);
        redisReply *r = redisCommand(x, "SPUBLISH %s %s", channel, msg);
        int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        return ok ? 0 : -1;
    }
    if (x != NULL) {
        redisReply *r = redisCommand(x, "XADD %s * type %s data %s", p->targets[i],
                                     end ? "run_finished" : "progress", data);
        int ok = r != NULL && r->type == REDIS_REPLY_STRING;
        freeReplyObject(r);
        return ok ? 0 : -1;
    }
    if (b != NULL) {
        char id[EVENT_ID_SIZE], token[64];
        snprintf(token, sizeof token, "bench-%zu-%lld", i, seq);
        /* As a runner writes, the id's time from its clock (no floor:
         * nothing here is archived). */
        return bus_append(b, p->targets[i], end ? "run_finished" : "progress", data, token, 100000,
                          "", "", clock_now_ms(), id) == 0 ? 0 : -1;
    }
    char body[256];
    if (strcmp(p->kind, "fastapi") == 0)
        snprintf(body, sizeof body, "{\"event\":\"%s\",\"data\":%s}", end ? "run_finished" : "progress",
                 data);
    else
        snprintf(body, sizeof body, "%s", data);
    curl_easy_setopt(c, CURLOPT_URL, p->targets[i]);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long code = 0;
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code >= 200 && code < 300 ? 0 : -1;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p, (void)u;
    return size * n;
}

static void *publish(void *arg)
{
    struct publisher *p = arg;
    struct bus *b = NULL;
    redisContext *x = NULL;
    CURL *c = NULL;
    if (strcmp(p->kind, "xadd") == 0) {
        const char *host = getenv("REDIS_HOST"), *port = getenv("REDIS_PORT");
        x = redisConnect(host ? host : "127.0.0.1", port ? atoi(port) : 6379);
        if (x == NULL || x->err) {
            fprintf(stderr, "loadgen: cannot reach redis\n");
            p->done = 1;
            return NULL;
        }
    } else if (strcmp(p->kind, "announce") == 0) {
        const char *path = p->redis != NULL && strncmp(p->redis, "unix:", 5) == 0 ? p->redis + 5 : "";
        x = redisConnectUnix(path);
        if (x == NULL || x->err) {
            fprintf(stderr, "loadgen: cannot reach redis at %s\n", path);
            p->done = 1;
            return NULL;
        }
    } else if (strcmp(p->kind, "bus") == 0) {
        struct config cfg;
        config_defaults(&cfg);
        snprintf(cfg.redis, sizeof cfg.redis, "%s", p->redis);
        char err[CONFIG_ERR_SIZE];
        if ((b = bus_connect(&cfg, 5000, err, sizeof err)) == NULL) {
            fprintf(stderr, "loadgen: %s\n", err);
            p->done = 1;
            return NULL;
        }
    } else {
        c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    }
    long long *seq = calloc(p->n, sizeof *seq);
    long long cpu0[CPU_PIDS_MAX], cpu1[CPU_PIDS_MAX];
    int ncpu = p->cpu_pids != NULL ? cpu_ticks(p->cpu_pids, cpu0) : 0;
    int64_t start = now_ns(CLOCK_MONOTONIC), total = (int64_t)(p->rate * p->seconds);
    size_t next = 0;
    for (int64_t k = 0; k < total; k++) {
        /* Paced: event k is due at start + k / rate. */
        int64_t due = start + (int64_t)((double)k * 1e9 / p->rate);
        int64_t now = now_ns(CLOCK_MONOTONIC);
        if (due > now) {
            struct timespec ts = {(due - now) / 1000000000, (due - now) % 1000000000};
            nanosleep(&ts, NULL);
        }
        size_t i = next;
        next = (next + 1) % p->n;
        if (publish_one(p, b, x, c, i, ++seq[i], 0) == 0)
            p->sent++;
        else
            p->failed++;
    }
    double elapsed = (double)(now_ns(CLOCK_MONOTONIC) - start) / 1e9;
    p->achieved = (double)p->sent / elapsed;
    if (ncpu > 0 && cpu_ticks(p->cpu_pids, cpu1) == ncpu) {
        double hz = (double)sysconf(_SC_CLK_TCK), sum = 0;
        for (int k = 0; k < ncpu; k++) {
            double pct = (double)(cpu1[k] - cpu0[k]) / hz / elapsed * 100.0;
            sum += pct;
            if (pct > p->cpu_max_pct)
                p->cpu_max_pct = pct;
        }
        p->cpu_mean_pct = sum / ncpu;
    }
    for (size_t i = 0; i < p->n; i++)
        publish_one(p, b, x, c, i, ++seq[i], 1);
    free(seq);
    bus_free(b);
    if (x != NULL)
        redisFree(x);
    if (c != NULL)
        curl_easy_cleanup(c);
    p->done = 1;
    return NULL;
}

/* ---- memory ---- */

static long rss_kib(const char *pids)
{
    long sum = 0;
    char list[4096];
    snprintf(list, sizeof list, "%s", pids);
    for (char *save, *t = strtok_r(list, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", t);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "VmRSS:", 6) == 0)
                sum += atol(line + 6);
        fclose(f);
    }
    return sum;
}

static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char **v = NULL, line[URL_MAX];
    size_t cap = 0;
    *n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = strdup(line);
    }
    fclose(f);
    return v;
}

/* Of the processes in "P ...", the one with the most open descriptors. */
static pid_t busiest(const char *list)
{
    pid_t best = 0;
    long most = -1;
    for (const char *p = list; *p != '\0';) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        p = end;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        long fds = 0;
        DIR *d = opendir(path);
        for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
            fds += e->d_name[0] != '.';
        if (d != NULL)
            closedir(d);
        if (fds > most) {
            most = fds;
            best = (pid_t)pid;
        }
    }
    return best;
}

static int streams_main(int argc, char **argv)
{
    size_t n;
    char **urls = read_lines(argv[2], &n);
    int seconds = atoi(argv[3]);
    struct publisher pub = {0};
    int cut_ms = 0;
    const char *kill_pids = NULL;
    const char *pids = NULL;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--publish") && i + 4 < argc) {
            snprintf(pub.kind, sizeof pub.kind, "%s", argv[++i]);
            pub.targets = read_lines(argv[++i], &pub.n);
            pub.rate = atof(argv[++i]);
            pub.seconds = atoi(argv[++i]);
            pub.redis = getenv("REDIS");
        } else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
            pub.cpu_pids = argv[++i];
        } else if (!strcmp(argv[i], "--cut") && i + 1 < argc) {
            cut_ms = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--pids") && i + 1 < argc) {
            pids = argv[++i];
        } else if (!strcmp(argv[i], "--kill") && i + 1 < argc) {
            kill_pids = argv[++i];
        } else if (!strcmp(argv[i], "--retry-ms") && i + 1 < argc) {
            retry_ms = atoi(argv[++i]);
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (urls == NULL || n == 0 || (pub.kind[0] && (pub.targets == NULL || pub.n == 0))) {
        fprintf(stderr, "loadgen: nothing to open\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        if (!loopback(urls[i])) {
            fprintf(stderr, "loadgen: %s: loopback only\n", urls[i]);
            return 2;
        }
    multi_init();
    on_done = stream_done;
    reconnect_on_close = kill_pids != NULL || cut_ms > 0;
    nstreams = n;
    streams = calloc(n, sizeof *streams);
    long rss0 = pids ? rss_kib(pids) : 0, rss1 = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(streams[i].url, URL_MAX, "%s", urls[i]);
        stream_start(&streams[i]);
    }
    int64_t t0 = mono_ms(), deadline = t0 + (int64_t)seconds * 1000, opened_ms = -1;
    int64_t cut_at = -1, storm_start = 0, storm_ms = -1, kill_at = -1;
    pthread_t pt;
    int pub_started = 0;
    size_t ok_first = 0;
    for (;;) {
        pump(10);
        int64_t now = mono_ms();
        size_t ok = 0, ended = 0, live = 0;
        for (size_t i = 0; i < n; i++) {
            ok += streams[i].code == 200;
            ended += streams[i].ended;
            live += streams[i].live;
        }
        if (opened_ms < 0 && ok == n) {
            opened_ms = now - t0;
            atomic_store(&all_open, 1);
            if (pids)
                rss1 = rss_kib(pids);
            if (cut_ms > 0)
                cut_at = now + cut_ms;
            if (kill_pids != NULL)
                kill_at = now + 1000;
        }
        if (!pub_started && pub.kind[0] && (opened_ms >= 0 || live == 0)) {
            pthread_create(&pt, NULL, publish, &pub);
            pub_started = 1;
        }
        if (cut_at > 0 && now >= cut_at) {
            /* Every connection closed at once, then opened again at once
             * with its last id: a reconnect storm. */
            ok_first = ok;
            for (size_t i = 0; i < n; i++) {
                if (streams[i].live) {
                    curl_multi_remove_handle(multi, streams[i].e);
                    streams[i].live = 0;
                }
                streams[i].code = 0;
            }
            int64_t s0 = mono_ms();
            for (size_t i = 0; i < n; i++)
                if (!streams[i].ended)
                    stream_start(&streams[i]);
                else
                    streams[i].code = 200;
            cut_at = -1;
            storm_start = s0;
            continue; /* ok was counted before the cut */
        }
        if (storm_start > 0 && ok == n) {
            storm_ms = now - storm_start;
            storm_start = 0;
        }
        if (kill_at > 0 && now >= kill_at) {
            kill(busiest(kill_pids), SIGKILL);
            kill_ms = now;
            kill_at = -1;
        }
        for (size_t i = 0; i < n; i++) {
            struct stream *s = &streams[i];
            if (s->reconnect_at > 0 && s->reconnect_at <= now && !s->live) {
                s->reconnect_at = 0;
                stream_start(s);
            }
        }
        if ((ended == n && (!pub_started || pub.done)) || now >= deadline)
            break;
        if (live == 0 && !reconnect_on_close && !pub_started)
            break;
        if (live == 0 && !reconnect_on_close && pub_started && pub.done)
            break;
    }
    if (pub_started && !pub.done)
        pthread_cancel(pt);
    if (pub_started)
        pthread_join(pt, NULL);
    long codes200 = 0, other = 0, ended = 0, gaps = 0, repeats = 0, events = 0;
    for (size_t i = 0; i < n; i++) {
        if (streams[i].ok)
            codes200++;
        else
            other++;
        ended += streams[i].ended;
        gaps += streams[i].gaps;
        repeats += streams[i].repeats;
        events += streams[i].events;
    }
    qsort(lat.v, lat.n, sizeof *lat.v, cmp64);
    printf("{\"streams\":%zu,\"answered_200\":%ld,\"answered_other\":%ld,\"open_ms\":%" PRId64
           ",\"ended\":%ld,\"events\":%ld,\"gaps\":%ld,\"repeats\":%ld,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"samples\":%zu,"
           "\"published\":%ld,\"publish_failed\":%ld,\"publish_rate\":%.1f,"
           "\"rss0_kib\":%ld,\"rss1_kib\":%ld,\"storm_ok_before\":%zu,\"storm_ms\":%" PRId64
           ",\"kill_victims\":%d,\"resumed_ms\":%" PRId64
           ",\"cpu_mean_pct\":%.2f,\"cpu_max_pct\":%.2f}\n",
           n, codes200, other, opened_ms, ended, events, gaps, repeats, pct(0.5), pct(0.99),
           lat.n ? (double)lat.v[lat.n - 1] / 1000.0 : -1.0, lat.n, pub.sent, pub.failed,
           pub.achieved, rss0, rss1, ok_first, storm_ms, kill_victims,
           resumed_ms, pub.cpu_mean_pct, pub.cpu_max_pct);
    return 0;
}

/* ---- closed-loop HTTP ---- */

struct req {
    CURL *e;
    int64_t sent_ns;
};
static long http_codes[600];
static int64_t http_until;
static int inflight;
static const char *http_body;

static void http_send(struct req *r)
{
    r->sent_ns = now_ns(CLOCK_MONOTONIC);
    inflight++;
    curl_multi_add_handle(multi, r->e);
}

static void http_done(CURL *e, CURLcode rc)
{
    struct req *r;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(multi, e);
    inflight--;
    if (rc != CURLE_OK)
        code = 0;
    http_codes[code >= 0 && code < 600 ? code : 0]++;
    sample((now_ns(CLOCK_MONOTONIC) - r->sent_ns) / 1000);
    if (mono_ms() < http_until)
        http_send(r);
}

static int http_main(int argc, char **argv)
{
    if (argc < 7)
        return 2;
    const char *method = argv[2], *url = argv[3];
    http_body = argv[4];
    int conns = atoi(argv[5]), seconds = atoi(argv[6]);
    if (!loopback(url)) {
        fprintf(stderr, "loadgen: %s: loopback only\n", url);
        return 2;
    }
    multi_init();
    on_done = http_done;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct req *reqs = calloc((size_t)conns, sizeof *reqs);
    http_until = mono_ms() + (int64_t)seconds * 1000;
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < conns; i++) {
        CURL *e = reqs[i].e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0)
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, http_body);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &reqs[i]);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        http_send(&reqs[i]);
    }
    int64_t stop = http_until + 30000;
    for (;;) {
        pump(10);
        if ((inflight == 0 && mono_ms() >= http_until) || mono_ms() > stop)
            break;
    }
    double secs = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    qsort(lat.v, lat.n, sizeof *lat.v, cmp64);
    long ok = 0, bad = 0;
    for (int c = 0; c < 600; c++)
        *(c >= 200 && c < 300 ? &ok : &bad) += http_codes[c];
    printf("{\"requests\":%zu,\"ok\":%ld,\"other\":%ld,\"rps\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f}\n", lat.n, ok, bad, (double)ok / secs, pct(0.5), pct(0.99));
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 4 && strcmp(argv[1], "streams") == 0)
        return streams_main(argc, argv);
    if (argc >= 7 && strcmp(argv[1], "http") == 0)
        return http_main(argc, argv);
    fprintf(stderr, "usage: loadgen streams URLS SECONDS [--publish KIND TARGETS RATE SECS]"
                    " [--cut MS] [--pids \"P ...\"] [--cpu \"P ...\"] [--kill PID] [--retry-ms MS]\n"
                    "       loadgen http METHOD URL BODY CONNS SECONDS\n");
    return 2;
}
