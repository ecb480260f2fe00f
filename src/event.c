/* Event names and ids: validated where they enter the system, so that
 * nothing downstream (the SSE writer above all) has to trust them. */
#include "event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int event_name_valid(const char *name)
{
    if (!(name[0] >= 'a' && name[0] <= 'z'))
        return 0;
    size_t n = 1;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok || n >= EVENT_NAME_MAX)
            return 0;
    }
    return 1;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int event_id_parse(const char *s, struct event_id *out)
{
    const char *dash = strchr(s, '-');
    struct event_id id = {0, 0};
    if (dash == NULL) {
        if (parse_u64(s, strlen(s), &id.ms) != 0)
            return -1;
    } else if (parse_u64(s, (size_t)(dash - s), &id.ms) != 0 ||
               parse_u64(dash + 1, strlen(dash + 1), &id.seq) != 0) {
        return -1;
    }
    *out = id;
    return 0;
}

int event_id_cmp(const struct event_id *a, const struct event_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

void event_id_format(const struct event_id *id, char out[EVENT_ID_SIZE])
{
    snprintf(out, EVENT_ID_SIZE, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}

int event_is_terminal(const char *name)
{
    return strcmp(name, EVENT_TERMINAL) == 0;
}

void event_id_before(const struct event_id *id, char out[EVENT_ID_SIZE])
{
    struct event_id p = *id;
    if (p.seq > 0)
        p.seq--;
    else if (p.ms > 0)
        p.ms--, p.seq = UINT64_MAX;
    event_id_format(&p, out);
}
