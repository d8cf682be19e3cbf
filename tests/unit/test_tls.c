/* Unit tests for peer verification (src/net/spiffe.c), credentials
 * (src/net/cred.c) and the TLS transport (src/net/tls.c): one bad
 * certificate per refusal reason, then real non-blocking handshakes over a
 * socketpair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "weft/net.h"
#include "weft/tls.h"
#include "tls_test_util.h"

#define TD "cluster.local"
#define W_ECHO "spiffe://cluster.local/ns/default/sa/echo"
#define W_OTHER "spiffe://cluster.local/ns/default/sa/other"
#define N_N1 "spiffe://cluster.local/weft/node/n1"
#define CTL "spiffe://cluster.local/weft/control"

typedef struct fx {
	EVP_PKEY *rkey, *fkey;
	X509 *root, *foreign;
	weft_bundle_t *bundle;
} fx_t;

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));

	f->root = tu_root(&f->rkey, "root");
	f->foreign = tu_root(&f->fkey, "foreign");
	f->bundle = tu_bundle(TD, f->root);
	*state = f;
	return f->bundle ? 0 : -1;
}

static int teardown(void **state)
{
	fx_t *f = *state;

	weft_bundle_unref(f->bundle);
	X509_free(f->root);
	X509_free(f->foreign);
	EVP_PKEY_free(f->rkey);
	EVP_PKEY_free(f->fkey);
	free(f);
	return 0;
}

/* Verifies a leaf made with o (issued by root, or by the foreign CA). */
static weft_peer_reason_t check(fx_t *f, const tu_opts_t *o, bool foreign, weft_id_kind_t kind,
				const char *expect, bool as_server, weft_spiffe_id_t *id)
{
	weft_peer_policy_t p = { .bundle = f->bundle, .kind = kind, .require_cert = true };
	EVP_PKEY *k = weft_key_p256();
	X509 *x = tu_cert(foreign ? f->foreign : f->root, foreign ? f->fkey : f->rkey, k, o);
	weft_spiffe_id_t tmp;
	char detail[300];
	weft_peer_reason_t r;

	if (expect)
		snprintf(p.expect, sizeof(p.expect), "%s", expect);
	r = weft_spiffe_verify(x, NULL, &p, as_server, time(NULL), id ? id : &tmp, detail, sizeof(detail));
	if (r != WEFT_PEER_OK)
		assert_true(detail[0] != '\0');   /* every refusal says why */
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

static void test_verify_reasons(void **state)
{
	fx_t *f = *state;
	weft_spiffe_id_t id;
	tu_opts_t o;

	/* the good one */
	o = (tu_opts_t){ .uri = { W_ECHO } };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, &id), WEFT_PEER_OK);
	assert_int_equal(id.kind, WEFT_ID_WORKLOAD);
	assert_string_equal(id.sa, "echo");
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, W_ECHO, false, NULL), WEFT_PEER_OK);
	/* wrong service account (expect) */
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, W_OTHER, true, NULL), WEFT_PEER_WRONG_ID);
	/* wrong trust domain */
	o = (tu_opts_t){ .uri = { "spiffe://other.td/ns/default/sa/echo" } };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_WRONG_TD);
	/* foreign CA */
	o = (tu_opts_t){ .uri = { W_ECHO } };
	assert_int_equal(check(f, &o, true, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_UNTRUSTED);
	/* expired, not yet valid */
	o = (tu_opts_t){ .uri = { W_ECHO }, .nb = -7200, .na = -3600 };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_EXPIRED);
	o = (tu_opts_t){ .uri = { W_ECHO }, .nb = 3600, .na = 7200 };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_NOT_YET_VALID);
	/* a CA certificate as leaf */
	o = (tu_opts_t){ .uri = { W_ECHO }, .ca = true };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_CA_LEAF);
	/* keyUsage without digitalSignature, and none at all */
	o = (tu_opts_t){ .uri = { W_ECHO }, .ku = "critical,keyEncipherment" };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_BAD_KEY_USAGE);
	o = (tu_opts_t){ .uri = { W_ECHO }, .ku = "" };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_BAD_KEY_USAGE);
	/* EKU: clientAuth missing (we are the server), serverAuth missing (client) */
	o = (tu_opts_t){ .uri = { W_ECHO }, .eku = "serverAuth" };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_NO_CLIENT_AUTH);
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, false, NULL), WEFT_PEER_OK);
	o = (tu_opts_t){ .uri = { W_ECHO }, .eku = "clientAuth" };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, false, NULL), WEFT_PEER_NO_SERVER_AUTH);
	/* two URI SANs, none */
	o = (tu_opts_t){ .uri = { W_ECHO, W_OTHER } };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_SAN_COUNT);
	o = (tu_opts_t){ .cn = "echo" };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_SAN_COUNT);
	/* not a SPIFFE ID we accept */
	o = (tu_opts_t){ .uri = { "spiffe://cluster.local/ns/default/sa/echo/extra" } };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_BAD_ID);
	/* a node certificate where a workload is expected, and the other way */
	o = (tu_opts_t){ .uri = { N_N1 } };
	assert_int_equal(check(f, &o, false, WEFT_ID_WORKLOAD, NULL, true, NULL), WEFT_PEER_WRONG_KIND);
	assert_int_equal(check(f, &o, false, WEFT_ID_NODE, NULL, true, &id), WEFT_PEER_OK);
	assert_string_equal(id.node, "n1");
	o = (tu_opts_t){ .uri = { W_ECHO } };
	assert_int_equal(check(f, &o, false, WEFT_ID_NODE, NULL, true, NULL), WEFT_PEER_WRONG_KIND);
	/* no certificate */
	{
		weft_peer_policy_t p = { .bundle = f->bundle };
		assert_int_equal(weft_spiffe_verify(NULL, NULL, &p, true, time(NULL), &id, NULL, 0),
				 WEFT_PEER_NO_CERT);
	}
}

