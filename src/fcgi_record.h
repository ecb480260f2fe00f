#ifndef OPSTREAM_FCGI_RECORD_H
#define OPSTREAM_FCGI_RECORD_H

#include <stddef.h>

/* Every FastCGI byte opstream reads or writes itself; libfcgi serves the
 * requests. libfcgi serves one request per thread, so a stream handed to
 * the hub (hub.c) is answered with records written here (FastCGI 1.0,
 * sections 3.3, 5.3, 5.5); the doorman (doorman.c) reads here how far a
 * request has arrived, and whom libfcgi would let connect. */

#define FCGI_HEADER_BYTES 8
/* Content per FCGI_STDOUT record: the most a record can say, kept a
 * multiple of 8. */
#define FCGI_CHUNK_BYTES 65528
/* The end of a response: an empty FCGI_STDOUT and an FCGI_END_REQUEST. */
#define FCGI_END_BYTES 24

/* The bytes fcgi_stdout writes for n bytes of content. */
size_t fcgi_stdout_size(size_t n);
/* Writes n bytes of content as FCGI_STDOUT records of request_id into
 * out, which holds fcgi_stdout_size(n) bytes: that size. */
size_t fcgi_stdout(unsigned char *out, int request_id, const char *p, size_t n);
/* The end of request_id's response, "request complete", status 0. */
void fcgi_end(unsigned char out[FCGI_END_BYTES], int request_id);

/* Reads a web server's records to the end of a response, looking for an
 * FCGI_ABORT_REQUEST (its client went away): the state between reads. */
struct fcgi_scan {
    unsigned char head[FCGI_HEADER_BYTES];
    size_t have;          /* of head */
    size_t skip;          /* content and padding still to pass over */
};
/* Feeds the next n bytes read: 1 when an abort of request_id is among the
 * records so far, -1 when they are not FastCGI, else 0. */
int fcgi_scan_abort(struct fcgi_scan *s, const unsigned char *p, size_t n, int request_id);

/* Whether an FCGI_ABORT_REQUEST for request_id is among the bytes waiting
 * on fd (peeked, not read): its client went away. */
int fcgi_abort_waiting(int fd, int request_id);

/* libfcgi's rule, which accepting outside it bypasses: over TCP, only the
 * addresses FCGI_WEB_SERVER_ADDRS lists (allowed, comma-separated, IPv4
 * or IPv6; when it is set) may connect. 1 when fd's peer may. */
int fcgi_peer_allowed(int fd, const char *allowed);

/* What the first bytes of a connection say of the request they begin
 * (FastCGI 1.0, sections 3.3, 5.1 to 5.3). */
enum fcgi_request_state {
    FCGI_REQUEST_PARTIAL,  /* more bytes are to come */
    FCGI_REQUEST_WHOLE,    /* begun, every parameter and the whole body are here */
    FCGI_REQUEST_REFUSED,  /* not FastCGI, a head over its bound, a pair that
                            * declares more than the head holds, or aborted */
};
struct fcgi_request_scan {
    int head_done;         /* the empty PARAMS record is among the bytes */
    size_t head_bytes;     /* bytes up to and with that record */
    size_t body_bytes;     /* STDIN content after the head, so far */
};
/* Reads len bytes from the start of a connection (never past them) and
 * says how far the request they begin has come. The head (the records up
 * to the end of PARAMS) may take at most head_max bytes; scratch, of
 * head_max bytes, gathers the PARAMS stream to check every pair's
 * declared lengths against what the head really holds, which libfcgi
 * trusts when it allocates. */
enum fcgi_request_state fcgi_request_scan(const unsigned char *buf, size_t len, size_t head_max,
                                          unsigned char *scratch, struct fcgi_request_scan *out);

#endif
