#ifndef OPSTREAM_BUS_H
#define OPSTREAM_BUS_H

#include "config.h"
#include "crypto.h"
#include "event.h"

struct bus;

/* Consumer group of the run queue. */
#define BUS_GROUP "workers"
#define BUS_QUEUE_KEY "opstream:queue"
#define BUS_DELAYED_KEY "opstream:delayed"
#define BUS_EXPIRING_KEY "opstream:expiring"
#define BUS_WEBHOOKS_KEY "opstream:webhooks"

/* redis = sentinel://HOST:PORT,HOST:PORT/NAME: every connection asks the
 * sentinels for NAME's master. */
#define BUS_SENTINEL_PREFIX "sentinel://"
#define BUS_SENTINELS_MAX 8
/* Connects, authenticates and selects the db. timeout_ms bounds connect
 * and every command that does not block on purpose. */
struct bus *bus_connect(const struct config *cfg, int timeout_ms, char *err,
                        size_t errsize);
void bus_free(struct bus *b);
/* A number no other connection of this process has had (0 for none). */
unsigned long long bus_serial(const struct bus *b);
int bus_ping(struct bus *b);
/* True while an idle connection looks usable: no error on it, and nothing
 * waiting to be read (what Redis sends when it closes one). */
int bus_alive(const struct bus *b);

/* All keys of one run share the hash tag {id}, so a cluster keeps them in
 * one slot. */
void bus_events_key(const char *run_id, char *out, size_t size);

/* XADD of one event; writes the new entry id: BUS_APPEND_OK. maxlen
 * bounds the live stream (approximate trimming). token is unique to this
 * write, so a writer whose connection broke can tell whether the entry
 * landed. Once the stream holds its run's end, nothing more is appended:
 * BUS_APPEND_ENDED, with the end's id. floor is the newest id the ledger
 * holds of the run ("" or NULL: none known): a stream whose newest entry
 * is older lost writes, and gets nothing until its tail is restored:
 * BUS_APPEND_BEHIND, with its newest id ("0-0" when empty). The new id is
 * wanted when that is newer than the stream's newest (a write tried again
 * after Redis lost its first try keeps that try's id); else its time is
 * now_ms unless the stream's newest is later. -1 on error. */
enum { BUS_APPEND_OK = 0, BUS_APPEND_ENDED = 1, BUS_APPEND_BEHIND = 2 };
int bus_append(struct bus *b, const char *run_id, const char *name,
               const char *data, const char *token, int maxlen, const char *floor,
               const char *wanted, int64_t now_ms, char out_id[EVENT_ID_SIZE]);
/* Waits until a replica holds every write made on this connection, so
 * that a failover cannot lose them: 1 when one does, 0 when no replica is
 * attached or none answered within BUS_REPLICA_WAIT_MS (then none is
 * waited for until BUS_REPLICA_RECHECK_MS later), -1 when the connection
 * failed meanwhile: the writes may be lost. */
#define BUS_REPLICA_WAIT_MS 250
#define BUS_REPLICA_RECHECK_MS 5000
int bus_replicated(struct bus *b);
/* Puts archived entries back at the end of a run's stream with their own
 * ids (ids[], names[], datas[] in order, at most BUS_RESTORE_MAX), each
 * announced as an append is; those not newer than the stream's newest are
 * left out, and none goes after its run's end. The number put back, -1. */
#define BUS_RESTORE_MAX 100
int bus_restore(struct bus *b, const char *run_id, int maxlen, size_t n,
                const char *const *ids, const char *const *names, const char *const *datas);
/* Which Redis process the connection reaches (its run_id; "" when it did
 * not say): another one after a restart or a failover, which may have
 * lost the last writes of the one before. */
#define BUS_SERVER_SIZE 48
const char *bus_server(struct bus *b);
/* Looks for the entry written with token among the newest ones: 1 found
 * (out_id set), 0 not there, -1 error. */
