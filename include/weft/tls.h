/* weft — TLS transport, credentials, trust bundles, SPIFFE verification.
 * See weft/tls-t.h for the identity forms and policies. */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H
#include "weft/net-t.h"
#include "weft/rc.h"
#include "weft/tls-t.h"

/* ---- SPIFFE IDs (src/net/spiffe.c; pure, fuzzed) ---- */

/* Parses a SPIFFE ID of one of the three forms in weft/tls-t.h from (p,len).
 * The trust domain is lowercase letters, digits, '.', '-', '_'; ns, sa and
 * node names are 1..253 bytes of [a-z0-9.-_] (DNS-ish, lowercase). Returns
 * WEFT_OK or WEFT_EPROTO (anything else: other schemes, ports, userinfo,
 * query, fragment, percent-encoding, empty or dot segments, extra
 * segments). */
int weft_spiffe_parse(const char *p, size_t len, weft_spiffe_id_t *out);

/* Writes the workload / node / control ID into out (NUL-terminated).
 * Returns WEFT_OK or WEFT_ELIMIT when it does not fit. */
int weft_spiffe_workload(char *out, size_t outlen, const char *td, const char *ns, const char *sa);
int weft_spiffe_node(char *out, size_t outlen, const char *td, const char *node);
int weft_spiffe_control(char *out, size_t outlen, const char *td);

/* The stable metric label of a reason ("expired", "wrong_trust_domain"...). */
const char *weft_peer_reason_name(weft_peer_reason_t r);

/* Checks a peer leaf (with its untrusted intermediates) against policy p for
 * role `as_server` (true: we are the server, so the peer is a client and
 * needs EKU clientAuth; false: it needs serverAuth). Chain to p->bundle,
 * validity at `now`, leaf cA=false, digitalSignature, exactly one URI SAN
 * that parses, trust domain == bundle td, kind, expected identity. On
 * WEFT_PEER_OK fills *id. detail (may be NULL) gets a human reason.
 * Pure apart from OpenSSL; unit tested with one bad certificate per case. */
weft_peer_reason_t weft_spiffe_verify(X509 *leaf, STACK_OF(X509) *untrusted,
				      const weft_peer_policy_t *p, bool as_server, time_t now,
				      weft_spiffe_id_t *id, char *detail, size_t detail_len);

/* SHA-256 of the certificate's SubjectPublicKeyInfo (DER) into out: the
 * pin of weft_peer_policy_t. Returns WEFT_OK or WEFT_EFAIL. */
int weft_spki_sha256(X509 *cert, uint8_t out[32]);

/* ---- bundles and credentials (src/net/cred.c) ---- */

/* Builds a bundle from PEM holding one or more CA certificates (each must
 * have cA=true). td is the trust domain. Returns NULL with err filled. */
weft_bundle_t *weft_bundle_from_pem(const char *td, const char *pem, size_t len,
				    char *err, size_t errlen);
weft_bundle_t *weft_bundle_ref(weft_bundle_t *b);
void weft_bundle_unref(weft_bundle_t *b);

/* Builds a credential from a PEM chain (leaf first, then intermediates)
 * and a PEM private key that must match the leaf. The leaf's single URI SAN
 * must parse (weft_spiffe_parse). Returns NULL with err filled. */
weft_cred_t *weft_cred_from_pem(const char *chain_pem, size_t chain_len,
				const char *key_pem, size_t key_len, char *err, size_t errlen);
/* Takes ownership of leaf, chain (may be NULL) and key. Returns NULL (and
 * frees them) on failure. */
weft_cred_t *weft_cred_new(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key, char *err, size_t errlen);
weft_cred_t *weft_cred_ref(weft_cred_t *c);
void weft_cred_unref(weft_cred_t *c);

/* Serializes the chain (leaf first) / the key as PEM into a malloc'd
 * NUL-terminated string. Returns NULL on no memory. */
char *weft_cred_chain_pem(const weft_cred_t *c, size_t *len);
char *weft_cred_key_pem(const weft_cred_t *c, size_t *len);

/* A new ECDSA P-256 key. Returns NULL on failure. */
EVP_PKEY *weft_key_p256(void);

/* A PEM CSR for key (subject empty, no extensions: the CA decides the
 * identity). Returns a malloc'd string or NULL. */
char *weft_csr_pem(EVP_PKEY *key, size_t *len);

/* Reads a whole file (at most max bytes) into a malloc'd NUL-terminated
 * buffer. Returns NULL with errno set. */
char *weft_read_file(const char *path, size_t max, size_t *len);

/* Writes data to path atomically (temp file, fsync, rename) with mode.
 * Returns WEFT_OK or WEFT_EFAIL (errno set). */
int weft_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* ---- TLS contexts and the transport (src/net/tls.c) ---- */

/* Builds a context from o (copied). Returns NULL with err filled (the
 * OpenSSL error queue drained into it). */
weft_tls_ctx_t *weft_tls_ctx_new(const weft_tls_opts_t *o, char *err, size_t errlen);
void weft_tls_ctx_free(weft_tls_ctx_t *ctx);

/* Starts a TLS session over the connected non-blocking fd (not owned until
 * the transport's close). Client: cred is the local certificate to present
 * (NULL: none, or ctx's fixed one), sni the server name to send (may be
 * NULL), expect the exact peer identity required (NULL/empty: policy's).
 * Server: cred/sni/expect are NULL. Returns the session (use as xprt_ctx
 * with weft_xprt_tls) or NULL on no memory.
 *
 * The handshake runs inside the transport's first recv/send calls; they
 * return WEFT_EAGAIN until it completes and the peer has passed
 * weft_spiffe_verify (then t->peer is set). A refused peer makes them
 * return WEFT_EFAIL with t->failed and t->reason set, after the ctx's
 * on_refused hook ran; no application byte is ever read from or written to
 * a peer that has not been verified. While the handshake needs to read,
 * send returns WEFT_EAGAIN and the caller must keep read interest (it
 * always does); while it needs to write, recv returns WEFT_EAGAIN and
 * weft_tls_wants_write() says so, so callers enable write interest. */
weft_tls_t *weft_tls_new(weft_tls_ctx_t *ctx, int fd, weft_cred_t *cred, const char *sni,
			 const char *expect);

/* True when the last call would block on a write (handshake or
 * SSL_write), so the caller should watch for WEFT_IO_WRITE. */
bool weft_tls_wants_write(const weft_tls_t *t);

/* The TLS transport: xprt_ctx is a weft_tls_t. close sends close_notify
 * (best effort), frees the session and closes the fd. */
extern const weft_xprt_ops_t weft_xprt_tls;

/* The verified peer of a connection whose transport is TLS, or NULL
 * (other transports, handshake not done, no certificate). */
const weft_spiffe_id_t *weft_conn_peer_id(const weft_conn_t *c);

#endif
