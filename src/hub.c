/* The stream hub. A stream costs a thread, a Redis connection and a read
 * of its own only while its replay is sent; then it comes here, where one
 * thread holds thousands in an epoll loop:
 *
 * - A stream is its socket, its cursor and its credentials; bytes the
 *   socket would not take are kept only until it takes them.
 * - Streams are grouped by run. Every append is announced on its run's
 *   own Redis channel with the event and the id before it (bus.h), and
 *   the hub follows the channels of the runs it holds, no others: an
 *   event that follows what the hub has of its run goes straight to its
 *   viewers; otherwise the announcement marks its run, and one pipelined
 *   XRANGE per round reads every marked run once for all its viewers. A
 *   run whose following begins (a first viewer, a new listener) is read
 *   again, as an announcement may have been missed before.
 * - Keepalives, hang-ups (the web server closes the connection or aborts
 *   the request), revocations, a link's expiry, the process stopping and
 *   on_disconnect: cancel follow the stream rules (stream_rules.h), as
 *   on a request's thread (api_events.c). A stream that cannot go on here
 *   (Redis away or silent too long, its events trimmed past its cursor, a socket
 *   that takes nothing) is ended cleanly: its client resumes from its last
 *   event on a new request, whose replay comes from the archive if need be.
 *
 * After the hand-off libfcgi is out of the picture (one request per
 * thread), so responses are finished with records from fcgi_record.c. */
#include "hub.h"
#include "mcp.h"
#include "bus.h"
#include "clock.h"
#include "event.h"
#include "fcgi_record.h"
#include "log.h"
#include "out.h"
#include "sse.h"
#include "store.h"
#include "stream_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BUCKETS 4096            /* runs hashed by id */
#define EVENTS_PER_WAIT 256
#define READ_COUNT 100          /* entries per run per round */
#define READ_RUNS 256           /* runs per pipelined round */
#define PENDING_MAX (1 << 20)   /* bytes held back for a slow socket before it is let go */
#define TICK_MAX_MS 100
#define LISTEN_SILENCE_MS 1000  /* beyond two checks' pings, before the listener is given up */

struct hub_run;

struct hub_stream {
    struct hub_stream *next, *prev; /* in its run */
    struct hub_stream *inbox_next;  /* on its way in */
    struct hub_run *run;
    int fd;
    int request_id;
    int ending;                 /* its end is written once pending drains */
    int ended;                  /* the hub ended it (the run's end, a rule): not its client */
    struct event_id cursor;     /* the last event sent */
    struct stream_watch w;      /* its run, credentials and last write */
    struct stream_view *view;   /* a view's stream's, owned (w.view points here); else NULL */
    unsigned char *pending;     /* NULL unless the socket would block */
    size_t pending_len, pending_off;
    struct fcgi_scan scan;
};

struct hub_run {
    struct hub_run *next;       /* in its bucket */
    struct hub_run *next_dirty;
    struct hub_stream *streams;
    struct event_id read;       /* read and delivered to every stream up to here */
    int dirty;                  /* on the list of runs to read */
    int busy;                   /* being walked: kept even without streams */
    char id[ID_SIZE];
};

struct hub {
    const struct config *cfg;
    const atomic_int *stopping;
    pthread_t thread;
    int ep, wake;
    pthread_mutex_t lock;
    struct hub_stream *inbox;
    atomic_int count;
    atomic_llong lag_ms;        /* the longest append-to-send time since last taken */
    struct bus *cmd, *listen;
    int64_t lost_ms;            /* since when Redis is away; 0 while connected */
    int64_t heard_ms;           /* when the listener last heard from its server */
    char server[BUS_SERVER_SIZE]; /* the Redis process the streams were read from */
    int64_t next_connect_ms;
    int backoff_ms;
    long long revocations;
    int64_t next_check_ms;
    struct hub_run *buckets[BUCKETS];
    struct hub_run *dirty;
    unsigned char key[crypto_shorthash_KEYBYTES];
    unsigned char *scratch;     /* one stream's records */
    size_t scratch_cap;
    char *frame;                /* one event as SSE */
    size_t frame_cap;
};

