/* weft agent — start-up, the loop, signals, view swaps, SNI names, and
 * the admin endpoints' view of the agent (admin_ops).
 *
 * Start-up order: loop, metrics registry, telemetry (which owns every
 * agent metric), signals, identities (persisted credentials), the join
 * token when there is no node credential, the admin servers (:15000,
 * :15020), the data path and capture, then the control connection. Listeners and capture
 * rules are (re)established as soon as the first complete view arrives;
 * persisted credentials are used at once, without waiting for the CA.
 *
 * SIGTERM/SIGINT: stop accepting, close listeners, leave the nft rules in
 * place (fail closed: captured traffic is refused while no agent runs) and
 * exit 0. SIGHUP: logged; nothing is reloaded yet. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "l7_int.h"
#include "weft/agent.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"
#include "weft/tls.h"

#define MAX_TOKEN 4096

void weft_agent_opts_default(weft_agent_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->admin_addr = "127.0.0.1:15000";
	o->metrics_addr = "127.0.0.1:15020";
	o->node_netns = "";
	o->hbone_port = 15008;
	o->cert_ttl_s = 0;
	o->capture = "auto";
	o->mark = WEFT_AGENT_MARK;
	o->log_format = "text";
	o->path_slashes = "decode";
	o->access_log_sample = 1.0;
	o->trace_sample = 0.01;
	/* per-workload L7 fairness (docs/agent.md "Per-workload fairness"):
	 * generous for one application, small enough that one runaway
	 * workload cannot take the node's descriptors or memory */
	o->l7_max_conns = 4096;
	o->l7_max_requests = 1024;
	o->l7_max_buffer = 64ull << 20;   /* 64 MiB */
}

/* ---- SNI ---- */

int weft_sni_format(char *out, size_t outlen, const char *ns, const char *sa)
{
	int n;

	if (!ns || !sa || !*ns || !*sa)
		return WEFT_EPROTO;
	n = snprintf(out, outlen, "%s.%s%s", sa, ns, WEFT_SNI_SUFFIX);
	return n < 0 || (size_t)n >= outlen ? WEFT_ELIMIT : WEFT_OK;
}

static bool name_ok(const char *p, size_t n)
{
	if (n == 0 || n >= WEFT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		      p[i] == '_' || p[i] == '.'))
			return false;
	return true;
}

int weft_sni_parse(const char *sni, char *ns, size_t nslen, char *sa, size_t salen)
{
	size_t n, sl = sizeof(WEFT_SNI_SUFFIX) - 1;
	const char *dot;

	if (!sni)
		return WEFT_EPROTO;
	n = strlen(sni);
	if (n <= sl || strcmp(sni + n - sl, WEFT_SNI_SUFFIX))
		return WEFT_EPROTO;
	n -= sl;
	/* the namespace is the last label: namespaces have no dots */
	dot = memrchr(sni, '.', n);
	if (!dot || dot == sni)
		return WEFT_EPROTO;
	if (!name_ok(dot + 1, (size_t)(sni + n - dot - 1)) || !name_ok(sni, (size_t)(dot - sni)) ||
	    (size_t)(sni + n - dot - 1) >= nslen || (size_t)(dot - sni) >= salen)
		return WEFT_EPROTO;
	memcpy(ns, dot + 1, (size_t)(sni + n - dot - 1));
	ns[sni + n - dot - 1] = 0;
	memcpy(sa, sni, (size_t)(dot - sni));
	sa[dot - sni] = 0;
	return WEFT_OK;
}

/* ---- views and credentials ---- */

void weft_agent_set_view(weft_agent_t *a, weft_av_t *v)
{
	weft_av_t *old = a->view;

	if (!v)
		return;
	a->view = v;
	if (!a->synced) {
		a->synced = true;
		weft_info("agent", "synced: first view (generation %llu, %zu workloads, %zu services) after %llums",
			  (unsigned long long)v->generation, v->nworkloads, v->nservices,
			  (unsigned long long)(weft_loop_now(a->loop) - a->started_ms));
	}
	if (a->cap && weft_capture_reconcile(a->cap, v) != WEFT_OK)
		weft_warn("agent", "view %llu: some workloads could not be captured (retried)",
			  (unsigned long long)v->generation);
	if (a->ident)
		weft_ident_want(a->ident, v);
	if (a->dp) {
		if (weft_dp_listen(a->dp, v) != WEFT_OK)
			weft_warn("agent", "view %llu: the HBONE listener is not up", (unsigned long long)v->generation);
		weft_dp_reauthorize(a->dp, v);
	}
	if (old)
		weft_av_unref(old);
}

