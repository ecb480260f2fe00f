#ifndef OPSTREAM_JSON_DEPTH_H
#define OPSTREAM_JSON_DEPTH_H

#include <stddef.h>

/* The deepest json_max_depth may be set: parsing, encoding and copying a
 * document this deep needs under 48 KiB of stack (measured with jansson
 * 2.14, about 400 bytes a level), a fifth of a request thread's. */
#define JSON_DEPTH_LIMIT 128

/* True when the JSON text nests arrays and objects deeper than max_depth.
 * Read before the text is parsed, so no parser or encoder ever recurses
 * deeper than the bound; brackets inside strings do not count. Not a
 * validator: malformed text is left to the parser. */
int json_too_deep(const char *text, size_t len, int max_depth);

#endif
