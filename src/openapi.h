#ifndef OPSTREAM_OPENAPI_H
#define OPSTREAM_OPENAPI_H

/* The OpenAPI 3.1 document of the HTTP API (src/openapi.json). */
extern const char openapi_json[];

#endif
