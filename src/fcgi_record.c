/* FastCGI records written and read outside libfcgi (see fcgi_record.h). */
#include "fcgi_record.h"

#include <string.h>

enum {
    FCGI_VERSION = 1,
    TYPE_BEGIN = 1,
    TYPE_ABORT = 2,
    TYPE_END_REQUEST = 3,
    TYPE_PARAMS = 4,
    TYPE_STDIN = 5,
    TYPE_STDOUT = 6,
    TYPE_MAX = 11,
    ROLE_RESPONDER = 1,
};

static void header(unsigned char *h, int type, int request_id, size_t len)
{
    h[0] = FCGI_VERSION;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)((request_id >> 8) & 0xff);
    h[3] = (unsigned char)(request_id & 0xff);
    h[4] = (unsigned char)((len >> 8) & 0xff);
    h[5] = (unsigned char)(len & 0xff);
    h[6] = 0; /* no padding */
    h[7] = 0;
}

size_t fcgi_stdout_size(size_t n)
{
    return n + FCGI_HEADER_BYTES * ((n + FCGI_CHUNK_BYTES - 1) / FCGI_CHUNK_BYTES);
}

size_t fcgi_stdout(unsigned char *out, int request_id, const char *p, size_t n)
{
    size_t w = 0;
    while (n > 0) {
        size_t take = n < FCGI_CHUNK_BYTES ? n : FCGI_CHUNK_BYTES;
        header(out + w, TYPE_STDOUT, request_id, take);
        memcpy(out + w + FCGI_HEADER_BYTES, p, take);
        w += FCGI_HEADER_BYTES + take;
        p += take;
        n -= take;
    }
    return w;
}

void fcgi_end(unsigned char out[FCGI_END_BYTES], int request_id)
{
    header(out, TYPE_STDOUT, request_id, 0); /* the end of the stdout stream */
    header(out + 8, TYPE_END_REQUEST, request_id, 8);
    memset(out + 16, 0, 8); /* appStatus 0, FCGI_REQUEST_COMPLETE */
}

int fcgi_scan_abort(struct fcgi_scan *s, const unsigned char *p, size_t n, int request_id)
{
    while (n > 0) {
        if (s->skip > 0) {
            size_t k = n < s->skip ? n : s->skip;
            s->skip -= k, p += k, n -= k;
            continue;
        }
        size_t k = FCGI_HEADER_BYTES - s->have;
        if (k > n)
            k = n;
        memcpy(s->head + s->have, p, k);
        s->have += k, p += k, n -= k;
        if (s->have < FCGI_HEADER_BYTES)
            return 0;
        const unsigned char *h = s->head;
        if (h[0] != FCGI_VERSION || h[1] == 0 || h[1] > TYPE_MAX)
            return -1;
        if (h[1] == TYPE_ABORT && ((h[2] << 8) | h[3]) == request_id)
            return 1;
        s->skip = (((size_t)h[4] << 8) | h[5]) + h[6];
        s->have = 0;
    }
    return 0;
}

/* A pair length: 1 byte, or 4 with the top bit set. 0 with *n and *used,
 * -1 when the bytes end first. */
static int pair_length(const unsigned char *p, size_t avail, size_t *n, size_t *used)
{
    if (avail < 1)
        return -1;
    if (!(p[0] & 0x80)) {
        *n = p[0], *used = 1;
        return 0;
    }
    if (avail < 4)
        return -1;
    *n = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    *used = 4;
    return 0;
}

/* The pairs of the PARAMS stream so far: 0 while every length declared
 * is within max and, once the stream is whole, within what it holds;
 * else -1, however far the stream has come. */
static int pairs_check(const unsigned char *params, size_t plen, size_t max, int whole)
{
    for (size_t p = 0; p < plen;) {
        size_t name, value, u1, u2;
        if (pair_length(params + p, plen - p, &name, &u1) != 0 ||
            pair_length(params + p + u1, plen - p - u1, &value, &u2) != 0)
            return whole ? -1 : 0;
        if (name > max || value > max)
            return -1;
        size_t left = plen - p - u1 - u2;
        if (name > left || value > left - name)
            return whole ? -1 : 0;
        p += u1 + u2 + name + value;
    }
    return 0;
}

enum fcgi_request_state fcgi_request_scan(const unsigned char *buf, size_t len, size_t head_max,
                                          unsigned char *scratch, struct fcgi_request_scan *out)
{
    memset(out, 0, sizeof *out);
    size_t plen = 0;
    int begun = 0;
    for (size_t off = 0; off + FCGI_HEADER_BYTES <= len;) {
        const unsigned char *h = buf + off;
        size_t content = ((size_t)h[4] << 8) | h[5], end = off + FCGI_HEADER_BYTES + content + h[6];
        if (h[0] != FCGI_VERSION)
            return FCGI_REQUEST_REFUSED;
        if (!out->head_done && end > head_max)
            return FCGI_REQUEST_REFUSED; /* the head would pass its bound */
        if (end > len)
            break; /* the record is not whole yet */
        const unsigned char *c = h + FCGI_HEADER_BYTES;
        int ours = ((h[2] << 8) | h[3]) != 0; /* id 0: a management record */
        if (h[1] == TYPE_BEGIN && ours) {
            if (begun || content < 8)
                return FCGI_REQUEST_REFUSED;
            begun = 1;
            /* libfcgi answers another role at once (FCGI_UNKNOWN_ROLE). */
            if (((c[0] << 8) | c[1]) != ROLE_RESPONDER)
                return FCGI_REQUEST_WHOLE;
        } else if (h[1] == TYPE_ABORT && ours) {
            return FCGI_REQUEST_REFUSED; /* the web server's client has gone */
        } else if (h[1] == TYPE_PARAMS && ours && !out->head_done) {
            if (!begun)
                return FCGI_REQUEST_REFUSED;
            if (content > 0) {
                memcpy(scratch + plen, c, content); /* fits: plen + content < end <= head_max */
                plen += content;
            } else {
                if (pairs_check(scratch, plen, head_max, 1) != 0)
                    return FCGI_REQUEST_REFUSED;
                out->head_done = 1;
                out->head_bytes = end;
            }
        } else if (h[1] == TYPE_STDIN && ours && out->head_done) {
            if (content == 0)
                return FCGI_REQUEST_WHOLE;
            out->body_bytes += content;
        } else if (ours && (h[1] == TYPE_STDIN || h[1] == TYPE_PARAMS)) {
            return FCGI_REQUEST_REFUSED; /* out of order */
        }
        off = end;
    }
    /* Once per scan: a pair that declares too much is refused before the
     * rest of the head arrives. */
    if (!out->head_done && pairs_check(scratch, plen, head_max, 0) != 0)
        return FCGI_REQUEST_REFUSED;
    return FCGI_REQUEST_PARTIAL;
}
