/* weft demo — a two-node mesh on one Linux machine, out of network
 * namespaces (docs/demo.md):
 *
 *   weft demo up   [--name PREFIX] [--dir STATE] [--cert-ttl DUR] [--no-workloads]
 *                  [--no-agents] [--config-only] [--loopback A.B.C] [--timeout S]
 *   weft demo down [--name PREFIX] [--dir STATE]
 *
 * `up` builds the topology (demo_net.c), writes the mesh config
 * (demo_config.c), starts weft control, one weft agent per node and the
 * pods' servers (demo_proc.c), waits until all are ready and prints how to
 * look at it; on any failure it prints the log to read and rolls back.
 * `down` stops every process, deletes the namespaces, cgroups and the
 * state directory; it is idempotent and cleans up after a half-built up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "weft/bpfcap.h"
#include "weft/cfgdec.h"
#include "weft/cli.h"
#include "weft/str.h"
#include "demo.h"

#define DEMO_MARKER ".weft-demo"

typedef struct demo_args {
	const char *name, *dir, *cert_ttl, *loopback, *capture;
	const char *agent_args[DEMO_AGENT_ARGS];
	int nagent_args;
	bool no_workloads, no_agents, config_only;
	unsigned timeout_s;
} demo_args_t;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft demo up   [--name PREFIX] [--dir STATE] [options]\n"
		"       weft demo down [--name PREFIX] [--dir STATE]\n"
		"       weft demo exec [--name PREFIX] POD [--] COMMAND [ARGS...]\n"
		"                    run COMMAND in pod POD (a1, a2, b1, b2): in its network\n"
		"                    namespace and its cgroup, so its connections are captured\n"
		"                    whatever the capture mode\n"
		"  --name PREFIX     names every namespace, cgroup and process of the cluster [weft]\n"
		"  --dir STATE       config, CA, logs, pidfiles, cluster.json [/run/weft-demo/PREFIX]\n"
		"  --cert-ttl DUR    workload certificate lifetime the agents ask for (e.g. 60s, 1h)\n"
		"  --agent-arg ARG   one more argument for both agents, as is (repeatable, up to 8;\n"
		"                    e.g. --agent-arg=--l7-max-requests=100)\n"
		"  --capture MODE    the agents' capture: auto, ebpf, nft or none [auto]\n"
		"  --loopback A.B.C  control on A.B.C.1, agent k on A.B.C.(k+1)\n"
		"                    [127.0.0 for the prefix weft, else 127.77.N derived from it]\n"
		"  --timeout S       how long up waits for each process to be ready [30]\n"
		"  --no-workloads    no servers in the pods\n"
		"  --no-agents       no weft agents (topology, control and pods only)\n"
		"  --config-only     only write STATE/config and STATE/cluster.json\n");
}

static bool dir_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

/* Fills d from the arguments. Returns 0, or 2 (usage error, printed). */
static int demo_setup(demo_t *d, const demo_args_t *a)
{
	char err[256];

	memset(d, 0, sizeof *d);
	if (demo_prefix_check(a->name, err, sizeof err) < 0) {
		fprintf(stderr, "weft demo: %s\n", err);
		return 2;
	}
	snprintf(d->prefix, sizeof d->prefix, "%s", a->name);
	if (a->dir) {
		if (a->dir[0] == '/') {
			snprintf(d->dir, sizeof d->dir, "%s", a->dir);
		} else {
			char cwd[DEMO_PATH];
			if (!getcwd(cwd, sizeof cwd) ||
			    (size_t)snprintf(d->dir, sizeof d->dir, "%s/%s", cwd, a->dir) >= sizeof d->dir) {
				fprintf(stderr, "weft demo: --dir: path too long\n");
				return 2;
			}
		}
	} else {
		snprintf(d->dir, sizeof d->dir, "/run/weft-demo/%s", d->prefix);
	}
	if (strlen(d->dir) > 300 || !dir_ok(d->dir)) {
		fprintf(stderr, "weft demo: --dir: at most 300 bytes, no quotes, backslashes or control characters\n");
		return 2;
	}
	while (strlen(d->dir) > 1 && d->dir[strlen(d->dir) - 1] == '/')
		d->dir[strlen(d->dir) - 1] = 0;
	if (a->loopback) {
		unsigned b1, b2, b3;
		char tail;
		if (sscanf(a->loopback, "%u.%u.%u%c", &b1, &b2, &b3, &tail) != 3 || b1 != 127 ||
		    b2 > 255 || b3 > 255) {
			fprintf(stderr, "weft demo: --loopback: three octets of 127.0.0.0/8, e.g. 127.0.5\n");
			return 2;
		}
		snprintf(d->lo_base, sizeof d->lo_base, "127.%u.%u", b2, b3);
	} else if (!strcmp(d->prefix, "weft")) {
		snprintf(d->lo_base, sizeof d->lo_base, "127.0.0");
	} else {
		uint64_t h = weft_fnv1a64(0xcbf29ce484222325ULL, d->prefix, strlen(d->prefix));
		snprintf(d->lo_base, sizeof d->lo_base, "127.77.%u", (unsigned)(h % 250) + 1);
	}
	if (a->cert_ttl) {
		uint64_t ms;
		if (weft_parse_duration(weft_str_c(a->cert_ttl), &ms) < 0 || ms < 60000 ||
		    ms > 366ull * 86400 * 1000) {
			fprintf(stderr, "weft demo: --cert-ttl: a duration from 60s to 366 days (e.g. 60s, 10m, 24h)\n");
			return 2;
		}
		snprintf(d->cert_ttl, sizeof d->cert_ttl, "%llus", (unsigned long long)(ms / 1000));
	}
	for (int i = 0; i < a->nagent_args; i++)
		d->agent_args[i] = a->agent_args[i];
	d->nagent_args = a->nagent_args;
	snprintf(d->capture, sizeof d->capture, "%s", a->capture ? a->capture : "auto");
	if (strcmp(d->capture, "auto") && strcmp(d->capture, "ebpf") && strcmp(d->capture, "nft") &&
	    strcmp(d->capture, "none")) {
		fprintf(stderr, "weft demo: --capture: auto, ebpf, nft or none\n");
		return 2;
	}
	ssize_t n = readlink("/proc/self/exe", d->self, sizeof d->self - 1);
	if (n <= 0) {
		fprintf(stderr, "weft demo: cannot find the weft binary (/proc/self/exe): %s\n", strerror(errno));
		return 2;
	}
	d->self[n] = 0;
	d->agents = !a->no_agents;
	d->workloads = !a->no_workloads;
	demo_cgroup_root(d->cgroot, sizeof d->cgroot);
	demo_topo_fill(d);
	return 0;
}

