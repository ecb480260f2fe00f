#ifndef OPSTREAM_OUT_H
#define OPSTREAM_OUT_H

#include <stddef.h>

/* Where response bytes go: the FastCGI stream in production, a memory
 * buffer in unit tests. Both calls return 0 or -1 (client gone). */
struct out {
    int (*write)(void *ctx, const char *p, size_t n);
    int (*flush)(void *ctx);
    int (*gone)(void *ctx);   /* 1 when the peer has hung up; may be NULL */
    void *ctx;
};

int out_write(struct out *o, const char *p, size_t n);
int out_puts(struct out *o, const char *s);
int out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int out_flush(struct out *o);
/* True when the peer is known to have closed the connection. */
int out_gone(struct out *o);

/* A fixed-size memory sink for tests and for building small answers. */
struct membuf {
    char *data;
    size_t len;
    size_t cap;
    int flushes;
};
void membuf_out(struct membuf *m, struct out *o);

#endif
