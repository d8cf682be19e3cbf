/* weft — per-workload capture: for each workload of the view that has a
 * network namespace, listeners inside that namespace (opened from the
 * agent's own namespace, see netns.c):
 *   127.0.0.1:15001 (and [::1]:15001 when the netns has IPv6)  outbound
 *   0.0.0.0:15006 (and [::]:15006)                             inbound plaintext
 *   0.0.0.0:15008                                              in-pod HBONE
 * then the nftables rules that send the workload's traffic to them
 * (nft.c). Listeners come first, so once the rules are in every captured
 * connection lands on a listener.
 *
 * The listener that accepted a connection decides its workload (never
 * anything the client sends); the workload is re-resolved by uid in the
 * current view at each accept. A workload that could not be captured
 * (its netns missing, nft failing) is logged with its name and retried at
 * the next reconcile and on a timer; the others are not held up. A
 * workload that leaves the view loses its listeners and its rules.
 * Stopping the agent closes listeners but leaves rules (fail closed).
 *
 * Backends (--capture): nft (the rules of nft.c in each pod netns), ebpf
 * (bpf_capture.c: cgroup connect hooks + sk_lookup, no rule anywhere, see
 * docs/agent.md "Capture"), none. auto picks ebpf when the kernel loads
 * the programs, else nft, and logs why. The original destination of an
 * accepted connection comes from the active backend (cap_original_dst).
 *
 * eBPF mode adds host workloads (a cgroup, no netns: processes in the node
 * netns): one shared outbound listener 127.0.0.1:15001 in the node netns,
 * where the source workload is the cgroup id the kernel recorded (never
 * the listener: host workloads share it), and per host workload an
 * inbound listener on 127.0.0.1:<any> in the node netns that sk_lookup
 * steers the workload's Service target ports on the node addresses to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "weft/agent.h"
#include "weft/bpfcap.h"
#include "weft/capture.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/tls.h"

#define RETRY_MS 2000
#define HEARTBEAT_MS 500
#define HOST_OUT_ADDR "127.0.0.1:15001"

enum { L_OUT = 0, L_IN, L_HBONE, L_HOST_OUT };

struct cap_wl;

typedef struct cap_lis {
	struct weft_capture *cap;
	struct cap_wl *wl;           /* NULL: the shared host outbound listener */
	int kind;
	int fd;
	weft_io_t io;
} cap_lis_t;

typedef struct cap_wl {
	struct cap_wl *next;
	struct weft_capture *cap;
	char *uid;
	char *netns;
	char *key;                   /* "<ns>_<name>": its pin directory (ebpf) */
	bool host;                   /* a host workload: cgroup, no netns (ebpf only) */
	uint64_t cgid;               /* its cgroup id (ebpf), 0: none */
	weft_netns_t *ns;
	cap_lis_t lis[5];
	int nlis;
	bool rules;                  /* our table is installed / our links attached */
	bool ready;                  /* listeners and rules in place */
	bool seen;                   /* in the view being reconciled */
} cap_wl_t;

struct weft_capture {
	weft_agent_t *a;
	weft_capture_mode_t mode;
	weft_netns_set_t nss;
	weft_nft_opts_t nft;
	struct weft_bpfcap *bpf;     /* ebpf mode */
	char pindir[256];            /* --bpf-pin-dir, default /sys/fs/bpf/weft/<node> */
	weft_netns_t *node_ns;       /* host workloads' netns (--node-netns; NULL: ours) */
	cap_lis_t host_out;          /* shared outbound listener of host workloads (fd -1: none) */
	cap_wl_t *wls;
	weft_timer_t retry;
	weft_timer_t hb;             /* ebpf heartbeat (fail open reads it) */
	bool stopped;
	bool clean_nft;              /* ebpf after an nft run: delete leftover tables once per workload */
	char nft_marker[300];        /* <state dir>/capture-nft: nft rules may be installed in pods */
	uint64_t failures;
};

static void close_listeners(cap_wl_t *wl)
{
	for (int i = 0; i < wl->nlis; i++) {
		weft_io_stop(wl->cap->a->loop, &wl->lis[i].io);
		close(wl->lis[i].fd);
	}
	wl->nlis = 0;
}

/* The original destination of a connection accepted on listener kind,
 * from the active backend: nft: SO_ORIGINAL_DST (conntrack); ebpf:
 * outbound: the record the programs left (with the cgroup id of the
 * connecting task), inbound: the local address itself (sk_lookup keeps the
 * packet's destination). Returns WEFT_OK or WEFT_EFAIL. */