/* Removes the state directory, but only one that `up` made (it holds the
 * marker file), so a mistyped --dir never deletes anything else. */
static int rm_tree(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--one-file-system", "--", path, NULL };
	return demo_must("removing the state directory", argv);
}

/* Stops everything and deletes the namespaces and cgroups; the state
 * directory too unless keep_state (a failed up keeps its logs to read).
 * Returns 0, or 1 when something could not be removed (printed). */
/* Node k's eBPF pin directory: /sys/fs/bpf/weft/<prefix>-<node> (node
 * names repeat across clusters; the prefix does not). */
static void demo_bpf_pin_dir(const demo_t *d, int k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s-%s", WEFT_BPFCAP_PIN_ROOT, d->prefix, d->nodes[k].name);
}

static int do_down(const demo_t *d, bool keep_state)
{
	char marker[DEMO_PATH + 32];
	int rc = 0;

	demo_kill_all(d);
	/* eBPF capture pinned by the agents (it outlives them by design) */
	for (int k = 0; k < DEMO_NNODES; k++) {
		char pin[128];
		demo_bpf_pin_dir(d, k, pin, sizeof pin);
		if (weft_bpfcap_remove_all(pin) < 0) {
			fprintf(stderr, "weft demo: removing %s: %s\n", pin, strerror(errno));
			rc = 1;
		}
	}
	if (demo_net_down(d) < 0)
		rc = 1;
	snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, d->dir);
	if (keep_state)
		return rc;
	if (access(marker, F_OK) == 0) {
		if (rm_tree(d->dir) < 0)
			rc = 1;
	} else if (access(d->dir, F_OK) == 0) {
		fprintf(stderr, "weft demo: %s has no %s marker: left in place\n", d->dir, DEMO_MARKER);
	}
	return rc;
}

