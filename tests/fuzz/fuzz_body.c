/* A request's JSON body as the create and resume handlers read it: size
 * and depth bounds, the parser, then the schema validator against the
 * shipped countdown schema and against the body itself taken as a schema. */
#include "fuzz.h"
#include "request.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

struct body {
    const uint8_t *data;
    size_t size, off;
};

static int body_read(void *ctx, char *buf, size_t n)
{
    struct body *b = ctx;
    size_t left = b->size - b->off;
    if (n > left)
        n = left;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    return (int)n;
}

static const char *no_env(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    config_defaults(&cfg);
    cfg.body_max_bytes = 65536;
    struct body b = {data, size, 0};
    struct request req = {.cfg = &cfg, .content_length = -1, .getenv = no_env,
                          .read = body_read, .ctx = &b};
    json_t *doc = NULL;
    char why[256];
    if (request_json_body(&req, &doc, why, sizeof why) != BODY_OK)
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
