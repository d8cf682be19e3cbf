/* weft — tracing: W3C trace context (traceparent/tracestate) and spans
 * exported as OTLP/HTTP JSON (include/weft/l7tel.h).
 *
 * A request continues the trace its traceparent names when the header is
 * valid (version not ff, lowercase hex, ids not all zero) and starts a new
 * one otherwise, sampled with trace_sample. Ended sampled spans are
 * rendered at once into a bounded queue; a batch goes out every second,
 * or as soon as BATCH_SPANS are waiting, as one HTTP/1.1 POST over a
 * non-blocking connection of its own (weft_conn_t + weft_xprt_raw: write
 * the request, read the status line, close). One POST is in flight at a
 * time; spans that find the queue full, and batches the collector did not
 * accept (down, timed out, non-2xx), are counted in
 * weft_agent_trace_spans_dropped_total. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/http1.h"
#include "weft/json.h"
#include "weft/l7tel.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/net.h"
#include "l7_tel_int.h"

#define BATCH_SPANS 512u
#define QUEUE_SPANS 4096u
#define QUEUE_BYTES (8u << 20)
#define FLUSH_MS 1000u
#define POST_TIMEOUT_MS 5000u

struct post;

struct l7_trace {
	weft_loop_t *loop;
	double sample;
	char service[128];
	bool export;                 /* an endpoint was given */
	char addr[80];               /* "ip:port" */
	char path[256];
	weft_series_t *exported, *dropped;
	weft_buf_t q;                /* queued span objects, comma-separated */
	size_t nq;
	weft_timer_t flush;
	struct post *post;           /* the POST in flight */
};

typedef struct post {
	weft_conn_t conn;
	struct l7_trace *tr;
	size_t nspans;
	bool done;                   /* the collector answered 2xx */
	weft_buf_t in;
	weft_timer_t timeout;
} post_t;

static void flush_cb(weft_loop_t *l, weft_timer_t *t);

struct l7_trace *l7_trace_new(weft_loop_t *loop, weft_metrics_t *m, const weft_l7_tel_opts_t *o,
			      char *err, size_t errlen)
{
	struct l7_trace *tr;
	weft_metric_t *ex, *dr;

	if (!(o->trace_sample >= 0 && o->trace_sample <= 1)) {
		snprintf(err, errlen, "trace sample %g is not in 0..1", o->trace_sample);
		return NULL;
	}
	if (!(tr = calloc(1, sizeof(*tr)))) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	tr->loop = loop;
	tr->sample = o->trace_sample;
	snprintf(tr->service, sizeof(tr->service), "%s",
		 o->service_name && *o->service_name ? o->service_name : "weft-agent");
	weft_buf_init(&tr->q, QUEUE_BYTES);
	weft_timer_init(&tr->flush, flush_cb, tr);
	if (o->trace_endpoint && *o->trace_endpoint) {
		const char *ep = o->trace_endpoint, *host, *slash;
		struct sockaddr_storage ss;
		socklen_t sl;
		size_t hl;

		if (strncmp(ep, "http://", 7)) {
			snprintf(err, errlen, "trace endpoint %s: want http://IP:PORT/PATH", ep);
			goto fail;
		}
		host = ep + 7;
		slash = strchr(host, '/');
		hl = slash ? (size_t)(slash - host) : strlen(host);
		if (hl == 0 || hl >= sizeof(tr->addr) || weft_net_parse_addr(host, hl, &ss, &sl) < 0 ||
		    (slash && strlen(slash) >= sizeof(tr->path)) || (slash && strpbrk(slash, " \r\n"))) {
			snprintf(err, errlen, "trace endpoint %s: want http://IP:PORT/PATH", ep);
			goto fail;
		}
		memcpy(tr->addr, host, hl);
		tr->addr[hl] = 0;
		snprintf(tr->path, sizeof(tr->path), "%s", slash && slash[1] ? slash : "/v1/traces");
		tr->export = true;
	}
	ex = weft_metrics_counter(m, "weft_agent_trace_spans_exported_total",
				  "Spans accepted by the OTLP collector", NULL);
	dr = weft_metrics_counter(m, "weft_agent_trace_spans_dropped_total",
				  "Sampled spans dropped (queue full, collector down or refusing)", NULL);
	if (!ex || !dr) {
		snprintf(err, errlen, "cannot register the trace metrics (registered twice?)");
		goto fail;
	}
	tr->exported = weft_metric_with(ex, NULL);
	tr->dropped = weft_metric_with(dr, NULL);
	return tr;
fail:
	weft_buf_free(&tr->q);
	free(tr);
	return NULL;
}

