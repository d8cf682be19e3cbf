/* weft — SPIFFE IDs: a strict parser for the three identity forms weft
 * uses, their formatting, and the verification of a peer certificate
 * against a trust bundle and a policy (weft_spiffe_verify). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "weft/tls.h"

/* ---- parsing ---- */

static bool td_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* A path segment that names something: 1..253 bytes of [a-z0-9.-_], and
 * not "." or "..". */
static bool name_ok(const char *p, size_t len)
{
	if (len == 0 || len >= WEFT_NAME_MAX)
		return false;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!td_char((unsigned char)p[i]))
			return false;
	return true;
}

static bool seg_is(const char *p, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(p, lit, len);
}

int weft_spiffe_parse(const char *p, size_t len, weft_spiffe_id_t *out)
{
	static const char scheme[] = "spiffe://";
	const size_t sl = sizeof(scheme) - 1;
	const char *seg[5];
	size_t seglen[5], nseg = 0, tdlen = 0, i;

	memset(out, 0, sizeof(*out));
	if (!p || len < sl || len >= WEFT_SPIFFE_MAX || memcmp(p, scheme, sl))
		return WEFT_EPROTO;
	for (i = sl; i < len && p[i] != '/'; i++) {
		if (!td_char((unsigned char)p[i]))
			return WEFT_EPROTO;   /* ports, userinfo, query, percent, uppercase */
		tdlen++;
	}
	if (tdlen == 0 || tdlen >= WEFT_TD_MAX || i == len)
		return WEFT_EPROTO;       /* empty td, or no path at all */
	/* i is at the first '/': split the rest into segments */
	while (i < len) {
		size_t start = ++i;       /* skip '/' */
		while (i < len && p[i] != '/')
			i++;
		if (nseg == 5)
			return WEFT_EPROTO;
		seg[nseg] = p + start;
		seglen[nseg] = i - start;
		if (!name_ok(seg[nseg], seglen[nseg]))
			return WEFT_EPROTO;   /* empty, dot, or bad characters (trailing '/' too) */
		nseg++;
	}
	if (nseg == 4 && seg_is(seg[0], seglen[0], "ns") && seg_is(seg[2], seglen[2], "sa")) {
		out->kind = WEFT_ID_WORKLOAD;
		memcpy(out->ns, seg[1], seglen[1]);
		memcpy(out->sa, seg[3], seglen[3]);
	} else if (nseg == 3 && seg_is(seg[0], seglen[0], "weft") && seg_is(seg[1], seglen[1], "node")) {
		out->kind = WEFT_ID_NODE;
		memcpy(out->node, seg[2], seglen[2]);
	} else if (nseg == 2 && seg_is(seg[0], seglen[0], "weft") && seg_is(seg[1], seglen[1], "control")) {
		out->kind = WEFT_ID_CONTROL;
	} else {
		memset(out, 0, sizeof(*out));
		return WEFT_EPROTO;
	}
	memcpy(out->td, p + sl, tdlen);
	memcpy(out->uri, p, len);
	return WEFT_OK;
}

static int fmt(char *out, size_t outlen, int n)
{
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= WEFT_SPIFFE_MAX) {
		if (outlen)
			out[0] = '\0';
		return WEFT_ELIMIT;
	}
	return WEFT_OK;
}

int weft_spiffe_workload(char *out, size_t outlen, const char *td, const char *ns, const char *sa)
{
	return fmt(out, outlen, snprintf(out, outlen, "spiffe://%s/ns/%s/sa/%s", td, ns, sa));
}

int weft_spiffe_node(char *out, size_t outlen, const char *td, const char *node)
{
	return fmt(out, outlen, snprintf(out, outlen, "spiffe://%s/weft/node/%s", td, node));
}

int weft_spiffe_control(char *out, size_t outlen, const char *td)
{
	return fmt(out, outlen, snprintf(out, outlen, "spiffe://%s/weft/control", td));
}

