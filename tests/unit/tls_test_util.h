/* Test helpers: certificates made in-process, one property at a time, for
 * the TLS/SPIFFE/CA unit tests and the x509 fuzzer's seeds. */
#ifndef WEFT_TLS_TEST_UTIL_H
#define WEFT_TLS_TEST_UTIL_H
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "weft/tls.h"

typedef struct tu_opts {
	const char *uri[3];    /* URI SANs (NULL-terminated list) */
	bool ca;               /* basicConstraints cA=true */
	const char *ku;        /* keyUsage value, default "critical,digitalSignature"; "" = none */
	const char *eku;       /* EKU value, default "serverAuth,clientAuth"; "" = none */
	long nb, na;           /* notBefore / notAfter relative to now (default -60 / +3600) */
	const char *cn;        /* subject CN, or NULL */
} tu_opts_t;

static inline void tu_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	if (!e) {
		fprintf(stderr, "tu_ext %d %s failed\n", nid, v);
		abort();
	}
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer/ikey (NULL: self-signed). */
static inline X509 *tu_cert(X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key, const tu_opts_t *o)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char san[1024] = "";

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), o->nb ? o->nb : -60);
	X509_gmtime_adj(X509_getm_notAfter(x), o->na ? o->na : 3600);
	if (o->cn)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)o->cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, key);
	tu_ext(x, issuer, NID_basic_constraints, o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (!o->ku || *o->ku)
		tu_ext(x, issuer, NID_key_usage, o->ku ? o->ku : (o->ca ? "critical,keyCertSign,digitalSignature"
								       : "critical,digitalSignature"));
	if (!o->ca && (!o->eku || *o->eku))
		tu_ext(x, issuer, NID_ext_key_usage, o->eku ? o->eku : "serverAuth,clientAuth");
	tu_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		tu_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	for (int i = 0; i < 3 && o->uri[i]; i++) {
		size_t l = strlen(san);
		snprintf(san + l, sizeof(san) - l, "%sURI:%s", i ? "," : "", o->uri[i]);
	}
	if (*san)
		tu_ext(x, issuer, NID_subject_alt_name, san);
	X509_sign(x, ikey ? ikey : key, EVP_sha256());
	return x;
}

/* A self-signed CA and its key. */
static inline X509 *tu_root(EVP_PKEY **key, const char *cn)
{
	tu_opts_t o = { .ca = true, .cn = cn, .na = 86400 * 30 };

	*key = weft_key_p256();
	return tu_cert(NULL, NULL, *key, &o);
}

static inline char *tu_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static inline weft_bundle_t *tu_bundle(const char *td, X509 *root)
{
	char *pem = tu_pem(root), err[256];
	weft_bundle_t *b = weft_bundle_from_pem(td, pem, strlen(pem), err, sizeof(err));

	free(pem);
	if (!b)
		fprintf(stderr, "bundle: %s\n", err);
	return b;
}

/* A credential for uri issued by root/rkey (with a fresh key). */
static inline weft_cred_t *tu_cred(X509 *root, EVP_PKEY *rkey, const char *uri)
{
	tu_opts_t o = { .uri = { uri } };
	EVP_PKEY *k = weft_key_p256();
	X509 *x = tu_cert(root, rkey, k, &o);
	char err[256];
	weft_cred_t *c = weft_cred_new(x, NULL, k, err, sizeof(err));

	if (!c)
		fprintf(stderr, "cred: %s\n", err);
	return c;
}

#endif
