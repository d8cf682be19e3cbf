/* weft — the signing CA of `weft control`: loads or creates the root,
 * builds the trust bundle and the pin, checks CSRs and issues SPIFFE
 * X.509-SVIDs whose only name is the identity the control plane decided. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "weft/ca.h"
#include "weft/tls.h"

#define ROOT_LIFETIME_S (10L * 365 * 86400)
#define BACKDATE_S      60
#define MAX_PEM         (1u << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[200] = "", msg[600];
	va_list ap;

	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s%s%s", msg, *ebuf ? ": " : "", ebuf);
}

char *weft_x509_pem(X509 *x, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out = NULL;
	long n;

	if (!b)
		return NULL;
	if (PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (out = malloc((size_t)n + 1))) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	BIO_free(b);
	return out;
}

/* A 128-bit random positive serial. */
static int set_serial(X509 *x)
{
	unsigned char r[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[0] &= 0x7f;
	r[0] |= 0x40;   /* 127 significant bits, never zero, always 16 bytes */
	bn = BN_bin2bn(r, sizeof(r), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!e)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? 0 : -1;
}

/* A new self-signed ECDSA P-256 root for td. */
static int make_root(const char *td, X509 **out_cert, EVP_PKEY **out_key, char *err, size_t errlen)
{
	EVP_PKEY *key = weft_key_p256();
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;
	char cn[WEFT_TD_MAX + 32];

	if (!key || !x)
		goto fail;
	snprintf(cn, sizeof(cn), "weft root CA %s", td);
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || set_serial(x) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_S) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), ROOT_LIFETIME_S) ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"weft", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
		goto fail;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	*out_cert = x;
	*out_key = key;
	return 0;
fail:
	set_err(err, errlen, "cannot create the root CA");
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

static X509 *load_cert(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *pem = weft_read_file(path, MAX_PEM, &len);
	X509 *x = NULL;
	BIO *b;

	if (!pem) {
		char m[300];
		snprintf(m, sizeof(m), "%s: %s", path, strerror(errno));
		snprintf(err, errlen, "%s", m);
		return NULL;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len))) {
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	free(pem);
	if (!x)
		set_err(err, errlen, "%s: not a PEM certificate", path);
	return x;
}

static EVP_PKEY *load_key(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *pem = weft_read_file(path, MAX_PEM, &len);
	EVP_PKEY *k = NULL;
	BIO *b;

	if (!pem) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len))) {
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (!k)
		set_err(err, errlen, "%s: not a PEM private key", path);
	return k;
}

/* Loads <dir>/root-*.pem, creating them when both are absent. */
static int open_dir(weft_ca_t *ca, const char *dir, char *err, size_t errlen)
{
	char cp[1200], kp[1200];
	struct stat st;
	bool have_c, have_k;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "--ca-dir %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(cp, sizeof(cp), "%s/%s", dir, WEFT_CA_ROOT_CERT);
	snprintf(kp, sizeof(kp), "%s/%s", dir, WEFT_CA_ROOT_KEY);
	have_c = stat(cp, &st) == 0;
	have_k = stat(kp, &st) == 0;
	if (have_c != have_k) {
		snprintf(err, errlen, "%s: only one of %s and %s exists", dir, WEFT_CA_ROOT_CERT,
			 WEFT_CA_ROOT_KEY);
		return -1;
	}
	if (!have_c) {
		char *cpem = NULL, *kpem = NULL;
		size_t cl = 0, kl = 0;
		BIO *b = BIO_new(BIO_s_mem());
		int rc = -1;
		if (!b || make_root(ca->td, &ca->cert, &ca->key, err, errlen) < 0) {
			BIO_free(b);
			return -1;
		}
		cpem = weft_x509_pem(ca->cert, &cl);
		if (PEM_write_bio_PrivateKey(b, ca->key, NULL, NULL, 0, NULL, NULL) == 1) {
			char *p;
			long n = BIO_get_mem_data(b, &p);
			if (n > 0 && (kpem = malloc((size_t)n))) {
				memcpy(kpem, p, (size_t)n);
				kl = (size_t)n;
			}
		}
		/* the key first: a cert without its key would block the next start */
		if (cpem && kpem && weft_write_file_atomic(kp, kpem, kl, 0600) == WEFT_OK &&
		    weft_write_file_atomic(cp, cpem, cl, 0644) == WEFT_OK)
			rc = 0;
		else
			snprintf(err, errlen, "%s: cannot write the new root: %s", dir, strerror(errno));
		if (kpem)
			OPENSSL_cleanse(kpem, kl);
		free(kpem);
		free(cpem);
		BIO_free(b);
		return rc;
	}
	if (!(ca->cert = load_cert(cp, err, errlen)) || !(ca->key = load_key(kp, err, errlen)))
		return -1;
	return 0;
}

