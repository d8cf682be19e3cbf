/* weft — `weft control`: loads the config, translates it into an xDS
 * snapshot, serves it over ADS, watches the config for changes (inotify,
 * debounced) and serves the admin endpoints. One loop, one thread; signals
 * arrive through a signalfd, so nothing here is global. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include "weft/admin.h"
#include "weft/buf.h"
#include "weft/ca.h"
#include "weft/config.h"
#include "weft/control.h"
#include "weft/grpc.h"
#include "weft/json.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/tls.h"
#include "weft/xds.h"
#include "weft/xds_server.h"

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | \
		    IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)

typedef struct weft_control {
	weft_control_opts_t o;
	weft_loop_t loop;
	weft_metrics_t metrics;
	weft_grpc_server_t grpc;
	weft_xds_server_t xds;
	weft_admin_t admin;
	weft_sigwatch_t sig;         /* SIGTERM, SIGINT, SIGHUP */
	int infd;
	weft_io_t inio;
	bool watch_dir;              /* config is a directory (else a file) */
	char watch_base[NAME_MAX + 1]; /* file mode: the file's name in its directory */
	weft_timer_t reload_timer;
	uint64_t first_event_ms;
	weft_model_t *model;
	weft_config_cache_t cache;   /* decoded files of the last load: a reload re-reads only changed files */
	weft_xds_snapshot_t *snap;   /* a reference to the last translation: the next one reuses it */
	uint64_t generation;
	time_t loaded_at;
	bool ready;
	bool have_rejected;
	time_t rejected_at;
	weft_cfg_errors_t rejected;  /* errors of the last rejected config */
	bool last_ok;
	uint64_t reloads_ok, reloads_err;
	weft_metric_t *m_cfg_errors, *m_reloads, *m_generation;
	/* the CA and the mTLS listener (only with --ca-dir or --ca-cert/--ca-key) */
	bool ca_on;
	weft_ca_t ca;
	weft_ca_service_t ca_svc;
	weft_tls_ctx_t *tls;         /* server context of the mTLS listener */
	weft_cred_t *ctl_cred;       /* control's own certificate (spiffe://<td>/weft/control) */
	weft_timer_t renew_timer;
	weft_metric_t *m_tls_refused;
} weft_control_t;

void weft_control_opts_default(weft_control_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->xds_listen = "127.0.0.1:15010";
	o->admin_listen = "127.0.0.1:15014";
	o->debounce_ms = 10;
	o->reload_ms = 25;
	o->max_pending = 32u << 20;
	o->stall_ms = 30000;
	o->preface_ms = 10000;
	o->max_conns = 10000;
	o->trust_domain = "cluster.local";
	o->root_namespace = "weft-system";
	o->xds_tls_listen = "127.0.0.1:15012";
	o->cert_ttl_s = 86400;
	o->cert_min_ttl_s = 60;
	o->node_cert_ttl_s = 86400;
}

static void iso_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- watching ---- */

/* Adds watches on dir and every directory below it. */
static void watch_tree(weft_control_t *ctl, const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;

	if (inotify_add_watch(ctl->infd, dir, WATCH_MASK | IN_ONLYDIR) < 0) {
		weft_warn("control", "inotify on %s: %s", dir, strerror(errno));
		return;
	}
	if (depth > 32 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(ctl, sub, depth + 1);
	}
	closedir(d);
}

static void setup_watches(weft_control_t *ctl)
{
	struct stat st;

	if (stat(ctl->o.config, &st) == 0 && S_ISDIR(st.st_mode)) {
		ctl->watch_dir = true;
		watch_tree(ctl, ctl->o.config, 0);
	} else {
		/* watch the directory, so that editors that replace the file
		 * (write a temporary, rename over) are seen too */
		char dir[PATH_MAX];
		const char *slash = strrchr(ctl->o.config, '/');
		ctl->watch_dir = false;
		snprintf(ctl->watch_base, sizeof(ctl->watch_base), "%s", slash ? slash + 1 : ctl->o.config);
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == ctl->o.config)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - ctl->o.config), ctl->o.config);
		if (inotify_add_watch(ctl->infd, dir, WATCH_MASK | IN_ONLYDIR) < 0)
			weft_warn("control", "inotify on %s: %s", dir, strerror(errno));
	}
}

