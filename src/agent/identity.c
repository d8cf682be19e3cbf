/* weft agent — identities: the node credential (join, renewal), one
 * workload credential per (namespace, service account) the view needs,
 * and the trust bundle. Requests go to weft control's CA
 * (api/weft/ca/v1/ca.proto) over the control connection (controlc.c).
 *
 * Schedule: a credential is renewed at half its lifetime (counted from
 * when it arrived, as the CA backdates not_before), moved by up to ±10%
 * of the lifetime (so many agents do not renew at once); a failed
 * request is retried with exponential backoff (1 s .. 60 s, ±20% jitter)
 * while the still-valid credential stays in use. A credential that expires
 * before it could be renewed is dropped (counted): nothing ever falls back
 * to plaintext.
 *
 * Files in state_dir (keys mode 0600, written atomically):
 *   node-cert.pem, node-key.pem, bundle.pem
 *   wl-<ns>--<sa>-cert.pem, wl-<ns>--<sa>-key.pem
 * Loaded at start; expired (or unreadable) ones are deleted. A persisted
 * credential is only trusted when its certificate names the identity its
 * file name says and chains to the persisted bundle (verified as a peer
 * would: validity, key usage, SPIFFE ID in the bundle's trust domain).
 *
 * Metrics are telemetry.c's (weft_tm_metrics): the expiry timestamp per
 * held certificate (its series is removed when the certificate goes),
 * credentials held, issued, failed and expired counts. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "weft/agent.h"
#include "weft/grpc_client.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"
#include "weft/tls.h"
#include "weft/ca/v1/ca.pb-c.h"

#define CA_SIGN "/weft.ca.v1.Ca/Sign"
#define CA_JOIN "/weft.ca.v1.Ca/Join"
#define CA_TIMEOUT_MS 15000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define MAX_PEM (1u << 20)

struct weft_ident;

typedef struct ident_ent {
	struct weft_ident *id;
	struct ident_ent *next;
	bool node;                   /* the node credential (ns/sa empty) */
	char ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];
	weft_cred_t *cred;           /* current, may be NULL */
	EVP_PKEY *key;               /* the key of the request in flight */
	weft_grpc_ccall_t *call;     /* request in flight */
	weft_cred_t *got;            /* the answer being received */
	char why[640];               /* why the answer was refused */
	bool pending;                /* wants a request as soon as the connection is up */
	bool wanted;
	uint32_t backoff;            /* base delay (ms); 0 after a success */
	time_t renew_at;             /* wall clock */
	weft_timer_t timer;
	char gauge_id[WEFT_SPIFFE_MAX];   /* the identity label of the expiry series set, "" = none */
} ident_ent_t;

struct weft_ident {
	weft_agent_t *a;
	time_t (*now_fn)(void *);
	void *now_ud;
	ident_ent_t *node;           /* always present */
	ident_ent_t *wl;             /* workload entries */
	weft_bundle_t *bundle;
	char td[WEFT_TD_MAX];
	char *token;                 /* join token, NULL when none / spent */
	bool join_answered;          /* the CA answered a Join: never retry that token */
	weft_grpc_client_t *cl;      /* the control client, when up */
	const weft_tm_metrics_t *m;  /* telemetry's (all NULL without a->tm) */
};

static void ent_timer_cb(weft_loop_t *l, weft_timer_t *t);
static void ent_request(ident_ent_t *e);

/* ---- pure helpers ---- */

