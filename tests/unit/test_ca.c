/* Unit tests for the CA (src/control/ca.c) and join tokens
 * (src/control/ca_tokens.c): what an issued certificate contains whatever
 * the CSR asks for, lifetimes, the root on disk, single-use tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "weft/ca.h"
#include "weft/tls.h"
#include "tls_test_util.h"

#define TD "cluster.local"

typedef struct fx {
	char dir[64];
	weft_ca_t ca;
} fx_t;

static void rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	weft_ca_opts_t o = { .trust_domain = TD, .ttl_s = 3600, .min_ttl_s = 60, .node_ttl_s = 7200 };
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/weft-ca-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	o.dir = f->dir;
	if (weft_ca_open(&f->ca, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "ca: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;

	weft_ca_close(&f->ca);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* A CSR that asks for much more than it will get. */
static char *greedy_csr(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"admin", -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, key);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
		"URI:spiffe://cluster.local/ns/kube-system/sa/admin,DNS:evil.example"));
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE"));
	X509_REQ_add_extensions(req, exts);
	X509_REQ_sign(req, key, EVP_sha256());
	PEM_write_bio_X509_REQ(b, req);
	len = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)len);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(req);
	BIO_free(b);
	return out;
}

static time_t t_of(const ASN1_TIME *t)
{
	struct tm tm;

	ASN1_TIME_to_tm(t, &tm);
	return timegm(&tm);
}

static void test_root_on_disk(void **state)
{
	fx_t *f = *state;
	char path[128], err[256];
	struct stat st;
	weft_ca_t again;
	weft_ca_opts_t o = { .trust_domain = TD, .dir = f->dir };

	snprintf(path, sizeof(path), "%s/%s", f->dir, WEFT_CA_ROOT_KEY);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(X509_get_extension_flags(f->ca.cert) & EXFLAG_CA);
	assert_true(X509_get_extension_flags(f->ca.cert) & EXFLAG_SS);
	assert_int_equal(EVP_PKEY_get_bits(f->ca.key), 256);
	assert_true(f->ca.not_after > time(NULL) + 9L * 365 * 86400);
	assert_int_equal(sk_X509_num(f->ca.chain), 0);
	/* a second start loads the same root */
	assert_int_equal(weft_ca_open(&again, &o, err, sizeof(err)), WEFT_OK);
	assert_int_equal(X509_cmp(again.cert, f->ca.cert), 0);
	assert_memory_equal(again.pin, f->ca.pin, 32);
	weft_ca_close(&again);
	/* a key that is missing is an error, not a new root */
	{
		char kp[128], moved[140];
		snprintf(kp, sizeof(kp), "%s/%s", f->dir, WEFT_CA_ROOT_KEY);
		snprintf(moved, sizeof(moved), "%s.x", kp);
		assert_int_equal(rename(kp, moved), 0);
		assert_int_equal(weft_ca_open(&again, &o, err, sizeof(err)), WEFT_EFAIL);
		assert_non_null(strstr(err, "only one of"));
		assert_int_equal(rename(moved, kp), 0);
	}
}

static void test_issue_ignores_csr(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *k = weft_key_p256(), *pub;
	char *csr = greedy_csr(k), err[256];
	const char *uri = "spiffe://cluster.local/ns/default/sa/echo";
	time_t now = time(NULL);
	X509 *x;
	weft_peer_policy_t p = { .bundle = f->ca.bundle, .kind = WEFT_ID_WORKLOAD };
	weft_spiffe_id_t id;
	GENERAL_NAMES *names;
	int crit;

	pub = weft_ca_csr_key(csr, strlen(csr), err, sizeof(err));
	assert_non_null(pub);
	x = weft_ca_issue(&f->ca, pub, uri, 600, now, err, sizeof(err));
	assert_non_null(x);
	/* exactly one name: the URI SAN of the identity */
	names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	assert_non_null(names);
	assert_int_equal(sk_GENERAL_NAME_num(names), 1);
	assert_int_equal(sk_GENERAL_NAME_value(names, 0)->type, GEN_URI);
	assert_int_equal(crit, 1);
	GENERAL_NAMES_free(names);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	/* KU critical digitalSignature only, EKU both, cA=false critical */
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_ext_by_NID(x, NID_key_usage, -1) >= 0, 1);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
	assert_int_equal(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
			 XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_false(X509_get_extension_flags(x) & EXFLAG_CA);
	assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS_CRITICAL);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	/* lifetime, serial */
	assert_int_equal(t_of(X509_get0_notBefore(x)), now - 60);
	assert_int_equal(t_of(X509_get0_notAfter(x)), now + 600);
	assert_true(ASN1_STRING_length(X509_get0_serialNumber(x)) == 16);
	/* and it verifies as that identity */
	assert_int_equal(weft_spiffe_verify(x, NULL, &p, true, now, &id, NULL, 0), WEFT_PEER_OK);
	assert_string_equal(id.uri, uri);
	X509_free(x);
	/* never an identity of another trust domain, nor a non-SPIFFE name */
	assert_null(weft_ca_issue(&f->ca, pub, "spiffe://other/ns/a/sa/b", 600, now, err, sizeof(err)));
	assert_null(weft_ca_issue(&f->ca, pub, "spiffe://cluster.local/ns/a/sa/b,URI:x", 600, now, err,
				  sizeof(err)));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	free(csr);
}