/* epoll tags other than streams */
static int wake_tag, listen_tag;

/* The largest frame an MCP view's message may make (a message carries at
 * most one event's data and a schema). */
#define FRAME_MAX ((size_t)64 << 20)

static int grow(void *pbuf, size_t *cap, size_t need)
{
    unsigned char **buf = pbuf;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    unsigned char *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p, *cap = n;
    return 0;
}

static struct hub_run **bucket(struct hub *h, const char *id)
{
    uint64_t v;
    crypto_shorthash((unsigned char *)&v, (const unsigned char *)id, strlen(id), h->key);
    return &h->buckets[v % BUCKETS];
}

static struct hub_run *run_find(struct hub *h, const char *id)
{
    for (struct hub_run *r = *bucket(h, id); r != NULL; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static void mark(struct hub *h, struct hub_run *r)
{
    if (!r->dirty) {
        r->dirty = 1;
        r->next_dirty = h->dirty;
        h->dirty = r;
    }
}

/* A run with no stream left goes, unless a read of it is pending (it goes
 * after the read round). */
static void run_release(struct hub *h, struct hub_run *r)
{
    if (r->streams != NULL || r->dirty || r->busy)
        return;
    for (struct hub_run **p = bucket(h, r->id); *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    /* (A listener that fails here is found broken at its next read.) */
    if (h->listen != NULL)
        bus_listen_unfollow(h->listen, r->id);
    free(r);
}

static void stream_free(struct hub_stream *s)
{
    free(s->pending);
    free(s->view);
    free(s);
}

/* The stream's socket is closed and its state freed. A stream the hub
 * did not end lost its client: under on_disconnect: cancel, its run is
 * cancelled. */
static void drop(struct hub *h, struct hub_stream *s)
{
    if (!s->ended)
        stream_client_gone(&s->w, h->cfg, NULL, h->cmd);
    struct hub_run *r = s->run;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        r->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    close(s->fd); /* also leaves the epoll set */
    stream_free(s);
    atomic_fetch_sub(&h->count, 1);
    run_release(h, r);
}

static void want_out(struct hub *h, struct hub_stream *s, int yes)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (yes ? EPOLLOUT : 0u), .data.ptr = s};
    epoll_ctl(h->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Writes what the socket takes and keeps the rest: 0, or -1 when the
 * stream is to be dropped (gone, or too far behind). */
static int put(struct hub *h, struct hub_stream *s, const unsigned char *p, size_t n)
{
    if (s->pending == NULL) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        size_t done = w > 0 ? (size_t)w : 0;
        if (done == n)
            return 0;
        p += done, n -= done;
        if ((s->pending = malloc(n)) == NULL)
            return -1;
        memcpy(s->pending, p, n);
        s->pending_len = n, s->pending_off = 0;
        want_out(h, s, 1);
        return 0;
    }
    size_t held = s->pending_len - s->pending_off;
    if (held + n > PENDING_MAX)
        return -1;
    unsigned char *q = realloc(s->pending, s->pending_len + n);
    if (q == NULL)
        return -1;
    memcpy(q + s->pending_len, p, n);
    s->pending = q;
    s->pending_len += n;
    return 0;
}

/* SSE bytes to one stream, as FastCGI records of its request. */
static int send_sse(struct hub *h, struct hub_stream *s, const char *p, size_t n)
{
    if (grow(&h->scratch, &h->scratch_cap, fcgi_stdout_size(n)) != 0)
        return -1;
    size_t len = fcgi_stdout(h->scratch, s->request_id, p, n);
    s->w.last_write_ms = clock_mono_ms();
    return put(h, s, h->scratch, len);
}

/* The response ends here (the client resumes from its last event, or
 * stops after run_finished); the socket closes once it took the end. */
static void finish(struct hub *h, struct hub_stream *s)
{
    s->ended = 1;
    unsigned char end[FCGI_END_BYTES];
    fcgi_end(end, s->request_id);
    if (put(h, s, end, sizeof end) != 0 || s->pending == NULL) {
        drop(h, s);
        return;
    }
    s->ending = 1;
}

static void flush_pending(struct hub *h, struct hub_stream *s)
{
    while (s->pending_off < s->pending_len) {
        ssize_t w = write(s->fd, s->pending + s->pending_off, s->pending_len - s->pending_off);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (w <= 0) {
            drop(h, s);
            return;
        }
        s->pending_off += (size_t)w;
    }
    free(s->pending);
    s->pending = NULL;
    s->pending_len = s->pending_off = 0;
    if (s->ending) {
        drop(h, s);
        return;
    }
    want_out(h, s, 0);
}

/* The web server wrote to us: only an abort of the request matters, or
 * the connection's end. */
static void readable(struct hub *h, struct hub_stream *s)
{
    unsigned char buf[4096];
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || fcgi_scan_abort(&s->scan, buf, (size_t)n, s->request_id) != 0)
        drop(h, s);
}

/* The frame of an event for streams of view (NULL: as is) into h->frame:
 * its length, 0 when the event is nothing to them, -1 when it cannot be
 * built. The buffer grows until the frame fits. */
static long frame(struct hub *h, const struct stream_view *view, const char *run_id, const char *id,
                  const char *name, const char *data)
{
    if (grow(&h->frame, &h->frame_cap, sse_event_max(id, name, data) + 1) != 0) /* and a NUL */
        return -1;
    for (;;) {
        struct membuf m = {.data = h->frame, .cap = h->frame_cap};
        struct out o;
        membuf_out(&m, &o);
        if (stream_frame(&o, view, run_id, id, name, data) == 0)
            return (long)m.len;
        /* Only a view's message can outgrow the bound of the event's. */
        if (view == NULL || h->frame_cap >= FRAME_MAX ||
            grow(&h->frame, &h->frame_cap, h->frame_cap * 2) != 0)
            return -1;
    }
}

/* One event of a run, to each of its streams that has not had it: one
 * frame for all the streams that see events as they are, one for each
 * stream of a view. */
static void deliver(struct hub *h, struct hub_run *r, const char *id, const char *name,
                    const char *data)
{
    struct event_id eid;
    if (event_id_parse(id, &eid) != 0 || event_id_cmp(&eid, &r->read) <= 0)
        return;
    r->read = eid;
    if (r->streams != NULL) {
        /* The id's time is its append's (bus.h), on the writer's clock. */
        long long lag = (long long)(clock_now_ms() - (int64_t)eid.ms);
        long long was = atomic_load(&h->lag_ms);
        while (lag > was && !atomic_compare_exchange_weak(&h->lag_ms, &was, lag))
            ;
    }
    int end = event_is_terminal(name);
    long plain = -2; /* not built yet */
    for (struct hub_stream *s = r->streams, *next; s != NULL; s = next) {
        next = s->next;
        if (s->ending || event_id_cmp(&eid, &s->cursor) <= 0)
            continue;
        s->cursor = eid;
        long len;
        if (s->view != NULL)
            len = frame(h, s->view, r->id, id, name, data);
        else
            len = plain = plain == -2 ? frame(h, NULL, r->id, id, name, data) : plain;
        if (s->view != NULL)
            plain = -2; /* the buffer holds this stream's frame now */
        if (len < 0 || (len > 0 && send_sse(h, s, h->frame, (size_t)len) != 0))
            drop(h, s);
        else if (end)
            finish(h, s);
    }
}

struct round {
    struct hub *h;
    struct hub_run *runs[READ_RUNS];
    int got[READ_RUNS];
};

static void round_entry(void *ctx, size_t i, const char *id, const char *name, const char *data)
{
    struct round *rd = ctx;
    rd->got[i]++;
    deliver(rd->h, rd->runs[i], id, name, data);
}

static void redis_lost(struct hub *h)
{
    if (h->lost_ms == 0) {
        h->lost_ms = clock_mono_ms();
        log_warn("stream hub: redis connection lost");
    }
    bus_free(h->cmd);
    bus_free(h->listen);
    h->cmd = h->listen = NULL;
}

/* One pipelined read of the round's runs, each after where it was read
 * to, its events delivered as they come: 0, or -1 when Redis failed. */
static int read_round(struct hub *h, struct round *rd, size_t n)
{
    const char *ids[READ_RUNS], *after[READ_RUNS];
    char cursors[READ_RUNS][EVENT_ID_SIZE];
    for (size_t i = 0; i < n; i++) {
        rd->got[i] = 0;
        event_id_format(&rd->runs[i]->read, cursors[i]);
        ids[i] = rd->runs[i]->id, after[i] = cursors[i];
    }
    return bus_read_runs(h->cmd, n, ids, after, READ_COUNT, round_entry, rd);
}

/* Reads every marked run, pipelined, until none has more. */
static void read_marked(struct hub *h)
{
    while (h->dirty != NULL && h->cmd != NULL) {
        struct round rd = {.h = h};
        size_t n = 0;
        while (h->dirty != NULL && n < READ_RUNS) {
            struct hub_run *r = h->dirty;
            h->dirty = r->next_dirty;
            r->dirty = 0;
            r->busy++; /* its streams may all go during the round */
            rd.runs[n++] = r;
        }
        int rc = read_round(h, &rd, n);
        for (size_t i = 0; i < n; i++) {
            rd.runs[i]->busy--;
            /* A full batch may have more behind it; a failed read is
             * read again once Redis is back. */
            if (rc != 0 || rd.got[i] == READ_COUNT)
                mark(h, rd.runs[i]);
            else
                run_release(h, rd.runs[i]);
        }
        if (rc != 0) {
            redis_lost(h);
            return;
        }
    }
}

/* A run is followed from now on: what came before is read. */
static void followed(void *ctx, const char *run_id)
{
    struct hub *h = ctx;
    struct hub_run *r = run_find(h, run_id);
    if (r != NULL)
        mark(h, r);
}

/* An announced append: the event itself when it follows what the hub
 * has of its run and no read of the run is pending, else a read. */
static void noticed(void *ctx, const char *run_id, const char *prev_id, const char *entry_id,
                    const char *name, const char *data)
{
    struct hub *h = ctx;
    struct hub_run *r = run_find(h, run_id);
    struct event_id eid, prev;
    if (r == NULL || event_id_parse(entry_id, &eid) != 0 || event_id_cmp(&eid, &r->read) <= 0)
        return;
    if (!r->dirty && event_id_parse(prev_id, &prev) == 0 && event_id_cmp(&prev, &r->read) == 0 &&
        event_name_valid(name)) {
        r->busy++; /* its streams may all go */
        deliver(h, r, entry_id, name, data);
        r->busy--;
        run_release(h, r);
        return;
    }
    mark(h, r);
}

typedef void (*stream_fn)(struct hub *h, struct hub_stream *s, void *ctx);

static void run_streams(struct hub *h, struct hub_run *r, stream_fn fn, void *ctx)
{
    r->busy++; /* kept while fn may drop its streams */
    for (struct hub_stream *s = r->streams, *sn; s != NULL; s = sn) {
        sn = s->next;
        fn(h, s, ctx);
    }
    r->busy--;
    run_release(h, r);
}

static void each_stream(struct hub *h, stream_fn fn, void *ctx)
{
    for (size_t b = 0; b < BUCKETS; b++) {
        for (struct hub_run *r = h->buckets[b], *rn; r != NULL; r = rn) {
            rn = r->next;
            run_streams(h, r, fn, ctx);
        }
    }
}

static void end_stream(struct hub *h, struct hub_stream *s, void *ctx)
{
    (void)ctx;
    if (!s->ending)
        finish(h, s);
}

static void drop_stream(struct hub *h, struct hub_stream *s, void *ctx)
{
    (void)ctx;
    drop(h, s);
}

/* Back on Redis after an outage: a run whose events were trimmed past
 * where the hub read it, or that is gone, ends its streams (their clients
 * resume through a request, with the archive); the others read on. */
static void after_outage(struct hub *h)
{
    for (size_t b = 0; b < BUCKETS; b++) {
        for (struct hub_run *r = h->buckets[b], *rn; r != NULL; r = rn) {
            rn = r->next;
            struct stream_info info;
            if (bus_stream_info(h->cmd, r->id, &info) != 0)
                return;
            if (info.exists && !(info.trimmed && event_id_cmp(&r->read, &info.first) < 0)) {
                mark(h, r);
                continue;
            }
            run_streams(h, r, end_stream, NULL);
        }
    }
}

static void redis_connect(struct hub *h, int64_t now)
{
    char err[CONFIG_ERR_SIZE];
    h->cmd = bus_connect(h->cfg, 2000, err, sizeof err);
    h->listen = h->cmd != NULL ? bus_listen(h->cfg, 2000, err, sizeof err) : NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    if (h->listen == NULL || epoll_ctl(h->ep, EPOLL_CTL_ADD, bus_fd(h->listen), &ev) != 0) {
        bus_free(h->cmd);
        bus_free(h->listen);
        h->cmd = h->listen = NULL;
        h->backoff_ms = h->backoff_ms ? (h->backoff_ms < 1600 ? h->backoff_ms * 2 : 1600) : 100;
        h->next_connect_ms = now + h->backoff_ms;
        if (h->lost_ms == 0)
            h->lost_ms = now;
        return;
    }
    /* Every run held is followed again on the new listener. */
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct hub_run *r = h->buckets[b]; r != NULL; r = r->next)
            if (bus_listen_follow(h->listen, r->id) != 0) {
                redis_lost(h);
                return;
            }
    int was_lost = h->lost_ms != 0;
    h->lost_ms = 0;
    h->heard_ms = now;
    h->backoff_ms = 0;
    /* Another Redis process (a restart, a failover) may lack the last
     * writes of the one before: every stream ends, and its client resumes
     * through a request, which puts them back from the ledger first. */
    const char *server = bus_server(h->cmd);
    int replaced = h->server[0] != '\0' && strcmp(server, h->server) != 0;
    snprintf(h->server, sizeof h->server, "%s", server);
    if (replaced) {
        log_info("stream hub: redis is back, another process: its streams resume through requests");
        each_stream(h, end_stream, NULL);
    } else if (was_lost) {
        log_info("stream hub: redis is back");
        after_outage(h);
    }
}