void weft_agent_cred_changed(weft_agent_t *a, const char *ns, const char *sa)
{
	weft_debug("agent", "credential of %s/%s changed", ns, sa);
	if (a->dp)
		weft_dp_cred_changed(a->dp, ns, sa);
}

void weft_agent_fatal(weft_agent_t *a, int code)
{
	if (!a->exit_code)
		a->exit_code = code;
	weft_loop_stop(a->loop);
}

/* ---- what the admin endpoints read (weft_agent_admin_ops_t) ---- */

static const weft_av_t *admin_view(void *ud)
{
	weft_agent_t *a = ud;

	return a->synced ? a->view : NULL;
}

static weft_cred_t *admin_cred(void *ud, const char *ns, const char *sa)
{
	weft_agent_t *a = ud;

	return a->ident ? weft_ident_cred(a->ident, ns, sa) : NULL;
}

static void admin_each_cred(void *ud, void (*fn)(void *arg, const weft_cred_t *c), void *arg)
{
	weft_agent_t *a = ud;

	if (a->ident)
		weft_ident_each(a->ident, fn, arg);
}

static const weft_bundle_t *admin_bundle(void *ud)
{
	weft_agent_t *a = ud;

	return a->ident ? weft_ident_bundle(a->ident) : NULL;
}

/* The pool hook: the data path renders its own HBONE pool. */
static int admin_pool_json(void *ud, weft_buf_t *out)
{
	weft_agent_t *a = ud;

	return a->dp ? weft_dp_pool_json(a->dp, out) : -1;
}

/* Creates and starts the admin servers. Returns 0, or 1 (message
 * printed: the address is bad or taken). */
static int start_admin(weft_agent_t *a)
{
	weft_agent_admin_ops_t ops = {
		.node = a->o.node,
		.ud = a,
		.view = admin_view,
		.cred = admin_cred,
		.each_cred = admin_each_cred,
		.bundle = admin_bundle,
		.pool_json = admin_pool_json,
	};
	uint16_t ap = 0, mp = 0;

	if (!(a->admin = weft_agent_admin_new(a->loop, &a->metrics, &ops))) {
		fprintf(stderr, "weft agent: out of memory\n");
		return 1;
	}
	if (weft_agent_admin_listen(a->admin, a->o.admin_addr, a->o.metrics_addr) != WEFT_OK) {
		int e = errno;
		bool admin_up;

		weft_agent_admin_ports(a->admin, &ap, &mp);
		admin_up = ap || !a->o.admin_addr || !*a->o.admin_addr;
		fprintf(stderr, "weft agent: %s %s: cannot listen: %s\n", admin_up ? "--metrics" : "--admin",
			admin_up ? a->o.metrics_addr : a->o.admin_addr, strerror(e));
		return 1;
	}
	weft_agent_admin_ports(a->admin, &ap, &mp);
	weft_info("agent", "admin on port %u (/healthz /config_dump /certs), metrics on port %u", ap, mp);
	return 0;
}

/* ---- signals ---- */

static void signal_cb(weft_loop_t *l, int signo, void *data)
{
	weft_agent_t *a = data;

	if (signo == SIGHUP) {
		weft_info("agent", "SIGHUP: nothing to reload");
		return;
	}
	weft_info("agent", "%s: stopping (capture rules stay: fail closed)", strsignal(signo));
	weft_loop_stop(a->loop);
}

/* ---- start-up ---- */

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Reads and checks the join token. Returns 0, or 2 (bad option: message
 * printed). */
static int load_token(weft_agent_t *a)
{
	uint8_t pin[32];
	size_t len;
	char *tok;
	int rc;

	if (!a->o.token_file) {
		fprintf(stderr, "weft agent: %s holds no node credential: --token-file is needed to join\n",
			a->o.state_dir);
		return 2;
	}
	if (!(tok = weft_read_file(a->o.token_file, MAX_TOKEN, &len))) {
		fprintf(stderr, "weft agent: --token-file %s: %s\n", a->o.token_file, strerror(errno));
		return 2;
	}
	rc = weft_ident_set_token(a->ident, tok, len, pin);
	memset(tok, 0, len);
	free(tok);
	if (rc != WEFT_OK) {
		fprintf(stderr, "weft agent: --token-file %s: not a join token (<id>.<secret>.<64 hex digits>)\n",
			a->o.token_file);
		return 2;
	}
	weft_controlc_set_pin(a->ctl, pin);
	return 0;
}

