/* weft — the gRPC service weft.ca.v1.Ca (api/weft/ca/v1/ca.proto).
 *
 * Join: over TLS, no client certificate needed; a valid unused token for a
 * Node of the current config model buys a node certificate.
 * Sign: the caller must present a verified node certificate; it gets its
 * node certificate renewed, or a workload SVID for (namespace, service
 * account) when the current model has such a Workload on its node.
 * Every refusal is PERMISSION_DENIED "not authorized" to the caller (a
 * malformed CSR is INVALID_ARGUMENT); the real reason is logged with the
 * node and identity, and counted in weft_ca_requests_refused_total. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/ca.h"
#include "weft/grpc.h"
#include "weft/log.h"
#include "weft/metrics.h"
#include "weft/str.h"
#include "weft/tls.h"
#include "weft/ca/v1/ca.pb-c.h"

#define NOT_AUTHORIZED "not authorized"

typedef struct ca_call {
	bool got;   /* the (single) request arrived */
} ca_call_t;

static weft_ca_service_t *svc_of(weft_grpc_call_t *call)
{
	return call->m->ctx;
}

static int refuse(weft_grpc_call_t *call, const char *method, const char *reason,
		  const char *node, const char *identity)
{
	weft_ca_service_t *svc = svc_of(call);

	weft_warn("ca", "%s refused: %s (node '%s', identity '%s')", method, reason, node ? node : "",
		  identity ? identity : "");
	weft_series_inc(weft_metric_with(svc->m_refused, reason));
	weft_grpc_finish(call, WEFT_GRPC_PERMISSION_DENIED, NOT_AUTHORIZED);
	return 0;
}

static const weft_node_t *find_node(const weft_model_t *m, const char *name)
{
	for (size_t i = 0; m && i < m->nnodes; i++)
		if (weft_str_eq_c(m->nodes[i].meta.name, name))
			return &m->nodes[i];
	return NULL;
}

static const weft_workload_t *find_workload(const weft_model_t *m, const char *ns, const char *sa,
					    const char *node)
{
	for (size_t i = 0; m && i < m->nworkloads; i++) {
		const weft_workload_t *w = &m->workloads[i];
		if (weft_str_eq_c(w->meta.ns, ns) && weft_str_eq_c(w->service_account, sa) &&
		    weft_str_eq_c(w->node_name, node))
			return w;
	}
	return NULL;
}

/* Issues a certificate for uri from the CSR and answers the call. */
static int issue(weft_grpc_call_t *call, const char *method, const char *csr, const char *uri,
		 uint32_t ttl_s, const char *kind, const char *node)
{
	weft_ca_service_t *svc = svc_of(call);
	weft_ca_t *ca = svc->ca;
	Weft__Ca__V1__CertResponse resp = WEFT__CA__V1__CERT_RESPONSE__INIT;
	char err[400], *pems[8] = { 0 };
	size_t npem = 0;
	EVP_PKEY *pub;
	X509 *x;
	time_t now = time(NULL);

	if (!(pub = weft_ca_csr_key(csr, strlen(csr), err, sizeof(err)))) {
		weft_warn("ca", "%s refused: malformed_csr: %s (node '%s', identity '%s')", method, err,
			  node, uri);
		weft_series_inc(weft_metric_with(svc->m_refused, "malformed_csr"));
		weft_grpc_finish(call, WEFT_GRPC_INVALID_ARGUMENT, "malformed CSR");
		return 0;
	}
	x = weft_ca_issue(ca, pub, uri, ttl_s, now, err, sizeof(err));
	EVP_PKEY_free(pub);
	if (!x) {
		weft_err("ca", "%s: cannot issue %s: %s", method, uri, err);
		weft_grpc_finish(call, WEFT_GRPC_INTERNAL, "cannot issue");
		return 0;
	}
	pems[npem++] = weft_x509_pem(x, NULL);
	for (int i = 0; i < sk_X509_num(ca->chain) && npem < 8; i++)
		pems[npem++] = weft_x509_pem(sk_X509_value(ca->chain, i), NULL);
	for (size_t i = 0; i < npem; i++)
		if (!pems[i])
			goto oom;
	{
		struct tm tm;
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
			resp.not_after = (int64_t)timegm(&tm);
	}
	resp.n_cert_chain_pem = npem;
	resp.cert_chain_pem = pems;
	resp.bundle_pem = ca->bundle->pem;
	resp.trust_domain = ca->td;
	if (weft_grpc_send_pb(call, &resp.base) < 0)
		goto oom;
	weft_grpc_finish(call, WEFT_GRPC_OK, NULL);
	weft_series_inc(weft_metric_with(svc->m_issued, kind));
	weft_info("ca", "%s: issued %s until %lld for node '%s'", method, uri, (long long)resp.not_after,
		  node);
	for (size_t i = 0; i < npem; i++)
		free(pems[i]);
	X509_free(x);
	return 0;
oom:
	for (size_t i = 0; i < npem; i++)
		free(pems[i]);
	X509_free(x);
	weft_grpc_finish(call, WEFT_GRPC_INTERNAL, "out of memory");
	return 0;
}

