/* The config file: "key = value" lines, '#' comments. Keys and their bounds
 * are one table, so a new key is one row. */
#include "config.h"
#include "json_depth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/opstream"
#endif
#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR "/usr/libexec/opstream"
#endif

enum kind { K_STR, K_INT, K_LONG, K_BOOL, K_AUTH, K_LEVEL, K_RANGE, K_LOG_FORMAT, K_METRICS };

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;  /* for strings */
    long min, max; /* for numbers */
};

#define STR(f) K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0
#define NUM(k, f, lo, hi) k, offsetof(struct config, f), 0, lo, hi

static const struct key keys[] = {
    {"redis", STR(redis)},
    {"redis_password", STR(redis_password)},
    {"redis_db", NUM(K_INT, redis_db, 0, 1000)},
    {"database", STR(database)},
    {"jobtypes_dir", STR(jobtypes_dir)},
    {"job_path", STR(job_path)},
    {"base_path", STR(base_path)},
    {"keepalive_ms", NUM(K_INT, keepalive_ms, 100, 3600000)},
    {"retry_ms", NUM(K_INT, retry_ms, 100, 600000)},
    {"body_max_bytes", NUM(K_LONG, body_max_bytes, 1024, 1L << 30)},
    {"auth", K_AUTH, offsetof(struct config, auth), 0, 0, 0},
    {"trust_remote_user", NUM(K_BOOL, trust_remote_user, 0, 1)},
    {"link_ttl_s", NUM(K_INT, link_ttl_s, 10, 30 * 86400)},
    {"max_requests", NUM(K_INT, max_requests, 1, 100000)},
    {"max_streams", NUM(K_INT, max_streams, 0, 1000000)},
    {"request_threads", NUM(K_INT, request_threads, 1, 1024)},
    {"request_timeout_ms", NUM(K_INT, request_timeout_ms, 100, 600000)},
    {"responder_processes", NUM(K_INT, responder_processes, 0, 64)},
    {"stream_maxlen", NUM(K_INT, stream_maxlen, 10, 100000000)},
    {"retention_s", NUM(K_INT, retention_s, 1, 365 * 86400)},
    {"worker_poll_ms", NUM(K_INT, worker_poll_ms, 10, 60000)},
    {"worker_jobs", NUM(K_INT, worker_jobs, 1, 10000)},
    {"lease_ms", NUM(K_INT, lease_ms, 300, 3600000)},
    {"shutdown_grace_ms", NUM(K_INT, shutdown_grace_ms, 0, 3600000)},
    {"kill_grace_ms", NUM(K_INT, kill_grace_ms, 0, 600000)},
    {"job_line_max_bytes", NUM(K_INT, job_line_max_bytes, 256, 16 << 20)},
    {"job_max_events", NUM(K_LONG, job_max_events, 1, 1L << 40)},
    {"job_max_output_bytes", NUM(K_LONG, job_max_output_bytes, 1024, 1L << 40)},
    {"max_active_runs_per_owner", NUM(K_INT, max_active_runs_per_owner, 0, 100000000)},
    {"fcgi_socket_group", STR(fcgi_socket_group)},
    {"list_max_bytes", NUM(K_LONG, list_max_bytes, 1024, 1L << 30)},
    {"job_user", STR(job_user)},
    /* Two longs, min then max: "MIN-MAX", or empty for none. */
    {"job_uid_range", NUM(K_RANGE, job_uid_min, 1, 4294967294L)},
    {"json_max_depth", NUM(K_INT, json_max_depth, 2, JSON_DEPTH_LIMIT)},
    {"webhook_allow", STR(webhook_allow)},
    {"mcp_allowed_hosts", STR(mcp_allowed_hosts)},
    {"webhook_timeout_ms", NUM(K_INT, webhook_timeout_ms, 100, 120000)},
    {"webhook_backoff_ms", NUM(K_INT, webhook_backoff_ms, 10, 3600000)},
    {"webhook_max_attempts", NUM(K_INT, webhook_max_attempts, 1, 100)},
    {"log_level", K_LEVEL, offsetof(struct config, log_level),
     sizeof(((struct config *)0)->log_level), 0, 0},
    {"log_format", K_LOG_FORMAT, offsetof(struct config, log_json), 0, 0, 0},
    {"metrics_access", K_METRICS, offsetof(struct config, metrics_access), 0, 0, 0},
};

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->redis, sizeof cfg->redis, "unix:%s/lib/opstream/redis.sock",
             LOCALSTATEDIR);
    snprintf(cfg->database, sizeof cfg->database, "%s/lib/opstream/opstream.db",
             LOCALSTATEDIR);
    snprintf(cfg->jobtypes_dir, sizeof cfg->jobtypes_dir, "%s/jobtypes",
             PKGDATADIR);
    snprintf(cfg->job_path, sizeof cfg->job_path, "%s", PKGLIBEXECDIR);
    snprintf(cfg->base_path, sizeof cfg->base_path, "/api");
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
    cfg->keepalive_ms = 15000;
    cfg->retry_ms = 2000;
    cfg->body_max_bytes = 1L << 20;
    cfg->auth = AUTH_TOKEN;
    cfg->link_ttl_s = 3600;
    cfg->max_requests = 4096;
    cfg->max_streams = 20000;
    cfg->request_threads = 4;
    cfg->request_timeout_ms = 5000;
    cfg->responder_processes = 2;
    cfg->stream_maxlen = 100000;
    cfg->retention_s = 86400;
    cfg->worker_poll_ms = 1000;
    cfg->worker_jobs = 64;
    cfg->lease_ms = 10000;
    cfg->shutdown_grace_ms = 30000;
    cfg->kill_grace_ms = 5000;
    cfg->job_line_max_bytes = 64 * 1024;
    cfg->json_max_depth = 64;
    snprintf(cfg->job_user, sizeof cfg->job_user, "nobody");
    /* 0x70000000 on: above systemd's container ranges, below the sign bit. */
    cfg->job_uid_min = 1879048192;
    cfg->job_uid_max = 1879048192 + 65535;
    cfg->max_active_runs_per_owner = 1000;
    cfg->list_max_bytes = 4L << 20;
    cfg->job_max_events = 100000;
    cfg->job_max_output_bytes = 64L << 20;
    cfg->webhook_timeout_ms = 10000;
    cfg->webhook_backoff_ms = 2000;
    cfg->webhook_max_attempts = 8;
}

