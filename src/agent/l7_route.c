/* weft — L7 route selection (HTTPRoute / GRPCRoute rules on a service
 * port), weighted backend choice, and the request/response filters
 * (header modifiers, URL rewrite, redirect).
 *
 * Regular expressions: RE2 syntax on POSIX ERE through the translation
 * the control plane validated them with (weft_regex_to_ere,
 * src/core/regex.c); a match is a full match, as Envoy's safe_regex.
 * Compiled expressions live in a small per-thread side table keyed by the
 * pattern's bytes (not by pointer: views come and go and their arenas
 * reuse addresses), so each pattern is compiled once while it stays among
 * the RX_SLOTS most recently used; an evicted slot is regfree'd, and
 * weft_l7_regex_cache_clear() frees the table. The table is only a memo:
 * results never depend on it. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/http.h"
#include "weft/l7.h"
#include "weft/regex.h"
#include "weft/str.h"

/* ---- regular expressions ---- */

#define RX_SLOTS 64

typedef struct rx_slot {
	char *pat;            /* the RE2 text (NUL-terminated copy) */
	size_t len;
	uint64_t hash;
	uint64_t used;        /* last use tick */
	bool ok;              /* compiled; false: the pattern does not compile */
	regex_t rx;
} rx_slot_t;

typedef struct rx_cache {
	rx_slot_t slot[RX_SLOTS];
	uint64_t tick;
} rx_cache_t;

static __thread rx_cache_t *rx_tls;

static rx_slot_t *rx_get(weft_str_t re)
{
	rx_cache_t *c = rx_tls;
	uint64_t h = weft_fnv1a64(0xcbf29ce484222325ull, re.p, re.len);
	rx_slot_t *victim;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		rx_tls = c;
	}
	victim = &c->slot[0];
	for (size_t i = 0; i < RX_SLOTS; i++) {
		rx_slot_t *s = &c->slot[i];
		if (s->pat && s->hash == h && s->len == re.len && !memcmp(s->pat, re.p, re.len)) {
			s->used = ++c->tick;
			return s;
		}
		if (!s->pat || (victim->pat && s->used < victim->used))
			victim = s;
	}
	char *pat = malloc(re.len + 1), *ere = NULL, why[128];
	bool icase = false;
	if (!pat)
		return NULL;
	if (victim->pat) {
		if (victim->ok)
			regfree(&victim->rx);
		free(victim->pat);
	}
	memcpy(pat, re.p, re.len);
	pat[re.len] = '\0';
	victim->pat = pat;
	victim->len = re.len;
	victim->hash = h;
	victim->used = ++c->tick;
	victim->ok = weft_regex_to_ere(re, &ere, &icase, why, sizeof(why)) == 0 &&
		     regcomp(&victim->rx, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) == 0;
	free(ere);
	return victim;
}

bool weft_l7_regex_match(weft_str_t re, weft_str_t v)
{
	rx_slot_t *s = rx_get(re);
	char stack[512], *buf = stack;
	bool yes;

	if (!s || !s->ok || (v.len && memchr(v.p, '\0', v.len)))
		return false;
	if (v.len >= sizeof(stack)) {
		buf = malloc(v.len + 1);
		if (!buf)
			return false;
	}
	if (v.len)
		memcpy(buf, v.p, v.len);
	buf[v.len] = '\0';
	yes = regexec(&s->rx, buf, 0, NULL, 0) == 0;
	if (buf != stack)
		free(buf);
	return yes;
}

void weft_l7_regex_cache_clear(void)
{
	rx_cache_t *c = rx_tls;

	if (!c)
		return;
	for (size_t i = 0; i < RX_SLOTS; i++) {
		if (!c->slot[i].pat)
			continue;
		if (c->slot[i].ok)
			regfree(&c->slot[i].rx);
		free(c->slot[i].pat);
	}
	free(c);
	rx_tls = NULL;
}

/* ---- request pieces ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The path without the query. */
static weft_str_t path_only(weft_str_t p)
{
	const char *q = p.len ? memchr(p.p, '?', p.len) : NULL;

	return q ? weft_str(p.p, (size_t)(q - p.p)) : p;
}

/* The query after '?', or an empty string with p NULL. */
static weft_str_t query_of(weft_str_t p)
{
	const char *q = p.len ? memchr(p.p, '?', p.len) : NULL;

	return q ? weft_str(q + 1, p.len - (size_t)(q - p.p) - 1) : weft_str(NULL, 0);
}

