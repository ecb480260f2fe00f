/* The PostgreSQL engine of the ledger, for more than one host: one libpq
 * connection per caller, kept as long as its caller lives. Every query is
 * sent with its parameters as text and PostgreSQL infers their types, so
 * the store's SQL is the same for both engines; "?N" becomes "$N" here. */
#include "ledger.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More than any statement of the store binds: a row of runs, copied
 * whole, has 40. */
#define PARAMS_MAX 64
/* Every writing transaction holds this advisory lock: the ledger's one
 * write lock, as SQLite's is, across every host. A connection that dies
 * holding it lets go with it. */
#define WRITE_LOCK_KEY "7310582414"

struct query {
    struct ledger_query base;
    char *sql;                  /* with $N for ?N */
    int nparams;
    char *param[PARAMS_MAX];    /* owned; NULL binds NULL */
    Oid type[PARAMS_MAX];
    char used[PARAMS_MAX];      /* the statement names it (?6 without ?5 binds ?5 too) */
    int failed;                 /* a binding failed */
    PGresult *res;
    int row, rows;              /* the row a step is on, of rows */
    int changed;
};

struct pg_ledger {
    struct ledger base;
    PGconn *conn;
    int in_tx;                  /* between begin and commit or rollback */
    int unset;                  /* made again, and without PG_SESSION's settings yet */
    char err[256];              /* the last failure, for error() */
};

#define DB(l) ((struct pg_ledger *)(l))
#define Q(q) ((struct query *)(q))

/* Each step moves the schema from version i to i+1, as the SQLite
 * engine's step of the same number does; never edit a shipped step,
 * append a new one. */
static const char *const migrations[] = {
    /* event_after and metadata_is are C functions in SQLite. */
    "CREATE TABLE runs ("
    " id TEXT PRIMARY KEY, owner TEXT NOT NULL, type TEXT NOT NULL,"
    " status TEXT NOT NULL, thread_id TEXT, input TEXT NOT NULL,"
    " result TEXT, error TEXT, pending_input TEXT,"
    " progress_current BIGINT, progress_total BIGINT,"
    " steps TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}',"
    " created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,"
    " updated_at BIGINT NOT NULL, last_event_id TEXT,"
    " attempt BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_owner_created ON runs(owner, created_at DESC, id);"
    "CREATE INDEX runs_status ON runs(status);"
    "CREATE TABLE tokens (hash TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " name TEXT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE FUNCTION event_after(a TEXT, b TEXT) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT a IS NOT NULL AND (b IS NULL OR"
    " (split_part(a, '-', 1)::numeric, split_part(a, '-', 2)::numeric) >"
    " (split_part(b, '-', 1)::numeric, split_part(b, '-', 2)::numeric)) $$;"
    "CREATE FUNCTION metadata_is(metadata TEXT, key TEXT, value TEXT) RETURNS BOOLEAN"
    " LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT CASE json_typeof(v) WHEN 'string' THEN v #>> '{}' ELSE v::text END = value"
    " FROM (SELECT metadata::json -> key AS v) m $$;",

    /* 2: creation order, idempotency keys, threads and cancellation (no
     * PostgreSQL ledger holds runs older than seq). */
    "ALTER TABLE runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
    "CREATE INDEX runs_owner_seq ON runs(owner, seq);"
    "CREATE INDEX runs_thread ON runs(thread_id, seq) WHERE thread_id IS NOT NULL;"
    "ALTER TABLE runs ADD COLUMN parked BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN cancel_requested_at BIGINT;"
    "ALTER TABLE runs ADD COLUMN delete_on_finish BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE idempotency (owner TEXT NOT NULL, key TEXT NOT NULL,"
    " body_hash TEXT NOT NULL, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " created_at BIGINT NOT NULL, PRIMARY KEY (owner, key));"
    "CREATE INDEX idempotency_created ON idempotency(created_at);",

    /* 3: the archive of every event, kept beyond Redis retention. */
    "CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " ms BIGINT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (run_id, ms, seq));",

    /* 4: when a run's archive was deleted (opstream gc). */
    "ALTER TABLE runs ADD COLUMN archive_deleted_at BIGINT;",

    /* 5: leases of running runs, for crash recovery. */
    "ALTER TABLE runs ADD COLUMN lease_until BIGINT;"
    "ALTER TABLE runs ADD COLUMN worker_host TEXT;"
    "ALTER TABLE runs ADD COLUMN pgid BIGINT;"
    "ALTER TABLE runs ADD COLUMN queue_entry TEXT;"
    "CREATE INDEX runs_lease ON runs(lease_until) WHERE lease_until IS NOT NULL;",

    /* 6: each owner's link epoch, moved by revoking a credential. */
    "CREATE TABLE owners (owner TEXT PRIMARY KEY, link_epoch BIGINT NOT NULL DEFAULT 0);",

    /* 7: the event each projection was last taken from. */
    "ALTER TABLE runs ADD COLUMN progress_event_id TEXT;"
    "ALTER TABLE runs ADD COLUMN steps_event_id TEXT;",

    /* 8: a new run's seq is MAX(seq) + 1, read from an index. */
    "CREATE INDEX runs_seq ON runs(seq);",

    /* 9: the run a rerun repeats. */
    "ALTER TABLE runs ADD COLUMN rerun_of TEXT;",

    /* 10: scheduling. */
    "ALTER TABLE runs ADD COLUMN start_at BIGINT;"
    "ALTER TABLE runs ADD COLUMN expires_at BIGINT;"
    "ALTER TABLE runs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;"
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
    " metadata TEXT NOT NULL DEFAULT '{}', created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL, PRIMARY KEY (owner, id));",

    /* 14: the request that made a run, for the logs of its worker. */
    "ALTER TABLE runs ADD COLUMN request_id TEXT;",
};