const char *config_default_path(void)
{
    const char *env = getenv("OPSTREAM_CONF");
    return (env != NULL && env[0] != '\0') ? env : SYSCONFDIR "/opstream/opstream.conf";
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static const char *set_key(struct config *cfg, const struct key *k, const char *v)
{
    char *field = (char *)cfg + k->offset;
    char *end;
    long n;
    switch (k->kind) {
    case K_STR:
    case K_LEVEL:
        if (strlen(v) >= k->size)
            return "value too long";
        if (k->kind == K_LEVEL && strcmp(v, "error") && strcmp(v, "warn") &&
            strcmp(v, "info") && strcmp(v, "debug"))
            return "must be error, warn, info or debug";
        memcpy(field, v, strlen(v) + 1);
        return NULL;
    case K_INT:
    case K_LONG:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0')
            return "not a whole number";
        if (n < k->min || n > k->max)
            return "out of range";
        if (k->kind == K_INT)
            *(int *)(void *)field = (int)n;
        else
            *(long *)(void *)field = n;
        return NULL;
    case K_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
            *(int *)(void *)field = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
            *(int *)(void *)field = 0;
        else
            return "must be yes or no";
        return NULL;
    case K_RANGE: {
        long *range = (long *)(void *)field;
        if (v[0] == '\0') {
            range[0] = range[1] = 0;
            return NULL;
        }
        errno = 0;
        long lo = strtol(v, &end, 10), hi;
        if (errno != 0 || end == v || *end != '-')
            return "must be MIN-MAX, or empty";
        const char *rest = end + 1;
        hi = strtol(rest, &end, 10);
        if (errno != 0 || end == rest || *end != '\0')
            return "must be MIN-MAX, or empty";
        if (lo < k->min || hi > k->max || lo > hi)
            return "out of range";
        range[0] = lo;
        range[1] = hi;
        return NULL;
    }
    case K_LOG_FORMAT:
        if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
            return "must be text or json";
        cfg->log_json = strcmp(v, "json") == 0;
        return NULL;
    case K_METRICS:
        if (!strcmp(v, "loopback"))
            cfg->metrics_access = METRICS_LOOPBACK;
        else if (!strcmp(v, "token"))
            cfg->metrics_access = METRICS_TOKEN;
        else if (!strcmp(v, "off"))
            cfg->metrics_access = METRICS_OFF;
        else
            return "must be loopback, token or off";
        return NULL;
    case K_AUTH:
        if (!strcmp(v, "token"))
            cfg->auth = AUTH_TOKEN;
        else if (!strcmp(v, "none"))
            cfg->auth = AUTH_NONE;
        else
            return "must be token or none";
        return NULL;
    }
    return "unknown kind";
}

static const char *check_all(const struct config *cfg)
{
    if (cfg->base_path[0] != '/' ||
        (strlen(cfg->base_path) > 1 && cfg->base_path[strlen(cfg->base_path) - 1] == '/'))
        return "base_path: must start with / and not end with /";
    if (strncmp(cfg->redis, "sentinel://", 11) == 0) {
        const char *slash = strchr(cfg->redis + 11, '/');
        if (slash == NULL || slash[1] == '\0' || strchr(cfg->redis + 11, ':') == NULL ||
            strchr(cfg->redis + 11, ':') > slash)
            return "redis: sentinel:// wants HOST:PORT[,HOST:PORT...]/MASTER_NAME";
    } else if (strncmp(cfg->redis, "unix:", 5) != 0 && strchr(cfg->redis, ':') == NULL) {
        return "redis: must be unix:/path, host:port or sentinel://HOST:PORT,.../NAME";
    }
    return NULL;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errsize, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errsize, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *val = trim(eq + 1);
        const struct key *k = NULL;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strcmp(keys[i].name, key) == 0)
                k = &keys[i];
        const char *why = k == NULL ? "unknown key" : set_key(cfg, k, val);
        if (why != NULL) {
            snprintf(err, errsize, "%s:%d: %s: %s", path, lineno, key, why);
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0) {
        const char *why = check_all(cfg);
        if (why != NULL) {
            snprintf(err, errsize, "%s: %s", path, why);
            rc = -1;
        }
    }
    return rc;
}
