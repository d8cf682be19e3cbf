/* Unit tests for src/agent/relay.c over real TCP sockets on 127.0.0.1:
 * bytes both ways, half-close, backpressure with a reader that does not
 * read, RST propagation, abort, a failed connect, and an external end
 * (the shape of an HBONE stream) with its window accounting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/capture.h"
#include "weft/loop.h"

typedef struct fixture {
	weft_loop_t loop;
	weft_relay_t r;
	int done;
	int a;       /* the test's end talking to relay side 0 */
	int b;       /* the test's end talking to relay side 1 */
} fixture_t;

static void on_done(weft_relay_t *r)
{
	fixture_t *f = r->ud;

	f->done++;
}

static void set_nb(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void small_bufs(int fd)
{
	int sz = 8192;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* A connected TCP pair over 127.0.0.1: *x (the test's, blocking) and *y
 * (non-blocking, for the relay). */
static void tcp_pair(int *x, int *y, bool small)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	*x = socket(AF_INET, SOCK_STREAM, 0);
	if (small)
		small_bufs(*x);
	assert_int_equal(connect(*x, (struct sockaddr *)&a, sizeof(a)), 0);
	*y = accept(l, NULL, NULL);
	assert_true(*y >= 0);
	if (small)
		small_bufs(*y);
	set_nb(*y);
	close(l);
}

static void setup_pair(fixture_t *f, bool small)
{
	int ra, rb;

	memset(f, 0, sizeof(*f));
	assert_int_equal(weft_loop_init(&f->loop), 0);
	/* small: a relay bound below the kernel's queues, so it is reached */
	weft_relay_init(&f->r, &f->loop, small ? 4096 : 0, on_done, f);
	tcp_pair(&f->a, &ra, small);
	tcp_pair(&f->b, &rb, small);
	assert_int_equal(weft_relay_set_sock(&f->r, 0, ra), WEFT_OK);
	assert_int_equal(weft_relay_set_sock(&f->r, 1, rb), WEFT_OK);
	weft_relay_start(&f->r);
}

static void teardown_pair(fixture_t *f)
{
	weft_relay_release(&f->r);
	if (f->a >= 0)
		close(f->a);
	if (f->b >= 0)
		close(f->b);
	weft_loop_destroy(&f->loop);
}

/* Runs loop turns until *flag is set or a generous bound of turns passed. */
static void spin_until(weft_loop_t *l, const int *flag)
{
	for (int i = 0; i < 400 && !*flag; i++)
		weft_loop_once(l, 10);
}

static void spin(weft_loop_t *l, int turns)
{
	for (int i = 0; i < turns; i++)
		weft_loop_once(l, 5);
}

/* Reads exactly n bytes from a blocking fd while the loop keeps running. */
static void read_exact(fixture_t *f, int fd, void *buf, size_t n)
{
	size_t got = 0;

	set_nb(fd);
	for (int i = 0; i < 2000 && got < n; i++) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		else
			weft_loop_once(&f->loop, 5);
	}
	assert_int_equal(got, n);
}

/* The result of the next read on fd after the loop ran: 0 EOF, -errno, or
 * bytes. */
static ssize_t next_read(fixture_t *f, int fd)
{
	char c;

	set_nb(fd);
	for (int i = 0; i < 400; i++) {
		ssize_t r = recv(fd, &c, 1, 0);
		if (r >= 0)
			return r;
		if (errno != EAGAIN)
			return -errno;
		weft_loop_once(&f->loop, 5);
	}
	return -EAGAIN;
}

static void test_bytes_and_half_close(void **st)
{
	fixture_t f;
	char buf[16];

	setup_pair(&f, false);
	assert_int_equal(send(f.a, "hello", 5, 0), 5);
	read_exact(&f, f.b, buf, 5);
	assert_memory_equal(buf, "hello", 5);

	/* a's FIN reaches b; b can still answer on the other half */
	shutdown(f.a, SHUT_WR);
	assert_int_equal(next_read(&f, f.b), 0);
	assert_int_equal(f.done, 0);
	assert_int_equal(send(f.b, "world!", 6, 0), 6);
	read_exact(&f, f.a, buf, 6);
	assert_memory_equal(buf, "world!", 6);
	shutdown(f.b, SHUT_WR);
	assert_int_equal(next_read(&f, f.a), 0);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.r.how, WEFT_RELAY_CLEAN);
	assert_int_equal(f.r.s[0].bytes_in, 5);
	assert_int_equal(f.r.s[1].bytes_out, 5);
	assert_int_equal(f.r.s[1].bytes_in, 6);
	assert_int_equal(f.r.s[0].bytes_out, 6);
	teardown_pair(&f);
}

