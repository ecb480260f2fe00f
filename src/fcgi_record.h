#ifndef OPSTREAM_FCGI_RECORD_H
#define OPSTREAM_FCGI_RECORD_H

#include <stddef.h>

/* FastCGI records for a response that has left libfcgi: libfcgi serves
 * one request per thread, so a stream handed to the hub (hub.c) is
 * answered with records written here (FastCGI 1.0, sections 3.3, 5.3,
 * 5.5). */

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

#endif
