#ifndef OPSTREAM_SCHEMA_H
#define OPSTREAM_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#define SCHEMA_ERR_SIZE 384
/* Deepest nesting of schemas and of validated values. */
#define SCHEMA_DEPTH_MAX 32

/* The JSON Schema subset of job types: type, properties, required, enum,
 * minimum/maximum, minLength/maxLength, items, additionalProperties,
 * description, title and default.
 *
 * schema_check: is this a schema of the subset? Unknown keywords and
 * malformed values are errors, so a typo in a job type file is caught when
 * it is loaded. On error, err holds "PATH: why". */
int schema_check(const json_t *schema, char *err, size_t errsize);

/* Validates value against a schema that passed schema_check. path names
 * the value in messages ("/input"). 0 when valid; else -1 with the first
 * failure as "/input/n: must be <= 1000" in err. */
int schema_validate(const json_t *schema, const json_t *value, const char *path,
                    char *err, size_t errsize);

#endif