double weft_rand_pm1(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return ((double)((x * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53)) * 2.0 - 1.0;
}

time_t weft_ident_renew_at(time_t nb, time_t na, double r)
{
	double life = na > nb ? (double)(na - nb) : 0;

	if (r < -1)
		r = -1;
	if (r > 1)
		r = 1;
	return nb + (time_t)(life * 0.5 + r * life * 0.1);
}

uint32_t weft_backoff_next(uint32_t *base, uint32_t min_ms, uint32_t max_ms, double r)
{
	double d;

	if (*base < min_ms)
		*base = min_ms;
	else if (*base > max_ms / 2)
		*base = max_ms;
	else
		*base *= 2;
	if (r < -1)
		r = -1;
	if (r > 1)
		r = 1;
	d = (double)*base * (1.0 + 0.2 * r);
	if (d < min_ms)
		d = min_ms;
	if (d > max_ms)
		d = max_ms;
	return (uint32_t)d;
}

/* ---- helpers ---- */

static time_t now_s(const struct weft_ident *id)
{
	return id->now_fn ? id->now_fn(id->now_ud) : time(NULL);
}

static const char *ent_name(const ident_ent_t *e, char *buf, size_t len)
{
	if (e->node)
		snprintf(buf, len, "node");
	else
		snprintf(buf, len, "%s/%s", e->ns, e->sa);
	return buf;
}

static int ent_paths(const struct weft_ident *id, const ident_ent_t *e, char *cert, char *key, size_t len)
{
	int n1, n2;

	if (e->node) {
		n1 = snprintf(cert, len, "%s/node-cert.pem", id->a->o.state_dir);
		n2 = snprintf(key, len, "%s/node-key.pem", id->a->o.state_dir);
	} else {
		n1 = snprintf(cert, len, "%s/wl-%s--%s-cert.pem", id->a->o.state_dir, e->ns, e->sa);
		n2 = snprintf(key, len, "%s/wl-%s--%s-key.pem", id->a->o.state_dir, e->ns, e->sa);
	}
	return (n1 < 0 || (size_t)n1 >= len || n2 < 0 || (size_t)n2 >= len) ? WEFT_ELIMIT : WEFT_OK;
}

static void update_gauges(struct weft_ident *id)
{
	unsigned held = 0;

	for (ident_ent_t *e = id->node; e; e = e == id->node ? id->wl : e->next)
		if (e->cred)
			held++;
	weft_series_set(weft_metric_with(id->m->certs), held);
}

/* Points e's expiry series at its credential: set while one is held,
 * removed when it is gone (no series for identities without a
 * certificate). */
static void ent_set_expiry_gauge(ident_ent_t *e)
{
	weft_tm_t *tm = e->id->a->tm;

	if (e->gauge_id[0] && (!e->cred || strcmp(e->gauge_id, e->cred->id.uri))) {
		weft_tm_cert_drop(tm, e->gauge_id);
		e->gauge_id[0] = 0;
	}
	if (e->cred) {
		snprintf(e->gauge_id, sizeof(e->gauge_id), "%s", e->cred->id.uri);
		weft_tm_cert(tm, e->gauge_id, e->cred->not_after);
	}
}

/* Arms e's timer for wall time `at` (seconds). */
static void ent_arm_at(ident_ent_t *e, time_t at)
{
	time_t now = now_s(e->id);
	uint64_t ms = at > now ? (uint64_t)(at - now) * 1000 : 0;

	weft_timer_start(e->id->a->loop, &e->timer, ms);
}

/* Installs c (takes the reference) as e's credential and schedules the
 * renewal. fresh: just issued by the CA (notify the data path; the
 * lifetime counts from now, not from a backdated not_before: the CA
 * backdates for clock skew, which would otherwise move the half-life
 * renewal of a short certificate to right away). */
static void ent_install(ident_ent_t *e, weft_cred_t *c, bool fresh)
{
	weft_agent_t *a = e->id->a;
	bool notify = fresh;

	if (e->cred)
		weft_cred_unref(e->cred);
	e->cred = c;
	e->backoff = 0;
	if (c) {
		time_t nb = c->not_before, now = now_s(e->id);

		if (fresh && nb < now && now < c->not_after)
			nb = now;
		e->renew_at = weft_ident_renew_at(nb, c->not_after, weft_rand_pm1(&a->rnd));
		ent_arm_at(e, e->renew_at);
	}
	ent_set_expiry_gauge(e);
	update_gauges(e->id);
	if (notify && !e->node)
		weft_agent_cred_changed(a, e->ns, e->sa);
}

static void ent_unlink_files(struct weft_ident *id, ident_ent_t *e)
{
	char cp[4096], kp[4096];

	if (ent_paths(id, e, cp, kp, sizeof(cp)) == WEFT_OK) {
		unlink(cp);
		unlink(kp);
	}
}

/* Writes e's credential (chain, key) and, for the node, the bundle.
 * Returns WEFT_OK or WEFT_EFAIL (logged). */
static int ent_persist(struct weft_ident *id, ident_ent_t *e)
{
	char cp[4096], kp[4096], nm[WEFT_NAME_MAX * 2 + 2];
	size_t cl = 0, kl = 0;
	char *chain, *key;
	int rc = WEFT_EFAIL;

	if (!e->cred || ent_paths(id, e, cp, kp, sizeof(cp)) != WEFT_OK)
		return WEFT_EFAIL;
	chain = weft_cred_chain_pem(e->cred, &cl);
	key = weft_cred_key_pem(e->cred, &kl);
	if (chain && key && weft_write_file_atomic(kp, key, kl, 0600) == WEFT_OK &&
	    weft_write_file_atomic(cp, chain, cl, 0644) == WEFT_OK)
		rc = WEFT_OK;
	else
		weft_warn("ident", "%s: cannot persist credential in %s: %s", ent_name(e, nm, sizeof(nm)),
			  id->a->o.state_dir, strerror(errno));
	if (key)
		OPENSSL_cleanse(key, kl);
	free(chain);
	free(key);
	return rc;
}

static int persist_bundle(struct weft_ident *id)
{
	char p[4096];

	if (!id->bundle || snprintf(p, sizeof(p), "%s/bundle.pem", id->a->o.state_dir) >= (int)sizeof(p))
		return WEFT_EFAIL;
	if (weft_write_file_atomic(p, id->bundle->pem, id->bundle->pem_len, 0644) != WEFT_OK) {
		weft_warn("ident", "cannot persist the trust bundle in %s: %s", id->a->o.state_dir,
			  strerror(errno));
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

/* ---- loading ---- */

/* Whether c chains to bundle b as a peer presenting it would (validity
 * at the injected now, key usage, clientAuth: every issued certificate
 * has both EKUs, trust domain, kind). Returns NULL when it does, else why
 * (in detail). */
static const char *chain_check(struct weft_ident *id, const ident_ent_t *e, const weft_cred_t *c,
			       const weft_bundle_t *b, char *detail, size_t dl)
{
	weft_peer_policy_t pol;
	weft_spiffe_id_t sid;
	weft_peer_reason_t r;

	memset(&pol, 0, sizeof(pol));
	pol.bundle = b;
	pol.kind = e->node ? WEFT_ID_NODE : WEFT_ID_WORKLOAD;
	pol.require_cert = true;
	detail[0] = 0;
	r = weft_spiffe_verify(c->leaf, c->chain, &pol, true, now_s(id), &sid, detail, dl);
	if (r == WEFT_PEER_OK)
		return NULL;
	if (!detail[0])
		snprintf(detail, dl, "%s", weft_peer_reason_name(r));
	return detail;
}

/* Loads the credential of e from its files; with bundle b (non-NULL) it
 * must also chain to b. Returns the credential, or NULL (missing,
 * unreadable, expired, naming another identity, or not chaining to b:
 * the files are then deleted, except when simply missing). */
static weft_cred_t *load_cred(struct weft_ident *id, ident_ent_t *e, const weft_bundle_t *b)
{
	char cp[4096], kp[4096], err[256], nm[WEFT_NAME_MAX * 2 + 2], chk[256];
	size_t cl, kl;
	char *chain, *key;
	weft_cred_t *c = NULL;
	const char *why = NULL;

	if (ent_paths(id, e, cp, kp, sizeof(cp)) != WEFT_OK)
		return NULL;
	chain = weft_read_file(cp, MAX_PEM, &cl);
	key = weft_read_file(kp, MAX_PEM, &kl);
	if (!chain || !key) {
		if (chain || key)
			why = "half a credential (cert or key missing)";
		goto out;
	}
	c = weft_cred_from_pem(chain, cl, key, kl, err, sizeof(err));
	if (!c) {
		why = err;
	} else if (c->not_after <= now_s(id)) {
		why = "expired";
	} else if (e->node ? (c->id.kind != WEFT_ID_NODE || strcmp(c->id.node, id->a->o.node))
			   : (c->id.kind != WEFT_ID_WORKLOAD || strcmp(c->id.ns, e->ns) ||
			      strcmp(c->id.sa, e->sa))) {
		why = "names another identity";
	} else if (b && (why = chain_check(id, e, c, b, chk, sizeof(chk)))) {
		snprintf(err, sizeof(err), "does not chain to the persisted trust bundle: %.180s", chk);
		why = err;
	}
	if (why && c) {
		weft_cred_unref(c);
		c = NULL;
	}
out:
	if (key)
		OPENSSL_cleanse(key, kl);
	free(chain);
	free(key);
	if (why) {
		weft_warn("ident", "%s: discarding persisted credential: %s", ent_name(e, nm, sizeof(nm)), why);
		unlink(cp);
		unlink(kp);
	}
	return c;
}

static ident_ent_t *ent_new(struct weft_ident *id, bool node, const char *ns, const char *sa)
{
	ident_ent_t *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->id = id;
	e->node = node;
	if (!node) {
		snprintf(e->ns, sizeof(e->ns), "%s", ns);
		snprintf(e->sa, sizeof(e->sa), "%s", sa);
	}
	weft_timer_init(&e->timer, ent_timer_cb, e);
	return e;
}

static void ent_free(ident_ent_t *e)
{
	weft_timer_stop(e->id->a->loop, &e->timer);
	if (e->call) {
		e->call->ud = NULL;   /* the callbacks ignore it from now on */
		weft_grpc_call_cancel(e->call);
	}
	if (e->gauge_id[0])
		weft_tm_cert_drop(e->id->a->tm, e->gauge_id);
	if (e->cred)
		weft_cred_unref(e->cred);
	if (e->got)
		weft_cred_unref(e->got);
	EVP_PKEY_free(e->key);
	free(e);
}

static ident_ent_t *find_wl(struct weft_ident *id, const char *ns, const char *sa, ident_ent_t ***pp)
{
	ident_ent_t **p = &id->wl;

	for (; *p; p = &(*p)->next)
		if (!strcmp((*p)->ns, ns) && !strcmp((*p)->sa, sa))
			break;
	if (pp)
		*pp = p;
	return *p;
}

/* Splits "wl-<ns>--<sa>-cert.pem" (a file name). Returns true with ns/sa
 * filled. The first "--" separates: names have no "--" at the start. */
static bool split_wl_name(const char *fn, char *ns, size_t nslen, char *sa, size_t salen)
{
	static const char pre[] = "wl-", suf[] = "-cert.pem";
	size_t n = strlen(fn);
	const char *b, *sep;

	if (n <= sizeof(pre) - 1 + sizeof(suf) - 1 || strncmp(fn, pre, 3) ||
	    strcmp(fn + n - (sizeof(suf) - 1), suf))
		return false;
	b = fn + 3;
	n -= 3 + sizeof(suf) - 1;
	sep = memmem(b, n, "--", 2);
	if (!sep || sep == b || (size_t)(sep - b) >= nslen || n - (size_t)(sep - b) - 2 == 0 ||
	    n - (size_t)(sep - b) - 2 >= salen)
		return false;
	memcpy(ns, b, (size_t)(sep - b));
	ns[sep - b] = 0;
	memcpy(sa, sep + 2, n - (size_t)(sep - b) - 2);
	sa[n - (size_t)(sep - b) - 2] = 0;
	return true;
}

static void load_all(struct weft_ident *id)
{
	weft_cred_t *nc = load_cred(id, id->node, NULL);
	char p[4096], err[256];
	DIR *d;
	struct dirent *de;

	if (nc) {
		size_t bl;
		char *pem;

		snprintf(id->td, sizeof(id->td), "%s", nc->id.td);
		snprintf(p, sizeof(p), "%s/bundle.pem", id->a->o.state_dir);
		pem = weft_read_file(p, MAX_PEM, &bl);
		if (pem)
			id->bundle = weft_bundle_from_pem(id->td, pem, bl, err, sizeof(err));
		free(pem);
		if (!id->bundle) {
			/* a node credential is useless without the roots: join again */
			weft_warn("ident", "no usable trust bundle in %s: discarding the node credential",
				  id->a->o.state_dir);
			weft_cred_unref(nc);
			ent_unlink_files(id, id->node);
			nc = NULL;
		} else if (chain_check(id, id->node, nc, id->bundle, err, sizeof(err))) {
			/* files from another CA (or a tampered bundle): trust none of them */
			weft_warn("ident", "node: discarding persisted credential: does not chain to the "
				  "persisted trust bundle: %s", err);
			weft_cred_unref(nc);
			ent_unlink_files(id, id->node);
			unlink(p);
			weft_bundle_unref(id->bundle);
			id->bundle = NULL;
			nc = NULL;
		}
	}
	if (nc) {
		ent_install(id->node, nc, false);
		weft_info("ident", "node credential loaded (serial %s, expires in %lds)", nc->serial,
			  (long)(nc->not_after - now_s(id)));
	}
	d = opendir(id->a->o.state_dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];
		ident_ent_t *e, **pp;
		weft_cred_t *c;

		if (!split_wl_name(de->d_name, ns, sizeof(ns), sa, sizeof(sa)) || find_wl(id, ns, sa, &pp))
			continue;
		if (!(e = ent_new(id, false, ns, sa)))
			break;
		if (!nc || !(c = load_cred(id, e, id->bundle))) {
			if (!nc)
				ent_unlink_files(id, e);   /* issued to a node identity we no longer hold */
			ent_free(e);
			continue;
		}
		e->wanted = true;   /* until the first view says otherwise */
		*pp = e;
		ent_install(e, c, false);
		weft_info("ident", "%s/%s: credential loaded (serial %s)", ns, sa, c->serial);
	}
	closedir(d);
}

/* ---- public: lifetime ---- */

struct weft_ident *weft_ident_new_clock(weft_agent_t *a, time_t (*now)(void *), void *ud)
{
	struct weft_ident *id = calloc(1, sizeof(*id));

	if (!id)
		return NULL;
	id->a = a;
	id->now_fn = now;
	id->now_ud = ud;
	id->m = weft_tm_metrics(a->tm);
	if (!(id->node = ent_new(id, true, NULL, NULL))) {
		free(id);
		return NULL;
	}
	id->node->wanted = true;
	load_all(id);
	update_gauges(id);
	return id;
}

struct weft_ident *weft_ident_new(weft_agent_t *a)
{
	return weft_ident_new_clock(a, NULL, NULL);
}

void weft_ident_free(struct weft_ident *id)
{
	ident_ent_t *e, *n;

	if (!id)
		return;
	for (e = id->wl; e; e = n) {
		n = e->next;
		ent_free(e);
	}
	ent_free(id->node);
	if (id->bundle)
		weft_bundle_unref(id->bundle);
	if (id->token) {
		OPENSSL_cleanse(id->token, strlen(id->token));
		free(id->token);
	}
	free(id);
}

bool weft_ident_need_join(const struct weft_ident *id)
{
	return !id->node->cred;
}

int weft_ident_set_token(struct weft_ident *id, const char *tok, size_t len, uint8_t pin[32])
{
	const char *d1, *d2;
	uint8_t p[32];

	while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
		len--;
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || d1 == tok || d2 == d1 + 1 || (size_t)(tok + len - (d2 + 1)) != 64 ||
	    memchr(d2 + 1, '.', 64))
		return WEFT_EPROTO;
	for (size_t i = 0; i < len; i++)
		if (tok[i] <= ' ' || tok[i] > '~')
			return WEFT_EPROTO;
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			char ch = d2[1 + 2 * i + j];
			unsigned x;

			if (ch >= '0' && ch <= '9')
				x = (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				x = (unsigned)(ch - 'a' + 10);
			else if (ch >= 'A' && ch <= 'F')
				x = (unsigned)(ch - 'A' + 10);
			else
				return WEFT_EPROTO;
			v = v * 16 + x;
		}
		p[i] = (uint8_t)v;
	}
	free(id->token);
	if (!(id->token = strndup(tok, len)))
		return WEFT_ENOMEM;
	memcpy(pin, p, 32);
	return WEFT_OK;
}