static int cap_original_dst(struct weft_capture *c, int fd, int kind, struct sockaddr_storage *ss,
			    socklen_t *sl, uint64_t *cgid)
{
	*cgid = 0;
	*sl = sizeof(*ss);
	if (c->mode != WEFT_CAPTURE_EBPF)
		return weft_sock_original_dst(fd, ss, sl);
	if (kind == L_OUT || kind == L_HOST_OUT)
		return weft_bpfcap_original_dst(c->bpf, fd, ss, sl, cgid);
	return getsockname(fd, (struct sockaddr *)ss, sl) == 0 ? WEFT_OK : WEFT_EFAIL;
}

static void accept_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	cap_lis_t *li = io->data;
	struct weft_capture *c = li->cap;
	weft_agent_t *a = c->a;

	for (int i = 0; i < 64; i++) {
		const weft_av_workload_t *w = NULL;
		const char *uid = li->wl ? li->wl->uid : NULL;
		struct sockaddr_storage od;
		socklen_t ol;
		uint64_t cgid;
		bool have_od;
		int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		weft_net_nodelay(fd);
		have_od = li->kind == L_HBONE ||
			  cap_original_dst(c, fd, li->kind, &od, &ol, &cgid) == WEFT_OK;
		if (li->kind == L_HOST_OUT && have_od) {
			/* the source is the cgroup the kernel recorded */
			for (cap_wl_t *x = c->wls; x; x = x->next)
				if (x->host && x->cgid && x->cgid == cgid)
					uid = x->uid;
		}
		if (uid && a->view)
			w = weft_av_workload(a->view, uid);
		if (!w || !a->dp) {
			weft_sock_set_rst(fd);
			close(fd);
			continue;
		}
		switch (li->kind) {
		case L_OUT:
		case L_HOST_OUT:
			weft_dp_outbound(a->dp, w, fd, have_od ? (struct sockaddr *)&od : NULL, ol);
			break;
		case L_IN:
			weft_dp_inbound_plain(a->dp, w, fd, have_od ? (struct sockaddr *)&od : NULL, ol);
			break;
		default: weft_dp_inbound_hbone(a->dp, w, fd); break;
		}
	}
}

