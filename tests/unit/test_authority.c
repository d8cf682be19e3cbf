/* Unit tests for the HBONE request parsers (src/proto/authority.c):
 * accept/reject tables for the CONNECT :authority and Forwarded for=. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include "weft/hbone.h"

typedef struct row {
	const char *in;
	const char *ip;    /* NULL: must be rejected */
	int port;
} row_t;

static void check_addr(const struct sockaddr_storage *ss, const char *ip, int port, const char *in)
{
	char got[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, got, sizeof(got));
		if (port >= 0)
			assert_int_equal(ntohs(s4->sin_port), port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		assert_int_equal(ss->ss_family, AF_INET6);
		inet_ntop(AF_INET6, &s6->sin6_addr, got, sizeof(got));
		if (port >= 0)
			assert_int_equal(ntohs(s6->sin6_port), port);
	}
	if (strcmp(got, ip))
		fail_msg("%s: got %s, want %s", in, got, ip);
}

static void test_authority(void **st)
{
	static const row_t rows[] = {
		{ "10.0.0.1:80", "10.0.0.1", 80 },
		{ "127.0.0.1:1", "127.0.0.1", 1 },
		{ "255.255.255.255:65535", "255.255.255.255", 65535 },
		{ "[::1]:8080", "::1", 8080 },
		{ "[fd00::a:b]:443", "fd00::a:b", 443 },
		{ "[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", 9 },
		{ "10.0.0.1:0", NULL, 0 },            /* port 0 */
		{ "10.0.0.1:65536", NULL, 0 },
		{ "10.0.0.1:99999", NULL, 0 },
		{ "10.0.0.1:080", NULL, 0 },          /* leading zero */
		{ "10.0.0.1:+80", NULL, 0 },          /* sign */
		{ "10.0.0.1:-80", NULL, 0 },
		{ "10.0.0.1:", NULL, 0 },
		{ "10.0.0.1", NULL, 0 },               /* no port */
		{ ":80", NULL, 0 },
		{ "", NULL, 0 },
		{ "example.com:80", NULL, 0 },         /* names */
		{ "localhost:80", NULL, 0 },
		{ "010.0.0.1:80", NULL, 0 },           /* octal-looking */
		{ "10.0.0:80", NULL, 0 },
		{ "10.0.0.256:80", NULL, 0 },
		{ "::1:80", NULL, 0 },                  /* v6 without brackets */
		{ "[::1]", NULL, 0 },
		{ "[::1]80", NULL, 0 },
		{ "[::1]:", NULL, 0 },
		{ "[fe80::1%eth0]:80", NULL, 0 },       /* zone id */
		{ "[fe80::1%25eth0]:80", NULL, 0 },
		{ "[1.2.3.4]:80", NULL, 0 },
		{ " 10.0.0.1:80", NULL, 0 },            /* spaces */
		{ "10.0.0.1:80 ", NULL, 0 },
		{ "10.0.0.1 :80", NULL, 0 },
		{ "10.0.0.1:80x", NULL, 0 },            /* trailing garbage */
		{ "10.0.0.1:80:81", NULL, 0 },
		{ "[::1]:80]", NULL, 0 },
		{ "user@10.0.0.1:80", NULL, 0 },
		{ "[::1:80", NULL, 0 },
		{ "[[::1]]:80", NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t sl = 0;
		int rc = weft_hbone_parse_authority(rows[i].in, strlen(rows[i].in), &ss, &sl);
		if (rows[i].ip) {
			if (rc != WEFT_OK)
				fail_msg("%s: rejected", rows[i].in);
			check_addr(&ss, rows[i].ip, rows[i].port, rows[i].in);
			assert_int_equal(sl, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
								     : sizeof(struct sockaddr_in6));
		} else if (rc != WEFT_EPROTO) {
			fail_msg("%s: accepted", rows[i].in);
		}
	}
	/* (ptr,len): bytes after len are not read; NUL inside is refused */
	{
		struct sockaddr_storage ss;
		socklen_t sl;
		assert_int_equal(weft_hbone_parse_authority("10.0.0.1:80GARBAGE", 11, &ss, &sl), WEFT_OK);
		assert_int_equal(weft_hbone_parse_authority("10.0.0.1\0:80", 12, &ss, &sl), WEFT_EPROTO);
		assert_int_equal(weft_hbone_parse_authority(NULL, 0, &ss, &sl), WEFT_EPROTO);
		/* too long for the request's authority field */
		assert_int_equal(weft_hbone_parse_authority(
			"[0000:0000:0000:0000:0000:0000:0000:0001]:65535xxxxxxxxxxxxxxxxxxxxxx", 69, &ss, &sl),
			WEFT_EPROTO);
	}
}

static void test_forwarded(void **st)
{
	static const row_t rows[] = {
		{ "for=10.1.2.3", "10.1.2.3", 0 },
		{ "for=\"10.1.2.3\"", "10.1.2.3", 0 },
		{ "for=\"10.1.2.3:4711\"", "10.1.2.3", 0 },        /* port ignored */
		{ "for=\"10.1.2.3:_abc\"", "10.1.2.3", 0 },        /* obfuscated port */
		{ "for=\"[2001:db8::1]\"", "2001:db8::1", 0 },
		{ "for=\"[2001:db8::1]:80\"", "2001:db8::1", 0 },
		{ "For=10.1.2.3", "10.1.2.3", 0 },                 /* case-insensitive names */
		{ "FOR=10.1.2.3", "10.1.2.3", 0 },
		{ "proto=https;for=10.1.2.3;by=10.0.0.1", "10.1.2.3", 0 },
		{ "for=10.1.2.3, for=10.9.9.9", "10.1.2.3", 0 },     /* first element */
		{ "for=10.1.2.3,for=unknown", "10.1.2.3", 0 },
		{ " for=10.1.2.3 ", "10.1.2.3", 0 },
		{ "for=10.1.2.3 ; proto=http", "10.1.2.3", 0 },
		{ "for=10.1.2.3;host=\"a\\\"b\"", "10.1.2.3", 0 },   /* quoted-pair elsewhere */
		{ "for=\"\\1\\0.1.2.3\"", "10.1.2.3", 0 },           /* quoted-pair in the value */
		{ ";for=10.1.2.3", "10.1.2.3", 0 },                 /* empty pair */
		{ "for=unknown", NULL, 0 },
		{ "for=_hidden", NULL, 0 },                         /* obfuscated node */
		{ "for=\"_hidden:80\"", NULL, 0 },
		{ "for=\"unknown:80\"", NULL, 0 },
		{ "proto=https", NULL, 0 },                         /* no for= */
		{ "", NULL, 0 },
		{ "for=10.9.9.9;for=10.1.2.3", NULL, 0 },          /* twice in an element */
		{ "proto=http, for=10.1.2.3", NULL, 0 },           /* first element has none */
		{ "for=10.1.2.3:80", NULL, 0 },                     /* ':' must be quoted */
		{ "for=[::1]", NULL, 0 },                           /* '[' must be quoted */
		{ "for=\"::1\"", NULL, 0 },                         /* v6 needs brackets */
		{ "for=\"[::1]\"x", NULL, 0 },                      /* garbage after the quote */
		{ "for=\"10.1.2.3", NULL, 0 },                      /* unterminated */
		{ "for=", NULL, 0 },
		{ "for", NULL, 0 },
		{ "=10.1.2.3", NULL, 0 },
		{ "for =10.1.2.3", NULL, 0 },
		{ "for= 10.1.2.3", NULL, 0 },
		{ "for=10.1.2.3 x", NULL, 0 },
		{ "for=\"10.1.2.3:99999\"", NULL, 0 },
		{ "for=\"10.1.2.3:\"", NULL, 0 },
		{ "for=\"[fe80::1%eth0]\"", NULL, 0 },
		{ "for=\"10.1.2.3\",", "10.1.2.3", 0 },             /* empty list element */
		{ "for=\"10.1.2.3\", ,proto=x", "10.1.2.3", 0 },
		{ "for=\"10.1.2.3\";proto=\"x", NULL, 0 },          /* later element malformed */
		{ "for=10.1.2.3, bad", NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t sl = 0;
		int rc = weft_hbone_parse_forwarded(rows[i].in, strlen(rows[i].in), &ss, &sl);
		if (rows[i].ip) {
			if (rc != WEFT_OK)
				fail_msg("%s: rejected", rows[i].in);
			check_addr(&ss, rows[i].ip, 0, rows[i].in);
		} else if (rc != WEFT_EPROTO) {
			fail_msg("%s: accepted", rows[i].in);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_authority),
		cmocka_unit_test(test_forwarded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