/* The authority's host: without the port; "[v6]" keeps its brackets. */
static weft_str_t authority_host(weft_str_t a)
{
	if (!a.len)
		return a;
	if (a.p[0] == '[') {
		const char *e = memchr(a.p, ']', a.len);
		return e ? weft_str(a.p, (size_t)(e - a.p) + 1) : a;
	}
	const char *c = memchr(a.p, ':', a.len);
	return c ? weft_str(a.p, (size_t)(c - a.p)) : a;
}

/* The authority's port digits (empty when none). */
static weft_str_t authority_port(weft_str_t a)
{
	weft_str_t h = authority_host(a);

	if (h.len < a.len && a.p[h.len] == ':')
		return weft_str(a.p + h.len + 1, a.len - h.len - 1);
	return weft_str(NULL, 0);
}

static bool match_value(weft_match_type_t t, weft_str_t want, weft_str_t v)
{
	if (t == WEFT_MATCH_REGEX)
		return weft_l7_regex_match(want, v);
	return weft_str_eq(want, v);
}

/* ---- hostname ---- */

/* How well hostname pattern pat fits host (case-insensitive): 0 no match,
 * else a rank where exact names beat wildcards and longer beats shorter.
 * "*.example.com" needs at least one label before the suffix. */
static uint64_t host_rank(const char *pat, weft_str_t host)
{
	size_t pl = strlen(pat);

	if (pl > 1 && pat[0] == '*' && pat[1] == '.') {
		size_t sl = pl - 1;   /* ".example.com" */
		if (host.len <= sl)
			return 0;
		for (size_t i = 0; i < sl; i++)
			if (lower(host.p[host.len - sl + i]) != lower(pat[1 + i]))
				return 0;
		return 1 + pl;
	}
	if (pl != host.len)
		return 0;
	for (size_t i = 0; i < pl; i++)
		if (lower(host.p[i]) != lower(pat[i]))
			return 0;
	return ((uint64_t)1 << 32) + pl;
}

/* ---- matches ---- */

/* PathPrefix, element-wise: "/foo" (or "/foo/") matches "/foo", "/foo/"
 * and "/foo/bar", never "/foobar". */
static bool prefix_match(weft_str_t prefix, weft_str_t path)
{
	if (prefix.len && prefix.p[prefix.len - 1] == '/')
		prefix.len--;
	if (prefix.len == 0)
		return path.len > 0 && path.p[0] == '/';
	if (path.len < prefix.len || memcmp(path.p, prefix.p, prefix.len))
		return false;
	return path.len == prefix.len || path.p[prefix.len] == '/';
}

/* The first value of query parameter name (raw, not percent-decoded). */
static bool query_param(weft_str_t q, weft_str_t name, weft_str_t *value)
{
	size_t i = 0;

	while (q.p && i <= q.len) {
		size_t s = i;
		while (i < q.len && q.p[i] != '&')
			i++;
		weft_str_t kv = weft_str(q.p + s, i - s);
		const char *eq = memchr(kv.p, '=', kv.len);
		weft_str_t k = eq ? weft_str(kv.p, (size_t)(eq - kv.p)) : kv;
		if (weft_str_eq(k, name)) {
			*value = eq ? weft_str(eq + 1, kv.len - k.len - 1) : weft_str("", 0);
			return true;
		}
		i++;
	}
	return false;
}

static bool header_match(const weft_str_match_t *m, const weft_http_head_t *h)
{
	for (size_t i = 0; i < h->nhdrs; i++)
		if (weft_str_ieq(h->hdrs[i].name, m->name) && match_value(m->type, m->value, h->hdrs[i].value))
			return true;
	return false;
}

/* Ranks of a matching (rule, match): bigger wins, field by field. */
typedef struct rank {
	uint64_t host;        /* host_rank, 0 for a rule without hostnames */
	unsigned path_kind;   /* 3 exact, 2 prefix, 1 regex */
	size_t path_len;      /* prefix length */
	size_t nheaders, nquery;
	unsigned method;
} rank_t;

