/* weft — growable byte buffers. Types only. */
#ifndef WEFT_BUF_T_H
#define WEFT_BUF_T_H
#include <stddef.h>

/* Bytes [rd, wr) of data are readable; [wr, cap) is free space. */
typedef struct weft_buf {
	unsigned char *data;
	size_t rd;
	size_t wr;
	size_t cap;
	size_t limit;   /* growth refused beyond this many bytes (0: no limit) */
} weft_buf_t;

#endif