/* Reads a stream that joins a run from its own cursor up to where the
 * run is. 1 when it is still there to join, 0 when it went. */
static int catch_up(struct hub *h, struct hub_stream *s, const struct hub_run *r)
{
    struct hub_run solo = {.read = s->cursor, .streams = s, .busy = 1};
    memcpy(solo.id, r->id, sizeof solo.id);
    s->run = &solo;
    struct round rd = {.h = h, .runs = {&solo}};
    while (h->cmd != NULL && solo.streams != NULL && event_id_cmp(&solo.read, &r->read) < 0) {
        if (read_round(h, &rd, 1) != 0)
            redis_lost(h);
        else if (rd.got[0] == 0)
            break;
    }
    /* Not caught up (Redis away, the events trimmed): the stream ends and
     * its client resumes through a request. */
    if (solo.streams != NULL && event_id_cmp(&solo.read, &r->read) < 0)
        end_stream(h, s, NULL);
    return solo.streams != NULL;
}

/* Streams taken in: each joins its run and is read from its own cursor
 * once, then moves with the run. */
static void take_inbox(struct hub *h)
{
    uint64_t v;
    if (read(h->wake, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&h->lock);
    struct hub_stream *in = h->inbox;
    h->inbox = NULL;
    pthread_mutex_unlock(&h->lock);
    for (struct hub_stream *s = in, *next; s != NULL; s = next) {
        next = s->inbox_next;
        struct hub_run *r = run_find(h, s->w.run_id);
        if (r == NULL && (r = calloc(1, sizeof *r)) != NULL) {
            snprintf(r->id, sizeof r->id, "%s", s->w.run_id);
            r->read = s->cursor;
            struct hub_run **b = bucket(h, r->id);
            r->next = *b;
            *b = r;
            /* Heard of from now on; the run is read again once Redis says
             * so (followed). A listener away follows it when back. */
            if (h->listen != NULL)
                bus_listen_follow(h->listen, r->id);
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
        if (r == NULL || epoll_ctl(h->ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
            close(s->fd);
            stream_free(s);
            atomic_fetch_sub(&h->count, 1);
            if (r != NULL)
                run_release(h, r);
            continue;
        }
        /* Behind the run: the events between come to this stream alone
         * first (a short read), then it moves with the run. Ahead of it:
         * the run's reads skip what it had. */
        if (event_id_cmp(&s->cursor, &r->read) < 0 && !catch_up(h, s, r))
            continue; /* dropped meanwhile */
        s->run = r;
        s->next = r->streams;
        if (r->streams != NULL)
            r->streams->prev = s;
        r->streams = s;
        mark(h, r);
    }
}

static void keepalive(struct hub *h, struct hub_stream *s, void *ctx)
{
    (void)ctx;
    if (s->ending || !stream_keepalive_due(&s->w, h->cfg->keepalive_ms, clock_mono_ms()))
        return;
    char buf[32];
    struct membuf m = {.data = buf, .cap = sizeof buf};
    struct out o;
    membuf_out(&m, &o);
    if (sse_comment(&o, "keepalive") != 0 || send_sse(h, s, m.data, m.len) != 0)
        drop(h, s);
}

struct check {
    struct store *st;
    long long now;
};

static void recheck(struct hub *h, struct hub_stream *s, void *ctx)
{
    struct check *c = ctx;
    if (!s->ending && stream_revoked(&s->w, c->now, c->st)) {
        log_run(LOG_INFO, s->w.run_id, "a stream's credentials were revoked");
        end_stream(h, s, NULL);
    }
}

/* Now and then (stream_recheck_ms) the hub asks whether a credential was
 * revoked; only then are the streams' own checked (each once per
 * revocation). -1 when Redis did not answer. */
static int check_revocations(struct hub *h)
{
    long long now = bus_revocations(h->cmd);
    if (now < 0)
        return -1;
    if (now == h->revocations)
        return 0;
    char err[CONFIG_ERR_SIZE];
    struct check c = {store_open(h->cfg->database, err, sizeof err), now};
    if (c.st == NULL)
        return 0; /* the ledger is away: streams are not cut for that; asked again next time */
    h->revocations = now;
    each_stream(h, recheck, &c);
    store_close(c.st);
    return 0;
}

/* Keepalives and early ends, in one walk of the streams. */
struct tick_walk {
    long long now_s;
};

static void tick_stream(struct hub *h, struct hub_stream *s, void *ctx)
{
    struct tick_walk *t = ctx;
    const char *why = s->ending ? NULL : stream_end_reason(&s->w, 0, t->now_s);
    if (why != NULL) {
        log_run(LOG_INFO, s->w.run_id, "its stream: %s", why);
        end_stream(h, s, NULL);
        return;
    }
    keepalive(h, s, NULL);
}

static void tick(struct hub *h)
{
    int64_t now = clock_mono_ms();
    if (h->cmd == NULL && now >= h->next_connect_ms)
        redis_connect(h, now);
    if (h->cmd == NULL && h->lost_ms != 0 && now - h->lost_ms >= STREAM_REDIS_PATIENCE_MS)
        each_stream(h, end_stream, NULL);
    struct tick_walk t = {clock_now_ms() / 1000};
    each_stream(h, tick_stream, &t);
    if (h->cmd != NULL && now >= h->next_check_ms) {
        int every = stream_recheck_ms(h->cfg->keepalive_ms);
        h->next_check_ms = now + every;
        /* A Redis whose host died without closing its connections (a
         * power cut, a link gone) is silent rather than gone: the check
         * times out, or the listener's pings go unanswered. Then its
         * streams end and their clients resume where Redis is now. */
        if (check_revocations(h) != 0 || now - h->heard_ms > 2 * (int64_t)every + LISTEN_SILENCE_MS ||
            bus_listen_ping(h->listen) != 0)
            redis_lost(h);
    }
}

static void *loop(void *arg)
{
    struct hub *h = arg;
    struct epoll_event evs[EVENTS_PER_WAIT];
    int tick_ms = h->cfg->keepalive_ms / 4 < TICK_MAX_MS ? h->cfg->keepalive_ms / 4 : TICK_MAX_MS;
    int64_t next_tick = 0;
    redis_connect(h, clock_mono_ms());
    h->revocations = bus_revocations(h->cmd);
    while (!atomic_load(h->stopping)) {
        int n = epoll_wait(h->ep, evs, EVENTS_PER_WAIT, tick_ms);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &wake_tag) {
                take_inbox(h);
            } else if (tag == &listen_tag) {
                if (h->listen != NULL && bus_listen_take(h->listen, noticed, followed, h) < 0)
                    redis_lost(h);
                else
                    h->heard_ms = clock_mono_ms();
            } else {
                struct hub_stream *s = tag;
                uint32_t e = evs[i].events;
                /* A stream dropped earlier in this batch is not here:
                 * its descriptor left the set when it was closed, and
                 * a tag freed in this batch is not looked at again. */
                if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                    drop(h, s);
                else if (e & EPOLLOUT)
                    flush_pending(h, s);
                else if (e & EPOLLIN)
                    readable(h, s);
            }
        }
        read_marked(h);
        int64_t now = clock_mono_ms();
        if (now >= next_tick) {
            next_tick = now + tick_ms;
            tick(h);
            read_marked(h);
        }
    }
    /* Stopping: every stream ends at an event boundary and its client
     * resumes on another responder. Whatever a socket would not take now
     * is dropped with it. */
    take_inbox(h);
    each_stream(h, end_stream, NULL);
    each_stream(h, drop_stream, NULL);
    bus_free(h->cmd);
    bus_free(h->listen);
    return NULL;
}

struct hub *hub_start(const struct config *cfg, const atomic_int *stopping)
{
    struct hub *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->cfg = cfg;
    h->stopping = stopping;
    pthread_mutex_init(&h->lock, NULL);
    crypto_shorthash_keygen(h->key);
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (h->ep < 0 || h->wake < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->wake, &ev) != 0 ||
        pthread_create(&h->thread, NULL, loop, h) != 0) {
        if (h->ep >= 0)
            close(h->ep);
        if (h->wake >= 0)
            close(h->wake);
        free(h);
        return NULL;
    }
    return h;
}

