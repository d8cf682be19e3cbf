/* Unit tests for src/agent/identity.c: the renewal schedule (half life,
 * ±10% jitter), the retry backoff (1 s .. 60 s), join token parsing, and
 * persisted credentials (loaded when valid, discarded and deleted when
 * expired or naming another identity) with an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"
#include "weft/tls.h"

static void test_renew_schedule(void **st)
{
	time_t nb = 1000000, na = nb + 3600;
	uint64_t rnd = 42;

	assert_int_equal(weft_ident_renew_at(nb, na, 0), nb + 1800);
	assert_int_equal(weft_ident_renew_at(nb, na, -1), nb + 1800 - 360);
	assert_int_equal(weft_ident_renew_at(nb, na, 1), nb + 1800 + 360);
	assert_int_equal(weft_ident_renew_at(nb, na, 5), nb + 1800 + 360);   /* clamped */
	for (int i = 0; i < 10000; i++) {
		time_t t = weft_ident_renew_at(nb, na, weft_rand_pm1(&rnd));

		assert_true(t >= nb + 1440 && t <= nb + 2160);
	}
	/* a 60 s certificate renews between 24 s and 36 s */
	for (int i = 0; i < 1000; i++) {
		time_t t = weft_ident_renew_at(0, 60, weft_rand_pm1(&rnd));

		assert_true(t >= 24 && t <= 36);
	}
}

static void test_rand_spread(void **st)
{
	uint64_t rnd = 7;
	int lo = 0, hi = 0;

	for (int i = 0; i < 10000; i++) {
		double r = weft_rand_pm1(&rnd);

		assert_true(r >= -1 && r <= 1);
		lo += r < -0.5;
		hi += r > 0.5;
	}
	/* both ends are reached (not a constant) */
	assert_true(lo > 1000 && hi > 1000);
}

static void test_backoff(void **st)
{
	static const uint32_t bases[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	uint32_t base = 0;
	uint64_t rnd = 99;

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		uint32_t d = weft_backoff_next(&base, 1000, 60000, weft_rand_pm1(&rnd));

		assert_int_equal(base, bases[i]);
		assert_true(d >= 1000 && d <= 60000);
		assert_true(d >= bases[i] * 8 / 10 && d <= bases[i] * 12 / 10 + 1);
	}
	/* exact jitter ends */
	base = 0;
	assert_int_equal(weft_backoff_next(&base, 1000, 60000, -1), 1000);   /* clamped to min */
	assert_int_equal(weft_backoff_next(&base, 1000, 60000, 1), 2400);
	assert_int_equal(weft_backoff_next(&base, 1000, 60000, -1), 3200);
	/* the control connection's range */
	base = 0;
	for (int i = 0; i < 20; i++)
		assert_true(weft_backoff_next(&base, 100, 5000, weft_rand_pm1(&rnd)) <= 5000);
	assert_int_equal(base, 5000);
}

/* ---- an agent shell for the identity manager ---- */

typedef struct fx {
	weft_loop_t loop;
	weft_agent_t a;
	char dir[64];
	time_t now;
} fx_t;

static time_t fake_now(void *ud)
{
	return ((fx_t *)ud)->now;
}

