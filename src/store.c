/* The run ledger, tokens and settings: every rule of what is stored,
 * written once in the SQL both engines speak (ledger.h). One connection
 * per caller, kept as long as its caller lives. */
#include "store.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

struct store {
    struct ledger *db;
    const struct ledger_engine *e;
};

/* Every multi-statement change runs between begin() and end(): end()
 * commits when ret >= 0 and rolls back otherwise (or when the commit
 * fails), returning ret, or -1 when nothing was kept. */
static int begin(struct store *st)
{
    return st->e->begin(st->db);
}

static int end(struct store *st, int ret)
{
    if (ret < 0) {
        st->e->rollback(st->db);
        return -1;
    }
    return st->e->commit(st->db) == 0 ? ret : -1;
}

/* Every open checks the schema, so the check is a plain read; the write
 * lock is taken only when there is something to migrate. */
static int migrate(struct store *st, char *err, size_t errsize)
{
    const struct ledger_engine *e = st->e;
    if (e->version(st->db) == e->n_migrations)
        return 0;
    if (begin(st) != 0) {
        snprintf(err, errsize, "cannot start migration: %s", e->error(st->db));
        return -1;
    }
    int version = e->version(st->db);
    if (version < 0 || version > e->n_migrations) {
        snprintf(err, errsize, "database schema version %d is newer than this program", version);
        return end(st, -1);
    }
    int ret = 0;
    for (int v = version; v < e->n_migrations && ret == 0; v++)
        if (e->exec(st->db, e->migrations[v]) != 0 || e->set_version(st->db, v + 1) != 0)
            ret = -1;
    if (ret != 0)
        snprintf(err, errsize, "migration failed: %s", e->error(st->db));
    if (end(st, ret) != 0) {
        if (ret == 0)
            snprintf(err, errsize, "migration not committed: %s", e->error(st->db));
        return -1;
    }
    return 0;
}

struct store *store_open(const char *where, char *err, size_t errsize)
{
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    st->e = ledger_engine_for(where);
    st->db = st->e->open(where, err, errsize);
    if (st->db == NULL || migrate(st, err, errsize) != 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    if (st->db != NULL)
        st->e->close(st->db);
    free(st);
}

int store_settle(struct store *st)
{
    return st != NULL ? st->e->settle(st->db) : 0;
}

int store_ping(struct store *st)
{
    return st->e->exec(st->db, "SELECT 1 FROM runs LIMIT 0");
}

const char *store_engine(struct store *st)
{
    return st->e->name;
}

/* A statement with its bindings; whether they all took is the engine's
 * to remember: a failed binding (out of memory, a value too big) fails
 * the statement instead of running it with a NULL where a value belonged. */
struct stmt {
    struct ledger_query *q;
    const struct ledger_engine *e;
};

/* Statements this process saw fail (metrics). */
static _Atomic unsigned long long errors;

unsigned long long store_errors_take(void)
{
    return atomic_exchange(&errors, 0);
}

static int prepare(struct store *st, struct stmt *s, const char *sql)
{
    s->e = st->e;
    s->q = st->e->prepare(st->db, sql);
    if (s->q == NULL)
        atomic_fetch_add(&errors, 1);
    return s->q != NULL ? 0 : -1;
}

/* Done with a statement. */
static void release(struct stmt *s)
{
    s->e->release(s->q);
    s->q = NULL;
}

/* NULL text binds SQL NULL. */
static void bind_text(struct stmt *s, int i, const char *text)
{
    s->e->bind_text(s->q, i, text);
}

static void bind_int(struct stmt *s, int i, int64_t v)
{
    s->e->bind_int(s->q, i, v);
}

static void bind_null(struct stmt *s, int i)
{
    s->e->bind_null(s->q, i);
}

static void bind_json(struct stmt *s, int i, const json_t *j)
{
    if (j == NULL) {
        bind_null(s, i);
        return;
    }
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) /* the statement fails: a NULL is no stand-in */
        bind_int(s, s->e->params(s->q) + 1, 0);
    else
        bind_text(s, i, text);
    free(text);
}