const char *weft_peer_reason_name(weft_peer_reason_t r)
{
	static const char *const names[WEFT_PEER_NREASONS] = {
		[WEFT_PEER_OK] = "ok",
		[WEFT_PEER_NO_CERT] = "no_certificate",
		[WEFT_PEER_UNTRUSTED] = "untrusted",
		[WEFT_PEER_EXPIRED] = "expired",
		[WEFT_PEER_NOT_YET_VALID] = "not_yet_valid",
		[WEFT_PEER_CA_LEAF] = "ca_leaf",
		[WEFT_PEER_BAD_KEY_USAGE] = "bad_key_usage",
		[WEFT_PEER_NO_CLIENT_AUTH] = "no_client_auth",
		[WEFT_PEER_NO_SERVER_AUTH] = "no_server_auth",
		[WEFT_PEER_SAN_COUNT] = "san_count",
		[WEFT_PEER_BAD_ID] = "bad_spiffe_id",
		[WEFT_PEER_WRONG_TD] = "wrong_trust_domain",
		[WEFT_PEER_WRONG_KIND] = "wrong_identity_kind",
		[WEFT_PEER_WRONG_ID] = "wrong_identity",
	};

	return (unsigned)r < WEFT_PEER_NREASONS ? names[r] : "unknown";
}

/* ---- verification ---- */

int weft_spki_sha256(X509 *cert, uint8_t out[32])
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int n;

	if (!cert)
		return WEFT_EFAIL;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0)
		return WEFT_EFAIL;
	n = EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return n == 1 && mdlen == 32 ? WEFT_OK : WEFT_EFAIL;
}

static weft_peer_reason_t fail(weft_peer_reason_t r, char *detail, size_t dl, const char *fmtx, ...)
	__attribute__((format(printf, 4, 5)));
static weft_peer_reason_t fail(weft_peer_reason_t r, char *detail, size_t dl, const char *fmtx, ...)
{
	va_list ap;

	if (detail && dl) {
		va_start(ap, fmtx);
		vsnprintf(detail, dl, fmtx, ap);
		va_end(ap);
	}
	return r;
}

/* A store holding the self-signed certificate of untrusted whose SPKI
 * hash is pin, or NULL. */
static X509_STORE *pin_store(STACK_OF(X509) *untrusted, X509 *leaf, const uint8_t pin[32])
{
	int n = untrusted ? sk_X509_num(untrusted) : 0;

	for (int i = -1; i < n; i++) {
		X509 *c = i < 0 ? leaf : sk_X509_value(untrusted, i);
		uint8_t h[32];
		X509_STORE *st;
		if (!(X509_get_extension_flags(c) & EXFLAG_SS))
			continue;
		if (weft_spki_sha256(c, h) < 0 || CRYPTO_memcmp(h, pin, 32))
			continue;
		if (!(st = X509_STORE_new()))
			return NULL;
		if (X509_STORE_add_cert(st, c) != 1) {
			X509_STORE_free(st);
			return NULL;
		}
		return st;
	}
	return NULL;
}

/* Chains leaf to the trust anchors at time now. Returns OK, UNTRUSTED,
 * EXPIRED or NOT_YET_VALID. */
static weft_peer_reason_t verify_chain(X509 *leaf, STACK_OF(X509) *untrusted,
				       const weft_peer_policy_t *p, time_t now, char *detail, size_t dl)
{
	X509_STORE *store = NULL, *own = NULL;
	X509_STORE_CTX *ctx;
	X509_VERIFY_PARAM *vp;
	weft_peer_reason_t r = WEFT_PEER_OK;
	int err;

	if (p->use_pin) {
		store = own = pin_store(untrusted, leaf, p->pin);
		if (!store)
			return fail(WEFT_PEER_UNTRUSTED, detail, dl,
				    "no self-signed certificate in the chain matches the pinned key");
	} else if (p->bundle && p->bundle->store) {
		store = p->bundle->store;
	} else {
		return fail(WEFT_PEER_UNTRUSTED, detail, dl, "no trust bundle");
	}
	ctx = X509_STORE_CTX_new();
	if (!ctx || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
		X509_STORE_CTX_free(ctx);
		X509_STORE_free(own);
		return fail(WEFT_PEER_UNTRUSTED, detail, dl, "out of memory");
	}
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, now);
	X509_VERIFY_PARAM_set_depth(vp, 8);
	/* a bundle may hold an intermediate as anchor */
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		if (err == X509_V_ERR_CERT_HAS_EXPIRED)
			r = WEFT_PEER_EXPIRED;
		else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
			r = WEFT_PEER_NOT_YET_VALID;
		else
			r = WEFT_PEER_UNTRUSTED;
		fail(r, detail, dl, "certificate chain: %s (depth %d)",
		     X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(own);
	return r;
}

/* The leaf's single URI SAN into (uri,len) (pointers into the parsed
 * names, valid until names is freed). Returns the number of URI SANs. */
