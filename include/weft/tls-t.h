/* weft — TLS transport, credentials, trust bundles and SPIFFE identities.
 * Types only. Implemented in src/net/tls.c (transport, contexts),
 * src/net/cred.c (credentials, bundles, PEM) and src/net/spiffe.c (IDs and
 * peer verification).
 *
 * Identities (DESIGN §4):
 *   workload  spiffe://<td>/ns/<ns>/sa/<sa>
 *   node      spiffe://<td>/weft/node/<node>      (agents, issued at join)
 *   control   spiffe://<td>/weft/control          (weft control's server cert)
 * A peer is only ever accepted as one kind: a node certificate is never a
 * workload identity and the other way round. */
#ifndef WEFT_TLS_T_H
#define WEFT_TLS_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "weft/buf-t.h"

#define WEFT_TD_MAX    256   /* trust domain, bytes incl. NUL */
#define WEFT_NAME_MAX  254   /* ns / sa / node name, bytes incl. NUL */
#define WEFT_SPIFFE_MAX 600  /* whole URI, bytes incl. NUL */

typedef enum weft_id_kind {
	WEFT_ID_NONE = 0,
	WEFT_ID_WORKLOAD,
	WEFT_ID_NODE,
	WEFT_ID_CONTROL,
} weft_id_kind_t;

/* A parsed SPIFFE ID. Strings are NUL-terminated copies. */
typedef struct weft_spiffe_id {
	weft_id_kind_t kind;
	char td[WEFT_TD_MAX];
	char ns[WEFT_NAME_MAX];      /* WORKLOAD */
	char sa[WEFT_NAME_MAX];      /* WORKLOAD */
	char node[WEFT_NAME_MAX];    /* NODE */
	char uri[WEFT_SPIFFE_MAX];   /* the whole ID as written */
} weft_spiffe_id_t;

/* Why a peer certificate was refused. Each value has a stable metric label
 * (weft_peer_reason_name()). */
typedef enum weft_peer_reason {
	WEFT_PEER_OK = 0,
	WEFT_PEER_NO_CERT,           /* "no_certificate" */
	WEFT_PEER_UNTRUSTED,         /* "untrusted": does not chain to the bundle (foreign CA, bad signature) */
	WEFT_PEER_EXPIRED,           /* "expired" (or any chain cert expired) */
	WEFT_PEER_NOT_YET_VALID,     /* "not_yet_valid" */
	WEFT_PEER_CA_LEAF,           /* "ca_leaf": basicConstraints cA=true on the leaf */
	WEFT_PEER_BAD_KEY_USAGE,     /* "bad_key_usage": no digitalSignature */
	WEFT_PEER_NO_CLIENT_AUTH,    /* "no_client_auth": EKU lacks clientAuth (server side) */
	WEFT_PEER_NO_SERVER_AUTH,    /* "no_server_auth": EKU lacks serverAuth (client side) */
	WEFT_PEER_SAN_COUNT,         /* "san_count": not exactly one URI SAN */
	WEFT_PEER_BAD_ID,            /* "bad_spiffe_id": the URI SAN is not a SPIFFE ID we accept */
	WEFT_PEER_WRONG_TD,          /* "wrong_trust_domain" */
	WEFT_PEER_WRONG_KIND,        /* "wrong_identity_kind": e.g. a node cert where a workload is expected */
	WEFT_PEER_WRONG_ID,          /* "wrong_identity": not the identity the caller expected */
	WEFT_PEER_NREASONS,
} weft_peer_reason_t;

/* A trust bundle: one or more roots (several during a root rotation) for
 * one trust domain. Reference counted; immutable once built. */
typedef struct weft_bundle {
	unsigned refs;
	char td[WEFT_TD_MAX];
	X509_STORE *store;           /* the roots, for chain verification */
	STACK_OF(X509) *roots;
	char *pem;                   /* the roots as PEM, NUL-terminated (to hand on) */
	size_t pem_len;
} weft_bundle_t;

