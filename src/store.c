/* SQLite: the run ledger, tokens and settings. One connection per caller,
 * kept as long as its caller lives, with its statements prepared once;
 * WAL lets the responder's readers run beside the worker's writes. */
#include "store.h"
#include "clock.h"

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

struct store {
    sqlite3 *db;
    struct {
        sqlite3_stmt *q;
        int busy;               /* in use by a caller now */
    } cache[STMT_CACHE];
    size_t ncache;
    int64_t busy_since;         /* busy_wait's start */
};

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
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int exec(struct store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Every multi-statement change runs between begin() and end(): end()
 * commits when ret >= 0 and rolls back otherwise (or when the commit
 * fails), returning ret, or -1 when nothing was kept. */
static int begin(struct store *st)
{
    pthread_mutex_lock(&write_lock);
    if (exec(st, "BEGIN IMMEDIATE") == 0) {
        holding = 1;
        return 0;
    }
    pthread_mutex_unlock(&write_lock);
    return -1;
}

static int end(struct store *st, int ret)
{
    if (ret < 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        ret = -1;
    }
    holding = 0;
    pthread_mutex_unlock(&write_lock);
    return ret;
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

static int schema_version(struct store *st)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return -1;
    int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return version;
}

/* Every open checks the schema, so the check is a plain read; the write
 * lock is taken only when there is something to migrate. */
static int migrate(struct store *st, char *err, size_t errsize)
{
    if (schema_version(st) == N_MIGRATIONS)
        return 0;
    if (begin(st) != 0) {
        snprintf(err, errsize, "cannot start migration: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    int version = schema_version(st);
    if (version < 0 || version > N_MIGRATIONS) {
        snprintf(err, errsize, "database schema version %d is newer than this program", version);
        return end(st, -1);
    }
    int ret = 0;
    for (int v = version; v < N_MIGRATIONS && ret == 0; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v]) != 0 || exec(st, pragma) != 0)
            ret = -1;
    }
    if (ret != 0)
        snprintf(err, errsize, "migration failed: %s", sqlite3_errmsg(st->db));
    if (end(st, ret) != 0) {
        if (ret == 0)
            snprintf(err, errsize, "migration not committed: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

struct store *store_open(const char *path, char *err, size_t errsize)
{
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsize, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        store_close(st);
        return NULL;
    }
    sqlite3_busy_handler(st->db, busy_wait, &st->busy_since);
    sqlite3_create_function(st->db, "event_after", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            event_after_fn, NULL, NULL);
    if (exec(st, "PRAGMA journal_mode=WAL") != 0 ||
        exec(st, "PRAGMA synchronous=NORMAL") != 0 ||
        exec(st, "PRAGMA foreign_keys=ON") != 0) {
        snprintf(err, errsize, "%s: %s", path, sqlite3_errmsg(st->db));
        store_close(st);
        return NULL;
    }
    if (migrate(st, err, errsize) != 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->ncache; i++)
        sqlite3_finalize(st->cache[i].q);
    sqlite3_close(st->db);
    free(st);
}

int store_settle(struct store *st)
{
    int open = st != NULL && !sqlite3_get_autocommit(st->db);
    if (open)
        exec(st, "ROLLBACK");
    if (holding) {
        holding = 0;
        pthread_mutex_unlock(&write_lock);
        open = 1;
    }
    return open ? -1 : 0;
}

int store_ping(struct store *st)
{
    return exec(st, "SELECT 1 FROM runs LIMIT 0");
}

/* A statement and whether all its bindings took: a failed binding (out of
 * memory, a value too big) fails the statement instead of running it with
 * a NULL where a value belonged. */
struct stmt {
    sqlite3_stmt *q;
    int bind_failed;
    struct store *st;
    int slot;                   /* in st's cache, or -1 */
};

/* A statement from the connection's cache when it was prepared before
 * and is not in use, else a new one (kept when there is room). */
static int prepare(struct store *st, struct stmt *s, const char *sql)
{
    s->bind_failed = 0;
    s->q = NULL;
    s->st = st;
    s->slot = -1;
    for (size_t i = 0; i < st->ncache; i++) {
        if (!st->cache[i].busy && strcmp(sqlite3_sql(st->cache[i].q), sql) == 0) {
            st->cache[i].busy = 1;
            s->q = st->cache[i].q;
            s->slot = (int)i;
            return 0;
        }
    }
    int keep = st->ncache < STMT_CACHE;
    if (sqlite3_prepare_v3(st->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &s->q,
                           NULL) != SQLITE_OK)
        return -1;
    if (keep) {
        st->cache[st->ncache].q = s->q;
        st->cache[st->ncache].busy = 1;
        s->slot = (int)st->ncache++;
    }
    return 0;
}

/* Done with a statement: a cached one is reset for its next use. */
static void release(struct stmt *s)
{
    if (s->slot < 0) {
        sqlite3_finalize(s->q);
    } else {
        sqlite3_reset(s->q);
        sqlite3_clear_bindings(s->q);
        s->st->cache[s->slot].busy = 0;
    }
    s->q = NULL;
    s->slot = -1;
}

static void bound(struct stmt *s, int rc)
{
    if (rc != SQLITE_OK)
        s->bind_failed = 1;
}

/* NULL or empty text binds SQL NULL where that is meant. */
static void bind_text(struct stmt *s, int i, const char *text)
{
    bound(s, text == NULL ? sqlite3_bind_null(s->q, i)
                          : sqlite3_bind_text(s->q, i, text, -1, SQLITE_TRANSIENT));
}

static void bind_int(struct stmt *s, int i, int64_t v)
{
    bound(s, sqlite3_bind_int64(s->q, i, v));
}

static void bind_json(struct stmt *s, int i, const json_t *j)
{
    if (j == NULL) {
        bound(s, sqlite3_bind_null(s->q, i));
        return;
    }
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    bound(s, text == NULL ? SQLITE_NOMEM : sqlite3_bind_text(s->q, i, text, -1, free));
}

static void bind_ms(struct stmt *s, int i, int64_t ms)
{
    bound(s, ms == 0 ? sqlite3_bind_null(s->q, i) : sqlite3_bind_int64(s->q, i, ms));
}

/* A set of statuses as a JSON array of their names, for
 * "status IN (SELECT value FROM json_each(?))": the names stay in run.c. */
static void bind_statuses(struct stmt *s, int i, run_status_set set)
{
    char list[256] = "[";
    size_t n = 1;
    for (int k = 0; k < RUN_STATUS_COUNT; k++)
        if (set & STATUS_BIT(k))
            n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%s\"", n > 1 ? "," : "",
                                  run_status_name((enum run_status)k));
    snprintf(list + n, sizeof list - n, "]");
    bind_text(s, i, list);
}

#define IN_STATUSES(n) "status IN (SELECT value FROM json_each(?" #n "))"

/* One step of a statement whose bindings are made. */
static int step(struct stmt *s)
{
    return s->bind_failed ? SQLITE_ERROR : sqlite3_step(s->q);
}

/* Runs a statement that returns no rows and finalizes it: the number of
 * changed rows, or -1. */
static int step_done(struct store *st, struct stmt *s)
{
    int rc = step(s);
    release(s);
    return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -1;
}

/* A transition's answer: 0 when the run changed, 1 when it matched no
 * row (not in a status the change is legal from), -1 on error. */
static int step_change(struct store *st, struct stmt *s)
{
    int n = step_done(st, s);
    return n < 0 ? -1 : (n >= 1 ? 0 : 1);
}

/* A status change's own bindings: the new status in ?2, the statuses it
 * is legal from in ?3. */
static void bind_change(struct stmt *s, const char *id, const struct status_change *ch)
{
    bind_text(s, 1, id);
    bind_text(s, 2, run_status_name(ch->to));
    bind_statuses(s, 3, ch->from);
}

/* The first column of the one row a query returns, as text: 0 found, 1
 * no row, -1 error. Finalizes the statement. */
static int step_text(struct stmt *s, char *out, size_t size)
{
    int rc = step(s);
    int ret = rc == SQLITE_ROW ? 0 : (rc == SQLITE_DONE ? 1 : -1);
    if (ret == 0) {
        const unsigned char *t = sqlite3_column_text(s->q, 0);
        snprintf(out, size, "%s", t ? (const char *)t : "");
    }
    release(s);
    return ret;
}

static void copy_col(sqlite3_stmt *q, int i, char *dst, size_t size)
{
    const unsigned char *s = sqlite3_column_text(q, i);
    snprintf(dst, size, "%s", s ? (const char *)s : "");
}

static int insert_run(struct store *st, struct run *r, int64_t lease_until)
{
    struct stmt s;
    char seq[24];
    if (prepare(st, &s, "SELECT COALESCE(MAX(seq), 0) + 1 FROM runs") != 0 ||
        step_text(&s, seq, sizeof seq) != 0)
        return -1;
    r->seq = strtoll(seq, NULL, 10);
    if (prepare(st, &s,
        "INSERT INTO runs (id, owner, type, status, thread_id, input, metadata,"
        " steps, created_at, updated_at, last_event_id, attempt, seq, parked, lease_until, rerun_of,"
        " start_at, expires_at, priority, concurrency_key, webhook, webhook_state)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, '{}'), '[]', ?8, ?8, ?9, ?10, ?11, ?12,"
        " CASE WHEN ?12 THEN NULL ELSE ?13 END, ?14, NULLIF(?15, 0), NULLIF(?16, 0), ?17, ?18,"
        " ?19, CASE WHEN ?19 IS NULL THEN NULL ELSE ?20 END)") != 0)
        return -1;
    bind_text(&s, 1, r->id);
    bind_text(&s, 2, r->owner);
    bind_text(&s, 3, r->type);
    bind_text(&s, 4, run_status_name(r->status));
    bind_text(&s, 5, r->thread_id[0] ? r->thread_id : NULL);
    bind_json(&s, 6, r->input);
    bind_json(&s, 7, r->metadata);
    bind_int(&s, 8, r->created_at);
    bind_text(&s, 9, r->last_event_id[0] ? r->last_event_id : NULL);
    bind_int(&s, 10, r->attempt);
    bind_int(&s, 11, r->seq);
    bind_int(&s, 12, r->parked);
    bind_int(&s, 13, lease_until);
    bind_text(&s, 14, r->rerun_of[0] ? r->rerun_of : NULL);
    bind_int(&s, 15, r->start_at);
    bind_int(&s, 16, r->expires_at);
    bind_int(&s, 17, r->priority);
    bind_text(&s, 18, r->concurrency_key[0] ? r->concurrency_key : NULL);
    bind_text(&s, 19, r->webhook[0] ? r->webhook : NULL);
    bind_text(&s, 20, webhook_state_name(WEBHOOK_PENDING));
    r->webhook_state = r->webhook[0] != '\0' ? WEBHOOK_PENDING : WEBHOOK_NONE;
    return step_done(st, &s) == 1 ? 0 : -1;
}

/* Looks up a live idempotency key: 1 found (run_id and hash set), 0 not,
 * -1 error. Expired keys are forgotten on the way. */
static int find_key(struct store *st, const char *owner, const char *key, int64_t now,
                    char run_id[ID_SIZE], char hash[HASH_HEX_SIZE])
{
    struct stmt s;
    if (prepare(st, &s, "DELETE FROM idempotency WHERE created_at < ?1") != 0)
        return -1;
    bind_int(&s, 1, now - IDEMPOTENCY_TTL_MS);
    if (step_done(st, &s) < 0 ||
        prepare(st, &s, "SELECT run_id, body_hash FROM idempotency WHERE owner = ?1 AND key = ?2") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_text(&s, 2, key);
    int rc = step(&s);
    int ret = rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
    if (ret == 1) {
        copy_col(s.q, 0, run_id, ID_SIZE);
        copy_col(s.q, 1, hash, HASH_HEX_SIZE);
    }
    release(&s);
    return ret;
}

static int insert_key(struct store *st, const struct run *r, const struct create_opts *o)
{
    struct stmt s;
    if (prepare(st, &s,
        "INSERT INTO idempotency (owner, key, body_hash, run_id, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5)") != 0)
        return -1;
    bind_text(&s, 1, r->owner);
    bind_text(&s, 2, o->idem_key);
    bind_text(&s, 3, o->body_hash);
    bind_text(&s, 4, r->id);
    bind_int(&s, 5, r->created_at);
    return step_done(st, &s) == 1 ? 0 : -1;
}

/* Counts the thread's active runs (only those not parked, when
 * unparked_only): the thread is busy while any exists. */
static int thread_active(struct store *st, const char *owner, const char *thread_id,
                         int unparked_only)
{
    struct stmt s;
    char n[24];
    if (prepare(st, &s,
        "SELECT COUNT(*) FROM runs WHERE owner = ?1 AND thread_id = ?2"
        " AND " IN_STATUSES(3) " AND (?4 = 0 OR parked = 0)") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_text(&s, 2, thread_id);
    bind_statuses(&s, 3, STATUS_ACTIVE);
    bind_int(&s, 4, unparked_only);
    return step_text(&s, n, sizeof n) == 0 ? atoi(n) : -1;
}

/* Counts the owner's active runs. */
static int owner_active(struct store *st, const char *owner)
{
    struct stmt s;
    char n[24];
    if (prepare(st, &s, "SELECT COUNT(*) FROM runs WHERE owner = ?1 AND " IN_STATUSES(2)) != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_statuses(&s, 2, STATUS_ACTIVE);
    return step_text(&s, n, sizeof n) == 0 ? atoi(n) : -1;
}

/* Takes a parked run off its thread's waiting line, due on the queue by
 * lease_until: 1, or -1. */
static int unpark(struct store *st, const char *id, int64_t lease_until)
{
    struct stmt s;
    if (prepare(st, &s, "UPDATE runs SET parked = 0, lease_until = ?2 WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_int(&s, 2, lease_until);
    return step_done(st, &s) == 1 ? 1 : -1;
}

int store_thread_release(struct store *st, const char *owner, const char *thread_id,
                         int64_t lease_until, char out[ID_SIZE])
{
    if (begin(st) != 0)
        return -1;
    int busy = thread_active(st, owner, thread_id, 1);
    int ret = busy < 0 ? -1 : 0;
    struct stmt s;
    if (busy == 0) {
        ret = -1;
        if (prepare(st, &s,
                "SELECT id FROM runs WHERE owner = ?1 AND thread_id = ?2 AND " IN_STATUSES(3)
                " AND parked = 1 ORDER BY seq LIMIT 1") == 0) {
            bind_text(&s, 1, owner);
            bind_text(&s, 2, thread_id);
            bind_statuses(&s, 3, STATUS_BIT(RUN_QUEUED));
            int found = step_text(&s, out, ID_SIZE);
            ret = found == 1 ? 0 : (found == 0 ? unpark(st, out, lease_until) : -1);
        }
    }
    return end(st, ret);
}

/* The shape of a transition: the status change, the time in ?4, a JSON
 * column in ?5 and a lease in ?6 when the SQL has them; other columns the
 * SQL sets on its own. */
static int change_run(struct store *st, const char *sql, const struct status_change *ch,
                      const char *id, int64_t now_ms, const json_t *value, int64_t lease_until)
{
    struct stmt s;
    if (prepare(st, &s, sql) != 0)
        return -1;
    bind_change(&s, id, ch);
    bind_int(&s, 4, now_ms);
    if (sqlite3_bind_parameter_count(s.q) >= 5)
        bind_json(&s, 5, value);
    if (sqlite3_bind_parameter_count(s.q) >= 6)
        bind_int(&s, 6, lease_until);
    return step_change(st, &s);
}

int store_run_await_input(struct store *st, const struct status_change *ch, const char *id,
                          const json_t *pending, int64_t now_ms)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, pending_input = ?5, updated_at = MAX(updated_at, ?4)"
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, pending, 0);
}

int store_run_resume(struct store *st, const struct status_change *ch, const char *id,
                     int64_t now_ms)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, pending_input = NULL, updated_at = MAX(updated_at, ?4)"
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, NULL, 0);
}

int store_run_requeue(struct store *st, const struct status_change *ch, const char *id,
                      int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, lease_until = ?6, pgid = NULL, queue_entry = NULL,"
        " pending_input = NULL, updated_at = MAX(updated_at, ?4)"
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, NULL, lease_until);
}

int store_run_cancel_queued(struct store *st, const struct status_change *ch, const char *id,
                            const json_t *error, int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, error = ?5, cancel_requested_at = ?4, finished_at = ?4,"
        " updated_at = MAX(updated_at, ?4), parked = 0, lease_until = ?6"
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, error, lease_until);
}

