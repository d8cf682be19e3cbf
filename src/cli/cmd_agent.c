/* weft agent — the node agent (see docs/agent.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agent.h"
#include "weft/cfgdec.h"
#include "weft/cli.h"
#include "weft/log.h"
#include "weft/net.h"
#include "weft/str.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft agent --node NAME --control ADDR --token-file FILE [options]\n"
		"  --node NAME            this node's name (a Node in the config); required\n"
		"  --control ADDR         weft control's mTLS xDS + CA address (host:port); required\n"
		"                         unless --plaintext-xds is given\n"
		"  --token-file FILE      one-time join token (`weft control token create`); needed\n"
		"                         only while the state dir holds no node credential\n"
		"  --state-dir DIR        credentials [/var/lib/weft/agent-<node>]\n"
		"  --node-netns PATH      network namespace of node-level sockets [ours]\n"
		"  --admin ADDR           admin endpoint (/healthz, /config_dump, /certs) [127.0.0.1:15000]\n"
		"  --metrics ADDR         Prometheus endpoint (/metrics, /stats/prometheus) [127.0.0.1:15020]\n"
		"  --hbone-port N         node-level HBONE port [15008]\n"
		"  --cert-ttl DUR         requested workload certificate lifetime, e.g. 1h, 90s [CA default]\n"
		"  --capture MODE         auto, ebpf, nft or none; auto: eBPF when the kernel allows\n"
		"                         it, else nftables [auto]\n"
		"  --capture-failure P    closed or open: while no agent runs, captured connections\n"
		"                         are refused (closed) or bypass the mesh (open; ebpf only) [closed]\n"
		"  --bpf-pin-dir DIR      where eBPF capture is pinned [/sys/fs/bpf/weft/<node>]\n"
		"  --plaintext-xds ADDR   tests: delta ADS on control's plaintext port, no TLS, no CA\n"
		"  --l7-max-connections N   L7: open connections per local workload [4096; 0: unlimited]\n"
		"  --l7-max-requests N      L7: requests in flight per local workload [1024; 0: unlimited]\n"
		"  --l7-max-buffer BYTES    L7: body bytes held per local workload [64 MiB; 0: unlimited]\n"
		"  --path-escaped-slashes M keep, decode or reject %%2F/%%5C in paths [decode]\n"
		"  --access-log SINK        stderr, stdout, a file path or off [stderr]\n"
		"  --access-log-fields F    comma list of access log fields [all]\n"
		"  --access-log-sample P    share of requests logged, 0..1 (errors always) [1]\n"
		"  --trace-endpoint URL     OTLP/HTTP collector http://ip:port/v1/traces [none]\n"
		"  --trace-sample P         share of new traces sampled, 0..1 [0.01]\n"
		"  --log-level LEVEL      debug, info, warn, error [info]\n");
}

static int bad(const char *opt, const char *v, const char *what)
{
	fprintf(stderr, "weft agent: %s '%s': %s\n", opt, v, what);
	return 2;
}

static bool addr_ok(const char *v)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	return weft_net_parse_addr(v, strlen(v), &ss, &sl) == WEFT_OK;
}

static bool node_name_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-' ||
		      v[i] == '.' || v[i] == '_'))
			return false;
	return true;
}

/* A share 0..1 from v. Returns true with *out set, false when v is not one. */
static bool share_ok(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (!*v || *end || errno || !(d >= 0.0 && d <= 1.0))
		return false;
	*out = d;
	return true;
}

