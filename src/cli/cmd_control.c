/* weft control — the control plane: config -> xDS, admin endpoints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/ca.h"
#include "weft/cfgdec.h"
#include "weft/cli.h"
#include "weft/control.h"
#include "weft/log.h"
#include "weft/str.h"
#include "weft/tls.h"

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
		"certificate authority (off unless --ca-dir or --ca-cert/--ca-key is given):\n"
		"  --ca-dir DIR           CA state: root-cert.pem/root-key.pem (created on first start), tokens/\n"
		"  --ca-cert FILE         sign with this root or intermediate (PEM) instead ...\n"
		"  --ca-key FILE          ... and its key (PEM)\n"
		"  --ca-bundle FILE       extra trusted roots (PEM), e.g. during a root rotation\n"
		"  --trust-domain TD      SPIFFE trust domain [cluster.local]\n"
		"  --cert-ttl DUR         workload certificate lifetime, default and maximum [24h]\n"
		"  --node-cert-ttl DUR    node certificate lifetime [24h]\n"
		"  --xds-tls ADDR         mTLS port for agents: xDS + CA (\"\" = off) [127.0.0.1:15012]\n"
		"agents (weft.agent.v1 resources):\n"
		"  --root-namespace NS    namespace whose policies apply mesh-wide [weft-system]\n"
		"  --agent-plaintext      TESTS ONLY: serve agent resources on the plaintext port to\n"
		"                         the node named by the request's node.id (no authentication)\n"
		"\n"
		"usage: weft control token create --node NAME [--ca-dir DIR] [--ttl 1h]\n"
		"  prints one line: <id>.<secret>.<sha256 of the root's public key, hex>\n");
}

static int num(const char *opt, const char *v, unsigned long long max, unsigned long long *out)
{
	if (weft_str_to_u64(weft_str_c(v), max, out) < 0) {
		fprintf(stderr, "weft control: %s: not a number in 0..%llu: '%s'\n", opt, max, v);
		return -1;
	}
	return 0;
}

/* A duration ("24h", "90s", "1h30m") in whole seconds, at least 1. */
static int dur_s(const char *opt, const char *v, uint32_t *out)
{
	uint64_t ms;

	if (weft_parse_duration(weft_str_c(v), &ms) < 0 || ms < 1000 || ms / 1000 > UINT32_MAX) {
		fprintf(stderr, "weft control: %s: not a duration of at least 1s (like 24h, 90m, 60s): '%s'\n",
			opt, v);
		return -1;
	}
	*out = (uint32_t)(ms / 1000);
	return 0;
}

/* weft control token create --node N [--ca-dir DIR] [--ttl 1h] */
static int run_token(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "ca-dir", required_argument, NULL, 'D' },
		{ "ca-cert", required_argument, NULL, 'C' },
		{ "ca-key", required_argument, NULL, 'K' },
		{ "ca-bundle", required_argument, NULL, 'B' },
		{ "trust-domain", required_argument, NULL, 'T' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	weft_ca_opts_t co = { .trust_domain = "cluster.local", .dir = "/var/lib/weft/ca" };
	const char *node = NULL;
	uint32_t ttl = 3600;
	char tok[128], err[512], pin[65];
	weft_ca_t ca;
	int ch;

	if (argc < 2 || strcmp(argv[1], "create")) {
		fprintf(stderr, "usage: weft control token create --node NAME [--ca-dir DIR] [--ttl 1h]\n");
		return 2;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': node = optarg; break;
		case 'D': co.dir = optarg; break;
		case 'C': co.cert = optarg; break;
		case 'K': co.key = optarg; break;
		case 'B': co.bundle = optarg; break;
		case 'T': co.trust_domain = optarg; break;
		case 't':
			if (dur_s("--ttl", optarg, &ttl) < 0)
				return 2;
			break;
		case 'h':
			printf("usage: weft control token create --node NAME [--ca-dir DIR] [--ttl 1h]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!node || optind < argc) {
		fprintf(stderr, "weft control token create: --node is required\n");
		return 2;
	}
	/* the CA (created when absent) gives the pin the agent trusts on first contact */
	if (weft_ca_open(&ca, &co, err, sizeof(err)) < 0) {
		fprintf(stderr, "weft control token create: CA: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 32; i++)
		snprintf(pin + 2 * i, 3, "%02x", ca.pin[i]);
	weft_ca_close(&ca);
	if (weft_ca_token_create(co.dir, node, ttl, time(NULL), tok, sizeof(tok), err, sizeof(err)) < 0) {
		fprintf(stderr, "weft control token create: %s\n", err);
		return 1;
	}
	printf("%s.%s\n", tok, pin);
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
		{ "ca-dir", required_argument, NULL, 'D' },
		{ "ca-cert", required_argument, NULL, 'C' },
		{ "ca-key", required_argument, NULL, 'K' },
		{ "ca-bundle", required_argument, NULL, 'B' },
		{ "trust-domain", required_argument, NULL, 'T' },
		{ "cert-ttl", required_argument, NULL, 'L' },
		{ "node-cert-ttl", required_argument, NULL, 'N' },
		{ "xds-tls", required_argument, NULL, 'X' },
		{ "root-namespace", required_argument, NULL, 'R' },
		{ "agent-plaintext", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	weft_control_opts_t o;
	unsigned long long v;
	int ch;

	if (argc >= 2 && !strcmp(argv[1], "token"))
		return run_token(argc - 1, argv + 1);
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
		case 'D': o.ca_dir = optarg; break;
		case 'C': o.ca_cert = optarg; break;
		case 'K': o.ca_key = optarg; break;
		case 'B': o.ca_bundle = optarg; break;
		case 'X': o.xds_tls_listen = optarg; break;
		case 'T': {
			char tmp[WEFT_SPIFFE_MAX];
			weft_spiffe_id_t id;
			if (weft_spiffe_control(tmp, sizeof(tmp), optarg) < 0 ||
			    weft_spiffe_parse(tmp, strlen(tmp), &id) < 0) {
				fprintf(stderr, "weft control: --trust-domain: lowercase letters, digits, '.', '-', '_': '%s'\n",
					optarg);
				return 2;
			}
			o.trust_domain = optarg;
			break;
		}
		case 'L':
			if (dur_s("--cert-ttl", optarg, &o.cert_ttl_s) < 0)
				return 2;
			break;
		case 'N':
			if (dur_s("--node-cert-ttl", optarg, &o.node_cert_ttl_s) < 0)
				return 2;
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