void l7_trace_free(struct l7_trace *tr)
{
	if (!tr)
		return;
	if (tr->post)
		weft_conn_close(&tr->post->conn);   /* post_destroy clears tr->post */
	weft_timer_stop(tr->loop, &tr->flush);
	weft_buf_free(&tr->q);
	free(tr);
}

/* ---- trace context ---- */

/* The value of each lowercase hex digit plus one; 0 for other bytes. */
static const unsigned char hex1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* Whether the 8 bytes at p are all lowercase hex digits: per byte,
 * '0' <= x <= '9' or 'a' <= x <= 'f', tested on the whole word (bytes
 * below 0x80, so the subtractions never borrow across bytes). */
static bool lower_hex8(const char *p)
{
	const uint64_t hi = 0x8080808080808080ull, ones = 0x0101010101010101ull;
	uint64_t x, dig, af;

	memcpy(&x, p, 8);
	if (x & hi)
		return false;
	dig = ((x | hi) - '0' * ones) & (('9' * ones | hi) - x);
	af = ((x | hi) - 'a' * ones) & (('f' * ones | hi) - x);
	return ((dig | af) & hi) == hi;
}

static bool lower_hex(const char *p, size_t n)
{
	unsigned ok = 1;
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		if (!lower_hex8(p + i))
			return false;
	for (; i < n; i++)
		ok &= hex1[(unsigned char)p[i]] != 0;
	return ok;
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0')
			return false;
	return true;
}

/* The first traceparent and tracestate headers of h (NULL where
 * absent), in one pass over the headers. */
static void find_trace_hdrs(const weft_http_head_t *h, const weft_str_t **tp, const weft_str_t **ts)
{
	*tp = *ts = NULL;
	for (size_t i = 0; h && i < h->nhdrs; i++) {
		const weft_str_t *n = &h->hdrs[i].name;
		if ((n->len != 11 && n->len != 10) || (n->p[0] | 0x20) != 't')
			continue;
		if (n->len == 11 && !*tp && !strncasecmp(n->p, "traceparent", 11))
			*tp = &h->hdrs[i].value;
		else if (n->len == 10 && !*ts && !strncasecmp(n->p, "tracestate", 10))
			*ts = &h->hdrs[i].value;
	}
}

/* Parses a traceparent value "vv-<32 hex>-<16 hex>-<2 hex>" (a later
 * version may append "-..."). Returns true and fills trace/span/flags, or
 * false when it is not valid (the caller then starts a new trace). */
