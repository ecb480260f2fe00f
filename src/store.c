/* SQLite: the run ledger, tokens and settings. One connection per caller;
 * WAL lets the responder's readers run beside the worker's writes. */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    sqlite3 *db;
};

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
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

void run_clear(struct run *r)
{
    json_decref(r->input);
    json_decref(r->result);
    json_decref(r->error);
    json_decref(r->pending_input);
    json_decref(r->steps);
    json_decref(r->metadata);
    memset(r, 0, sizeof *r);
}

static int exec(struct store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
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
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        goto fail;
    int version = schema_version(st);
    if (version < 0 || version > N_MIGRATIONS) {
        snprintf(err, errsize, "database schema version %d is newer than this program", version);
        exec(st, "ROLLBACK");
        return -1;
    }
    for (int v = version; v < N_MIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(st, migrations[v]) != 0 || exec(st, pragma) != 0)
            goto rollback;
    }
    if (exec(st, "COMMIT") == 0)
        return 0;
rollback:
    snprintf(err, errsize, "migration failed: %s", sqlite3_errmsg(st->db));
    exec(st, "ROLLBACK");
    return -1;
fail:
    snprintf(err, errsize, "cannot start migration: %s", sqlite3_errmsg(st->db));
    return -1;
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
    sqlite3_busy_timeout(st->db, 10000);
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
    sqlite3_close(st->db);
    free(st);
}

int store_ping(struct store *st)
{
    return exec(st, "SELECT 1 FROM runs LIMIT 0");
}

/* Binding helpers: NULL or empty text binds SQL NULL where that is meant. */
static int bind_text(sqlite3_stmt *q, int i, const char *s)
{
    return s == NULL ? sqlite3_bind_null(q, i)
                     : sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
}

static int bind_json(sqlite3_stmt *q, int i, const json_t *j)
{
    if (j == NULL)
        return sqlite3_bind_null(q, i);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return SQLITE_NOMEM;
    return sqlite3_bind_text(q, i, s, -1, free);
}

static int bind_ms(sqlite3_stmt *q, int i, int64_t ms)
{
    return ms == 0 ? sqlite3_bind_null(q, i) : sqlite3_bind_int64(q, i, ms);
}

/* Runs one statement with its bindings already made; returns the number of
 * changed rows, or -1. */
static int step_done(struct store *st, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -1;
}

static sqlite3_stmt *prepare(struct store *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return NULL;
    return q;
}

/* The common shape of a run transition: "UPDATE ... WHERE id = ?1 ...",
 * with the time in ?2 when the statement has one. 0 when the run changed,
 * 1 when no row matched (the transition did not apply), -1 on error. */
static int update_run(struct store *st, const char *sql, const char *id, int64_t now_ms)
{
    sqlite3_stmt *q = prepare(st, sql);
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    if (sqlite3_bind_parameter_count(q) >= 2)
        sqlite3_bind_int64(q, 2, now_ms);
    int n = step_done(st, q);
    return n < 0 ? -1 : (n >= 1 ? 0 : 1);
}

static void copy_col(sqlite3_stmt *q, int i, char *dst, size_t size)
{
    const unsigned char *s = sqlite3_column_text(q, i);
    snprintf(dst, size, "%s", s ? (const char *)s : "");
}

