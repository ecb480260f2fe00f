/* FastCGI records written and read outside libfcgi (see fcgi_record.h). */
#include "fcgi_record.h"

#include <string.h>

enum { FCGI_VERSION = 1, TYPE_ABORT = 2, TYPE_END_REQUEST = 3, TYPE_STDOUT = 6, TYPE_MAX = 11 };

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