static int join_msg(weft_grpc_call_t *call, const uint8_t *p, size_t n)
{
	weft_ca_service_t *svc = svc_of(call);
	ca_call_t *cc = call->user;
	Weft__Ca__V1__JoinRequest *req;
	const char *why;
	char uri[WEFT_SPIFFE_MAX];
	int rc;

	if (cc->got)
		return WEFT_GRPC_INVALID_ARGUMENT;   /* unary: one request */
	cc->got = true;
	if (!(req = weft__ca__v1__join_request__unpack(NULL, n, p))) {
		weft_grpc_finish(call, WEFT_GRPC_INVALID_ARGUMENT, "malformed request");
		return 0;
	}
	if (!weft_grpc_call_is_tls(call)) {
		refuse(call, "Join", "plaintext", req->node, "");
		goto out;
	}
	if (weft_spiffe_node(uri, sizeof(uri), svc->ca->td, req->node) < 0) {
		refuse(call, "Join", "bad_node_name", req->node, "");
		goto out;
	}
	{
		weft_spiffe_id_t chk;
		if (weft_spiffe_parse(uri, strlen(uri), &chk) < 0) {
			refuse(call, "Join", "bad_node_name", req->node, "");
			goto out;
		}
	}
	if (!svc->ca->dir[0]) {
		refuse(call, "Join", "no_token_store", req->node, uri);
		goto out;
	}
	/* the node must exist before a token is burnt for it */
	if (!find_node(svc->model ? *svc->model : NULL, req->node)) {
		refuse(call, "Join", "unknown_node", req->node, uri);
		goto out;
	}
	rc = weft_ca_token_consume(svc->ca->dir, req->token, strlen(req->token), req->node, time(NULL), &why);
	if (rc != WEFT_OK) {
		refuse(call, "Join", why, req->node, uri);
		goto out;
	}
	issue(call, "Join", req->csr_pem, uri, svc->ca->node_ttl_s, "node", req->node);
out:
	weft__ca__v1__join_request__free_unpacked(req, NULL);
	return 0;
}

static int sign_msg(weft_grpc_call_t *call, const uint8_t *p, size_t n)
{
	weft_ca_service_t *svc = svc_of(call);
	ca_call_t *cc = call->user;
	const weft_spiffe_id_t *peer = weft_grpc_call_peer(call);
	const weft_model_t *m = svc->model ? *svc->model : NULL;
	Weft__Ca__V1__SignRequest *req;
	char uri[WEFT_SPIFFE_MAX];
	weft_spiffe_id_t chk;

	if (cc->got)
		return WEFT_GRPC_INVALID_ARGUMENT;
	cc->got = true;
	if (!(req = weft__ca__v1__sign_request__unpack(NULL, n, p))) {
		weft_grpc_finish(call, WEFT_GRPC_INVALID_ARGUMENT, "malformed request");
		return 0;
	}
	if (!peer) {
		refuse(call, "Sign", weft_grpc_call_is_tls(call) ? "no_peer_certificate" : "plaintext", "",
		       "");
		goto out;
	}
	if (peer->kind != WEFT_ID_NODE) {
		refuse(call, "Sign", "peer_not_a_node", "", peer->uri);
		goto out;
	}
	if (strcmp(peer->td, svc->ca->td)) {
		refuse(call, "Sign", "wrong_trust_domain", peer->node, peer->uri);
		goto out;
	}
	if (!find_node(m, peer->node)) {
		refuse(call, "Sign", "unknown_node", peer->node, peer->uri);
		goto out;
	}
	if (req->node) {
		issue(call, "Sign", req->csr_pem, peer->uri, svc->ca->node_ttl_s, "node", peer->node);
		goto out;
	}
	if (weft_spiffe_workload(uri, sizeof(uri), svc->ca->td, req->namespace_, req->service_account) < 0 ||
	    weft_spiffe_parse(uri, strlen(uri), &chk) < 0) {
		refuse(call, "Sign", "bad_identity", peer->node, uri);
		goto out;
	}
	if (!find_workload(m, req->namespace_, req->service_account, peer->node)) {
		refuse(call, "Sign", "no_workload_on_node", peer->node, uri);
		goto out;
	}
	issue(call, "Sign", req->csr_pem, uri, weft_ca_clamp_ttl(svc->ca, req->ttl_seconds), "workload",
	      peer->node);
out:
	weft__ca__v1__sign_request__free_unpacked(req, NULL);
	return 0;
}

static int ca_open(weft_grpc_call_t *call)
{
	call->user = calloc(1, sizeof(ca_call_t));
	return call->user ? 0 : WEFT_GRPC_RESOURCE_EXHAUSTED;
}

static void ca_half_close(weft_grpc_call_t *call)
{
	ca_call_t *cc = call->user;

	if (!cc->got)
		weft_grpc_finish(call, WEFT_GRPC_INVALID_ARGUMENT, "missing request");
}

static void ca_close(weft_grpc_call_t *call)
{
	free(call->user);
	call->user = NULL;
}

int weft_ca_service_register(weft_ca_service_t *svc, weft_ca_t *ca, weft_model_t *const *model,
			     weft_metrics_t *metrics, weft_grpc_server_t *srv)
{
	weft_grpc_method_t join = { "/weft.ca.v1.Ca/Join", svc, ca_open, join_msg, ca_half_close, ca_close };
	weft_grpc_method_t sign = { "/weft.ca.v1.Ca/Sign", svc, ca_open, sign_msg, ca_half_close, ca_close };

	svc->ca = ca;
	svc->model = model;
	svc->m_issued = weft_metrics_counter(metrics, "weft_ca_certs_issued_total",
					     "Certificates issued by the CA, by kind (node, workload)", "kind");
	svc->m_refused = weft_metrics_counter(metrics, "weft_ca_requests_refused_total",
					      "CA requests refused, by reason", "reason");
	if (!svc->m_issued || !svc->m_refused)
		return WEFT_ENOMEM;
	weft_metric_with(svc->m_issued, "node");
	weft_metric_with(svc->m_issued, "workload");
	if (weft_grpc_server_add(srv, &join) < 0 || weft_grpc_server_add(srv, &sign) < 0)
		return WEFT_ELIMIT;
	return WEFT_OK;
}