/* gRPC: "/<service>/<method>" of path p. */
static bool grpc_split(weft_str_t p, weft_str_t *svc, weft_str_t *meth)
{
	if (p.len < 3 || p.p[0] != '/')
		return false;
	const char *s = memchr(p.p + 1, '/', p.len - 1);
	if (!s || memchr(s + 1, '/', p.len - (size_t)(s + 1 - p.p)))
		return false;
	*svc = weft_str(p.p + 1, (size_t)(s - p.p - 1));
	*meth = weft_str(s + 1, p.len - (size_t)(s + 1 - p.p));
	return svc->len && meth->len;
}

/* Whether m (NULL: a rule without matches) takes the request; fills the
 * path and header parts of *rk. */
static bool match_ok(const weft_av_route_rule_t *r, const weft_route_match_t *m,
		     const weft_http_head_t *h, rank_t *rk)
{
	weft_str_t path = path_only(h->path), q = query_of(h->path);

	rk->path_kind = 2;
	rk->path_len = 1;
	rk->nheaders = rk->nquery = 0;
	rk->method = 0;
	if (!m)
		return true;
	if (r->kind == WEFT_ROUTE_GRPC) {
		weft_str_t svc, meth;
		if (m->grpc_type != WEFT_MATCH_NONE) {
			if (!grpc_split(path, &svc, &meth))
				return false;
			if (m->grpc_service.len && !match_value(m->grpc_type, m->grpc_service, svc))
				return false;
			if (m->grpc_method.len && !match_value(m->grpc_type, m->grpc_method, meth))
				return false;
			if (m->grpc_type == WEFT_MATCH_REGEX) {
				rk->path_kind = 1;
			} else if (m->grpc_service.len && m->grpc_method.len) {
				rk->path_kind = 3;
			} else {
				rk->path_kind = 2;
				rk->path_len = 2 + m->grpc_service.len + m->grpc_method.len;
			}
		}
	} else {
		switch (m->path_type) {
		case WEFT_MATCH_EXACT:
			if (!weft_str_eq(m->path, path))
				return false;
			rk->path_kind = 3;
			rk->path_len = m->path.len;
			break;
		case WEFT_MATCH_PREFIX:
			if (!prefix_match(m->path, path))
				return false;
			rk->path_len = m->path.len;
			break;
		case WEFT_MATCH_REGEX:
			if (!weft_l7_regex_match(m->path, path))
				return false;
			rk->path_kind = 1;
			rk->path_len = 0;
			break;
		default:
			break;
		}
		if (m->method.len) {
			if (!weft_str_eq(m->method, h->method))
				return false;
			rk->method = 1;
		}
		for (size_t i = 0; i < m->nquery; i++) {
			weft_str_t v;
			if (!query_param(q, m->query[i].name, &v) || !match_value(m->query[i].type, m->query[i].value, v))
				return false;
		}
		rk->nquery = m->nquery;
	}
	for (size_t i = 0; i < m->nheaders; i++)
		if (!header_match(&m->headers[i], h))
			return false;
	rk->nheaders = m->nheaders;
	return true;
}

/* <0, 0, >0 as a ranks below, equal to, above b. */
static int rank_cmp(const rank_t *a, const rank_t *b)
{
#define CMP(f) if (a->f != b->f) return a->f < b->f ? -1 : 1
	CMP(host);
	CMP(path_kind);
	CMP(path_len);
	CMP(nheaders);
	CMP(nquery);
	CMP(method);
#undef CMP
	return 0;
}

int weft_l7_route_select(const weft_av_port_t *port, const weft_http_head_t *h,
			 weft_l7_route_sel_t *sel)
{
	weft_str_t host = authority_host(h->authority);
	const weft_av_route_rule_t *best = NULL;
	rank_t best_rk = { 0 };
	int best_m = -1;

	if (!port->nrules)
		return WEFT_EFAIL;
	for (size_t i = 0; i < port->nrules; i++) {
		const weft_av_route_rule_t *r = &port->rules[i];
		rank_t rk = { 0 };

		if (r->nhostnames) {
			for (size_t k = 0; k < r->nhostnames; k++) {
				uint64_t hr = host_rank(r->hostnames[k], host);
				if (hr > rk.host)
					rk.host = hr;
			}
			if (!rk.host)
				continue;
		}
		size_t n = r->nmatches ? r->nmatches : 1;
		for (size_t j = 0; j < n; j++) {
			const weft_route_match_t *m = r->nmatches ? &r->matches[j] : NULL;
			if (!match_ok(r, m, h, &rk))
				continue;
			/* strictly better only: ties keep the older route, then
			 * the earlier rule (rules come in route order, then rule
			 * order) */
			int c = best ? rank_cmp(&rk, &best_rk) : 1;
			if (c > 0 || (c == 0 && r->route_order < best->route_order)) {
				best = r;
				best_rk = rk;
				best_m = m ? (int)j : -1;
			}
		}
	}
	if (!best)
		return WEFT_EAGAIN;
	sel->rule = best;
	sel->match = best_m;
	return WEFT_OK;
}

