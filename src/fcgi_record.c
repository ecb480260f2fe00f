/* Every FastCGI byte opstream reads or writes itself, outside libfcgi
 * (see fcgi_record.h): the spec's names from libfcgi's <fastcgi.h>. */
#define _GNU_SOURCE /* MSG_DONTWAIT */
#include "fcgi_record.h"

#include <arpa/inet.h>
#include <fastcgi.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(FCGI_HEADER_BYTES == FCGI_HEADER_LEN, "a record header is 8 bytes");
_Static_assert(FCGI_END_BYTES == 2 * FCGI_HEADER_LEN + sizeof(FCGI_EndRequestBody),
               "the end of a response: two headers and an end body");

static int request_id_of(const FCGI_Header *h)
{
    return (h->requestIdB1 << 8) | h->requestIdB0;
}

static size_t content_of(const FCGI_Header *h)
{
    return ((size_t)h->contentLengthB1 << 8) | h->contentLengthB0;
}

static void header(unsigned char *out, int type, int request_id, size_t len)
{
    FCGI_Header h = {
        .version = FCGI_VERSION_1,
        .type = (unsigned char)type,
        .requestIdB1 = (unsigned char)((request_id >> 8) & 0xff),
        .requestIdB0 = (unsigned char)(request_id & 0xff),
        .contentLengthB1 = (unsigned char)((len >> 8) & 0xff),
        .contentLengthB0 = (unsigned char)(len & 0xff),
        .paddingLength = 0,
    };
    memcpy(out, &h, sizeof h);
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
        header(out + w, FCGI_STDOUT, request_id, take);
        memcpy(out + w + FCGI_HEADER_BYTES, p, take);
        w += FCGI_HEADER_BYTES + take;
        p += take;
        n -= take;
    }
    return w;
}

void fcgi_end(unsigned char out[FCGI_END_BYTES], int request_id)
{
    header(out, FCGI_STDOUT, request_id, 0); /* the end of the stdout stream */
    header(out + FCGI_HEADER_LEN, FCGI_END_REQUEST, request_id, sizeof(FCGI_EndRequestBody));
    FCGI_EndRequestBody end = {.protocolStatus = FCGI_REQUEST_COMPLETE}; /* appStatus 0 */
    memcpy(out + 2 * FCGI_HEADER_LEN, &end, sizeof end);
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
        FCGI_Header h;
        memcpy(&h, s->head, sizeof h);
        if (h.version != FCGI_VERSION_1 || h.type == 0 || h.type > FCGI_MAXTYPE)
            return -1;
        if (h.type == FCGI_ABORT_REQUEST && request_id_of(&h) == request_id)
            return 1;
        s->skip = content_of(&h) + h.paddingLength;
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
    for (size_t off = 0; off + FCGI_HEADER_LEN <= len;) {
        FCGI_Header h;
        memcpy(&h, buf + off, sizeof h);
        size_t content = content_of(&h), end = off + FCGI_HEADER_LEN + content + h.paddingLength;
        if (h.version != FCGI_VERSION_1)
            return FCGI_REQUEST_REFUSED;
        if (!out->head_done && end > head_max)
            return FCGI_REQUEST_REFUSED; /* the head would pass its bound */
        if (end > len)
            break; /* the record is not whole yet */
        const unsigned char *c = buf + off + FCGI_HEADER_LEN;
        int ours = request_id_of(&h) != FCGI_NULL_REQUEST_ID; /* else a management record */
        if (h.type == FCGI_BEGIN_REQUEST && ours) {
            FCGI_BeginRequestBody begin;
            if (begun || content < sizeof begin)
                return FCGI_REQUEST_REFUSED;
            memcpy(&begin, c, sizeof begin);
            begun = 1;
            /* libfcgi answers another role at once (FCGI_UNKNOWN_ROLE). */
            if (((begin.roleB1 << 8) | begin.roleB0) != FCGI_RESPONDER)
                return FCGI_REQUEST_WHOLE;
        } else if (h.type == FCGI_ABORT_REQUEST && ours) {
            return FCGI_REQUEST_REFUSED; /* the web server's client has gone */
        } else if (h.type == FCGI_PARAMS && ours && !out->head_done) {
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
        } else if (h.type == FCGI_STDIN && ours && out->head_done) {
            if (content == 0)
                return FCGI_REQUEST_WHOLE;
            out->body_bytes += content;
        } else if (ours && (h.type == FCGI_STDIN || h.type == FCGI_PARAMS)) {
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

int fcgi_abort_waiting(int fd, int request_id)
{
    unsigned char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    struct fcgi_scan scan = {0};
    return n > 0 && fcgi_scan_abort(&scan, buf, (size_t)n, request_id) == 1;
}

/* An address as FCGI_WEB_SERVER_ADDRS spells it: IPv4 dotted, IPv6 in
 * inet_ntop's form; an IPv4 peer on an IPv6 socket (::ffff:a.b.c.d) is
 * its IPv4 address. */
static int peer_text(int fd, char *ip, size_t size)
{
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &salen) != 0)
        return -1;
    if (sa.ss_family == AF_INET)
        return inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, (socklen_t)size)
                   ? 0 : -1;
    if (sa.ss_family != AF_INET6)
        return 1; /* a unix socket: no address to check */
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
        return inet_ntop(AF_INET, a6->s6_addr + 12, ip, (socklen_t)size) ? 0 : -1;
    return inet_ntop(AF_INET6, a6, ip, (socklen_t)size) ? 0 : -1;
}

/* The same address in another spelling (an IPv6 one written otherwise)
 * is the same address. */
static int same_address(const char *listed, size_t len, const char *ip)
{
    char a[INET6_ADDRSTRLEN];
    if (len >= sizeof a)
        return 0;
    memcpy(a, listed, len);
    a[len] = '\0';
    if (strcmp(a, ip) == 0)
        return 1;
    struct in6_addr x, y;
    return inet_pton(AF_INET6, a, &x) == 1 && inet_pton(AF_INET6, ip, &y) == 1 &&
           memcmp(&x, &y, sizeof x) == 0;
}

int fcgi_peer_allowed(int fd, const char *allowed)
{
    if (allowed == NULL || allowed[0] == '\0')
        return 1;
    char ip[INET6_ADDRSTRLEN];
    int r = peer_text(fd, ip, sizeof ip);
    if (r != 0)
        return r > 0;
    for (const char *p = allowed; *p != '\0';) {
        size_t len = strcspn(p, ",");
        const char *next = p + len + (p[len] == ',');
        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && same_address(p, len, ip))
            return 1;
        p = next;
    }
    return 0;
}