/* ---- public: queries ---- */

weft_cred_t *weft_ident_cred(struct weft_ident *id, const char *ns, const char *sa)
{
	ident_ent_t *e = find_wl(id, ns, sa, NULL);

	return e ? e->cred : NULL;
}

weft_cred_t *weft_ident_node_cred(struct weft_ident *id)
{
	return id->node->cred;
}

const weft_bundle_t *weft_ident_bundle(struct weft_ident *id)
{
	return id->bundle;
}

void weft_ident_each(struct weft_ident *id, void (*fn)(void *arg, const weft_cred_t *c), void *arg)
{
	if (id->node->cred)
		fn(arg, id->node->cred);
	for (ident_ent_t *e = id->wl; e; e = e->next)
		if (e->cred)
			fn(arg, e->cred);
}

/* ---- wanting ---- */

void weft_ident_want(struct weft_ident *id, const weft_av_t *v)
{
	ident_ent_t *e, **pp;

	for (e = id->wl; e; e = e->next)
		e->wanted = false;
	for (size_t i = 0; v && i < v->nworkloads; i++) {
		const weft_av_workload_t *w = &v->workloads[i];

		if (!w->ns || !w->sa || !*w->ns || !*w->sa || strlen(w->ns) >= WEFT_NAME_MAX ||
		    strlen(w->sa) >= WEFT_NAME_MAX)
			continue;
		if ((e = find_wl(id, w->ns, w->sa, &pp))) {
			e->wanted = true;
			continue;
		}
		if (!(e = ent_new(id, false, w->ns, w->sa)))
			continue;
		e->wanted = true;
		*pp = e;
		weft_info("ident", "%s/%s: new identity on this node, requesting a certificate", w->ns, w->sa);
		ent_request(e);
	}
	for (pp = &id->wl; (e = *pp);) {
		if (e->wanted) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		weft_info("ident", "%s/%s: no workload with this identity on this node any more: dropped",
			  e->ns, e->sa);
		ent_unlink_files(id, e);
		ent_free(e);
	}
	update_gauges(id);
}

