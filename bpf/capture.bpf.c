// SPDX-License-Identifier: GPL-2.0
/* weft — eBPF capture (issue 4). Loaded by src/agent/bpf_capture.c through
 * the skeleton build/bpf/capture.skel.h; map layouts in weft/bpfcap-t.h.
 *
 * Outbound (cgroup/connect4, cgroup/connect6 on each enrolled cgroup): a
 * TCP connect from a task whose cgroup (or an ancestor) is in wl_cgroups is
 * rewritten to the workload's outbound listener; {original destination,
 * cgroup id} is kept in orig_by_cookie under the socket cookie. Not
 * rewritten: loopback and workload/node-local destinations (as the nft
 * rules leave them), and, with fail_open, everything while the agent's
 * heartbeat is older than 2 s. Refused (EPERM): the agent's own ports on
 * loopback or a node address.
 *
 * How the agent finds the original destination: the accepted socket has a
 * different cookie than the client's, so a sockops program on the same
 * cgroups moves the record, when the client's connect completes
 * (ACTIVE_ESTABLISHED_CB), to orig_by_tuple keyed by {netns cookie, client
 * address, client port}. The kernel runs that callback before the client
 * sends its final ACK, so the record is there before the agent can accept
 * the connection; the agent looks it up with getpeername() and
 * SO_NETNS_COOKIE and deletes it. This needs no program on the agent's
 * own cgroup (a cgroup/getsockopt answering SO_ORIGINAL_DST would) and the
 * cgroup id comes from the kernel, never from the client.
 *
 * Inbound (sk_lookup on a workload's netns): TCP to a workload address
 * (in_match: {addr, port} or {addr, any port}), not to the HBONE port, not
 * from the destination address itself (the agent delivers from inside the
 * netns, locally) is assigned to the agent's listener for that workload
 * (in_socks). No listener there (no agent): SK_DROP, which the client sees
 * as a refused connection; with fail_open: SK_PASS (straight to the app). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "weft/bpfcap-t.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define MAX_CG_LEVELS 16

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weft_bpf_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_BPF_MAX_WORKLOADS);
	__type(key, __u64);
	__type(value, struct weft_bpf_wl);
} wl_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_BPF_MAX_WORKLOADS * 4);
	__type(key, struct weft_bpf_addr);
	__type(value, struct weft_bpf_addrval);
} local_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_BPF_MAX_ORIG);
	__type(key, __u64);
	__type(value, struct weft_bpf_orig);
} orig_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_BPF_MAX_ORIG);
	__type(key, struct weft_bpf_tuple);
	__type(value, struct weft_bpf_orig);
} orig_by_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_BPF_MAX_WORKLOADS * 8);
	__type(key, struct weft_bpf_inkey);
	__type(value, struct weft_bpf_inval);
} in_match SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, WEFT_BPF_MAX_WORKLOADS * 2);
	__type(key, __u32);
	__type(value, __u64);
} in_socks SEC(".maps");

static __always_inline struct weft_bpf_cfg *get_cfg(void)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&cfg, &k);
}

/* The enrolled workload of the current task: its cgroup or the nearest
 * enrolled ancestor. */
static __always_inline struct weft_bpf_wl *current_wl(__u64 *cgid)
{
	__u64 id = bpf_get_current_cgroup_id();
	struct weft_bpf_wl *w = bpf_map_lookup_elem(&wl_cgroups, &id);

	if (w) {
		*cgid = id;
		return w;
	}
	for (int lvl = MAX_CG_LEVELS - 1; lvl >= 1; lvl--) {
		id = bpf_get_current_ancestor_cgroup_id(lvl);
		if (!id)
			continue;
		w = bpf_map_lookup_elem(&wl_cgroups, &id);
		if (w) {
			*cgid = id;
			return w;
		}
	}
	return 0;
}

