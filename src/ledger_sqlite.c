/* The SQLite engine of the ledger: a file, opened in WAL mode so that
 * the responder's readers run beside the worker's writes. Each connection
 * keeps its statements prepared for as long as it lives. */
#include "ledger.h"
#include "clock.h"
#include "event.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Statements kept prepared per connection: more than the store has. */
#define STMT_CACHE 96
/* How long a writer waits for another process's write lock. */
#define BUSY_WAIT_MS 10000

struct query {
    struct ledger_query base;
    sqlite3_stmt *q;
    int failed;                 /* a binding failed */
    int slot;                   /* in the connection's cache, or -1 */
};

struct sqlite_ledger {
    struct ledger base;
    sqlite3 *db;
    struct query cache[STMT_CACHE];
    int busy[STMT_CACHE];       /* in use by a caller now */
    size_t ncache;
    int64_t busy_since;         /* busy_wait's start */
};

#define DB(l) ((struct sqlite_ledger *)(l))
#define Q(q) ((struct query *)(q))

/* A process's threads take SQLite's write lock one at a time, in the
 * order they came: waiting in SQLite's busy handler is for other
 * processes only. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int holding;   /* this thread holds write_lock */

/* Each step moves the schema from version i to i+1; never edit a shipped
 * step, append a new one. */
static const char *const migrations[] = {
    "CREATE TABLE runs ("
    " id TEXT PRIMARY KEY, owner TEXT NOT NULL, type TEXT NOT NULL,"
    " status TEXT NOT NULL, thread_id TEXT, input TEXT NOT NULL,"
    " result TEXT, error TEXT, pending_input TEXT,"
    " progress_current INTEGER, progress_total INTEGER,"
    " steps TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}',"
    " created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
    " updated_at INTEGER NOT NULL, last_event_id TEXT,"
    " attempt INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_owner_created ON runs(owner, created_at DESC, id);"
    "CREATE INDEX runs_status ON runs(status);"
    "CREATE TABLE tokens (hash TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " name TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

    /* 2: creation order, idempotency keys, threads and cancellation. */
    "ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE runs SET seq = rowid;"
    "CREATE INDEX runs_owner_seq ON runs(owner, seq);"
    "CREATE INDEX runs_thread ON runs(thread_id, seq) WHERE thread_id IS NOT NULL;"
    "ALTER TABLE runs ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN cancel_requested_at INTEGER;"
    "ALTER TABLE runs ADD COLUMN delete_on_finish INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE idempotency (owner TEXT NOT NULL, key TEXT NOT NULL,"
    " body_hash TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL, PRIMARY KEY (owner, key));"
    "CREATE INDEX idempotency_created ON idempotency(created_at);",

    /* 3: the archive of every event, kept beyond Redis retention. */
    "CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " ms INTEGER NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (run_id, ms, seq)) WITHOUT ROWID;",

    /* 4: when a run's archive was deleted (opstream gc). */
    "ALTER TABLE runs ADD COLUMN archive_deleted_at INTEGER;",

    /* 5: leases of running runs, for crash recovery. */
    "ALTER TABLE runs ADD COLUMN lease_until INTEGER;"
    "ALTER TABLE runs ADD COLUMN worker_host TEXT;"
    "ALTER TABLE runs ADD COLUMN pgid INTEGER;"
    "ALTER TABLE runs ADD COLUMN queue_entry TEXT;"
    "CREATE INDEX runs_lease ON runs(lease_until) WHERE lease_until IS NOT NULL;",

    /* 6: each owner's link epoch, moved by revoking a credential. */
    "CREATE TABLE owners (owner TEXT PRIMARY KEY, link_epoch INTEGER NOT NULL DEFAULT 0);",

    /* 7: the event each projection was last taken from, so that a late
     * write of an older event never moves it back. */
    "ALTER TABLE runs ADD COLUMN progress_event_id TEXT;"
    "ALTER TABLE runs ADD COLUMN steps_event_id TEXT;",

    /* 8: a new run's seq is MAX(seq) + 1: read from an index, not a scan
     * of every run. */
    "CREATE INDEX runs_seq ON runs(seq);",

    /* 9: the run a rerun repeats. */
    "ALTER TABLE runs ADD COLUMN rerun_of TEXT;",

    /* 10: scheduling: a delayed start, an expiry in the queue, a
     * priority, a concurrency key. */
    "ALTER TABLE runs ADD COLUMN start_at INTEGER;"
    "ALTER TABLE runs ADD COLUMN expires_at INTEGER;"
    "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN concurrency_key TEXT;",

    /* 11: a webhook told of the run's end, and its attempts. */
    "ALTER TABLE runs ADD COLUMN webhook TEXT;"
    "ALTER TABLE runs ADD COLUMN webhook_state TEXT;"
    "ALTER TABLE runs ADD COLUMN webhook_attempts TEXT NOT NULL DEFAULT '[]';",

    /* 12: the owner's and the thread's active runs, counted at every
     * create, from an index of those runs only: not a walk through the
     * owner's whole history. */
    "CREATE INDEX runs_owner_active ON runs(owner, thread_id) WHERE " LEDGER_ACTIVE_SQL ";",

    /* 13: threads made as such (the LangGraph surface), with metadata. */
    "CREATE TABLE threads (owner TEXT NOT NULL, id TEXT NOT NULL,"
    " metadata TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, PRIMARY KEY (owner, id));",

    /* 14: the request that made a run, for the logs of its worker. */
    "ALTER TABLE runs ADD COLUMN request_id TEXT;",
};


