/* weft agent data path — TEMPORARY weak stand-ins for functions other
 * branches implement (tls: src/net/tls.c, cred.c, spiffe.c; hbone: src/proto/hbone*.c;
 * agentlogic: src/agent/view.c, authz.c, lb.c; agentctl: agent.c,
 * identity.c). They let the dataplane branch link and its tests run before
 * those branches are merged; each real definition overrides its weak one
 * at link time. Every stand-in fails (NULL / WEFT_EFAIL / deny) so nothing
 * silently pretends to work. Delete this file once all of them are merged. */
#include <string.h>
#include "weft/agent.h"
#include "weft/agentview.h"
#include "weft/hbone.h"
#include "weft/tls.h"

#define WEAK __attribute__((weak))

/* ---- agentlogic ---- */
WEAK const weft_av_workload_t *weft_av_workload(const weft_av_t *v, const char *uid) { return NULL; }
WEAK const weft_av_workload_t *weft_av_workload_by_ip(const weft_av_t *v, const weft_ip_t *ip) { return NULL; }
WEAK const weft_av_service_t *weft_av_service_by_vip(const weft_av_t *v, const weft_ip_t *ip, uint16_t port,
						     const weft_av_port_t **sp) { return NULL; }
WEAK const weft_av_endpoint_t *weft_av_endpoint_by_ip(const weft_av_t *v, const weft_ip_t *ip) { return NULL; }
WEAK const weft_av_service_t *weft_av_service(const weft_av_t *v, const char *uid) { return NULL; }
WEAK void weft_authz_eval(const weft_av_workload_t *w, const weft_authz_input_t *in, weft_authz_result_t *out)
{
	memset(out, 0, sizeof(*out));
	out->reason = "authorization not built";
}
WEAK weft_lb_load_t *weft_lb_load_new(void) { return (weft_lb_load_t *)&weft_lb_load_new; }
WEAK void weft_lb_load_free(weft_lb_load_t *l) { }
WEAK void weft_lb_load_add(weft_lb_load_t *l, const char *uid, int delta) { }
WEAK const weft_av_endpoint_t *weft_lb_pick(const weft_av_service_t *svc, const weft_av_locality_t *from,
					    weft_lb_load_t *load,
					    bool (*exclude)(void *arg, const weft_av_endpoint_t *e), void *arg,
					    uint64_t *rnd) { return NULL; }
WEAK void weft_ip_from_sockaddr(const struct sockaddr *sa, weft_ip_t *ip, uint16_t *port)
{
	memset(ip, 0, sizeof(*ip));
	if (port)
		*port = 0;
}
WEAK socklen_t weft_ip_to_sockaddr(const weft_ip_t *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	return 0;
}
WEAK bool weft_ip_eq(const weft_ip_t *a, const weft_ip_t *b) { return false; }
WEAK char *weft_ip_format(const weft_ip_t *ip, char *out, size_t outlen)
{
	if (outlen)
		out[0] = '\0';
	return out;
}

/* ---- agentctl ---- */
WEAK weft_cred_t *weft_ident_cred(struct weft_ident *id, const char *ns, const char *sa) { return NULL; }
WEAK const weft_bundle_t *weft_ident_bundle(struct weft_ident *id) { return NULL; }
WEAK int weft_sni_format(char *out, size_t outlen, const char *ns, const char *sa) { return WEFT_ELIMIT; }
WEAK int weft_sni_parse(const char *sni, char *ns, size_t nslen, char *sa, size_t salen) { return WEFT_EPROTO; }

/* ---- tls ---- */
WEAK weft_tls_ctx_t *weft_tls_ctx_new(const weft_tls_opts_t *o, char *err, size_t errlen)
{
	if (errlen)
		strncpy(err, "TLS not built in this branch", errlen - 1);
	return NULL;
}
WEAK void weft_tls_ctx_free(weft_tls_ctx_t *ctx) { }
WEAK weft_tls_t *weft_tls_new(weft_tls_ctx_t *ctx, int fd, weft_cred_t *cred, const char *sni,
			      const char *expect) { return NULL; }
WEAK const weft_xprt_ops_t weft_xprt_tls = { "tls-missing", NULL, NULL, NULL };
WEAK weft_bundle_t *weft_bundle_ref(weft_bundle_t *b) { return b; }
WEAK void weft_bundle_unref(weft_bundle_t *b) { }
WEAK const weft_spiffe_id_t *weft_conn_peer_id(const weft_conn_t *c) { return NULL; }
WEAK const char *weft_peer_reason_name(weft_peer_reason_t r) { return "unknown"; }
WEAK int weft_spiffe_workload(char *out, size_t outlen, const char *td, const char *ns, const char *sa)
{
	return WEFT_ELIMIT;
}

/* ---- hbone ---- */
WEAK void weft_hbone_limits_default(weft_hbone_limits_t *l) { memset(l, 0, sizeof(*l)); }
WEAK void weft_hbone_pool_init(weft_hbone_pool_t *p, weft_loop_t *loop, const weft_hbone_limits_t *lim,
			       weft_hbone_dial_fn dial, void *ud)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
}
WEAK void weft_hbone_pool_destroy(weft_hbone_pool_t *p) { }
WEAK void weft_hbone_pool_drain(weft_hbone_pool_t *p, const char *prefix, bool graceful) { }
WEAK weft_hbone_stream_t *weft_hbone_pool_open(weft_hbone_pool_t *p, const char *key, const void *dial_arg,
					       const struct sockaddr *dst, const struct sockaddr *src,
					       const weft_hbone_stream_cbs_t *cbs, void *ud) { return NULL; }
WEAK weft_hbone_conn_t *weft_hbone_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
					      const weft_hbone_limits_t *lim, weft_hbone_on_connect_fn on_connect,
					      void *ud, const char *name) { return NULL; }
WEAK int weft_hbone_respond(weft_hbone_stream_t *hs, int status) { return WEFT_ECLOSED; }
WEAK ssize_t weft_hbone_send(weft_hbone_stream_t *hs, const void *p, size_t n) { return WEFT_ECLOSED; }
WEAK void weft_hbone_shutdown_write(weft_hbone_stream_t *hs) { }
WEAK void weft_hbone_consumed(weft_hbone_stream_t *hs, size_t n) { }
WEAK void weft_hbone_reset(weft_hbone_stream_t *hs, uint32_t err) { }
WEAK void weft_hbone_close(weft_hbone_conn_t *hc) { }