static void bind_ms(struct stmt *s, int i, int64_t ms)
{
    if (ms == 0)
        bind_null(s, i);
    else
        bind_int(s, i, ms);
}

/* A set of statuses as a list of their names, ",queued,running,", for
 * IN_STATUSES: the names stay in run.c. */
static void bind_statuses(struct stmt *s, int i, run_status_set set)
{
    char list[256] = ",";
    size_t n = 1;
    for (int k = 0; k < RUN_STATUS_COUNT; k++)
        if (set & STATUS_BIT(k))
            n += (size_t)snprintf(list + n, sizeof list - n, "%s,",
                                  run_status_name((enum run_status)k));
    bind_text(s, i, list);
}

/* The run's status is in the list bound to ?n (no status name holds a
 * LIKE wildcard but '_', which matches itself). */
#define IN_STATUSES(n) "?" #n " LIKE ('%,' || status || ',%')"
/* The later of a column and a time: SQLite's MAX(a, b) is PostgreSQL's
 * GREATEST. */
#define LATER(col, p) "CASE WHEN " col " > " p " THEN " col " ELSE " p " END"

/* One step of a statement whose bindings are made. */
static enum ledger_step step(struct stmt *s)
{
    enum ledger_step r = s->e->step(s->q);
    if (r == LEDGER_ERROR)
        atomic_fetch_add(&errors, 1);
    return r;
}

static const char *col_text(struct stmt *s, int i)
{
    return s->e->text(s->q, i);
}

static int64_t col_int(struct stmt *s, int i)
{
    return s->e->integer(s->q, i);
}

/* Runs a statement that returns no rows and releases it: the number of
 * changed rows, or -1. */
static int step_done(struct store *st, struct stmt *s)
{
    (void)st;
    int n = step(s) == LEDGER_DONE ? s->e->changes(s->q) : -1;
    release(s);
    return n;
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
 * no row, -1 error. Releases the statement. */
static int step_text(struct stmt *s, char *out, size_t size)
{
    enum ledger_step rc = step(s);
    int ret = rc == LEDGER_ROW ? 0 : (rc == LEDGER_DONE ? 1 : -1);
    if (ret == 0) {
        const char *t = col_text(s, 0);
        snprintf(out, size, "%s", t ? t : "");
    }
    release(s);
    return ret;
}

static void copy_col(struct stmt *s, int i, char *dst, size_t size)
{
    const char *t = col_text(s, i);
    snprintf(dst, size, "%s", t ? t : "");
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
        " start_at, expires_at, priority, concurrency_key, webhook, webhook_state, request_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, '{}'), '[]', ?8, ?8, ?9, ?10, ?11, ?12,"
        " CASE WHEN ?12 <> 0 THEN NULL ELSE CAST(?13 AS BIGINT) END, ?14, NULLIF(?15, 0), NULLIF(?16, 0), ?17, ?18,"
        " ?19, CASE WHEN ?19 IS NULL THEN NULL ELSE ?20 END, ?21)") != 0)
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
    bind_text(&s, 21, r->request_id[0] ? r->request_id : NULL);
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
    enum ledger_step rc = step(&s);
    int ret = rc == LEDGER_ROW ? 1 : (rc == LEDGER_DONE ? 0 : -1);
    if (ret == 1) {
        copy_col(&s, 0, run_id, ID_SIZE);
        copy_col(&s, 1, hash, HASH_HEX_SIZE);
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
        " AND " LEDGER_ACTIVE_SQL " AND (?3 = 0 OR parked = 0)") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_text(&s, 2, thread_id);
    bind_int(&s, 3, unparked_only);
    return step_text(&s, n, sizeof n) == 0 ? atoi(n) : -1;
}

/* Counts the owner's active runs, up to max: what the quota needs, at a
 * cost bounded by it whatever the owner's history holds. */
