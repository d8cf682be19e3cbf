/* weft control — the control plane: config -> xDS, admin endpoints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/cfgdec.h"
#include "weft/cli.h"
#include "weft/control.h"
#include "weft/log.h"
#include "weft/str.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft control --config PATH [options]\n"
		"  --config PATH          YAML file, or directory of *.yaml/*.yml (recursive); required\n"
		"  --xds-listen ADDR      ADS (gRPC, plaintext) address [127.0.0.1:15010]\n"
		"  --admin-listen ADDR    admin HTTP address [127.0.0.1:15014]\n"
		"  --debounce MS          delay that coalesces snapshot pushes [10]\n"
		"  --reload-debounce MS   delay that coalesces file changes [25]\n"
		"  --max-pending BYTES    output bound per xDS connection [33554432]\n"
		"  --stall-timeout MS     disconnect an xDS client whose output is stuck [30000]\n"
		"  --preface-timeout MS   disconnect connections without an HTTP/2 preface [10000]\n"
		"  --log-level LEVEL      debug, info, warn, error [info]\n"
		/* agents (weft.agent.v1 resources) */
		"  --trust-domain TD      SPIFFE trust domain of workload identities [cluster.local]\n"
		"  --root-namespace NS    namespace whose policies apply mesh-wide [weft-system]\n"
		"  --agent-plaintext      TESTS ONLY: serve agent resources on the plaintext port to\n"
		"                         the node named by the request's node.id (no authentication)\n");
}

static int num(const char *opt, const char *v, unsigned long long max, unsigned long long *out)
{
	if (weft_str_to_u64(weft_str_c(v), max, out) < 0) {
		fprintf(stderr, "weft control: %s: not a number in 0..%llu: '%s'\n", opt, max, v);
		return -1;
	}
	return 0;
}

static int run_control(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "xds-listen", required_argument, NULL, 'x' },
		{ "admin-listen", required_argument, NULL, 'a' },
		{ "debounce", required_argument, NULL, 'd' },
		{ "reload-debounce", required_argument, NULL, 'r' },
		{ "max-pending", required_argument, NULL, 'p' },
		{ "stall-timeout", required_argument, NULL, 's' },
		{ "preface-timeout", required_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		/* agents */
		{ "trust-domain", required_argument, NULL, 'T' },
		{ "root-namespace", required_argument, NULL, 'R' },
		{ "agent-plaintext", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	weft_control_opts_t o;
	unsigned long long v;
	int ch;

	weft_control_opts_default(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 'x': o.xds_listen = optarg; break;
		case 'a': o.admin_listen = optarg; break;
		case 'd':
			if (num("--debounce", optarg, 600000, &v) < 0)
				return 2;
			o.debounce_ms = (uint32_t)v;
			break;
		case 'r':
			if (num("--reload-debounce", optarg, 600000, &v) < 0)
				return 2;
			o.reload_ms = (uint32_t)v;
			break;
		case 'p':
			if (num("--max-pending", optarg, 1ULL << 40, &v) < 0 || v < 65536) {
				fprintf(stderr, "weft control: --max-pending: at least 65536\n");
				return 2;
			}
			o.max_pending = (size_t)v;
			break;
		case 's':
			if (num("--stall-timeout", optarg, 86400000, &v) < 0 || v == 0)
				return 2;
			o.stall_ms = (uint32_t)v;
			break;
		case 'f':
			if (num("--preface-timeout", optarg, 86400000, &v) < 0 || v == 0)
				return 2;
			o.preface_ms = (uint32_t)v;
			break;
		case 'l':
			if (!strcmp(optarg, "debug"))
				weft_log_set_level(WEFT_LOG_DEBUG);
			else if (!strcmp(optarg, "info"))
				weft_log_set_level(WEFT_LOG_INFO);
			else if (!strcmp(optarg, "warn"))
				weft_log_set_level(WEFT_LOG_WARN);
			else if (!strcmp(optarg, "error"))
				weft_log_set_level(WEFT_LOG_ERR);
			else {
				fprintf(stderr, "weft control: --log-level: debug, info, warn or error\n");
				return 2;
			}
			break;
		/* agents */
		case 'T':
			if (!weft_is_hostname(weft_str_c(optarg)) || strchr(optarg, '*')) {
				fprintf(stderr, "weft control: --trust-domain: not a valid trust domain: '%s'\n", optarg);
				return 2;
			}
			o.trust_domain = optarg;
			break;
		case 'R':
			if (!weft_is_dns_label(weft_str_c(optarg))) {
				fprintf(stderr, "weft control: --root-namespace: not a valid namespace name: '%s'\n", optarg);
				return 2;
			}
			o.root_namespace = optarg;
			break;
		case 'P': o.agent_plaintext = true; break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o.config || optind < argc) {
		if (!o.config)
			fprintf(stderr, "weft control: --config is required\n");
		else
			fprintf(stderr, "weft control: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return weft_control_run(&o);
}

WEFT_CLI_COMMAND(control, "control", "run the control plane (config -> xDS, admin)", run_control);
