/* Unit tests for path normalization (src/agent/l7_path.c): a table of
 * inputs with the expected output (or refusal) per slash mode, and the
 * idempotence of every accepted output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/l7.h"
#include "weft/str.h"

typedef struct pcase {
	const char *in;
	weft_l7_slash_mode_t mode;
	const char *out;     /* NULL: WEFT_EPROTO */
} pcase_t;

#define K WEFT_L7_SLASH_KEEP
#define D WEFT_L7_SLASH_DECODE
#define R WEFT_L7_SLASH_REJECT

static const pcase_t cases[] = {
	{ "/", K, "/" },
	{ "*", K, "*" },
	{ "/a/b", K, "/a/b" },
	{ "/a/b/", K, "/a/b/" },
	/* merged slashes, dot segments, never above the root */
	{ "//admin", K, "/admin" },
	{ "///a//b///", K, "/a/b/" },
	{ "/a/../admin", K, "/admin" },
	{ "/a/./b/.", K, "/a/b/" },
	{ "/a/b/..", K, "/a/" },
	{ "/..", K, "/" },
	{ "/../../..//admin", K, "/admin" },
	{ "/a/..b/c..", K, "/a/..b/c.." },
	{ "/...", K, "/..." },
	/* already normal (copied as is) or one byte from it */
	{ "/.a/b./c", K, "/.a/b./c" },
	{ "/a/.../b/", K, "/a/.../b/" },
	{ "/./a", K, "/a" },
	{ "/a/b//", K, "/a/b/" },
	{ "/a/.", K, "/a/" },
	{ "/a/..", K, "/" },
	{ "/a\\", K, "/a/" },
	/* backslashes are separators */
	{ "\\admin", K, "/admin" },
	{ "/a\\..\\admin", K, "/admin" },
	/* unreserved escapes decoded (so encoded dots resolve), others uppercased */
	{ "/%2e%2e/admin", K, "/admin" },
	{ "/%2E%2e%2fadmin", K, "/..%2Fadmin" },
	{ "/x/%2E%2E/admin", K, "/admin" },
	{ "/%61dmin", K, "/admin" },
	{ "/%7e%5f%2d", K, "/~_-" },
	{ "/a%20b", K, "/a%20b" },
	{ "/a%3fb%3F", K, "/a%3Fb%3F" },
	{ "/%25", K, "/%25" },
	{ "/%252e%252e/x", K, "/%252e%252e/x" },
	{ "/a?b", K, "/a?b" },   /* the caller strips the query: '?' here is data */
	/* encoded slashes per mode */
	{ "/admin%2f", K, "/admin%2F" },
	{ "/admin%2f", D, "/admin/" },
	{ "/admin%2f", R, NULL },
	{ "/a%2F..%2Fadmin", D, "/admin" },
	{ "/a%5c..%5cadmin", D, "/admin" },
	{ "/a%5c", K, "/a%5C" },
	{ "/a%5c", R, NULL },
	/* refusals */
	{ "", K, NULL },
	{ "admin", K, NULL },
	{ "%2fadmin", D, NULL },
	{ "**", K, NULL },
	{ "/a%00", K, NULL },
	{ "/a%00", D, NULL },
	{ "/a%", K, NULL },
	{ "/a%2", K, NULL },
	{ "/a%zz", K, NULL },
	{ "/a%2g", K, NULL },
	{ "/a\tb", K, NULL },
	{ "/a\x7f", K, NULL },
	{ "/a\rb", K, NULL },
	/* bytes above 0x7f pass through */
	{ "/caf\xc3\xa9", K, "/caf\xc3\xa9" },
};

static void test_table(void **st)
{
	weft_arena_t a;

	weft_arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const pcase_t *c = &cases[i];
		weft_str_t out = { 0 }, again = { 0 };
		int rc = weft_l7_normalize_path(weft_str_c(c->in), c->mode, &a, &out);

		if (!c->out) {
			if (rc != WEFT_EPROTO)
				fail_msg("case %zu \"%s\": want EPROTO, got %d \"%.*s\"", i, c->in, rc,
					 (int)out.len, out.p ? out.p : "");
			continue;
		}
		if (rc != WEFT_OK || !weft_str_eq_c(out, c->out))
			fail_msg("case %zu \"%s\": want \"%s\", got %d \"%.*s\"", i, c->in, c->out, rc,
				 (int)out.len, out.p ? out.p : "");
		assert_int_equal(weft_l7_normalize_path(out, c->mode, &a, &again), WEFT_OK);
		assert_true(weft_str_eq(out, again));
	}
	weft_arena_destroy(&a);
}

/* (ptr, len) input: nothing is read past len. */
static void test_not_nul_terminated(void **st)
{
	weft_arena_t a;
	weft_str_t out;
	const char buf[] = "/a/b%2";

	weft_arena_init(&a, 0);
	assert_int_equal(weft_l7_normalize_path(weft_str(buf, 4), K, &a, &out), WEFT_OK);
	assert_true(weft_str_eq_c(out, "/a/b"));
	assert_int_equal(weft_l7_normalize_path(weft_str(buf, 5), K, &a, &out), WEFT_EPROTO);
	/* an already normal path is copied into the arena, not referenced */
	assert_int_equal(weft_l7_normalize_path(weft_str(buf, 4), K, &a, &out), WEFT_OK);
	assert_ptr_not_equal(out.p, buf);
	assert_int_equal(out.p[out.len], '\0');
	weft_arena_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_not_nul_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
