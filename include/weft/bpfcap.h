/* weft — the eBPF capture backend (src/agent/bpf_capture.c): loads the
 * programs of bpf/capture.bpf.c once per agent, pins them and their maps
 * in its pin directory (default /sys/fs/bpf/weft/<node>), and attaches
 * them per workload (links pinned under <dir>/wl/<key>/) so capture
 * outlives the agent.
 * Map layouts: weft/bpfcap-t.h. */
#ifndef WEFT_BPFCAP_H
#define WEFT_BPFCAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "weft/bpfcap-t.h"

#define WEFT_BPFCAP_PIN_ROOT "/sys/fs/bpf/weft"

struct weft_bpfcap;

typedef struct weft_bpfcap_opts {
	const char *dir;             /* pin directory (on a bpffs), e.g. WEFT_BPFCAP_PIN_ROOT "/<node>" */
	bool fail_open;              /* --capture-failure=open */
	uint16_t hbone_port;         /* never steered inbound */
	size_t nports;
	uint16_t agent_ports[WEFT_BPF_MAX_AGENT_PORTS];   /* refused on loopback/node addresses */
} weft_bpfcap_opts_t;

/* One workload to capture. */
typedef struct weft_bpfcap_wl {
	const char *key;             /* pin dir name: "<ns>_<name>" (weft_bpfcap_key) */
	const char *cgroup;          /* cgroup v2 directory; "" or NULL: no outbound capture */
	int netns_fd;                /* where sk_lookup attaches (pod netns or the node's); < 0: ours */
	bool host;                   /* a host workload (shares the node netns) */
	uint8_t out_ip[16];          /* outbound listener, v4-mapped; all zero: none */
	uint8_t out_ip6[16];         /* IPv6 outbound listener; all zero: none */
	uint16_t out_port;
	size_t naddrs;
	const uint8_t (*addrs)[16];  /* the workload's addresses (v4-mapped for IPv4); a host
	                              * workload's are the node's */
	size_t nports;
	const uint16_t *ports;       /* inbound ports steered; 0 ports: every port (a pod), none (host) */
	int in4_fd, in6_fd;          /* inbound listeners for in_socks (< 0: none) */
} weft_bpfcap_wl_t;

/* "<ns>_<name>" into out (other characters than [A-Za-z0-9._-] become
 * '-'). Returns WEFT_OK or WEFT_ELIMIT. */
int weft_bpfcap_key(char *out, size_t outlen, const char *ns, const char *name);

/* The cgroup v2 id of directory path (what bpf_get_current_cgroup_id
 * returns for tasks in it). Returns 0 on failure (errno set). */
uint64_t weft_bpfcap_cgroup_id(const char *path);

/* Loads the programs, reusing the maps pinned in o->dir
 * (mounting bpffs at /sys/fs/bpf when nothing is mounted there), pins
 * programs and maps, writes the config. Returns the backend, or NULL with
 * err saying why (the kernel refused a program, no bpffs, not root...). */
struct weft_bpfcap *weft_bpfcap_open(const weft_bpfcap_opts_t *o, char *err, size_t errlen);

/* Closes our fds; everything pinned stays (capture stays in place while
 * no agent runs: fail closed, or open when so configured). NULL ok. */
void weft_bpfcap_close(struct weft_bpfcap *b);

/* Writes the heartbeat (now, CLOCK_MONOTONIC) the fail-open check reads. */
void weft_bpfcap_heartbeat(struct weft_bpfcap *b);

/* Captures w: its map entries (cgroup, addresses, inbound keys and
 * listeners) and its links (connect4/connect6/sockops on the cgroup,
 * sk_lookup on the netns), each pinned; pinned links of an earlier agent
 * are adopted (switched to this agent's programs) when they still point
 * at the same cgroup/netns. Idempotent: a second call refreshes the map
 * entries. Returns WEFT_OK or WEFT_EFAIL with err filled. */
int weft_bpfcap_attach(struct weft_bpfcap *b, const weft_bpfcap_wl_t *w, char *err, size_t errlen);

/* Stops capturing key: links detached and unpinned, its directory and map
 * entries removed. Returns WEFT_OK (also when nothing was there) or
 * WEFT_EFAIL with err filled. */
int weft_bpfcap_detach(struct weft_bpfcap *b, const char *key, char *err, size_t errlen);

/* Detaches every pinned workload directory whose key keep() rejects (what
 * an earlier agent left for workloads that have gone), and deletes map
 * entries of no attached workload. Returns how many were detached. */
int weft_bpfcap_prune(struct weft_bpfcap *b, bool (*keep)(void *ud, const char *key), void *ud);

/* The node's own addresses (at most 8; v4-mapped for IPv4): the agent's
 * ports on them are refused to enrolled workloads, and host workloads
 * connecting to them are not captured. Replaces the previous set. */
void weft_bpfcap_set_node_addrs(struct weft_bpfcap *b, const uint8_t (*addrs)[16], size_t n);

/* The original destination of a connection accepted on an outbound
 * listener (looked up by the client's address and netns, then deleted),
 * and the cgroup id of the workload that made it. Returns WEFT_OK, or
 * WEFT_EFAIL when no record exists (not redirected by us). */
int weft_bpfcap_original_dst(struct weft_bpfcap *b, int fd, struct sockaddr_storage *ss,
			     socklen_t *sslen, uint64_t *cgroup_id);

/* Removes pin directory dir and everything in it (links detached). Used
 * when another backend is chosen and by `weft demo down`. Returns WEFT_OK
 * (also when dir does not exist) or WEFT_EFAIL (errno set). */
int weft_bpfcap_remove_all(const char *dir);

#endif
