/* weft — the eBPF capture's map layouts, shared by the programs in
 * bpf/capture.bpf.c and the agent (src/agent/bpf_capture.c). Types only.
 *
 * Every address is 16 bytes: IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), in
 * network byte order. Ports are in host byte order. Every struct has
 * explicit padding so the programs and the agent agree on the layout
 * (checked by tests/unit/test_bpfcap.c). Pinned maps outlive the agent:
 * changing a layout means a new map name (or an unpin by hand). */
#ifndef WEFT_BPFCAP_T_H
#define WEFT_BPFCAP_T_H
#ifndef __bpf__
#include <linux/types.h>
#endif

#define WEFT_BPF_MAX_AGENT_PORTS 8
#define WEFT_BPF_MAX_WORKLOADS   4096
#define WEFT_BPF_MAX_ORIG        65536
#define WEFT_BPF_HEARTBEAT_NS    2000000000ull   /* fail open after 2 s without heartbeat */

/* wl value flags */
#define WEFT_BPF_WL_HOST   1u    /* a host workload (node netns, no netns of its own) */
/* local_addrs value flags */
#define WEFT_BPF_ADDR_NODE 1u    /* a node address: agent ports on it are refused; host
                                  * workloads connecting to it are not captured */
#define WEFT_BPF_ADDR_WL   2u    /* a pod's address: not captured when that pod connects to it */

/* cfg (array, one entry): written by the agent. */
struct weft_bpf_cfg {
	__u64 heartbeat_ns;          /* CLOCK_MONOTONIC of the agent's last heartbeat */
	__u32 fail_open;             /* 1: --capture-failure=open */
	__u16 hbone_port;            /* never steered inbound (15008) */
	__u16 nports;
	__u16 agent_ports[WEFT_BPF_MAX_AGENT_PORTS];   /* refused on loopback/node addresses */
};

/* wl_cgroups: cgroup id -> the enrolled workload and where its outbound
 * connections go. */
struct weft_bpf_wl {
	__u32 id;                    /* the agent's workload id (in_match, in_socks) */
	__u32 flags;                 /* WEFT_BPF_WL_* */
	__u8 out_ip[16];             /* outbound listener (v4-mapped for IPv4) */
	__u8 out_ip6[16];            /* outbound listener for IPv6 connects */
	__u16 out_port;
	__u16 pad0;
	__u32 pad1;
};

/* An original destination and who asked for it. */
struct weft_bpf_orig {
	__u8 ip[16];
	__u16 port;
	__u16 family;                /* AF_INET / AF_INET6 of the connect */
	__u32 pad0;
	__u64 cgroup_id;             /* the enrolled cgroup the connecting task is in (or under) */
};

/* orig_by_tuple key: the client end of a redirected connection, as the
 * agent sees it with getpeername() on the accepted socket, plus the
 * network namespace (SO_NETNS_COOKIE) it lives in. */
struct weft_bpf_tuple {
	__u64 netns;
	__u8 ip[16];
	__u16 port;
	__u16 pad0;
	__u32 pad1;
};

/* in_match key: a workload address and port (port 0: every port). */
struct weft_bpf_inkey {
	__u8 ip[16];
	__u16 port;
	__u16 pad0;
};

struct weft_bpf_inval {
	__u32 id;                    /* in_socks key = id * 2 (+1 for the IPv6 listener) */
	__u32 flags;
};

/* local_addrs key */
struct weft_bpf_addr {
	__u8 ip[16];
};

/* local_addrs value */
struct weft_bpf_addrval {
	__u32 id;                    /* WEFT_BPF_ADDR_WL: the pod's workload id; else 0 */
	__u32 flags;                 /* WEFT_BPF_ADDR_* */
};

#endif
