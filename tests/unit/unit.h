#ifndef OPSTREAM_UNIT_H
#define OPSTREAM_UNIT_H

/* What the unit tests share: a memory sink, a scratch directory, a fake
 * request, and one way to run a file's tests. */
#include <check.h>
#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "out.h"
#include "request.h"
#include "run.h"

/* Everything written to o lands in mem (reset by mem_reset). */
extern char mem[262144];
extern struct membuf mb;
extern struct out o;
void mem_reset(void);

/* A fresh directory per test (setup_tmp/teardown_tmp as a fixture). */
extern char tmpdir[64];
const char *write_tmp(const char *name, const char *text);
void setup_tmp(void);
void teardown_tmp(void);
/* A fresh, empty ledger named name for store_open: a SQLite file in
 * tmpdir, or with OPSTREAM_UNIT_LEDGER=postgresql a database of its own
 * on the PostgreSQL server PGHOST and PGPORT name. */
void test_ledger(char *out, size_t size, const char *name);

/* Parses test JSON, failing the test on a typo. */
json_t *J(const char *text);

/* Puts a run of type countdown straight into the ledger with any status,
 * as no transition would; its id goes to id. */
struct store;
void put_run(struct store *st, const char *owner, enum run_status s, char id[ID_SIZE]);

/* The CGI variables of a fake request. */
#define FAKE_VARS 12
struct fake_env {
    const char *names[FAKE_VARS];
    const char *values[FAKE_VARS];
    const char *body;      /* what read() gives, or NULL */
    size_t body_off;
};

/* A request on e whose answer goes to mem, under cfg (defaults when
 * NULL). */
void fake_request(struct request *r, struct fake_env *e, const struct config *cfg);

/* Runs the tests, each inside setup and teardown; the exit status make
 * check reads. */
int unit_main_with(const char *name, void (*setup)(void), void (*teardown)(void),
                   const TTest *const tests[], size_t n);

/* A test file's main: its suite name and its tests. */
#define UNIT_MAIN(name, ...) UNIT_MAIN_WITH(name, setup_tmp, teardown_tmp, __VA_ARGS__)
#define UNIT_MAIN_WITH(name, setup, teardown, ...)                              \
    int main(void)                                                              \
    {                                                                           \
        const TTest *tests_[] = {__VA_ARGS__};                                  \
        return unit_main_with(name, setup, teardown, tests_,                    \
                              sizeof tests_ / sizeof tests_[0]);                \
    }

#endif