static int exec(struct ledger *l, const char *sql)
{
    return sqlite3_exec(DB(l)->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int begin(struct ledger *l)
{
    pthread_mutex_lock(&write_lock);
    if (exec(l, "BEGIN IMMEDIATE") == 0) {
        holding = 1;
        return 0;
    }
    pthread_mutex_unlock(&write_lock);
    return -1;
}

static void let_go(void)
{
    holding = 0;
    pthread_mutex_unlock(&write_lock);
}

static int commit(struct ledger *l)
{
    int r = exec(l, "COMMIT");
    if (r != 0)
        exec(l, "ROLLBACK");
    let_go();
    return r;
}

static void rollback(struct ledger *l)
{
    exec(l, "ROLLBACK");
    let_go();
}

static int settle(struct ledger *l)
{
    int open = !sqlite3_get_autocommit(DB(l)->db);
    if (open)
        exec(l, "ROLLBACK");
    if (holding) {
        let_go();
        open = 1;
    }
    return open ? -1 : 0;
}

static const char *error(struct ledger *l)
{
    return sqlite3_errmsg(DB(l)->db);
}

/* SQLite's own busy handler sleeps up to 100 ms at a time, which is most
 * of a create's time when two processes write; this one retries after a
 * fraction of a millisecond, growing to 2 ms, for BUSY_WAIT_MS in all. */
static int busy_wait(void *arg, int count)
{
    int64_t *since = arg;
    int64_t now = clock_mono_ms();
    if (count == 0)
        *since = now;
    if (now - *since >= BUSY_WAIT_MS)
        return 0;
    int us = count < 20 ? 100 * (count + 1) : 2000;
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

/* event_after(a, b): 1 when event id a comes after b, or b is NULL. The
 * ledger's last_event_id and projections move only forward with it, however
 * late a writer's update lands. */
static void event_after_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *a = sqlite3_value_text(argv[0]);
    const unsigned char *b = sqlite3_value_text(argv[1]);
    struct event_id ia, ib;
    if (a == NULL || event_id_parse((const char *)a, &ia) != 0) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    int later = b == NULL || event_id_parse((const char *)b, &ib) != 0 ||
                event_id_cmp(&ia, &ib) > 0;
    sqlite3_result_int(ctx, later);
}

/* metadata_is(metadata, key, value): 1 when the metadata object has key
 * with this value: a string's own text, anything else as JSON writes it. */
static void metadata_is_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *meta = sqlite3_value_text(argv[0]);
    const unsigned char *key = sqlite3_value_text(argv[1]);
    const unsigned char *want = sqlite3_value_text(argv[2]);
    json_t *m = meta ? json_loads((const char *)meta, 0, NULL) : NULL;
    json_t *v = key ? json_object_get(m, (const char *)key) : NULL;
    int same = 0;
    if (v != NULL && want != NULL) {
        if (json_is_string(v)) {
            same = strcmp(json_string_value(v), (const char *)want) == 0;
        } else {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            same = text != NULL && strcmp(text, (const char *)want) == 0;
            free(text);
        }
    }
    json_decref(m);
    sqlite3_result_int(ctx, same);
}

static int version(struct ledger *l)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(l)->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return -1;
    int v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return v;
}

static int set_version(struct ledger *l, int v)
{
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
    return exec(l, pragma);
}

static void close_ledger(struct ledger *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < DB(l)->ncache; i++)
        sqlite3_finalize(DB(l)->cache[i].q);
    sqlite3_close(DB(l)->db);
    free(l);
}