/* A credential: leaf certificate, intermediates, private key and the
 * identity the leaf names. Reference counted; immutable once built (a
 * renewal makes a new one). */
typedef struct weft_cred {
	unsigned refs;
	X509 *leaf;
	STACK_OF(X509) *chain;       /* intermediates up to (not including) the root; may be empty */
	EVP_PKEY *key;
	weft_spiffe_id_t id;         /* from the leaf's single URI SAN */
	time_t not_before, not_after;
	char serial[64];             /* hex, for logs and /certs */
} weft_cred_t;

/* What a handshake requires of the peer. */
typedef struct weft_peer_policy {
	const weft_bundle_t *bundle; /* the peer must chain to one of these roots (borrowed) */
	weft_id_kind_t kind;         /* WEFT_ID_WORKLOAD, _NODE, _CONTROL; NONE = any of them */
	bool require_cert;           /* false: a peer without a certificate is allowed (join) */
	/* expected exact identity (URI) or empty: any identity of `kind` in the bundle's td */
	char expect[WEFT_SPIFFE_MAX];
	/* Bootstrap trust (an agent joining): with use_pin the peer's chain
	 * must verify to a self-signed certificate *in the presented chain*
	 * whose SubjectPublicKeyInfo (DER) has SHA-256 == pin; bundle is then
	 * not used for chaining (its td, when bundle is set, still is). */
	bool use_pin;
	uint8_t pin[32];
} weft_peer_policy_t;

struct weft_tls;

/* Options of a TLS context (SSL_CTX). TLS 1.3 only, AES-GCM suites only
 * (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384), P-256/X25519 groups,
 * ALPN "h2" (a peer that offers/selects anything else fails), no session
 * tickets, no renegotiation. */
typedef struct weft_tls_opts {
	bool server;
	weft_peer_policy_t peer;     /* copied (the bundle pointer is borrowed) */
	/* The local credential: fixed (cred), or chosen per connection. A
	 * server chooses by SNI through select (NULL return: the handshake
	 * fails with unrecognized_name); a client passes it to weft_tls_new(). */
	weft_cred_t *cred;           /* borrowed, may be NULL */
	weft_cred_t *(*select)(void *ud, const char *sni);   /* returns a borrowed cred or NULL */
	/* Called once for each refused peer (for counters); may be NULL. */
	void (*on_refused)(void *ud, weft_peer_reason_t why, const char *detail);
	void *ud;
} weft_tls_opts_t;

typedef struct weft_tls_ctx {
	SSL_CTX *ssl_ctx;
	BIO_METHOD *bio_meth;        /* the sessions' socket BIO (src/net/tls.c) */
	weft_tls_opts_t o;
} weft_tls_ctx_t;

/* One TLS session over a connected non-blocking fd: the xprt_ctx of a
 * weft_conn_t whose transport is weft_xprt_tls. */
typedef struct weft_tls {
	weft_tls_ctx_t *ctx;
	SSL *ssl;
	bool handshake_done;
	bool failed;
	bool want_write;             /* the last operation blocked on a write */
	bool corked;                 /* records collect in wbuf (one send per tls send) */
	bool rd_eof;                 /* the socket read EOF (BIO_eof) */
	int fd;
	weft_buf_t wbuf;             /* records made but not yet taken by the socket */
	bool cb_checked;             /* the verify callback already ran weft_spiffe_verify */
	weft_peer_reason_t reason;   /* why the peer was refused (failed) */
	weft_spiffe_id_t peer;       /* verified peer identity (kind NONE: none presented) */
	weft_cred_t *cred;           /* a reference on the local credential used */
	char expect[WEFT_SPIFFE_MAX];/* per-connection expected peer identity, or empty */
	char sni[256];               /* client: sent; server: received */
} weft_tls_t;

#endif
