/* opstream.fcgi: the FastCGI responder. A master holds the socket and
 * keeps responder processes alive (proctree.c). In each responder, one thread accepts
 * (doorman.c) and queues every peer whose request has arrived whole for a
 * fixed pool of request_threads, each with its own long-lived SQLite and
 * Redis connections; a long poll moves to a thread of its own, and an
 * event stream, once its replay is sent, to the stream hub (hub.c), so a
 * short request never waits behind open streams or slow peers. A body
 * too large to wait for in the socket is read on a thread of its own,
 * under the request's deadline; after the answer, the doorman, not a
 * thread, waits for the peer to close. A burst waits in the queue
 * (max_requests); only a full house is answered 503. */
#define _GNU_SOURCE /* POLLRDHUP: a peer's half-close, seen without reading */
#include "api.h"
#include "cgi.h"
#include "config.h"
#include "doorman.h"
#include "fcgi_record.h"
#include "hub.h"
#include "log.h"
#include "metrics.h"
#include "proctree.h"
#include "reply.h"
#include "startup.h"

#include <fcgiapp.h>
#include <poll.h>
#include <pthread.h>
#ifndef POLLRDHUP
#define POLLRDHUP 0
#endif
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define THREAD_STACK_BYTES (256 * 1024)
#define LISTEN_BACKLOG 1024

#define STOP_GRACE_MS 5000

static atomic_int active;      /* requests waiting for a pool thread or being served */
static atomic_int accepting;   /* the doorman runs */
static atomic_int stopping;    /* set on SIGTERM: streams end, no more accepts */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* active or accepting fell */
static int listen_fd;
static pthread_attr_t thread_attr;
static struct api app;
static struct config cfg;
static struct jobtypes types;
static struct hub *hub;         /* NULL: streams stay on their threads */

static struct doorman *door;

/* A request and whether its connection went to the hub. */
struct conn {
    FCGX_Request fr;            /* first: request callbacks get &conn->fr */
    int handed;
    int watched;                /* its body is read under the doorman's watch */
    struct request req;         /* bound (and routed) once, whichever thread serves it */
};

static int fcgi_write(void *ctx, const char *p, size_t n)
{
    FCGX_Request *r = ctx;
    return FCGX_PutStr(p, (int)n, r->out) == (int)n ? 0 : -1;
}

/* Only a flush tells whether the client is still there. */
static int fcgi_flush(void *ctx)
{
    FCGX_Request *r = ctx;
    return FCGX_FFlush(r->out) == 0 ? 0 : -1;
}

/* The web server closes its connection to us when its client has gone,
 * or says so with FCGI_ABORT_REQUEST: seen here without writing anything. */
static int fcgi_gone(void *ctx)
{
    FCGX_Request *r = ctx;
    struct pollfd p = {.fd = r->ipcFd, .events = POLLRDHUP | POLLIN};
    if (poll(&p, 1, 0) != 1)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return 1;
    return (p.revents & POLLIN) && fcgi_abort_waiting(r->ipcFd, r->requestId);
}

static const char *fcgi_getenv(void *ctx, const char *name)
{
    struct conn *c = ctx;
    return FCGX_GetParam(name, c->fr.envp);
}

/* A body that ended before its end record (the deadline shut the
 * socket's reading, or the peer left) is an error, not a short body. */
static int fcgi_read(void *ctx, char *buf, size_t n)
{
    struct conn *c = ctx;
    int got = FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n, c->fr.in);
    if (FCGX_GetError(c->fr.in) != 0)
        return -1;
    if (got == 0 && c->watched) {
        doorman_unwatch(door, c->fr.ipcFd); /* all read: a stream may follow */
        c->watched = 0;
    }
    return got;
}

/* A stream whose replay is sent goes to the hub with its connection;
 * libfcgi keeps nothing of it (FCGX_Free without closing, finish_conn()). */
static int hand_off(struct request *req, const struct stream_watch *w, const char *cursor)
{
    struct conn *c = req->ctx;
    if (hub == NULL)
        return -1;
    if (FCGX_FFlush(c->fr.out) != 0 || hub_adopt(hub, c->fr.ipcFd, c->fr.requestId, w, cursor) != 0)
        return 1;
    c->handed = 1;
    return 0;
}

