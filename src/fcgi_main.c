/* opstream.fcgi: the FastCGI responder. A keeper holds the socket and
 * keeps a supervisor alive, which keeps responder processes alive (and a
 * new keeper, should the keeper die). In each responder, one thread accepts
 * (doorman.c) and hands every peer that has begun a request to a
 * small-stack thread of its own, so a short request never waits behind
 * open streams or silent peers, and the number of streams is bounded by
 * max_requests. A receive timeout on the listening socket, which accepted
 * sockets inherit, bounds a peer that stops halfway through its head. */
#define _GNU_SOURCE /* POLLRDHUP: a peer's half-close, seen without reading */
#include "api.h"
#include "cgi.h"
#include "config.h"
#include "doorman.h"
#include "hub.h"
#include "log.h"
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

static atomic_int active;      /* requests being served */
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

/* A request and whether its connection went to the hub. */
struct conn {
    FCGX_Request fr;            /* first: request callbacks get &conn->fr */
    int handed;
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
    FCGX_Request *r = ctx;
    return FCGX_GetParam(name, r->envp);
}

static int fcgi_read(void *ctx, char *buf, size_t n)
{
    FCGX_Request *r = ctx;
    return FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n, r->in);
}

/* A stream whose replay is sent goes to the hub with its connection;
 * libfcgi keeps nothing of it (FCGX_Free without closing, in serve()). */
static int hand_off(struct request *req, const char *run_id, const char *cursor,
                    long long revocations, const struct auth_proof *proof)
{
    struct conn *c = req->ctx;
    if (hub == NULL || FCGX_FFlush(c->fr.out) != 0 ||
        hub_adopt(hub, c->fr.ipcFd, c->fr.requestId, run_id, cursor, revocations, proof) != 0)
        return -1;
    c->handed = 1;
    return 0;
}

static void request_bind(struct request *req, FCGX_Request *fr)
{
    memset(req, 0, sizeof *req);
    req->cfg = &cfg;
    req->getenv = fcgi_getenv;
    req->read = fcgi_read;
    req->ctx = fr;
    req->out.write = fcgi_write;
    req->out.flush = fcgi_flush;
    req->out.gone = fcgi_gone;
    req->out.ctx = fr;
}

/* One request, on its own thread. libfcgi reads the head from the
 * connection the doorman accepted: with ipcFd set and the connection
 * marked kept, FCGX_Accept_r reads it instead of accepting one. */
static void *serve(void *arg)
{
    struct conn *conn = arg;
    FCGX_Request *fr = &conn->fr;
    if (FCGX_Accept_r(fr) == 0) {
        struct request req;
        request_bind(&req, fr);
        if (atomic_load(&active) > cfg.max_requests)
            reply_problem(&req, 503, "overloaded", "too many open requests; retry later");
        else
            api_handle(&app, &req);
        if (conn->handed) {
            FCGX_Free(fr, 0); /* the connection is the hub's now */
        } else {
            FCGX_Finish_r(fr);
            FCGX_Free(fr, 1); /* a connection the server asked to keep is not reused */
        }
    }
    free(conn);
    pthread_mutex_lock(&done_lock);
    atomic_fetch_sub(&active, 1);
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

static void hand(int fd, void *ctx)
{
    (void)ctx;
    struct conn *conn = calloc(1, sizeof *conn);
    pthread_t t;
    if (conn != NULL && FCGX_InitRequest(&conn->fr, -1, 0) == 0) {
        conn->fr.ipcFd = fd;
        conn->fr.keepConnection = 1;
        atomic_fetch_add(&active, 1);
        if (pthread_create(&t, &thread_attr, serve, conn) == 0)
            return;
        atomic_fetch_sub(&active, 1);
    }
    free(conn);
    close(fd);
}

static void *doorman(void *arg)
{
    (void)arg;
    doorman_run(listen_fd, cfg.request_timeout_ms, hand, NULL, &stopping);
    pthread_mutex_lock(&done_lock);
    atomic_store(&accepting, 0);
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}
/* A unix socket is for the web server's group only: mode 0660, group
 * fcgi_socket_group when set. */
static int close_socket(const char *path)
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
        if (is_unix && close_socket(addr) != 0)
            return -1;
    }
    struct timeval tv = {cfg.request_timeout_ms / 1000, (cfg.request_timeout_ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        log_warn("cannot set a receive timeout; a peer that stops mid-request may hold a thread");
    return fd;
}

/* A responder process: one accepting thread, each request on a thread of
 * its own, until SIGTERM, SIGINT or SIGUSR1. Then it stops gracefully:
 * it accepts no more (the other responders and the backlog take new
 * connections), its streams end at an event boundary so that their
 * clients resume elsewhere, and short requests get STOP_GRACE_MS. */
static int respond(const sigset_t *set, pid_t parent)
{
#ifdef __linux__
    /* A responder never outlives its supervisor (nor one that died
     * before this line). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (parent > 0 && getppid() != parent)
        return 0;
#endif
    pthread_attr_init(&thread_attr);
    pthread_attr_setstacksize(&thread_attr, THREAD_STACK_BYTES);
    pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (cfg.max_streams > 0 && (hub = hub_start(&cfg, &stopping)) == NULL)
        log_warn("cannot start the stream hub; streams stay on their threads");
    app.hand_off = hand_off;
    atomic_store(&accepting, 1);
    if (pthread_create(&t, &thread_attr, doorman, NULL) != 0) {
        log_error("cannot start the accepting thread");
        return 1;
    }
    log_info("responder ready (%zu job types, keepalive %d ms)", types.n, cfg.keepalive_ms);
    int sig = 0;
    do
        sigwait(set, &sig);
    while (sig == SIGCHLD || sig == SIGUSR2);
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
    sigaddset(&set, SIGUSR2);
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
