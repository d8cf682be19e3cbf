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
 * Stopping the agent closes listeners but leaves rules (fail closed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "weft/agent.h"
#include "weft/capture.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

#define RETRY_MS 2000

enum { L_OUT = 0, L_IN, L_HBONE };

struct cap_wl;

typedef struct cap_lis {
	struct cap_wl *wl;
	int kind;
	int fd;
	weft_io_t io;
} cap_lis_t;

typedef struct cap_wl {
	struct cap_wl *next;
	struct weft_capture *cap;
	char *uid;
	char *netns;
	weft_netns_t *ns;
	cap_lis_t lis[5];
	int nlis;
	bool rules;                  /* our table is installed */
	bool ready;                  /* listeners and rules in place */
	bool seen;                   /* in the view being reconciled */
} cap_wl_t;

struct weft_capture {
	weft_agent_t *a;
	weft_netns_set_t nss;
	weft_nft_opts_t nft;
	cap_wl_t *wls;
	weft_timer_t retry;
	bool stopped;
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

static void accept_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	cap_lis_t *li = io->data;
	cap_wl_t *wl = li->wl;
	weft_agent_t *a = wl->cap->a;

	for (int i = 0; i < 64; i++) {
		const weft_av_workload_t *w;
		int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		weft_net_nodelay(fd);
		w = a->view ? weft_av_workload(a->view, wl->uid) : NULL;
		if (!w || !a->dp) {
			weft_sock_set_rst(fd);
			close(fd);
			continue;
		}
		switch (li->kind) {
		case L_OUT: weft_dp_outbound(a->dp, w, fd); break;
		case L_IN: weft_dp_inbound_plain(a->dp, w, fd); break;
		default: weft_dp_inbound_hbone(a->dp, w, fd); break;
		}
	}
}

static int open_listener(cap_wl_t *wl, int kind, const char *addr, char *err, size_t errlen)
{
	struct weft_capture *c = wl->cap;
	struct sockaddr_storage ss;
	socklen_t sl;
	cap_lis_t *li = &wl->lis[wl->nlis];

	weft_net_parse_addr(addr, strlen(addr), &ss, &sl);
	li->fd = weft_netns_listen(&c->nss, wl->ns, (struct sockaddr *)&ss, sl, 1024);
	if (li->fd < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		return WEFT_EFAIL;
	}
	li->wl = wl;
	li->kind = kind;
	if (weft_io_start(c->a->loop, &li->io, li->fd, WEFT_IO_READ, accept_cb, li) < 0) {
		snprintf(err, errlen, "watch %s: %s", addr, strerror(errno));
		close(li->fd);
		return WEFT_EFAIL;
	}
	wl->nlis++;
	return WEFT_OK;
}

/* Opens listeners and installs rules for wl. Returns WEFT_OK or WEFT_EFAIL
 * with err filled (what was opened is closed again). */
static int setup(cap_wl_t *wl, char *err, size_t errlen)
{
	struct weft_capture *c = wl->cap;
	char hb[32];
	bool v6;

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
	if (!wl->rules) {
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

/* Removes wl: listeners closed, rules deleted unless keep_rules. */
static void teardown(cap_wl_t *wl, bool keep_rules)
{
	struct weft_capture *c = wl->cap;
	char err[512];

	close_listeners(wl);
	if (wl->rules && !keep_rules && wl->ns) {
		if (weft_nft_remove(wl->ns->fd, &c->nft, err, sizeof(err)) < 0)
			weft_warn("capture", "%s: removing rules: %s", wl->uid, err);
		else
			weft_info("capture", "%s: capture removed", wl->uid);
	}
	weft_netns_release(&c->nss, wl->ns);
	free(wl->uid);
	free(wl->netns);
	free(wl);
}

static void retry_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct weft_capture *c = t->data;

	if (c->a->view && !c->stopped)
		weft_capture_reconcile(c, c->a->view);
}

struct weft_capture *weft_capture_new(weft_agent_t *a)
{
	struct weft_capture *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->a = a;
	if (weft_netns_set_init(&c->nss) < 0) {
		free(c);
		return NULL;
	}
	weft_nft_opts_default(&c->nft, a->o.mark ? a->o.mark : WEFT_AGENT_MARK);
	if (a->o.hbone_port)
		c->nft.hbone_port = a->o.hbone_port;
	weft_timer_init(&c->retry, retry_cb, c);
	return c;
}

void weft_capture_stop(struct weft_capture *c)
{
	if (!c)
		return;
	c->stopped = true;
	weft_timer_stop(c->a->loop, &c->retry);
	for (cap_wl_t *wl = c->wls; wl; wl = wl->next)
		close_listeners(wl);
}

void weft_capture_free(struct weft_capture *c)
{
	if (!c)
		return;
	weft_timer_stop(c->a->loop, &c->retry);
	while (c->wls) {
		cap_wl_t *wl = c->wls;
		c->wls = wl->next;
		teardown(wl, c->stopped);
	}
	weft_netns_set_destroy(&c->nss);
	free(c);
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
		if (!w->netns || !w->netns[0])
			continue;   /* not captured by netns */
		for (wl = c->wls; wl; wl = wl->next)
			if (!strcmp(wl->uid, w->uid))
				break;
		if (wl && strcmp(wl->netns, w->netns)) {
			/* moved to another namespace: start over (the old one is
			 * most likely gone with its rules) */
			wl->seen = false;
			wl = NULL;
		}
		if (!wl) {
			wl = calloc(1, sizeof(*wl));
			if (!wl || !(wl->uid = strdup(w->uid)) || !(wl->netns = strdup(w->netns))) {
				if (wl)
					free(wl->uid);
				free(wl);
				rc = WEFT_EFAIL;
				continue;
			}
			wl->cap = c;
			wl->next = c->wls;
			c->wls = wl;
		}
		wl->seen = true;
		if (wl->ready)
			continue;
		if (setup(wl, err, sizeof(err)) < 0) {
			c->failures++;
			weft_warn("capture", "workload %s: cannot capture: %s (retrying)", w->uid, err);
			rc = WEFT_EFAIL;
		} else {
			weft_info("capture", "workload %s: captured in %s", w->uid, w->netns);
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
	if (rc != WEFT_OK)
		weft_timer_start(c->a->loop, &c->retry, RETRY_MS);
	return rc;
}