static int insert_run(struct store *st, struct run *r)
{
    sqlite3_stmt *q = prepare(st, "SELECT COALESCE(MAX(seq), 0) + 1 FROM runs");
    if (q == NULL)
        return -1;
    r->seq = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    if (r->seq < 0)
        return -1;
    q = prepare(st,
        "INSERT INTO runs (id, owner, type, status, thread_id, input, metadata,"
        " steps, created_at, updated_at, last_event_id, attempt, seq, parked)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?8, ?9, ?10, ?11, ?12)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, r->id);
    bind_text(q, 2, r->owner);
    bind_text(q, 3, r->type);
    bind_text(q, 4, r->status);
    bind_text(q, 5, r->thread_id[0] ? r->thread_id : NULL);
    bind_json(q, 6, r->input);
    if (r->metadata != NULL)
        bind_json(q, 7, r->metadata);
    else
        sqlite3_bind_text(q, 7, "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, r->created_at);
    bind_text(q, 9, r->last_event_id[0] ? r->last_event_id : NULL);
    sqlite3_bind_int(q, 10, r->attempt);
    sqlite3_bind_int64(q, 11, r->seq);
    sqlite3_bind_int(q, 12, r->parked);
    return step_done(st, q) == 1 ? 0 : -1;
}

/* Looks up a live idempotency key: 1 found (run_id and hash set), 0 not,
 * -1 error. Expired keys are forgotten on the way. */
static int find_key(struct store *st, const char *owner, const char *key, int64_t now,
                    char run_id[ID_SIZE], char hash[HASH_HEX_SIZE])
{
    sqlite3_stmt *q = prepare(st, "DELETE FROM idempotency WHERE created_at < ?1");
    if (q == NULL)
        return -1;
    sqlite3_bind_int64(q, 1, now - IDEMPOTENCY_TTL_MS);
    if (step_done(st, q) < 0)
        return -1;
    q = prepare(st, "SELECT run_id, body_hash FROM idempotency WHERE owner = ?1 AND key = ?2");
    if (q == NULL)
        return -1;
    bind_text(q, 1, owner);
    bind_text(q, 2, key);
    int rc = sqlite3_step(q);
    int ret = rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
    if (ret == 1) {
        copy_col(q, 0, run_id, ID_SIZE);
        copy_col(q, 1, hash, HASH_HEX_SIZE);
    }
    sqlite3_finalize(q);
    return ret;
}

static int insert_key(struct store *st, const struct run *r, const struct create_opts *o)
{
    sqlite3_stmt *q = prepare(st,
        "INSERT INTO idempotency (owner, key, body_hash, run_id, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, r->owner);
    bind_text(q, 2, o->idem_key);
    bind_text(q, 3, o->body_hash);
    bind_text(q, 4, r->id);
    sqlite3_bind_int64(q, 5, r->created_at);
    return step_done(st, q) == 1 ? 0 : -1;
}

/* Counts the thread's active runs (only those not parked, when
 * unparked_only): the thread is busy while any exists. */
static int thread_active(struct store *st, const char *owner, const char *thread_id,
                         int unparked_only)
{
    sqlite3_stmt *q = prepare(st,
        "SELECT COUNT(*) FROM runs WHERE owner = ?1 AND thread_id = ?2"
        " AND status IN ('queued', 'running', 'input_required')"
        " AND (?3 = 0 OR parked = 0)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, owner);
    bind_text(q, 2, thread_id);
    sqlite3_bind_int(q, 3, unparked_only);
    int n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

int store_thread_release(struct store *st, const char *owner, const char *thread_id,
                         char out[ID_SIZE])
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        return -1;
    int ret = -1;
    int busy = thread_active(st, owner, thread_id, 1);
    if (busy > 0) {
        ret = 0;
    } else if (busy == 0) {
        sqlite3_stmt *q = prepare(st,
            "SELECT id FROM runs WHERE owner = ?1 AND thread_id = ?2 AND status = 'queued'"
            " AND parked = 1 ORDER BY seq LIMIT 1");
        if (q != NULL) {
            bind_text(q, 1, owner);
            bind_text(q, 2, thread_id);
            int rc = sqlite3_step(q);
            ret = rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
            if (ret == 1)
                copy_col(q, 0, out, ID_SIZE);
            sqlite3_finalize(q);
        }
        if (ret == 1) {
            q = prepare(st, "UPDATE runs SET parked = 0 WHERE id = ?1");
            if (q == NULL)
                ret = -1;
            else {
                bind_text(q, 1, out);
                if (step_done(st, q) != 1)
                    ret = -1;
            }
        }
    }
    if (ret < 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        return -1;
    }
    return ret;
}

int store_run_await_input(struct store *st, const char *id, const json_t *pending,
                          int64_t now_ms)
{
    sqlite3_stmt *q = prepare(st,
        "UPDATE runs SET status = 'input_required', pending_input = ?2, updated_at = ?3"
        " WHERE id = ?1 AND status = 'running'");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    bind_json(q, 2, pending);
    sqlite3_bind_int64(q, 3, now_ms);
    int n = step_done(st, q);
    return n < 0 ? -1 : (n == 1 ? 0 : 1);
}

int store_run_resume(struct store *st, const char *id, int64_t now_ms)
{
    return update_run(st,
        "UPDATE runs SET status = 'running', pending_input = NULL, updated_at = ?2"
        " WHERE id = ?1 AND status = 'input_required'", id, now_ms);
}

int store_run_mark_delete(struct store *st, const char *id)
{
    return update_run(st, "UPDATE runs SET delete_on_finish = 1 WHERE id = ?1", id, 0) < 0 ? -1 : 0;
}

enum create_result store_run_create(struct store *st, struct run *r,
                                    const struct create_opts *o, struct run *existing)
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
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
    if (insert_run(st, r) == 0 && (o->idem_key == NULL || insert_key(st, r, o) == 0))
        res = CREATE_NEW;
done:
    if (res == CREATE_ERROR || res == CREATE_KEY_REUSED || res == CREATE_THREAD_BUSY) {
        exec(st, "ROLLBACK");
    } else if (exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        if (res == CREATE_REPLAYED)
            run_clear(existing);
        res = CREATE_ERROR;
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
    " seq, parked, delete_on_finish, archive_deleted_at IS NOT NULL"

static void read_run(sqlite3_stmt *q, struct run *r)
{
    memset(r, 0, sizeof *r);
    copy_col(q, 0, r->id, sizeof r->id);
    copy_col(q, 1, r->owner, sizeof r->owner);
    copy_col(q, 2, r->type, sizeof r->type);
    copy_col(q, 3, r->status, sizeof r->status);
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
}

int store_run_get(struct store *st, const char *id, struct run *out)
{
    sqlite3_stmt *q = prepare(st, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    int rc = sqlite3_step(q);
    int ret = 1;
    if (rc == SQLITE_ROW) {
        read_run(q, out);
        ret = 0;
    } else if (rc != SQLITE_DONE) {
        ret = -1;
    }
    sqlite3_finalize(q);
    return ret;
}

int store_run_delete(struct store *st, const char *id)
{
    return update_run(st, "DELETE FROM runs WHERE id = ?1", id, 0) < 0 ? -1 : 0;
}

int store_run_claim(struct store *st, const char *id, int64_t now_ms, int64_t lease_until,
                    const char *host, const char *entry)
{
    sqlite3_stmt *q = prepare(st,
        "UPDATE runs SET status = 'running', started_at = ?2, updated_at = ?2,"
        " attempt = attempt + 1, lease_until = ?3, worker_host = ?4, queue_entry = ?5, pgid = NULL"
        " WHERE id = ?1 AND status = 'queued'");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    sqlite3_bind_int64(q, 2, now_ms);
    sqlite3_bind_int64(q, 3, lease_until);
    bind_text(q, 4, host);
    bind_text(q, 5, entry);
    int n = step_done(st, q);
    return n < 0 ? -1 : (n == 1 ? 0 : 1);
}

int store_run_lease(struct store *st, const char *id, int64_t lease_until, long pgid)
{
    sqlite3_stmt *q = prepare(st,
        "UPDATE runs SET lease_until = ?2, pgid = COALESCE(?3, pgid) WHERE id = ?1"
        " AND status IN ('running', 'input_required')");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    sqlite3_bind_int64(q, 2, lease_until);
    if (pgid > 0)
        sqlite3_bind_int64(q, 3, pgid);
    else
        sqlite3_bind_null(q, 3);
    return step_done(st, q) < 0 ? -1 : 0;
}

int store_lease_expired(struct store *st, int64_t now_ms, int64_t retake_until,
                        struct lost_run *out)
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        return -1;
    sqlite3_stmt *q = prepare(st,
        "SELECT id, COALESCE(worker_host, ''), COALESCE(pgid, 0), COALESCE(queue_entry, '')"
        " FROM runs WHERE lease_until < ?1 AND status IN ('running', 'input_required') LIMIT 1");
    int ret = -1;
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, now_ms);
        int rc = sqlite3_step(q);
        ret = rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
        if (ret == 1) {
            copy_col(q, 0, out->id, sizeof out->id);
            copy_col(q, 1, out->host, sizeof out->host);
            out->pgid = (long)sqlite3_column_int64(q, 2);
            copy_col(q, 3, out->entry, sizeof out->entry);
        }
        sqlite3_finalize(q);
    }
    /* Taking it: only one worker recovers a run. */
    if (ret == 1 && update_run(st, "UPDATE runs SET lease_until = ?2 WHERE id = ?1", out->id,
                               retake_until) != 0)
        ret = -1;
    if (ret < 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        return -1;
    }
    return ret;
}

int store_run_requeue(struct store *st, const char *id, int64_t now_ms)
{
    return update_run(st,
        "UPDATE runs SET status = 'queued', lease_until = NULL, pgid = NULL, queue_entry = NULL,"
        " pending_input = NULL, updated_at = ?2 WHERE id = ?1 AND status IN ('running', 'input_required')",
        id, now_ms);
}

int store_run_cancel_queued(struct store *st, const char *id, int64_t now_ms)
{
    return update_run(st,
        "UPDATE runs SET status = 'cancelled', cancel_requested_at = ?2, finished_at = ?2,"
        " updated_at = ?2, parked = 0 WHERE id = ?1 AND status = 'queued'", id, now_ms);
}

int store_run_cancel_requested(struct store *st, const char *id, int64_t now_ms)
{
    return update_run(st,
        "UPDATE runs SET cancel_requested_at = ?2, updated_at = ?2"
        " WHERE id = ?1 AND cancel_requested_at IS NULL", id, now_ms);
}

/* Archives one event (idempotent on its id). */
static int archive_event(struct store *st, const char *run_id, const char *event_id,
                         const char *name, const char *data)
{
    struct event_id id;
    if (event_id_parse(event_id, &id) != 0)
        return -1;
    sqlite3_stmt *q = prepare(st,
        "INSERT OR IGNORE INTO events (run_id, ms, seq, type, data) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, run_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)id.ms);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)id.seq);
    bind_text(q, 4, name);
    bind_text(q, 5, data);
    return step_done(st, q) < 0 ? -1 : 0;
}

int store_run_event(struct store *st, const char *id, const char *event_id,
                    const char *name, const char *data, int64_t now_ms)
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        return -1;
    int r = archive_event(st, id, event_id, name, data);
    if (r == 0) {
        sqlite3_stmt *q = prepare(st,
            "UPDATE runs SET last_event_id = ?2, updated_at = ?3 WHERE id = ?1");
        r = q == NULL ? -1 : 0;
        if (q != NULL) {
            bind_text(q, 1, id);
            bind_text(q, 2, event_id);
            sqlite3_bind_int64(q, 3, now_ms);
            r = step_done(st, q) < 0 ? -1 : 0;
        }
    }
    if (r != 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        return -1;
    }
    return 0;
}

int store_events_after(struct store *st, const char *run_id, const struct event_id *after,
                       const struct event_id *before, int limit,
                       int (*fn)(void *ctx, const char *id, const char *name, const char *data),
                       void *ctx)
{
    sqlite3_stmt *q = prepare(st,
        "SELECT ms, seq, type, data FROM events WHERE run_id = ?1"
        " AND (ms > ?2 OR (ms = ?2 AND seq > ?3))"
        " AND (?4 < 0 OR ms < ?4 OR (ms = ?4 AND seq < ?5))"
        " ORDER BY ms, seq LIMIT ?6");
    if (q == NULL)
        return -1;
    bind_text(q, 1, run_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)after->ms);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)after->seq);
    sqlite3_bind_int64(q, 4, before ? (sqlite3_int64)before->ms : -1);
    sqlite3_bind_int64(q, 5, before ? (sqlite3_int64)before->seq : 0);
    sqlite3_bind_int(q, 6, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct event_id id = {(uint64_t)sqlite3_column_int64(q, 0), (uint64_t)sqlite3_column_int64(q, 1)};
        char text[EVENT_ID_SIZE];
        event_id_format(&id, text);
        n++;
        if (fn(ctx, text, (const char *)sqlite3_column_text(q, 2),
               (const char *)sqlite3_column_text(q, 3)) != 0)
            break;
    }
    sqlite3_finalize(q);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? n : -1;
}