static int uri_sans(X509 *leaf, GENERAL_NAMES **names, const char **uri, size_t *len)
{
	int crit = -1, n = 0;

	*names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	if (!*names)
		return crit == -2 ? 2 : 0;   /* -2: the extension occurs twice */
	for (int i = 0; i < sk_GENERAL_NAME_num(*names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(*names, i);
		if (g->type != GEN_URI)
			continue;
		if (n++ == 0) {
			*uri = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			*len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		}
	}
	return n;
}

weft_peer_reason_t weft_spiffe_verify(X509 *leaf, STACK_OF(X509) *untrusted,
				      const weft_peer_policy_t *p, bool as_server, time_t now,
				      weft_spiffe_id_t *id, char *detail, size_t detail_len)
{
	weft_spiffe_id_t tmp, *out = id ? id : &tmp;
	GENERAL_NAMES *names = NULL;
	const char *uri = NULL;
	size_t urilen = 0;
	uint32_t flags, ku, eku;
	weft_peer_reason_t r;
	int nuri;

	memset(out, 0, sizeof(*out));
	if (detail && detail_len)
		detail[0] = '\0';
	if (!leaf)
		return fail(WEFT_PEER_NO_CERT, detail, detail_len, "the peer presented no certificate");
	r = verify_chain(leaf, untrusted, p, now, detail, detail_len);
	if (r != WEFT_PEER_OK)
		return r;
	flags = X509_get_extension_flags(leaf);
	if (flags & EXFLAG_INVALID)
		return fail(WEFT_PEER_UNTRUSTED, detail, detail_len, "malformed extensions");
	if (flags & EXFLAG_CA)
		return fail(WEFT_PEER_CA_LEAF, detail, detail_len, "the leaf is a CA certificate (cA=true)");
	ku = X509_get_key_usage(leaf);   /* UINT32_MAX: no keyUsage extension */
	if (ku == UINT32_MAX || !(ku & KU_DIGITAL_SIGNATURE))
		return fail(WEFT_PEER_BAD_KEY_USAGE, detail, detail_len,
			    "keyUsage lacks digitalSignature");
	eku = X509_get_extended_key_usage(leaf);   /* UINT32_MAX: no EKU extension */
	if (as_server && (eku == UINT32_MAX || !(eku & XKU_SSL_CLIENT)))
		return fail(WEFT_PEER_NO_CLIENT_AUTH, detail, detail_len,
			    "extendedKeyUsage lacks clientAuth");
	if (!as_server && (eku == UINT32_MAX || !(eku & XKU_SSL_SERVER)))
		return fail(WEFT_PEER_NO_SERVER_AUTH, detail, detail_len,
			    "extendedKeyUsage lacks serverAuth");
	nuri = uri_sans(leaf, &names, &uri, &urilen);
	if (nuri != 1) {
		GENERAL_NAMES_free(names);
		return fail(WEFT_PEER_SAN_COUNT, detail, detail_len,
			    "%d URI SANs (exactly one required)", nuri);
	}
	if (weft_spiffe_parse(uri, urilen, out) < 0) {
		int show = urilen > 120 ? 120 : (int)urilen;
		char safe[128];
		for (int i = 0; i < show; i++)
			safe[i] = (uri[i] >= 0x20 && uri[i] < 0x7f) ? uri[i] : '?';
		safe[show] = '\0';
		GENERAL_NAMES_free(names);
		return fail(WEFT_PEER_BAD_ID, detail, detail_len, "URI SAN '%s' is not a SPIFFE ID we accept",
			    safe);
	}
	GENERAL_NAMES_free(names);
	if (p->bundle && strcmp(out->td, p->bundle->td)) {
		r = fail(WEFT_PEER_WRONG_TD, detail, detail_len, "%s: trust domain is not %s",
			 out->uri, p->bundle->td);
		goto refuse;
	}
	if (p->kind != WEFT_ID_NONE && out->kind != p->kind) {
		static const char *const kn[] = { "any", "workload", "node", "control" };
		r = fail(WEFT_PEER_WRONG_KIND, detail, detail_len, "%s is not a %s identity", out->uri,
			 kn[p->kind <= WEFT_ID_CONTROL ? p->kind : 0]);
		goto refuse;
	}
	if (p->expect[0] && strcmp(p->expect, out->uri)) {
		r = fail(WEFT_PEER_WRONG_ID, detail, detail_len, "%s is not the expected %s", out->uri,
			 p->expect);
		goto refuse;
	}
	return WEFT_PEER_OK;
refuse:
	{
		/* keep the identity for the caller's log line, but mark it unusable */
		out->kind = WEFT_ID_NONE;
	}
	return r;
}