static bool yaml_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static void schedule_reload(weft_control_t *ctl)
{
	uint64_t now = weft_loop_now(&ctl->loop), delay = ctl->o.reload_ms;

	/* restart on every event so a burst coalesces, but never wait more
	 * than a second after the first event of the burst */
	if (!weft_timer_active(&ctl->reload_timer))
		ctl->first_event_ms = now;
	else if (now + delay > ctl->first_event_ms + 1000)
		delay = ctl->first_event_ms + 1000 > now ? ctl->first_event_ms + 1000 - now : 0;
	weft_timer_start(&ctl->loop, &ctl->reload_timer, delay);
}

static void inotify_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	weft_control_t *ctl = io->data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool want = false;

	for (;;) {
		ssize_t n = read(ctl->infd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			const char *name = e->len ? e->name : "";
			p += sizeof(*e) + e->len;
			if (e->mask & IN_Q_OVERFLOW)
				want = true;
			else if (e->mask & IN_IGNORED)
				continue;
			else if (!ctl->watch_dir)
				want |= !strcmp(name, ctl->watch_base);
			else if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_ISDIR))
				want = true;
			else
				want |= yaml_name(name);
		}
	}
	if (want)
		schedule_reload(ctl);
}

/* ---- loading ---- */

static void log_errors(const weft_cfg_errors_t *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		weft_err("config", "%s:%u: %s: %s", errs->v[i].file, errs->v[i].line,
			 errs->v[i].field, errs->v[i].msg);
}

/* Loads and, when valid, installs the config as the next generation.
 * Returns 0, or -1 when it was rejected (errors logged and kept). */
static int load_config(weft_control_t *ctl, bool startup)
{
	weft_cfg_errors_t errs;
	weft_model_t *m;
	weft_xds_snapshot_t *snap;

	weft_cfg_errors_init(&errs);
	m = weft_config_load_cached(ctl->o.config, &ctl->cache, &errs);
	weft_debug("config", "%s: %zu files read, %zu unchanged", ctl->o.config, ctl->cache.last_parsed,
		   ctl->cache.last_reused);
	if (!m) {
		if (errs.n == 0)
			weft_cfg_error_add(&errs, ctl->o.config, 0, "", "could not be loaded");
		if (startup)
			weft_cfg_errors_print(&errs, stderr);
		else
			log_errors(&errs);
		weft_err("config", "%s: rejected with %zu error%s; %s", ctl->o.config, errs.n,
			 errs.n == 1 ? "" : "s",
			 ctl->generation ? "keeping the last good config" : "nothing to serve");
		weft_series_add(weft_metric_with(ctl->m_cfg_errors), (double)errs.n);
		weft_series_inc(weft_metric_with(ctl->m_reloads, "error"));
		ctl->reloads_err++;
		if (ctl->have_rejected)
			weft_cfg_errors_free(&ctl->rejected);
		ctl->rejected = errs;
		ctl->have_rejected = true;
		ctl->rejected_at = time(NULL);
		ctl->last_ok = false;
		return -1;
	}
	weft_cfg_errors_free(&errs);
	{
		weft_xds_opts_t xo = { ctl->o.trust_domain, ctl->o.root_namespace };
		snap = weft_xds_translate_opts(m, ctl->generation + 1, ctl->snap, &xo);
	}
	if (!snap) {
		weft_err("config", "translation failed (out of memory); keeping the last good config");
		weft_model_free(m);
		weft_series_inc(weft_metric_with(ctl->m_reloads, "error"));
		ctl->reloads_err++;
		ctl->last_ok = false;
		return -1;
	}
	ctl->generation++;
	weft_model_free(ctl->model);
	ctl->model = m;
	ctl->loaded_at = time(NULL);
	ctl->last_ok = true;
	ctl->reloads_ok++;
	weft_series_inc(weft_metric_with(ctl->m_reloads, "ok"));
	weft_series_set(weft_metric_with(ctl->m_generation), (double)ctl->generation);
	weft_info("config", "generation %" PRIu64 " loaded from %s (%zu files)", ctl->generation,
		  ctl->o.config, m->nfiles);
	weft_xds_server_set_snapshot(&ctl->xds, snap);
	weft_xds_snapshot_unref(ctl->snap);
	ctl->snap = snap;   /* our reference */
	return 0;
}