static void request_bind(struct request *req, struct conn *conn)
{
    FCGX_Request *fr = &conn->fr;
    memset(req, 0, sizeof *req);
    req->cfg = &cfg;
    req->getenv = fcgi_getenv;
    req->read = fcgi_read;
    req->ctx = conn;
    req->out.write = fcgi_write;
    req->out.flush = fcgi_flush;
    req->out.gone = fcgi_gone;
    req->out.ctx = fr;
}

struct ticket;

/* Connections the doorman admitted, waiting for a pool thread, in the
 * order they came: at most max_requests. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct ticket *tickets;
    size_t cap, head, len;
    pthread_cond_t warmed;
    int warm;                   /* pool threads that have their connections */
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0,
           PTHREAD_COND_INITIALIZER, 0};

#define OVERFLOW_THREADS_MAX 64
static atomic_int overflow;     /* threads answering a full house */

static void request_done(void)
{
    pthread_mutex_lock(&done_lock);
    atomic_fetch_sub(&active, 1);
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&done_lock);
}

/* The answer is ended and the connection given up: to the hub, or to
 * the doorman, which waits for the peer to close without holding a
 * thread (libfcgi would wait for a quiet peer with no deadline). A
 * connection the server asked to keep is not reused. */
static void finish_conn(struct conn *conn)
{
    FCGX_Request *fr = &conn->fr;
    if (conn->watched)
        doorman_unwatch(door, fr->ipcFd);
    if (conn->handed) {
        FCGX_Free(fr, 0); /* the connection is the hub's now */
    } else {
        fr->keepConnection = 1; /* libfcgi leaves the socket open, to us */
        FCGX_Detach(fr);        /* and closes it at once where it must (a failed write) */
        FCGX_Finish_r(fr);
        if (fr->ipcFd >= 0)
            doorman_linger(door, fr->ipcFd);
        fr->ipcFd = -1;
    }
    free(conn);
}

/* The rest of a long poll, on a thread of its own, with the request as
 * serve() bound and routed it. */
static void *serve_long(void *arg)
{
    struct conn *conn = arg;
    api_handle(&app, &conn->req);
    finish_conn(conn);
    request_done();
    return NULL;
}

/* A connection the doorman handed over, read by libfcgi: with ipcFd set
 * and the connection marked kept, FCGX_Accept_r reads its head (whole by
 * now, so without waiting) instead of accepting one. NULL when it could
 * not be read; the connection is closed then. */
static struct conn *conn_open(int fd)
{
    struct conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL || FCGX_InitRequest(&conn->fr, -1, 0) != 0) {
        free(conn);
        close(fd);
        return NULL;
    }
    conn->fr.ipcFd = fd;
    conn->fr.keepConnection = 1;
    FCGX_Detach(&conn->fr); /* a head libfcgi refuses is closed at once */
    if (FCGX_Accept_r(&conn->fr) != 0) {
        free(conn);
        return NULL;
    }
    return conn;
}

/* One request. A long poll (a stream too, without a hub) goes on on a
 * thread of its own, so that it never holds the pool. */
static void serve(struct conn *conn, int own_thread)
{
    request_bind(&conn->req, conn);
    pthread_t t;
    if (!own_thread && api_long_poll(&conn->req, hub == NULL) &&
        pthread_create(&t, &thread_attr, serve_long, conn) == 0)
        return;
    api_handle(&app, &conn->req);
    finish_conn(conn);
    request_done();
}

/* What the doorman hands over: a connection, how, and its deadline. */
struct ticket {
    int fd;
    enum door_kind kind;
    int64_t until_ms;
};

/* A request from the pool's queue: whole, or late (its body did not come
 * within request_timeout_ms), which is answered 408 without reading it. */
static void serve_ticket(const struct ticket *t)
{
    struct conn *conn = conn_open(t->fd);
    if (conn == NULL) {
        request_done();
        return;
    }
    if (t->kind != DOOR_LATE) {
        serve(conn, 0);
        return;
    }
    struct request req;
    request_bind(&req, conn);
    reply_problem(&req, 408, "request_timeout", "the request's body did not arrive within %d ms",
                  cfg.request_timeout_ms);
    finish_conn(conn);
    request_done();
}

#define LARGE_THREADS_MAX 32
static atomic_int large;        /* threads reading a large body */

/* A request whose body is larger than the socket holds for us, on a
 * thread of its own: the doorman ends its reading at the deadline, and
 * its handler answers 408. */
static void *serve_large(void *arg)
{
    struct ticket *t = arg;
    struct conn *conn = conn_open(t->fd);
    if (conn != NULL) {
        doorman_watch(door, conn->fr.ipcFd, t->until_ms);
        conn->watched = 1;
        serve(conn, 1);
    } else {
        request_done();
    }
    free(t);
    atomic_fetch_sub(&large, 1);
    return NULL;
}

