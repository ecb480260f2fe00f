/* Accepting FastCGI connections. libfcgi reads a request with blocking
 * reads and trusts the lengths a PARAMS record declares, so a peer that
 * stops half-way holds whoever reads it, and one that declares 2 GiB
 * makes libfcgi allocate it. Here one thread per responder accepts every
 * connection and watches them all from one epoll set, peeking (never
 * consuming) until the whole request has arrived; a request thread only
 * ever sees a request it can read without waiting. The same thread bounds
 * the two waits left: a large body read on a thread of its own (a watch)
 * and the wait for the peer's close after the answer (a linger). */
#define _GNU_SOURCE /* accept4, EPOLLRDHUP */
#include "doorman.h"
#include "clock.h"
#include "fcgi_record.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define WAITING_MAX 4096      /* peers held at once before their request is whole */
#define SLOTS_MAX 8192        /* waiting and lingering peers */
#define WATCH_MAX 256         /* large bodies being read at once (fcgi_main bounds them lower) */
#define LINGER_MS 2000        /* libfcgi's own wait for a quiet peer, now a bound */
#define SCAN_EVERY_MS 20
#define EVENTS_PER_WAIT 64
#define LISTEN_SLOT ((uint32_t)SLOTS_MAX)
#define PEEK_BYTES (FCGI_HEAD_MAX_BYTES + FCGI_BODY_AHEAD_BYTES)

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_LINGERING };

struct slot {
    int fd;
    enum slot_state state;
    int64_t until_ms;
};

struct doorman {
    int listen_fd, epfd, timeout_ms;
    doorman_hand_fn hand;
    void *ctx;
    const char *allowed;          /* FCGI_WEB_SERVER_ADDRS */
    pthread_mutex_t lock;         /* slots, watches, running: other threads linger and watch */
    int running, listening;
    size_t waiting, lingering, nfree;
    struct slot slots[SLOTS_MAX];
    uint32_t free_slots[SLOTS_MAX];
    struct {
        int fd;
        int64_t until_ms;
    } watch[WATCH_MAX];
    size_t nwatch;
    int64_t next_scan_ms;
    unsigned char peek[PEEK_BYTES];               /* the doorman thread's only */
    unsigned char scratch[FCGI_HEAD_MAX_BYTES];
};

struct doorman *doorman_new(int listen_fd, int timeout_ms, doorman_hand_fn hand, void *ctx)
{
    struct doorman *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        free(d);
        return NULL;
    }
    d->listen_fd = listen_fd;
    d->timeout_ms = timeout_ms;
    d->hand = hand;
    d->ctx = ctx;
    d->allowed = getenv("FCGI_WEB_SERVER_ADDRS");
    pthread_mutex_init(&d->lock, NULL);
    for (uint32_t i = 0; i < SLOTS_MAX; i++)
        d->free_slots[d->nfree++] = SLOTS_MAX - 1 - i;
    return d;
}

/* Takes a slot for fd and watches it; -1 when none is left. Under lock. */
static int slot_add(struct doorman *d, int fd, enum slot_state state, int64_t until_ms,
                    uint32_t events)
{
    if (d->nfree == 0)
        return -1;
    uint32_t i = d->free_slots[--d->nfree];
    struct epoll_event ev = {.events = events, .data.u32 = i};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        d->free_slots[d->nfree++] = i;
        return -1;
    }
    d->slots[i] = (struct slot){fd, state, until_ms};
    if (state == SLOT_WAITING)
        d->waiting++;
    else
        d->lingering++;
    return 0;
}

/* Gives slot i up and returns its fd, no longer watched. Under lock. */
static int slot_take(struct doorman *d, uint32_t i)
{
    struct slot *s = &d->slots[i];
    int fd = s->fd;
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
    if (s->state == SLOT_WAITING)
        d->waiting--;
    else
        d->lingering--;
    *s = (struct slot){-1, SLOT_FREE, 0};
    d->free_slots[d->nfree++] = i;
    return fd;
}

/* Accepting stops while the house is full or the responder stops, and
 * resumes when there is room again. Under lock. */
static void listen_for(struct doorman *d, int on)
{
    if (on == d->listening)
        return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u32 = LISTEN_SLOT};
    if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->listen_fd, &ev) == 0)
        d->listening = on;
}

static void accept_peers(struct doorman *d, int64_t now)
{
    struct timeval tv = {d->timeout_ms / 1000, (d->timeout_ms % 1000) * 1000};
    while (d->waiting < WAITING_MAX) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: another responder took it; else retried next round */
        if (!fcgi_peer_allowed(fd, d->allowed)) {
            close(fd);
            continue;
        }
        /* A second bound under the deadline: no blocking read of libfcgi's
         * waits longer than this (accepted unix sockets inherit none). */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        /* Edge-triggered: a peer whose request is not yet whole wakes us
         * when more arrives, not on every round. */
        if (slot_add(d, fd, SLOT_WAITING, now + d->timeout_ms, EPOLLIN | EPOLLRDHUP | EPOLLET) != 0)
            close(fd);
    }
    listen_for(d, 0);
}

static void hand_over(struct doorman *d, uint32_t i, enum door_kind kind)
{
    int64_t until = d->slots[i].until_ms;
    d->hand(slot_take(d, i), kind, until, d->ctx);
}

/* What the waiting peer in slot i has sent so far decides: hand it over,
 * close it, or wait for more. ended: it will send nothing more. */