/* ---- backends ---- */

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

const weft_av_backend_t *weft_l7_backend_pick(const weft_av_route_rule_t *r, uint64_t *rnd)
{
	uint64_t total = 0, x;

	for (size_t i = 0; i < r->nbackends; i++)
		total += r->backends[i].weight;
	if (!total)
		return NULL;
	x = next_rand(rnd) % total;
	for (size_t i = 0; i < r->nbackends; i++) {
		if (x < r->backends[i].weight)
			return &r->backends[i];
		x -= r->backends[i].weight;
	}
	return NULL;
}

/* ---- filters ---- */

static int header_mod(weft_hmsg_t *msg, const weft_header_mod_t *hm)
{
	for (size_t i = 0; i < hm->nset; i++)
		if (weft_hmsg_set(msg, hm->set[i].key, hm->set[i].value) != WEFT_OK)
			return WEFT_ENOMEM;
	for (size_t i = 0; i < hm->nadd; i++)
		if (weft_hmsg_add(msg, hm->add[i].key, hm->add[i].value) != WEFT_OK)
			return WEFT_ENOMEM;
	for (size_t i = 0; i < hm->nremove; i++)
		weft_hmsg_remove(msg, hm->remove[i]);
	return WEFT_OK;
}

/* The prefix the selected match matched on, for ReplacePrefixMatch: the
 * PathPrefix value, "/" for a match without a path; false for exact or
 * regex matches (the path is then left alone). */
static bool matched_prefix(const weft_l7_route_sel_t *sel, weft_str_t *prefix)
{
	const weft_route_match_t *m = sel->match >= 0 && (size_t)sel->match < sel->rule->nmatches
					      ? &sel->rule->matches[sel->match]
					      : NULL;

	if (!m || m->path_type == WEFT_MATCH_NONE) {
		*prefix = weft_str("/", 1);
		return true;
	}
	if (m->path_type != WEFT_MATCH_PREFIX)
		return false;
	*prefix = m->path;
	return true;
}

/* The new path (with the request's query) for a path modifier, in arena.
 * Gateway API's ReplacePrefixMatch: trailing slashes of the prefix and of
 * the replacement do not count, so "/foo" -> "/xyz" maps "/foo/bar" to
 * "/xyz/bar", "/foo" to "/xyz", and a replacement "/" maps "/foo/bar" to
 * "/bar" and "/foo" to "/". Returns the path, or p NULL when unchanged
 * (or memory ran out: *oom). */
static weft_str_t new_path(const weft_l7_route_sel_t *sel, weft_path_mod_t mod, weft_str_t repl,
			   weft_str_t cur, weft_arena_t *a, bool *oom)
{
	weft_str_t path = path_only(cur), q = query_of(cur), rest, prefix;
	char *out;

	if (mod == WEFT_PATH_MOD_FULL) {
		rest = weft_str("", 0);
	} else if (mod == WEFT_PATH_MOD_PREFIX && matched_prefix(sel, &prefix)) {
		if (prefix.len && prefix.p[prefix.len - 1] == '/')
			prefix.len--;
		if (repl.len && repl.p[repl.len - 1] == '/')
			repl.len--;
		rest = path.len >= prefix.len ? weft_str(path.p + prefix.len, path.len - prefix.len)
					      : weft_str("", 0);
	} else {
		return weft_str(NULL, 0);
	}
	out = weft_arena_printf(a, "%.*s%.*s%s%.*s", (int)repl.len, repl.p ? repl.p : "", (int)rest.len,
				rest.p ? rest.p : "", q.p ? "?" : "", (int)q.len, q.p ? q.p : "");
	if (!out) {
		*oom = true;
		return weft_str(NULL, 0);
	}
	if (out[0] == '\0' || out[0] == '?') {
		out = weft_arena_printf(a, "/%s", out);
		if (!out) {
			*oom = true;
			return weft_str(NULL, 0);
		}
	}
	return weft_str_c(out);
}