static void agent_free(weft_agent_t *a)
{
	/* first: its handlers read the parts below */
	weft_agent_admin_free(a->admin);
	a->admin = NULL;
	if (a->cap) {
		weft_capture_stop(a->cap);   /* listeners closed, rules stay */
		weft_capture_free(a->cap);
	}
	l7_free(a->l7);   /* before the data path: its tunnels are the data path's */
	a->l7 = NULL;
	if (a->dp)
		weft_dp_free(a->dp);
	weft_xdsc_free(a->xdsc);
	weft_controlc_free(a->ctl);
	weft_ident_free(a->ident);
	a->cap = NULL;
	a->dp = NULL;
	a->xdsc = NULL;
	a->ctl = NULL;
	a->ident = NULL;
	/* let deferred closes (killed connections, cancelled calls) finish */
	for (int i = 0; i < 4; i++)
		weft_loop_once(a->loop, 0);
	if (a->view)
		weft_av_unref(a->view);
	a->view = NULL;
	weft_sigwatch_stop(&a->sig, a->loop);   /* the signal mask back as well */
	weft_tm_free(a->tm);
	a->tm = NULL;
	weft_metrics_free(&a->metrics);
	weft_loop_destroy(a->loop);
}

int weft_agent_run(const weft_agent_opts_t *o)
{
	weft_agent_t *a = calloc(1, sizeof(*a));
	weft_loop_t *loop = calloc(1, sizeof(*loop));
	char sd[4096];
	int rc = 1;

	if (!a || !loop) {
		free(a);
		free(loop);
		fprintf(stderr, "weft agent: out of memory\n");
		return 1;
	}
	a->o = *o;
	weft_sigwatch_init(&a->sig);
	if (!a->o.state_dir) {
		snprintf(sd, sizeof(sd), "/var/lib/weft/agent-%s", a->o.node);
		a->o.state_dir = sd;
	}
	if (mkdir_p(a->o.state_dir, 0700) < 0) {
		fprintf(stderr, "weft agent: --state-dir %s: %s\n", a->o.state_dir, strerror(errno));
		free(a);
		free(loop);
		return 1;
	}
	if (weft_loop_init(loop) < 0) {
		fprintf(stderr, "weft agent: epoll: %s\n", strerror(errno));
		free(a);
		free(loop);
		return 1;
	}
	a->loop = loop;
	a->started_ms = weft_loop_update_time(loop);
	a->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ a->started_ms;
	weft_metrics_init(&a->metrics);

	if (weft_sigwatch_start(&a->sig, loop, signal_cb, a) < 0) {
		fprintf(stderr, "weft agent: signalfd: %s\n", strerror(errno));
		goto out;
	}

	/* telemetry before the parts: they take their metrics from it */
	if (!(a->tm = weft_tm_new(&a->metrics, NULL)) || !(a->ident = weft_ident_new(a)) || !(a->ctl = weft_controlc_new(a)) ||
	    !(a->xdsc = weft_xdsc_new(a))) {
		fprintf(stderr, "weft agent: out of memory\n");
		goto out;
	}
	if (!a->o.plaintext_xds && weft_ident_need_join(a->ident) && (rc = load_token(a)) != 0)
		goto out;
	if ((rc = start_admin(a)) != 0)
		goto out;
	rc = 1;
	if (!(a->dp = weft_dp_new(a)))
		weft_warn("agent", "the data path is not available in this build");
	else if (!(a->l7 = l7_new(a->dp)))
		weft_warn("agent", "L7 is not available: HTTP ports are carried at L4");
	else if (a->admin)
		weft_l7_tel_admin(a->l7->tel, a->admin);
	if (strcmp(a->o.capture, "none") && !(a->cap = weft_capture_new(a))) {
		fprintf(stderr, "weft agent: --capture %s: capture is not available (see the log)\n",
			a->o.capture);
		goto out;
	}
	weft_info("agent", "node %s: state in %s, %s, control %s", a->o.node, a->o.state_dir,
		  a->o.plaintext_xds ? "plaintext xDS (no CA)"
		  : weft_ident_need_join(a->ident) ? "joining with the token"
		  : "using the persisted node credential",
		  a->o.plaintext_xds ? a->o.plaintext_xds : a->o.control);
	weft_controlc_start(a->ctl);
	if (weft_loop_run(loop) < 0) {
		weft_err("agent", "event loop failed: %s", strerror(errno));
		goto out;
	}
	rc = a->exit_code;
	weft_info("agent", "stopped (exit %d)", rc);
out:
	agent_free(a);
	free(loop);
	free(a);
	return rc;
}
