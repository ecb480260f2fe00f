/* The query string: lookup and percent-decoding of every parameter the
 * API reads, and the integer parameters' bounds. */
#include "fuzz.h"
#include "request.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fuzz_text(data, size);
    if (q == NULL)
        return 0;
    struct config cfg;
    config_defaults(&cfg);
    struct request req = {.query = q, .cfg = &cfg, .getenv = fuzz_no_env};
    static const char *const names[] = {"lastEventId", "after", "types", "cursor", "status",
                                        "type", "thread_id", "exp", "sig", ""};
    char out[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int r = request_query(&req, names[i], out, sizeof out);
        if (r == 0 && strlen(out) >= sizeof out)
            abort();
    }
    long v;
    if (request_query_int(&req, "limit", 1, 1000, 100, &v) == 0 && (v < 1 || v > 1000))
        abort();
    free(q);
    return 0;
}