static int url_rewrite(const weft_l7_route_sel_t *sel, const weft_filter_t *f, weft_hmsg_t *req)
{
	bool oom = false;

	if (f->rewrite.hostname.len &&
	    weft_hmsg_str(req, &req->h.authority, f->rewrite.hostname) != WEFT_OK)
		return WEFT_ENOMEM;
	weft_str_t p = new_path(sel, f->rewrite.path_mod, f->rewrite.path, req->h.path, req->arena, &oom);
	if (oom)
		return WEFT_ENOMEM;
	if (p.p)
		req->h.path = p;
	return WEFT_OK;
}

static int redirect(const weft_l7_route_sel_t *sel, const weft_filter_t *f, weft_hmsg_t *req,
		    weft_l7_redirect_t *redir)
{
	weft_str_t scheme = f->redirect.scheme.len ? f->redirect.scheme
			    : req->h.scheme.len    ? req->h.scheme
						   : weft_str("http", 4);
	weft_str_t host = f->redirect.hostname.len ? f->redirect.hostname : authority_host(req->h.authority);
	weft_str_t path;
	char port[8] = "";
	bool oom = false;

	/* port: the filter's; else the scheme's well-known one when the
	 * scheme changes; else the request's. Omitted when well known. */
	if (f->redirect.port)
		snprintf(port, sizeof(port), "%u", f->redirect.port);
	else if (!f->redirect.scheme.len) {
		weft_str_t rp = authority_port(req->h.authority);
		if (rp.len && rp.len < sizeof(port))
			snprintf(port, sizeof(port), "%.*s", (int)rp.len, rp.p);
	}
	if ((weft_str_eq_c(scheme, "http") && !strcmp(port, "80")) ||
	    (weft_str_eq_c(scheme, "https") && !strcmp(port, "443")))
		port[0] = '\0';
	path = new_path(sel, f->redirect.path_mod, f->redirect.path, req->h.path, req->arena, &oom);
	if (oom)
		return WEFT_ENOMEM;
	if (!path.p)
		path = req->h.path.len ? req->h.path : weft_str("/", 1);
	char *loc = weft_arena_printf(req->arena, "%.*s://%.*s%s%s%.*s", (int)scheme.len, scheme.p,
				      (int)host.len, host.p ? host.p : "", port[0] ? ":" : "", port,
				      (int)path.len, path.p);
	if (!loc)
		return WEFT_ENOMEM;
	redir->status = f->redirect.status ? f->redirect.status : 301;
	redir->location = weft_str_c(loc);
	return WEFT_OK;
}

int weft_l7_request_filters(const weft_l7_route_sel_t *sel, weft_hmsg_t *req,
			    weft_l7_redirect_t *redir)
{
	const weft_av_route_rule_t *r = sel->rule;
	int rc = WEFT_OK;

	redir->status = 0;
	redir->location = weft_str(NULL, 0);
	for (size_t i = 0; r && i < r->nfilters && rc == WEFT_OK; i++) {
		const weft_filter_t *f = &r->filters[i];
		switch (f->type) {
		case WEFT_FILTER_REQUEST_HEADER:
			rc = header_mod(req, &f->headers);
			break;
		case WEFT_FILTER_URL_REWRITE:
			rc = url_rewrite(sel, f, req);
			break;
		case WEFT_FILTER_REDIRECT:
			rc = redirect(sel, f, req, redir);
			break;
		default:
			break;
		}
	}
	return rc;
}

int weft_l7_response_filters(const weft_l7_route_sel_t *sel, weft_hmsg_t *resp)
{
	const weft_av_route_rule_t *r = sel->rule;

	for (size_t i = 0; r && i < r->nfilters; i++)
		if (r->filters[i].type == WEFT_FILTER_RESPONSE_HEADER &&
		    header_mod(resp, &r->filters[i].headers) != WEFT_OK)
			return WEFT_ENOMEM;
	return WEFT_OK;
}

size_t weft_l7_mirrors(const weft_av_route_rule_t *r, const weft_filter_t **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nfilters && n < max; i++)
		if (r->filters[i].type == WEFT_FILTER_MIRROR)
			out[n++] = &r->filters[i];
	return n;
}