static int pool_size;           /* request_threads; 1 when serving alone */
static int keep_connections;    /* pool threads keep theirs between requests */

static void *pool_thread(void *arg)
{
    (void)arg;
    if (keep_connections)
        call_thread_keep(&cfg);
    pthread_mutex_lock(&queue.lock);
    queue.warm++;
    pthread_cond_signal(&queue.warmed);
    pthread_mutex_unlock(&queue.lock);
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (queue.len == 0 && atomic_load(&accepting))
            pthread_cond_wait(&queue.ready, &queue.lock);
        if (queue.len == 0) {
            pthread_mutex_unlock(&queue.lock);
            break; /* stopping, and nothing more will come */
        }
        struct ticket t = queue.tickets[queue.head];
        queue.head = (queue.head + 1) % queue.cap;
        queue.len--;
        pthread_mutex_unlock(&queue.lock);
        serve_ticket(&t);
    }
    call_thread_end();
    return NULL;
}

/* A full house: the request is read and answered 503 with Retry-After,
 * never dropped, on a short-lived thread (a bounded number of them). */
static void *serve_overflow(void *arg)
{
    struct ticket *t = arg;
    struct conn *conn = conn_open(t->fd);
    if (conn != NULL) {
        struct request req;
        request_bind(&req, conn);
        reply_problem_h(&req, 503, "Retry-After: 1\r\n", "overloaded",
                        "too many requests at once; retry later");
        finish_conn(conn);
    }
    free(t);
    atomic_fetch_sub(&overflow, 1);
    return NULL;
}

static void refuse(int fd, int64_t until_ms)
{
    struct ticket *ticket = NULL;
    pthread_t t;
    if (atomic_fetch_add(&overflow, 1) < OVERFLOW_THREADS_MAX &&
        (ticket = malloc(sizeof *ticket)) != NULL) {
        *ticket = (struct ticket){fd, DOOR_WHOLE, until_ms};
        if (pthread_create(&t, &thread_attr, serve_overflow, ticket) == 0)
            return;
    }
    atomic_fetch_sub(&overflow, 1);
    free(ticket);
    log_warn("a connection was closed unanswered: %d requests waiting or served, and %d "
             "being refused", atomic_load(&active), OVERFLOW_THREADS_MAX);
    close(fd);
}

/* A large body's request gets a thread of its own, a bounded number of
 * them; any other waits for the pool. */
static void hand(int fd, enum door_kind kind, int64_t until_ms, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&queue.lock);
    if (queue.len == queue.cap || atomic_load(&active) >= cfg.max_requests) {
        pthread_mutex_unlock(&queue.lock);
        refuse(fd, until_ms);
        return;
    }
    if (kind == DOOR_LARGE) {
        struct ticket *ticket = NULL;
        pthread_t t;
        if (atomic_fetch_add(&large, 1) < LARGE_THREADS_MAX &&
            (ticket = malloc(sizeof *ticket)) != NULL) {
            *ticket = (struct ticket){fd, kind, until_ms};
            atomic_fetch_add(&active, 1);
            if (pthread_create(&t, &thread_attr, serve_large, ticket) == 0) {
                pthread_mutex_unlock(&queue.lock);
                return;
            }
            atomic_fetch_sub(&active, 1);
        }
        atomic_fetch_sub(&large, 1);
        free(ticket);
        pthread_mutex_unlock(&queue.lock);
        refuse(fd, until_ms);
        return;
    }
    queue.tickets[(queue.head + queue.len) % queue.cap] = (struct ticket){fd, kind, until_ms};
    queue.len++;
    atomic_fetch_add(&active, 1);
    pthread_cond_signal(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
}

static void *doorman(void *arg)
{
    (void)arg;
    doorman_run(door, &stopping);
    pthread_mutex_lock(&queue.lock);
    atomic_store(&accepting, 0);
    pthread_cond_broadcast(&queue.ready); /* idle pool threads end */
    pthread_mutex_unlock(&queue.lock);
    pthread_mutex_lock(&done_lock);
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}
/* A unix socket is for the web server's group only: mode 0660, group
 * fcgi_socket_group when set. */
