/* CGI: the one request in this process's environment, on stdin and
 * stdout. Where only CGI is offered, every request (each stream too) is a
 * process of its own. */
#include "cgi.h"

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

static int cgi_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    ssize_t got;
    do
        got = read(STDIN_FILENO, buf, n > 65536 ? 65536 : n);
    while (got < 0 && errno == EINTR);
    return (int)got;
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
    api_handle(app, &req);
    fflush(stdout);
    return 0;
}