static void note_error(struct pg_ledger *db, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(db->conn);
    snprintf(db->err, sizeof db->err, "%s", msg);
    size_t n = strlen(db->err);
    while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
        db->err[--n] = '\0';
}

/* What the server is told of each connection: a client whose host died
 * (a power cut: no FIN ever comes) must not keep the write lock or a
 * run's row locked, or every other host's writes wait for it. Inside a
 * transaction, where nearly all such holds are, two seconds without a
 * statement end its session; outside one, the keepalives do within
 * about six. Our transactions never wait on anything but the server. */
#define PG_SESSION                                                                           \
    "SET idle_in_transaction_session_timeout = 2000; SET tcp_keepalives_idle = 3;"           \
    " SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 6000"

/* Commands sent as one string; every one must succeed, and the first
 * must carry the tag first_tag when that is not NULL (a COMMIT of a
 * failed transaction answers "ROLLBACK"). 0, or -1. */
static int command(struct ledger *l, const char *sql, const char *first_tag)
{
    struct pg_ledger *db = DB(l);
    if (!PQsendQuery(db->conn, sql)) {
        note_error(db, NULL);
        return -1;
    }
    int r = 0, first = 1;
    PGresult *res;
    while ((res = PQgetResult(db->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (r == 0 && ((st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) ||
                       (first && first_tag != NULL && strcmp(PQcmdStatus(res), first_tag) != 0))) {
            note_error(db, res);
            r = -1;
        }
        first = 0;
        PQclear(res);
    }
    if (PQstatus(db->conn) == CONNECTION_BAD && r == 0) {
        note_error(db, NULL);
        r = -1;
    }
    return r;
}

/* 0, or -1 when the server refused a setting (the error is noted). */
static int session(struct pg_ledger *db)
{
    return command(&db->base, PG_SESSION, NULL);
}

/* A connection that broke (a server restart, a failover) is made again
 * before the next statement outside a transaction: the statement that
 * found it broken has failed, the next one may succeed. Inside a
 * transaction nothing is retried: it failed as a whole. */
static int ready(struct pg_ledger *db)
{
    if (db->in_tx)
        return 0;
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        PQreset(db->conn);
        db->unset = 1;
    }
    /* Not used without its settings (a server that refused them now may
     * take them at the next statement). */
    if (db->unset && PQstatus(db->conn) != CONNECTION_OK)
        note_error(db, NULL);
    else if (db->unset && session(db) == 0)
        db->unset = 0;
    return db->unset ? -1 : 0;
}

static int exec(struct ledger *l, const char *sql)
{
    return command(l, sql, NULL);
}

/* The write lock is taken before the transaction starts, in a command
 * of its own: a transaction's start is when a server connection catches
 * up with what others changed in the catalog, so that a migration that
 * waited for another sees the tables the other made (in one string, the
 * lock would belong to the transaction BEGIN opens). */
static int begin(struct ledger *l)
{
    if (ready(DB(l)) == 0 &&
        command(l, "SELECT pg_advisory_lock(" WRITE_LOCK_KEY ")", NULL) == 0 &&
        command(l, "BEGIN", NULL) == 0) {
        DB(l)->in_tx = 1;
        return 0;
    }
    command(l, "ROLLBACK; SELECT pg_advisory_unlock_all()", NULL);
    return -1;
}

static int commit(struct ledger *l)
{
    int r = command(l, "COMMIT; SELECT pg_advisory_unlock(" WRITE_LOCK_KEY ")", "COMMIT");
    if (r != 0)
        command(l, "ROLLBACK; SELECT pg_advisory_unlock_all()", NULL);
    DB(l)->in_tx = 0;
    return r;
}

static void rollback(struct ledger *l)
{
    command(l, "ROLLBACK; SELECT pg_advisory_unlock(" WRITE_LOCK_KEY ")", NULL);
    DB(l)->in_tx = 0;
}

static int settle(struct ledger *l)
{
    if (!DB(l)->in_tx)
        return 0;
    rollback(l);
    return -1;
}

static const char *error(struct ledger *l)
{
    return DB(l)->err;
}

/* The first column of a one-row query, or NULL; owned by the caller. */
static char *scalar(struct ledger *l, const char *sql)
{
    PGresult *res = PQexec(DB(l)->conn, sql);
    char *v = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strdup(PQgetvalue(res, 0, 0));
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        note_error(DB(l), res);
    PQclear(res);
    return v;
}

static int version(struct ledger *l)
{
    DB(l)->err[0] = '\0';
    char *exists = scalar(l, "SELECT to_regclass('ledger_schema')::text");
    if (exists == NULL)
        return DB(l)->err[0] ? -1 : 0;
    free(exists);
    char *v = scalar(l, "SELECT version FROM ledger_schema");
    int n = v ? atoi(v) : -1;
    free(v);
    return n;
}

static int set_version(struct ledger *l, int v)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS ledger_schema (version INTEGER NOT NULL);"
             " DELETE FROM ledger_schema; INSERT INTO ledger_schema VALUES (%d)", v);
    return exec(l, sql);
}