static int mkdirs(const char *path)
{
	char tmp[DEMO_PATH];

	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* True when path is a directory with entries (other than . and ..). */
static bool nonempty_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	bool any = false;

	if (!dir)
		return false;
	while (!any && (e = readdir(dir)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dir);
	return any;
}

static bool have_command(const char *name)
{
	WEFT_REGISTRY_FOREACH(weft_cli, const weft_cli_cmd_t, c)
		if (!strcmp(c->name, name))
			return true;
	return false;
}

/* Reports a process that did not become ready. */
static void not_ready(const demo_t *d, const char *what, const char *name, int why, unsigned timeout_s)
{
	char log[DEMO_PATH + 64];

	snprintf(log, sizeof log, "%s/%s.log", d->dir, name);
	if (why == -1)
		fprintf(stderr, "weft demo: %s exited during start-up; read %s\n", what, log);
	else
		fprintf(stderr, "weft demo: %s not ready after %u s; read %s\n", what, timeout_s, log);
	demo_tail(log, 25);
}

static int start_control(const demo_t *d, unsigned timeout_s)
{
	char cfg[DEMO_PATH + 16], ca[DEMO_PATH + 16];
	const char *argv[16];
	int n = 0;
	pid_t pid;

	snprintf(cfg, sizeof cfg, "%s/config", d->dir);
	snprintf(ca, sizeof ca, "%s/ca", d->dir);
	argv[n++] = d->self;
	argv[n++] = "control";
	argv[n++] = "--config";
	argv[n++] = cfg;
	argv[n++] = "--xds-listen";
	argv[n++] = d->ctl_xds;
	argv[n++] = "--admin-listen";
	argv[n++] = d->ctl_admin;
	if (d->agents) {   /* the CA and the agents' mTLS port */
		argv[n++] = "--ca-dir";
		argv[n++] = ca;
		argv[n++] = "--xds-tls";
		argv[n++] = d->ctl_tls;
	}
	argv[n] = NULL;
	pid = demo_spawn(d, &(demo_spawn_t){ .name = "control", .argv = argv });
	if (pid < 0)
		return -1;
	int w = demo_wait_http(d->ctl_admin, "/readyz", pid, timeout_s * 1000);
	if (w < 0) {
		not_ready(d, "weft control", "control", w, timeout_s);
		return -1;
	}
	printf("weft demo: weft control ready (xDS %s, agents %s, admin %s)\n", d->ctl_xds,
	       d->agents ? d->ctl_tls : "-", d->ctl_admin);
	return 0;
}

/* `weft control token create --node N --ca-dir DIR` into <dir>/<node>.token. */
static int make_token(const demo_t *d, const demo_node_t *n)
{
	char ca[DEMO_PATH + 16], out[2048], path[DEMO_PATH + 32];
	const char *argv[] = { d->self, "control", "token", "create", "--node", n->name,
			       "--ca-dir", ca, NULL };
	char *line, *tok;

	snprintf(ca, sizeof ca, "%s/ca", d->dir);
	if (demo_run(argv, out, sizeof out) != 0) {
		fprintf(stderr, "weft demo: weft control token create --node %s failed: %s\n", n->name, out);
		return -1;
	}
	/* the token is the last word of the last line */
	line = strrchr(out, '\n');
	line = line ? line + 1 : out;
	tok = strrchr(line, ' ');
	tok = tok ? tok + 1 : line;
	if (!*tok) {
		fprintf(stderr, "weft demo: weft control token create printed no token\n");
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s.token", d->dir, n->name);
	char buf[1024];
	int k = snprintf(buf, sizeof buf, "%s\n", tok);
	if (k < 0 || (size_t)k >= sizeof buf)
		return -1;
	return demo_write_file(path, buf, (size_t)k, 0600);
}

static int start_agents(const demo_t *d, unsigned timeout_s)
{
	pid_t pids[DEMO_NNODES];

	if (!have_command("agent")) {
		fprintf(stderr, "weft demo: this weft has no 'agent' command; use --no-agents\n");
		return -1;
	}
	for (int k = 0; k < DEMO_NNODES; k++) {
		const demo_node_t *n = &d->nodes[k];
		char name[32], tokf[DEMO_PATH + 32], state[DEMO_PATH + 32], nsp[128], pin[128];
		const char *argv[24 + DEMO_AGENT_ARGS];
		int a = 0;

		if (make_token(d, n) < 0)
			return -1;
		snprintf(name, sizeof name, "agent-%s", n->name);
		snprintf(tokf, sizeof tokf, "%s/%s.token", d->dir, n->name);
		snprintf(state, sizeof state, "%s/agent-%s", d->dir, n->name);
		snprintf(nsp, sizeof nsp, "/var/run/netns/%s", n->netns);
		demo_bpf_pin_dir(d, k, pin, sizeof pin);
		argv[a++] = d->self;
		argv[a++] = "agent";
		argv[a++] = "--node";
		argv[a++] = n->name;
		argv[a++] = "--control";
		argv[a++] = d->ctl_tls;
		argv[a++] = "--token-file";
		argv[a++] = tokf;
		argv[a++] = "--state-dir";
		argv[a++] = state;
		argv[a++] = "--node-netns";
		argv[a++] = nsp;
		argv[a++] = "--admin";
		argv[a++] = n->admin;
		argv[a++] = "--metrics";
		argv[a++] = n->metrics;
		if (d->cert_ttl[0]) {
			argv[a++] = "--cert-ttl";
			argv[a++] = d->cert_ttl;
		}
		argv[a++] = "--capture";
		argv[a++] = d->capture;
		argv[a++] = "--bpf-pin-dir";
		argv[a++] = pin;
		for (int i = 0; i < d->nagent_args; i++)
			argv[a++] = d->agent_args[i];
		argv[a] = NULL;
		if ((pids[k] = demo_spawn(d, &(demo_spawn_t){ .name = name, .argv = argv })) < 0)
			return -1;
	}
	for (int k = 0; k < DEMO_NNODES; k++) {
		char name[32], what[64];
		int w = demo_wait_http(d->nodes[k].admin, "/healthz", pids[k], timeout_s * 1000);
		if (w < 0) {
			snprintf(name, sizeof name, "agent-%s", d->nodes[k].name);
			snprintf(what, sizeof what, "weft agent of %s", d->nodes[k].name);
			not_ready(d, what, name, w, timeout_s);
			return -1;
		}
	}
	printf("weft demo: agents ready (n1 admin %s, n2 admin %s)\n", d->nodes[0].admin, d->nodes[1].admin);
	return 0;
}

static int start_workloads(const demo_t *d, unsigned timeout_s)
{
	struct { pid_t pid; char name[32]; } w[DEMO_NPODS * 2];
	int nw = 0;

	for (int i = 0; i < DEMO_NPODS; i++) {
		const demo_pod_t *p = &d->pods[i];
		for (int srv = 0; srv < 2; srv++) {
			char listen[32];
			if (srv == 1 && !p->http)
				continue;
			snprintf(w[nw].name, sizeof w[nw].name, "%s-%s", p->name, srv ? "http" : "banner");
			snprintf(listen, sizeof listen, "0.0.0.0:%d", srv ? DEMO_HTTP_PORT : DEMO_BANNER_PORT);
			const char *argv[] = { d->self, "echo", "--listen", listen, "--name", p->name,
					       "--mode", srv ? "http" : "banner", NULL };
			w[nw].pid = demo_spawn(d, &(demo_spawn_t){ .name = w[nw].name, .netns = p->netns,
								     .cgroup = p->cgroup, .argv = argv });
			if (w[nw].pid < 0)
				return -1;
			nw++;
		}
	}
	for (int i = 0; i < nw; i++) {
		char log[DEMO_PATH + 64];
		snprintf(log, sizeof log, "%s/%s.log", d->dir, w[i].name);
		int r = demo_wait_log(log, "listening on", w[i].pid, timeout_s * 1000);
		if (r < 0) {
			not_ready(d, w[i].name, w[i].name, r, timeout_s);
			return -1;
		}
	}
	printf("weft demo: pod servers ready (banner :%d in every pod, http :%d in a2 and b2)\n",
	       DEMO_BANNER_PORT, DEMO_HTTP_PORT);
	return 0;
}

static void print_summary(const demo_t *d, const demo_args_t *a)
{
	const char *p = d->prefix;
	printf("\nweft demo '%s' is up (state in %s)\n\n", p, d->dir);
	printf("  node n1 (netns %s, %s)   pods a1 %s (client), a2 %s (echo)\n", d->nodes[0].netns,
	       d->nodes[0].addr, d->pods[0].ip, d->pods[1].ip);
	printf("  node n2 (netns %s, %s)   pods b1 %s (client), b2 %s (echo)\n", d->nodes[1].netns,
	       d->nodes[1].addr, d->pods[2].ip, d->pods[3].ip);
	printf("  services: echo 10.96.0.10 (:80 http, :%d banner); a1 %s, a2 %s, b1 %s, b2 %s (:%d)\n\n",
	       DEMO_BANNER_PORT, d->pods[0].svc_ip, d->pods[1].svc_ip, d->pods[2].svc_ip,
	       d->pods[3].svc_ip, DEMO_BANNER_PORT);
	printf("  try:\n");
	/* `demo exec` joins the pod's cgroup and netns: captured in every mode */
	{
		const char *nm = strcmp(p, "weft") ? " --name " : "", *nv = strcmp(p, "weft") ? p : "";
		printf("    %s demo exec%s%s a1 curl -s http://10.96.0.10/        # a1 -> echo (a2 or b2)\n",
		       d->self, nm, nv);
		printf("    %s demo exec%s%s b1 curl -s http://10.96.0.10/hello   # b1 -> echo\n",
		       d->self, nm, nv);
	}
	if (d->agents) {
		printf("    curl -s http://%s/metrics | grep istio_tcp       # n1's agent\n", d->nodes[0].metrics);
		printf("    curl -s http://%s/config_dump; curl -s http://%s/certs\n", d->nodes[0].admin,
		       d->nodes[0].admin);
	}
	printf("    %s status --admin %s\n", d->self, d->ctl_admin);
	printf("    ip netns exec %s tshark -i %s -f 'tcp port 15008'   # only TLS between nodes\n",
	       d->nodes[0].netns, DEMO_LINK);
	printf("  edit:  %s/config/*.yaml (weft control reloads on save)\n", d->dir);
	printf("  logs:  %s/*.log\n", d->dir);
	printf("  stop:  %s demo down%s%s%s%s\n\n", d->self, strcmp(p, "weft") ? " --name " : "",
	       strcmp(p, "weft") ? p : "", a->dir ? " --dir " : "", a->dir ? d->dir : "");
	fflush(stdout);
}

static int do_up(const demo_t *d, const demo_args_t *a)
{
	char marker[DEMO_PATH + 32];

	if (a->config_only) {
		snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, d->dir);
		if (access(marker, F_OK) < 0 && nonempty_dir(d->dir)) {
			fprintf(stderr, "weft demo: %s exists and is not empty: give an empty or new --dir\n", d->dir);
			return 1;
		}
		if (mkdirs(d->dir) < 0) {
			fprintf(stderr, "weft demo: cannot create %s: %s\n", d->dir, strerror(errno));
			return 1;
		}
		snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, d->dir);
		if (demo_write_file(marker, "", 0, 0644) < 0 || demo_config_write(d) < 0 ||
		    demo_state_write(d) < 0)
			return 1;
		printf("weft demo: config written to %s/config\n", d->dir);
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "weft demo: up needs root (network namespaces, cgroups)\n");
		return 1;
	}
	snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, d->dir);
	if (demo_net_exists(d)) {
		fprintf(stderr, "weft demo: a cluster named '%s' (or its state in %s) exists already; "
				"run 'weft demo down --name %s%s%s' first\n",
			d->prefix, d->dir, d->prefix, a->dir ? " --dir " : "", a->dir ? d->dir : "");
		return 1;
	}
	/* the logs of an earlier failed up go; anything else is not ours to reuse */
	if (access(marker, F_OK) == 0) {
		if (rm_tree(d->dir) < 0)
			return 1;
	} else if (nonempty_dir(d->dir)) {
		fprintf(stderr, "weft demo: %s exists and is not empty: give an empty or new --dir\n", d->dir);
		return 1;
	}
	if (mkdirs(d->dir) < 0) {
		fprintf(stderr, "weft demo: cannot create %s: %s\n", d->dir, strerror(errno));
		return 1;
	}
	if (demo_write_file(marker, "", 0, 0644) < 0)
		return 1;
	unsigned t = a->timeout_s;
	if (demo_config_write(d) < 0 || demo_state_write(d) < 0 || demo_net_up(d) < 0 ||
	    start_control(d, t) < 0 || (d->agents && start_agents(d, t) < 0) ||
	    (d->workloads && start_workloads(d, t) < 0)) {
		fprintf(stderr, "weft demo: up failed; rolled back (logs kept in %s until "
				"'weft demo down')\n", d->dir);
		do_down(d, true);
		return 1;
	}
	print_summary(d, a);
	return 0;
}

