/* opstream: the command line. A table of subcommands, each a function. */
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "event.h"
#include "json_depth.h"
#include "protocol.h"
#include "runs.h"
#include "startup.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cli {
    struct config cfg;
    struct store *st;
};

static int cmd_init(struct cli *c, int argc, char **argv)
{
    (void)argc, (void)argv;
    char secret[HASH_HEX_SIZE];
    if (store_link_secret(c->st, secret) != 0) {
        fprintf(stderr, "opstream: cannot write the database\n");
        return 1;
    }
    /* A connection string may hold a password: it is not printed. */
    if (strcmp(store_engine(c->st), "sqlite") == 0)
        printf("database ready: %s\n", c->cfg.database);
    else
        printf("database ready: the %s ledger\n", store_engine(c->st));
    return 0;
}

/* Moves a SQLite ledger into the configured one (PostgreSQL, for more
 * than one host): every run, event, token and key, at once or not at all. */
static int cmd_migrate_ledger(struct cli *c, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: opstream migrate-ledger SQLITE_FILE\n");
        return 2;
    }
    char err[CONFIG_ERR_SIZE];
    if (access(argv[0], R_OK) != 0) {
        fprintf(stderr, "opstream: %s: %s\n", argv[0], strerror(errno));
        return 1;
    }
    struct store *from = store_open(argv[0], err, sizeof err);
    if (from == NULL) {
        fprintf(stderr, "opstream: %s\n", err);
        return 1;
    }
    int r = store_copy(c->st, from, err, sizeof err);
    store_close(from);
    if (r != 0) {
        fprintf(stderr, "opstream: nothing copied: %s\n", err);
        return 1;
    }
    printf("ledger copied from %s\n", argv[0]);
    return 0;
}

static int print_token(void *ctx, const char *id, const char *owner, const char *name,
                       int64_t created_at)
{
    (void)ctx;
    char ts[CLOCK_RFC3339_SIZE];
    clock_rfc3339(created_at, ts, sizeof ts);
    printf("%-12s  %-16s  %-16s  %s\n", id, owner, name, ts);
    return 0;
}

static int token_list(struct cli *c)
{
    printf("%-12s  %-16s  %-16s  %s\n", "ID", "OWNER", "NAME", "CREATED");
    return store_token_list(c->st, print_token, NULL) == 0 ? 0 : 1;
}

/* The token goes, with every link made for its owner; open streams are
 * told through Redis and end within keepalive_ms. */
static int token_revoke(struct cli *c, const char *id)
{
    char owner[OWNER_SIZE], err[CONFIG_ERR_SIZE];
    int r = store_token_revoke(c->st, id, owner);
    if (r != 0) {
        fprintf(stderr, r == 1 ? "opstream: no token %s\n" : "opstream: cannot write the database\n", id);
        return 1;
    }
    struct bus *b = bus_connect(&c->cfg, 5000, err, sizeof err);
    int told = b != NULL && bus_revoked(b) == 0;
    bus_free(b);
    printf("revoked %s of %s\n", id, owner);
    if (!told)
        fprintf(stderr, "opstream: the event bus was not reachable: streams opened with it "
                        "end at their next reconnect, not within keepalive_ms\n");
    return 0;
}

/* A run's producer credential: made again from the owner's link key
 * each time (nothing is stored), so it ends when the owner's links do. */
static int token_for_run(struct cli *c, const char *run_id)
{
    struct run r;
    if (!crypto_id_valid(run_id) || store_run_get(c->st, run_id, &r) != 0) {
        fprintf(stderr, "opstream: no run %s\n", run_id);
        return 1;
    }
    char secret[HASH_HEX_SIZE], key[HASH_HEX_SIZE], token[PRODUCER_TOKEN_SIZE];
    int64_t epoch;
    int ok = store_link_secret(c->st, secret) == 0 && store_owner_epoch(c->st, r.owner, &epoch) == 0 &&
             crypto_owner_key(secret, r.owner, epoch, key) == 0 &&
             auth_producer_token(key, r.id, token) == 0;
    run_clear(&r);
    if (!ok) {
        fprintf(stderr, "opstream: cannot read the link secret\n");
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

static int cmd_token(struct cli *c, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return token_list(c);
    if (argc == 2 && strcmp(argv[0], "revoke") == 0)
        return token_revoke(c, argv[1]);
    if (argc == 3 && strcmp(argv[0], "create") == 0 && strcmp(argv[1], "--run") == 0)
        return token_for_run(c, argv[2]);
    if (argc < 2 || strcmp(argv[0], "create") != 0 || argv[1][0] == '-') {
        fprintf(stderr, "usage: opstream token create OWNER [NAME] | token create --run RUN_ID | "
                        "token list | token revoke ID\n");
        return 2;
    }
    const char *owner = argv[1];
    if (strlen(owner) == 0 || strlen(owner) >= OWNER_SIZE) {
        fprintf(stderr, "opstream: OWNER must be 1 to %d bytes\n", OWNER_SIZE - 1);
        return 2;
    }
    char token[TOKEN_SIZE], hash[HASH_HEX_SIZE];
    crypto_new_token(token);
    crypto_hash_text(token, hash);
    if (store_token_insert(c->st, hash, owner, argc > 2 ? argv[2] : "", clock_now_ms()) != 0) {
        fprintf(stderr, "opstream: cannot store the token\n");
        return 1;
    }
    /* Shown once; only its hash is kept. */
    printf("%s\n", token);
    return 0;
}

/* The key receivers check webhooks' Opstream-Signature with. */
static int cmd_webhook_secret(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "usage: opstream webhook-secret\n");
        return 2;
    }
    char secret[HASH_HEX_SIZE];
    if (store_webhook_secret(c->st, secret) != 0) {
        fprintf(stderr, "opstream: cannot read the database\n");
        return 1;
    }
    printf("%s\n", secret);
    return 0;
}