static void test_verify_at_time(void **state)
{
	fx_t *f = *state;
	weft_peer_policy_t p = { .bundle = f->bundle, .kind = WEFT_ID_WORKLOAD };
	tu_opts_t o = { .uri = { W_ECHO } };
	EVP_PKEY *k = weft_key_p256();
	X509 *x = tu_cert(f->root, f->rkey, k, &o);
	weft_spiffe_id_t id;

	/* the same certificate, judged at three moments */
	assert_int_equal(weft_spiffe_verify(x, NULL, &p, true, time(NULL), &id, NULL, 0), WEFT_PEER_OK);
	assert_int_equal(weft_spiffe_verify(x, NULL, &p, true, time(NULL) + 7200, &id, NULL, 0),
			 WEFT_PEER_EXPIRED);
	assert_int_equal(weft_spiffe_verify(x, NULL, &p, true, time(NULL) - 7200, &id, NULL, 0),
			 WEFT_PEER_NOT_YET_VALID);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_intermediate_and_pin(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *ik = weft_key_p256(), *k = weft_key_p256();
	tu_opts_t io = { .ca = true, .cn = "intermediate" }, lo = { .uri = { CTL } };
	X509 *inter = tu_cert(f->root, f->rkey, ik, &io);
	X509 *leaf = tu_cert(inter, ik, k, &lo);
	STACK_OF(X509) *chain = sk_X509_new_null();
	weft_peer_policy_t p = { .bundle = f->bundle, .kind = WEFT_ID_CONTROL };
	weft_spiffe_id_t id;

	/* without the intermediate the leaf does not chain */
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0),
			 WEFT_PEER_UNTRUSTED);
	sk_X509_push(chain, inter);
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0), WEFT_PEER_OK);
	assert_int_equal(id.kind, WEFT_ID_CONTROL);

	/* pinned: the root must be in the presented chain and match the pin */
	p.bundle = NULL;
	p.use_pin = true;
	assert_int_equal(weft_spki_sha256(f->root, p.pin), WEFT_OK);
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0),
			 WEFT_PEER_UNTRUSTED);
	sk_X509_push(chain, f->root);
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0), WEFT_PEER_OK);
	p.pin[0] ^= 1;
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0),
			 WEFT_PEER_UNTRUSTED);
	p.pin[0] ^= 1;
	p.kind = WEFT_ID_WORKLOAD;   /* identity checks still apply */
	assert_int_equal(weft_spiffe_verify(leaf, chain, &p, false, time(NULL), &id, NULL, 0),
			 WEFT_PEER_WRONG_KIND);
	sk_X509_free(chain);
	X509_free(leaf);
	X509_free(inter);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(k);
}