/* `weft demo exec [--name P] POD [--] CMD...`: joins the pod's cgroup (so
 * eBPF capture sees the process) and network namespace, then execs CMD.
 * Returns only on failure: 2 for bad arguments, 1 otherwise (message on
 * stderr). */
static int do_exec(int argc, char **argv)
{
	const char *name = "weft", *pod;
	demo_args_t a = { .timeout_s = 30 };
	demo_t *d;
	int i = 2, fd;
	char path[DEMO_PATH + 32];

	while (i < argc && !strncmp(argv[i], "--name", 6)) {
		if (argv[i][6] == '=') {
			name = argv[i] + 7;
			i++;
		} else if (!argv[i][6] && i + 1 < argc) {
			name = argv[i + 1];
			i += 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "weft demo exec: which pod? (a1, a2, b1, b2)\n");
		return 2;
	}
	pod = argv[i++];
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		fprintf(stderr, "weft demo exec: no command to run in %s\n", pod);
		return 2;
	}
	if (!(d = malloc(sizeof *d))) {
		fprintf(stderr, "weft demo: out of memory\n");
		return 1;
	}
	a.name = name;
	if (demo_setup(d, &a) != 0) {
		free(d);
		return 2;
	}
	for (int k = 0; k < DEMO_NPODS; k++) {
		const demo_pod_t *p = &d->pods[k];
		if (strcmp(p->name, pod))
			continue;
		if (p->cgroup[0]) {
			snprintf(path, sizeof path, "%s/cgroup.procs", p->cgroup);
			if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0) {
				fprintf(stderr, "weft demo exec: joining %s: %s (is '%s' up?)\n", path,
					strerror(errno), d->prefix);
				free(d);
				return 1;
			}
			close(fd);
		}
		snprintf(path, sizeof path, "/var/run/netns/%s", p->netns);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || setns(fd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "weft demo exec: entering %s: %s (is '%s' up?)\n", path,
				strerror(errno), d->prefix);
			free(d);
			return 1;
		}
		close(fd);
		free(d);
		execvp(argv[i], argv + i);
		fprintf(stderr, "weft demo exec: %s: %s\n", argv[i], strerror(errno));
		return 127;
	}
	fprintf(stderr, "weft demo exec: no pod '%s' (a1, a2, b1, b2)\n", pod);
	free(d);
	return 2;
}

