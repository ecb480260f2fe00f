/* One line of a job's stdout or stderr: never fails, and what it makes is
 * always a valid event (a name that may go on the stream, object data)
 * or the job's result. */
#include "fuzz.h"
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int from_stderr = data[0] & 1, truncated = (data[0] >> 1) & 1;
    struct job_msg m;
    protocol_parse_line((const char *)data + 1, size - 1, from_stderr, truncated, 64, &m);
    if (m.kind != JOB_RESULT && (!event_name_valid(m.name) || !json_is_object(m.data)))
        abort();
    if (m.kind == JOB_EVENT && protocol_name_reserved(m.name))
        abort();
    char *text = json_dumps(m.data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        abort();
    free(text);
    job_msg_clear(&m);
    return 0;
}