void hub_stop(struct hub *h)
{
    if (h == NULL)
        return;
    pthread_join(h->thread, NULL);
    /* Streams handed in after the loop's last look. */
    for (struct hub_stream *s = h->inbox, *next; s != NULL; s = next) {
        next = s->inbox_next;
        close(s->fd);
        stream_free(s);
    }
    close(h->ep);
    close(h->wake);
    free(h->scratch);
    free(h->frame);
    free(h);
}

long long hub_lag_take(struct hub *h)
{
    return h != NULL ? atomic_exchange(&h->lag_ms, 0) : 0;
}

int hub_adopt(struct hub *h, int fd, int request_id, const struct stream_watch *w, const char *cursor)
{
    if (atomic_load(h->stopping) || atomic_fetch_add(&h->count, 1) >= h->cfg->max_streams) {
        atomic_fetch_sub(&h->count, 1);
        return -1;
    }
    struct hub_stream *s = calloc(1, sizeof *s);
    if (s == NULL || event_id_parse(cursor, &s->cursor) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        free(s);
        atomic_fetch_sub(&h->count, 1);
        return -1;
    }
    if (w->view != NULL && (s->view = malloc(sizeof *s->view)) == NULL) {
        free(s);
        atomic_fetch_sub(&h->count, 1);
        return -1;
    }
    s->fd = fd;
    s->request_id = request_id;
    s->w = *w;
    if (s->view != NULL) {
        *s->view = *w->view;
        s->w.view = s->view;
    }
    s->w.last_write_ms = clock_mono_ms();
    pthread_mutex_lock(&h->lock);
    s->inbox_next = h->inbox;
    h->inbox = s;
    pthread_mutex_unlock(&h->lock);
    uint64_t one = 1;
    if (write(h->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("stream hub: cannot wake the loop");
    return 0;
}

int hub_streams(struct hub *h)
{
    return h != NULL ? atomic_load(&h->count) : 0;
}
