/* weft — TLS contexts and the non-blocking TLS transport (weft_xprt_tls).
 *
 * TLS 1.3 only, AES-GCM suites, P-256/X25519, ALPN "h2" required both
 * ways, no tickets. The peer is checked by weft_spiffe_verify() inside
 * OpenSSL's certificate verification (so a refused peer gets an alert) and
 * again after the handshake when the callback did not run; no application
 * byte moves before that. The handshake is driven by the transport's
 * recv/send calls (see weft/tls.h).
 *
 * Sessions talk to their socket through a small BIO of ours (tls_bio_*):
 * as OpenSSL's socket BIO (reads and writes go straight to the fd, a
 * write the socket takes in part is finished by OpenSSL's retry), except
 * inside tls_send, where the records of several SSL_write calls collect in
 * t->wbuf and leave with one send(). What the socket does not take of
 * that batch stays in wbuf (the plaintext was accepted: its records are
 * made) and goes first on the next write; until then the transport wants
 * to write (tls_want_write), so weft_conn_flush keeps write interest and
 * pushes it even when the connection has no output of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/net.h"
#include "weft/tls.h"

#define TLS_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS_GROUPS "P-256:X25519"

static const unsigned char alpn_h2[] = { 2, 'h', '2' };

static void drain_err(char *err, size_t errlen, const char *msg)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[200] = "";

	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s", msg, *ebuf ? ": " : "", ebuf);
}

/* ---- peer verification ---- */

/* Reports a refusal once: marks t failed and runs the ctx's hook. */
static void refuse(weft_tls_t *t, weft_peer_reason_t why, const char *detail)
{
	if (t->failed)
		return;
	t->failed = true;
	t->reason = why;
	weft_debug("tls", "peer refused: %s: %s", weft_peer_reason_name(why), detail);
	if (t->ctx->o.on_refused)
		t->ctx->o.on_refused(t->ctx->o.ud, why, detail);
}

/* Runs weft_spiffe_verify for t's policy (with t's expected identity).
 * Returns true when the peer passes (t->peer set). */
static bool check_peer(weft_tls_t *t, X509 *leaf, STACK_OF(X509) *chain)
{
	weft_peer_policy_t p = t->ctx->o.peer;
	char detail[300];
	weft_peer_reason_t r;

	if (t->expect[0])
		memcpy(p.expect, t->expect, sizeof(p.expect));
	t->cb_checked = true;
	if (!leaf && !p.require_cert) {
		memset(&t->peer, 0, sizeof(t->peer));
		return true;
	}
	r = weft_spiffe_verify(leaf, chain, &p, t->ctx->o.server, time(NULL), &t->peer, detail,
			       sizeof(detail));
	if (r == WEFT_PEER_OK)
		return true;
	refuse(t, r, detail);
	return false;
}

