/* weft — (ptr, len) strings. Types only. */
#ifndef WEFT_STR_T_H
#define WEFT_STR_T_H
#include <stddef.h>

/* A borrowed, not necessarily NUL-terminated byte string. */
typedef struct weft_str {
	const char *p;
	size_t len;
} weft_str_t;

#endif