int store_archives_delete(struct store *st, int64_t finished_before_ms, int64_t now_ms)
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        return -1;
    int n = -1;
    sqlite3_stmt *q = prepare(st,
        "DELETE FROM events WHERE run_id IN (SELECT id FROM runs WHERE finished_at < ?1)");
    if (q != NULL) {
        sqlite3_bind_int64(q, 1, finished_before_ms);
        if (step_done(st, q) >= 0 && (q = prepare(st,
                "UPDATE runs SET archive_deleted_at = ?2 WHERE finished_at < ?1"
                " AND archive_deleted_at IS NULL")) != NULL) {
            sqlite3_bind_int64(q, 1, finished_before_ms);
            sqlite3_bind_int64(q, 2, now_ms);
            n = step_done(st, q);
        }
    }
    if (n < 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        return -1;
    }
    return n;
}

int store_run_steps(struct store *st, const char *id, const json_t *steps, int64_t now_ms)
{
    sqlite3_stmt *q = prepare(st, "UPDATE runs SET steps = ?2, updated_at = ?3 WHERE id = ?1");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    bind_json(q, 2, steps);
    sqlite3_bind_int64(q, 3, now_ms);
    return step_done(st, q) < 0 ? -1 : 0;
}

int store_run_progress(struct store *st, const char *id, int64_t current,
                       int64_t total, int64_t now_ms)
{
    sqlite3_stmt *q = prepare(st,
        "UPDATE runs SET progress_current = ?2, progress_total = ?3,"
        " updated_at = ?4 WHERE id = ?1");
    if (q == NULL)
        return -1;
    bind_text(q, 1, id);
    sqlite3_bind_int64(q, 2, current);
    sqlite3_bind_int64(q, 3, total);
    sqlite3_bind_int64(q, 4, now_ms);
    return step_done(st, q) < 0 ? -1 : 0;
}