static int owner_active(struct store *st, const char *owner, int max)
{
    struct stmt s;
    char n[24];
    if (prepare(st, &s, "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE owner = ?1 AND "
                        LEDGER_ACTIVE_SQL " LIMIT ?2) AS a") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_int(&s, 2, max);
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
    if (s.e->params(s.q) >= 5)
        bind_json(&s, 5, value);
    if (s.e->params(s.q) >= 6)
        bind_int(&s, 6, lease_until);
    return step_change(st, &s);
}

int store_run_await_input(struct store *st, const struct status_change *ch, const char *id,
                          const json_t *pending, int64_t now_ms)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, pending_input = ?5, updated_at = " LATER("updated_at", "?4")
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, pending, 0);
}

int store_run_resume(struct store *st, const struct status_change *ch, const char *id,
                     int64_t now_ms)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, pending_input = NULL, updated_at = " LATER("updated_at", "?4")
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, NULL, 0);
}

int store_run_requeue(struct store *st, const struct status_change *ch, const char *id,
                      int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, lease_until = ?6, pgid = NULL, queue_entry = NULL,"
        " pending_input = NULL, updated_at = " LATER("updated_at", "?4")
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, NULL, lease_until);
}

int store_run_cancel_queued(struct store *st, const struct status_change *ch, const char *id,
                            const json_t *error, int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, error = ?5, cancel_requested_at = ?4, finished_at = ?4,"
        " updated_at = " LATER("updated_at", "?4") ", parked = 0, lease_until = ?6"
        " WHERE id = ?1 AND " IN_STATUSES(3), ch, id, now_ms, error, lease_until);
}