static int listen_at(struct weft_capture *c, cap_lis_t *li, cap_wl_t *wl, const weft_netns_t *ns,
		     int kind, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	weft_net_parse_addr(addr, strlen(addr), &ss, &sl);
	li->fd = weft_netns_listen(&c->nss, ns, (struct sockaddr *)&ss, sl, 1024);
	if (li->fd < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		return WEFT_EFAIL;
	}
	li->cap = c;
	li->wl = wl;
	li->kind = kind;
	if (weft_io_start(c->a->loop, &li->io, li->fd, WEFT_IO_READ, accept_cb, li) < 0) {
		snprintf(err, errlen, "watch %s: %s", addr, strerror(errno));
		close(li->fd);
		li->fd = -1;
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

static int open_listener(cap_wl_t *wl, int kind, const char *addr, char *err, size_t errlen)
{
	if (listen_at(wl->cap, &wl->lis[wl->nlis], wl, wl->ns, kind, addr, err, errlen) < 0)
		return WEFT_EFAIL;
	wl->nlis++;
	return WEFT_OK;
}

/* The target ports of the Services that select w (host workloads' inbound
 * capture), deduplicated, at most max. Returns how many. */
static size_t host_ports(const weft_av_t *v, const weft_av_workload_t *w, uint16_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; v && i < v->nservices; i++) {
		const weft_av_service_t *s = &v->services[i];
		bool sel = false;
		for (size_t j = 0; j < s->nendpoints && !sel; j++)
			sel = s->endpoints[j].workload && !strcmp(s->endpoints[j].workload, w->uid);
		for (size_t j = 0; sel && j < s->nports; j++) {
			uint16_t p = s->ports[j].target_port ? s->ports[j].target_port : s->ports[j].port;
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup |= out[k] == p;
			if (!dup && n < max)
				out[n++] = p;
		}
	}
	return n;
}

/* Attaches (or refreshes) the eBPF capture of wl. Returns WEFT_OK or
 * WEFT_EFAIL with err filled. */
static int ebpf_attach(cap_wl_t *wl, const weft_av_workload_t *w, const weft_av_t *v, char *err,
		       size_t errlen)
{
	static const uint8_t lo4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct weft_capture *c = wl->cap;
	weft_bpfcap_wl_t b;
	uint16_t ports[64];
	size_t nout = 0, na = w->naddrs ? w->naddrs : 1;
	uint8_t (*addrs)[16] = calloc(na, 16);
	int rc;

	if (!addrs) {
		snprintf(err, errlen, "no memory");
		return WEFT_EFAIL;
	}
	memset(&b, 0, sizeof(b));
	b.key = wl->key;
	b.cgroup = w->cgroup;
	b.host = wl->host;
	b.netns_fd = wl->ns ? wl->ns->fd : -1;
	b.in4_fd = b.in6_fd = -1;
	for (int i = 0; i < wl->nlis; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(wl->lis[i].fd, (struct sockaddr *)&ss, &sl) < 0)
			continue;
		if (wl->lis[i].kind == L_OUT)
			nout++;
		if (wl->lis[i].kind == L_IN) {
			if (ss.ss_family == AF_INET6)
				b.in6_fd = wl->lis[i].fd;
			else
				b.in4_fd = wl->lis[i].fd;
		}
	}
	memcpy(b.out_ip, lo4, 16);
	if (nout > 1)
		memcpy(b.out_ip6, lo6, 16);
	b.out_port = 15001;
	for (size_t i = 0; i < w->naddrs; i++)
		memcpy(addrs[i], w->addrs[i].a6, 16);
	b.naddrs = w->naddrs;
	if (wl->host && !w->naddrs) {
		memcpy(addrs[0], w->node_addr.a6, 16);   /* a host workload's address is its node's */
		b.naddrs = 1;
	}
	b.addrs = (const uint8_t (*)[16])addrs;
	if (wl->host) {
		b.nports = host_ports(v, w, ports, 64);
		b.ports = ports;
	}
	rc = weft_bpfcap_attach(c->bpf, &b, err, errlen);
	free(addrs);
	if (rc == WEFT_OK && !(w->cgroup && w->cgroup[0]) && !wl->rules)
		weft_warn("capture", "workload %s has no cgroup: its outbound traffic is not captured in "
			  "ebpf mode (inbound is)", w->uid);
	return rc;
}

/* Opens listeners and installs rules / attaches programs for wl. Returns
 * WEFT_OK or WEFT_EFAIL with err filled (what was opened is closed again). */
static int setup(cap_wl_t *wl, const weft_av_workload_t *w, const weft_av_t *v, char *err, size_t errlen)
{
	struct weft_capture *c = wl->cap;
	char hb[32];
	bool v6;

	if (wl->host) {
		/* the node netns: the shared outbound listener, and an inbound
		 * one (any port on loopback: sk_lookup assigns to it) */
		wl->ns = NULL;
		if (c->node_ns)
			wl->ns = weft_netns_open(&c->nss, c->node_ns->path);
		if (c->host_out.fd < 0 &&
		    listen_at(c, &c->host_out, NULL, c->node_ns, L_HOST_OUT, HOST_OUT_ADDR, err, errlen) < 0)
			return WEFT_EFAIL;
		if (!wl->nlis && open_listener(wl, L_IN, "127.0.0.1:0", err, errlen) < 0)
			return WEFT_EFAIL;
	} else {
		if (!wl->ns) {
			wl->ns = weft_netns_open(&c->nss, wl->netns);
			if (!wl->ns) {
				snprintf(err, errlen, "netns %s: %s", wl->netns, strerror(errno ? errno : ENOENT));
				return WEFT_EFAIL;
			}
		}
		if (!wl->nlis) {
			v6 = weft_netns_has_ipv6(&c->nss, wl->ns);
			snprintf(hb, sizeof(hb), "0.0.0.0:%u", c->nft.hbone_port);
			if (open_listener(wl, L_OUT, "127.0.0.1:15001", err, errlen) < 0 ||
			    (v6 && open_listener(wl, L_OUT, "[::1]:15001", err, errlen) < 0) ||
			    open_listener(wl, L_IN, "0.0.0.0:15006", err, errlen) < 0 ||
			    (v6 && open_listener(wl, L_IN, "[::]:15006", err, errlen) < 0) ||
			    open_listener(wl, L_HBONE, hb, err, errlen) < 0) {
				close_listeners(wl);
				return WEFT_EFAIL;
			}
		}
	}
	if (c->mode == WEFT_CAPTURE_EBPF) {
		char berr[512];
		if (c->clean_nft && wl->ns && weft_nft_remove(wl->ns->fd, &c->nft, berr, sizeof(berr)) < 0)
			weft_warn("capture", "workload %s: removing the old nftables capture: %s", wl->uid, berr);
		if (ebpf_attach(wl, w, v, berr, sizeof(berr)) < 0) {
			snprintf(err, errlen, "ebpf: %s", berr);
			close_listeners(wl);
			return WEFT_EFAIL;
		}
		wl->cgid = w->cgroup && w->cgroup[0] ? weft_bpfcap_cgroup_id(w->cgroup) : 0;
		wl->rules = true;
	} else if (!wl->rules) {
		char nerr[512];
		if (weft_nft_install(wl->ns->fd, &c->nft, nerr, sizeof(nerr)) < 0) {
			snprintf(err, errlen, "nft: %s", nerr);
			close_listeners(wl);
			return WEFT_EFAIL;
		}
		wl->rules = true;
	}
	wl->ready = true;
	return WEFT_OK;
}