/* Appends the certificates of a PEM file to sk. */
static int load_bundle_file(STACK_OF(X509) *sk, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *pem = weft_read_file(path, MAX_PEM, &len);
	BIO *b;
	X509 *x;
	int n = 0;

	if (!pem) {
		snprintf(err, errlen, "--ca-bundle %s: %s", path, strerror(errno));
		return -1;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		sk_X509_push(sk, x);
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	free(pem);
	if (n == 0) {
		snprintf(err, errlen, "--ca-bundle %s: no certificate", path);
		return -1;
	}
	return 0;
}

static bool self_signed(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

int weft_ca_open(weft_ca_t *ca, const weft_ca_opts_t *o, char *err, size_t errlen)
{
	STACK_OF(X509) *roots = NULL;
	BIO *b = NULL;
	char *p;
	long n;
	int rc = WEFT_EFAIL;

	memset(ca, 0, sizeof(*ca));
	if (!o->trust_domain || !*o->trust_domain || strlen(o->trust_domain) >= WEFT_TD_MAX) {
		snprintf(err, errlen, "a trust domain is required");
		return WEFT_EFAIL;
	}
	snprintf(ca->td, sizeof(ca->td), "%s", o->trust_domain);
	snprintf(ca->dir, sizeof(ca->dir), "%s", o->dir ? o->dir : "");
	ca->ttl_s = o->ttl_s ? o->ttl_s : 86400;
	ca->min_ttl_s = o->min_ttl_s ? o->min_ttl_s : 60;
	if (ca->min_ttl_s > ca->ttl_s)
		ca->min_ttl_s = ca->ttl_s;
	ca->node_ttl_s = o->node_ttl_s ? o->node_ttl_s : 86400;
	if (o->cert || o->key) {
		if (!o->cert || !o->key) {
			snprintf(err, errlen, "--ca-cert and --ca-key go together");
			return WEFT_EFAIL;
		}
		if (!(ca->cert = load_cert(o->cert, err, errlen)) || !(ca->key = load_key(o->key, err, errlen)))
			goto out;
		if (o->dir && *o->dir && mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "--ca-dir %s: %s", o->dir, strerror(errno));
			goto out;
		}
	} else if (o->dir && *o->dir) {
		if (open_dir(ca, o->dir, err, errlen) < 0)
			goto out;
	} else {
		snprintf(err, errlen, "the CA needs --ca-dir or --ca-cert/--ca-key");
		return WEFT_EFAIL;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		set_err(err, errlen, "the CA key does not match the CA certificate");
		goto out;
	}
	if (!(X509_get_extension_flags(ca->cert) & EXFLAG_CA) ||
	    (X509_get_key_usage(ca->cert) != UINT32_MAX && !(X509_get_key_usage(ca->cert) & KU_KEY_CERT_SIGN))) {
		snprintf(err, errlen, "the CA certificate is not a CA (cA=true and keyCertSign required)");
		goto out;
	}
	ca->not_after = 0;
	{
		struct tm tm;
		if (ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm) == 1)
			ca->not_after = timegm(&tm);
	}
	if (!(ca->chain = sk_X509_new_null()) || !(roots = sk_X509_new_null()))
		goto oom;
	if (self_signed(ca->cert)) {
		X509_up_ref(ca->cert);
		sk_X509_push(roots, ca->cert);
	} else {
		X509_up_ref(ca->cert);
		sk_X509_push(ca->chain, ca->cert);
	}
	if (o->bundle && *o->bundle && load_bundle_file(roots, o->bundle, err, errlen) < 0)
		goto out;
	if (sk_X509_num(roots) == 0) {
		/* an intermediate with no root given: it is the trust anchor */
		X509_up_ref(ca->cert);
		sk_X509_push(roots, ca->cert);
	}
	if (!(b = BIO_new(BIO_s_mem())))
		goto oom;
	for (int i = 0; i < sk_X509_num(roots); i++)
		PEM_write_bio_X509(b, sk_X509_value(roots, i));
	n = BIO_get_mem_data(b, &p);
	if (!(ca->bundle = weft_bundle_from_pem(ca->td, p, (size_t)n, err, errlen)))
		goto out;
	/* the root the pin names: the CA itself, or the bundle root that issued it */
	ca->root = NULL;
	for (int i = 0; i < sk_X509_num(ca->bundle->roots); i++) {
		X509 *r = sk_X509_value(ca->bundle->roots, i);
		if (!X509_cmp(r, ca->cert) || X509_check_issued(r, ca->cert) == X509_V_OK) {
			ca->root = r;
			break;
		}
	}
	if (!ca->root)
		ca->root = sk_X509_value(ca->bundle->roots, 0);
	if (weft_spki_sha256(ca->root, ca->pin) < 0)
		goto oom;
	rc = WEFT_OK;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	BIO_free(b);
	sk_X509_pop_free(roots, X509_free);
	if (rc != WEFT_OK)
		weft_ca_close(ca);
	return rc;
}