static void test_cred_and_bundle(void **state)
{
	fx_t *f = *state;
	weft_cred_t *c = tu_cred(f->root, f->rkey, W_ECHO), *c2;
	char *chain, *key, err[256];
	size_t cl, kl;

	assert_non_null(c);
	assert_int_equal(c->id.kind, WEFT_ID_WORKLOAD);
	assert_true(c->not_after > c->not_before);
	assert_true(c->serial[0] != '\0');
	chain = weft_cred_chain_pem(c, &cl);
	key = weft_cred_key_pem(c, &kl);
	assert_non_null(chain);
	assert_non_null(key);
	c2 = weft_cred_from_pem(chain, cl, key, kl, err, sizeof(err));
	assert_non_null(c2);
	assert_string_equal(c2->id.uri, W_ECHO);
	weft_cred_unref(c2);
	/* a key that does not match */
	{
		weft_cred_t *o = tu_cred(f->root, f->rkey, W_OTHER);
		char *okey = weft_cred_key_pem(o, &kl);
		assert_null(weft_cred_from_pem(chain, cl, okey, kl, err, sizeof(err)));
		assert_non_null(strstr(err, "does not match"));
		free(okey);
		weft_cred_unref(o);
	}
	/* a bundle must hold CAs only; garbage is refused with a reason */
	assert_null(weft_bundle_from_pem(TD, chain, cl, err, sizeof(err)));
	assert_non_null(strstr(err, "not a CA"));
	assert_null(weft_bundle_from_pem(TD, "junk", 4, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_true(f->bundle->pem_len > 0);
	free(chain);
	free(key);
	weft_cred_unref(c);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/weft-tls-test-XXXXXX", path[128], *p;
	struct stat st;
	size_t len;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(weft_write_file_atomic(path, "hello", 5, 0600), WEFT_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	p = weft_read_file(path, 100, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_string_equal(p, "hello");
	free(p);
	assert_null(weft_read_file(path, 3, &len));
	assert_int_equal(errno, EFBIG);
	unlink(path);
	rmdir(dir);
}

/* ---- handshakes ---- */

typedef struct hs {
	fx_t *f;
	weft_cred_t *server_cred;
	int refused;
	weft_peer_reason_t why;
} hs_t;

static weft_cred_t *select_cb(void *ud, const char *sni)
{
	hs_t *h = ud;

	return !strcmp(sni, "control.weft") ? h->server_cred : NULL;
}

static void refused_cb(void *ud, weft_peer_reason_t why, const char *detail)
{
	hs_t *h = ud;

	h->refused++;
	h->why = why;
}

typedef struct pair {
	weft_tls_ctx_t *sctx, *cctx;
	weft_conn_t s, c;
	int fds[2];
} pair_t;

static void pair_open(pair_t *p, hs_t *sh, hs_t *ch, weft_id_kind_t server_wants, weft_cred_t *client_cred,
		      const char *sni, const char *expect)
{
	weft_tls_opts_t so = { .server = true, .select = select_cb, .on_refused = refused_cb, .ud = sh };
	weft_tls_opts_t co = { .server = false, .on_refused = refused_cb, .ud = ch };
	char err[256];

	so.peer = (weft_peer_policy_t){ .bundle = sh->f->bundle, .kind = server_wants, .require_cert = true };
	co.peer = (weft_peer_policy_t){ .bundle = sh->f->bundle, .kind = WEFT_ID_CONTROL, .require_cert = true };
	p->sctx = weft_tls_ctx_new(&so, err, sizeof(err));
	assert_non_null(p->sctx);
	p->cctx = weft_tls_ctx_new(&co, err, sizeof(err));
	assert_non_null(p->cctx);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
	memset(&p->s, 0, sizeof(p->s));
	memset(&p->c, 0, sizeof(p->c));
	p->s.fd = p->fds[0];
	p->s.xprt = &weft_xprt_tls;
	p->s.xprt_ctx = weft_tls_new(p->sctx, p->fds[0], NULL, NULL, NULL);
	p->c.fd = p->fds[1];
	p->c.xprt = &weft_xprt_tls;
	p->c.xprt_ctx = weft_tls_new(p->cctx, p->fds[1], client_cred, sni, expect);
	assert_non_null(p->s.xprt_ctx);
	assert_non_null(p->c.xprt_ctx);
}

static void pair_close(pair_t *p)
{
	weft_xprt_tls.close(&p->s);
	weft_xprt_tls.close(&p->c);
	weft_tls_ctx_free(p->sctx);
	weft_tls_ctx_free(p->cctx);
}

/* Moves data both ways until each side has read want bytes or something
 * fails. Returns the bytes the server and client read. */
static void pump(pair_t *p, const char *c2s, const char *s2c, char *sgot, size_t *sn, char *cgot,
		 size_t *cn, ssize_t *slast, ssize_t *clast)
{
	size_t csent = 0, ssent = 0;

	*sn = *cn = 0;
	*slast = *clast = WEFT_EAGAIN;
	for (int i = 0; i < 200; i++) {
		ssize_t n;
		if (csent < strlen(c2s) && *clast != WEFT_EFAIL) {
			n = weft_xprt_tls.send(&p->c, c2s + csent, strlen(c2s) - csent);
			if (n > 0)
				csent += (size_t)n;
			else if (n == WEFT_EFAIL)
				*clast = n;
		}
		if (*slast != WEFT_EFAIL) {
			n = weft_xprt_tls.recv(&p->s, sgot + *sn, 256 - *sn);
			if (n > 0)
				*sn += (size_t)n;
			if (n == WEFT_EFAIL || n == 0)
				*slast = n;
		}
		if (ssent < strlen(s2c) && *slast != WEFT_EFAIL) {
			n = weft_xprt_tls.send(&p->s, s2c + ssent, strlen(s2c) - ssent);
			if (n > 0)
				ssent += (size_t)n;
			else if (n == WEFT_EFAIL)
				*slast = n;
		}
		if (*clast != WEFT_EFAIL) {
			n = weft_xprt_tls.recv(&p->c, cgot + *cn, 256 - *cn);
			if (n > 0)
				*cn += (size_t)n;
			if (n == WEFT_EFAIL || n == 0)
				*clast = n;
		}
		if (*sn == strlen(c2s) && *cn == strlen(s2c))
			break;
		if (*slast == WEFT_EFAIL && *clast == WEFT_EFAIL)
			break;
	}
}

static void test_handshake_ok(void **state)
{
	fx_t *f = *state;
	hs_t sh = { .f = f }, ch = { .f = f };
	weft_cred_t *ccred = tu_cred(f->root, f->rkey, W_ECHO);
	pair_t p;
	char sgot[257], cgot[257];
	size_t sn, cn;
	ssize_t sl, cl;
	const weft_spiffe_id_t *pid;

	sh.server_cred = tu_cred(f->root, f->rkey, CTL);
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, ccred, "control.weft", CTL);
	/* before the client says anything, the server waits for input */
	assert_int_equal(weft_xprt_tls.send(&p.s, "x", 1), WEFT_EAGAIN);
	assert_false(weft_tls_wants_write(p.s.xprt_ctx));
	assert_false(weft_xprt_tls.want_write(&p.s));
	assert_null(weft_conn_peer_id(&p.s));
	pump(&p, "hello server", "hello client", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn, 12);
	assert_memory_equal(sgot, "hello server", 12);
	assert_int_equal(cn, 12);
	assert_memory_equal(cgot, "hello client", 12);
	pid = weft_conn_peer_id(&p.s);
	assert_non_null(pid);
	assert_string_equal(pid->uri, W_ECHO);
	pid = weft_conn_peer_id(&p.c);
	assert_non_null(pid);
	assert_string_equal(pid->uri, CTL);
	assert_string_equal(((weft_tls_t *)p.s.xprt_ctx)->sni, "control.weft");
	assert_int_equal(sh.refused + ch.refused, 0);
	/* an orderly close reads as EOF */
	SSL_shutdown(((weft_tls_t *)p.c.xprt_ctx)->ssl);
	assert_int_equal(weft_xprt_tls.recv(&p.s, sgot, 10), 0);
	pair_close(&p);
	weft_cred_unref(ccred);
	weft_cred_unref(sh.server_cred);
}

static void test_handshake_refused_by_server(void **state)
{
	fx_t *f = *state;
	hs_t sh = { .f = f }, ch = { .f = f };
	weft_cred_t *ccred = tu_cred(f->root, f->rkey, N_N1);   /* a node where a workload is wanted */
	pair_t p;
	char sgot[257], cgot[257];
	size_t sn, cn;
	ssize_t sl, cl;

	sh.server_cred = tu_cred(f->root, f->rkey, CTL);
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, ccred, "control.weft", NULL);
	pump(&p, "secret", "secret", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn, 0);   /* no application byte crossed */
	assert_int_equal(cn, 0);
	assert_int_equal(sl, WEFT_EFAIL);
	assert_int_equal(cl, WEFT_EFAIL);   /* the client got the alert */
	assert_int_equal(sh.refused, 1);
	assert_int_equal(sh.why, WEFT_PEER_WRONG_KIND);
	assert_true(((weft_tls_t *)p.s.xprt_ctx)->failed);
	assert_int_equal(((weft_tls_t *)p.s.xprt_ctx)->reason, WEFT_PEER_WRONG_KIND);
	assert_null(weft_conn_peer_id(&p.s));
	/* it stays failed */
	assert_int_equal(weft_xprt_tls.recv(&p.s, sgot, 10), WEFT_EFAIL);
	assert_int_equal(sh.refused, 1);
	pair_close(&p);
	weft_cred_unref(ccred);
	weft_cred_unref(sh.server_cred);
}

static void test_handshake_refused_by_client(void **state)
{
	fx_t *f = *state;
	hs_t sh = { .f = f }, ch = { .f = f };
	weft_cred_t *ccred = tu_cred(f->root, f->rkey, W_ECHO);
	pair_t p;
	char sgot[257], cgot[257];
	size_t sn, cn;
	ssize_t sl, cl;

	/* the server's certificate is a workload's, the client wants control */
	sh.server_cred = tu_cred(f->root, f->rkey, W_OTHER);
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, ccred, "control.weft", NULL);
	pump(&p, "secret", "secret", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn, 0);
	assert_int_equal(cn, 0);
	assert_int_equal(cl, WEFT_EFAIL);
	assert_int_equal(sl, WEFT_EFAIL);
	assert_int_equal(ch.refused, 1);
	assert_int_equal(ch.why, WEFT_PEER_WRONG_KIND);
	pair_close(&p);
	weft_cred_unref(sh.server_cred);

	/* an expected identity per connection */
	sh.server_cred = tu_cred(f->root, f->rkey, CTL);
	ch.refused = 0;
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, ccred, "control.weft",
		  "spiffe://cluster.local/weft/node/n2");
	pump(&p, "secret", "secret", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn + cn, 0);
	assert_int_equal(ch.refused, 1);
	assert_int_equal(ch.why, WEFT_PEER_WRONG_ID);
	pair_close(&p);
	weft_cred_unref(sh.server_cred);
	weft_cred_unref(ccred);
}