/* Removes wl: listeners closed, rules deleted / links detached unless
 * keep_rules. */
static void teardown(cap_wl_t *wl, bool keep_rules)
{
	struct weft_capture *c = wl->cap;
	char err[512];

	close_listeners(wl);
	if (wl->rules && !keep_rules && c->mode == WEFT_CAPTURE_EBPF) {
		if (weft_bpfcap_detach(c->bpf, wl->key, err, sizeof(err)) < 0)
			weft_warn("capture", "%s: detaching: %s", wl->uid, err);
		else
			weft_info("capture", "%s: capture removed (links detached, unpinned)", wl->uid);
	} else if (wl->rules && !keep_rules && wl->ns) {
		if (weft_nft_remove(wl->ns->fd, &c->nft, err, sizeof(err)) < 0)
			weft_warn("capture", "%s: removing rules: %s", wl->uid, err);
		else
			weft_info("capture", "%s: capture removed", wl->uid);
	}
	weft_netns_release(&c->nss, wl->ns);
	free(wl->uid);
	free(wl->netns);
	free(wl->key);
	free(wl);
}

static void retry_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct weft_capture *c = t->data;

	if (c->a->view && !c->stopped)
		weft_capture_reconcile(c, c->a->view);
}

static void hb_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct weft_capture *c = t->data;

	if (c->stopped || !c->bpf)
		return;
	weft_bpfcap_heartbeat(c->bpf);
	weft_timer_start(l, &c->hb, HEARTBEAT_MS);
}

int weft_capture_choose(const char *want, const char *ebpf_err)
{
	if (!want || !strcmp(want, "auto"))
		return ebpf_err ? WEFT_CAPTURE_NFT : WEFT_CAPTURE_EBPF;
	if (!strcmp(want, "ebpf"))
		return ebpf_err ? -1 : WEFT_CAPTURE_EBPF;
	if (!strcmp(want, "nft"))
		return WEFT_CAPTURE_NFT;
	if (!strcmp(want, "none"))
		return WEFT_CAPTURE_NONE;
	return -1;
}

static uint16_t port_of(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	weft_ip_t ip;
	uint16_t port = 0;

	if (addr && *addr && weft_net_parse_addr(addr, strlen(addr), &ss, &sl) == WEFT_OK)
		weft_ip_from_sockaddr((struct sockaddr *)&ss, &ip, &port);
	return port;
}

struct weft_capture *weft_capture_new(weft_agent_t *a)
{
	struct weft_capture *c = calloc(1, sizeof(*c));
	const char *want = a->o.capture ? a->o.capture : "auto";
	char why[512] = "";
	int mode;

