/* Test helpers for the unit tests that run real connections on a loop over
 * 127.0.0.1 (test_grpc_client.c, test_hbone.c). Include after <cmocka.h>. */
#ifndef WEFT_LOOP_TEST_UTIL_H
#define WEFT_LOOP_TEST_UTIL_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "weft/loop.h"

/* A non-blocking TCP socket connecting to 127.0.0.1:port (the connect may
 * still be in progress). Fails the test when the socket cannot be made. */
static int ltu_dial(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

/* Runs loop until cond(arg) holds; fails the test after 20 s (a hang, not
 * a speed limit). */
static void ltu_run_until(weft_loop_t *loop, bool (*cond)(void *), void *arg)
{
	uint64_t start = weft_loop_update_time(loop);

	while (!cond(arg)) {
		weft_loop_once(loop, 10);
		if (loop->now_ms - start > 20000)
			fail_msg("condition not reached");
	}
}

#endif