int bus_find_write(struct bus *b, const char *run_id, const char *token,
                   char out_id[EVENT_ID_SIZE]);

/* The newest entry of a run's stream: 0 found, 1 empty or missing, -1 error. */
int bus_last(struct bus *b, const char *run_id, char id[EVENT_ID_SIZE],
             char name[EVENT_NAME_SIZE]);

typedef int (*bus_entry_fn)(void *ctx, const char *id, const char *name,
                            const char *data);
/* Entries strictly after after_id, at most count, waiting up to block_ms
 * (0 = don't wait) for the first one. fn returns non-zero to stop early.
 * Returns the number of entries delivered, or -1 on a connection error. */
int bus_read(struct bus *b, const char *run_id, const char *after_id,
             int count, int block_ms, bus_entry_fn fn, void *ctx);

/* The entries after after_ids[i] of each run_ids[i], at most count each,
 * in one round trip; fn gets i with each entry. 0, or -1 on a connection
 * error (the connection is then unusable). */
typedef void (*bus_runs_fn)(void *ctx, size_t i, const char *id, const char *name,
                            const char *data);
int bus_read_runs(struct bus *b, size_t n, const char *const *run_ids,
                  const char *const *after_ids, int count, bus_runs_fn fn, void *ctx);

/* Every append is announced on its run's own channel, PREFIX{RUN}SUFFIX
 * (sharded pub/sub, SPUBLISH: in a Redis Cluster it stays on the run's
 * shard), as "RUN_ID PREV_ID ENTRY_ID TYPE DATA" (PREV_ID: the entry
 * before it, 0-0 for the first), so that a reader of many runs hears of
 * the runs it follows and of no other, learns which have news without a
 * blocked read per run, and one that had PREV_ID has the entry itself
 * without reading it. An announcement can be lost (pub/sub is at most
 * once); a reader reads again whenever a subscription is new, or the
 * PREV_ID is not its. */
#define BUS_NOTIFY_PREFIX "opstream:"
#define BUS_NOTIFY_SUFFIX ":appended"
void bus_notify_channel(const char *run_id, char *out, size_t size);
/* A connection for announcements, following no run yet, or NULL (err set). */
struct bus *bus_listen(const struct config *cfg, int timeout_ms, char *err, size_t errsize);
/* Starts or stops hearing a run's announcements: 0 once asked (the
 * answer to a follow comes through bus_listen_take), -1. */
int bus_listen_follow(struct bus *b, const char *run_id);
int bus_listen_unfollow(struct bus *b, const char *run_id);
/* Asks the listener's server for an answer (it comes through
 * bus_listen_take, and is no announcement): a server that has gone
 * without closing the connection is noticed by its silence. 0, or -1. */
int bus_listen_ping(struct bus *b);
/* The connection's socket, to wait on with poll/epoll; -1 when none. */
int bus_fd(const struct bus *b);
/* Once the socket is readable: reads it once and calls fn for each whole
 * announcement, followed for each run whose following has begun (from
 * then on nothing of it is missed). The number of announcements, or -1
 * when the connection is broken. */
typedef void (*bus_notice_fn)(void *ctx, const char *run_id, const char *prev_id,
                              const char *entry_id, const char *name, const char *data);
typedef void (*bus_followed_fn)(void *ctx, const char *run_id);
int bus_listen_take(struct bus *b, bus_notice_fn fn, bus_followed_fn followed, void *ctx);

/* The data of one entry of a run's stream (malloc'd into *data): 0, 1 when
 * it is not there, -1 on error. */
int bus_entry(struct bus *b, const char *run_id, const char *id, char **data);

/* Control messages for the worker running a run (cancel, resume input):
 * a list per run, pushed by responders, popped by the worker. A push
 * returns once a replica holds it, when one is attached (bus_replicated). */
#define BUS_CONTROL_SIZE (1 << 20)
int bus_control_push(struct bus *b, const char *run_id, const char *msg);
/* 1 with the oldest message in out (malloc'd, the caller frees), 0 when
 * there is none, -1 on error. */