static __always_inline void ip_v4mapped(__u8 ip[16], __u32 be)
{
	__builtin_memset(ip, 0, 10);
	ip[10] = 0xff;
	ip[11] = 0xff;
	__builtin_memcpy(ip + 12, &be, 4);
}

static __always_inline int is_v4mapped(const __u8 ip[16])
{
	for (int i = 0; i < 10; i++)
		if (ip[i])
			return 0;
	return ip[10] == 0xff && ip[11] == 0xff;
}

static __always_inline int ip_eq(const __u8 a[16], const __u8 b[16])
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static __always_inline int is_loopback(const __u8 ip[16])
{
	if (is_v4mapped(ip))
		return ip[12] == 127;
	for (int i = 0; i < 15; i++)
		if (ip[i])
			return 0;
	return ip[15] == 1;
}

static __always_inline int is_agent_port(const struct weft_bpf_cfg *c, __u16 port)
{
	for (int i = 0; i < WEFT_BPF_MAX_AGENT_PORTS; i++)
		if (i < c->nports && c->agent_ports[i] == port)
			return 1;
	return 0;
}

/* 1: allow unchanged, 0: refuse, 2: redirect. Local destinations (the
 * workload's own addresses; the node's for a host workload) are left
 * alone, like the nft rules' "fib daddr type local". */
static __always_inline int classify(const struct weft_bpf_cfg *c, const struct weft_bpf_wl *w,
				    const __u8 ip[16], __u16 port)
{
	struct weft_bpf_addr a;
	struct weft_bpf_addrval *av;
	int node;

	__builtin_memcpy(a.ip, ip, 16);
	av = bpf_map_lookup_elem(&local_addrs, &a);
	node = av && (av->flags & WEFT_BPF_ADDR_NODE);
	if (is_agent_port(c, port) && (is_loopback(ip) || node))
		return 0;
	if (is_loopback(ip))
		return 1;
	if (av && (((av->flags & WEFT_BPF_ADDR_WL) && av->id == w->id) ||
		   (node && (w->flags & WEFT_BPF_WL_HOST))))
		return 1;
	if (c->fail_open && bpf_ktime_get_ns() - c->heartbeat_ns > WEFT_BPF_HEARTBEAT_NS)
		return 1;
	return 2;
}

static __always_inline void remember(void *ctx, const __u8 ip[16], __u16 port, __u16 family,
				     __u64 cgid)
{
	struct weft_bpf_orig o = {};
	__u64 cookie = bpf_get_socket_cookie(ctx);

	__builtin_memcpy(o.ip, ip, 16);
	o.port = port;
	o.family = family;
	o.cgroup_id = cgid;
	bpf_map_update_elem(&orig_by_cookie, &cookie, &o, BPF_ANY);
}

SEC("cgroup/connect4")
int weft_connect4(struct bpf_sock_addr *ctx)
{
	struct weft_bpf_cfg *c;
	struct weft_bpf_wl *w;
	__u64 cgid = 0;
	__u8 ip[16];
	__u16 port;
	__u32 out4;
	int r;

	if (ctx->type != SOCK_STREAM)
		return 1;
	if (!(w = current_wl(&cgid)) || !(c = get_cfg()))
		return 1;
	ip_v4mapped(ip, ctx->user_ip4);
	port = bpf_ntohs((__u16)ctx->user_port);
	r = classify(c, w, ip, port);
	if (r != 2)
		return r;
	if (!is_v4mapped(w->out_ip))
		return 0;   /* no IPv4 listener: refuse rather than leak */
	remember(ctx, ip, port, AF_INET, cgid);
	__builtin_memcpy(&out4, w->out_ip + 12, 4);
	ctx->user_ip4 = out4;
	ctx->user_port = bpf_htons(w->out_port);
	return 1;
}