	if (!c)
		return NULL;
	c->a = a;
	c->host_out.fd = -1;
	if (weft_netns_set_init(&c->nss) < 0) {
		free(c);
		return NULL;
	}
	weft_nft_opts_default(&c->nft, a->o.mark ? a->o.mark : WEFT_AGENT_MARK);
	if (a->o.hbone_port)
		c->nft.hbone_port = a->o.hbone_port;
	weft_timer_init(&c->retry, retry_cb, c);
	weft_timer_init(&c->hb, hb_cb, c);
	if (a->o.bpf_pin_dir && a->o.bpf_pin_dir[0])
		snprintf(c->pindir, sizeof(c->pindir), "%s", a->o.bpf_pin_dir);
	else
		snprintf(c->pindir, sizeof(c->pindir), "%s/%s", WEFT_BPFCAP_PIN_ROOT,
			 a->o.node ? a->o.node : "");
	if (!strcmp(want, "ebpf") || !strcmp(want, "auto")) {
		weft_bpfcap_opts_t bo;
		uint16_t ports[] = { 15001, 15006, c->nft.hbone_port, 15008, port_of(a->o.admin_addr),
				     port_of(a->o.metrics_addr) };
		memset(&bo, 0, sizeof(bo));
		bo.dir = c->pindir;
		bo.fail_open = a->o.capture_fail_open;
		bo.hbone_port = c->nft.hbone_port;
		for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
			if (ports[i])
				bo.agent_ports[bo.nports++] = ports[i];
		c->bpf = weft_bpfcap_open(&bo, why, sizeof(why));
	}
	mode = weft_capture_choose(want, c->bpf ? NULL : why);
	if (mode < 0) {
		weft_err("capture", "--capture %s: eBPF capture is not available: %s", want, why);
		weft_capture_free(c);
		return NULL;
	}
	c->mode = (weft_capture_mode_t)mode;
	/* switching modes must not leave the other mode's capture behind (it
	 * would capture twice): an nft run leaves a marker in the state dir */
	if (a->o.state_dir && a->o.state_dir[0])
		snprintf(c->nft_marker, sizeof(c->nft_marker), "%s/capture-nft", a->o.state_dir);
	if (c->nft_marker[0]) {
		if (c->mode == WEFT_CAPTURE_EBPF && access(c->nft_marker, F_OK) == 0) {
			weft_info("capture", "an earlier run captured with nftables: removing its tables");
			c->clean_nft = true;
		} else if (c->mode == WEFT_CAPTURE_NFT &&
			   weft_write_file_atomic(c->nft_marker, "nft\n", 4, 0644) != WEFT_OK) {
			weft_warn("capture", "%s: %s", c->nft_marker, strerror(errno));
		}
	}
	if (c->mode == WEFT_CAPTURE_EBPF) {
		weft_info("capture", "capture: ebpf (%s; pinned under %s, failure policy %s)",
			  strcmp(want, "auto") ? "--capture ebpf" : "auto: the kernel accepted the programs",
			  c->pindir, a->o.capture_fail_open ? "open" : "closed");
		weft_timer_start(a->loop, &c->hb, HEARTBEAT_MS);
	} else {
		if (strcmp(want, "auto"))
			weft_info("capture", "capture: %s (--capture %s)", want, want);
		else
			weft_info("capture", "capture: nft (eBPF unavailable: %s)", why);
		/* an earlier agent's eBPF capture would capture twice: remove it */
		if (c->mode == WEFT_CAPTURE_NFT && access(c->pindir, F_OK) == 0) {
			weft_info("capture", "removing the eBPF capture pinned under %s", c->pindir);
			weft_bpfcap_remove_all(c->pindir);
		}
	}
	if (a->o.node_netns && a->o.node_netns[0] &&
	    !(c->node_ns = weft_netns_open(&c->nss, a->o.node_netns)))
		weft_warn("capture", "node netns %s: %s (host workloads cannot be captured)",
			  a->o.node_netns, strerror(errno));
	return c;
}

weft_capture_mode_t weft_capture_mode(const struct weft_capture *c)
{
	return c ? c->mode : WEFT_CAPTURE_NONE;
}

void weft_capture_stop(struct weft_capture *c)
{
	if (!c)
		return;
	c->stopped = true;
	weft_timer_stop(c->a->loop, &c->retry);
	weft_timer_stop(c->a->loop, &c->hb);
	for (cap_wl_t *wl = c->wls; wl; wl = wl->next)
		close_listeners(wl);
	if (c->host_out.fd >= 0) {
		weft_io_stop(c->a->loop, &c->host_out.io);
		close(c->host_out.fd);
		c->host_out.fd = -1;
	}
}

void weft_capture_free(struct weft_capture *c)
{
	if (!c)
		return;
	weft_timer_stop(c->a->loop, &c->retry);
	weft_timer_stop(c->a->loop, &c->hb);
	while (c->wls) {
		cap_wl_t *wl = c->wls;
		c->wls = wl->next;
		teardown(wl, c->stopped);
	}
	if (c->host_out.fd >= 0) {
		weft_io_stop(c->a->loop, &c->host_out.io);
		close(c->host_out.fd);
	}
	weft_bpfcap_close(c->bpf);
	weft_netns_release(&c->nss, c->node_ns);
	weft_netns_set_destroy(&c->nss);
	free(c);
}

