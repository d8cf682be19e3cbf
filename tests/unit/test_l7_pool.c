/* Unit tests for src/agent/l7_pool.c with a fake codec connection table:
 * reuse of a connection that can take a stream, a new dial when none can,
 * HTTP/2-like multiplexing, the per-key connection limit, dial failures,
 * on_idle putting a connection first, the idle close timer (and that it
 * spares a connection carrying a stream), drain by prefix (graceful and
 * not), close by the peer, and destroy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../src/agent/l7_int.h"
#include "weft/loop.h"

/* ---- a fake codec connection ---- */

typedef struct fconn {
	weft_hconn_t hc;
	uint32_t max;                /* streams at once (1: HTTP/1-like) */
	bool goaway;
	weft_hstream_t *streams[8];
	struct ffix *f;
} fconn_t;

typedef struct ffix {
	weft_loop_t loop;
	l7_pool_t p;
	int dials, fail_dial, closed;
	char last_key[64];
	uint32_t max;
	fconn_t *made[32];
	int nmade;
} ffix_t;

static void fc_close(weft_hconn_t *hc);

static bool fc_can_open(const weft_hconn_t *hc)
{
	const fconn_t *fc = (const fconn_t *)hc;
	return !fc->goaway && hc->nstreams < fc->max;
}

static weft_hstream_t *fc_open(weft_hconn_t *hc, const weft_hstream_cbs_t *cbs, void *ud)
{
	fconn_t *fc = (fconn_t *)hc;
	weft_hstream_t *s;

	if (!fc_can_open(hc))
		return NULL;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->hc = hc;
	s->cbs = cbs;
	s->ud = ud;
	s->id = (uint32_t)++hc->nrequests;
	for (int i = 0; i < 8; i++)
		if (!fc->streams[i]) {
			fc->streams[i] = s;
			break;
		}
	hc->nstreams++;
	return s;
}

/* The test ends a stream (as a codec would after a complete exchange). */
static void fc_end(weft_hstream_t *s, bool idle_cb)
{
	fconn_t *fc = (fconn_t *)s->hc;

	for (int i = 0; i < 8; i++)
		if (fc->streams[i] == s)
			fc->streams[i] = NULL;
	fc->hc.nstreams--;
	free(s);
	if (fc->goaway && !fc->hc.nstreams) {
		fc_close(&fc->hc);
		return;
	}
	if (idle_cb && !fc->hc.nstreams)
		fc->hc.cbs->on_idle(&fc->hc);
}

static void fc_goaway(weft_hconn_t *hc)
{
	fconn_t *fc = (fconn_t *)hc;

	fc->goaway = true;
	hc->closing = true;
	if (!hc->nstreams)
		fc_close(hc);
}

static void fc_close(weft_hconn_t *hc)
{
	fconn_t *fc = (fconn_t *)hc;
	ffix_t *f = fc->f;

	for (int i = 0; i < 8; i++)
		if (fc->streams[i]) {
			free(fc->streams[i]);
			fc->streams[i] = NULL;
		}
	hc->nstreams = 0;
	hc->cbs->on_close(hc);
	for (int i = 0; i < f->nmade; i++)
		if (f->made[i] == fc)
			f->made[i] = NULL;
	f->closed++;
	free(fc);
}

static const weft_hconn_ops_t fc_ops = {
	.name = "fake", .open = fc_open, .can_open = fc_can_open, .goaway = fc_goaway, .close = fc_close,
};

static weft_hconn_t *fake_dial(void *ud, const char *key, const void *arg)
{
	ffix_t *f = ud;
	fconn_t *fc;

	f->dials++;
	snprintf(f->last_key, sizeof(f->last_key), "%s", key);
	if (f->fail_dial)
		return NULL;
	fc = calloc(1, sizeof(*fc));
	assert_non_null(fc);
	fc->hc.ops = &fc_ops;
	fc->hc.cbs = &l7_pool_conn_cbs;
	fc->max = f->max;
	fc->f = f;
	snprintf(fc->hc.name, sizeof(fc->hc.name), "fake%d", f->nmade);
	f->made[f->nmade++] = fc;
	return &fc->hc;
}

static const weft_hstream_cbs_t scbs;