static int socket_restrict(const char *path)
{
    if (cfg.fcgi_socket_group[0] != '\0') {
        struct group *g = getgrnam(cfg.fcgi_socket_group);
        if (g == NULL || chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("%s: cannot give the socket to group %s", path, cfg.fcgi_socket_group);
            return -1;
        }
    }
    if (chmod(path, 0660) != 0) {
        log_error("%s: cannot set the socket's mode", path);
        return -1;
    }
    return 0;
}

/* A TCP address: ":PORT" means loopback, never every interface. Anyone
 * who can connect may claim any REMOTE_USER, so trusting it over TCP
 * needs FCGI_WEB_SERVER_ADDRS (which libfcgi enforces) or loopback. */
static int tcp_address(const char *spec, char *out, size_t size)
{
    snprintf(out, size, "%s%s", spec[0] == ':' ? "127.0.0.1" : "", spec);
    const char *addrs = getenv("FCGI_WEB_SERVER_ADDRS");
    int loopback = strncmp(out, "127.", 4) == 0 || strncmp(out, "localhost:", 10) == 0;
    if (cfg.trust_remote_user && !loopback && (addrs == NULL || addrs[0] == '\0')) {
        log_error("%s: trust_remote_user over TCP needs FCGI_WEB_SERVER_ADDRS naming the web "
                  "servers allowed to connect", spec);
        return -1;
    }
    return 0;
}

/* systemd's socket activation: the socket is fd 3, LISTEN_FDS says so
 * for this process (LISTEN_PID). Its children must not take it as theirs. */
static int socket_activated(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    int yes = pid != NULL && fds != NULL && atol(pid) == (long)getpid() && atoi(fds) >= 1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return yes;
}

#define SD_LISTEN_FDS_START 3

static int open_listener(const char *spec, int activated)
{
    int fd = activated ? SD_LISTEN_FDS_START : 0; /* else the web server's socket on fd 0 */
    if (spec != NULL) {
        int is_unix = strncmp(spec, "unix:", 5) == 0 || strchr(spec, ':') == NULL;
        char addr[CONFIG_PATH_SIZE + 16];
        if (is_unix)
            snprintf(addr, sizeof addr, "%s", strncmp(spec, "unix:", 5) == 0 ? spec + 5 : spec);
        else if (tcp_address(spec, addr, sizeof addr) != 0)
            return -1;
        fd = FCGX_OpenSocket(addr, LISTEN_BACKLOG);
        if (fd < 0) {
            log_error("cannot listen on %s", spec);
            return -1;
        }
        if (is_unix && socket_restrict(addr) != 0)
            return -1;
    }
    return fd;
}

/* This responder's gauges, for its metrics reports. */
static void responder_gauges(char *out, size_t size, void *ctx)
{
    (void)ctx;
    metrics_gauge(out, size, "opstream_open_streams", "responder",
                  hub_streams(hub) + api_thread_streams());
    metrics_gauge(out, size, "opstream_hub_lag_seconds", "responder", (double)hub_lag_take(hub) / 1000.0);
}

/* A responder process: one accepting thread, each request on a thread of
 * its own, until SIGTERM, SIGINT or SIGUSR1. Then it stops gracefully:
 * it accepts no more (the other responders and the backlog take new
 * connections), its streams end at an event boundary so that their
 * clients resume elsewhere, and short requests get STOP_GRACE_MS. */
