/* Unit tests for src/agent/nft.c without touching any real rules: the
 * script's content, and how a failing or missing nft is reported (a fake
 * nft that reads the script from stdin and complains on stderr). Real
 * installs are covered by tests/e2e/test_capture.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "weft/capture.h"

static void test_script(void **st)
{
	weft_nft_opts_t o;
	char buf[1024], small[64];

	weft_nft_opts_default(&o, 0x539);
	assert_true(weft_nft_script(&o, buf, sizeof(buf)) > 0);
	/* create-if-absent, flush, then the chains: one idempotent transaction */
	assert_non_null(strstr(buf, "table inet weft\nflush table inet weft\n"));
	assert_non_null(strstr(buf, "type nat hook output priority -100"));
	assert_non_null(strstr(buf, "meta mark 0x539 return"));
	assert_non_null(strstr(buf, "fib daddr type local return"));
	assert_non_null(strstr(buf, "redirect to :15001"));
	assert_non_null(strstr(buf, "type nat hook prerouting priority dstnat"));
	assert_non_null(strstr(buf, "iif lo return"));
	assert_non_null(strstr(buf, "tcp dport 15008 return"));
	assert_non_null(strstr(buf, "redirect to :15006"));
	/* the mark check comes before any redirect */
	assert_true(strstr(buf, "meta mark") < strstr(buf, "redirect to :15001"));
	assert_int_equal(weft_nft_script(&o, small, sizeof(small)), WEFT_ELIMIT);
}

static void test_errors_reported(void **st)
{
	char dir[] = "/tmp/weft-nft-XXXXXX", path[128], err[512];
	weft_nft_opts_t o;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nft", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho \"boom: $(head -c 11)\" >&2\nexit 3\n", f);
	fclose(f);
	chmod(path, 0755);
	weft_nft_opts_default(&o, 0x539);
	o.nft_bin = path;
	assert_int_equal(weft_nft_install(-1, &o, err, sizeof(err)), WEFT_EFAIL);
	assert_string_equal(err, "nft exited 3: boom: table inet");
	assert_int_equal(weft_nft_remove(-1, &o, err, sizeof(err)), WEFT_EFAIL);
	assert_string_equal(err, "nft exited 3: boom: table inet");
	o.nft_bin = "/nonexistent/nft";
	assert_int_equal(weft_nft_install(-1, &o, err, sizeof(err)), WEFT_EFAIL);
	assert_string_equal(err, "cannot run /nonexistent/nft");
	o.nft_bin = "/bin/true";
	assert_int_equal(weft_nft_install(-1, &o, err, sizeof(err)), WEFT_OK);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_errors_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