void weft_ca_close(weft_ca_t *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->chain, X509_free);
	weft_bundle_unref(ca->bundle);
	ca->cert = NULL;
	ca->key = NULL;
	ca->chain = NULL;
	ca->bundle = NULL;
	ca->root = NULL;
}

uint32_t weft_ca_clamp_ttl(const weft_ca_t *ca, uint32_t want_s)
{
	if (want_s == 0 || want_s > ca->ttl_s)
		return ca->ttl_s;
	return want_s < ca->min_ttl_s ? ca->min_ttl_s : want_s;
}

EVP_PKEY *weft_ca_csr_key(const char *pem, size_t len, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	char group[64] = "";
	size_t gl = 0;
	BIO *b;

	if (!pem || len == 0 || len > 65536) {
		snprintf(err, errlen, "no CSR, or one larger than 64 KiB");
		return NULL;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len))) {
		req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (!req) {
		set_err(err, errlen, "the CSR does not parse");
		return NULL;
	}
	pub = X509_REQ_get_pubkey(req);
	if (!pub || X509_REQ_verify(req, pub) != 1) {
		set_err(err, errlen, "the CSR's signature does not verify");
		goto fail;
	}
	if (!EVP_PKEY_is_a(pub, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl) != 1 ||
	    strcmp(group, "prime256v1")) {
		ERR_clear_error();
		snprintf(err, errlen, "the CSR's key is not an EC P-256 key");
		goto fail;
	}
	X509_REQ_free(req);
	return pub;
fail:
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	return NULL;
}

X509 *weft_ca_issue(weft_ca_t *ca, EVP_PKEY *pub, const char *uri, uint32_t ttl_s, time_t now,
		    char *err, size_t errlen)
{
	weft_spiffe_id_t id;
	X509 *x = NULL;
	X509V3_CTX ctx;
	char san[WEFT_SPIFFE_MAX + 8];
	time_t end = now + (time_t)ttl_s;

	/* the identity is built by the caller from checked parts: parse it
	 * again so that nothing but a SPIFFE ID of our trust domain is signed */
	if (!uri || weft_spiffe_parse(uri, strlen(uri), &id) < 0 || strcmp(id.td, ca->td)) {
		snprintf(err, errlen, "not a SPIFFE ID of trust domain %s: %s", ca->td, uri ? uri : "");
		return NULL;
	}
	if (ca->not_after && end > ca->not_after)
		end = ca->not_after;
	if (end <= now) {
		snprintf(err, errlen, "the CA certificate has expired");
		return NULL;
	}
	snprintf(san, sizeof(san), "URI:%s", uri);
	if (!(x = X509_new()) || X509_set_version(x, 2) != 1 || set_serial(x) < 0 ||
	    !X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_S, &now) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &end) ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_set_pubkey(x, pub) != 1)
		goto fail;
	/* empty subject: the URI SAN is the name, so it is critical (RFC 5280) */
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_ext(x, &ctx, NID_subject_alt_name, san) < 0)
		goto fail;
	{
		/* mark the SAN critical */
		int i = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
		X509_EXTENSION *e = i >= 0 ? X509_get_ext(x, i) : NULL;
		if (!e || X509_EXTENSION_set_critical(e, 1) != 1)
			goto fail;
	}
	if (X509_sign(x, ca->key, EVP_sha256()) <= 0)
		goto fail;
	return x;
fail:
	set_err(err, errlen, "cannot issue a certificate for %s", uri);
	X509_free(x);
	return NULL;
}

weft_cred_t *weft_ca_issue_cred(weft_ca_t *ca, const char *uri, uint32_t ttl_s, time_t now,
				char *err, size_t errlen)
{
	EVP_PKEY *key = weft_key_p256();
	STACK_OF(X509) *chain;
	X509 *x;

	if (!key) {
		set_err(err, errlen, "cannot generate a key");
		return NULL;
	}
	if (!(x = weft_ca_issue(ca, key, uri, ttl_s, now, err, errlen))) {
		EVP_PKEY_free(key);
		return NULL;
	}
	chain = X509_chain_up_ref(ca->chain);
	if (!chain) {
		X509_free(x);
		EVP_PKEY_free(key);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* control's chain ends with the root, so that an agent joining with
	 * the pinned root key finds it in the presented chain */
	if (ca->root && self_signed(ca->root) && X509_up_ref(ca->root))
		sk_X509_push(chain, ca->root);
	return weft_cred_new(x, chain, key, err, errlen);
}