static int run_agent(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "control", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "node-netns", required_argument, NULL, 'N' },
		{ "admin", required_argument, NULL, 'a' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "hbone-port", required_argument, NULL, 'p' },
		{ "cert-ttl", required_argument, NULL, 'T' },
		{ "capture", required_argument, NULL, 'C' },
		{ "capture-failure", required_argument, NULL, 'F' },
		{ "bpf-pin-dir", required_argument, NULL, 'B' },
		{ "plaintext-xds", required_argument, NULL, 'x' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "l7-max-connections", required_argument, NULL, 1001 },
		{ "l7-max-requests", required_argument, NULL, 1002 },
		{ "l7-max-buffer", required_argument, NULL, 1003 },
		{ "path-escaped-slashes", required_argument, NULL, 1004 },
		{ "access-log", required_argument, NULL, 1005 },
		{ "access-log-fields", required_argument, NULL, 1006 },
		{ "access-log-sample", required_argument, NULL, 1007 },
		{ "trace-endpoint", required_argument, NULL, 1008 },
		{ "trace-sample", required_argument, NULL, 1009 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	weft_agent_opts_t o;
	unsigned long long v;
	uint64_t ms;
	int ch;

	weft_agent_opts_default(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (!node_name_ok(optarg))
				return bad("--node", optarg, "1..253 of a-z 0-9 . - _");
			o.node = optarg;
			break;
		case 'c':
			if (!addr_ok(optarg))
				return bad("--control", optarg, "not host:port (an IP literal or localhost)");
			o.control = optarg;
			break;
		case 't': o.token_file = optarg; break;
		case 's':
			if (!*optarg)
				return bad("--state-dir", optarg, "empty");
			o.state_dir = optarg;
			break;
		case 'N': o.node_netns = optarg; break;
		case 'a':
			if (!addr_ok(optarg))
				return bad("--admin", optarg, "not host:port");
			o.admin_addr = optarg;
			break;
		case 'm':
			if (!addr_ok(optarg))
				return bad("--metrics", optarg, "not host:port");
			o.metrics_addr = optarg;
			break;
		case 'p':
			if (weft_str_to_u64(weft_str_c(optarg), 65535, &v) < 0 || v == 0)
				return bad("--hbone-port", optarg, "a port in 1..65535");
			o.hbone_port = (uint16_t)v;
			break;
		case 'T':
			if (weft_parse_duration(weft_str_c(optarg), &ms) < 0 || ms < 1000 ||
			    ms > 366ull * 86400 * 1000)
				return bad("--cert-ttl", optarg, "a duration (e.g. 90s, 1h) from 1s to 366 days");
			o.cert_ttl_s = (uint32_t)(ms / 1000);
			break;
		case 'C':
			if (strcmp(optarg, "auto") && strcmp(optarg, "ebpf") && strcmp(optarg, "nft") &&
			    strcmp(optarg, "none"))
				return bad("--capture", optarg, "auto, ebpf, nft or none");
			o.capture = optarg;
			break;
		case 'B':
			if (optarg[0] != '/' || strlen(optarg) > 200 || strstr(optarg, "/../"))
				return bad("--bpf-pin-dir", optarg, "an absolute path of at most 200 bytes");
			o.bpf_pin_dir = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "closed") && strcmp(optarg, "open"))
				return bad("--capture-failure", optarg, "closed or open");
			o.capture_fail_open = !strcmp(optarg, "open");
			break;
		case 'x':
			if (!addr_ok(optarg))
				return bad("--plaintext-xds", optarg, "not host:port");
			o.plaintext_xds = optarg;
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
			else
				return bad("--log-level", optarg, "debug, info, warn or error");
			break;
		case 1001:
		case 1002:
		case 1003:
			if (weft_str_to_u64(weft_str_c(optarg), ~0ull, &v) < 0)
				return bad(ch == 1001 ? "--l7-max-connections" : ch == 1002 ? "--l7-max-requests"
					   : "--l7-max-buffer", optarg, "a whole number (0: unlimited)");
			if (ch == 1001)
				o.l7_max_conns = v;
			else if (ch == 1002)
				o.l7_max_requests = v;
			else
				o.l7_max_buffer = v;
			break;
		case 1004:
			if (strcmp(optarg, "keep") && strcmp(optarg, "decode") && strcmp(optarg, "reject"))
				return bad("--path-escaped-slashes", optarg, "keep, decode or reject");
			o.path_slashes = optarg;
			break;
		case 1005:
			if (!*optarg)
				return bad("--access-log", optarg, "stderr, stdout, a file path or off");
			o.access_log = optarg;
			break;
		case 1006:
			if (!*optarg)
				return bad("--access-log-fields", optarg, "a comma list of field names");
			o.access_log_fields = optarg;
			break;
		case 1007:
			if (!share_ok(optarg, &o.access_log_sample))
				return bad("--access-log-sample", optarg, "a number from 0 to 1");
			break;
		case 1008:
			if (strncmp(optarg, "http://", 7) || !optarg[7])
				return bad("--trace-endpoint", optarg, "http://ip:port/v1/traces");
			o.trace_endpoint = optarg;
			break;
		case 1009:
			if (!share_ok(optarg, &o.trace_sample))
				return bad("--trace-sample", optarg, "a number from 0 to 1");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weft agent: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o.node || (!o.control && !o.plaintext_xds)) {
		fprintf(stderr, "weft agent: %s is required\n", !o.node ? "--node" : "--control");
		usage(stderr);
		return 2;
	}
	return weft_agent_run(&o);
}

WEFT_CLI_COMMAND(agent, "agent", "run the node agent (capture, HBONE mTLS, identities)", run_agent);