/* Notices (IF NOT EXISTS, ...) are not for the operator's log. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void close_ledger(struct ledger *l)
{
    if (l == NULL)
        return;
    PQfinish(DB(l)->conn);
    free(l);
}

static struct ledger *open_ledger(const char *where, char *err, size_t errsize)
{
    struct pg_ledger *db = calloc(1, sizeof *db);
    if (db == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    db->base.engine = &ledger_postgresql;
    /* Defaults the connection string may override: a dead server is
     * noticed in seconds, not at the kernel's TCP timeouts. */
    const char *const keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "dbname", NULL};
    const char *const values[] = {"3", "5", "2", "3", where, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        const char *why = db->conn ? PQerrorMessage(db->conn) : "out of memory";
        snprintf(err, errsize, "PostgreSQL ledger: %.*s", (int)strcspn(why, "\n"), why);
        close_ledger(&db->base);
        return NULL;
    }
    PQsetNoticeProcessor(db->conn, quiet, NULL);
    if (session(db) != 0) {
        snprintf(err, errsize, "PostgreSQL ledger: the server refused a session setting: %s",
                 db->err);
        close_ledger(&db->base);
        return NULL;
    }
    return &db->base;
}

/* Copies sql with ?N turned into $N (outside quoted text), counting the
 * parameters. */
static char *dollar_params(const char *sql, int *nparams, char used[PARAMS_MAX])
{
    size_t n = strlen(sql);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    int quoted = 0, most = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = sql[i];
        if (c == '\'')
            quoted = !quoted;
        if (c == '?' && !quoted) {
            c = '$';
            int k = atoi(sql + i + 1);
            if (k > most)
                most = k;
            if (k >= 1 && k <= PARAMS_MAX)
                used[k - 1] = 1;
        }
        out[i] = c;
    }
    *nparams = most;
    return out;
}

