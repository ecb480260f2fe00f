/* Response writing: status line, headers, JSON bodies, problems. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"},
    {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"},
    {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"},
    {409, "Conflict"}, {413, "Content Too Large"}, {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"}, {429, "Too Many Requests"}, {500, "Internal Server Error"},
    {503, "Service Unavailable"},
};

const char *reply_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

static int write_body(struct request *req, int status, const char *ctype,
                      const char *body, const char *extra)
{
    req->status = status;
    if (out_printf(&req->out, "Status: %d %s\r\n", status, reply_reason(status)) != 0 ||
        out_printf(&req->out, "Content-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\n", ctype, strlen(body)) != 0 ||
        (extra && out_puts(&req->out, extra) != 0) ||
        out_puts(&req->out, "\r\n") != 0 || out_puts(&req->out, body) != 0)
        return -1;
    return out_flush(&req->out);
}

int reply_json(struct request *req, int status, json_t *body, const char *extra)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return reply_problem(req, 500, "internal", "the answer could not be encoded");
    int r = write_body(req, status, "application/json", text, extra);
    free(text);
    return r;
}

int reply_empty(struct request *req, int status, const char *extra)
{
    req->status = status;
    if (out_printf(&req->out, "Status: %d %s\r\n", status, reply_reason(status)) != 0 ||
        (extra && out_puts(&req->out, extra) != 0) || out_puts(&req->out, "\r\n") != 0)
        return -1;
    return out_flush(&req->out);
}

static int problem(struct request *req, int status, const char *extra,
                   const char *code, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    char type[160];
    snprintf(type, sizeof type, "urn:opstream:problem:%s", code);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title",
                          reply_reason(status), "status", status, "detail",
                          detail, "code", code);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (text == NULL)
        return -1;
    if (extra == NULL && status == 401)
        extra = "WWW-Authenticate: Bearer\r\n";
    /* Every 503 is a part of the stack being away for a moment (Redis,
     * the ledger, a full house): a client may come back soon. */
    if (extra == NULL && status == 503)
        extra = "Retry-After: " REPLY_RETRY_AFTER_S "\r\n";
    int r = write_body(req, status, "application/problem+json", text, extra);
    free(text);
    return r;
}

int reply_problem(struct request *req, int status, const char *code,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = problem(req, status, NULL, code, fmt, ap);
    va_end(ap);
    return r;
}

int reply_problem_h(struct request *req, int status, const char *extra,
                    const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = problem(req, status, extra, code, fmt, ap);
    va_end(ap);
    return r;
}