/* ---- requests ---- */

static void ent_fail(ident_ent_t *e, const char *why)
{
	struct weft_ident *id = e->id;
	char nm[WEFT_NAME_MAX * 2 + 2];
	uint32_t d = weft_backoff_next(&e->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS, weft_rand_pm1(&id->a->rnd));
	time_t now = now_s(id);

	weft_series_inc(weft_metric_with(id->m->cert_failures, e->node ? "node" : "workload"));
	weft_warn("ident", "%s: certificate request failed: %s (retry in %ums%s)", ent_name(e, nm, sizeof(nm)),
		  why, d, e->cred ? ", the current certificate stays in use" : "");
	/* never sleep past the expiry of the credential in use: it is dropped then */
	if (e->cred && e->cred->not_after > now && (uint64_t)(e->cred->not_after - now) * 1000 < d)
		weft_timer_start(id->a->loop, &e->timer, (uint64_t)(e->cred->not_after - now) * 1000);
	else
		weft_timer_start(id->a->loop, &e->timer, d);
}

/* Builds a credential from a CertResponse and the pending key. Returns
 * the credential or NULL with why filled. */
static weft_cred_t *cred_from_resp(ident_ent_t *e, const Weft__Ca__V1__CertResponse *r, char *why, size_t wl)
{
	struct weft_ident *id = e->id;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	weft_cred_t *c;
	char err[256];

	if (!e->key || r->n_cert_chain_pem == 0) {
		snprintf(why, wl, "empty certificate chain");
		return NULL;
	}
	for (size_t i = 0; i < r->n_cert_chain_pem; i++) {
		BIO *b = BIO_new_mem_buf(r->cert_chain_pem[i], -1);
		X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

		BIO_free(b);
		if (!x) {
			snprintf(why, wl, "certificate %zu of the chain is not PEM", i);
			goto bad;
		}
		if (i == 0) {
			leaf = x;
		} else if ((!chain && !(chain = sk_X509_new_null())) || !sk_X509_push(chain, x)) {
			X509_free(x);
			snprintf(why, wl, "no memory");
			goto bad;
		}
	}
	c = weft_cred_new(leaf, chain, e->key, err, sizeof(err));
	e->key = NULL;   /* owned (or freed) by weft_cred_new */
	if (!c) {
		snprintf(why, wl, "%s", err);
		return NULL;
	}
	if (e->node ? (c->id.kind != WEFT_ID_NODE || strcmp(c->id.node, id->a->o.node))
		    : (c->id.kind != WEFT_ID_WORKLOAD || strcmp(c->id.ns, e->ns) || strcmp(c->id.sa, e->sa))) {
		snprintf(why, wl, "the CA issued %.300s, not the identity asked for", c->id.uri);
		weft_cred_unref(c);
		return NULL;
	}
	return c;
bad:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return NULL;
}

