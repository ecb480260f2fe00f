/* The byte sink every response goes through. */
#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int out_write(struct out *o, const char *p, size_t n)
{
    return o->write(o->ctx, p, n);
}

int out_puts(struct out *o, const char *s)
{
    return o->write(o->ctx, s, strlen(s));
}

int out_printf(struct out *o, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1; /* callers only format short header lines */
    return o->write(o->ctx, buf, (size_t)n);
}

int out_flush(struct out *o)
{
    return o->flush(o->ctx);
}

int out_gone(struct out *o)
{
    return o->gone != NULL && o->gone(o->ctx);
}

static int membuf_write(void *ctx, const char *p, size_t n)
{
    struct membuf *m = ctx;
    if (m->len + n + 1 > m->cap)
        return -1;
    memcpy(m->data + m->len, p, n);
    m->len += n;
    m->data[m->len] = '\0';
    return 0;
}

static int membuf_flush(void *ctx)
{
    struct membuf *m = ctx;
    m->flushes++;
    return 0;
}

void membuf_out(struct membuf *m, struct out *o)
{
    o->write = membuf_write;
    o->flush = membuf_flush;
    o->gone = NULL;
    o->ctx = m;
}
