/* CGI: the one request in this process's environment, on stdin and
 * stdout. Where only CGI is offered, every request (each stream too) is a
 * process of its own. */
#include "cgi.h"
#include "clock.h"
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *cgi_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static long long body_read; /* bytes of the request's body read so far */

static int cgi_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    ssize_t got;
    do
        got = read(STDIN_FILENO, buf, n > 65536 ? 65536 : n);
    while (got < 0 && errno == EINTR);
    if (got > 0)
        body_read += got;
    return (int)got;
}

/* Reads and drops what is left of a body the answer did not need (a
 * refusal is answered before the body is read): a CGI program that exits
 * with its stdin unread has its socket reset, and the server loses the
 * end of the answer. At most body_max_bytes, within request_timeout_ms. */
static void drain_body(const struct config *cfg)
{
    const char *cl = getenv("CONTENT_LENGTH");
    long long left = cl != NULL ? strtoll(cl, NULL, 10) - body_read : 0;
    if (left <= 0 || left > cfg->body_max_bytes)
        return;
    int64_t until = clock_mono_ms() + cfg->request_timeout_ms;
    char buf[16384];
    while (left > 0) {
        int64_t wait = until - clock_mono_ms();
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        if (wait <= 0 || poll(&p, 1, (int)wait) != 1)
            return;
        int got = cgi_read(NULL, buf, sizeof buf);
        if (got <= 0)
            return;
        left -= got;
    }
}

static int cgi_write(void *ctx, const char *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

static int cgi_flush(void *ctx)
{
    return fflush(ctx) == 0 ? 0 : -1;
}

/* The server closes its end of our stdout when its client has gone. */
static int cgi_gone(void *ctx)
{
    struct pollfd p = {.fd = fileno(ctx), .events = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

int cgi_serve(const struct api *app, const struct config *cfg)
{
    static char outbuf[65536];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    signal(SIGPIPE, SIG_IGN); /* a vanished client is a failed write */
    struct request req = {.cfg = cfg, .getenv = cgi_getenv, .read = cgi_read,
                          .out = {.write = cgi_write, .flush = cgi_flush, .gone = cgi_gone,
                                  .ctx = stdout}};
    metrics_init("opstream.fcgi");
    api_handle(app, &req);
    fflush(stdout);
    drain_body(cfg);
    return 0;
}
