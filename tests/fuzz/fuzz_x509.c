/* Fuzzes certificate verification: DER bytes -> d2i_X509 ->
 * weft_spiffe_verify against a fixed bundle generated once. Any input gives
 * a reason in range and never crashes; an accepted one has a parsed ID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "weft/tls.h"

static weft_bundle_t *bundle;

/* The fixed bundle: a P-256 root made once per process. Seeds signed by
 * other keys fail the chain check; the pinned pass below (each input
 * pinned to itself) reaches the leaf checks for self-signed inputs. */
static void init(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, err[256];
	long len;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz root", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, k, EVP_sha256());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &p);
	bundle = weft_bundle_from_pem("cluster.local", p, (size_t)len, err, sizeof(err));
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	if (!bundle)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *q = data;
	weft_peer_policy_t pol = { .kind = WEFT_ID_NONE, .require_cert = true };
	weft_spiffe_id_t id;
	char detail[256];
	X509 *x;

	if (!bundle)
		init();
	pol.bundle = bundle;
	x = d2i_X509(NULL, &q, (long)size);
	if (!x)
		return 0;
	for (int as_server = 0; as_server < 2; as_server++) {
		weft_peer_reason_t r = weft_spiffe_verify(x, NULL, &pol, as_server, 1700000000, &id, detail,
							  sizeof(detail));
		if ((unsigned)r >= WEFT_PEER_NREASONS)
			abort();
		if (r == WEFT_PEER_OK && id.kind == WEFT_ID_NONE)
			abort();
	}
	/* the same leaf pinned to itself: exercises the pin path and the
	 * checks after a successful chain */
	pol.use_pin = true;
	if (weft_spki_sha256(x, pol.pin) == WEFT_OK) {
		weft_peer_reason_t r = weft_spiffe_verify(x, NULL, &pol, true, 1700000000, &id, NULL, 0);
		if ((unsigned)r >= WEFT_PEER_NREASONS)
			abort();
	}
	X509_free(x);
	return 0;
}
