#ifndef OPSTREAM_CONFIG_H
#define OPSTREAM_CONFIG_H

#include <limits.h>
#include <stddef.h>

#define CONFIG_PATH_SIZE 512
#define CONFIG_ERR_SIZE 768

enum auth_mode { AUTH_TOKEN, AUTH_NONE };
/* Who may read GET /v1/metrics. */
enum metrics_access { METRICS_LOOPBACK, METRICS_TOKEN, METRICS_OFF };

struct config {
    char redis[CONFIG_PATH_SIZE];          /* "unix:/path" or "host:port" */
    char redis_password[256];
    int redis_db;
    char database[CONFIG_PATH_SIZE];       /* SQLite file */
    char jobtypes_dir[CONFIG_PATH_SIZE];   /* job type files (*.json) */
    char job_path[CONFIG_PATH_SIZE];       /* where relative commands live */
    char base_path[128];                   /* API mount point, e.g. /api */
    int keepalive_ms;
    int retry_ms;                          /* SSE reconnect hint */
    long body_max_bytes;
    enum auth_mode auth;
    int trust_remote_user;
    int link_ttl_s;                        /* signed events links */
    int max_requests;                      /* concurrent requests per responder */
    int max_streams;                       /* streams in one responder's hub; 0: no hub */
    int request_threads;                   /* a responder's pool for requests */
    int request_timeout_ms;                /* to read a request's head and body */
    int responder_processes;               /* forked and kept alive by opstream.fcgi; 0: serve alone */
    int stream_maxlen;                     /* live events kept per run in Redis */
    int retention_s;                       /* a finished run's stream in Redis */
    int worker_poll_ms;
    int worker_jobs;                       /* runs one worker executes at once */
    int lease_ms;                          /* a running run's lease, renewed by its worker */
    int shutdown_grace_ms;                 /* on SIGTERM, how long runs may finish */
    int kill_grace_ms;
    int job_line_max_bytes;                /* longer job output lines are cut, flagged */
    long job_max_events;                   /* output lines (events) one run may write */
    long job_max_output_bytes;             /* stdout and stderr bytes one run may write */
    int max_active_runs_per_owner;         /* queued, running or waiting; 0: no bound */
    char fcgi_socket_group[64];            /* group of a unix socket made with -s; "" keeps ours */
    long list_max_bytes;                   /* of one page of GET /v1/runs */
    char job_user[64];                     /* jobs of a root worker run as this user */
    long job_uid_min, job_uid_max;         /* or each as a uid of its own from this range; 0: none */
    int json_max_depth;                    /* nesting allowed in JSON from clients and jobs */
    char log_level[16];
    int log_json;                          /* log_format = json: a JSON object per line */
    char webhook_allow[1024];              /* URL prefixes webhooks may reach even when internal */
    char mcp_allowed_hosts[1024];          /* Host names the MCP endpoint answers; "": see api_mcp.c */
    int webhook_timeout_ms;                /* one delivery attempt */
    int webhook_backoff_ms;                /* the wait after a first failed attempt; doubled after each */
    int webhook_max_attempts;              /* then the webhook is given up */
    enum metrics_access metrics_access;    /* loopback (default), token or off */
};

void config_defaults(struct config *cfg);
/* Reads "key = value" lines over the defaults. On error returns -1 with
 * "FILE:LINE: key: why" in err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errsize);
/* The file named by -c, else $OPSTREAM_CONF, else the installed default. */
const char *config_default_path(void);

#endif
