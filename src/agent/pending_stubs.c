/* weft agent — TEMPORARY weak stand-ins for functions other branches
 * implement and main does not hold yet (tls: src/net/tls.c, cred.c,
 * spiffe.c; dataplane: src/agent/capture.c, outbound.c, inbound.c). They
 * let the agent link and its unit tests run before those branches are
 * merged; each real definition overrides its weak one at link time. Every stand-in fails (NULL /
 * WEFT_EFAIL) so nothing silently pretends to work. Delete this file once
 * every branch above is merged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agent.h"
#include "weft/tls.h"

#define WEAK __attribute__((weak))

static void nerr(char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "not built in this branch");
}

/* ---- tls ---- */
WEAK weft_tls_ctx_t *weft_tls_ctx_new(const weft_tls_opts_t *o, char *err, size_t errlen) { nerr(err, errlen); return NULL; }
WEAK void weft_tls_ctx_free(weft_tls_ctx_t *ctx) { }
WEAK weft_tls_t *weft_tls_new(weft_tls_ctx_t *ctx, int fd, weft_cred_t *cred, const char *sni, const char *expect) { return NULL; }
WEAK const weft_xprt_ops_t weft_xprt_tls = { .name = "tls-missing" };
WEAK weft_bundle_t *weft_bundle_from_pem(const char *td, const char *pem, size_t len, char *err, size_t errlen) { nerr(err, errlen); return NULL; }
WEAK weft_bundle_t *weft_bundle_ref(weft_bundle_t *b) { return b; }
WEAK void weft_bundle_unref(weft_bundle_t *b) { }
WEAK weft_cred_t *weft_cred_from_pem(const char *c, size_t cl, const char *k, size_t kl, char *err, size_t errlen) { nerr(err, errlen); return NULL; }
WEAK weft_cred_t *weft_cred_new(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key, char *err, size_t errlen)
{
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	nerr(err, errlen);
	return NULL;
}
WEAK weft_cred_t *weft_cred_ref(weft_cred_t *c) { return c; }
WEAK void weft_cred_unref(weft_cred_t *c) { }
WEAK char *weft_cred_chain_pem(const weft_cred_t *c, size_t *len) { return NULL; }
WEAK char *weft_cred_key_pem(const weft_cred_t *c, size_t *len) { return NULL; }
WEAK EVP_PKEY *weft_key_p256(void) { return NULL; }
WEAK weft_peer_reason_t weft_spiffe_verify(X509 *leaf, STACK_OF(X509) *untrusted, const weft_peer_policy_t *p,
					   bool as_server, time_t now, weft_spiffe_id_t *id, char *detail,
					   size_t detail_len) { nerr(detail, detail_len); return WEFT_PEER_UNTRUSTED; }
WEAK const char *weft_peer_reason_name(weft_peer_reason_t r) { return "unknown"; }
WEAK char *weft_csr_pem(EVP_PKEY *key, size_t *len) { return NULL; }
WEAK char *weft_read_file(const char *path, size_t max, size_t *len) { errno = ENOSYS; return NULL; }
WEAK int weft_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode) { errno = ENOSYS; return WEFT_EFAIL; }

/* ---- capture / data path ---- */
WEAK struct weft_capture *weft_capture_new(weft_agent_t *a) { return NULL; }
WEAK void weft_capture_free(struct weft_capture *c) { }
WEAK void weft_capture_stop(struct weft_capture *c) { }
WEAK int weft_capture_reconcile(struct weft_capture *c, const weft_av_t *v) { return WEFT_EFAIL; }
WEAK struct weft_dp *weft_dp_new(weft_agent_t *a) { return NULL; }
WEAK void weft_dp_free(struct weft_dp *dp) { }
WEAK int weft_dp_listen(struct weft_dp *dp, const weft_av_t *v) { return WEFT_EFAIL; }
WEAK void weft_dp_reauthorize(struct weft_dp *dp, const weft_av_t *v) { }
WEAK void weft_dp_cred_changed(struct weft_dp *dp, const char *ns, const char *sa) { }
/* the pool hook of /config_dump (agent.c admin_pool_json): dataplane defines it */
WEAK int weft_dp_pool_json(struct weft_dp *dp, weft_buf_t *out) { return -1; }
