/* Untrusted input, read defensively: every length is checked against a
 * fixed size before it is copied. */
#include "request.h"
#include "json_depth.h"

#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

const char *request_env(const struct request *req, const char *name)
{
    return req->getenv(req->ctx, name);
}

int request_accepts(const struct request *req, const char *type)
{
    const char *a = request_env(req, "HTTP_ACCEPT");
    return a != NULL && strstr(a, type) != NULL;
}

int request_listed(const char *list, const char *name, size_t len)
{
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0)
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

int request_addr_loopback(const char *a)
{
    if (a == NULL)
        return 0;
    if (strncmp(a, "::ffff:", 7) == 0)
        a += 7;
    return strcmp(a, "::1") == 0 || (strncmp(a, "127.", 4) == 0 && strspn(a, "0123456789.") == strlen(a));
}

int request_from_loopback(const struct request *req)
{
    return request_addr_loopback(request_env(req, "REMOTE_ADDR"));
}

/* uri[0, at) is the base the client used, uri[at, len) the API path.
 * The base goes into Location headers: a control byte (a CR or LF a
 * server let through) refuses the request rather than reach a header. */
static int request_split(struct request *req, const char *uri, size_t at, size_t len)
{
    if (len - at >= sizeof req->path || at >= sizeof req->base)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)uri[i] < 0x20 || uri[i] == 0x7f)
            return -1;
    memcpy(req->base, uri, at);
    req->base[at] = '\0';
    memcpy(req->path, uri + at, len - at);
    req->path[len - at] = '\0';
    return 0;
}

int request_init(struct request *req)
{
    const char *m = request_env(req, "REQUEST_METHOD");
    const char *uri = request_env(req, "REQUEST_URI");
    const char *q = request_env(req, "QUERY_STRING");
    const char *cl = request_env(req, "CONTENT_LENGTH");
    req->method = m ? m : "GET";
    req->query = q ? q : "";
    req->content_length = -1;
    if (cl != NULL && cl[0] != '\0') {
        char *end;
        long n = strtol(cl, &end, 10);
        req->content_length = (*end == '\0' && n >= 0) ? n : -1;
    }
    if (uri == NULL)
        return -1;
    size_t len = strcspn(uri, "?");
    size_t blen = strlen(req->cfg->base_path);
    if (strcmp(req->cfg->base_path, "/") == 0)
        blen = 0;
    if (len >= blen && strncmp(uri, req->cfg->base_path, blen) == 0 &&
        (len == blen || uri[blen] == '/'))
        return request_split(req, uri, blen, len);
    /* Not under base_path: a server that names the script itself (CGI's
     * /cgi-bin/opstream.cgi/v1/runs, an alias or a rewrite) says where the
     * API begins with PATH_INFO, the end of the URI. */
    const char *pi = request_env(req, "PATH_INFO");
    size_t plen = pi ? strlen(pi) : 0;
    if (plen == 0 || pi[0] != '/' || plen > len || strncmp(uri + len - plen, pi, plen) != 0)
        return -1;
    return request_split(req, uri, len - plen, len);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int decode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]);
            int l = hexval(s[i + 2]);
            /* %00 would cut the value short: refused, not truncated. */
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int request_query(const struct request *req, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p != '\0') {
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == nlen && strncmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : p + plen;
            return decode(v, (size_t)(p + plen - v), out, size);
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return 1;
}

int request_query_int(const struct request *req, const char *name, long min,
                      long max, long dflt, long *out)
{
    char buf[24];
    int q = request_query(req, name, buf, sizeof buf);
    if (q == 1) {
        *out = dflt;
        return 0;
    }
    char *end;
    long n = q == 0 ? strtol(buf, &end, 10) : 0;
    if (q < 0 || buf[0] == '\0' || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int request_query_limit(const struct request *req, long max, long dflt, long *out)
{
    char buf[24];
    int q = request_query(req, "limit", buf, sizeof buf);
    if (q == 1) {
        *out = dflt;
        return 0;
    }
    size_t digits = q == 0 ? strspn(buf, "0123456789") : 0;
    if (digits == 0 || buf[digits] != '\0')
        return -1;
    /* 23 digits at most (buf's size): any that many past max is capped. */
    long n = digits > 18 ? LONG_MAX : strtol(buf, NULL, 10);
    if (n < 1)
        return -1;
    *out = n > max ? max : n;
    return 0;
}

enum body_status request_json_body(struct request *req, json_t **out,
                                   char *why, size_t whysize)
{
    long max = req->cfg->body_max_bytes;
    *out = NULL;
    if (req->content_length > max)
        return BODY_TOO_LARGE;
    size_t cap = req->content_length >= 0 ? (size_t)req->content_length + 1
                                          : (size_t)max + 1;
    char *buf = malloc(cap);
    if (buf == NULL)
        return BODY_TOO_LARGE;
    size_t len = 0;
    for (;;) {
        int n = req->read(req->ctx, buf + len, cap - len);
        if (n < 0 || (n == 0 && req->content_length >= 0 && len < (size_t)req->content_length)) {
            free(buf);
            return BODY_INCOMPLETE;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap)
            break;
    }
    if (len > (size_t)max) {
        free(buf);
        return BODY_TOO_LARGE;
    }
    if (len == 0) {
        free(buf);
        return BODY_MISSING;
    }
    if (json_too_deep(buf, len, req->cfg->json_max_depth)) {
        free(buf);
        return BODY_TOO_DEEP;
    }
    json_error_t je;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (*out == NULL) {
        snprintf(why, whysize, "line %d, column %d: %s", je.line, je.column, je.text);
        return BODY_BAD_JSON;
    }
    return BODY_OK;
}