static bool keep_key(void *ud, const char *key)
{
	struct weft_capture *c = ud;

	for (cap_wl_t *wl = c->wls; wl; wl = wl->next)
		if (!strcmp(wl->key, key))
			return true;
	return false;
}

int weft_capture_reconcile(struct weft_capture *c, const weft_av_t *v)
{
	cap_wl_t **pp, *wl;
	int rc = WEFT_OK;
	char err[600];

	if (c->stopped)
		return WEFT_OK;
	for (wl = c->wls; wl; wl = wl->next)
		wl->seen = false;
	for (size_t i = 0; v && i < v->nworkloads; i++) {
		const weft_av_workload_t *w = &v->workloads[i];
		bool has_ns = w->netns && w->netns[0];
		bool host = !has_ns && c->mode == WEFT_CAPTURE_EBPF && w->cgroup && w->cgroup[0];
		char key[256];
		if (!has_ns && !host)
			continue;   /* not captured */
		if (weft_bpfcap_key(key, sizeof(key), w->ns, w->name) < 0) {
			weft_warn("capture", "workload %s: name too long to capture", w->uid);
			rc = WEFT_EFAIL;
			continue;
		}
		for (wl = c->wls; wl; wl = wl->next)
			if (!strcmp(wl->uid, w->uid))
				break;
		if (wl && (strcmp(wl->netns, has_ns ? w->netns : "") || wl->host != host)) {
			/* moved to another namespace: start over (the old one is
			 * most likely gone with its rules) */
			for (pp = &c->wls; *pp != wl; pp = &(*pp)->next)
				;
			*pp = wl->next;
			teardown(wl, false);
			wl = NULL;
		}
		if (!wl) {
			wl = calloc(1, sizeof(*wl));
			if (!wl || !(wl->uid = strdup(w->uid)) || !(wl->netns = strdup(has_ns ? w->netns : "")) ||
			    !(wl->key = strdup(key))) {
				if (wl) {
					free(wl->uid);
					free(wl->netns);
				}
				free(wl);
				rc = WEFT_EFAIL;
				continue;
			}
			wl->cap = c;
			wl->host = host;
			wl->next = c->wls;
			c->wls = wl;
		}
		wl->seen = true;
		if (wl->ready && c->mode != WEFT_CAPTURE_EBPF)
			continue;
		if (wl->ready) {
			/* ebpf: refresh the map entries (addresses, ports) */
			if (ebpf_attach(wl, w, v, err, sizeof(err)) < 0) {
				weft_warn("capture", "workload %s: refreshing ebpf capture: %s", w->uid, err);
				rc = WEFT_EFAIL;
			}
			continue;
		}
		if (setup(wl, w, v, err, sizeof(err)) < 0) {
			c->failures++;
			weft_warn("capture", "workload %s: cannot capture: %s (retrying)", w->uid, err);
			rc = WEFT_EFAIL;
		} else {
			weft_info("capture", "workload %s: captured (%s) in %s", w->uid,
				  c->mode == WEFT_CAPTURE_EBPF ? "ebpf" : "nft", has_ns ? w->netns : "the node netns");
		}
	}
	for (pp = &c->wls; *pp;) {
		wl = *pp;
		if (wl->seen) {
			pp = &wl->next;
			continue;
		}
		*pp = wl->next;
		teardown(wl, false);
	}
	if (c->mode == WEFT_CAPTURE_EBPF && c->bpf) {
		/* the node's addresses: those of the view's workloads' node */
		uint8_t node[1][16];
		size_t nn = 0;
		for (size_t i = 0; v && i < v->nworkloads && !nn; i++) {
			static const uint8_t zero[16];
			if (memcmp(v->workloads[i].node_addr.a6, zero, 16)) {
				memcpy(node[0], v->workloads[i].node_addr.a6, 16);
				nn = 1;
			}
		}
		weft_bpfcap_set_node_addrs(c->bpf, (const uint8_t (*)[16])node, nn);
		weft_bpfcap_prune(c->bpf, keep_key, c);
	}
	if (c->clean_nft && rc == WEFT_OK) {
		/* every workload of the view went through setup(): done */
		c->clean_nft = false;
		unlink(c->nft_marker);
	}
	if (rc != WEFT_OK)
		weft_timer_start(c->a->loop, &c->retry, RETRY_MS);
	return rc;
}