static void test_backpressure(void **st)
{
	fixture_t f;
	static unsigned char chunk[4096];
	size_t sent = 0, got = 0;
	bool blocked = false;
	unsigned char *rx;

	setup_pair(&f, true);
	/* b never reads: the relay fills its buffer to the bound, then stops
	 * reading, so a's writes block for good */
	set_nb(f.a);
	for (int i = 0; i < 3000 && !(blocked && weft_buf_len(&f.r.s[0].in) == f.r.bufmax); i++) {
		for (size_t k = 0; k < sizeof(chunk); k++)
			chunk[k] = (unsigned char)((sent + k) * 7 + 3);
		ssize_t n = send(f.a, chunk, sizeof(chunk), 0);
		if (n > 0)
			sent += (size_t)n;
		blocked = n < 0 && errno == EAGAIN;
		weft_loop_once(&f.loop, blocked ? 10 : 0);
	}
	assert_true(blocked);
	assert_int_equal(weft_buf_len(&f.r.s[0].in), f.r.bufmax);
	assert_false(f.r.s[0].io.events & WEFT_IO_READ);
	/* more turns change nothing: the relay holds its bound */
	spin(&f.loop, 20);
	assert_int_equal(weft_buf_len(&f.r.s[0].in), f.r.bufmax);
	assert_int_equal(f.r.s[0].bytes_in, f.r.s[1].bytes_out + f.r.bufmax);
	/* now b reads everything, in order */
	rx = malloc(sent);
	assert_non_null(rx);
	read_exact(&f, f.b, rx, sent);
	for (size_t k = 0; k < sent; k++)
		if (rx[k] != (unsigned char)(k * 7 + 3)) {
			fail_msg("byte %zu differs", k);
		}
	got = sent;
	assert_int_equal(f.r.s[1].bytes_out, got);
	free(rx);
	teardown_pair(&f);
}

static void test_rst_propagates(void **st)
{
	fixture_t f;
	char buf[4];

	setup_pair(&f, false);
	assert_int_equal(send(f.a, "ping", 4, 0), 4);
	read_exact(&f, f.b, buf, 4);
	/* b resets: a must see a reset too, not a FIN */
	weft_sock_set_rst(f.b);
	close(f.b);
	f.b = -1;
	assert_int_equal(next_read(&f, f.a), -ECONNRESET);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.r.how, WEFT_RELAY_RESET);
	teardown_pair(&f);
}

static void test_abort_resets_both(void **st)
{
	fixture_t f;

	setup_pair(&f, false);
	spin(&f.loop, 2);
	weft_relay_abort(&f.r);
	assert_int_equal(next_read(&f, f.a), -ECONNRESET);
	assert_int_equal(next_read(&f, f.b), -ECONNRESET);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.r.how, WEFT_RELAY_ABORTED);
	weft_relay_abort(&f.r);   /* twice: harmless */
	spin(&f.loop, 2);
	assert_int_equal(f.done, 1);
	teardown_pair(&f);
}

static void test_connect_refused_resets_client(void **st)
{
	fixture_t f;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int ra, l, c;

	memset(&f, 0, sizeof(f));
	assert_int_equal(weft_loop_init(&f.loop), 0);
	weft_relay_init(&f.r, &f.loop, 0, on_done, &f);
	tcp_pair(&f.a, &ra, false);
	f.b = -1;
	/* a port nobody listens on: bind one, note it, close it */
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	close(l);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS ||
		    errno == ECONNREFUSED);
	assert_int_equal(weft_relay_set_sock(&f.r, 0, ra), WEFT_OK);
	assert_int_equal(weft_relay_set_sock(&f.r, 1, c), WEFT_OK);
	weft_relay_start(&f.r);
	assert_int_equal(next_read(&f, f.a), -ECONNRESET);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.r.how, WEFT_RELAY_RESET);
	assert_int_equal(f.r.err, ECONNREFUSED);
	teardown_pair(&f);
}

/* ---- an external end, shaped like an HBONE stream ---- */

typedef struct ext {
	weft_buf_t got;          /* bytes the relay sent to it */
	size_t window;           /* it takes at most this much before EAGAIN */
	size_t consumed;
	int shut, closed, reset;
} ext_t;

static ssize_t ext_send(void *ctx, const void *p, size_t n)
{
	ext_t *e = ctx;

	if (weft_buf_len(&e->got) >= e->window)
		return WEFT_EAGAIN;
	weft_buf_append(&e->got, p, n);   /* takes all of it, like weft_hbone_send */
	return (ssize_t)n;
}
static void ext_consumed(void *ctx, size_t n) { ((ext_t *)ctx)->consumed += n; }
static void ext_shut(void *ctx) { ((ext_t *)ctx)->shut++; }
static void ext_close(void *ctx, bool reset)
{
	ext_t *e = ctx;

	e->closed++;
	e->reset += reset;
}