/* OpenSSL's whole-chain verification, replaced by ours. */
static int cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	weft_tls_t *t = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!t)
		return 0;
	if (check_peer(t, X509_STORE_CTX_get0_cert(xs), X509_STORE_CTX_get0_untrusted(xs)))
		return 1;
	X509_STORE_CTX_set_error(xs, t->reason == WEFT_PEER_EXPIRED ? X509_V_ERR_CERT_HAS_EXPIRED :
				 t->reason == WEFT_PEER_NOT_YET_VALID ? X509_V_ERR_CERT_NOT_YET_VALID :
				 t->reason == WEFT_PEER_UNTRUSTED ? X509_V_ERR_CERT_UNTRUSTED :
				 X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* Installs cred as the session's certificate, key and chain. */
static int use_cred(SSL *ssl, weft_cred_t *cred)
{
	if (SSL_use_certificate(ssl, cred->leaf) != 1 || SSL_use_PrivateKey(ssl, cred->key) != 1 ||
	    SSL_set1_chain(ssl, cred->chain) != 1)
		return -1;
	return 0;
}

static int sni_cb(SSL *ssl, int *al, void *arg)
{
	weft_tls_t *t = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	weft_cred_t *cred;

	if (!t)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	snprintf(t->sni, sizeof(t->sni), "%s", name ? name : "");
	cred = t->ctx->o.select ? t->ctx->o.select(t->ctx->o.ud, t->sni) : t->ctx->o.cred;
	if (!cred) {
		weft_debug("tls", "no certificate for server name '%s'", t->sni);
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (cred != t->cred) {
		if (use_cred(ssl, cred) < 0) {
			*al = SSL_AD_INTERNAL_ERROR;
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		}
		weft_cred_unref(t->cred);
		t->cred = weft_cred_ref(cred);
	}
	return SSL_TLSEXT_ERR_OK;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, alpn_h2, sizeof(alpn_h2), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;   /* no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- the socket BIO ---- */

#define TLS_BATCH_MAX   (256u * 1024u)   /* ciphertext one tls_send collects */
/* read buffer: with read-ahead one read() takes several full records */
#define TLS_READ_BUF    (4u * (16384u + 512u))

/* Sends what wbuf holds. Returns 0 (all sent, or the socket is full: some
 * remain) or -1 (socket error, errno set). */
static int wbuf_flush(weft_tls_t *t)
{
	while (weft_buf_len(&t->wbuf)) {
		ssize_t n = send(t->fd, weft_buf_head(&t->wbuf), weft_buf_len(&t->wbuf), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		weft_buf_consume(&t->wbuf, (size_t)n);
	}
	weft_buf_reset(&t->wbuf);
	return 0;
}

static int tls_bio_write(BIO *b, const char *p, int len)
{
	weft_tls_t *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->corked)
		return weft_buf_append(&t->wbuf, p, (size_t)len) < 0 ? -1 : len;
	/* earlier records go first */
	if (weft_buf_len(&t->wbuf)) {
		if (wbuf_flush(t) < 0)
			return -1;
		if (weft_buf_len(&t->wbuf)) {
			BIO_set_retry_write(b);
			return -1;
		}
	}
	for (;;) {
		n = send(t->fd, p, (size_t)len, MSG_NOSIGNAL);
		if (n >= 0)
			return (int)n;   /* a part: OpenSSL writes the rest later */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return -1;
	}
}

static int tls_bio_read(BIO *b, char *p, int len)
{
	weft_tls_t *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	for (;;) {
		n = recv(t->fd, p, (size_t)len, 0);
		if (n > 0)
			return (int)n;
		if (n == 0) {
			t->rd_eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return -1;
	}
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	weft_tls_t *t = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return t && t->rd_eof;
	case BIO_CTRL_WPENDING:
		return t ? (long)weft_buf_len(&t->wbuf) : 0;
	case BIO_C_GET_FD:
		if (!t)
			return -1;
		if (ptr)
			*(int *)ptr = t->fd;
		return t->fd;
	default:
		return 0;
	}
}

static int tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- contexts ---- */

weft_tls_ctx_t *weft_tls_ctx_new(const weft_tls_opts_t *o, char *err, size_t errlen)
{
	weft_tls_ctx_t *ctx = calloc(1, sizeof(*ctx));
	SSL_CTX *s;
	int mode;

	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->o = *o;
	ctx->bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft-socket");
	if (!ctx->bio_meth || BIO_meth_set_write(ctx->bio_meth, tls_bio_write) != 1 ||
	    BIO_meth_set_read(ctx->bio_meth, tls_bio_read) != 1 ||
	    BIO_meth_set_ctrl(ctx->bio_meth, tls_bio_ctrl) != 1 ||
	    BIO_meth_set_create(ctx->bio_meth, tls_bio_create) != 1) {
		drain_err(err, errlen, "BIO_meth_new");
		BIO_meth_free(ctx->bio_meth);
		free(ctx);
		return NULL;
	}
	s = ctx->ssl_ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
	if (!s) {
		drain_err(err, errlen, "SSL_CTX_new");
		BIO_meth_free(ctx->bio_meth);
		free(ctx);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(s, TLS_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(s, TLS_GROUPS) != 1) {
		drain_err(err, errlen, "TLS settings");
		goto fail;
	}
	/* read as much as the socket has in one read(): records are not
	 * fetched header and body apart (weft_xprt_ops_t.pending covers what
	 * this buffers) */
	SSL_CTX_set_read_ahead(s, 1);
	SSL_CTX_set_default_read_buffer_len(s, TLS_READ_BUF);
	SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
			       SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_num_tickets(s, 0);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			    SSL_MODE_RELEASE_BUFFERS);
	mode = SSL_VERIFY_PEER;
	if (o->server && o->peer.require_cert)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(s, mode, NULL);
	SSL_CTX_set_cert_verify_callback(s, cert_verify_cb, ctx);
	if (o->server) {
		SSL_CTX_set_tlsext_servername_callback(s, sni_cb);
		SSL_CTX_set_alpn_select_cb(s, alpn_cb, ctx);
		if (!o->cred && !o->select) {
			snprintf(err, errlen, "a server needs a credential (cred or select)");
			goto fail;
		}
	} else if (SSL_CTX_set_alpn_protos(s, alpn_h2, sizeof(alpn_h2)) != 0) {
		drain_err(err, errlen, "ALPN");
		goto fail;
	}
	if (!o->peer.bundle && !o->peer.use_pin && (!o->server || o->peer.require_cert)) {
		snprintf(err, errlen, "the peer policy has no trust bundle");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(s);
	BIO_meth_free(ctx->bio_meth);
	free(ctx);
	return NULL;
}

void weft_tls_ctx_free(weft_tls_ctx_t *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	BIO_meth_free(ctx->bio_meth);
	free(ctx);
}

/* ---- sessions ---- */

weft_tls_t *weft_tls_new(weft_tls_ctx_t *ctx, int fd, weft_cred_t *cred, const char *sni,
			 const char *expect)
{
	weft_tls_t *t = calloc(1, sizeof(*t));
	BIO *bio;

	if (!t)
		return NULL;
	t->ctx = ctx;
	t->fd = fd;
	weft_buf_init(&t->wbuf, 0);
	if (!(t->ssl = SSL_new(ctx->ssl_ctx)) || !(bio = BIO_new(ctx->bio_meth)))
		goto fail;
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);   /* the session owns it */
	SSL_set_app_data(t->ssl, t);
	if (!cred)
		cred = ctx->o.cred;
	if (cred) {
		if (use_cred(t->ssl, cred) < 0)
			goto fail;
		t->cred = weft_cred_ref(cred);
	}
	if (ctx->o.server) {
		SSL_set_accept_state(t->ssl);
	} else {
		if (sni && *sni) {
			snprintf(t->sni, sizeof(t->sni), "%s", sni);
			if (SSL_set_tlsext_host_name(t->ssl, t->sni) != 1)
				goto fail;
		}
		if (expect)
			snprintf(t->expect, sizeof(t->expect), "%s", expect);
		SSL_set_connect_state(t->ssl);
	}
	return t;
fail:
	ERR_clear_error();
	SSL_free(t->ssl);
	weft_cred_unref(t->cred);
	weft_buf_free(&t->wbuf);
	free(t);
	return NULL;
}

bool weft_tls_wants_write(const weft_tls_t *t)
{
	return t && (t->want_write || weft_buf_len(&t->wbuf));
}

/* After a completed handshake: ALPN, and the peer check when OpenSSL did
 * not call ours (no certificate). Returns true when the session may carry
 * data. */
static bool post_handshake(weft_tls_t *t)
{
	const unsigned char *proto = NULL;
	unsigned int plen = 0;

	SSL_get0_alpn_selected(t->ssl, &proto, &plen);
	if (plen != 2 || memcmp(proto, "h2", 2)) {
		t->failed = true;
		weft_debug("tls", "ALPN h2 was not negotiated");
		return false;
	}
	if (!t->cb_checked) {
		X509 *leaf = SSL_get0_peer_certificate(t->ssl);
		if (!check_peer(t, leaf, SSL_get_peer_cert_chain(t->ssl)))
			return false;
	}
	if (t->failed)
		return false;
	if (t->ctx->o.peer.require_cert && t->peer.kind == WEFT_ID_NONE) {
		refuse(t, WEFT_PEER_NO_CERT, "the peer presented no certificate");
		return false;
	}
	return true;
}

/* SSL_get_error needs the thread's error queue empty before an I/O call
 * (a stale entry would turn WANT_READ into SSL_ERROR_SSL). Failures here
 * leave it empty (ssl_fail), so it is nearly always empty already:
 * peeking is far cheaper than clearing every slot of the queue. */
static inline void err_clear(void)
{
	if (ERR_peek_error())
		ERR_clear_error();
}

/* Maps a failed SSL call. Returns WEFT_EAGAIN (want_write set) or
 * WEFT_EFAIL (t->failed set). zero is where ZERO_RETURN goes (0 for reads). */
static ssize_t ssl_fail(weft_tls_t *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want_write = false;
		return WEFT_EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = true;
		return WEFT_EAGAIN;
	case SSL_ERROR_SSL:
		if (!t->failed && !t->handshake_done &&
		    ERR_GET_REASON(ERR_peek_error()) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
			refuse(t, WEFT_PEER_NO_CERT, "the peer presented no certificate");
		break;
	default:
		break;
	}
	t->failed = true;
	t->want_write = false;
	if (weft_log_get_level() <= WEFT_LOG_DEBUG)
		weft_log_ssl(WEFT_LOG_DEBUG, "tls", what);
	ERR_clear_error();
	return WEFT_EFAIL;
}

/* Drives the handshake. Returns WEFT_OK (done and verified), WEFT_EAGAIN
 * or WEFT_EFAIL. */
static int handshake(weft_tls_t *t)
{
	int r;

	if (t->failed)
		return WEFT_EFAIL;
	if (t->handshake_done)
		return WEFT_OK;
	err_clear();
	r = SSL_do_handshake(t->ssl);
	if (r != 1)
		return (int)ssl_fail(t, r, "TLS handshake failed");
	t->want_write = false;
	if (!post_handshake(t)) {
		t->failed = true;
		return WEFT_EFAIL;
	}
	t->handshake_done = true;
	return WEFT_OK;
}

static ssize_t tls_recv(weft_conn_t *c, void *buf, size_t len)
{
	weft_tls_t *t = c->xprt_ctx;
	size_t n = 0;
	int rc, r;

	if (!t)
		return WEFT_EFAIL;
	if ((rc = handshake(t)) < 0)
		return rc;
	err_clear();
	r = SSL_read_ex(t->ssl, buf, len, &n);
	if (r == 1) {
		t->want_write = false;
		return (ssize_t)n;
	}
	if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN) {
		t->want_write = false;
		return 0;
	}
	return ssl_fail(t, r, "TLS read failed");
}

/* Encrypts buf as records into wbuf (several SSL_write calls: OpenSSL
 * makes one record per call in partial-write mode) and sends them with one
 * send(). A tail the socket did not take is sent first on the next call,
 * which answers WEFT_EAGAIN (want_write set) while it remains; len 0 only
 * pushes that tail (and the handshake). Returns the plaintext bytes
 * accepted, WEFT_EAGAIN or WEFT_EFAIL. */
static ssize_t tls_send(weft_conn_t *c, const void *buf, size_t len)
{
	weft_tls_t *t = c->xprt_ctx;
	size_t n = 0, total = 0;
	int rc, r = 1;

	if (!t)
		return WEFT_EFAIL;
	if (weft_buf_len(&t->wbuf)) {
		if (wbuf_flush(t) < 0)
			goto sock_fail;
		if (weft_buf_len(&t->wbuf)) {
			t->want_write = true;
			return WEFT_EAGAIN;
		}
		t->want_write = false;
	}
	if ((rc = handshake(t)) < 0)
		return rc;
	if (len == 0)
		return 0;
	err_clear();
	t->corked = true;
	while (total < len && weft_buf_len(&t->wbuf) < TLS_BATCH_MAX) {
		r = SSL_write_ex(t->ssl, (const char *)buf + total, len - total, &n);
		if (r != 1)
			break;
		total += n;
	}
	t->corked = false;
	if (wbuf_flush(t) < 0)
		goto sock_fail;
	if (total) {
		if (r != 1)
			err_clear();   /* the failure repeats on the next call */
		t->want_write = weft_buf_len(&t->wbuf) != 0;
		return (ssize_t)total;
	}
	return ssl_fail(t, r, "TLS write failed");
sock_fail:
	weft_debug("tls", "TLS write failed: %s", strerror(errno));
	t->failed = true;
	t->want_write = false;
	return WEFT_EFAIL;
}

static void tls_close(weft_conn_t *c)
{
	weft_tls_t *t = c->xprt_ctx;

	if (t) {
		if (t->handshake_done && !t->failed) {
			ERR_clear_error();
			SSL_shutdown(t->ssl);   /* close_notify, best effort */
		}
		ERR_clear_error();
		SSL_free(t->ssl);
		weft_cred_unref(t->cred);
		weft_buf_free(&t->wbuf);
		free(t);
		c->xprt_ctx = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static bool tls_want_write(weft_conn_t *c)
{
	return weft_tls_wants_write(c->xprt_ctx);
}

static bool tls_pending(weft_conn_t *c)
{
	weft_tls_t *t = c->xprt_ctx;

	return t && t->ssl && SSL_has_pending(t->ssl);
}

const weft_xprt_ops_t weft_xprt_tls = { "tls", tls_recv, tls_send, tls_close, tls_want_write,
					 tls_pending, NULL };

const weft_spiffe_id_t *weft_conn_peer_id(const weft_conn_t *c)
{
	const weft_tls_t *t;

	if (!c || c->xprt != &weft_xprt_tls || !(t = c->xprt_ctx))
		return NULL;
	if (!t->handshake_done || t->failed || t->peer.kind == WEFT_ID_NONE)
		return NULL;
	return &t->peer;
}