int store_run_expire(struct store *st, const struct status_change *ch, const char *id,
                     const json_t *error, int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, error = ?5, finished_at = ?4,"
        " updated_at = MAX(updated_at, ?4), parked = 0, lease_until = ?6"
        " WHERE id = ?1 AND started_at IS NULL AND " IN_STATUSES(3), ch, id, now_ms, error,
        lease_until);
}

int store_run_lease_clear(struct store *st, const char *id, run_status_set statuses)
{
    struct stmt s;
    if (prepare(st, &s, "UPDATE runs SET lease_until = NULL WHERE id = ?1 AND " IN_STATUSES(2)) != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_statuses(&s, 2, statuses);
    return step_change(st, &s);
}

int store_run_mark_delete(struct store *st, const char *id)
{
    struct stmt s;
    if (prepare(st, &s, "UPDATE runs SET delete_on_finish = 1 WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, id);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_run_cancel_requested(struct store *st, const char *id, int64_t now_ms)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET cancel_requested_at = ?2, updated_at = MAX(updated_at, ?2)"
        " WHERE id = ?1 AND cancel_requested_at IS NULL") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_int(&s, 2, now_ms);
    return step_change(st, &s);
}

enum create_result store_run_create(struct store *st, struct run *r,
                                    const struct create_opts *o, struct run *existing)
{
    if (begin(st) != 0)
        return CREATE_ERROR;
    enum create_result res = CREATE_ERROR;
    if (o->idem_key != NULL) {
        char run_id[ID_SIZE], hash[HASH_HEX_SIZE];
        int found = find_key(st, r->owner, o->idem_key, r->created_at, run_id, hash);
        if (found < 0)
            goto done;
        if (found == 1) {
            if (strcmp(hash, o->body_hash) != 0)
                res = CREATE_KEY_REUSED;
            else if (store_run_get(st, run_id, existing) == 0)
                res = CREATE_REPLAYED;
            goto done;
        }
    }
    if (o->max_active > 0) {
        int active = owner_active(st, r->owner);
        if (active < 0)
            goto done;
        if (active >= o->max_active) {
            res = CREATE_QUOTA;
            goto done;
        }
    }
    if (r->thread_id[0] != '\0') {
        int busy = thread_active(st, r->owner, r->thread_id, 0);
        if (busy < 0)
            goto done;
        if (busy > 0 && o->strategy == MT_REJECT) {
            res = CREATE_THREAD_BUSY;
            goto done;
        }
        r->parked = busy > 0;
    }
    if (insert_run(st, r, o->lease_until) == 0 && (o->idem_key == NULL || insert_key(st, r, o) == 0))
        res = CREATE_NEW;
done:
    /* Only a new run or a replay has anything to keep. */
    if (res != CREATE_NEW && res != CREATE_REPLAYED) {
        end(st, -1);
        return res;
    }
    if (end(st, 0) != 0) {
        if (res == CREATE_REPLAYED)
            run_clear(existing);
        return CREATE_ERROR;
    }
    return res;
}

static json_t *json_col(sqlite3_stmt *q, int i)
{
    const unsigned char *s = sqlite3_column_text(q, i);
    if (s == NULL)
        return NULL;
    return json_loads((const char *)s, JSON_DECODE_ANY, NULL);
}

#define RUN_COLUMNS                                                        \
    "id, owner, type, status, thread_id, input, result, error,"            \
    " pending_input, progress_current, progress_total, steps, metadata,"   \
    " created_at, started_at, finished_at, updated_at, last_event_id, attempt,"  \
    " seq, parked, delete_on_finish, archive_deleted_at IS NOT NULL, rerun_of,"   \
    " start_at, expires_at, priority, concurrency_key, webhook, webhook_state,"     \
    " webhook_attempts"

/* 0, or -1 for a row whose status is none this program knows. */
static int read_run(sqlite3_stmt *q, struct run *r)
{
    memset(r, 0, sizeof *r);
    const unsigned char *status = sqlite3_column_text(q, 3);
    if (status == NULL || run_status_parse((const char *)status, &r->status) != 0)
        return -1;
    copy_col(q, 0, r->id, sizeof r->id);
    copy_col(q, 1, r->owner, sizeof r->owner);
    copy_col(q, 2, r->type, sizeof r->type);
    copy_col(q, 4, r->thread_id, sizeof r->thread_id);
    r->input = json_col(q, 5);
    r->result = json_col(q, 6);
    r->error = json_col(q, 7);
    r->pending_input = json_col(q, 8);
    r->has_progress = sqlite3_column_type(q, 9) != SQLITE_NULL;
    r->progress_current = sqlite3_column_int64(q, 9);
    r->progress_total = sqlite3_column_int64(q, 10);
    r->steps = json_col(q, 11);
    r->metadata = json_col(q, 12);
    r->created_at = sqlite3_column_int64(q, 13);
    r->started_at = sqlite3_column_int64(q, 14);
    r->finished_at = sqlite3_column_int64(q, 15);
    r->updated_at = sqlite3_column_int64(q, 16);
    copy_col(q, 17, r->last_event_id, sizeof r->last_event_id);
    r->attempt = sqlite3_column_int(q, 18);
    r->seq = sqlite3_column_int64(q, 19);
    r->parked = sqlite3_column_int(q, 20);
    r->delete_on_finish = sqlite3_column_int(q, 21);
    r->archive_deleted = sqlite3_column_int(q, 22);
    copy_col(q, 23, r->rerun_of, sizeof r->rerun_of);
    r->start_at = sqlite3_column_int64(q, 24);
    r->expires_at = sqlite3_column_int64(q, 25);
    r->priority = sqlite3_column_int(q, 26);
    copy_col(q, 27, r->concurrency_key, sizeof r->concurrency_key);
    copy_col(q, 28, r->webhook, sizeof r->webhook);
    r->webhook_state = webhook_state_parse((const char *)sqlite3_column_text(q, 29));
    r->webhook_attempts = json_col(q, 30);
    return 0;
}

int store_run_get(struct store *st, const char *id, struct run *out)
{
    struct stmt s;
    if (prepare(st, &s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, id);
    int rc = step(&s);
    int ret = 1;
    if (rc == SQLITE_ROW)
        ret = read_run(s.q, out);
    else if (rc != SQLITE_DONE)
        ret = -1;
    release(&s);
    return ret;
}

int store_run_delete(struct store *st, const char *id)
{
    struct stmt s;
    if (prepare(st, &s, "DELETE FROM runs WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, id);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_run_claim(struct store *st, const struct status_change *ch, const char *id,
                    int64_t now_ms, int64_t lease_until, const char *host, const char *entry)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET status = ?2, started_at = ?4, updated_at = MAX(updated_at, ?4),"
        " attempt = attempt + 1, lease_until = ?5, worker_host = ?6, queue_entry = ?7, pgid = NULL"
        " WHERE id = ?1 AND " IN_STATUSES(3)) != 0)
        return -1;
    bind_change(&s, id, ch);
    bind_int(&s, 4, now_ms);
    bind_int(&s, 5, lease_until);
    bind_text(&s, 6, host);
    bind_text(&s, 7, entry);
    return step_change(st, &s);
}

int store_run_lease(struct store *st, const char *id, int64_t lease_until, long pgid)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET lease_until = ?2, pgid = COALESCE(?3, pgid) WHERE id = ?1"
        " AND " IN_STATUSES(4)) != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_int(&s, 2, lease_until);
    if (pgid > 0)
        bind_int(&s, 3, pgid);
    else
        bound(&s, sqlite3_bind_null(s.q, 3));
    bind_statuses(&s, 4, STATUS_CLAIMED);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_lease_expired(struct store *st, int64_t now_ms, int64_t retake_until,
                        struct lost_run *out)
{
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int ret = -1;
    if (prepare(st, &s,
        "SELECT id, COALESCE(worker_host, ''), COALESCE(pgid, 0), COALESCE(queue_entry, ''),"
        " status FROM runs WHERE lease_until < ?1 LIMIT 1") == 0) {
        bind_int(&s, 1, now_ms);
        int rc = step(&s);
        ret = rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
        if (ret == 1) {
            copy_col(s.q, 0, out->id, sizeof out->id);
            copy_col(s.q, 1, out->host, sizeof out->host);
            out->pgid = (long)sqlite3_column_int64(s.q, 2);
            copy_col(s.q, 3, out->entry, sizeof out->entry);
            const unsigned char *status = sqlite3_column_text(s.q, 4);
            if (status == NULL || run_status_parse((const char *)status, &out->status) != 0)
                ret = -1;
        }
        release(&s);
    }
    /* Taking it: only one worker recovers a run. */
    if (ret == 1) {
        if (prepare(st, &s, "UPDATE runs SET lease_until = ?2 WHERE id = ?1") != 0)
            ret = -1;
        else {
            bind_text(&s, 1, out->id);
            bind_int(&s, 2, retake_until);
            if (step_done(st, &s) != 1)
                ret = -1;
        }
    }
    return end(st, ret);
}

/* Archives one event (idempotent on its id). */
static int archive_event(struct store *st, const char *run_id, const char *event_id,
                         const char *name, const char *data)
{
    struct event_id id;
    struct stmt s;
    if (event_id_parse(event_id, &id) != 0 || prepare(st, &s,
        "INSERT OR IGNORE INTO events (run_id, ms, seq, type, data) VALUES (?1, ?2, ?3, ?4, ?5)") != 0)
        return -1;
    bind_text(&s, 1, run_id);
    bind_int(&s, 2, (int64_t)id.ms);
    bind_int(&s, 3, (int64_t)id.seq);
    bind_text(&s, 4, name);
    bind_text(&s, 5, data);
    return step_done(st, &s) < 0 ? -1 : 0;
}

/* Notes event_id as the run's latest unless a later one is noted already:
 * racing writers' updates may land in any order. */
static int note_latest(struct store *st, const char *id, const char *event_id, int64_t now_ms)
{
    struct stmt s;
    if (prepare(st, &s, "UPDATE runs SET last_event_id = ?2, updated_at = MAX(updated_at, ?3)"
                        " WHERE id = ?1 AND event_after(?2, last_event_id)") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_text(&s, 2, event_id);
    bind_int(&s, 3, now_ms);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_run_event(struct store *st, const char *id, const char *event_id,
                    const char *name, const char *data, int64_t now_ms)
{
    if (begin(st) != 0)
        return -1;
    int r = archive_event(st, id, event_id, name, data) == 0 ? note_latest(st, id, event_id, now_ms)
                                                               : -1;
    return end(st, r);
}

int store_archive_entries(struct store *st, const char *run_id, const json_t *entries,
                          int64_t now_ms)
{
    if (begin(st) != 0)
        return -1;
    size_t i;
    json_t *e;
    int r = 0;
    const char *last = NULL;
    json_array_foreach(entries, i, e) {
        const char *id = json_string_value(json_array_get(e, 0));
        if (archive_event(st, run_id, id, json_string_value(json_array_get(e, 1)),
                          json_string_value(json_array_get(e, 2))) != 0) {
            r = -1;
            break;
        }
        last = id;
    }
    if (r == 0 && last != NULL)
        r = note_latest(st, run_id, last, now_ms);
    return end(st, r);
}

int store_archive_has(struct store *st, const char *run_id, const char *name)
{
    struct stmt s;
    char one[8];
    if (prepare(st, &s, "SELECT 1 FROM events WHERE run_id = ?1 AND type = ?2 LIMIT 1") != 0)
        return -1;
    bind_text(&s, 1, run_id);
    bind_text(&s, 2, name);
    int r = step_text(&s, one, sizeof one);
    return r < 0 ? -1 : r == 0;
}

int store_events_after(struct store *st, const char *run_id, const struct event_id *after,
                       const struct event_id *before, int limit,
                       int (*fn)(void *ctx, const char *id, const char *name, const char *data),
                       void *ctx)
{
    struct stmt s;
    if (prepare(st, &s,
        "SELECT ms, seq, type, data FROM events WHERE run_id = ?1"
        " AND (ms > ?2 OR (ms = ?2 AND seq > ?3))"
        " AND (?4 < 0 OR ms < ?4 OR (ms = ?4 AND seq < ?5))"
        " ORDER BY ms, seq LIMIT ?6") != 0)
        return -1;
    bind_text(&s, 1, run_id);
    bind_int(&s, 2, (int64_t)after->ms);
    bind_int(&s, 3, (int64_t)after->seq);
    bind_int(&s, 4, before ? (int64_t)before->ms : -1);
    bind_int(&s, 5, before ? (int64_t)before->seq : 0);
    bind_int(&s, 6, limit);
    int n = 0, rc;
    while ((rc = step(&s)) == SQLITE_ROW) {
        struct event_id id = {(uint64_t)sqlite3_column_int64(s.q, 0),
                              (uint64_t)sqlite3_column_int64(s.q, 1)};
        char text[EVENT_ID_SIZE];
        event_id_format(&id, text);
        n++;
        if (fn(ctx, text, (const char *)sqlite3_column_text(s.q, 2),
               (const char *)sqlite3_column_text(s.q, 3)) != 0)
            break;
    }
    release(&s);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? n : -1;
}

int store_archives_delete(struct store *st, int64_t finished_before_ms, int64_t now_ms)
{
    if (begin(st) != 0)
        return -1;
    int n = -1;
    struct stmt s;
    if (prepare(st, &s,
        "DELETE FROM events WHERE run_id IN (SELECT id FROM runs WHERE finished_at < ?1)") == 0) {
        bind_int(&s, 1, finished_before_ms);
        if (step_done(st, &s) >= 0 && prepare(st, &s,
                "UPDATE runs SET archive_deleted_at = ?2 WHERE finished_at < ?1"
                " AND archive_deleted_at IS NULL") == 0) {
            bind_int(&s, 1, finished_before_ms);
            bind_int(&s, 2, now_ms);
            n = step_done(st, &s);
        }
    }
    return end(st, n);
}

int store_run_edit_steps(struct store *st, const char *id, const char *event_id,
                         int (*edit)(void *ctx, json_t *steps), void *ctx, int64_t now_ms)
{
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int r = -1;
    json_t *steps = NULL;
    /* A step event older than the last one applied is too late to apply. */
    if (prepare(st, &s, "SELECT steps FROM runs WHERE id = ?1 AND event_after(?2, steps_event_id)") == 0) {
        bind_text(&s, 1, id);
        bind_text(&s, 2, event_id);
        int rc = step(&s);
        r = rc == SQLITE_ROW ? 0 : (rc == SQLITE_DONE ? 1 : -1);
        if (r == 0)
            steps = json_col(s.q, 0);
        release(&s);
    }
    if (r == 0 && !json_is_array(steps)) {
        json_decref(steps);
        steps = json_array();
    }
    if (r == 0 && edit(ctx, steps) == 1) {
        r = -1;
        if (prepare(st, &s, "UPDATE runs SET steps = ?2, updated_at = MAX(updated_at, ?3),"
                            " steps_event_id = ?4 WHERE id = ?1") == 0) {
            bind_text(&s, 1, id);
            bind_json(&s, 2, steps);
            bind_int(&s, 3, now_ms);
            bind_text(&s, 4, event_id);
            r = step_done(st, &s) < 0 ? -1 : 0;
        }
    }
    json_decref(steps);
    return end(st, r);
}

int store_run_progress(struct store *st, const char *id, const char *event_id,
                       int64_t current, int64_t total, int64_t now_ms)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET progress_current = ?2, progress_total = ?3,"
        " updated_at = MAX(updated_at, ?4), progress_event_id = ?5"
        " WHERE id = ?1 AND event_after(?5, progress_event_id)") != 0)
        return -1;
    bind_text(&s, 5, event_id);
    bind_text(&s, 1, id);
    bind_int(&s, 2, current);
    bind_int(&s, 3, total);
    bind_int(&s, 4, now_ms);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_run_finish(struct store *st, const struct status_change *ch, const char *id,
                     const json_t *result, const json_t *error,
                     const char *event_id, const char *event_data, int64_t now_ms,
                     int64_t settle_by)
{
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int r = event_id != NULL ? archive_event(st, id, event_id, EVENT_TERMINAL, event_data) : 0;
    if (r == 0 && prepare(st, &s,
            "UPDATE runs SET status = ?2, result = ?4, error = ?5,"
            " pending_input = NULL, finished_at = ?6, updated_at = MAX(updated_at, ?6),"
            " last_event_id = CASE WHEN ?7 IS NOT NULL AND event_after(?7, last_event_id)"
            " THEN ?7 ELSE last_event_id END,"
            " lease_until = ?8 WHERE id = ?1 AND " IN_STATUSES(3)) == 0) {
        bind_change(&s, id, ch);
        bind_int(&s, 8, settle_by);
        bind_json(&s, 4, result);
        bind_json(&s, 5, error);
        bind_ms(&s, 6, now_ms);
        bind_text(&s, 7, event_id);
        r = step_change(st, &s);
    } else {
        r = -1;
    }
    /* A run not in a status it may end from keeps its ledger as it was;
     * the event is archived all the same, as the stream has it. */
    return end(st, r);
}

int store_run_list(struct store *st, const struct run_filter *f,
                   int (*fn)(void *ctx, struct run *r), void *ctx)
{
    struct stmt s;
    if (prepare(st, &s,
        "SELECT " RUN_COLUMNS " FROM runs WHERE (?1 IS NULL OR owner = ?1)"
        " AND (?2 = 0 OR " IN_STATUSES(3) ")"
        " AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR thread_id = ?5)"
        " AND (?6 = 0 OR seq < ?6)"
        " AND (?8 IS NULL OR EXISTS (SELECT 1 FROM json_each(runs.metadata) m WHERE m.key = ?8"
        " AND CASE m.type WHEN 'text' THEN m.value WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
        " WHEN 'null' THEN 'null' ELSE CAST(m.value AS TEXT) END = ?9))"
        " ORDER BY seq DESC LIMIT ?7") != 0)
        return -1;
    bind_text(&s, 1, f->owner);
    bind_int(&s, 2, f->statuses != 0);
    bind_statuses(&s, 3, f->statuses);
    bind_text(&s, 4, f->type);
    bind_text(&s, 5, f->thread_id);
    bind_int(&s, 6, f->before_seq);
    bind_int(&s, 7, f->limit);
    bind_text(&s, 8, f->metadata_key);
    bind_text(&s, 9, f->metadata_value);
    int rc;
    while ((rc = step(&s)) == SQLITE_ROW) {
        struct run r;
        if (read_run(s.q, &r) != 0) {
            run_clear(&r);
            rc = SQLITE_CORRUPT;
            break;
        }
        int stop = fn(ctx, &r);
        run_clear(&r);
        if (stop)
            break;
    }
    release(&s);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : -1;
}

int store_token_insert(struct store *st, const char *hash, const char *owner,
                       const char *name, int64_t now_ms)
{
    struct stmt s;
    if (prepare(st, &s,
        "INSERT INTO tokens (hash, owner, name, created_at) VALUES (?1, ?2, ?3, ?4)") != 0)
        return -1;
    bind_text(&s, 1, hash);
    bind_text(&s, 2, owner);
    bind_text(&s, 3, name);
    bind_int(&s, 4, now_ms);
    return step_done(st, &s) == 1 ? 0 : -1;
}

int store_token_owner(struct store *st, const char *hash, char owner[OWNER_SIZE])
{
    struct stmt s;
    if (prepare(st, &s, "SELECT owner FROM tokens WHERE hash = ?1") != 0)
        return -1;
    bind_text(&s, 1, hash);
    return step_text(&s, owner, OWNER_SIZE);
}

int store_token_list(struct store *st,
                     int (*fn)(void *ctx, const char *id, const char *owner, const char *name,
                               int64_t created_at),
                     void *ctx)
{
    struct stmt s;
    if (prepare(st, &s, "SELECT substr(hash, 1, ?1), owner, name, created_at FROM tokens"
                        " ORDER BY owner, created_at") != 0)
        return -1;
    bind_int(&s, 1, TOKEN_ID_LEN);
    int rc;
    while ((rc = step(&s)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(s.q, 0),
               (const char *)sqlite3_column_text(s.q, 1), (const char *)sqlite3_column_text(s.q, 2),
               sqlite3_column_int64(s.q, 3)) != 0)
            break;
    release(&s);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : -1;
}

int store_token_revoke(struct store *st, const char *id, char owner[OWNER_SIZE])
{
    if (strlen(id) != TOKEN_ID_LEN)
        return 1;
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int ret = -1;
    if (prepare(st, &s, "SELECT owner FROM tokens WHERE substr(hash, 1, ?2) = ?1") == 0) {
        bind_text(&s, 1, id);
        bind_int(&s, 2, TOKEN_ID_LEN);
        ret = step_text(&s, owner, OWNER_SIZE);
    }
    if (ret == 0 && prepare(st, &s, "DELETE FROM tokens WHERE substr(hash, 1, ?2) = ?1") == 0) {
        bind_text(&s, 1, id);
        bind_int(&s, 2, TOKEN_ID_LEN);
        ret = step_done(st, &s) == 1 ? 0 : -1;
    }
    if (ret == 0 && prepare(st, &s,
            "INSERT INTO owners (owner, link_epoch) VALUES (?1, 1)"
            " ON CONFLICT (owner) DO UPDATE SET link_epoch = link_epoch + 1") == 0) {
        bind_text(&s, 1, owner);
        ret = step_done(st, &s) == 1 ? 0 : -1;
    }
    return end(st, ret);
}

int store_owner_epoch(struct store *st, const char *owner, int64_t *epoch)
{
    struct stmt s;
    char text[24];
    if (prepare(st, &s, "SELECT link_epoch FROM owners WHERE owner = ?1") != 0)
        return -1;
    bind_text(&s, 1, owner);
    int r = step_text(&s, text, sizeof text);
    *epoch = r == 0 ? strtoll(text, NULL, 10) : 0;
    return r < 0 ? -1 : 0;
}

static int read_setting(struct store *st, const char *key, char *out, size_t size)
{
    struct stmt s;
    if (prepare(st, &s, "SELECT value FROM settings WHERE key = ?1") != 0)
        return -1;
    bind_text(&s, 1, key);
    return step_text(&s, out, size);
}

static int secret_setting(struct store *st, const char *key, char out[HASH_HEX_SIZE])
{
    int r = read_setting(st, key, out, HASH_HEX_SIZE);
    if (r != 1)
        return r;
    /* First use: INSERT OR IGNORE, then read back, so that concurrent
     * first users all end up with the one key that won. */
    char fresh[HASH_HEX_SIZE];
    crypto_new_secret(fresh);
    struct stmt s;
    if (prepare(st, &s, "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)") != 0)
        return -1;
    bind_text(&s, 1, key);
    bind_text(&s, 2, fresh);
    if (step_done(st, &s) < 0)
        return -1;
    return read_setting(st, key, out, HASH_HEX_SIZE) == 0 ? 0 : -1;
}

int store_link_secret(struct store *st, char out[HASH_HEX_SIZE])
{
    return secret_setting(st, "link_secret", out);
}

int store_webhook_secret(struct store *st, char out[HASH_HEX_SIZE])
{
    return secret_setting(st, "webhook_secret", out);
}

int store_webhook_attempt(struct store *st, const char *id, const json_t *attempt,
                          enum webhook_state state)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET webhook_attempts = json_insert(webhook_attempts, '$[#]', json(?2)),"
        " webhook_state = ?3 WHERE id = ?1 AND webhook_state = ?4") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_json(&s, 2, attempt);
    bind_text(&s, 3, webhook_state_name(state));
    bind_text(&s, 4, webhook_state_name(WEBHOOK_PENDING));
    return step_change(st, &s);
}
