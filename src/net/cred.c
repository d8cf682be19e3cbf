/* weft — trust bundles, credentials (leaf + chain + key), PEM helpers, key
 * and CSR generation, and small file helpers for key material. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "weft/tls.h"

/* Fills err with msg and the first OpenSSL error (the queue is drained). */
static void set_err(char *err, size_t errlen, const char *msg)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[200] = "";

	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s", msg, *ebuf ? ": " : "", ebuf);
}

/* Every PEM certificate of (pem,len) in order. Returns NULL (err set) when
 * there is none or one does not parse. */
static STACK_OF(X509) *certs_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	STACK_OF(X509) *sk;
	BIO *b;
	X509 *x;

	if (!pem || len > INT32_MAX) {
		set_err(err, errlen, "no PEM data");
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	sk = sk_X509_new_null();
	if (!b || !sk) {
		BIO_free(b);
		sk_X509_free(sk);
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	}
	/* the loop ends at EOF (PEM_R_NO_START_LINE) or on a broken block */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE && sk_X509_num(sk) > 0) {
		ERR_clear_error();
	} else {
		set_err(err, errlen, sk_X509_num(sk) ? "a certificate does not parse" : "no certificate in PEM");
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	BIO_free(b);
	return sk;
}

/* Appends cert as PEM to b. Returns 1 or 0. */
static char *bio_to_str(BIO *b, size_t *len)
{
	char *p, *out;
	long n = BIO_get_mem_data(b, &p);

	if (n < 0 || !(out = malloc((size_t)n + 1)))
		return NULL;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	if (len)
		*len = (size_t)n;
	return out;
}

/* ---- bundles ---- */

weft_bundle_t *weft_bundle_from_pem(const char *td, const char *pem, size_t len,
				    char *err, size_t errlen)
{
	weft_bundle_t *b;
	STACK_OF(X509) *sk;
	BIO *out;

	if (!td || !*td || strlen(td) >= WEFT_TD_MAX) {
		set_err(err, errlen, "bad trust domain");
		return NULL;
	}
	if (!(sk = certs_from_pem(pem, len, err, errlen)))
		return NULL;
	if (!(b = calloc(1, sizeof(*b))) || !(b->store = X509_STORE_new()) ||
	    !(out = BIO_new(BIO_s_mem()))) {
		if (b)
			X509_STORE_free(b->store);
		free(b);
		sk_X509_pop_free(sk, X509_free);
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	b->refs = 1;
	snprintf(b->td, sizeof(b->td), "%s", td);
	b->roots = sk;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		X509 *x = sk_X509_value(sk, i);
		if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
			set_err(err, errlen, "a bundle certificate is not a CA (cA=true required)");
			goto fail;
		}
		if (X509_STORE_add_cert(b->store, x) != 1 || PEM_write_bio_X509(out, x) != 1) {
			set_err(err, errlen, "cannot add a bundle certificate");
			goto fail;
		}
	}
	if (!(b->pem = bio_to_str(out, &b->pem_len))) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	BIO_free(out);
	return b;
fail:
	BIO_free(out);
	b->refs = 1;
	weft_bundle_unref(b);
	return NULL;
}

weft_bundle_t *weft_bundle_ref(weft_bundle_t *b)
{
	if (b)
		b->refs++;
	return b;
}

void weft_bundle_unref(weft_bundle_t *b)
{
	if (!b || --b->refs)
		return;
	X509_STORE_free(b->store);
	sk_X509_pop_free(b->roots, X509_free);
	free(b->pem);
	free(b);
}

/* ---- credentials ---- */

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