static int print_run(void *ctx, struct run *r)
{
    (void)ctx;
    char ts[CLOCK_RFC3339_SIZE];
    clock_rfc3339(r->created_at, ts, sizeof ts);
    printf("%s  %-10s  %-16s  %-12s  %s\n", r->id, run_status_name(r->status), r->type, r->owner, ts);
    return 0;
}

static int cmd_runs(struct cli *c, int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("%-22s  %-10s  %-16s  %-12s  %s\n", "ID", "STATUS", "TYPE", "OWNER", "CREATED");
    struct run_filter all = {.limit = 200};
    return store_run_list(c->st, &all, print_run, NULL) == 0 ? 0 : 1;
}

/* For shell jobs: the same events as stdout lines, from any process. */
static int cmd_publish(struct cli *c, int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: opstream publish RUN_ID TYPE JSON\n");
        return 2;
    }
    const char *run_id = argv[0], *name = argv[1];
    if (!protocol_publishable(name)) {
        fprintf(stderr, "opstream: %s: not an event name a job may publish\n", name);
        return 2;
    }
    if (json_too_deep(argv[2], strlen(argv[2]), c->cfg.json_max_depth)) {
        fprintf(stderr, "opstream: JSON nested deeper than %d levels\n", c->cfg.json_max_depth);
        return 2;
    }
    json_error_t je;
    json_t *data = json_loads(argv[2], 0, &je);
    if (!json_is_object(data)) {
        fprintf(stderr, "opstream: JSON must be an object%s%s\n", data ? "" : ": ", data ? "" : je.text);
        json_decref(data);
        return 2;
    }
    struct run r;
    int rc = 1;
    if (!crypto_id_valid(run_id) || store_run_get(c->st, run_id, &r) != 0) {
        fprintf(stderr, "opstream: no run %s\n", run_id);
        json_decref(data);
        return 1;
    }
    char err[CONFIG_ERR_SIZE], id[EVENT_ID_SIZE];
    struct runs_ctx ctx = {.cfg = &c->cfg, .st = c->st};
    if (run_status_terminal(r.status)) {
        fprintf(stderr, "opstream: run %s has ended (%s)\n", run_id, run_status_name(r.status));
    } else if ((ctx.bus = bus_connect(&c->cfg, 5000, err, sizeof err)) == NULL) {
        fprintf(stderr, "opstream: %s\n", err);
    } else if (runs_emit(&ctx, run_id, name, data, id) != 0) {
        fprintf(stderr, "opstream: the event could not be written\n");
    } else {
        printf("%s\n", id);
        rc = 0;
    }
    bus_free(ctx.bus);
    run_clear(&r);
    json_decref(data);
    return rc;
}

static int cmd_gc(struct cli *c, int argc, char **argv)
{
    char *end = NULL;
    long long age = argc == 2 && strcmp(argv[0], "--archives-older-than") == 0
                        ? strtoll(argv[1], &end, 10) : -1;
    if (age < 0 || end == NULL || *end != '\0') {
        fprintf(stderr, "usage: opstream gc --archives-older-than SECONDS\n");
        return 2;
    }
    int64_t now = clock_now_ms();
    int n = store_archives_delete(c->st, now - age * 1000, now);
    if (n < 0) {
        fprintf(stderr, "opstream: cannot write the database\n");
        return 1;
    }
    printf("deleted the archived events of %d runs\n", n);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(struct cli *c, int argc, char **argv);
    const char *help;
} commands[] = {
    {"init", cmd_init, "create and migrate the database"},
    {"migrate-ledger", cmd_migrate_ledger, "SQLITE_FILE: copy a SQLite ledger into the configured\n"
                                           "           (empty) one, such as PostgreSQL"},
    {"token", cmd_token, "token create OWNER [NAME]: make an API token (printed once);\n"
                         "           token create --run RUN_ID: the run's producer credential;\n"
                         "           token list; token revoke ID (also ends its owner's links)"},
    {"runs", cmd_runs, "list the newest runs of every owner"},
    {"webhook-secret", cmd_webhook_secret, "print the key webhooks are signed with (HMAC-SHA256)"},
    {"publish", cmd_publish, "RUN_ID TYPE JSON: add an event to a running run (for shell jobs)"},
    {"gc", cmd_gc, "--archives-older-than SECONDS: delete old runs' archived events"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: opstream [-c CONFIG] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n  -c FILE  config file (default: $OPSTREAM_CONF or %s)\n"
               "  --help, --version\n", config_default_path());
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        enum startup_flag f = startup_flag("opstream", argc, argv, &i, &conf, usage);
        if (f == FLAG_EXIT)
            return 0;
        if (f == FLAG_OTHER) {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    struct cli c;
    char err[CONFIG_ERR_SIZE];
    if (startup("opstream", conf, &c.cfg) != 0)
        return 1;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        if (strcmp(argv[i], commands[k].name) != 0)
            continue;
        if ((c.st = store_open(c.cfg.database, err, sizeof err)) == NULL) {
            fprintf(stderr, "opstream: %s\n", err);
            return 1;
        }
        int rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
        store_close(c.st);
        return rc;
    }
    fprintf(stderr, "opstream: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
