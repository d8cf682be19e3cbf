/* Fuzzes path normalization (src/agent/l7_path.c): the first byte picks
 * the slash mode, the rest is the path. An accepted path must come out
 * starting with '/' (or be exactly "*"), no longer than the input, with
 * no "//", no "." / ".." segment, no '\', and normalizing the output
 * again must give the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/l7.h"
#include "weft/str.h"

static void check_shape(weft_str_t o)
{
	if (o.len == 1 && o.p[0] == '*')
		return;
	if (o.len == 0 || o.p[0] != '/')
		abort();
	for (size_t i = 0; i < o.len; i++) {
		if (o.p[i] == '\\' || (o.p[i] == '/' && i + 1 < o.len && o.p[i + 1] == '/'))
			abort();
		if (o.p[i] != '/')
			continue;
		size_t j = i + 1;
		while (j < o.len && o.p[j] != '/')
			j++;
		size_t seg = j - i - 1;
		if ((seg == 1 && o.p[i + 1] == '.') || (seg == 2 && o.p[i + 1] == '.' && o.p[i + 2] == '.'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_arena_t a;
	weft_str_t out, again;
	weft_l7_slash_mode_t mode;

	if (size < 1)
		return 0;
	mode = (weft_l7_slash_mode_t)(data[0] % 3);
	weft_arena_init(&a, 0);
	weft_str_t in = weft_str((const char *)data + 1, size - 1);
	int rc = weft_l7_normalize_path(in, mode, &a, &out);
	if (rc == WEFT_OK) {
		if (out.len > in.len)
			abort();
		check_shape(out);
		if (weft_l7_normalize_path(out, mode, &a, &again) != WEFT_OK || !weft_str_eq(out, again))
			abort();
	} else if (rc != WEFT_EPROTO) {
		abort();
	}
	weft_arena_destroy(&a);
	return 0;
}