int bus_control_pop(struct bus *b, const char *run_id, char **out);
/* The run's list gone, and its bell. */
int bus_control_clear(struct bus *b, const char *run_id);
/* Runs whose bell rang (a message pushed) and was not yet answered, up
 * to max; bells rung before rung_before_ms are dropped first (their runs
 * ended, or their worker died: recovery clears them). n, or -1. */
int bus_control_ready(struct bus *b, int64_t rung_before_ms, char ids[][ID_SIZE], int max);
/* Answers a run's bell, before its list is read: a message pushed after
 * that rings again. */
int bus_control_taken(struct bus *b, const char *run_id);
/* Counts one more event published to the run from outside (POST
 * .../events): the count so far, or -1. */
long long bus_count_published(struct bus *b, const char *run_id);

/* Metrics (metrics.h): counters every process adds to, a hash; each
 * process's gauge lines, by process; when each was last heard from. One
 * hash tag, so a cluster keeps them together. */
#define BUS_METRICS_KEY "opstream:{metrics}"
#define BUS_METRICS_GAUGES_KEY "opstream:{metrics}:gauges"
#define BUS_METRICS_SEEN_KEY "opstream:{metrics}:seen"
/* Adds values[i] (integers, or decimals where they hold a '.') to the
 * counters fields[i], and sets process's gauge lines (unless NULL), in
 * one step: 0, or -1 (nothing or all of it was added). */
int bus_metrics_report(struct bus *b, const char *process, int64_t now_ms, const char *gauges,
                       size_t n, const char *const *fields, const char *const *values);
/* Every counter (fn with its field and value) and the gauge lines of
 * every process heard from since heard_since_ms (fn with a NULL field);
 * those of others are dropped. 0, or -1. */
typedef void (*bus_metric_fn)(void *ctx, const char *field, const char *value);
int bus_metrics_read(struct bus *b, int64_t heard_since_ms, bus_metric_fn fn, void *ctx);
/* Webhooks waiting for their next attempt or under way, or -1. */
long long bus_webhooks_pending(struct bus *b);
/* Commands this process saw fail for want of a working connection
 * since the last call (the count starts again at 0). */
unsigned long long bus_errors_take(void);

/* What Redis still holds of a run's stream. */
struct stream_info {
    int exists;
    struct event_id first;        /* oldest entry held */
    struct event_id last;         /* newest id it was given */
    int trimmed;                  /* entries were removed (the oldest ones) */
};
int bus_stream_info(struct bus *b, const char *run_id, struct stream_info *out);
/* A finished run's keys go after ttl_s. */
int bus_expire_run(struct bus *b, const char *run_id, int ttl_s);
/* Deletes every key of a run (rollback). */
int bus_delete_run(struct bus *b, const char *run_id);

/* A job type's max_concurrency across all workers: a slot per running
 * run, held until its lease expiry (renewed with the lease), so a dead
 * worker's slots free themselves. 1 taken, 0 all taken, -1 error. */
int bus_slot_take(struct bus *b, const char *type, const char *run_id, int max,
                  int64_t now_ms, int64_t until_ms);
int bus_slot_renew(struct bus *b, const char *type, const char *run_id, int64_t until_ms);
int bus_slot_free(struct bus *b, const char *type, const char *run_id);

/* Revocations of credentials, counted: an open stream compares the count
 * at each keepalive with the one it started under, and checks its
 * credentials again only when it moved. */
#define BUS_REVOCATIONS_KEY "opstream:revocations"
int bus_revoked(struct bus *b);
/* The count (0 before the first), or -1. */
long long bus_revocations(struct bus *b);

/* The run queue: a stream with one consumer group. */
int bus_queue_init(struct bus *b);
/* A queued run is a ticket in the queue stream (a worker claims it) and a
 * place among its type's waiting runs, by score (priority, then age):
 * a claimed ticket starts the best waiting run of its type, which is
 * not always its own. */