static void test_csr_checks(void **state)
{
	char err[256], *csr;
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *k = weft_key_p256(), *pub;
	size_t len;

	/* an RSA key is refused */
	csr = weft_csr_pem(rsa, &len);
	assert_non_null(csr);
	assert_null(weft_ca_csr_key(csr, len, err, sizeof(err)));
	assert_non_null(strstr(err, "P-256"));
	free(csr);
	/* a broken signature */
	csr = weft_csr_pem(k, &len);
	pub = weft_ca_csr_key(csr, len, err, sizeof(err));
	assert_non_null(pub);
	EVP_PKEY_free(pub);
	{
		/* flip a byte in the base64 body near the end (the signature) */
		char *end = strstr(csr, "-----END");
		char *q = end - 8;
		*q = *q == 'A' ? 'B' : 'A';
		assert_null(weft_ca_csr_key(csr, len, err, sizeof(err)));
	}
	free(csr);
	assert_null(weft_ca_csr_key("junk", 4, err, sizeof(err)));
	assert_null(weft_ca_csr_key(NULL, 0, err, sizeof(err)));
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(k);
}

static void test_ttl(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *k = weft_key_p256();
	char err[256];
	time_t now = time(NULL);
	X509 *x;

	assert_int_equal(weft_ca_clamp_ttl(&f->ca, 0), 3600);
	assert_int_equal(weft_ca_clamp_ttl(&f->ca, 1), 60);
	assert_int_equal(weft_ca_clamp_ttl(&f->ca, 600), 600);
	assert_int_equal(weft_ca_clamp_ttl(&f->ca, 99999999), 3600);
	/* never past the CA's own end */
	x = weft_ca_issue(&f->ca, k, "spiffe://cluster.local/weft/node/n1", 3600, f->ca.not_after - 100,
			  err, sizeof(err));
	assert_non_null(x);
	assert_int_equal(t_of(X509_get0_notAfter(x)), f->ca.not_after);
	X509_free(x);
	assert_null(weft_ca_issue(&f->ca, k, "spiffe://cluster.local/weft/node/n1", 3600, f->ca.not_after + 1,
				  err, sizeof(err)));
	(void)now;
	EVP_PKEY_free(k);
}

static void test_control_cred_has_root(void **state)
{
	fx_t *f = *state;
	char err[256];
	weft_cred_t *c = weft_ca_issue_cred(&f->ca, "spiffe://cluster.local/weft/control", 600, time(NULL),
					    err, sizeof(err));
	weft_peer_policy_t p = { .kind = WEFT_ID_CONTROL, .use_pin = true };
	weft_spiffe_id_t id;

	assert_non_null(c);
	memcpy(p.pin, f->ca.pin, 32);
	assert_int_equal(weft_spiffe_verify(c->leaf, c->chain, &p, false, time(NULL), &id, NULL, 0),
			 WEFT_PEER_OK);
	weft_cred_unref(c);
}

static void test_intermediate_ca(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *ik = weft_key_p256();
	tu_opts_t io = { .ca = true, .cn = "inter", .na = 86400 };
	X509 *inter = tu_cert(f->ca.cert, f->ca.key, ik, &io);
	char cpath[128], kpath[128], bpath[128], err[256], *pem;
	weft_ca_opts_t o = { .trust_domain = TD, .cert = cpath, .key = kpath, .bundle = bpath };
	weft_ca_t ica;
	weft_cred_t *c;
	weft_peer_policy_t p = { .kind = WEFT_ID_CONTROL };
	BIO *b = BIO_new(BIO_s_mem());
	long n;
	char *kp;

	snprintf(cpath, sizeof(cpath), "%s/inter.pem", f->dir);
	snprintf(kpath, sizeof(kpath), "%s/inter-key.pem", f->dir);
	snprintf(bpath, sizeof(bpath), "%s/%s", f->dir, WEFT_CA_ROOT_CERT);
	pem = tu_pem(inter);
	assert_int_equal(weft_write_file_atomic(cpath, pem, strlen(pem), 0644), WEFT_OK);
	free(pem);
	PEM_write_bio_PrivateKey(b, ik, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &kp);
	assert_int_equal(weft_write_file_atomic(kpath, kp, (size_t)n, 0600), WEFT_OK);
	BIO_free(b);
	assert_int_equal(weft_ca_open(&ica, &o, err, sizeof(err)), WEFT_OK);
	assert_int_equal(sk_X509_num(ica.chain), 1);
	assert_memory_equal(ica.pin, f->ca.pin, 32);   /* the pin names the root */
	/* a leaf never outlives the intermediate */
	c = weft_ca_issue_cred(&ica, "spiffe://cluster.local/weft/control", 30 * 86400, time(NULL), err,
			       sizeof(err));
	assert_non_null(c);
	assert_true(c->not_after <= ica.not_after);
	p.bundle = ica.bundle;
	assert_int_equal(weft_spiffe_verify(c->leaf, c->chain, &p, false, time(NULL), NULL, NULL, 0),
			 WEFT_PEER_OK);
	weft_cred_unref(c);
	weft_ca_close(&ica);
	X509_free(inter);
	EVP_PKEY_free(ik);
}

