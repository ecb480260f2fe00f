#ifndef OPSTREAM_LEDGER_H
#define OPSTREAM_LEDGER_H

/* The ledger's two engines behind one table of functions: SQLite (a file
 * path: the embedded default) and PostgreSQL (a postgresql:// or
 * postgres:// connection string, for more than one host). store.c speaks
 * one SQL to both, the part the two share:
 *   - parameters are ?1, ?2, ..., bound as text, integers or NULL;
 *   - event_after(a, b) (1 when event id a is later than b, or b is NULL)
 *     and metadata_is(metadata, key, value) exist in both;
 *   - ledger_begin() takes the ledger's one write lock, so that a
 *     transaction's reads and writes see no other writer in between, as
 *     SQLite's BEGIN IMMEDIATE does; single statements outside one are
 *     atomic on their own.
 * Each engine keeps its own migrations, step for step the same schema. */

#include <stddef.h>
#include <stdint.h>

/* A run that still counts against its owner's quota and its thread, as a
 * literal: a partial index over it (migration 12) is used only by a
 * query whose WHERE holds the same term. The names are run.c's. */
#define LEDGER_ACTIVE_SQL "status IN ('queued', 'running', 'input_required')"

struct ledger;
struct ledger_query;

enum ledger_step { LEDGER_ROW, LEDGER_DONE, LEDGER_ERROR };

struct ledger_engine {
    const char *name;
    struct ledger *(*open)(const char *where, char *err, size_t errsize);
    void (*close)(struct ledger *db);
    /* Statements without parameters or rows: 0, or -1. */
    int (*exec)(struct ledger *db, const char *sql);
    int (*begin)(struct ledger *db);
    int (*commit)(struct ledger *db);
    void (*rollback)(struct ledger *db);
    /* Lets go of a transaction a caller left open: -1 when there was one. */
    int (*settle)(struct ledger *db);
    const char *(*error)(struct ledger *db);
    /* The schema version (0 for an empty database), or -1; and setting it
     * inside the migration's transaction. */
    int (*version)(struct ledger *db);
    int (*set_version)(struct ledger *db, int version);
    const char *const *migrations;
    int n_migrations;

    struct ledger_query *(*prepare)(struct ledger *db, const char *sql);
    void (*release)(struct ledger_query *q);
    int (*params)(struct ledger_query *q);
    /* Binding fails the query (not the call): its step answers an error. */
    void (*bind_text)(struct ledger_query *q, int i, const char *text);
    void (*bind_int)(struct ledger_query *q, int i, int64_t v);
    void (*bind_null)(struct ledger_query *q, int i);
    enum ledger_step (*step)(struct ledger_query *q);
    /* Rows the last step's statement changed. */
    int (*changes)(struct ledger_query *q);
    int (*is_null)(struct ledger_query *q, int col);
    /* NULL for SQL NULL; valid until the next step or release. */
    const char *(*text)(struct ledger_query *q, int col);
    int64_t (*integer)(struct ledger_query *q, int col);
    /* The column holds an integer (not text, not NULL). */
    int (*is_integer)(struct ledger_query *q, int col);
    int (*columns)(struct ledger_query *q);
    const char *(*column_name)(struct ledger_query *q, int col);
};

/* Every connection and query starts with its engine. */
struct ledger {
    const struct ledger_engine *engine;
};
struct ledger_query {
    struct ledger *db;
};

extern const struct ledger_engine ledger_sqlite;
extern const struct ledger_engine ledger_postgresql;

/* The engine a database setting names. */
const struct ledger_engine *ledger_engine_for(const char *database);

#endif
