/* A request's JSON body as the create and resume handlers read it: size
 * and depth bounds, the parser, then the schema validator against the
 * shipped countdown schema and against the body itself taken as a schema. */
#include "fuzz.h"
#include "request.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = fuzz_json_body(data, size);
    if (doc == NULL)
        return 0;
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
                                "\"minimum\":0,\"maximum\":1000000},\"tags\":{\"type\":\"array\","
                                "\"items\":{\"type\":\"string\",\"maxLength\":3}}},"
                                "\"required\":[\"n\"],\"additionalProperties\":false}", 0, NULL);
    char err[SCHEMA_ERR_SIZE];
    schema_validate(schema, doc, "/input", err, sizeof err);
    if (schema_check(doc, err, sizeof err) == 0)
        schema_validate(doc, schema, "/input", err, sizeof err);
    char *again = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    free(again);
    json_decref(schema);
    json_decref(doc);
    return 0;
}
