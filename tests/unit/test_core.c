/* Unit tests for src/core: arena, buf, str, loop timers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/str.h"
#include "weft/loop.h"
#include "weft/regex.h"

static void test_arena(void **st)
{
	weft_arena_t a;
	weft_arena_init(&a, 64);
	char *p = weft_arena_alloc(&a, 10);
	assert_non_null(p);
	assert_int_equal(((uintptr_t)p) % 16, 0);
	char *big = weft_arena_alloc(&a, 1000);   /* bigger than a chunk */
	assert_non_null(big);
	memset(big, 'x', 1000);
	char *q = weft_arena_alloc(&a, 10);
	assert_non_null(q);
	weft_str_t s = weft_arena_strdup(&a, WEFT_STR_LIT("hello"));
	assert_string_equal(s.p, "hello");
	assert_string_equal(weft_arena_printf(&a, "%d-%s", 7, "x"), "7-x");
	assert_null(weft_arena_calloc(&a, SIZE_MAX / 2, 4));

	/* reset keeps the regular head chunk and hands it out again */
	weft_arena_reset(&a);
	assert_int_equal(a.used, 0);
	assert_int_equal(a.reserved, 64);
	char *r = weft_arena_alloc(&a, 2000);   /* one-off chunk behind the head */
	char *h = weft_arena_alloc(&a, 16);
	assert_non_null(r);
	assert_non_null(h);
	weft_arena_reset(&a);
	assert_int_equal(a.reserved, 64);
	assert_ptr_equal(weft_arena_alloc(&a, 16), h);
	weft_arena_destroy(&a);

	/* an arena that only had a big allocation keeps nothing */
	weft_arena_init(&a, 64);
	assert_non_null(weft_arena_alloc(&a, 1000));
	weft_arena_reset(&a);
	assert_null(a.head);
	assert_int_equal(a.reserved, 0);
	assert_non_null(weft_arena_alloc(&a, 10));
	weft_arena_destroy(&a);
}

static void test_buf(void **st)
{
	weft_buf_t b;
	weft_buf_init(&b, 4096);
	assert_int_equal(weft_buf_append(&b, "abc", 3), 0);
	assert_int_equal(weft_buf_printf(&b, "%d", 42), 0);
	assert_int_equal(weft_buf_len(&b), 5);
	assert_memory_equal(weft_buf_head(&b), "abc42", 5);
	weft_buf_consume(&b, 2);
	assert_memory_equal(weft_buf_head(&b), "c42", 3);
	char big[5000] = { 0 };
	assert_int_equal(weft_buf_append(&b, big, sizeof(big)), -1);  /* limit */
	assert_int_equal(weft_buf_len(&b), 3);
	weft_buf_free(&b);
}

static void test_str(void **st)
{
	unsigned long long v;
	assert_true(weft_str_ieq(WEFT_STR_LIT("Content-Length"), WEFT_STR_LIT("content-length")));
	assert_int_equal(weft_str_to_u64(WEFT_STR_LIT("65535"), 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(weft_str_to_u64(WEFT_STR_LIT("65536"), 65535, &v), -1);
	assert_int_equal(weft_str_to_u64(WEFT_STR_LIT(""), 10, &v), -1);
	assert_int_equal(weft_str_to_u64(WEFT_STR_LIT("1a"), 100, &v), -1);
	assert_int_equal(weft_str_to_u64(WEFT_STR_LIT("18446744073709551616"), ~0ULL, &v), -1);

	/* weft_u64_dec prints as %llu does, without a NUL */
	static const uint64_t nums[] = { 0, 7, 9, 10, 99, 100, 65535, 4294967295u, ~0ULL };
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char want[24], got[24];
		memset(got, 'x', sizeof(got));
		size_t n = weft_u64_dec(got, nums[i]);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)nums[i]);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(got, want, n);
		assert_int_equal(got[n], 'x');
	}
}

static int order[4], norder;
static void on_timer(weft_loop_t *l, weft_timer_t *t)
{
	order[norder++] = (int)(intptr_t)t->data;
	if (norder == 3)
		weft_loop_stop(l);
}

static void test_timers(void **st)
{
	weft_loop_t l;
	weft_timer_t t1, t2, t3, t4;
	assert_int_equal(weft_loop_init(&l), 0);
	weft_timer_init(&t1, on_timer, (void *)1);
	weft_timer_init(&t2, on_timer, (void *)2);
	weft_timer_init(&t3, on_timer, (void *)3);
	weft_timer_init(&t4, on_timer, (void *)4);
	weft_timer_start(&l, &t3, 30);
	weft_timer_start(&l, &t1, 10);
	weft_timer_start(&l, &t4, 5);
	weft_timer_start(&l, &t2, 20);
	weft_timer_stop(&l, &t4);
	assert_false(weft_timer_active(&t4));
	assert_int_equal(weft_loop_run(&l), 0);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);
	weft_loop_destroy(&l);
}