static struct ledger_query *prepare(struct ledger *l, const char *sql)
{
    struct query *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->base.db = l;
    q->sql = dollar_params(sql, &q->nparams, q->used);
    if (q->sql == NULL || q->nparams > PARAMS_MAX) {
        snprintf(DB(l)->err, sizeof DB(l)->err, "a statement with too many parameters");
        free(q->sql);
        free(q);
        return NULL;
    }
    return &q->base;
}

static void release(struct ledger_query *lq)
{
    struct query *q = Q(lq);
    for (int i = 0; i < PARAMS_MAX; i++)
        free(q->param[i]);
    PQclear(q->res);
    free(q->sql);
    free(q);
}

static int params(struct ledger_query *q)
{
    return Q(q)->nparams;
}

/* Types in pg_type. Integers are sent as bigint and text as text, so
 * that no use of a parameter leaves its type in doubt; a bare NULL takes
 * the type its place in the statement gives it. */
#define INT8_OID 20
#define TEXT_OID 25

static void bind_typed(struct ledger_query *lq, int i, const char *text, Oid type)
{
    struct query *q = Q(lq);
    if (i < 1 || i > q->nparams) {
        q->failed = 1;
        return;
    }
    free(q->param[i - 1]);
    q->param[i - 1] = NULL;
    /* A parameter the statement does not name has no place to give it
     * a type: text, as any value can be. */
    q->type[i - 1] = q->used[i - 1] ? type : TEXT_OID;
    if (text != NULL && (q->param[i - 1] = strdup(text)) == NULL)
        q->failed = 1;
}

static void bind_text(struct ledger_query *q, int i, const char *text)
{
    bind_typed(q, i, text, TEXT_OID);
}

static void bind_int(struct ledger_query *q, int i, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)v);
    bind_typed(q, i, text, INT8_OID);
}

static void bind_null(struct ledger_query *q, int i)
{
    bind_typed(q, i, NULL, 0);
}

/* The first step sends the query and takes its whole answer; later steps
 * walk its rows. */
static enum ledger_step step(struct ledger_query *lq)
{
    struct query *q = Q(lq);
    if (q->failed)
        return LEDGER_ERROR;
    if (q->res == NULL) {
        if (ready(DB(lq->db)) != 0) {
            q->failed = 1;
            return LEDGER_ERROR;
        }
        q->res = PQexecParams(DB(lq->db)->conn, q->sql, q->nparams, q->type,
                              (const char *const *)q->param, NULL, NULL, 0);
        ExecStatusType s = PQresultStatus(q->res);
        if (s == PGRES_COMMAND_OK) {
            q->changed = atoi(PQcmdTuples(q->res));
            q->rows = 0;
        } else if (s == PGRES_TUPLES_OK) {
            q->rows = PQntuples(q->res);
        } else {
            note_error(DB(lq->db), q->res);
            q->failed = 1;
            return LEDGER_ERROR;
        }
        q->row = 0;
    } else {
        q->row++;
    }
    return q->row < q->rows ? LEDGER_ROW : LEDGER_DONE;
}

static int changes(struct ledger_query *q)
{
    return Q(q)->changed;
}

static int is_null(struct ledger_query *lq, int col)
{
    struct query *q = Q(lq);
    return q->row >= q->rows || PQgetisnull(q->res, q->row, col);
}

static const char *text(struct ledger_query *lq, int col)
{
    return is_null(lq, col) ? NULL : PQgetvalue(Q(lq)->res, Q(lq)->row, col);
}

static int64_t integer(struct ledger_query *lq, int col)
{
    const char *t = text(lq, col);
    return t ? strtoll(t, NULL, 10) : 0;
}

/* int2, int4 and int8 in pg_type. */
static int is_integer(struct ledger_query *lq, int col)
{
    Oid t = PQftype(Q(lq)->res, col);
    return !is_null(lq, col) && (t == 21 || t == 23 || t == INT8_OID);
}

static int columns(struct ledger_query *q)
{
    return Q(q)->res ? PQnfields(Q(q)->res) : 0;
}

static const char *column_name(struct ledger_query *q, int col)
{
    return PQfname(Q(q)->res, col);
}

const struct ledger_engine ledger_postgresql = {
    .name = "postgresql",
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