static int fx_setup(void **st)
{
	fx_t *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(weft_loop_init(&f->loop), 0);
	strcpy(f->dir, "/tmp/weft-ident-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->a.loop = &f->loop;
	f->a.rnd = 1;
	weft_sigwatch_init(&f->a.sig);
	weft_agent_opts_default(&f->a.o);
	f->a.o.node = "n1";
	f->a.o.state_dir = f->dir;
	weft_metrics_init(&f->a.metrics);
	assert_non_null(f->a.tm = weft_tm_new(&f->a.metrics, NULL));
	f->now = 2000000000;
	*st = f;
	return 0;
}

static int fx_teardown(void **st)
{
	fx_t *f = *st;
	char cmd[128];

	weft_tm_free(f->a.tm);
	weft_metrics_free(&f->a.metrics);
	weft_loop_destroy(&f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_token(void **st)
{
	fx_t *f = *st;
	struct weft_ident *id = weft_ident_new_clock(&f->a, fake_now, f);
	char good[200];
	uint8_t pin[32], zero[32] = { 0 };

	assert_non_null(id);
	assert_true(weft_ident_need_join(id));
	snprintf(good, sizeof(good), "tok1.s3cret.%s\n",
		 "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433221100");
	memset(pin, 0, sizeof(pin));
	assert_int_equal(weft_ident_set_token(id, good, strlen(good), pin), WEFT_OK);
	assert_int_equal(pin[0], 0x00);
	assert_int_equal(pin[1], 0x11);
	assert_int_equal(pin[16], 0xff);
	assert_int_equal(pin[31], 0x00);
	static const char *const bad[] = {
		"", "a.b", "a.b.c", ".s.00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"a..00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"a.b.00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
		"a.b.00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
		"a b.c.00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(pin, 0, sizeof(pin));
		if (weft_ident_set_token(id, bad[i], strlen(bad[i]), pin) != WEFT_EPROTO)
			fail_msg("accepted token '%s'", bad[i]);
		assert_memory_equal(pin, zero, 32);
	}
	weft_ident_free(id);
}

/* ---- persisted credentials ---- */

static EVP_PKEY *p256(void)
{
	return EVP_EC_gen("P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, valid [nb, na], signed by (ikey, issuer) or
 * self-signed (issuer NULL: a CA). uri: the URI SAN of a leaf. */
static X509 *mkcert(EVP_PKEY *key, EVP_PKEY *ikey, X509 *issuer, time_t nb, time_t na, const char *uri)
{
	X509 *x = X509_new();
	static long serial = 1;
	char san[700];

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, nb - time(NULL), NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, na - time(NULL), NULL);
	X509_set_pubkey(x, key);
	if (!issuer) {
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
					   (const unsigned char *)"weft test CA", -1, -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(x));
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		X509_set_issuer_name(x, X509_get_subject_name(issuer));
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
		snprintf(san, sizeof(san), "URI:%s", uri);
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	if (x)
		assert_true(PEM_write_X509(f, x));
	if (k)
		assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* Writes node + bundle + workload credentials: "a/sa1" valid until
 * f->now + 600, "b/sa2" already expired at f->now, a file for "c/sa3"
 * whose certificate names another identity, and "d/sa4" issued by
 * another CA. With foreign_node the node certificate is the other CA's
 * too. */
static void write_state_ex(fx_t *f, bool foreign_node)
{
	EVP_PKEY *ck = p256(), *nk = p256(), *k1 = p256(), *k2 = p256(), *k3 = p256();
	EVP_PKEY *ok = p256(), *k4 = p256();
	X509 *ca = mkcert(ck, NULL, NULL, f->now - 3600, f->now + 86400 * 365, NULL);
	X509 *other = mkcert(ok, NULL, NULL, f->now - 3600, f->now + 86400 * 365, NULL);
	X509 *node = foreign_node ? mkcert(nk, ok, other, f->now - 60, f->now + 3600, "spiffe://td.test/weft/node/n1")
				  : mkcert(nk, ck, ca, f->now - 60, f->now + 3600, "spiffe://td.test/weft/node/n1");
	X509 *w4 = mkcert(k4, ok, other, f->now - 60, f->now + 600, "spiffe://td.test/ns/d/sa/sa4");
	X509 *w1 = mkcert(k1, ck, ca, f->now - 60, f->now + 600, "spiffe://td.test/ns/a/sa/sa1");
	X509 *w2 = mkcert(k2, ck, ca, f->now - 600, f->now - 1, "spiffe://td.test/ns/b/sa/sa2");
	X509 *w3 = mkcert(k3, ck, ca, f->now - 60, f->now + 600, "spiffe://td.test/ns/a/sa/sa1");

	write_pem(f->dir, "bundle.pem", ca, NULL);
	write_pem(f->dir, "node-cert.pem", node, NULL);
	write_pem(f->dir, "node-key.pem", NULL, nk);
	write_pem(f->dir, "wl-a--sa1-cert.pem", w1, NULL);
	write_pem(f->dir, "wl-a--sa1-key.pem", NULL, k1);
	write_pem(f->dir, "wl-b--sa2-cert.pem", w2, NULL);
	write_pem(f->dir, "wl-b--sa2-key.pem", NULL, k2);
	write_pem(f->dir, "wl-c--sa3-cert.pem", w3, NULL);
	write_pem(f->dir, "wl-c--sa3-key.pem", NULL, k3);
	write_pem(f->dir, "wl-d--sa4-cert.pem", w4, NULL);
	write_pem(f->dir, "wl-d--sa4-key.pem", NULL, k4);
	X509_free(other);
	X509_free(w4);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(k4);
	X509_free(ca);
	X509_free(node);
	X509_free(w1);
	X509_free(w2);
	X509_free(w3);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(nk);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

static void write_state(fx_t *f)
{
	write_state_ex(f, false);
}

/* The rendered metrics of the fixture's registry (caller frees). */
static char *render(fx_t *f)
{
	weft_buf_t b;
	char *s;

	weft_buf_init(&b, 0);
	assert_int_equal(weft_metrics_render(&f->a.metrics, &b), 0);
	s = strndup((const char *)weft_buf_head(&b), weft_buf_len(&b));
	weft_buf_free(&b);
	assert_non_null(s);
	return s;
}

/* Skips while the credential functions of the tls branch are not linked
 * in (src/agent/pending_stubs.c); remove with the stubs. */
static bool have_creds(void)
{
	EVP_PKEY *k = weft_key_p256();

	EVP_PKEY_free(k);
	return k != NULL;
}

static void count_cb(void *arg, const weft_cred_t *c)
{
	(*(int *)arg)++;
}

static void test_persisted_load(void **st)
{
	fx_t *f = *st;
	struct weft_ident *id;
	weft_cred_t *c;
	int n = 0;

	if (!have_creds())
		skip();
	write_state(f);
	id = weft_ident_new_clock(&f->a, fake_now, f);
	assert_non_null(id);
	assert_false(weft_ident_need_join(id));
	assert_non_null(weft_ident_node_cred(id));
	assert_string_equal(weft_ident_node_cred(id)->id.node, "n1");
	assert_non_null(weft_ident_bundle(id));
	c = weft_ident_cred(id, "a", "sa1");
	assert_non_null(c);
	assert_string_equal(c->id.uri, "spiffe://td.test/ns/a/sa/sa1");
	/* expired and mislabelled files are discarded and deleted */
	assert_null(weft_ident_cred(id, "b", "sa2"));
	assert_null(weft_ident_cred(id, "c", "sa3"));
	assert_false(exists(f->dir, "wl-b--sa2-cert.pem"));
	assert_false(exists(f->dir, "wl-b--sa2-key.pem"));
	assert_false(exists(f->dir, "wl-c--sa3-cert.pem"));
	/* a workload credential of another CA does not chain to the bundle */
	assert_null(weft_ident_cred(id, "d", "sa4"));
	assert_false(exists(f->dir, "wl-d--sa4-cert.pem"));
	assert_false(exists(f->dir, "wl-d--sa4-key.pem"));
	assert_true(exists(f->dir, "wl-a--sa1-cert.pem"));
	weft_ident_each(id, count_cb, &n);
	assert_int_equal(n, 2);   /* node + a/sa1 */
	char *m = render(f);
	assert_non_null(strstr(m, "weft_agent_certs 2\n"));
	assert_non_null(strstr(m, "weft_agent_cert_expiry_timestamp_seconds{identity=\"spiffe://td.test/ns/a/sa/sa1\"} "));
	assert_non_null(strstr(m, "weft_agent_cert_expiry_timestamp_seconds{identity=\"spiffe://td.test/weft/node/n1\"} "));
	assert_null(strstr(m, "sa/sa4"));
	free(m);
	weft_ident_free(id);

	/* later, past a/sa1's expiry but within the node's: only the node stays */
	f->now += 1200;
	id = weft_ident_new_clock(&f->a, fake_now, f);
	assert_non_null(weft_ident_node_cred(id));
	assert_null(weft_ident_cred(id, "a", "sa1"));
	assert_false(exists(f->dir, "wl-a--sa1-key.pem"));
	weft_ident_free(id);

	/* past the node's expiry: a join is needed again */
	f->now += 7200;
	id = weft_ident_new_clock(&f->a, fake_now, f);
	assert_true(weft_ident_need_join(id));
	assert_false(exists(f->dir, "node-key.pem"));
	weft_ident_free(id);
}

/* A node credential that does not chain to the persisted bundle: nothing
 * of the state dir is trusted; a join is needed. */
static void test_foreign_node(void **st)
{
	fx_t *f = *st;
	struct weft_ident *id;

	if (!have_creds())
		skip();
	write_state_ex(f, true);
	id = weft_ident_new_clock(&f->a, fake_now, f);
	assert_non_null(id);
	assert_true(weft_ident_need_join(id));
	assert_null(weft_ident_bundle(id));
	assert_null(weft_ident_cred(id, "a", "sa1"));
	assert_false(exists(f->dir, "node-key.pem"));
	assert_false(exists(f->dir, "bundle.pem"));
	assert_false(exists(f->dir, "wl-a--sa1-key.pem"));
	weft_ident_free(id);
}

static void test_want_forgets(void **st)
{
	fx_t *f = *st;
	struct weft_ident *id;
	weft_av_t v;
	weft_av_workload_t w[1];

	if (!have_creds())
		skip();
	write_state(f);
	f->a.o.plaintext_xds = "127.0.0.1:1";   /* no CA calls from this test */
	id = weft_ident_new_clock(&f->a, fake_now, f);
	assert_non_null(weft_ident_cred(id, "a", "sa1"));
	memset(&v, 0, sizeof(v));
	memset(w, 0, sizeof(w));
	w[0].ns = "x";
	w[0].sa = "y";
	v.nworkloads = 1;
	v.workloads = w;
	char *m = render(f);
	assert_non_null(strstr(m, "{identity=\"spiffe://td.test/ns/a/sa/sa1\"}"));
	free(m);
	weft_ident_want(id, &v);
	/* a/sa1 is no longer on this node: dropped with its files and its
	 * expiry series */
	assert_null(weft_ident_cred(id, "a", "sa1"));
	assert_false(exists(f->dir, "wl-a--sa1-cert.pem"));
	m = render(f);
	assert_null(strstr(m, "sa/sa1"));
	assert_non_null(strstr(m, "{identity=\"spiffe://td.test/weft/node/n1\"}"));
	assert_non_null(strstr(m, "weft_agent_certs 1\n"));
	free(m);
	/* x/y is wanted but has no credential yet */
	assert_null(weft_ident_cred(id, "x", "y"));
	weft_ident_free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renew_schedule),
		cmocka_unit_test(test_rand_spread),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_token, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_persisted_load, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_node, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_want_forgets, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