int store_run_expire(struct store *st, const struct status_change *ch, const char *id,
                     const json_t *error, int64_t now_ms, int64_t lease_until)
{
    return change_run(st,
        "UPDATE runs SET status = ?2, error = ?5, finished_at = ?4,"
        " updated_at = " LATER("updated_at", "?4") ", parked = 0, lease_until = ?6"
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
        "UPDATE runs SET cancel_requested_at = ?2, updated_at = " LATER("updated_at", "?2")
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
        int active = owner_active(st, r->owner, o->max_active);
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

static json_t *json_col(struct stmt *s, int i)
{
    const char *t = col_text(s, i);
    return t != NULL ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
}

#define RUN_COLUMNS                                                        \
    "id, owner, type, status, thread_id, input, result, error,"            \
    " pending_input, progress_current, progress_total, steps, metadata,"   \
    " created_at, started_at, finished_at, updated_at, last_event_id, attempt,"  \
    " seq, parked, delete_on_finish, CASE WHEN archive_deleted_at IS NULL THEN 0 ELSE 1 END, rerun_of,"   \
    " start_at, expires_at, priority, concurrency_key, webhook, webhook_state,"     \
    " webhook_attempts, request_id"

/* 0, or -1 for a row whose status is none this program knows. */
static int read_run(struct stmt *q, struct run *r)
{
    memset(r, 0, sizeof *r);
    const char *status = col_text(q, 3);
    if (status == NULL || run_status_parse(status, &r->status) != 0)
        return -1;
    copy_col(q, 0, r->id, sizeof r->id);
    copy_col(q, 1, r->owner, sizeof r->owner);
    copy_col(q, 2, r->type, sizeof r->type);
    copy_col(q, 4, r->thread_id, sizeof r->thread_id);
    r->input = json_col(q, 5);
    r->result = json_col(q, 6);
    r->error = json_col(q, 7);
    r->pending_input = json_col(q, 8);
    r->has_progress = !q->e->is_null(q->q, 9);
    r->progress_current = col_int(q, 9);
    r->progress_total = col_int(q, 10);
    r->steps = json_col(q, 11);
    r->metadata = json_col(q, 12);
    r->created_at = col_int(q, 13);
    r->started_at = col_int(q, 14);
    r->finished_at = col_int(q, 15);
    r->updated_at = col_int(q, 16);
    copy_col(q, 17, r->last_event_id, sizeof r->last_event_id);
    r->attempt = (int)col_int(q, 18);
    r->seq = col_int(q, 19);
    r->parked = (int)col_int(q, 20);
    r->delete_on_finish = (int)col_int(q, 21);
    r->archive_deleted = (int)col_int(q, 22);
    copy_col(q, 23, r->rerun_of, sizeof r->rerun_of);
    r->start_at = col_int(q, 24);
    r->expires_at = col_int(q, 25);
    r->priority = (int)col_int(q, 26);
    copy_col(q, 27, r->concurrency_key, sizeof r->concurrency_key);
    copy_col(q, 28, r->webhook, sizeof r->webhook);
    r->webhook_state = webhook_state_parse(col_text(q, 29));
    r->webhook_attempts = json_col(q, 30);
    copy_col(q, 31, r->request_id, sizeof r->request_id);
    return 0;
}

int store_run_get(struct store *st, const char *id, struct run *out)
{
    struct stmt s;
    if (prepare(st, &s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, id);
    enum ledger_step rc = step(&s);
    int ret = 1;
    if (rc == LEDGER_ROW)
        ret = read_run(&s, out);
    else if (rc != LEDGER_DONE)
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
        "UPDATE runs SET status = ?2, started_at = ?4, updated_at = " LATER("updated_at", "?4") ","
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

int store_run_claimed(struct store *st, const char *id, const char *host, const char *entry)
{
    struct stmt s;
    char one[8];
    if (prepare(st, &s, "SELECT 1 FROM runs WHERE id = ?1 AND status = ?2 AND worker_host = ?3"
                        " AND queue_entry = ?4") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_text(&s, 2, run_status_name(RUN_RUNNING));
    bind_text(&s, 3, host);
    bind_text(&s, 4, entry);
    int r = step_text(&s, one, sizeof one);
    return r < 0 ? -1 : r;
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
        bind_null(&s, 3);
    bind_statuses(&s, 4, STATUS_CLAIMED);
    return step_done(st, &s) < 0 ? -1 : 0;
}

int store_runs_lease(struct store *st, const char *const ids[], int n, int64_t lease_until)
{
    if (n <= 0)
        return 0;
    if (begin(st) != 0)
        return -1;
    int ret = 0;
    for (int i = 0; i < n && ret == 0; i++) {
        struct stmt s;
        if (prepare(st, &s, "UPDATE runs SET lease_until = ?2 WHERE id = ?1 AND " IN_STATUSES(3)) != 0) {
            ret = -1;
            break;
        }
        bind_text(&s, 1, ids[i]);
        bind_int(&s, 2, lease_until);
        bind_statuses(&s, 3, STATUS_CLAIMED);
        ret = step_done(st, &s) < 0 ? -1 : 0;
    }
    return end(st, ret);
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
        enum ledger_step rc = step(&s);
        ret = rc == LEDGER_ROW ? 1 : (rc == LEDGER_DONE ? 0 : -1);
        if (ret == 1) {
            copy_col(&s, 0, out->id, sizeof out->id);
            copy_col(&s, 1, out->host, sizeof out->host);
            out->pgid = (long)col_int(&s, 2);
            copy_col(&s, 3, out->entry, sizeof out->entry);
            const char *status = col_text(&s, 4);
            if (status == NULL || run_status_parse(status, &out->status) != 0)
                ret = -1;
        }
        release(&s);
    }
    /* Taking it: only one worker recovers a run, and not one whose runner
     * renewed its lease meanwhile (a renewal is a statement of its own). */
    if (ret == 1) {
        if (prepare(st, &s, "UPDATE runs SET lease_until = ?2 WHERE id = ?1 AND lease_until < ?3") != 0)
            ret = -1;
        else {
            bind_text(&s, 1, out->id);
            bind_int(&s, 2, retake_until);
            bind_int(&s, 3, now_ms);
            int n = step_done(st, &s);
            ret = n < 0 ? -1 : n;
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
        "INSERT INTO events (run_id, ms, seq, type, data) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT DO NOTHING") != 0)
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
    if (prepare(st, &s, "UPDATE runs SET last_event_id = ?2, updated_at = " LATER("updated_at", "?3")
                        " WHERE id = ?1 AND event_after(?2, last_event_id)") != 0)
        return -1;
    bind_text(&s, 1, id);
    bind_text(&s, 2, event_id);
    bind_int(&s, 3, now_ms);
    return step_done(st, &s) < 0 ? -1 : 0;
}

/* The progress of event event_id, unless a later one is recorded. */
static int progress_update(struct store *st, const char *id, const char *event_id,
                           int64_t current, int64_t total, int64_t now_ms)
{
    struct stmt s;
    if (prepare(st, &s,
        "UPDATE runs SET progress_current = ?2, progress_total = ?3,"
        " updated_at = " LATER("updated_at", "?4") ", progress_event_id = ?5"
        " WHERE id = ?1 AND event_after(?5, progress_event_id)") != 0)
        return -1;
    bind_text(&s, 5, event_id);
    bind_text(&s, 1, id);
    bind_int(&s, 2, current);
    bind_int(&s, 3, total);
    bind_int(&s, 4, now_ms);
    return step_done(st, &s) < 0 ? -1 : 0;
}

/* Whether a later event of the batch (after i) is of the same run, and,
 * with progress, a progress event: the latest of each run is enough to
 * note, as the updates move forward only. */
static int later_of_run(const struct archived_event *ev, size_t n, size_t i, int progress)
{
    for (size_t k = i + 1; k < n; k++)
        if ((!progress || ev[k].progress) && strcmp(ev[k].run_id, ev[i].run_id) == 0)
            return 1;
    return 0;
}

int store_run_events(struct store *st, const struct archived_event *ev, size_t n, int64_t now_ms)
{
    if (begin(st) != 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = archive_event(st, ev[i].run_id, ev[i].id, ev[i].name, ev[i].data) == 0 &&
                    (later_of_run(ev, n, i, 0) ||
                     note_latest(st, ev[i].run_id, ev[i].id, now_ms) == 0) &&
                    (!ev[i].progress || later_of_run(ev, n, i, 1) ||
                     progress_update(st, ev[i].run_id, ev[i].id, ev[i].current, ev[i].total,
                                     now_ms) == 0)
                ? 0
                : -1;
    return end(st, r);
}

int store_run_event(struct store *st, const char *id, const char *event_id,
                    const char *name, const char *data, int64_t now_ms)
{
    struct archived_event ev = {.run_id = id, .id = event_id, .name = name, .data = data};
    return store_run_events(st, &ev, 1, now_ms);
}

int store_archive_entries(struct store *st, const char *run_id, const json_t *entries,
                          int64_t now_ms, int settled)
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
    if (r == 0 && settled)
        r = store_run_lease_clear(st, run_id, STATUS_TERMINAL) < 0 ? -1 : 0;
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

int store_run_last_event(struct store *st, const char *run_id, char out[EVENT_ID_SIZE])
{
    struct stmt s;
    if (prepare(st, &s, "SELECT COALESCE(last_event_id, '') FROM runs WHERE id = ?1") != 0)
        return -1;
    bind_text(&s, 1, run_id);
    return step_text(&s, out, EVENT_ID_SIZE);
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
    while ((rc = step(&s)) == LEDGER_ROW) {
        struct event_id id = {(uint64_t)col_int(&s, 0),
                              (uint64_t)col_int(&s, 1)};
        char text[EVENT_ID_SIZE];
        event_id_format(&id, text);
        n++;
        if (fn(ctx, text, col_text(&s, 2),
               col_text(&s, 3)) != 0)
            break;
    }
    release(&s);
    return (rc == LEDGER_ROW || rc == LEDGER_DONE) ? n : -1;
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
        enum ledger_step rc = step(&s);
        r = rc == LEDGER_ROW ? 0 : (rc == LEDGER_DONE ? 1 : -1);
        if (r == 0)
            steps = json_col(&s, 0);
        release(&s);
    }
    if (r == 0 && !json_is_array(steps)) {
        json_decref(steps);
        steps = json_array();
    }
    if (r == 0 && edit(ctx, steps) == 1) {
        r = -1;
        if (prepare(st, &s, "UPDATE runs SET steps = ?2, updated_at = " LATER("updated_at", "?3") ","
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
            " pending_input = NULL, finished_at = ?6, updated_at = " LATER("updated_at", "?6") ","
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
        " AND (?8 IS NULL OR metadata_is(metadata, ?8, ?9))"
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
    enum ledger_step rc;
    while ((rc = step(&s)) == LEDGER_ROW) {
        struct run r;
        if (read_run(&s, &r) != 0) {
            run_clear(&r);
            rc = LEDGER_ERROR;
            break;
        }
        int stop = fn(ctx, &r);
        run_clear(&r);
        if (stop)
            break;
    }
    release(&s);
    return (rc == LEDGER_ROW || rc == LEDGER_DONE) ? 0 : -1;
}

static int take_id(void *ctx, struct run *r)
{
    snprintf(ctx, ID_SIZE, "%s", r->id);
    return 1;
}

int store_run_newest(struct store *st, const struct run_filter *f, struct run *out)
{
    char id[ID_SIZE] = "";
    struct run_filter one = *f;
    one.limit = 1;
    memset(out, 0, sizeof *out);
    if (store_run_list(st, &one, take_id, id) != 0)
        return -1;
    return id[0] == '\0' ? 1 : store_run_get(st, id, out);
}

void thread_clear(struct thread *t)
{
    json_decref(t->metadata);
    memset(t, 0, sizeof *t);
}

int store_thread_create(struct store *st, const struct thread *t)
{
    struct stmt s;
    if (prepare(st, &s,
        "INSERT INTO threads (owner, id, metadata, created_at, updated_at)"
        " VALUES (?1, ?2, COALESCE(?3, '{}'), ?4, ?4) ON CONFLICT DO NOTHING") != 0)
        return -1;
    bind_text(&s, 1, t->owner);
    bind_text(&s, 2, t->id);
    bind_json(&s, 3, t->metadata);
    bind_int(&s, 4, t->created_at);
    int n = step_done(st, &s);
    return n < 0 ? -1 : n == 1 ? 0 : 1;
}

#define THREAD_COLUMNS "owner, id, metadata, created_at, updated_at"

static void thread_row(struct stmt *s, struct thread *t)
{
    memset(t, 0, sizeof *t);
    copy_col(s, 0, t->owner, sizeof t->owner);
    copy_col(s, 1, t->id, sizeof t->id);
    t->metadata = json_col(s, 2);
    if (!json_is_object(t->metadata)) {
        json_decref(t->metadata);
        t->metadata = json_object();
    }
    t->created_at = col_int(s, 3);
    t->updated_at = col_int(s, 4);
}

int store_thread_get(struct store *st, const char *owner, const char *id, struct thread *out)
{
    struct stmt s;
    memset(out, 0, sizeof *out);
    if (prepare(st, &s, "SELECT " THREAD_COLUMNS " FROM threads WHERE owner = ?1 AND id = ?2") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_text(&s, 2, id);
    enum ledger_step rc = step(&s);
    if (rc == LEDGER_ROW)
        thread_row(&s, out);
    release(&s);
    return rc == LEDGER_ROW ? 0 : rc == LEDGER_DONE ? 1 : -1;
}

int store_thread_list(struct store *st, const char *owner, int limit,
                      int (*fn)(void *ctx, struct thread *t), void *ctx)
{
    struct stmt s;
    if (prepare(st, &s, "SELECT " THREAD_COLUMNS " FROM threads WHERE owner = ?1"
                        " ORDER BY created_at DESC, id LIMIT ?2") != 0)
        return -1;
    bind_text(&s, 1, owner);
    bind_int(&s, 2, limit);
    enum ledger_step rc;
    while ((rc = step(&s)) == LEDGER_ROW) {
        struct thread t;
        thread_row(&s, &t);
        int stop = fn(ctx, &t);
        thread_clear(&t);
        if (stop) {
            rc = LEDGER_DONE;
            break;
        }
    }
    release(&s);
    return rc == LEDGER_DONE ? 0 : -1;
}

int store_thread_delete(struct store *st, const char *owner, const char *id)
{
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int r = prepare(st, &s, "DELETE FROM runs WHERE owner = ?1 AND thread_id = ?2");
    if (r == 0) {
        bind_text(&s, 1, owner);
        bind_text(&s, 2, id);
        r = step_done(st, &s) < 0 ? -1 : 0;
    }
    if (r == 0 && (r = prepare(st, &s, "DELETE FROM threads WHERE owner = ?1 AND id = ?2")) == 0) {
        bind_text(&s, 1, owner);
        bind_text(&s, 2, id);
        r = step_done(st, &s) < 0 ? -1 : 0;
    }
    return end(st, r);
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
    if (prepare(st, &s, "SELECT substr(hash, 1, CAST(?1 AS INTEGER)), owner, name, created_at FROM tokens"
                        " ORDER BY owner, created_at") != 0)
        return -1;
    bind_int(&s, 1, TOKEN_ID_LEN);
    enum ledger_step rc;
    while ((rc = step(&s)) == LEDGER_ROW)
        if (fn(ctx, col_text(&s, 0),
               col_text(&s, 1), col_text(&s, 2),
               col_int(&s, 3)) != 0)
            break;
    release(&s);
    return (rc == LEDGER_ROW || rc == LEDGER_DONE) ? 0 : -1;
}

int store_token_revoke(struct store *st, const char *id, char owner[OWNER_SIZE])
{
    if (strlen(id) != TOKEN_ID_LEN)
        return 1;
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    int ret = -1;
    if (prepare(st, &s, "SELECT owner FROM tokens WHERE substr(hash, 1, CAST(?2 AS INTEGER)) = ?1") == 0) {
        bind_text(&s, 1, id);
        bind_int(&s, 2, TOKEN_ID_LEN);
        ret = step_text(&s, owner, OWNER_SIZE);
    }
    if (ret == 0 && prepare(st, &s, "DELETE FROM tokens WHERE substr(hash, 1, CAST(?2 AS INTEGER)) = ?1") == 0) {
        bind_text(&s, 1, id);
        bind_int(&s, 2, TOKEN_ID_LEN);
        ret = step_done(st, &s) == 1 ? 0 : -1;
    }
    if (ret == 0 && prepare(st, &s,
            "INSERT INTO owners (owner, link_epoch) VALUES (?1, 1)"
            " ON CONFLICT (owner) DO UPDATE SET link_epoch = owners.link_epoch + 1") == 0) {
        bind_text(&s, 1, owner);
        ret = step_done(st, &s) == 1 ? 0 : -1;
    }
    return end(st, ret);
}

int store_run_active_counts(struct store *st, store_count_fn fn, void *ctx)
{
    struct stmt s;
    /* The term of the partial index over active runs (migration 12). */
    if (prepare(st, &s, "SELECT type, status, COUNT(*) FROM runs WHERE " LEDGER_ACTIVE_SQL
                        " GROUP BY type, status") != 0)
        return -1;
    enum ledger_step rc;
    while ((rc = step(&s)) == LEDGER_ROW) {
        const char *type = col_text(&s, 0), *status = col_text(&s, 1);
        fn(ctx, type ? type : "", status ? status : "", (long long)col_int(&s, 2));
    }
    release(&s);
    return rc == LEDGER_DONE ? 0 : -1;
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
    /* First use: an insert that yields to an existing key, then read back, so that concurrent
     * first users all end up with the one key that won. */
    char fresh[HASH_HEX_SIZE];
    crypto_new_secret(fresh);
    struct stmt s;
    if (prepare(st, &s, "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING") != 0)
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
    if (begin(st) != 0)
        return -1;
    struct stmt s;
    json_t *attempts = NULL;
    int r = -1;
    if (prepare(st, &s, "SELECT webhook_attempts FROM runs WHERE id = ?1 AND webhook_state = ?2") == 0) {
        bind_text(&s, 1, id);
        bind_text(&s, 2, webhook_state_name(WEBHOOK_PENDING));
        enum ledger_step rc = step(&s);
        r = rc == LEDGER_ROW ? 0 : (rc == LEDGER_DONE ? 1 : -1);
        if (r == 0)
            attempts = json_col(&s, 0);
        release(&s);
    }
    if (r == 0 && !json_is_array(attempts)) {
        json_decref(attempts);
        attempts = json_array();
    }
    if (r == 0) {
        json_array_append(attempts, (json_t *)attempt);
        r = -1;
        if (prepare(st, &s, "UPDATE runs SET webhook_attempts = ?2, webhook_state = ?3 WHERE id = ?1") == 0) {
            bind_text(&s, 1, id);
            bind_json(&s, 2, attempts);
            bind_text(&s, 3, webhook_state_name(state));
            r = step_done(st, &s) == 1 ? 0 : -1;
        }
    }
    json_decref(attempts);
    return end(st, r);
}

/* The tables of a ledger, parents before the rows that name them. */
static const char *const tables[] = {"runs", "idempotency", "events", "tokens", "owners", "settings"};

/* Copies every row of one table, column for column; -1 with a reason. */
static int copy_table(struct store *to, struct store *from, const char *table, char *err,
                      size_t errsize)
{
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT * FROM %s", table);
    struct stmt rows, ins;
    if (prepare(from, &rows, sql) != 0) {
        snprintf(err, errsize, "%s: %s", table, from->e->error(from->db));
        return -1;
    }
    enum ledger_step rc;
    int ret = 0;
    while (ret == 0 && (rc = step(&rows)) == LEDGER_ROW) {
        int n = rows.e->columns(rows.q);
        size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (", table);
        for (int i = 0; i < n && len < sizeof sql; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", i ? ", " : "",
                                    rows.e->column_name(rows.q, i));
        for (int i = 0; i < n && len < sizeof sql; i++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, "%s?%d", i ? ", " : ") VALUES (",
                                    i + 1);
        if (len < sizeof sql)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ")");
        if (len >= sizeof sql || prepare(to, &ins, sql) != 0) {
            snprintf(err, errsize, "%s: %s", table, to->e->error(to->db));
            ret = -1;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (rows.e->is_null(rows.q, i))
                bind_null(&ins, i + 1);
            else if (rows.e->is_integer(rows.q, i))
                bind_int(&ins, i + 1, col_int(&rows, i));
            else
                bind_text(&ins, i + 1, col_text(&rows, i));
        }
        if (step_done(to, &ins) != 1) {
            snprintf(err, errsize, "%s: %s", table, to->e->error(to->db));
            ret = -1;
        }
    }
    if (ret == 0 && rc != LEDGER_DONE) {
        snprintf(err, errsize, "%s: %s", table, from->e->error(from->db));
        ret = -1;
    }
    release(&rows);
    return ret;
}

int store_copy(struct store *to, struct store *from, char *err, size_t errsize)
{
    err[0] = '\0';
    if (begin(to) != 0) {
        snprintf(err, errsize, "%s", to->e->error(to->db));
        return -1;
    }
    struct stmt s;
    char n[24] = "";
    int ret = -1;
    if (prepare(to, &s, "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM tokens)") == 0 &&
        step_text(&s, n, sizeof n) == 0) {
        ret = 0;
        if (strcmp(n, "0") != 0) {
            snprintf(err, errsize, "the ledger copied into already holds runs or tokens");
            ret = -1;
        }
    }
    /* The copy's secrets win: links and webhooks signed before stay good. */
    if (ret == 0 && to->e->exec(to->db, "DELETE FROM settings") != 0)
        ret = -1;
    for (size_t i = 0; ret == 0 && i < sizeof tables / sizeof tables[0]; i++)
        ret = copy_table(to, from, tables[i], err, errsize);
    if (ret != 0 && err[0] == '\0')
        snprintf(err, errsize, "%s", to->e->error(to->db));
    return end(to, ret);
}