static int respond(const sigset_t *set, pid_t master)
{
#ifdef __linux__
    /* A responder stops gracefully when its master dies (also one that
     * died before this line): the next master's responders take over. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (master > 0 && getppid() != master)
        return 0;
#endif
    pthread_attr_init(&thread_attr);
    pthread_attr_setstacksize(&thread_attr, THREAD_STACK_BYTES);
    pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    /* Serving alone (mod_fcgid): the server sends one request at a time
     * and keeps idle processes around, so one thread that connects per
     * request, and no hub: a stream holds its process whatever we do. */
    int alone = cfg.responder_processes == 0;
    pool_size = alone ? 1 : cfg.request_threads;
    keep_connections = !alone;
    if (!alone && cfg.max_streams > 0 && (hub = hub_start(&cfg, &stopping)) == NULL)
        log_warn("cannot start the stream hub; streams stay on their threads");
    metrics_init("opstream.fcgi");
    metrics_set_gauges(responder_gauges, NULL);
    /* Serving alone, the process keeps no connection between requests
     * (mod_fcgid keeps idle processes by the dozen): nor does its
     * reporter. */
    if (metrics_reporter_start(&cfg, &stopping, !alone) != 0)
        log_warn("cannot start the metrics reporter; this process's counts are not served");
    app.hand_off = hand_off;
    if ((door = doorman_new(listen_fd, cfg.request_timeout_ms, hand, NULL)) == NULL) {
        log_error("out of memory");
        return 1;
    }
    queue.cap = (size_t)cfg.max_requests;
    if ((queue.tickets = calloc(queue.cap, sizeof *queue.tickets)) == NULL) {
        log_error("out of memory");
        return 1;
    }
    atomic_store(&accepting, 1);
    for (int i = 0; i < pool_size; i++) {
        if (pthread_create(&t, &thread_attr, pool_thread, NULL) != 0) {
            log_error("cannot start request threads");
            return 1;
        }
    }
    if (pthread_create(&t, &thread_attr, doorman, NULL) != 0) {
        log_error("cannot start the accepting thread");
        return 1;
    }
    /* "ready" means warm: each pool thread has its connections (or gave
     * up on them). */
    pthread_mutex_lock(&queue.lock);
    while (queue.warm < pool_size)
        pthread_cond_wait(&queue.warmed, &queue.lock);
    pthread_mutex_unlock(&queue.lock);
    log_info("responder ready (%zu job types, keepalive %d ms, %d request threads, up to %d "
             "streams)", types.n, cfg.keepalive_ms, pool_size, hub ? cfg.max_streams : 0);
    int sig = 0;
    do
        sigwait(set, &sig);
    while (sig == SIGCHLD);
    log_info("responder stopping on signal %d with %d open requests", sig, atomic_load(&active));
    atomic_store(&stopping, 1);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_GRACE_MS / 1000;
    pthread_mutex_lock(&done_lock);
    while ((atomic_load(&active) > 0 || atomic_load(&accepting)) &&
           pthread_cond_timedwait(&done, &done_lock, &until) == 0)
        ;
    pthread_mutex_unlock(&done_lock);
    hub_stop(hub);
    /* The job types stay allocated: detached threads may still read them. */
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: opstream.fcgi [-c CONFIG] [-s unix:PATH | -s HOST:PORT]\n"
               "FastCGI responder of opstream. Without -s it serves the socket\n"
               "the web server passes on fd 0.\n"
               "  -c FILE    config file (default: $OPSTREAM_CONF or %s)\n"
               "  -s ADDR    listen on a unix socket or a TCP address\n"
               "  --help, --version\n", config_default_path());
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *listen_spec = NULL;
    for (int i = 1; i < argc; i++) {
        enum startup_flag f = startup_flag("opstream.fcgi", argc, argv, &i, &conf, usage);
        if (f == FLAG_EXIT)
            return 0;
        if (f == FLAG_TAKEN)
            continue;
        if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            listen_spec = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    char err[CONFIG_ERR_SIZE];
    if (startup("opstream.fcgi", conf, &cfg) != 0)
        return 1;
    if (jobtypes_load(cfg.jobtypes_dir, &types, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (api_init(&app, &cfg, &types) != 0) {
        log_error("the built-in OpenAPI document does not parse");
        return 1;
    }
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        return 1;
    }
    int activated = listen_spec == NULL && socket_activated();
    /* No socket on fd 0 and none asked for: a CGI request, or a mistake. */
    if (listen_spec == NULL && !activated && FCGX_IsCGI()) {
        if (getenv("GATEWAY_INTERFACE") == NULL) {
            log_error("not started by a web server; use -s unix:PATH or -s HOST:PORT");
            return 1;
        }
        /* FCGX_Init made SIGTERM a flag; a CGI request ends by it. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        return cgi_serve(&app, &cfg);
    }
    /* Every open stream is a descriptor: take all the system allows. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (cfg.auth == AUTH_NONE)
        log_warn("AUTHENTICATION IS OFF (auth = none): every caller is 'anonymous'. "
                 "Only for a demo bound to 127.0.0.1.");
    app.stopping = &stopping;
    listen_fd = open_listener(listen_spec, activated);
    if (listen_fd < 0)
        return 1;
    /* Only the main thread takes these signals, by sigwait. After
     * FCGX_Init, whose own handlers would merely set a flag. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* responder_processes = 0: this process serves alone, for servers that
     * keep FastCGI processes themselves, one request at a time (mod_fcgid). */
    if (cfg.responder_processes == 0) {
        proctree_name("fcgi-responder");
        return respond(&set, 0);
    }
    return proctree_run(&set, cfg.responder_processes, respond);
}