static void test_tokens(void **state)
{
	fx_t *f = *state;
	char tok[128], err[256], full[256];
	const char *why;
	time_t now = time(NULL);

	assert_int_equal(weft_ca_token_create(f->dir, "n1", 3600, now, tok, sizeof(tok), err, sizeof(err)),
			 WEFT_OK);
	assert_int_equal(strlen(tok), 16 + 1 + 64);
	/* the token file is private */
	{
		char path[160];
		struct stat st;
		snprintf(path, sizeof(path), "%s/tokens/%.16s", f->dir, tok);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* wrong node, wrong secret: refused, and the token survives them */
	assert_int_equal(weft_ca_token_consume(f->dir, tok, strlen(tok), "n2", now, &why), WEFT_EFAIL);
	assert_string_equal(why, "token_wrong_node");
	snprintf(full, sizeof(full), "%s", tok);
	full[20] = full[20] == 'a' ? 'b' : 'a';
	assert_int_equal(weft_ca_token_consume(f->dir, full, strlen(full), "n1", now, &why), WEFT_EFAIL);
	assert_string_equal(why, "bad_secret");
	/* with the pin suffix, once */
	snprintf(full, sizeof(full), "%s.%064d", tok, 0);
	assert_int_equal(weft_ca_token_consume(f->dir, full, strlen(full), "n1", now, &why), WEFT_OK);
	assert_int_equal(weft_ca_token_consume(f->dir, tok, strlen(tok), "n1", now, &why), WEFT_EFAIL);
	assert_string_equal(why, "unknown_token");
	/* malformed */
	assert_int_equal(weft_ca_token_consume(f->dir, "../../etc/passwd", 16, "n1", now, &why), WEFT_EPROTO);
	assert_string_equal(why, "malformed_token");
	/* a bad node name is refused at creation */
	assert_int_equal(weft_ca_token_create(f->dir, "../x", 3600, now, tok, sizeof(tok), err, sizeof(err)),
			 WEFT_EFAIL);
}

static void test_token_expired_and_restart(void **state)
{
	fx_t *f = *state;
	char tok[128], tok2[128], err[256];
	const char *why;
	time_t now = time(NULL);

	assert_int_equal(weft_ca_token_create(f->dir, "n1", 60, now, tok, sizeof(tok), err, sizeof(err)), WEFT_OK);
	assert_int_equal(weft_ca_token_consume(f->dir, tok, strlen(tok), "n1", now + 61, &why), WEFT_EFAIL);
	assert_string_equal(why, "token_expired");
	/* expired tokens are removed */
	assert_int_equal(weft_ca_token_consume(f->dir, tok, strlen(tok), "n1", now, &why), WEFT_EFAIL);
	assert_string_equal(why, "unknown_token");

	/* use once, "restart" (a fresh CA over the same directory), use again */
	assert_int_equal(weft_ca_token_create(f->dir, "n1", 600, now, tok2, sizeof(tok2), err, sizeof(err)),
			 WEFT_OK);
	assert_int_equal(weft_ca_token_consume(f->dir, tok2, strlen(tok2), "n1", now, &why), WEFT_OK);
	{
		weft_ca_t again;
		weft_ca_opts_t o = { .trust_domain = TD, .dir = f->dir };
		assert_int_equal(weft_ca_open(&again, &o, err, sizeof(err)), WEFT_OK);
		assert_int_equal(weft_ca_token_consume(again.dir, tok2, strlen(tok2), "n1", now, &why), WEFT_EFAIL);
		weft_ca_close(&again);
	}
	/* nothing is left behind in tokens/ */
	{
		char d[128];
		DIR *dir;
		struct dirent *de;
		int files = 0;
		snprintf(d, sizeof(d), "%s/tokens", f->dir);
		dir = opendir(d);
		assert_non_null(dir);
		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				files++;
		closedir(dir);
		assert_int_equal(files, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_on_disk),
		cmocka_unit_test(test_issue_ignores_csr),
		cmocka_unit_test(test_csr_checks),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_control_cred_has_root),
		cmocka_unit_test(test_intermediate_ca),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_expired_and_restart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