static void reload_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_control_t *ctl = t->data;

	if (ctl->watch_dir)
		watch_tree(ctl, ctl->o.config, 0);   /* pick up new directories */
	load_config(ctl, false);
}

/* ---- signals ---- */

static void signal_cb(weft_loop_t *l, int signo, void *data)
{
	weft_control_t *ctl = data;

	if (signo == SIGHUP) {
		weft_info("control", "SIGHUP: reloading");
		weft_timer_start(&ctl->loop, &ctl->reload_timer, 0);
	} else {
		weft_info("control", "%s: shutting down", strsignal(signo));
		ctl->ready = false;
		weft_grpc_server_shutdown(&ctl->grpc);
		weft_loop_stop(&ctl->loop);
	}
}

/* ---- admin handlers ---- */

static int h_healthz(const weft_admin_req_t *r, weft_buf_t *b, const char **ct, void *ctx)
{
	weft_buf_printf(b, "ok\n");
	return 200;
}

static int h_readyz(const weft_admin_req_t *r, weft_buf_t *b, const char **ct, void *ctx)
{
	weft_control_t *ctl = ctx;

	if (ctl->ready && ctl->generation && ctl->grpc.listening) {
		weft_buf_printf(b, "ready: generation %" PRIu64 "\n", ctl->generation);
		return 200;
	}
	weft_buf_printf(b, "not ready\n");
	return 503;
}

static int h_metrics(const weft_admin_req_t *r, weft_buf_t *b, const char **ct, void *ctx)
{
	weft_control_t *ctl = ctx;

	*ct = "text/plain; version=0.0.4; charset=utf-8";
	return weft_metrics_render(&ctl->metrics, b) < 0 ? 500 : 200;
}

static int h_clients(const weft_admin_req_t *r, weft_buf_t *b, const char **ct, void *ctx)
{
	weft_control_t *ctl = ctx;

	if (weft_admin_query_has(r->query, "format", "text"))
		return weft_xds_server_debug_text(&ctl->xds, b) < 0 ? 500 : 200;
	*ct = "application/json";
	return weft_xds_server_debug_json(&ctl->xds, b) < 0 ? 500 : 200;
}

static void count_kinds(const weft_model_t *m, size_t *http, size_t *grpc)
{
	*http = *grpc = 0;
	for (size_t i = 0; m && i < m->nroutes; i++) {
		if (m->routes[i].kind == WEFT_ROUTE_GRPC)
			(*grpc)++;
		else
			(*http)++;
	}
}

static int config_text(weft_control_t *ctl, weft_buf_t *b)
{
	char t[32];
	size_t nh, ng;

	count_kinds(ctl->model, &nh, &ng);
	iso_time(ctl->loaded_at, t);
	weft_buf_printf(b, "config generation %" PRIu64 " from %s, loaded %s (%zu files)\n",
			ctl->generation, ctl->o.config, t, ctl->model ? ctl->model->nfiles : 0);
	if (ctl->model)
		weft_buf_printf(b, "  %zu Node, %zu Workload, %zu Service, %zu HTTPRoute, %zu GRPCRoute, "
				"%zu DestinationPolicy\n", ctl->model->nnodes, ctl->model->nworkloads,
				ctl->model->nservices, nh, ng, ctl->model->npolicies);
	weft_buf_printf(b, "reloads: %" PRIu64 " ok, %" PRIu64 " rejected; last: %s\n", ctl->reloads_ok,
			ctl->reloads_err, ctl->last_ok ? "ok" : "rejected");
	if (ctl->have_rejected) {
		iso_time(ctl->rejected_at, t);
		weft_buf_printf(b, "last rejected config at %s, %zu error%s:\n", t, ctl->rejected.n,
				ctl->rejected.n == 1 ? "" : "s");
		for (size_t i = 0; i < ctl->rejected.n; i++) {
			const weft_cfg_error_t *e = &ctl->rejected.v[i];
			weft_buf_printf(b, "  %s:%u: %s: %s\n", e->file, e->line, e->field, e->msg);
		}
	}
	return 0;
}