static struct ledger *open_ledger(const char *path, char *err, size_t errsize)
{
    struct sqlite_ledger *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    st->base.engine = &ledger_sqlite;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        close_ledger(&st->base);
        return NULL;
    }
    sqlite3_busy_handler(st->db, busy_wait, &st->busy_since);
    sqlite3_create_function(st->db, "event_after", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            event_after_fn, NULL, NULL);
    sqlite3_create_function(st->db, "metadata_is", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            metadata_is_fn, NULL, NULL);
    if (exec(&st->base, "PRAGMA journal_mode=WAL") != 0 ||
        exec(&st->base, "PRAGMA synchronous=NORMAL") != 0 ||
        exec(&st->base, "PRAGMA foreign_keys=ON") != 0) {
        snprintf(err, errsize, "%s: %s", path, sqlite3_errmsg(st->db));
        close_ledger(&st->base);
        return NULL;
    }
    return &st->base;
}

/* A statement from the connection's cache when it was prepared before
 * and is not in use, else a new one (kept when there is room). */
static struct ledger_query *prepare(struct ledger *l, const char *sql)
{
    struct sqlite_ledger *st = DB(l);
    for (size_t i = 0; i < st->ncache; i++) {
        if (!st->busy[i] && strcmp(sqlite3_sql(st->cache[i].q), sql) == 0) {
            st->busy[i] = 1;
            st->cache[i].failed = 0;
            return &st->cache[i].base;
        }
    }
    int keep = st->ncache < STMT_CACHE;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v3(st->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &q, NULL) !=
        SQLITE_OK)
        return NULL;
    struct query *s = keep ? &st->cache[st->ncache] : malloc(sizeof *s);
    if (s == NULL) {
        sqlite3_finalize(q);
        return NULL;
    }
    *s = (struct query){{l}, q, 0, keep ? (int)st->ncache : -1};
    if (keep)
        st->busy[st->ncache++] = 1;
    return &s->base;
}

/* Done with a statement: a cached one is reset for its next use. */
static void release(struct ledger_query *lq)
{
    struct query *s = Q(lq);
    if (s->slot < 0) {
        sqlite3_finalize(s->q);
        free(s);
        return;
    }
    sqlite3_reset(s->q);
    sqlite3_clear_bindings(s->q);
    DB(lq->db)->busy[s->slot] = 0;
}

static int params(struct ledger_query *q)
{
    return sqlite3_bind_parameter_count(Q(q)->q);
}

static void bound(struct ledger_query *q, int rc)
{
    if (rc != SQLITE_OK)
        Q(q)->failed = 1;
}

static void bind_text(struct ledger_query *q, int i, const char *text)
{
    bound(q, text == NULL ? sqlite3_bind_null(Q(q)->q, i)
                          : sqlite3_bind_text(Q(q)->q, i, text, -1, SQLITE_TRANSIENT));
}

static void bind_int(struct ledger_query *q, int i, int64_t v)
{
    bound(q, sqlite3_bind_int64(Q(q)->q, i, v));
}

static void bind_null(struct ledger_query *q, int i)
{
    bound(q, sqlite3_bind_null(Q(q)->q, i));
}

static enum ledger_step step(struct ledger_query *q)
{
    if (Q(q)->failed)
        return LEDGER_ERROR;
    int rc = sqlite3_step(Q(q)->q);
    return rc == SQLITE_ROW ? LEDGER_ROW : rc == SQLITE_DONE ? LEDGER_DONE : LEDGER_ERROR;
}

static int changes(struct ledger_query *q)
{
    return sqlite3_changes(DB(q->db)->db);
}

static int is_null(struct ledger_query *q, int col)
{
    return sqlite3_column_type(Q(q)->q, col) == SQLITE_NULL;
}

static const char *text(struct ledger_query *q, int col)
{
    return (const char *)sqlite3_column_text(Q(q)->q, col);
}

static int64_t integer(struct ledger_query *q, int col)
{
    return sqlite3_column_int64(Q(q)->q, col);
}

static int is_integer(struct ledger_query *q, int col)
{
    return sqlite3_column_type(Q(q)->q, col) == SQLITE_INTEGER;
}

static int columns(struct ledger_query *q)
{
    return sqlite3_column_count(Q(q)->q);
}

static const char *column_name(struct ledger_query *q, int col)
{
    return sqlite3_column_name(Q(q)->q, col);
}

const struct ledger_engine ledger_sqlite = {
    .name = "sqlite",
    .open = open_ledger,
    .close = close_ledger,
    .exec = exec,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .settle = settle,
    .error = error,
    .version = version,
    .set_version = set_version,
    .migrations = migrations,
    .n_migrations = (int)(sizeof migrations / sizeof migrations[0]),
    .prepare = prepare,
    .release = release,
    .params = params,
    .bind_text = bind_text,
    .bind_int = bind_int,
    .bind_null = bind_null,
    .step = step,
    .changes = changes,
    .is_null = is_null,
    .text = text,
    .integer = integer,
    .is_integer = is_integer,
    .columns = columns,
    .column_name = column_name,
};