int bus_enqueue(struct bus *b, const char *run_id, const char *type, long long score);
/* Only a ticket: for a run that is among the waiting already. */
int bus_ticket(struct bus *b, const char *run_id);
/* A run not to start before at_ms: delayed until bus_promote, which
 * enqueues it as bus_enqueue would. */
int bus_delay(struct bus *b, const char *run_id, const char *type, long long score,
              int64_t at_ms);
/* Enqueues every delayed run due by now_ms (at most 100 a call): how
 * many, or -1; *next_ms is when the next one is due (0: none). */
int bus_promote(struct bus *b, int64_t now_ms, int64_t *next_ms);
/* The ids of the type's best n waiting runs, best first: how many, or -1. */
int bus_waiting_top(struct bus *b, const char *type, int n, char ids[][ID_SIZE]);
int bus_waiting_remove(struct bus *b, const char *type, const char *run_id);
/* Marks a queued run picked to start, for ttl_ms (until its runner has
 * claimed it in the ledger): 1 for the one caller that marked it, 0 when
 * another did first, -1. Between the pick and the claim the ledger still
 * says queued; the mark keeps a second ticket from starting it again. */
int bus_pick(struct bus *b, const char *run_id, int ttl_ms);
int bus_unpick(struct bus *b, const char *run_id);
/* A queued run to end expired at at_ms. */
int bus_expiry_add(struct bus *b, const char *run_id, int64_t at_ms);
/* 1 with the id of a run due to expire by now_ms (taken: no other caller
 * gets it), 0 none, -1; *next_ms as for bus_promote. */
int bus_expiry_take(struct bus *b, int64_t now_ms, char run_id[ID_SIZE], int64_t *next_ms);

/* Webhook deliveries due, by time: a run's is scheduled once (NX). A
 * taker holds it until lease_until, when it is due again unless the
 * taker moved it (later) or removed it (done): a deliverer that dies is
 * replaced. Take answers as bus_expiry_take. */
int bus_webhook_schedule(struct bus *b, const char *run_id, int64_t at_ms);
int bus_webhook_take(struct bus *b, int64_t now_ms, int64_t lease_until, char run_id[ID_SIZE],
                     int64_t *next_ms);
int bus_webhook_later(struct bus *b, const char *run_id, int64_t at_ms);
int bus_webhook_done(struct bus *b, const char *run_id);
/* 1 with run_id and entry_id set, 0 when nothing came within block_ms
 * (0: nothing there now), -1. */
int bus_claim(struct bus *b, const char *consumer, int block_ms,
              char run_id[ID_SIZE], char entry_id[EVENT_ID_SIZE]);
int bus_ack(struct bus *b, const char *entry_id);
/* Takes over one entry that another consumer read and has not acknowledged
 * for min_idle_ms (it died before its claim reached the ledger): as
 * bus_claim. */
int bus_reclaim(struct bus *b, const char *consumer, int min_idle_ms,
                char run_id[ID_SIZE], char entry_id[EVENT_ID_SIZE]);
/* Housekeeping: removes consumers other than self idle for min_idle_ms with
 * nothing pending, and the acknowledged entries at the head of the queue.
 * The number of consumers removed, or -1. */
int bus_queue_tidy(struct bus *b, const char *self, int min_idle_ms);

/* A note: a small record under a name (at most BUS_NOTE_NAME_SIZE - 1
 * bytes) for ttl_s seconds, which every read renews. put and delete: 0
 * or -1; get: 1 with *out (the caller frees it), 0 when there is none
 * (or it expired), -1 on error. */
#define BUS_NOTE_NAME_SIZE 256
#define BUS_NOTE_SIZE 4096
int bus_note_put(struct bus *b, const char *name, const char *value, int ttl_s);
int bus_note_get(struct bus *b, const char *name, int ttl_s, char **out);
int bus_note_delete(struct bus *b, const char *name);

#endif