static bool parse_traceparent(weft_str_t v, char trace[33], char span[17], unsigned *flags)
{
	const char *p = v.p;

	if (v.len < 55 || p[2] != '-' || p[35] != '-' || p[52] != '-')
		return false;
	if (!lower_hex(p, 2) || !memcmp(p, "ff", 2))
		return false;
	if (!memcmp(p, "00", 2) ? v.len != 55 : (v.len > 55 && p[55] != '-'))
		return false;
	if (!lower_hex(p + 3, 32) || !lower_hex(p + 36, 16) || !lower_hex(p + 53, 2))
		return false;
	if (all_zero(p + 3, 32) || all_zero(p + 36, 16))
		return false;
	memcpy(trace, p + 3, 32);
	trace[32] = 0;
	memcpy(span, p + 36, 16);
	span[16] = 0;
	*flags = (unsigned)(hex1[(unsigned char)p[53]] - 1) << 4 | (unsigned)(hex1[(unsigned char)p[54]] - 1);
	return true;
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x2545f4914f6cdd1dull ^ (uint64_t)time(NULL);

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The 8 lowercase hex digits of x, most significant first, into out (no
 * NUL): the nibbles spread one per byte, then mapped to '0'..'9' and
 * 'a'..'f' eight at a time. */
static inline void hex8(uint32_t x, char out[8])
{
	uint64_t v = x, ge10;

	v = (v & 0xffff0000ull) << 16 | (v & 0xffffull);
	v = (v & 0x0000ff000000ff00ull) << 8 | (v & 0x000000ff000000ffull);
	v = (v & 0x00f000f000f000f0ull) << 4 | (v & 0x000f000f000f000full);
	ge10 = (v + 0x0606060606060606ull) >> 4 & 0x0101010101010101ull;
	v += 0x3030303030303030ull + ge10 * ('a' - '0' - 10);
	/* byte k holds the digit of nibble k: as a number, most significant
	 * digit in the top byte, so in memory order on a big-endian machine */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(out, &v, 8);
}

/* n*16 hex digits from rnd, never all zero. */
static void rand_hex(uint64_t *rnd, char *out, size_t words)
{
	do {
		for (size_t i = 0; i < words; i++) {
			uint64_t v = next_rand(rnd);
			hex8((uint32_t)(v >> 32), out + 16 * i);
			hex8((uint32_t)v, out + 16 * i + 8);
		}
		out[16 * words] = 0;
	} while (all_zero(out, 16 * words));
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void weft_trace_start(weft_l7_tel_t *t, const weft_http_head_t *h, weft_span_t *sp, uint64_t *rnd)
{
	struct l7_trace *tr = l7_tel_trace(t);
	const weft_str_t *tp, *ts;
	unsigned flags = 0;
	uint64_t local = 0;

	if (!rnd)
		rnd = &local;
	/* every field is set below (strings up to their NUL), no memset */
	sp->tracestate[0] = 0;
	find_trace_hdrs(h, &tp, &ts);
	if (tp && parse_traceparent(*tp, sp->trace_id, sp->parent_id, &flags)) {
		sp->sampled = flags & 1;
		if (ts && ts->len < sizeof(sp->tracestate) && !memchr(ts->p, 0, ts->len)) {
			memcpy(sp->tracestate, ts->p, ts->len);
			sp->tracestate[ts->len] = 0;
		}
	} else {
		double s = tr ? tr->sample : 0.01;
		rand_hex(rnd, sp->trace_id, 2);
		sp->parent_id[0] = 0;
		sp->sampled = s > 0 && (double)(next_rand(rnd) >> 11) * 0x1p-53 < s;
	}
	rand_hex(rnd, sp->span_id, 1);
	sp->start_us = wall_us();
}

void weft_trace_header(const weft_span_t *sp, char out[56])
{
	/* "00-%.32s-%.16s-%02x", without the formatting machinery */
	size_t tl = strnlen(sp->trace_id, 32), sl = strnlen(sp->span_id, 16);
	char *p = out;

	memcpy(p, "00-", 3);
	p += 3;
	memcpy(p, sp->trace_id, tl);
	p += tl;
	*p++ = '-';
	memcpy(p, sp->span_id, sl);
	p += sl;
	memcpy(p, sp->sampled ? "-01" : "-00", 4);
}

/* ---- spans ---- */

static void attr_str(weft_buf_t *b, bool *first, const char *k, const char *v)
{
	if (!v || !*v)
		return;
	weft_buf_printf(b, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":", *first ? "" : ",", k);
	weft_json_cstr(b, v);
	weft_buf_printf(b, "}}");
	*first = false;
}

static void attr_int(weft_buf_t *b, bool *first, const char *k, long long v)
{
	weft_buf_printf(b, "%s{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}", *first ? "" : ",", k, v);
	*first = false;
}

/* Appends one OTLP span object for sp/r to b (unbounded). */
static void span_json(weft_buf_t *b, const weft_span_t *sp, const weft_l7_rec_t *r)
{
	const weft_tm_labels_t *l = &r->l;
	uint64_t start = sp->start_us ? sp->start_us : r->start_us;
	const char *path = r->path ? r->path : "/";
	size_t plen = strcspn(path, "?");
	char name[512];
	bool first = true;

	snprintf(name, sizeof(name), "%s %.*s", r->method ? r->method : "-",
		 r->route && *r->route ? (int)strlen(r->route) : (int)plen,
		 r->route && *r->route ? r->route : path);
	weft_buf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", sp->trace_id, sp->span_id);
	if (sp->parent_id[0])
		weft_buf_printf(b, ",\"parentSpanId\":\"%s\"", sp->parent_id);
	if (sp->tracestate[0]) {
		weft_buf_printf(b, ",\"traceState\":");
		weft_json_cstr(b, sp->tracestate);
	}
	weft_buf_printf(b, ",\"name\":");
	weft_json_cstr(b, name);
	weft_buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu000\",\"endTimeUnixNano\":\"%llu000\","
			"\"attributes\":[",
			l->destination ? 2 : 3, (unsigned long long)start,
			(unsigned long long)(start + r->duration_us));
	attr_str(b, &first, "http.request.method", r->method);
	attr_str(b, &first, "url.path", r->path);
	attr_int(b, &first, "http.response.status_code", r->status);
	attr_str(b, &first, "server.address", r->authority);
	if (r->grpc_status >= 0)
		attr_int(b, &first, "rpc.grpc.status_code", r->grpc_status);
	attr_str(b, &first, "weft.route", r->route);
	attr_str(b, &first, "weft.reporter", l->destination ? "destination" : "source");
	attr_str(b, &first, "weft.source.workload", l->src_workload);
	attr_str(b, &first, "weft.source.namespace", l->src_ns);
	attr_str(b, &first, "weft.destination.workload", l->dst_workload);
	attr_str(b, &first, "weft.destination.namespace", l->dst_ns);
	attr_str(b, &first, "weft.upstream", r->upstream);
	if (r->l.response_flags && *r->l.response_flags && strcmp(r->l.response_flags, "-"))
		attr_str(b, &first, "weft.response_flags", r->l.response_flags);
	if (r->status >= 500 || r->status == 0)
		weft_buf_printf(b, "],\"status\":{\"code\":2,\"message\":\"HTTP %d\"}}", r->status);
	else
		weft_buf_printf(b, "],\"status\":{}}");
}

static void post_start(struct l7_trace *tr);

void weft_trace_end(weft_l7_tel_t *t, const weft_span_t *sp, const weft_l7_rec_t *r)
{
	struct l7_trace *tr = l7_tel_trace(t);
	weft_buf_t b;
	int rc;

	if (!tr || !sp || !r || !sp->sampled || !tr->export)
		return;
	if (tr->nq >= QUEUE_SPANS) {
		weft_series_inc(tr->dropped);
		return;
	}
	weft_buf_init(&b, 0);
	if (tr->nq)
		weft_buf_append(&b, ",", 1);
	span_json(&b, sp, r);
	/* all or nothing: a span that does not fit whole is dropped */
	rc = weft_buf_append(&tr->q, weft_buf_head(&b), weft_buf_len(&b));
	weft_buf_free(&b);
	if (rc < 0) {
		weft_series_inc(tr->dropped);
		return;
	}
	tr->nq++;
	if (tr->nq >= BATCH_SPANS && !tr->post)
		post_start(tr);
	else if (!weft_timer_active(&tr->flush))
		weft_timer_start(tr->loop, &tr->flush, FLUSH_MS);
}

/* ---- the exporter's POST ---- */

static void post_timeout(weft_loop_t *l, weft_timer_t *t)
{
	post_t *p = t->data;

	weft_conn_close(&p->conn);
}

/* Reads the status line; returns WEFT_ECLOSED once the exchange is over
 * (answered or failed), WEFT_OK to wait. */
static int post_on_io(weft_conn_t *c, uint32_t ev)
{
	post_t *p = c->mux_ctx;
	int rc = weft_conn_flush(c);

	if (rc == WEFT_EFAIL)
		return WEFT_ECLOSED;
	if (ev & (WEFT_IO_READ | WEFT_IO_ERROR)) {
		for (;;) {
			ssize_t n;
			int status = 0;
			long long clen;
			if (weft_buf_reserve(&p->in, 4096) < 0)
				return WEFT_ECLOSED;
			n = weft_conn_recv(c, p->in.data + p->in.wr, p->in.cap - p->in.wr);
			if (n == WEFT_EAGAIN)
				break;
			if (n <= 0)
				return WEFT_ECLOSED;
			p->in.wr += (size_t)n;
			if (weft_h1_parse_response((const char *)weft_buf_head(&p->in), weft_buf_len(&p->in),
						   &status, &clen) >= 0 || status > 0) {
				p->done = status >= 200 && status < 300;
				return WEFT_ECLOSED;
			}
		}
	}
	return WEFT_OK;
}

static void post_shutdown(weft_conn_t *c)
{
	(void)c;
}

static void post_destroy(weft_conn_t *c)
{
	post_t *p = c->mux_ctx;
	struct l7_trace *tr = p->tr;

	weft_timer_stop(c->loop, &p->timeout);
	weft_series_add(p->done ? tr->exported : tr->dropped, (double)p->nspans);
	weft_buf_free(&p->in);
	tr->post = NULL;
	free(p);
	if (tr->nq && !weft_timer_active(&tr->flush))
		weft_timer_start(tr->loop, &tr->flush, tr->nq >= BATCH_SPANS ? 0 : FLUSH_MS);
}

static const weft_mux_ops_t post_mux = { "otlp", post_on_io, post_shutdown, post_destroy };

/* Sends the queued spans as one POST. On a connection that cannot even
 * start, the batch is dropped (counted). */
static void post_start(struct l7_trace *tr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	weft_buf_t h;
	post_t *p;
	int fd;
	size_t n = tr->nq;
	static const char pre[] =
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
		"\"value\":{\"stringValue\":";
	static const char mid[] = "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"weft\"},\"spans\":[";
	static const char post[] = "]}]}]}";
	weft_buf_t svc;

	weft_timer_stop(tr->loop, &tr->flush);
	if (!n || tr->post)
		return;
	weft_buf_init(&svc, 0);
	weft_json_cstr(&svc, tr->service);
	weft_buf_init(&h, 0);
	weft_buf_printf(&h, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\nConnection: close\r\nUser-Agent: weft-agent\r\n\r\n%s",
			tr->path, tr->addr,
			sizeof(pre) - 1 + weft_buf_len(&svc) + sizeof(mid) - 1 + weft_buf_len(&tr->q) +
				sizeof(post) - 1,
			pre);
	weft_buf_append(&h, weft_buf_head(&svc), weft_buf_len(&svc));
	weft_buf_append(&h, mid, sizeof(mid) - 1);
	weft_buf_free(&svc);
	tr->nq = 0;
	fd = -1;
	p = NULL;
	if (weft_net_parse_addr(tr->addr, strlen(tr->addr), &ss, &sl) < 0 ||
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) ||
	    !(p = calloc(1, sizeof(*p))) ||
	    weft_conn_init(&p->conn, tr->loop, fd, &weft_xprt_raw, NULL, QUEUE_BYTES + 65536) < 0) {
		if (fd >= 0)
			close(fd);
		free(p);
		weft_series_add(tr->dropped, (double)n);
		weft_buf_reset(&tr->q);
		weft_buf_free(&h);
		return;
	}
	p->tr = tr;
	p->nspans = n;
	snprintf(p->conn.name, sizeof(p->conn.name), "otlp %s", tr->addr);
	weft_buf_init(&p->in, 16384);
	weft_timer_init(&p->timeout, post_timeout, p);
	p->conn.mux = &post_mux;
	p->conn.mux_ctx = p;
	tr->post = p;
	if (weft_conn_queue(&p->conn, weft_buf_head(&h), weft_buf_len(&h)) < 0 ||
	    weft_conn_queue(&p->conn, weft_buf_head(&tr->q), weft_buf_len(&tr->q)) < 0 ||
	    weft_conn_queue(&p->conn, post, sizeof(post) - 1) < 0 ||
	    weft_conn_flush(&p->conn) == WEFT_EFAIL) {
		weft_buf_reset(&tr->q);
		weft_buf_free(&h);
		weft_conn_close(&p->conn);   /* counts the batch as dropped */
		return;
	}
	weft_buf_reset(&tr->q);
	weft_buf_free(&h);
	weft_timer_start(tr->loop, &p->timeout, POST_TIMEOUT_MS);
}

static void flush_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct l7_trace *tr = t->data;

	(void)l;
	if (tr->post) {
		weft_timer_start(tr->loop, &tr->flush, FLUSH_MS);
		return;
	}
	post_start(tr);
}