static int h_config(const weft_admin_req_t *r, weft_buf_t *b, const char **ct, void *ctx)
{
	weft_control_t *ctl = ctx;
	const weft_model_t *m = ctl->model;
	char t[32];
	size_t nh, ng;

	if (weft_admin_query_has(r->query, "format", "text"))
		return config_text(ctl, b) < 0 ? 500 : 200;
	*ct = "application/json";
	count_kinds(m, &nh, &ng);
	iso_time(ctl->loaded_at, t);
	weft_buf_printf(b, "{\"generation\":%" PRIu64 ",\"path\":", ctl->generation);
	weft_json_cstr(b, ctl->o.config);
	weft_buf_printf(b, ",\"loaded_at\":\"%s\",\"files\":[", t);
	for (size_t i = 0; m && i < m->nfiles; i++) {
		if (i)
			weft_buf_append(b, ",", 1);
		weft_json_cstr(b, m->files[i]);
	}
	weft_buf_printf(b, "],\"counts\":{\"Node\":%zu,\"Workload\":%zu,\"Service\":%zu,"
			"\"HTTPRoute\":%zu,\"GRPCRoute\":%zu,\"DestinationPolicy\":%zu}",
			m ? m->nnodes : 0, m ? m->nworkloads : 0, m ? m->nservices : 0, nh, ng,
			m ? m->npolicies : 0);
	weft_buf_printf(b, ",\"reloads\":{\"ok\":%" PRIu64 ",\"rejected\":%" PRIu64 "},\"last_reload\":\"%s\"",
			ctl->reloads_ok, ctl->reloads_err, ctl->last_ok ? "ok" : "rejected");
	weft_buf_printf(b, ",\"last_rejected\":");
	if (!ctl->have_rejected) {
		weft_buf_printf(b, "null}\n");
		return 200;
	}
	iso_time(ctl->rejected_at, t);
	weft_buf_printf(b, "{\"time\":\"%s\",\"errors\":[", t);
	for (size_t i = 0; i < ctl->rejected.n; i++) {
		const weft_cfg_error_t *e = &ctl->rejected.v[i];
		char where[PATH_MAX + 32];
		snprintf(where, sizeof(where), "%s:%u", e->file, e->line);
		weft_buf_printf(b, "%s{\"file\":", i ? "," : "");
		weft_json_cstr(b, e->file);
		weft_buf_printf(b, ",\"line\":%u,\"where\":", e->line);
		weft_json_cstr(b, where);
		weft_buf_printf(b, ",\"field\":");
		weft_json_cstr(b, e->field);
		weft_buf_printf(b, ",\"message\":");
		weft_json_cstr(b, e->msg);
		weft_buf_printf(b, "}");
	}
	weft_buf_printf(b, "]}}\n");
	return 200;
}

/* ---- the CA and the mTLS listener ---- */

static weft_cred_t *select_ctl_cred(void *ud, const char *sni)
{
	weft_control_t *ctl = ud;

	return ctl->ctl_cred;
}

static void on_tls_refused(void *ud, weft_peer_reason_t why, const char *detail)
{
	weft_control_t *ctl = ud;

	weft_info("ca", "TLS peer refused: %s: %s", weft_peer_reason_name(why), detail);
	weft_series_inc(weft_metric_with(ctl->m_tls_refused, weft_peer_reason_name(why)));
}

/* Issues (or renews) control's server certificate and arms the renewal
 * at two thirds of its lifetime. Returns 0 or -1. */
static int renew_ctl_cred(weft_control_t *ctl)
{
	char uri[WEFT_SPIFFE_MAX], err[400];
	time_t now = time(NULL);
	weft_cred_t *c;
	uint64_t life;

	weft_spiffe_control(uri, sizeof(uri), ctl->ca.td);
	c = weft_ca_issue_cred(&ctl->ca, uri, ctl->ca.ttl_s, now, err, sizeof(err));
	if (!c) {
		weft_err("ca", "cannot issue the control certificate: %s", err);
		weft_timer_start(&ctl->loop, &ctl->renew_timer, 60000);   /* try again */
		return -1;
	}
	weft_cred_unref(ctl->ctl_cred);
	ctl->ctl_cred = c;   /* new handshakes use it; old ones keep their reference */
	life = c->not_after > now ? (uint64_t)(c->not_after - now) : 60;
	weft_timer_start(&ctl->loop, &ctl->renew_timer, life * 2 / 3 * 1000 + 1000);
	weft_info("ca", "control certificate %s serial %s valid until %lld", uri, c->serial,
		  (long long)c->not_after);
	return 0;
}

