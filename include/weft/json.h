/* weft — writing JSON into buffers. */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H
#include <stddef.h>
#include "weft/buf-t.h"

/* Appends s (n bytes, any content) as a quoted JSON string: '"' and '\\'
 * escaped, control characters as \n, \t, \r, \b, \f or \u00XX, bytes that
 * are not valid UTF-8 as \uFFFD. Returns 0 or -1 (buffer limit). */
int weft_json_str(weft_buf_t *out, const char *s, size_t n);

/* weft_json_str() over a C string; NULL writes null. */
int weft_json_cstr(weft_buf_t *out, const char *s);

#endif