static int run_demo(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "cert-ttl", required_argument, NULL, 't' },
		{ "agent-arg", required_argument, NULL, 'g' },
		{ "capture", required_argument, NULL, 'c' },
		{ "loopback", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "no-workloads", no_argument, NULL, 'W' },
		{ "no-agents", no_argument, NULL, 'A' },
		{ "config-only", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	demo_args_t a = { .name = "weft", .timeout_s = 30 };
	demo_t *d;
	const char *verb;
	unsigned long long v;
	int ch, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	if (!strcmp(verb, "exec"))
		return do_exec(argc, argv);
	if (strcmp(verb, "up") && strcmp(verb, "down")) {
		fprintf(stderr, "weft demo: unknown action '%s': up, down or exec\n", verb);
		usage(stderr);
		return 2;
	}
	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': a.name = optarg; break;
		case 'd': a.dir = optarg; break;
		case 't': a.cert_ttl = optarg; break;
		case 'g':
			if (a.nagent_args == DEMO_AGENT_ARGS) {
				fprintf(stderr, "weft demo: --agent-arg: at most %d\n", DEMO_AGENT_ARGS);
				return 2;
			}
			a.agent_args[a.nagent_args++] = optarg;
			break;
		case 'c': a.capture = optarg; break;
		case 'l': a.loopback = optarg; break;
		case 'T':
			if (weft_str_to_u64(weft_str_c(optarg), 3600, &v) < 0 || v == 0) {
				fprintf(stderr, "weft demo: --timeout: seconds, 1..3600\n");
				return 2;
			}
			a.timeout_s = (unsigned)v;
			break;
		case 'W': a.no_workloads = true; break;
		case 'A': a.no_agents = true; break;
		case 'C': a.config_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc - 1) {
		fprintf(stderr, "weft demo: unexpected argument '%s'\n", argv[optind + 1]);
		return 2;
	}
	if (!strcmp(verb, "down") && (a.cert_ttl || a.capture || a.no_workloads || a.no_agents || a.config_only ||
				      a.nagent_args)) {
		fprintf(stderr, "weft demo: down takes only --name and --dir\n");
		return 2;
	}
	if (!(d = malloc(sizeof *d))) {
		fprintf(stderr, "weft demo: out of memory\n");
		return 1;
	}
	rc = demo_setup(d, &a);
	if (rc == 0) {
		if (!strcmp(verb, "up")) {
			rc = do_up(d, &a);
		} else {
			rc = do_down(d, false);
			if (rc == 0)
				printf("weft demo: '%s' is down\n", d->prefix);
		}
	}
	free(d);
	return rc;
}

WEFT_CLI_COMMAND(demo, "demo", "a two-node mesh on this machine, in network namespaces (up/down)", run_demo);