SEC("cgroup/connect6")
int weft_connect6(struct bpf_sock_addr *ctx)
{
	struct weft_bpf_cfg *c;
	struct weft_bpf_wl *w;
	__u64 cgid = 0;
	__u8 ip[16];
	__u32 u[4];
	__u16 port;
	int r;

	if (ctx->type != SOCK_STREAM)
		return 1;
	if (!(w = current_wl(&cgid)) || !(c = get_cfg()))
		return 1;
	u[0] = ctx->user_ip6[0];
	u[1] = ctx->user_ip6[1];
	u[2] = ctx->user_ip6[2];
	u[3] = ctx->user_ip6[3];
	__builtin_memcpy(ip, u, 16);
	port = bpf_ntohs((__u16)ctx->user_port);
	r = classify(c, w, ip, port);
	if (r != 2)
		return r;
	remember(ctx, ip, port, AF_INET6, cgid);
	/* a v4-mapped destination goes to the IPv4 listener, v4-mapped */
	__builtin_memcpy(u, is_v4mapped(ip) ? w->out_ip : w->out_ip6, 16);
	if (!u[0] && !u[1] && !u[2] && !u[3])
		return 0;   /* no IPv6 listener for this workload */
	ctx->user_ip6[0] = u[0];
	ctx->user_ip6[1] = u[1];
	ctx->user_ip6[2] = u[2];
	ctx->user_ip6[3] = u[3];
	ctx->user_port = bpf_htons(w->out_port);
	return 1;
}

SEC("sockops")
int weft_sockops(struct bpf_sock_ops *skops)
{
	struct weft_bpf_tuple t = {};
	struct weft_bpf_orig *o;
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	o = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
	if (!o)
		return 1;
	t.netns = bpf_get_netns_cookie(skops);
	if (skops->family == AF_INET) {
		ip_v4mapped(t.ip, skops->local_ip4);
	} else {
		__u32 u[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			       skops->local_ip6[3] };
		__builtin_memcpy(t.ip, u, 16);
	}
	t.port = (__u16)skops->local_port;   /* host order in sock_ops */
	bpf_map_update_elem(&orig_by_tuple, &t, o, BPF_ANY);
	bpf_map_delete_elem(&orig_by_cookie, &cookie);
	return 1;
}

SEC("sk_lookup")
int weft_sk_lookup(struct bpf_sk_lookup *ctx)
{
	struct weft_bpf_inkey k = {};
	struct weft_bpf_inval *m;
	struct weft_bpf_cfg *c;
	struct bpf_sock *sk;
	__u8 src[16];
	__u32 sid;
	long err;

	if (ctx->protocol != IPPROTO_TCP || ctx->sk)
		return SK_PASS;
	if (ctx->family == AF_INET) {
		ip_v4mapped(k.ip, ctx->local_ip4);
		ip_v4mapped(src, ctx->remote_ip4);
	} else {
		__u32 u[4] = { ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
			       ctx->local_ip6[3] };
		__u32 s[4] = { ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
			       ctx->remote_ip6[3] };
		__builtin_memcpy(k.ip, u, 16);
		__builtin_memcpy(src, s, 16);
	}
	k.port = (__u16)ctx->local_port;
	m = bpf_map_lookup_elem(&in_match, &k);
	if (!m) {
		k.port = 0;
		m = bpf_map_lookup_elem(&in_match, &k);
	}
	if (!m || !(c = get_cfg()))
		return SK_PASS;
	if (ctx->local_port == c->hbone_port)
		return SK_PASS;
	if (ip_eq(src, k.ip))
		return SK_PASS;   /* from the workload's own address: local (the agent delivering) */
	sid = m->id * 2 + (ctx->family == AF_INET6 ? 1 : 0);
	sk = bpf_map_lookup_elem(&in_socks, &sid);
	if (!sk && ctx->family == AF_INET6) {
		sid = m->id * 2;
		sk = bpf_map_lookup_elem(&in_socks, &sid);
	}
	if (!sk)
		return c->fail_open ? SK_PASS : SK_DROP;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return c->fail_open ? SK_PASS : SK_DROP;
	return SK_PASS;
}