/* Takes a new bundle from a CertResponse (when it differs). Returns
 * WEFT_OK or WEFT_EPROTO with why filled. */
static int take_bundle(struct weft_ident *id, const Weft__Ca__V1__CertResponse *r, const char *td,
		       char *why, size_t wl)
{
	weft_bundle_t *b;
	size_t n = strlen(r->bundle_pem);

	if (n == 0)
		return id->bundle ? WEFT_OK : (snprintf(why, wl, "no trust bundle in the answer"), WEFT_EPROTO);
	if (id->bundle && id->bundle->pem_len == n && !memcmp(id->bundle->pem, r->bundle_pem, n))
		return WEFT_OK;
	if (!(b = weft_bundle_from_pem(td, r->bundle_pem, n, why, wl)))
		return WEFT_EPROTO;
	if (id->bundle)
		weft_bundle_unref(id->bundle);
	id->bundle = b;
	persist_bundle(id);
	return WEFT_OK;
}

static int on_ca_message(weft_grpc_ccall_t *call, const uint8_t *p, size_t n)
{
	ident_ent_t *e = call->ud;
	Weft__Ca__V1__CertResponse *r;
	struct weft_ident *id;
	weft_cred_t *c;

	if (!e)
		return -1;
	id = e->id;
	if (e->node && !e->cred)
		id->join_answered = true;
	r = weft__ca__v1__cert_response__unpack(NULL, n, p);
	if (!r) {
		snprintf(e->why, sizeof(e->why), "undecodable CertResponse");
		return -1;
	}
	c = cred_from_resp(e, r, e->why, sizeof(e->why));
	if (c && take_bundle(id, r, c->id.td, e->why, sizeof(e->why)) != WEFT_OK) {
		weft_cred_unref(c);
		c = NULL;
	}
	if (c) {
		if (e->got)
			weft_cred_unref(e->got);
		e->got = c;
	}
	weft__ca__v1__cert_response__free_unpacked(r, NULL);
	return c ? 0 : -1;
}