static int setup(void **state)
{
	ffix_t *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(weft_loop_init(&f->loop), 0);
	l7_pool_init(&f->p, &f->loop, fake_dial, f);
	f->max = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	ffix_t *f = *state;

	l7_pool_destroy(&f->p);
	assert_int_equal(f->p.nconns, 0);
	for (int i = 0; i < f->nmade; i++)
		free(f->made[i]);   /* those the pool left to their codec */
	weft_loop_destroy(&f->loop);
	free(f);
	return 0;
}

static void test_reuse_h1(void **state)
{
	ffix_t *f = *state;
	weft_hstream_t *a, *b, *c;

	a = l7_pool_open(&f->p, "w1|80|h1", NULL, &scbs, NULL);
	assert_non_null(a);
	assert_int_equal(f->dials, 1);
	assert_string_equal(f->last_key, "w1|80|h1");
	/* the first is busy: a second connection */
	b = l7_pool_open(&f->p, "w1|80|h1", NULL, &scbs, NULL);
	assert_non_null(b);
	assert_ptr_not_equal(a->hc, b->hc);
	assert_int_equal(f->dials, 2);
	assert_int_equal(f->p.nconns, 2);
	/* a finishes: its connection is reused, no dial */
	weft_hconn_t *ahc = a->hc;
	fc_end(a, true);
	c = l7_pool_open(&f->p, "w1|80|h1", NULL, &scbs, NULL);
	assert_non_null(c);
	assert_ptr_equal(c->hc, ahc);
	assert_int_equal(f->dials, 2);
	/* another key never shares */
	weft_hstream_t *d = l7_pool_open(&f->p, "w2|80|h1", NULL, &scbs, NULL);
	assert_non_null(d);
	assert_int_equal(f->dials, 3);
	assert_int_equal(f->p.dials, 3);
}

/* A key's hash computed beforehand finds the same connections as the key. */
static void test_open_hashed(void **state)
{
	ffix_t *f = *state;
	uint64_t h = l7_pool_key_hash("w1|80|h1");
	weft_hstream_t *a, *b;

	assert_true(h == l7_pool_key_hash("w1|80|h1"));
	assert_true(h != l7_pool_key_hash("w2|80|h1"));
	a = l7_pool_open_hashed(&f->p, "w1|80|h1", h, NULL, &scbs, NULL);
	assert_non_null(a);
	assert_int_equal(f->dials, 1);
	weft_hconn_t *ahc = a->hc;
	fc_end(a, true);
	b = l7_pool_open(&f->p, "w1|80|h1", NULL, &scbs, NULL);
	assert_non_null(b);
	assert_ptr_equal(b->hc, ahc);
	assert_int_equal(f->dials, 1);
	fc_end(b, true);
	b = l7_pool_open_hashed(&f->p, "w1|80|h1", h, NULL, &scbs, NULL);
	assert_ptr_equal(b->hc, ahc);
	assert_int_equal(f->dials, 1);
}

static void count_each(void *arg, const char *key, const weft_hconn_t *hc)
{
	int *n = arg;
	(*n)++;
}

static void test_multiplex_and_limit(void **state)
{
	ffix_t *f = *state;
	weft_hstream_t *s[6];
	int n = 0;

	f->max = 3;
	f->p.max_conns_per_key = 2;
	for (int i = 0; i < 6; i++) {
		s[i] = l7_pool_open(&f->p, "src|10.0.0.1:80", NULL, &scbs, NULL);
		assert_non_null(s[i]);
	}
	assert_int_equal(f->dials, 2);
	assert_ptr_equal(s[0]->hc, s[2]->hc);
	/* both connections full, at the per-key limit: refused, no dial */
	assert_null(l7_pool_open(&f->p, "src|10.0.0.1:80", NULL, &scbs, NULL));
	assert_int_equal(f->dials, 2);
	fc_end(s[4], false);
	assert_non_null(l7_pool_open(&f->p, "src|10.0.0.1:80", NULL, &scbs, NULL));
	l7_pool_each(&f->p, count_each, &n);
	assert_int_equal(n, 2);
}

static void test_dial_failure(void **state)
{
	ffix_t *f = *state;

	f->fail_dial = 1;
	assert_null(l7_pool_open(&f->p, "k", NULL, &scbs, NULL));
	assert_int_equal(f->p.dial_failures, 1);
	assert_int_equal(f->p.nconns, 0);
	f->fail_dial = 0;
	assert_non_null(l7_pool_open(&f->p, "k", NULL, &scbs, NULL));
	assert_int_equal(f->p.nconns, 1);
}

