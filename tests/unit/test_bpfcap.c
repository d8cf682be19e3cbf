/* Unit tests for the eBPF capture that need no privileges: the map layouts
 * the agent uses against the ones compiled into the programs (read from the
 * skeleton's embedded object, which libbpf opens without loading), the pin
 * directory names, the cgroup id lookup and the backend selection. Loading
 * and attaching are covered by tests/e2e/test_ebpf_capture.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "weft/bpfcap.h"
#include "weft/capture.h"
#include "weft/rc.h"
#include "capture.skel.h"

static void check_map(struct bpf_object *obj, const char *name, size_t key, size_t value)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	assert_non_null(m);
	assert_int_equal(bpf_map__key_size(m), key);
	assert_int_equal(bpf_map__value_size(m), value);
}

static void test_layouts_match_programs(void **st)
{
	struct weft_capture_bpf *s = weft_capture_bpf__open();

	assert_non_null(s);
	check_map(s->obj, "cfg", 4, sizeof(struct weft_bpf_cfg));
	check_map(s->obj, "wl_cgroups", 8, sizeof(struct weft_bpf_wl));
	check_map(s->obj, "local_addrs", sizeof(struct weft_bpf_addr), sizeof(struct weft_bpf_addrval));
	check_map(s->obj, "orig_by_cookie", 8, sizeof(struct weft_bpf_orig));
	check_map(s->obj, "orig_by_tuple", sizeof(struct weft_bpf_tuple), sizeof(struct weft_bpf_orig));
	check_map(s->obj, "in_match", sizeof(struct weft_bpf_inkey), sizeof(struct weft_bpf_inval));
	check_map(s->obj, "in_socks", 4, 8);
	weft_capture_bpf__destroy(s);

	/* no hidden padding: what the agent writes is what the programs read */
	assert_int_equal(sizeof(struct weft_bpf_cfg), 8 + 4 + 2 + 2 + 2 * WEFT_BPF_MAX_AGENT_PORTS);
	assert_int_equal(sizeof(struct weft_bpf_wl), 4 + 4 + 16 + 16 + 2 + 2 + 4);
	assert_int_equal(offsetof(struct weft_bpf_wl, out_port), 40);
	assert_int_equal(sizeof(struct weft_bpf_orig), 16 + 2 + 2 + 4 + 8);
	assert_int_equal(offsetof(struct weft_bpf_orig, cgroup_id), 24);
	assert_int_equal(sizeof(struct weft_bpf_tuple), 8 + 16 + 2 + 2 + 4);
	assert_int_equal(offsetof(struct weft_bpf_tuple, port), 24);
	assert_int_equal(sizeof(struct weft_bpf_inkey), 20);
}

static void test_key(void **st)
{
	char k[64], tiny[4];

	assert_int_equal(weft_bpfcap_key(k, sizeof(k), "default", "a1"), WEFT_OK);
	assert_string_equal(k, "default_a1");
	/* nothing that could leave the pin directory */
	assert_int_equal(weft_bpfcap_key(k, sizeof(k), "../x", "a/b c"), WEFT_OK);
	assert_string_equal(k, "..-x_a-b-c");
	assert_null(strchr(k, '/'));
	assert_int_equal(weft_bpfcap_key(tiny, sizeof(tiny), "default", "a1"), WEFT_ELIMIT);
}

static void test_cgroup_id(void **st)
{
	char dir[] = "/tmp/weft-bpfcap-XXXXXX";
	struct stat sb;

	assert_non_null(mkdtemp(dir));
	/* not a cgroup fs: falls back to the inode, and a file is refused */
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(weft_bpfcap_cgroup_id(dir) != 0);
	assert_int_equal(weft_bpfcap_cgroup_id("/nonexistent/weft"), 0);
	rmdir(dir);
}

static void test_choose(void **st)
{
	assert_int_equal(weft_capture_choose("auto", NULL), WEFT_CAPTURE_EBPF);
	assert_int_equal(weft_capture_choose(NULL, NULL), WEFT_CAPTURE_EBPF);
	assert_int_equal(weft_capture_choose("auto", "load programs: Operation not permitted"),
			 WEFT_CAPTURE_NFT);
	assert_int_equal(weft_capture_choose("ebpf", NULL), WEFT_CAPTURE_EBPF);
	assert_int_equal(weft_capture_choose("ebpf", "no bpffs"), -1);
	assert_int_equal(weft_capture_choose("nft", NULL), WEFT_CAPTURE_NFT);
	assert_int_equal(weft_capture_choose("nft", "whatever"), WEFT_CAPTURE_NFT);
	assert_int_equal(weft_capture_choose("none", NULL), WEFT_CAPTURE_NONE);
	assert_int_equal(weft_capture_choose("iptables", NULL), -1);
}

static void test_open_refuses_bad_dir(void **st)
{
	weft_bpfcap_opts_t o;
	char err[128] = "";

	memset(&o, 0, sizeof(o));
	o.dir = "relative/dir";
	assert_null(weft_bpfcap_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "absolute"));
	/* removing a directory that does not exist is not an error */
	assert_int_equal(weft_bpfcap_remove_all("/tmp/weft-bpfcap-nonexistent-dir"), WEFT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts_match_programs),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_cgroup_id),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_open_refuses_bad_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
