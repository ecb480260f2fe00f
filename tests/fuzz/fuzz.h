#ifndef OPSTREAM_FUZZ_H
#define OPSTREAM_FUZZ_H

/* Every harness is one libFuzzer entry point: built with clang by
 * `make fuzz`, and replayed over its seed corpus and kept regressions by
 * tests/fuzz/replay.c in `make check`. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "request.h"

#include <stdlib.h>
#include <string.h>

/* The fuzzer's bytes as a request's body. */
struct fuzz_body {
    const uint8_t *data;
    size_t size, off;
};

static inline int fuzz_body_read(void *ctx, char *buf, size_t n)
{
    struct fuzz_body *b = ctx;
    size_t left = b->size - b->off;
    if (n > left)
        n = left;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    return (int)n;
}

/* A request without CGI variables. */
static inline const char *fuzz_no_env(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return NULL;
}

/* The bytes as a JSON body read as the handlers read one (within 64 KiB):
 * the document, or NULL when the reader refused it. */
static inline json_t *fuzz_json_body(const uint8_t *data, size_t size)
{
    struct config cfg;
    config_defaults(&cfg);
    cfg.body_max_bytes = 65536;
    struct fuzz_body b = {data, size, 0};
    struct request req = {.cfg = &cfg, .content_length = -1, .getenv = fuzz_no_env,
                          .read = fuzz_body_read, .ctx = &b};
    json_t *doc = NULL;
    char why[256];
    return request_json_body(&req, &doc, why, sizeof why) == BODY_OK ? doc : NULL;
}

/* The fuzzer's bytes as a C string (the caller frees it); NULL when out
 * of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (t != NULL) {
        memcpy(t, data, size);
        t[size] = '\0';
    }
    return t;
}

#endif