static void on_ca_status(weft_grpc_ccall_t *call, int status, const char *msg)
{
	ident_ent_t *e = call->ud;
	struct weft_ident *id;
	char nm[WEFT_NAME_MAX * 2 + 2], why[700];
	bool join;
	weft_cred_t *c;

	if (!e)
		return;
	id = e->id;
	e->call = NULL;
	EVP_PKEY_free(e->key);
	e->key = NULL;
	c = e->got;
	e->got = NULL;
	join = e->node && !e->cred;
	if (status == 0 && c) {
		weft_controlc_healthy(id->a->ctl);
		snprintf(id->td, sizeof(id->td), "%s", c->id.td);
		ent_install(e, c, true);
		ent_persist(id, e);
		weft_series_inc(weft_metric_with(id->m->cert_issued, e->node ? "node" : "workload"));
		weft_info("ident", "%s: certificate %s (serial %s, valid %lds, renewal in %lds)",
			  ent_name(e, nm, sizeof(nm)), join ? "issued at join" : "issued", c->serial,
			  (long)(c->not_after - c->not_before), (long)(e->renew_at - now_s(id)));
		if (join) {
			if (id->token) {
				OPENSSL_cleanse(id->token, strlen(id->token));
				free(id->token);
				id->token = NULL;
			}
			/* the next connection presents the node certificate */
			weft_controlc_reconnect(id->a->ctl);
		}
		return;
	}
	if (c)
		weft_cred_unref(c);
	if (status == 0)
		snprintf(why, sizeof(why), "%s", e->why[0] ? e->why : "no certificate in the answer");
	else if (e->why[0])
		snprintf(why, sizeof(why), "%s", e->why);
	else
		snprintf(why, sizeof(why), "grpc-status %d: %.600s", status, msg && *msg ? msg : "(no message)");
	e->why[0] = 0;
	/* UNAVAILABLE (14) and DEADLINE_EXCEEDED (4) are transport failures: the
	 * CA may not have seen the request */
	if (join && (id->join_answered || (status != 14 && status != 4))) {
		weft_err("ident", "join refused by the CA: %s; a token is used only once: create a new one "
			 "with `weft control token create --node %s`", why, id->a->o.node);
		if (id->token) {
			OPENSSL_cleanse(id->token, strlen(id->token));
			free(id->token);
			id->token = NULL;
		}
		weft_series_inc(weft_metric_with(id->m->cert_failures, "node"));
		weft_agent_fatal(id->a, 1);
		return;
	}
	ent_fail(e, why);
}