static void examine(struct doorman *d, uint32_t i, int ended, int late)
{
    ssize_t n = recv(d->slots[i].fd, d->peek, sizeof d->peek, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && !ended && !late)
        return;
    struct fcgi_request_scan scan = {0};
    enum fcgi_request_state st =
        n > 0 ? fcgi_request_scan(d->peek, (size_t)n, FCGI_HEAD_MAX_BYTES, d->scratch, &scan)
              : FCGI_REQUEST_REFUSED;
    if (st == FCGI_REQUEST_WHOLE) {
        hand_over(d, i, DOOR_WHOLE);
    } else if (st == FCGI_REQUEST_REFUSED) {
        if (n > 0)
            log_warn("a FastCGI peer sent a head that is not FastCGI, over %d bytes, or whose "
                     "parameters declare more than it holds; closed", FCGI_HEAD_MAX_BYTES);
        close(slot_take(d, i));
    } else if (scan.head_done && !late &&
               (scan.body_bytes >= FCGI_BODY_AHEAD_BYTES || (size_t)n == sizeof d->peek)) {
        hand_over(d, i, DOOR_LARGE);
    } else if (scan.head_done && (late || ended)) {
        hand_over(d, i, DOOR_LATE); /* answered 408 */
    } else if (late || ended) {
        close(slot_take(d, i)); /* a head that never came whole */
    }
}

/* Reads and drops what a lingering peer sends; closes it at its end. */
static void drain(struct doorman *d, uint32_t i)
{
    for (;;) {
        ssize_t n = recv(d->slots[i].fd, d->peek, sizeof d->peek, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(slot_take(d, i));
        return;
    }
}

/* Deadlines: waiting peers are judged, lingering ones closed, watched
 * reads ended. Under lock. */
static void expire(struct doorman *d, int64_t now)
{
    if (now < d->next_scan_ms)
        return;
    d->next_scan_ms = now + SCAN_EVERY_MS;
    for (uint32_t i = 0; i < SLOTS_MAX && d->waiting + d->lingering > 0; i++) {
        struct slot *s = &d->slots[i];
        if (s->state == SLOT_FREE || now < s->until_ms)
            continue;
        if (s->state == SLOT_WAITING)
            examine(d, i, 0, 1);
        else
            close(slot_take(d, i));
    }
    for (size_t w = d->nwatch; w-- > 0;) {
        if (now < d->watch[w].until_ms)
            continue;
        shutdown(d->watch[w].fd, SHUT_RD); /* the blocked read sees an end of file */
        d->watch[w] = d->watch[--d->nwatch];
    }
}

void doorman_run(struct doorman *d, const atomic_int *stop)
{
    struct epoll_event evs[EVENTS_PER_WAIT];
    fcntl(d->listen_fd, F_SETFL, fcntl(d->listen_fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event lev = {.events = EPOLLIN, .data.u32 = LISTEN_SLOT};
    pthread_mutex_lock(&d->lock);
    d->running = epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_fd, &lev) == 0;
    d->listening = d->running;
    pthread_mutex_unlock(&d->lock);
    if (!d->running)
        log_error("cannot watch the listening socket");
    while (d->running) {
        /* Stopping: accept no more (others take them from the backlog),
         * but serve the peers already accepted. */
        int stopping = stop != NULL && atomic_load(stop);
        pthread_mutex_lock(&d->lock);
        listen_for(d, !stopping && d->waiting < WAITING_MAX);
        if (stopping && d->waiting == 0) {
            for (uint32_t i = 0; i < SLOTS_MAX; i++)
                if (d->slots[i].state == SLOT_LINGERING)
                    close(slot_take(d, i));
            d->running = 0; /* lingers from now on close at once */
            pthread_mutex_unlock(&d->lock);
            break;
        }
        pthread_mutex_unlock(&d->lock);
        int n = epoll_wait(d->epfd, evs, EVENTS_PER_WAIT, 100);
        if (n < 0 && errno != EINTR) {
            clock_sleep_ms(10);
            continue;
        }
        int64_t now = clock_mono_ms();
        pthread_mutex_lock(&d->lock);
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            if (i == LISTEN_SLOT) {
                accept_peers(d, now);
                continue;
            }
            int ended = (evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
            if (d->slots[i].state == SLOT_WAITING)
                examine(d, i, ended, 0);
            else if (d->slots[i].state == SLOT_LINGERING)
                drain(d, i);
        }
        expire(d, now);
        pthread_mutex_unlock(&d->lock);
    }
}

void doorman_watch(struct doorman *d, int fd, int64_t until_ms)
{
    pthread_mutex_lock(&d->lock);
    if (d->nwatch < WATCH_MAX) {
        d->watch[d->nwatch].fd = fd;
        d->watch[d->nwatch].until_ms = until_ms;
        d->nwatch++;
    } else {
        shutdown(fd, SHUT_RD); /* no room to wait: the read ends now */
    }
    pthread_mutex_unlock(&d->lock);
}

void doorman_unwatch(struct doorman *d, int fd)
{
    pthread_mutex_lock(&d->lock);
    for (size_t w = 0; w < d->nwatch; w++) {
        if (d->watch[w].fd == fd) {
            d->watch[w] = d->watch[--d->nwatch];
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
}

void doorman_linger(struct doorman *d, int fd)
{
    /* Closing while the peer still sends would reset the connection, and
     * a web server may then drop the answer it has not read yet. */
    shutdown(fd, SHUT_WR);
    int linger_ms = d->timeout_ms < LINGER_MS ? d->timeout_ms : LINGER_MS;
    pthread_mutex_lock(&d->lock);
    int kept = d->running &&
               slot_add(d, fd, SLOT_LINGERING, clock_mono_ms() + linger_ms, EPOLLIN | EPOLLRDHUP) == 0;
    pthread_mutex_unlock(&d->lock);
    if (!kept)
        close(fd);
}
