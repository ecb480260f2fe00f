/* Last-Event-ID and every cursor: an id that parses formats back to an
 * id that parses to the same value, and compares equal to itself. */
#include "fuzz.h"
#include "event.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[128];
    if (size >= sizeof text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct event_id id, again;
    if (event_id_parse(text, &id) == 0) {
        char out[EVENT_ID_SIZE];
        event_id_format(&id, out);
        if (event_id_parse(out, &again) != 0 || event_id_cmp(&id, &again) != 0)
            abort();
    }
    event_name_valid(text);
    return 0;
}
