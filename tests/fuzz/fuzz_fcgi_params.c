/* The first bytes of a FastCGI connection, as the doorman peeks at them:
 * any bytes get a verdict without reading past them, and a head called
 * whole lies within the bytes and the bound. */
#include "fuzz.h"
#include "fcgi_record.h"

#include <stdlib.h>

#define HEAD_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char scratch[HEAD_MAX];
    struct fcgi_request_scan scan;
    enum fcgi_request_state st = fcgi_request_scan(data, size, HEAD_MAX, scratch, &scan);
    if (scan.head_done && (scan.head_bytes > size || scan.head_bytes > HEAD_MAX))
        abort();
    if (st == FCGI_REQUEST_REFUSED && scan.body_bytes > size)
        abort();
    return 0;
}