static void test_handshake_sni_and_no_cert(void **state)
{
	fx_t *f = *state;
	hs_t sh = { .f = f }, ch = { .f = f };
	pair_t p;
	char sgot[257], cgot[257];
	size_t sn, cn;
	ssize_t sl, cl;

	sh.server_cred = tu_cred(f->root, f->rkey, CTL);
	/* unknown server name: select returns NULL, the handshake fails */
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, NULL, "nobody.weft", NULL);
	pump(&p, "secret", "secret", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn + cn, 0);
	assert_int_equal(sl, WEFT_EFAIL);
	assert_int_equal(cl, WEFT_EFAIL);
	pair_close(&p);
	/* no client certificate where one is required */
	sh.refused = 0;
	pair_open(&p, &sh, &ch, WEFT_ID_WORKLOAD, NULL, "control.weft", NULL);
	pump(&p, "secret", "secret", sgot, &sn, cgot, &cn, &sl, &cl);
	assert_int_equal(sn + cn, 0);
	assert_int_equal(sl, WEFT_EFAIL);
	assert_int_equal(sh.refused, 1);
	assert_int_equal(sh.why, WEFT_PEER_NO_CERT);
	pair_close(&p);
	weft_cred_unref(sh.server_cred);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_reasons),
		cmocka_unit_test(test_verify_at_time),
		cmocka_unit_test(test_intermediate_and_pin),
		cmocka_unit_test(test_cred_and_bundle),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_handshake_ok),
		cmocka_unit_test(test_handshake_refused_by_server),
		cmocka_unit_test(test_handshake_refused_by_client),
		cmocka_unit_test(test_handshake_sni_and_no_cert),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