static bool idle_closed(void *arg)
{
	ffix_t *f = arg;
	return f->closed > 0;
}

static void test_idle_close(void **state)
{
	ffix_t *f = *state;
	weft_hstream_t *busy, *idle;
	uint64_t start;

	f->p.idle_ms = 30;
	busy = l7_pool_open(&f->p, "busy", NULL, &scbs, NULL);
	idle = l7_pool_open(&f->p, "idle", NULL, &scbs, NULL);
	assert_non_null(busy);
	assert_non_null(idle);
	fc_end(idle, true);
	start = weft_loop_update_time(&f->loop);
	while (!idle_closed(f)) {
		weft_loop_once(&f->loop, 10);
		if (f->loop.now_ms - start > 20000)
			fail_msg("idle connection never closed");
	}
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->p.nconns, 1);
	/* the busy one survives further idle periods */
	start = weft_loop_update_time(&f->loop);
	while (f->loop.now_ms - start < 100)
		weft_loop_once(&f->loop, 10);
	assert_int_equal(f->closed, 1);
	/* and is closed once its stream ends */
	fc_end(busy, false);
	start = weft_loop_update_time(&f->loop);
	while (f->closed < 2) {
		weft_loop_once(&f->loop, 10);
		if (f->loop.now_ms - start > 20000)
			fail_msg("connection never closed after its stream");
	}
	assert_int_equal(f->p.nconns, 0);
	/* the key is gone with its last connection: a new open dials */
	assert_non_null(l7_pool_open(&f->p, "idle", NULL, &scbs, NULL));
	assert_int_equal(f->dials, 3);
}

static void test_drain(void **state)
{
	ffix_t *f = *state;
	weft_hstream_t *a, *b;

	f->max = 4;
	a = l7_pool_open(&f->p, "wl-a|80|h2", NULL, &scbs, NULL);
	assert_non_null(l7_pool_open(&f->p, "wl-a|81|h2", NULL, &scbs, NULL));
	b = l7_pool_open(&f->p, "wl-b|80|h2", NULL, &scbs, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(f->p.nconns, 3);
	/* graceful: the connections stop taking streams, finish, then close */
	l7_pool_drain(&f->p, "wl-a|", true);
	assert_int_equal(f->closed, 0);
	assert_true(a->hc->closing);
	weft_hstream_t *a2 = l7_pool_open(&f->p, "wl-a|80|h2", NULL, &scbs, NULL);
	assert_non_null(a2);
	assert_ptr_not_equal(a2->hc, a->hc);
	assert_int_equal(f->dials, 4);
	fc_end(a, false);
	assert_int_equal(f->closed, 1);
	/* hard: closed now */
	l7_pool_drain(&f->p, "wl-b|", false);
	assert_int_equal(f->closed, 2);
	assert_int_equal(f->p.nconns, 2);
	/* everything */
	l7_pool_drain(&f->p, "", false);
	assert_int_equal(f->p.nconns, 0);
}

static void test_peer_close(void **state)
{
	ffix_t *f = *state;
	weft_hstream_t *a = l7_pool_open(&f->p, "k", NULL, &scbs, NULL);

	assert_non_null(a);
	fc_close(a->hc);   /* the peer went away */
	assert_int_equal(f->p.nconns, 0);
	assert_non_null(l7_pool_open(&f->p, "k", NULL, &scbs, NULL));
	assert_int_equal(f->dials, 2);
}

static void test_many_keys(void **state)
{
	ffix_t *f = *state;
	char key[32];
	int n = 0;

	f->max = 2;
	for (int i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "wl%d|80|h2", i);
		assert_non_null(l7_pool_open(&f->p, key, NULL, &scbs, NULL));
	}
	for (int i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "wl%d|80|h2", i);
		assert_non_null(l7_pool_open(&f->p, key, NULL, &scbs, NULL));
	}
	assert_int_equal(f->dials, 30);
	l7_pool_each(&f->p, count_each, &n);
	assert_int_equal(n, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reuse_h1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_hashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiplex_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dial_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