int store_run_finish(struct store *st, const char *id, const char *status,
                     const json_t *result, const json_t *error,
                     const char *event_id, const char *event_data, int64_t now_ms)
{
    if (exec(st, "BEGIN IMMEDIATE") != 0)
        return -1;
    int r = archive_event(st, id, event_id, "run_finished", event_data);
    sqlite3_stmt *q = r == 0 ? prepare(st,
        "UPDATE runs SET status = ?2, result = ?3, error = ?4,"
        " pending_input = NULL, finished_at = ?5, updated_at = ?5,"
        " last_event_id = ?6, lease_until = NULL WHERE id = ?1") : NULL;
    if (q == NULL) {
        r = -1;
    } else {
        bind_text(q, 1, id);
        bind_text(q, 2, status);
        bind_json(q, 3, result);
        bind_json(q, 4, error);
        bind_ms(q, 5, now_ms);
        bind_text(q, 6, event_id);
        r = step_done(st, q) < 0 ? -1 : 0;
    }
    if (r != 0 || exec(st, "COMMIT") != 0) {
        exec(st, "ROLLBACK");
        return -1;
    }
    return 0;
}

int store_run_list(struct store *st, const struct run_filter *f,
                   int (*fn)(void *ctx, struct run *r), void *ctx)
{
    sqlite3_stmt *q = prepare(st,
        "SELECT " RUN_COLUMNS " FROM runs WHERE (?1 IS NULL OR owner = ?1)"
        " AND (?2 IS NULL OR status = ?2)"
        " AND (?3 = 0 OR status IN ('queued', 'running', 'input_required'))"
        " AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR thread_id = ?5)"
        " AND (?6 = 0 OR seq < ?6)"
        " ORDER BY seq DESC LIMIT ?7");
    if (q == NULL)
        return -1;
    bind_text(q, 1, f->owner);
    bind_text(q, 2, f->status);
    sqlite3_bind_int(q, 3, f->active);
    bind_text(q, 4, f->type);
    bind_text(q, 5, f->thread_id);
    sqlite3_bind_int64(q, 6, f->before_seq);
    sqlite3_bind_int(q, 7, f->limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct run r;
        read_run(q, &r);
        int stop = fn(ctx, &r);
        run_clear(&r);
        if (stop)
            break;
    }
    sqlite3_finalize(q);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : -1;
}