static void renew_cb(weft_loop_t *l, weft_timer_t *t)
{
	renew_ctl_cred(t->data);
}

static int start_ca(weft_control_t *ctl)
{
	const weft_control_opts_t *o = &ctl->o;
	weft_ca_opts_t co = {
		.trust_domain = o->trust_domain, .dir = o->ca_dir, .cert = o->ca_cert, .key = o->ca_key,
		.bundle = o->ca_bundle, .ttl_s = o->cert_ttl_s, .min_ttl_s = o->cert_min_ttl_s,
		.node_ttl_s = o->node_cert_ttl_s,
	};
	weft_tls_opts_t to = { 0 };
	char err[512];

	if (weft_ca_open(&ctl->ca, &co, err, sizeof(err)) < 0) {
		fprintf(stderr, "weft control: CA: %s\n", err);
		return -1;
	}
	ctl->ca_on = true;
	if (renew_ctl_cred(ctl) < 0) {
		fprintf(stderr, "weft control: CA: cannot issue the control certificate\n");
		return -1;
	}
	ctl->m_tls_refused = weft_metrics_counter(&ctl->metrics, "weft_tls_peers_refused_total",
						  "TLS peers refused on the mTLS port, by reason", "reason");
	to.server = true;
	to.peer.bundle = ctl->ca.bundle;
	to.peer.kind = WEFT_ID_NONE;      /* services decide: Join needs none, Sign a node */
	to.peer.require_cert = false;
	to.select = select_ctl_cred;
	to.on_refused = on_tls_refused;
	to.ud = ctl;
	if (!(ctl->tls = weft_tls_ctx_new(&to, err, sizeof(err)))) {
		fprintf(stderr, "weft control: TLS: %s\n", err);
		return -1;
	}
	if (weft_ca_service_register(&ctl->ca_svc, &ctl->ca, &ctl->model, &ctl->metrics, &ctl->grpc) < 0) {
		fprintf(stderr, "weft control: CA service: cannot register\n");
		return -1;
	}
	weft_info("ca", "CA for trust domain %s (%s), root pin ready", ctl->ca.td,
		  o->ca_cert ? o->ca_cert : o->ca_dir);
	return 0;
}

/* ---- run ---- */

static void control_free(weft_control_t *ctl)
{
	weft_grpc_server_destroy(&ctl->grpc);
	weft_xds_server_destroy(&ctl->xds);
	weft_timer_stop(&ctl->loop, &ctl->renew_timer);
	weft_tls_ctx_free(ctl->tls);
	weft_cred_unref(ctl->ctl_cred);
	if (ctl->ca_on)
		weft_ca_close(&ctl->ca);
	weft_admin_destroy(&ctl->admin);
	weft_timer_stop(&ctl->loop, &ctl->reload_timer);
	if (ctl->infd >= 0) {
		weft_io_stop(&ctl->loop, &ctl->inio);
		close(ctl->infd);
	}
	weft_sigwatch_stop(&ctl->sig, &ctl->loop);   /* the signal mask back as well */
	weft_model_free(ctl->model);
	weft_config_cache_destroy(&ctl->cache);
	weft_xds_snapshot_unref(ctl->snap);
	if (ctl->have_rejected)
		weft_cfg_errors_free(&ctl->rejected);
	weft_metrics_free(&ctl->metrics);
	weft_loop_destroy(&ctl->loop);
	free(ctl);
}