static const weft_relay_end_ops_t ext_ops = {
	.kind = "test", .send = ext_send, .consumed = ext_consumed,
	.shutdown_write = ext_shut, .close = ext_close,
};

static void test_external_end(void **st)
{
	fixture_t f;
	ext_t e = { .window = 100000 };
	char buf[8];
	int ra;

	memset(&f, 0, sizeof(f));
	weft_buf_init(&e.got, 0);
	assert_int_equal(weft_loop_init(&f.loop), 0);
	weft_relay_init(&f.r, &f.loop, 0, on_done, &f);
	tcp_pair(&f.a, &ra, false);
	f.b = -1;
	assert_int_equal(weft_relay_set_sock(&f.r, 0, ra), WEFT_OK);
	weft_relay_set_ext(&f.r, 1, &ext_ops, &e);
	weft_relay_start(&f.r);

	/* socket -> external */
	assert_int_equal(send(f.a, "abc", 3, 0), 3);
	for (int i = 0; i < 200 && weft_buf_len(&e.got) < 3; i++)
		weft_loop_once(&f.loop, 5);
	assert_int_equal(weft_buf_len(&e.got), 3);
	assert_memory_equal(weft_buf_head(&e.got), "abc", 3);

	/* external -> socket; consumed only once written on */
	weft_relay_push(&f.r, 1, "xyz12", 5);
	read_exact(&f, f.a, buf, 5);
	assert_memory_equal(buf, "xyz12", 5);
	assert_int_equal(e.consumed, 5);

	/* the external end is full: the relay waits for writable */
	e.window = 3;
	assert_int_equal(send(f.a, "def", 3, 0), 3);
	spin(&f.loop, 10);
	assert_int_equal(weft_buf_len(&e.got), 3);
	assert_true(f.r.s[1].wr_blocked);
	e.window = 100;
	weft_relay_writable(&f.r, 1);
	assert_int_equal(weft_buf_len(&e.got), 6);

	/* half-closes both ways, then the stream closes cleanly */
	shutdown(f.a, SHUT_WR);
	for (int i = 0; i < 200 && !e.shut; i++)
		weft_loop_once(&f.loop, 5);
	assert_int_equal(e.shut, 1);
	weft_relay_eof(&f.r, 1);
	assert_int_equal(next_read(&f, f.a), 0);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.r.how, WEFT_RELAY_CLEAN);
	assert_int_equal(e.closed, 1);
	assert_int_equal(e.reset, 0);
	teardown_pair(&f);
	weft_buf_free(&e.got);
}

static void test_external_reset(void **st)
{
	fixture_t f;
	ext_t e = { .window = 100000 };
	int ra;

	memset(&f, 0, sizeof(f));
	weft_buf_init(&e.got, 0);
	assert_int_equal(weft_loop_init(&f.loop), 0);
	weft_relay_init(&f.r, &f.loop, 0, on_done, &f);
	tcp_pair(&f.a, &ra, false);
	f.b = -1;
	assert_int_equal(weft_relay_set_sock(&f.r, 0, ra), WEFT_OK);
	weft_relay_set_ext(&f.r, 1, &ext_ops, &e);
	weft_relay_start(&f.r);
	/* the stream is reset by the peer: the socket gets an RST and the
	 * relay never calls the gone end again */
	weft_relay_closed(&f.r, 1, true);
	assert_int_equal(next_read(&f, f.a), -ECONNRESET);
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.r.how, WEFT_RELAY_RESET);
	assert_int_equal(e.closed, 0);
	/* and the other way: the socket resets, the stream is reset */
	teardown_pair(&f);

	memset(&e, 0, sizeof(e));
	e.window = 100000;
	weft_buf_init(&e.got, 0);
	assert_int_equal(weft_loop_init(&f.loop), 0);
	weft_relay_init(&f.r, &f.loop, 0, on_done, &f);
	f.done = 0;
	tcp_pair(&f.a, &ra, false);
	assert_int_equal(weft_relay_set_sock(&f.r, 0, ra), WEFT_OK);
	weft_relay_set_ext(&f.r, 1, &ext_ops, &e);
	weft_relay_start(&f.r);
	weft_sock_set_rst(f.a);
	close(f.a);
	f.a = -1;
	spin_until(&f.loop, &f.done);
	assert_int_equal(f.r.how, WEFT_RELAY_RESET);
	assert_int_equal(e.closed, 1);
	assert_int_equal(e.reset, 1);
	teardown_pair(&f);
	weft_buf_free(&e.got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_and_half_close),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_rst_propagates),
		cmocka_unit_test(test_abort_resets_both),
		cmocka_unit_test(test_connect_refused_resets_client),
		cmocka_unit_test(test_external_end),
		cmocka_unit_test(test_external_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