static const weft_grpc_ccall_cbs_t ca_cbs = { on_ca_message, on_ca_status };

/* Starts a Join / Sign for e, or marks it pending when the connection is
 * down. */
static void ent_request(ident_ent_t *e)
{
	struct weft_ident *id = e->id;
	char nm[WEFT_NAME_MAX * 2 + 2];
	size_t cl;
	char *csr;
	int rc;

	if (e->call || id->a->o.plaintext_xds)
		return;
	if (!e->node && !id->node->cred) {
		e->pending = true;   /* after the join */
		return;
	}
	if (e->node && !e->cred && (!id->token || id->join_answered))
		return;
	if (!id->cl) {
		e->pending = true;
		return;
	}
	e->pending = false;
	e->why[0] = 0;
	EVP_PKEY_free(e->key);
	if (!(e->key = weft_key_p256()) || !(csr = weft_csr_pem(e->key, &cl))) {
		ent_fail(e, "cannot make a key and CSR");
		return;
	}
	if (e->node && !e->cred) {
		Weft__Ca__V1__JoinRequest jr = WEFT__CA__V1__JOIN_REQUEST__INIT;

		jr.token = id->token;
		jr.node = (char *)id->a->o.node;
		jr.csr_pem = csr;
		e->call = weft_grpc_call_start(id->cl, CA_JOIN, CA_TIMEOUT_MS, &ca_cbs, e);
		rc = e->call ? weft_grpc_call_send_pb(e->call, &jr.base) : WEFT_ECLOSED;
		weft_info("ident", "joining as node %s", id->a->o.node);
	} else {
		Weft__Ca__V1__SignRequest sr = WEFT__CA__V1__SIGN_REQUEST__INIT;

		sr.csr_pem = csr;
		sr.node = e->node;
		if (!e->node) {
			sr.namespace_ = e->ns;
			sr.service_account = e->sa;
			sr.ttl_seconds = id->a->o.cert_ttl_s;
		}
		e->call = weft_grpc_call_start(id->cl, CA_SIGN, CA_TIMEOUT_MS, &ca_cbs, e);
		rc = e->call ? weft_grpc_call_send_pb(e->call, &sr.base) : WEFT_ECLOSED;
		weft_debug("ident", "%s: Sign sent", ent_name(e, nm, sizeof(nm)));
	}
	free(csr);
	if (!e->call) {
		e->pending = true;
		return;
	}
	if (rc != WEFT_OK) {
		e->call->ud = NULL;
		weft_grpc_call_cancel(e->call);
		e->call = NULL;
		ent_fail(e, "cannot send the request");
		return;
	}
	weft_grpc_call_close_send(e->call);
}

static void ent_timer_cb(weft_loop_t *l, weft_timer_t *t)
{
	ident_ent_t *e = t->data;
	struct weft_ident *id = e->id;
	char nm[WEFT_NAME_MAX * 2 + 2];

	if (e->cred && e->cred->not_after <= now_s(id)) {
		weft_warn("ident", "%s: certificate %s expired before it could be renewed: dropped",
			  ent_name(e, nm, sizeof(nm)), e->cred->serial);
		weft_series_inc(weft_metric_with(id->m->cert_expired));
		weft_cred_unref(e->cred);
		e->cred = NULL;
		ent_unlink_files(id, e);
		ent_set_expiry_gauge(e);
		update_gauges(id);
		if (!e->node)
			weft_agent_cred_changed(id->a, e->ns, e->sa);
	}
	ent_request(e);
}

void weft_ident_connected(struct weft_ident *id, weft_grpc_client_t *cl)
{
	id->cl = cl;
	if (!cl)
		return;
	if (id->node->pending || !id->node->cred)
		ent_request(id->node);
	if (!id->node->cred)
		return;
	for (ident_ent_t *e = id->wl; e; e = e->next)
		if ((e->pending || !e->cred) && !e->call)
			ent_request(e);
}
