#ifndef OPSTREAM_DOORMAN_H
#define OPSTREAM_DOORMAN_H

#include <stdatomic.h>
#include <stddef.h>

/* The longest name or value a FastCGI PARAMS pair may declare. */
#define FCGI_PARAM_MAX_BYTES (256 * 1024)

/* Accepts on listen_fd (made non-blocking) until *stop is set (stop may be
 * NULL), then returns once the peers it accepted are handed over or timed
 * out. A peer is handed to
 * hand(fd, ctx) only once it has sent something and what it sent declares
 * no PARAMS pair longer than FCGI_PARAM_MAX_BYTES; a peer silent for
 * timeout_ms, or one that FCGI_WEB_SERVER_ADDRS does not name (TCP), is
 * closed. So no peer can hold up another, whatever it sends. */
void doorman_run(int listen_fd, int timeout_ms, void (*hand)(int fd, void *ctx), void *ctx,
                 const atomic_int *stop);

/* Checks the FastCGI records at the start of a connection (len bytes
 * peeked): -1 when a PARAMS pair declares a name or value over max, else
 * 0 (also when the bytes end before a verdict). */
int fcgi_params_sane(const unsigned char *buf, size_t len, size_t max);

/* True when the web server has sent FCGI_ABORT_REQUEST for request_id on
 * fd, among the records waiting there (peeked, never consumed; records
 * that do not parse as FastCGI tell nothing). */
int fcgi_abort_waiting(int fd, int request_id);

#endif