int weft_control_run(const weft_control_opts_t *o)
{
	weft_control_t *ctl = calloc(1, sizeof(*ctl));
	weft_xds_server_opts_t xo;
	weft_grpc_opts_t go;
	int rc = 1;

	if (!ctl)
		return 1;
	ctl->o = *o;
	ctl->infd = -1;
	weft_sigwatch_init(&ctl->sig);
	weft_config_cache_init(&ctl->cache);
	if (weft_loop_init(&ctl->loop) < 0) {
		free(ctl);
		return 1;
	}
	weft_metrics_init(&ctl->metrics);
	weft_timer_init(&ctl->reload_timer, reload_cb, ctl);
	weft_timer_init(&ctl->renew_timer, renew_cb, ctl);
	ctl->m_cfg_errors = weft_metrics_counter(&ctl->metrics, "weft_config_errors_total",
						 "Errors found in rejected configs", NULL);
	ctl->m_reloads = weft_metrics_counter(&ctl->metrics, "weft_config_reloads_total",
					      "Config loads, by result (ok, error)", "result");
	ctl->m_generation = weft_metrics_gauge(&ctl->metrics, "weft_config_generation",
					       "Generation of the config being served", NULL);
	weft_metric_with(ctl->m_reloads, "ok");
	weft_metric_with(ctl->m_reloads, "error");
	weft_xds_server_opts_default(&xo);
	xo.debounce_ms = o->debounce_ms;
	xo.agent_plaintext = o->agent_plaintext;
	weft_grpc_opts_default(&go);
	go.log_name = "xds";
	go.h2.max_pending = o->max_pending;
	go.h2.stall_ms = o->stall_ms;
	go.h2.preface_ms = o->preface_ms;
	go.max_conns = o->max_conns;
	weft_grpc_server_init(&ctl->grpc, &ctl->loop, &go);
	weft_admin_init(&ctl->admin, &ctl->loop);
	if (weft_xds_server_init(&ctl->xds, &ctl->loop, &ctl->metrics, &xo) < 0 ||
	    weft_xds_server_register(&ctl->xds, &ctl->grpc) < 0) {
		fprintf(stderr, "weft control: out of memory\n");
		goto out;
	}
	if ((o->ca_dir && *o->ca_dir) || o->ca_cert || o->ca_key) {
		if (start_ca(ctl) < 0)
			goto out;
	}

	/* signals through a signalfd; SIGPIPE ignored (sends use MSG_NOSIGNAL anyway) */
	if (weft_sigwatch_start(&ctl->sig, &ctl->loop, signal_cb, ctl) < 0) {
		fprintf(stderr, "weft control: signalfd: %s\n", strerror(errno));
		goto out;
	}

	static const struct { const char *path; weft_admin_handler fn; } routes[] = {
		{ "/healthz", h_healthz }, { "/readyz", h_readyz }, { "/metrics", h_metrics },
		{ "/debug/clients", h_clients }, { "/debug/config", h_config },
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		weft_admin_route(&ctl->admin, routes[i].path, routes[i].fn, ctl);
	if (weft_admin_listen(&ctl->admin, o->admin_listen) < 0) {
		fprintf(stderr, "weft control: admin listen on %s: %s\n", o->admin_listen, strerror(errno));
		goto out;
	}

	/* watch before loading, so no change between load and watch is lost */
	ctl->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ctl->infd >= 0) {
		setup_watches(ctl);
		weft_io_start(&ctl->loop, &ctl->inio, ctl->infd, WEFT_IO_READ, inotify_cb, ctl);
	}
	if (load_config(ctl, true) < 0) {
		fprintf(stderr, "weft control: %s: invalid config, not starting\n", o->config);
		goto out;
	}
	if (weft_grpc_server_listen(&ctl->grpc, o->xds_listen) < 0) {
		fprintf(stderr, "weft control: xds listen on %s: %s\n", o->xds_listen, strerror(errno));
		goto out;
	}
	if (ctl->tls && o->xds_tls_listen && *o->xds_tls_listen) {
		if (weft_grpc_server_listen_tls(&ctl->grpc, o->xds_tls_listen, ctl->tls) < 0) {
			fprintf(stderr, "weft control: xds-tls listen on %s: %s\n", o->xds_tls_listen,
				strerror(errno));
			goto out;
		}
		weft_info("control", "serving xDS + CA (mTLS) on %s", ctl->grpc.tls_lst.addr);
	}
	ctl->ready = true;
	weft_info("control", "serving xDS on %s, admin on %s (generation %" PRIu64 ")",
		  ctl->grpc.lst.addr, ctl->admin.lst.addr, ctl->generation);
	if (weft_loop_run(&ctl->loop) < 0) {
		weft_err("control", "event loop failed: %s", strerror(errno));
		goto out;
	}
	rc = 0;
	weft_info("control", "stopped");
out:
	control_free(ctl);
	return rc;
}
