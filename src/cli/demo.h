/* weft demo — internal interfaces between the parts of `weft demo`.
 *
 *   src/cli/cmd_demo.c     options, `up` (with rollback) and `down`
 *   src/cli/demo_topo.c    the cluster's names and addresses (one table)
 *   src/cli/demo_net.c     network namespaces, links, addresses, routes, cgroups
 *   src/cli/demo_proc.c    running commands, daemons with pidfiles, waiting, sweeping
 *   src/cli/demo_config.c  the mesh config and the cluster.json state file
 *
 * Everything a cluster has is named from its prefix, so several clusters
 * (the demo and the tests' own) can live side by side on one machine. */
#ifndef WEFT_CLI_DEMO_H
#define WEFT_CLI_DEMO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DEMO_NNODES 2
#define DEMO_PODS_PER_NODE 2
#define DEMO_NPODS (DEMO_NNODES * DEMO_PODS_PER_NODE)
#define DEMO_PREFIX_MAX 24
#define DEMO_PATH 512

#define DEMO_HTTP_PORT 8080      /* weft echo --mode http in the echo pods */
#define DEMO_BANNER_PORT 9090    /* weft echo --mode banner in every pod */
#define DEMO_LINK "link0"        /* the inter-node veth, same name in both nodes */

typedef struct demo_pod {
	char name[8];                /* a1, a2, b1, b2 */
	int node;                    /* 0-based node index */
	int idx;                     /* 1-based within the node */
	char netns[64];              /* <p>-n<k>-<pod> */
	char ip[24];                 /* 10.1.<k>.<10+idx> */
	char cgroup[DEMO_PATH];      /* <cgroup2 root>/<p>/<pod> ("" without cgroup v2) */
	const char *app, *version, *sa, *ns;
	char svc_ip[16];             /* the pod's own Service 10.96.0.<11+i> */
	bool http;                   /* runs the http server (the echo service) */
} demo_pod_t;

typedef struct demo_node {
	char name[8];                /* n1, n2 */
	char netns[64];              /* <p>-n<k> */
	char addr[16];               /* 10.0.0.<k> */
	char bridge_ip[16];          /* 10.1.<k>.1 */
	char pod_cidr[20];           /* 10.1.<k>.0/24 */
	char admin[32], metrics[32]; /* <loopback>.<k+1>:15000 / :15020 */
	char zone[16];
} demo_node_t;

typedef struct demo {
	char prefix[DEMO_PREFIX_MAX + 1];
	char dir[320];               /* state (at most 300 bytes): config/, ca/, logs, pidfiles, cluster.json */
	char self[DEMO_PATH];        /* the weft binary */
	char cgroot[256];            /* cgroup v2 mount ("" when none) */
	char cgdir[DEMO_PATH];       /* <cgroot>/<p> */
	char lo_base[16];            /* a.b.c: control at .1, agent k at .(k+1) */
	char ctl_xds[32], ctl_tls[32], ctl_admin[32];
	char cert_ttl[16];           /* "" = the CA's default */
	char capture[8];             /* the agents' --capture (auto, ebpf, nft, none) */
#define DEMO_AGENT_ARGS 8
	const char *agent_args[DEMO_AGENT_ARGS];   /* --agent-arg: passed to both agents as is */
	int nagent_args;
	bool agents, workloads;
	demo_node_t nodes[DEMO_NNODES];
	demo_pod_t pods[DEMO_NPODS];
} demo_t;

/* ---- demo_topo.c ---- */

/* Checks prefix (1..24 of [a-z0-9-], starting with a letter). Returns 0 or
 * -1 with a message in err. */
int demo_prefix_check(const char *prefix, char *err, size_t errlen);
/* Fills every name and address of d from d->prefix, d->lo_base and
 * d->cgroot. */
void demo_topo_fill(demo_t *d);
/* The cgroup v2 mount point into out ("" when the machine has none). */
void demo_cgroup_root(char *out, size_t outlen);

/* ---- demo_proc.c ---- */

/* Runs argv (argv[0] looked up in PATH) and waits. Returns its exit status
 * (0..255), or -1 when it could not run or died of a signal; its output
 * (stdout and stderr, first 2 KiB) goes into out when out is not NULL. */
int demo_run(const char *const argv[], char *out, size_t outlen);
/* demo_run(); on failure prints "weft demo: <what>: <cmd...>: <output>" to
 * stderr. Returns 0 or -1. */
int demo_must(const char *what, const char *const argv[]);

typedef struct demo_spawn {
	const char *name;            /* pidfile <dir>/<name>.pid, log <dir>/<name>.log */
	const char *netns;           /* enter /var/run/netns/<netns> first (NULL: stay) */
	const char *cgroup;          /* join this cgroup v2 directory first (NULL/"": none) */
	const char *const *argv;     /* argv[0] is a path */
} demo_spawn_t;

/* Starts a daemon: fork, join the cgroup (pid into cgroup.procs), enter the
 * netns, new session, stdio to the log, exec. Writes the pidfile
 * ("<pid> <starttime>"). Returns the pid, or -1 (message on stderr). */
pid_t demo_spawn(const demo_t *d, const demo_spawn_t *s);
/* Polls until the HTTP GET of http://addr/path answers 200, the process pid
 * dies, or timeout_ms passes. Returns 0, -1 (died) or -2 (timeout). */
int demo_wait_http(const char *addr, const char *path, pid_t pid, unsigned timeout_ms);
/* Polls until file contains needle, pid dies or timeout. Same returns. */
int demo_wait_log(const char *file, const char *needle, pid_t pid, unsigned timeout_ms);
/* Prints the last lines of a log file to stderr, framed with its name. */
void demo_tail(const char *file, int lines);
/* Stops the processes of every pidfile in d->dir (TERM, then KILL after
 * a grace period), then any process whose network namespace or cgroup
 * belongs to d, or whose command line names one of d's netns paths or its
 * config directory. Never signals itself. */
void demo_kill_all(const demo_t *d);

/* ---- demo_net.c ---- */

/* Builds the namespaces, links, bridge, addresses, routes and cgroups.
 * Returns 0, or -1 after printing what failed (the caller rolls back). */
int demo_net_up(const demo_t *d);
/* Deletes them; what does not exist is skipped. Returns 0, or -1 when
 * something that exists could not be removed (printed). */
int demo_net_down(const demo_t *d);
/* True when any of d's namespaces exists. */
bool demo_net_exists(const demo_t *d);

/* ---- demo_config.c ---- */

/* Writes <dir>/config/{nodes,workloads,services,policy}.yaml. Returns 0 or -1. */
int demo_config_write(const demo_t *d);
/* Writes <dir>/cluster.json: every name, address, port and path of the
 * cluster, for tests and tools. Returns 0 or -1. */
int demo_state_write(const demo_t *d);

/* Writes the whole of s into path (mode 0644), through a temporary file
 * and rename. Returns 0 or -1 (message on stderr). */
int demo_write_file(const char *path, const char *s, size_t n, unsigned mode);

#endif
