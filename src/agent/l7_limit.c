/* weft — local rate limiting (token buckets), fault injection decisions,
 * Retry-After parsing and the L7 data path's random numbers. Pure logic:
 * the caller keeps the buckets and the random state. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/l7.h"
#include "weft/str.h"

uint64_t weft_l7_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;   /* 0 would stay 0 */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- token bucket ---- */

bool weft_l7_bucket_take(weft_l7_bucket_t *b, const weft_dest_policy_t *pol, uint64_t now_ms,
			 uint32_t *retry_after_s)
{
	uint64_t iv, wait;

	if (!b || !pol || !pol->rate_limit.set || !pol->rate_limit.fill_interval_ms)
		return true;
	iv = pol->rate_limit.fill_interval_ms;
	if (!b->init) {
		b->tokens = pol->rate_limit.max_tokens;
		b->last_ms = now_ms;
		b->init = true;
	} else if (now_ms > b->last_ms) {
		/* whole fills since the last one; the remainder carries over */
		uint64_t fills = (now_ms - b->last_ms) / iv;
		if (fills) {
			b->tokens += (double)fills * pol->rate_limit.tokens_per_fill;
			b->last_ms += fills * iv;
		}
	}
	if (b->tokens > pol->rate_limit.max_tokens)
		b->tokens = pol->rate_limit.max_tokens;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return true;
	}
	/* until the next fill (one interval when fills add nothing) */
	wait = b->last_ms + iv > now_ms ? b->last_ms + iv - now_ms : iv;
	if (retry_after_s) {
		uint64_t s = (wait + 999) / 1000;
		*retry_after_s = s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	}
	return false;
}

/* ---- faults ---- */

/* Whether value v satisfies match m: EXACT compares bytes, REGEX is the
 * routes' full-match expression (weft_l7_regex_match: RE2 approximated,
 * compiled once and cached, not per request). */
static bool value_match(const weft_str_match_t *m, weft_str_t v)
{
	if (m->type != WEFT_MATCH_REGEX)
		return weft_str_eq(m->value, v);
	return weft_l7_regex_match(m->value, v);
}

/* Whether some field of h named m->name (any case) satisfies m. */
static bool header_match(const weft_str_match_t *m, const weft_http_head_t *h)
{
	for (size_t i = 0; h && i < h->nhdrs; i++)
		if (weft_str_ieq(h->hdrs[i].name, m->name) && value_match(m, h->hdrs[i].value))
			return true;
	return false;
}

void weft_l7_fault_decide(const weft_dest_policy_t *pol, const weft_http_head_t *h,
			  uint64_t *rnd, weft_l7_fault_t *out)
{
	uint64_t local = 0x853c49e6748fea9bull;

	out->delay_ms = 0;
	out->abort_http = 0;
	out->abort_grpc = -1;
	if (!pol || !pol->fault.set)
		return;
	if (!rnd)
		rnd = &local;
	for (size_t i = 0; i < pol->fault.nheaders; i++)
		if (!header_match(&pol->fault.headers[i], h))
			return;
	if (pol->fault.delay_ppm && pol->fault.delay_ms &&
	    weft_l7_rand(rnd) % WEFT_PPM_ALL < pol->fault.delay_ppm)
		out->delay_ms = pol->fault.delay_ms;
	if (pol->fault.abort_ppm && weft_l7_rand(rnd) % WEFT_PPM_ALL < pol->fault.abort_ppm) {
		if (pol->fault.abort_grpc)
			out->abort_grpc = (int)pol->fault.abort_grpc_status;
		else if (pol->fault.abort_http_status)
			out->abort_http = (int)pol->fault.abort_http_status;
	}
}

/* ---- Retry-After ---- */

static int num(const char *p, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds since the
 * epoch, or -1. */
static int64_t imf_fixdate(weft_str_t v)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = v.p, *m;
	struct tm tm;
	time_t t;
	int day, year, hh, mm, ss, mon = -1;
	bool dayok = false;

	if (v.len != 29 || memcmp(p + 3, ", ", 2) || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
	    p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4))
		return -1;
	for (int i = 0; i < 7; i++)
		dayok |= !memcmp(p, days + 3 * i, 3);
	for (int i = 0; i < 12; i++)
		if (!memcmp(p + 8, months + 3 * i, 3))
			mon = i;
	m = p;
	day = num(m + 5, 2);
	year = num(m + 12, 4);
	hh = num(m + 17, 2);
	mm = num(m + 20, 2);
	ss = num(m + 23, 2);
	if (!dayok || mon < 0 || day < 1 || day > 31 || year < 1970 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

uint64_t weft_l7_retry_after_ms(const weft_http_head_t *h, uint64_t now_s)
{
	for (size_t i = 0; h && i < h->nhdrs; i++) {
		weft_str_t v = h->hdrs[i].value;
		unsigned long long secs;
		int64_t t;

		if (!weft_str_eq_c(h->hdrs[i].name, "retry-after"))
			continue;
		if (v.len && v.p[0] >= '0' && v.p[0] <= '9') {
			/* delay-seconds (capped at a day: a larger one is not a penalty we keep) */
			if (v.len > 12 || weft_str_to_u64(v, 999999999999ull, &secs) < 0)
				return 0;
			if (secs > 86400)
				secs = 86400;
			return (uint64_t)secs * 1000;
		}
		t = imf_fixdate(v);
		if (t < 0 || (uint64_t)t <= now_s)
			return 0;
		return ((uint64_t)t - now_s > 86400 ? 86400 : (uint64_t)t - now_s) * 1000;
	}
	return 0;
}
