#ifndef OPSTREAM_LOG_H
#define OPSTREAM_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the program name shown in every line, the most verbose level kept,
 * and the form of a line: text, or (json) one JSON object with time,
 * level, program, pid, msg and, where known, run_id, owner and
 * request_id. */
void log_init(const char *prog, enum log_level max, int json);
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line about run run_id: "run ID: message" as text, its run_id field
 * as JSON. */
void log_run(enum log_level level, const char *run_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What this thread's lines are about until it says otherwise (a
 * request): each NULL leaves that field as it is, "" clears it. */
void log_context(const char *request_id, const char *owner, const char *run_id);

/* A run this process works on outside a request (a worker's job): its
 * owner and the request that made it go into its lines, until it is
 * forgotten (owner NULL). */
void log_run_known(const char *run_id, const char *owner, const char *request_id);
/* The request this thread's lines are about ("" for none). */
const char *log_request_id(void);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
