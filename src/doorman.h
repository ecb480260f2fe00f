#ifndef OPSTREAM_DOORMAN_H
#define OPSTREAM_DOORMAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The most a request's head (its records up to the end of PARAMS) may
 * take: libfcgi allocates what PARAMS pairs declare, so it only ever sees
 * a head that is whole and within this. */
#define FCGI_HEAD_MAX_BYTES (256 * 1024)
/* Body bytes that arrive ahead of the request thread: a body that has
 * not ended by then is read on a thread of its own, under the deadline.
 * Well under what a sender may have in a unix socket unread: Apache's
 * mod_proxy_fcgi writes on only when the socket polls writable, which a
 * unix stream socket does under a quarter of its send buffer (about 52 KB
 * by default), so a body kept waiting for more than that never comes. */
#define FCGI_BODY_AHEAD_BYTES (16 * 1024)

/* How a peer is handed over. */
enum door_kind {
    DOOR_WHOLE,   /* the whole request is here: nothing to wait for */
    DOOR_LARGE,   /* the head is here, a large body is still coming until until_ms */
    DOOR_LATE,    /* the head is here, the body did not come in time: answer 408 */
};

typedef void (*doorman_hand_fn)(int fd, enum door_kind kind, int64_t until_ms, void *ctx);

struct doorman;

/* One doorman per responder process: it accepts on listen_fd (made
 * non-blocking) and holds every new peer until its request has arrived,
 * within timeout_ms of its connect. Only then is it handed over, so a
 * request thread never waits for a peer: a peer silent, half-sent or
 * trickling is closed at its deadline (or, with its head whole, handed
 * DOOR_LATE), one whose head declares too much is closed at once, and a
 * peer FCGI_WEB_SERVER_ADDRS does not name (TCP) is closed. NULL when
 * out of resources. */
struct doorman *doorman_new(int listen_fd, int timeout_ms, doorman_hand_fn hand, void *ctx);
/* Accepts until *stop is set (stop may be NULL), then returns once the
 * peers it holds are handed over, timed out or closed. */
void doorman_run(struct doorman *d, const atomic_int *stop);

/* Ends reading on fd at until_ms (shutdown(SHUT_RD), which wakes a
 * blocked read with an end of file), unless doorman_unwatch comes first;
 * a thread reading a large body is so bounded. At most one watch per fd;
 * unwatch before closing. */
void doorman_watch(struct doorman *d, int fd, int64_t until_ms);
void doorman_unwatch(struct doorman *d, int fd);
/* Takes fd once its answer is written: its sending side is shut, what
 * the peer still sends is read and dropped until it closes or for at
 * most a linger bound, then it is closed. No thread waits for that. */
void doorman_linger(struct doorman *d, int fd);

#endif
