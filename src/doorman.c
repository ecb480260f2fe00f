/* Accepting FastCGI connections. libfcgi reads a request's head inside
 * FCGX_Accept_r and trusts the lengths a PARAMS record declares, so a peer
 * that says nothing holds whoever reads it, and one that declares 2 GiB
 * makes libfcgi allocate it. Here one thread per responder accepts every
 * connection and watches them all with poll(); a request thread only ever
 * sees a peer that has begun its request, within bounds. */
#define _GNU_SOURCE /* accept4 */
#include "doorman.h"
#include "clock.h"
#include "fcgi_record.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAITING_MAX 4096
#define PEEK_BYTES 65536

enum { FCGI_PARAMS_TYPE = 4 };

int fcgi_abort_waiting(int fd, int request_id)
{
    unsigned char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    struct fcgi_scan scan = {0};
    return n > 0 && fcgi_scan_abort(&scan, buf, (size_t)n, request_id) == 1;
}

/* A pair length: 1 byte, or 4 with the top bit set. 0 with *n and *used,
 * 1 when the bytes end first. */
static int pair_length(const unsigned char *p, size_t avail, size_t *n, size_t *used)
{
    if (avail < 1)
        return 1;
    if (!(p[0] & 0x80)) {
        *n = p[0], *used = 1;
        return 0;
    }
    if (avail < 4)
        return 1;
    *n = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    *used = 4;
    return 0;
}

int fcgi_params_sane(const unsigned char *buf, size_t len, size_t max)
{
    /* The PARAMS stream is the content of the PARAMS records, in order;
     * pairs may span records, so it is gathered first. */
    static __thread unsigned char params[PEEK_BYTES];
    size_t plen = 0;
    for (size_t off = 0; off + FCGI_HEADER_BYTES <= len;) {
        const unsigned char *h = buf + off;
        size_t content = ((size_t)h[4] << 8) | h[5], padding = h[6];
        size_t have = len - off - FCGI_HEADER_BYTES;
        size_t take = content < have ? content : have;
        if (h[1] == FCGI_PARAMS_TYPE && plen + take <= sizeof params) {
            memcpy(params + plen, h + FCGI_HEADER_BYTES, take);
            plen += take;
        }
        if (take < content)
            break;
        off += FCGI_HEADER_BYTES + content + padding;
    }
    for (size_t p = 0; p < plen;) {
        size_t name, value, u1, u2;
        if (pair_length(params + p, plen - p, &name, &u1) != 0 ||
            pair_length(params + p + u1, plen - p - u1, &value, &u2) != 0)
            return 0;
        if (name > max || value > max)
            return -1;
        p += u1 + u2 + name + value;
    }
    return 0;
}

/* libfcgi's own rule, which accepting here bypasses: over TCP, only the
 * addresses FCGI_WEB_SERVER_ADDRS lists (when it is set) may connect. */
static int peer_allowed(int fd, const char *allowed)
{
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (allowed == NULL || allowed[0] == '\0' ||
        getpeername(fd, (struct sockaddr *)&sa, &salen) != 0 || sa.ss_family != AF_INET)
        return 1;
    char ip[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof ip) == NULL)
        return 0;
    size_t n = strlen(ip);
    for (const char *p = allowed; *p != '\0';) {
        size_t len = strcspn(p, ",");
        while (len > 0 && p[0] == ' ')
            p++, len--;
        if (len == n && strncmp(p, ip, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

struct waiting {
    int fd;
    int64_t until_ms;
};

/* The peer has sent something: hand it over, or close it if what it sent
 * already declares too much. */
static void admit(int fd, void (*hand)(int fd, void *ctx), void *ctx)
{
    static __thread unsigned char peek[PEEK_BYTES];
    ssize_t n = recv(fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0 || fcgi_params_sane(peek, (size_t)n, FCGI_PARAM_MAX_BYTES) != 0) {
        if (n > 0)
            log_warn("a FastCGI peer declared a parameter over %d bytes; closed",
                     FCGI_PARAM_MAX_BYTES);
        close(fd);
        return;
    }
    hand(fd, ctx);
}

void doorman_run(int listen_fd, int timeout_ms, void (*hand)(int fd, void *ctx), void *ctx,
                 const atomic_int *stop)
{
    static struct waiting w[WAITING_MAX];
    static struct pollfd p[WAITING_MAX + 1];
    size_t nw = 0;
    const char *allowed = getenv("FCGI_WEB_SERVER_ADDRS");
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        /* Stopping: accept no more (others take them from the backlog),
         * but serve the peers already accepted. */
        int stopping = stop != NULL && atomic_load(stop);
        if (stopping && nw == 0)
            return;
        p[0] = (struct pollfd){.fd = nw < WAITING_MAX && !stopping ? listen_fd : -1, .events = POLLIN};
        for (size_t i = 0; i < nw; i++)
            p[i + 1] = (struct pollfd){.fd = w[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)nw + 1, 100) < 0 && errno != EINTR) {
            clock_sleep_ms(10);
            continue;
        }
        int64_t now = clock_mono_ms();
        /* Waiting peers first, from the end, so removal keeps the rest. */
        for (size_t i = nw; i-- > 0;) {
            int ready = p[i + 1].revents != 0;
            if (!ready && now < w[i].until_ms)
                continue;
            if (ready)
                admit(w[i].fd, hand, ctx);
            else
                close(w[i].fd); /* silent for timeout_ms */
            w[i] = w[--nw];
        }
        while (p[0].revents && nw < WAITING_MAX) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                break; /* EAGAIN: another responder took it; else retried next round */
            if (!peer_allowed(fd, allowed)) {
                close(fd);
                continue;
            }
            w[nw++] = (struct waiting){fd, now + timeout_ms};
        }
    }
}