weft_cred_t *weft_cred_new(X509 *leaf, STACK_OF(X509) *chain, EVP_PKEY *key, char *err, size_t errlen)
{
	weft_cred_t *c = NULL;
	GENERAL_NAMES *names = NULL;
	const char *uri = NULL;
	size_t urilen = 0;
	int nuri = 0, crit = -1;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	if (!leaf || !key) {
		set_err(err, errlen, "no certificate or key");
		goto fail;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		set_err(err, errlen, "the private key does not match the certificate");
		goto fail;
	}
	names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_URI && nuri++ == 0) {
			uri = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			urilen = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		}
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (nuri != 1 || crit == -2) {
		set_err(err, errlen, "the certificate must have exactly one URI SAN");
		goto fail;
	}
	if (weft_spiffe_parse(uri, urilen, &c->id) < 0) {
		set_err(err, errlen, "the certificate's URI SAN is not a SPIFFE ID weft accepts");
		goto fail;
	}
	GENERAL_NAMES_free(names);
	names = NULL;
	c->refs = 1;
	c->leaf = leaf;
	c->chain = chain ? chain : sk_X509_new_null();
	c->key = key;
	if (!c->chain) {
		c->leaf = NULL;
		c->key = NULL;
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	c->not_before = asn1_time(X509_get0_notBefore(leaf));
	c->not_after = asn1_time(X509_get0_notAfter(leaf));
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL)) && (hex = BN_bn2hex(bn)))
		snprintf(c->serial, sizeof(c->serial), "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return c;
fail:
	GENERAL_NAMES_free(names);
	free(c);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return NULL;
}

weft_cred_t *weft_cred_from_pem(const char *chain_pem, size_t chain_len,
				const char *key_pem, size_t key_len, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = certs_from_pem(chain_pem, chain_len, err, errlen);
	EVP_PKEY *key = NULL;
	X509 *leaf;
	BIO *b;

	if (!sk)
		return NULL;
	if (key_pem && key_len <= INT32_MAX && (b = BIO_new_mem_buf(key_pem, (int)key_len))) {
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (!key) {
		set_err(err, errlen, "the private key does not parse");
		sk_X509_pop_free(sk, X509_free);
		return NULL;
	}
	leaf = sk_X509_shift(sk);
	return weft_cred_new(leaf, sk, key, err, errlen);
}

weft_cred_t *weft_cred_ref(weft_cred_t *c)
{
	if (c)
		c->refs++;
	return c;
}

void weft_cred_unref(weft_cred_t *c)
{
	if (!c || --c->refs)
		return;
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	free(c);
}

char *weft_cred_chain_pem(const weft_cred_t *c, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;
	int ok;

	if (!b)
		return NULL;
	ok = PEM_write_bio_X509(b, c->leaf) == 1;
	for (int i = 0; ok && i < sk_X509_num(c->chain); i++)
		ok = PEM_write_bio_X509(b, sk_X509_value(c->chain, i)) == 1;
	if (ok)
		out = bio_to_str(b, len);
	BIO_free(b);
	return out;
}

char *weft_cred_key_pem(const weft_cred_t *c, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (!b)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL) == 1)
		out = bio_to_str(b, len);
	BIO_free(b);
	return out;
}

EVP_PKEY *weft_key_p256(void)
{
	return EVP_EC_gen("P-256");
}

char *weft_csr_pem(EVP_PKEY *key, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (req && b && X509_REQ_set_version(req, 0) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
	    X509_REQ_sign(req, key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req) == 1)
		out = bio_to_str(b, len);
	X509_REQ_free(req);
	BIO_free(b);
	return out;
}

/* ---- files ---- */

char *weft_read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0, cap = 4096;
	char *buf = NULL;

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;
		if (!buf || n + 1 >= cap) {
			char *nb;
			if (buf)
				cap *= 2;
			if (!(nb = realloc(buf, cap)))
				goto fail;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
fail:
	{
		int e = errno;
		close(fd);
		free(buf);
		errno = e;
	}
	return NULL;
}

int weft_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096], dir[4096];
	const char *p = data, *slash;
	size_t off = 0;
	int fd, e, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return WEFT_EFAIL;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return WEFT_EFAIL;
	if (fchmod(fd, mode & 07777) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	/* make the rename durable (best effort) */
	slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
		 slash ? path : ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return WEFT_OK;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return WEFT_EFAIL;
}
