/* Server-Sent Events framing (WHATWG HTML, "Server-sent events"). Ids and
 * names are validated upstream; this layer refuses any CR or LF in them
 * anyway, and splits data on line breaks, so no input can forge a field. */
#include "sse.h"

#include <string.h>

static int has_newline(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

int sse_headers(struct out *o, const char *extra)
{
    return out_puts(o, "Status: 200 OK\r\n"
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-cache\r\n"
                       "X-Accel-Buffering: no\r\n") != 0 ||
           out_puts(o, extra != NULL ? extra : "") != 0 || out_puts(o, "\r\n") != 0 ? -1 : 0;
}

int sse_retry(struct out *o, int retry_ms)
{
    if (out_printf(o, "retry: %d\n\n", retry_ms) != 0)
        return -1;
    return out_flush(o);
}

static int write_data(struct out *o, const char *data)
{
    for (;;) {
        size_t n = strcspn(data, "\r\n");
        if (out_puts(o, "data: ") != 0 || out_write(o, data, n) != 0 ||
            out_puts(o, "\n") != 0)
            return -1;
        data += n;
        if (*data == '\0')
            return 0;
        data += (data[0] == '\r' && data[1] == '\n') ? 2 : 1;
    }
}

int sse_event(struct out *o, const char *id, const char *name, const char *data)
{
    if (has_newline(id) || has_newline(name))
        return -1;
    /* The id last: a client that takes an id as soon as it reads its line
     * (fetch-event-source does) and loses the connection inside the event
     * asks again from the event before, not from one it never had whole. */
    if ((name != NULL && (out_puts(o, "event: ") != 0 || out_puts(o, name) != 0 ||
                          out_puts(o, "\n") != 0)) ||
        write_data(o, data) != 0 ||
        (id != NULL && (out_puts(o, "id: ") != 0 || out_puts(o, id) != 0 || out_puts(o, "\n") != 0)) ||
        out_puts(o, "\n") != 0)
        return -1;
    return out_flush(o);
}

size_t sse_event_max(const char *id, const char *name, const char *data)
{
    /* "event: " and "\n", "id: " and "\n", the closing "\n"; each byte of
     * data becomes at most 7 ("data: " and its line break). */
    return 4 + (id ? strlen(id) : 0) + 8 + (name ? strlen(name) : 0) + 1 + 7 * strlen(data) + 7 + 1;
}

int sse_comment(struct out *o, const char *text)
{
    if (has_newline(text))
        return -1;
    if (out_puts(o, ": ") != 0 || out_puts(o, text) != 0 ||
        out_puts(o, "\n\n") != 0)
        return -1;
    return out_flush(o);
}
