/* weft — the certificate authority of `weft control`: the signing CA
 * (src/control/ca.c), one-time join tokens (src/control/ca_tokens.c) and
 * the gRPC service weft.ca.v1.Ca (src/control/ca_service.c). See
 * docs/control.md, "Certificate authority". */
#ifndef WEFT_CA_H
#define WEFT_CA_H
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "weft/grpc-t.h"
#include "weft/metrics-t.h"
#include "weft/model-t.h"
#include "weft/rc.h"
#include "weft/tls-t.h"

#define WEFT_CA_ROOT_CERT "root-cert.pem"
#define WEFT_CA_ROOT_KEY  "root-key.pem"
#define WEFT_CA_TOKENS    "tokens"

typedef struct weft_ca_opts {
	const char *trust_domain;    /* required */
	const char *dir;             /* state directory (root created here), or NULL */
	const char *cert, *key;      /* a given root or intermediate (PEM files), or NULL */
	const char *bundle;          /* extra trusted roots (PEM file), or NULL */
	uint32_t ttl_s;              /* default and longest workload lifetime */
	uint32_t min_ttl_s;          /* shortest lifetime */
	uint32_t node_ttl_s;         /* node certificate lifetime */
} weft_ca_opts_t;

typedef struct weft_ca {
	char td[WEFT_TD_MAX];
	X509 *cert;                  /* the signing CA certificate */
	EVP_PKEY *key;
	STACK_OF(X509) *chain;       /* sent after each leaf: empty for a root, else the intermediate */
	X509 *root;                  /* the self-signed root the pin names (borrowed from bundle or cert) */
	weft_bundle_t *bundle;       /* every trusted root */
	uint8_t pin[32];             /* SHA-256 of root's SubjectPublicKeyInfo */
	time_t not_after;            /* the CA certificate's own end: no leaf lives past it */
	uint32_t ttl_s, min_ttl_s, node_ttl_s;
	char dir[1024];              /* "" when there is none */
} weft_ca_t;

/* ---- the signing CA (ca.c) ---- */

/* Opens the CA: with o->cert/o->key, loads that CA (root or intermediate);
 * otherwise loads <dir>/root-cert.pem + root-key.pem, creating them (a new
 * ECDSA P-256 root valid 10 years, key mode 0600, dir mode 0700) when
 * absent. The bundle is the root(s) plus o->bundle. Returns WEFT_OK or
 * WEFT_EFAIL with err filled (unreadable files, a key that does not match,
 * a certificate that is not a CA, an intermediate whose root is unknown...). */
int weft_ca_open(weft_ca_t *ca, const weft_ca_opts_t *o, char *err, size_t errlen);
void weft_ca_close(weft_ca_t *ca);

/* Clamps a requested lifetime: 0 means ttl_s; the result is in
 * [min_ttl_s, ttl_s]. */
uint32_t weft_ca_clamp_ttl(const weft_ca_t *ca, uint32_t want_s);

/* Issues a leaf for public key pub naming exactly uri (the one URI SAN;
 * nothing else of the requester's is copied): 128-bit random serial,
 * notBefore now-60s, notAfter now+ttl_s but never past the CA's own end,
 * keyUsage critical digitalSignature, EKU serverAuth+clientAuth,
 * basicConstraints critical cA=false, SKI/AKI. Returns the certificate or
 * NULL (err filled). */
X509 *weft_ca_issue(weft_ca_t *ca, EVP_PKEY *pub, const char *uri, uint32_t ttl_s, time_t now,
		    char *err, size_t errlen);

/* Parses and checks a PEM CSR: one request, a valid self-signature, an EC
 * P-256 key. Every name and extension in it is ignored. Returns the
 * public key (the caller frees it) or NULL with err filled. */
EVP_PKEY *weft_ca_csr_key(const char *pem, size_t len, char *err, size_t errlen);

/* A fresh key and a certificate for uri from this CA, as a credential
 * (leaf + chain). Used for control's own server certificate. NULL on
 * failure (err filled). */
weft_cred_t *weft_ca_issue_cred(weft_ca_t *ca, const char *uri, uint32_t ttl_s, time_t now,
				char *err, size_t errlen);

/* The PEM of a certificate (malloc'd, NUL-terminated) or NULL. */
char *weft_x509_pem(X509 *x, size_t *len);

/* ---- join tokens (ca_tokens.c) ---- */

/* Creates a one-time token for node valid ttl_s seconds from now. The
 * state goes to <ca_dir>/tokens/<id> (mode 0600: node, SHA-256 of the
 * secret, expiry); out gets "<id>.<secret>" (16 + 1 + 64 characters).
 * Returns WEFT_OK, or WEFT_EFAIL with err filled. */
int weft_ca_token_create(const char *ca_dir, const char *node, uint32_t ttl_s, time_t now,
			 char *out, size_t outlen, char *err, size_t errlen);

/* Consumes token (p,len) = "<id>.<secret>" or "<id>.<secret>.<pin>" for
 * node. Succeeds at most once per token, across restarts: the token file
 * is claimed by an atomic rename and then removed. Returns WEFT_OK, or
 * WEFT_EPROTO (malformed), WEFT_EFAIL (unknown or already used, wrong
 * secret, wrong node, expired) with why set to a short reason label
 * ("malformed_token", "unknown_token", "bad_secret", "token_wrong_node",
 * "token_expired"). A wrong secret or node does not burn the token; an
 * expired one is removed. */
int weft_ca_token_consume(const char *ca_dir, const char *p, size_t len, const char *node,
			  time_t now, const char **why);

/* ---- the gRPC service (ca_service.c) ---- */

typedef struct weft_ca_service {
	weft_ca_t *ca;
	weft_model_t *const *model;  /* the control plane's current model (may be NULL) */
	weft_metric_t *m_issued;     /* weft_ca_certs_issued_total{kind} */
	weft_metric_t *m_refused;    /* weft_ca_requests_refused_total{reason} */
} weft_ca_service_t;

/* Registers weft.ca.v1.Ca/Join and /Sign on srv and the two counters on
 * metrics. svc must outlive srv. Returns WEFT_OK or WEFT_ELIMIT /
 * WEFT_ENOMEM. */
int weft_ca_service_register(weft_ca_service_t *svc, weft_ca_t *ca, weft_model_t *const *model,
			     weft_metrics_t *metrics, weft_grpc_server_t *srv);

#endif