int store_token_insert(struct store *st, const char *hash, const char *owner,
                       const char *name, int64_t now_ms)
{
    sqlite3_stmt *q = prepare(st,
        "INSERT INTO tokens (hash, owner, name, created_at) VALUES (?1, ?2, ?3, ?4)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, hash);
    bind_text(q, 2, owner);
    bind_text(q, 3, name);
    sqlite3_bind_int64(q, 4, now_ms);
    return step_done(st, q) == 1 ? 0 : -1;
}

int store_token_owner(struct store *st, const char *hash, char owner[OWNER_SIZE])
{
    sqlite3_stmt *q = prepare(st, "SELECT owner FROM tokens WHERE hash = ?1");
    if (q == NULL)
        return -1;
    bind_text(q, 1, hash);
    int rc = sqlite3_step(q);
    int ret = rc == SQLITE_ROW ? 0 : (rc == SQLITE_DONE ? 1 : -1);
    if (ret == 0)
        copy_col(q, 0, owner, OWNER_SIZE);
    sqlite3_finalize(q);
    return ret;
}

static int read_setting(struct store *st, const char *key, char *out, size_t size)
{
    sqlite3_stmt *q = prepare(st, "SELECT value FROM settings WHERE key = ?1");
    if (q == NULL)
        return -1;
    bind_text(q, 1, key);
    int rc = sqlite3_step(q);
    int ret = rc == SQLITE_ROW ? 0 : (rc == SQLITE_DONE ? 1 : -1);
    if (ret == 0)
        copy_col(q, 0, out, size);
    sqlite3_finalize(q);
    return ret;
}

int store_link_secret(struct store *st, char out[HASH_HEX_SIZE])
{
    int r = read_setting(st, "link_secret", out, HASH_HEX_SIZE);
    if (r != 1)
        return r;
    /* First use: INSERT OR IGNORE, then read back, so that concurrent
     * first users all end up with the one key that won. */
    char fresh[HASH_HEX_SIZE];
    crypto_new_secret(fresh);
    sqlite3_stmt *q = prepare(st,
        "INSERT OR IGNORE INTO settings (key, value) VALUES ('link_secret', ?1)");
    if (q == NULL)
        return -1;
    bind_text(q, 1, fresh);
    if (step_done(st, q) < 0)
        return -1;
    return read_setting(st, "link_secret", out, HASH_HEX_SIZE) == 0 ? 0 : -1;
}
