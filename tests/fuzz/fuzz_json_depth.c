/* The depth pre-check against the parser: text the check lets through
 * never nests deeper than the bound once parsed. */
#include "fuzz.h"
#include "json_depth.h"

#include <jansson.h>
#include <stdlib.h>

static int depth(const json_t *v)
{
    int d = 0;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) { int c = depth(x); d = c > d ? c : d; }
    else if (json_is_array(v))
        json_array_foreach(v, i, x) { int c = depth(x); d = c > d ? c : d; }
    else
        return 0;
    return d + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (json_too_deep((const char *)data, size, 8))
        return 0;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (v != NULL && depth(v) > 8)
        abort();
    json_decref(v);
    return 0;
}
