#ifndef OPSTREAM_REPLY_H
#define OPSTREAM_REPLY_H

#include <jansson.h>

#include "request.h"

/* Every answer goes through here. body is stolen. extra_headers is a
 * block of complete "Name: value\r\n" lines, or NULL. */
int reply_json(struct request *req, int status, json_t *body, const char *extra_headers);
int reply_empty(struct request *req, int status, const char *extra_headers);
/* The Retry-After of a 503 that names none (seconds). */
#define REPLY_RETRY_AFTER_S "1"
/* RFC 9457 problem+json. code is stable and machine-readable; detail is
 * for people and never carries paths, SQL or internals. */
int reply_problem(struct request *req, int status, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with extra headers, such as Allow on a 405. */
int reply_problem_h(struct request *req, int status, const char *extra_headers,
                    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
const char *reply_reason(int status);

#endif