/* 0 ms timers: a FIFO, O(1) stop from anywhere in it, re-arming keeps
 * the place, a callback's 0 ms timer fires in the same turn. */
static int zorder[8], nzorder;
static weft_timer_t zt[5];
static void on_zero(weft_loop_t *l, weft_timer_t *t)
{
	int id = (int)(intptr_t)t->data;

	zorder[nzorder++] = id;
	if (id == 1)
		weft_timer_start(l, &zt[4], 0);   /* armed from a callback: same turn */
	if (id == 2)
		weft_timer_stop(l, &zt[3]);       /* stopped while due */
}

static void test_zero_timers(void **st)
{
	weft_loop_t l;

	assert_int_equal(weft_loop_init(&l), 0);
	for (int i = 0; i < 5; i++)
		weft_timer_init(&zt[i], on_zero, (void *)(intptr_t)i);
	weft_timer_start(&l, &zt[0], 0);
	weft_timer_start(&l, &zt[1], 0);
	weft_timer_start(&l, &zt[2], 0);
	weft_timer_start(&l, &zt[3], 0);
	assert_true(weft_timer_active(&zt[1]));
	weft_timer_start(&l, &zt[0], 0);      /* already due: keeps its place */
	weft_timer_stop(&l, &zt[1]);          /* from the middle */
	assert_false(weft_timer_active(&zt[1]));
	weft_timer_start(&l, &zt[1], 0);      /* back, at the tail */
	weft_timer_start(&l, &zt[2], 1000);   /* moved to the heap */
	assert_int_equal(weft_loop_once(&l, 1000), 0);
	assert_int_equal(nzorder, 4);
	assert_int_equal(zorder[0], 0);
	assert_int_equal(zorder[1], 3);
	assert_int_equal(zorder[2], 1);
	assert_int_equal(zorder[3], 4);
	assert_true(weft_timer_active(&zt[2]));
	weft_timer_stop(&l, &zt[2]);
	for (int i = 0; i < 5; i++)
		assert_false(weft_timer_active(&zt[i]));
	assert_null(l.due_head);
	assert_null(l.due_tail);
	weft_loop_destroy(&l);
}

struct pipe_ctx { int reads; weft_io_t *other; };
static void on_read(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	struct pipe_ctx *c = io->data;
	char b[16];
	c->reads++;
	(void)!read(io->fd, b, sizeof(b));
	/* stopping the other watcher from inside the batch must drop its event */
	if (c->other)
		weft_io_stop(l, c->other);
	weft_loop_stop(l);
}

static void test_io_stop_in_batch(void **st)
{
	weft_loop_t l;
	int p1[2], p2[2];
	weft_io_t a, b;
	struct pipe_ctx ca = { 0, &b }, cb = { 0, &a };
	assert_int_equal(weft_loop_init(&l), 0);
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	weft_io_start(&l, &a, p1[0], WEFT_IO_READ, on_read, &ca);
	weft_io_start(&l, &b, p2[0], WEFT_IO_READ, on_read, &cb);
	(void)!write(p1[1], "x", 1);
	(void)!write(p2[1], "y", 1);
	weft_loop_run(&l);
	assert_int_equal(ca.reads + cb.reads, 1);
	close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
	weft_loop_destroy(&l);
}

/* RE2 -> ERE: the one translation the control plane validates with and
 * the agent matches with. */
static void test_regex_to_ere(void **state)
{
	char *ere, why[128];
	bool icase;

	(void)state;
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("(?i)a(?:b|c)*?(?P<n>\\d)[\\d]\\D"), &ere, &icase,
					   why, sizeof(why)), 0);
	assert_string_equal(ere, "^(a(b|c)*([0-9])[0-9][^0-9])$");
	assert_true(icase);
	free(ere);
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("x(?i)y"), &ere, &icase, why, sizeof(why)), 0);
	assert_string_equal(ere, "^(xy)$");
	assert_false(icase);             /* only a leading flag group sets it */
	free(ere);
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("(a)\\1"), &ere, &icase, why, sizeof(why)), -1);
	assert_null(ere);
	assert_non_null(strstr(why, "backreferences"));
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("a(?=b)"), &ere, &icase, why, sizeof(why)), -1);
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("a*+"), &ere, &icase, why, sizeof(why)), -1);
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT(""), &ere, &icase, why, sizeof(why)), -1);
	assert_int_equal(weft_regex_to_ere(WEFT_STR_LIT("(?Px"), &ere, &icase, why, sizeof(why)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_zero_timers),
		cmocka_unit_test(test_io_stop_in_batch),
		cmocka_unit_test(test_regex_to_ere),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
