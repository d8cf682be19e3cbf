/* weft — strict HTTP/1.1 request parser (RFC 9110/9112). It works on
 * (ptr, len) input, re-parses from the start when more bytes arrive (heads
 * are small and bounded), and refuses anything ambiguous rather than
 * guessing: bare LF, obs-fold, whitespace before the colon, control bytes,
 * conflicting framing. */
#include <stddef.h>
#include <string.h>
#include "weft/http1.h"
#include "weft/str.h"

void weft_h1_limits_default(weft_h1_limits_t *l)
{
	l->max_line = 8192;
	l->max_head = 16384;
	l->max_headers = 64;
}

/* Case-insensitive name test against a lowercase literal, lengths first. */
#define NAME_IS(n, lit) ((n).len == sizeof(lit) - 1 && weft_str_ieq((n), WEFT_STR_LIT(lit)))

/* token = 1*tchar: ALPHA, DIGIT and "!#$%&'*+-.^_`|~" (a bitmap per
 * byte value: the parser asks once per byte of every method and name) */
static const uint32_t tchar_map[8] = {
	0x00000000u,   /* 0x00-0x1f */
	0x03ff6cfau,   /* 0x20-0x3f: ! # $ % & ' * + - . 0-9 */
	0xc7fffffeu,   /* 0x40-0x5f: A-Z ^ _ */
	0x57ffffffu,   /* 0x60-0x7f: ` a-z | ~ */
	0, 0, 0, 0,
};

static inline bool is_tchar(unsigned char c)
{
	return (tchar_map[c >> 5] >> (c & 31)) & 1u;
}

/* field-value bytes: VCHAR, obs-text, SP, HTAB */
static bool is_vchar_ws(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t';
}

/* Bit 7 of each byte of the result set exactly where that byte of x is
 * zero (no borrow between bytes). */
static inline uint64_t zero_bytes(uint64_t x)
{
	return ~(((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x) & 0x8080808080808080ull;
}

/* Bit 7 set in the bytes of x that are not field-value bytes
 * (is_vchar_ws): below 0x20 but HTAB, and DEL. */
static inline uint64_t bad_vchar8(uint64_t x)
{
	/* bit 7 of (x & 0x7f) + 0x60 says >= 0x20; ~x: ASCII */
	uint64_t ctl = ~((x & 0x7f7f7f7f7f7f7f7full) + 0x6060606060606060ull) & ~x &
		       0x8080808080808080ull;

	return (ctl & ~zero_bytes(x ^ 0x0909090909090909ull)) | zero_bytes(x ^ 0x7f7f7f7f7f7f7f7full);
}

/* Whether every byte of p[0..n) is a field-value byte, eight at a time
 * (the last word overlapping the one before). */
static bool all_vchar_ws(const char *p, size_t n)
{
	uint64_t x;
	size_t i;

	if (n < 8) {
		for (i = 0; i < n; i++)
			if (!is_vchar_ws((unsigned char)p[i]))
				return false;
		return true;
	}
	for (i = 0; i + 8 < n; i += 8) {
		memcpy(&x, p + i, 8);
		if (bad_vchar8(x))
			return false;
	}
	memcpy(&x, p + n - 8, 8);
	return !bad_vchar8(x);
}

/* Finds the end of the line starting at off. Returns the index of its LF
 * (line content is [off, lf-1) without the CR), WEFT_EAGAIN when no LF yet,
 * WEFT_EPROTO on a bare LF or a CR not followed by LF. */
static long find_eol(const char *p, size_t n, size_t off)
{
	const char *lf, *cr;

	if (off >= n)
		return WEFT_EAGAIN;
	lf = memchr(p + off, '\n', n - off);
	if (!lf) {
		/* no LF yet: a CR with a byte after it is a CR without LF */
		cr = n - off > 1 ? memchr(p + off, '\r', n - off - 1) : NULL;
		return cr ? WEFT_EPROTO : WEFT_EAGAIN;
	}
	if (lf == p + off || lf[-1] != '\r')
		return WEFT_EPROTO;   /* bare LF */
	if (memchr(p + off, '\r', (size_t)(lf - 1 - (p + off))))
		return WEFT_EPROTO;   /* a CR inside the line */
	return (long)(lf - p);
}

static bool has_token(weft_str_t v, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < v.len) {
		size_t s, e;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
			i++;
		s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (e - s == tl && weft_str_ieq(weft_str(v.p + s, tl), weft_str(tok, tl)))
			return true;
	}
	return false;
}

static int fail(int *status, int code)
{
	*status = code;
	return WEFT_EPROTO;
}

static int parse_request_line(const char *p, size_t len, weft_h1_req_t *req, int *status)
{
	size_t i = 0, s;

	while (i < len && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= len || p[i] != ' ')
		return fail(status, 400);
	req->method = weft_str(p, i);
	s = ++i;
	while (i < len && (unsigned char)p[i] >= 0x21 && (unsigned char)p[i] <= 0x7e)
		i++;
	if (i == s || i >= len || p[i] != ' ')
		return fail(status, 400);
	req->target = weft_str(p + s, i - s);
	i++;
	if (len - i != 8 || memcmp(p + i, "HTTP/", 5) || p[i + 6] != '.' ||
	    p[i + 5] < '0' || p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
		return fail(status, 400);
	if (p[i + 5] != '1' || (p[i + 7] != '0' && p[i + 7] != '1'))
		return fail(status, 505);
	req->minor = p[i + 7] - '0';
	/* origin-form only (and "*" for OPTIONS) */
	if (req->target.p[0] != '/' && !(req->target.len == 1 && req->target.p[0] == '*'))
		return fail(status, 400);
	{
		const char *q = memchr(req->target.p, '?', req->target.len);
		size_t pl = q ? (size_t)(q - req->target.p) : req->target.len;
		req->path = weft_str(req->target.p, pl);
		req->query = q ? weft_str(q + 1, req->target.len - pl - 1) : weft_str("", 0);
	}
	return 0;
}

/* Parses one field line p[0..len) (without CRLF) into *h. Returns 0, or
 * -1 (refused: obs-fold, empty name, a non-token name byte, whitespace
 * before ':', a control byte in the value). */
static int parse_field(const char *p, size_t len, weft_h1_hdr_t *h)
{
	size_t i = 0, vs, ve;

	if (len && (p[0] == ' ' || p[0] == '\t'))
		return -1;   /* obs-fold */
	while (i < len && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return -1;   /* empty name, bad char, or whitespace before ':' */
	h->name = weft_str(p, i);
	vs = i + 1;
	if (!all_vchar_ws(p + vs, len - vs))
		return -1;
	while (vs < len && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	ve = len;
	while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
		ve--;
	h->value = weft_str(p + vs, ve - vs);
	return 0;
}

static int parse_header(const char *p, size_t len, weft_h1_req_t *req, int *status)
{
	if (parse_field(p, len, &req->hdrs[req->nhdrs]) < 0)
		return fail(status, 400);
	req->nhdrs++;
	return 0;
}

/* Checks a Transfer-Encoding value: exactly one coding, "chunked".
 * Returns 0 (it is), -1 (refused as ambiguous: an empty list, "chunked"
 * repeated or not last, so that no two parsers can frame the body
 * differently) or -2 (a coding this parser does not implement). */
static int te_is_chunked(weft_str_t v)
{
	size_t i = 0, ncod = 0, nchunked = 0;
	bool last_chunked = false, other = false;

	while (i < v.len) {
		size_t s, e;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		s = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (i < v.len)
			i++;   /* the comma */
		if (e == s)
			continue;   /* empty list element (tolerated by RFC 9110 §5.6.1) */
		ncod++;
		last_chunked = weft_str_ieq(weft_str(v.p + s, e - s), WEFT_STR_LIT("chunked"));
		if (last_chunked)
			nchunked++;
		else
			other = true;
	}
	if (ncod == 0 || nchunked > 1 || (nchunked == 1 && !last_chunked))
		return -1;
	if (other)
		return -2;
	return 0;
}

/* Applies the framing and connection semantics of the parsed headers. */
static int check_headers(weft_h1_req_t *req, int *status)
{
	bool conn_close = false, conn_keep = false, te = false;
	int hosts = 0;

	for (size_t i = 0; i < req->nhdrs; i++) {
		weft_h1_hdr_t *h = &req->hdrs[i];
		if (NAME_IS(h->name, "content-length")) {
			unsigned long long v;
			if (weft_str_to_u64(h->value, 1ULL << 53, &v) < 0)
				return fail(status, 400);
			if (req->has_length && req->content_length != v)
				return fail(status, 400);
			req->has_length = true;
			req->content_length = v;
		} else if (NAME_IS(h->name, "transfer-encoding")) {
			int r;
			if (te)
				return fail(status, 400);   /* repeated Transfer-Encoding */
			r = te_is_chunked(h->value);
			if (r < 0)
				return fail(status, r == -2 ? 501 : 400);
			te = true;
		} else if (NAME_IS(h->name, "host")) {
			hosts++;
			req->host = h->value;
		} else if (NAME_IS(h->name, "connection")) {
			conn_close |= has_token(h->value, "close");
			conn_keep |= has_token(h->value, "keep-alive");
		}
	}
	if (te && req->has_length)
		return fail(status, 400);
	if (te && req->minor == 0)
		return fail(status, 400);
	if (hosts > 1 || (req->minor == 1 && hosts == 0))
		return fail(status, 400);
	req->chunked = te;
	req->keep_alive = req->minor == 1 ? !conn_close : (conn_keep && !conn_close);
	return 0;
}

int weft_h1_parse_request(const char *p, size_t n, const weft_h1_limits_t *lim,
			  weft_h1_req_t *req, int *status)
{
	size_t off = 0, line_start;
	long eol;
	size_t maxh = lim->max_headers < WEFT_H1_MAX_HEADERS ? lim->max_headers : WEFT_H1_MAX_HEADERS;

	/* everything but the header array (only hdrs[0..nhdrs) is meaningful:
	 * clearing 100 unused entries per parse would cost more than parsing) */
	memset(req, 0, offsetof(weft_h1_req_t, hdrs));
	memset(&req->keep_alive, 0, sizeof(*req) - offsetof(weft_h1_req_t, keep_alive));
	*status = 0;
	/* leading empty lines are tolerated (RFC 9112 §2.2) */
	while (off + 1 < n && p[off] == '\r' && p[off + 1] == '\n' && off < 64)
		off += 2;
	line_start = off;
	eol = find_eol(p, n, off);
	if (eol == WEFT_EPROTO)
		return fail(status, 400);
	if (eol == WEFT_EAGAIN)
		return n - line_start > lim->max_line ? fail(status, 414) : WEFT_EAGAIN;
	if ((size_t)eol - line_start - 1 > lim->max_line)
		return fail(status, 414);
	if (parse_request_line(p + line_start, (size_t)eol - 1 - line_start, req, status) < 0)
		return WEFT_EPROTO;
	off = (size_t)eol + 1;
	for (;;) {
		eol = find_eol(p, n, off);
		if (eol == WEFT_EPROTO)
			return fail(status, 400);
		if (eol == WEFT_EAGAIN)
			return n > lim->max_head ? fail(status, 431) : WEFT_EAGAIN;
		if ((size_t)eol + 1 > lim->max_head)
			return fail(status, 431);
		if ((size_t)eol == off + 1)
			break;   /* empty line: end of the head */
		if (req->nhdrs == maxh)
			return fail(status, 431);
		if (parse_header(p + off, (size_t)eol - 1 - off, req, status) < 0)
			return WEFT_EPROTO;
		off = (size_t)eol + 1;
	}
	if (check_headers(req, status) < 0)
		return WEFT_EPROTO;
	return (int)((size_t)eol + 1);
}

const weft_h1_hdr_t *weft_h1_header(const weft_h1_req_t *req, const char *name)
{
	weft_str_t nm = weft_str_c(name);

	for (size_t i = 0; i < req->nhdrs; i++)
		if (req->hdrs[i].name.len == nm.len && weft_str_ieq(req->hdrs[i].name, nm))
			return &req->hdrs[i];
	return NULL;
}

int weft_h1_parse_response(const char *p, size_t n, int *status, long long *content_length)
{
	size_t off;
	long eol = find_eol(p, n, 0);
	unsigned long long v;

	*content_length = -1;
	if (eol < 0)
		return (int)eol;
	if (eol < 13 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ' ||
	    weft_str_to_u64(weft_str(p + 9, 3), 999, &v) < 0)
		return WEFT_EPROTO;
	*status = (int)v;
	off = (size_t)eol + 1;
	for (;;) {
		const char *colon;
		eol = find_eol(p, n, off);
		if (eol < 0)
			return (int)eol;
		if ((size_t)eol == off + 1)
			return (int)(eol + 1);
		colon = memchr(p + off, ':', (size_t)eol - off);
		if (colon && weft_str_ieq(weft_str(p + off, (size_t)(colon - p - off)),
					  WEFT_STR_LIT("content-length"))) {
			const char *vs = colon + 1, *ve = p + eol - 1;
			while (vs < ve && *vs == ' ')
				vs++;
			while (ve > vs && ve[-1] == ' ')
				ve--;
			if (weft_str_to_u64(weft_str(vs, (size_t)(ve - vs)), 1ULL << 53, &v) < 0)
				return WEFT_EPROTO;
			*content_length = (long long)v;
		}
		off = (size_t)eol + 1;
	}
}

/* ---- response heads (client role) ---- */

int weft_h1_parse_fields(const char *p, size_t n, size_t max_bytes, weft_h1_hdr_t *hdrs,
			 size_t max, size_t *nhdrs)
{
	size_t off = 0;

	*nhdrs = 0;
	for (;;) {
		long eol = find_eol(p, n, off);
		if (eol == WEFT_EPROTO)
			return WEFT_EPROTO;
		if (eol == WEFT_EAGAIN)
			return n > max_bytes ? WEFT_EPROTO : WEFT_EAGAIN;
		if ((size_t)eol + 1 > max_bytes)
			return WEFT_EPROTO;
		if ((size_t)eol == off + 1)
			return (int)(eol + 1);
		if (*nhdrs == max || parse_field(p + off, (size_t)eol - 1 - off, &hdrs[*nhdrs]) < 0)
			return WEFT_EPROTO;
		(*nhdrs)++;
		off = (size_t)eol + 1;
	}
}

/* status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] */
static int parse_status_line(const char *p, size_t len, weft_h1_resp_t *r)
{
	if (len < 12 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
		return -1;
	if (len > 12 && p[12] != ' ')
		return -1;
	r->minor = p[7] - '0';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	r->reason = len > 13 ? weft_str(p + 13, len - 13) : weft_str("", 0);
	for (size_t i = 0; i < r->reason.len; i++)
		if (!is_vchar_ws((unsigned char)r->reason.p[i]))
			return -1;
	return 0;
}

int weft_h1_parse_response_head(const char *p, size_t n, const weft_h1_limits_t *lim,
				bool head_req, weft_h1_resp_t *r)
{
	size_t maxh = lim->max_headers < WEFT_H1_MAX_HEADERS ? lim->max_headers : WEFT_H1_MAX_HEADERS;
	long eol = find_eol(p, n, 0);
	bool te = false, conn_close = false, conn_keep = false;
	int hl;

	/* everything but the header array (see weft_h1_parse_request) */
	memset(r, 0, offsetof(weft_h1_resp_t, hdrs));
	memset(&r->body, 0, sizeof(*r) - offsetof(weft_h1_resp_t, body));
	if (eol == WEFT_EPROTO)
		return WEFT_EPROTO;
	if (eol == WEFT_EAGAIN)
		return n > lim->max_line ? WEFT_EPROTO : WEFT_EAGAIN;
	if ((size_t)eol - 1 > lim->max_line || parse_status_line(p, (size_t)eol - 1, r) < 0)
		return WEFT_EPROTO;
	hl = weft_h1_parse_fields(p + eol + 1, n - (size_t)eol - 1,
				  lim->max_head > (size_t)eol + 1 ? lim->max_head - (size_t)eol - 1 : 0,
				  r->hdrs, maxh, &r->nhdrs);
	if (hl < 0)
		return hl;
	for (size_t i = 0; i < r->nhdrs; i++) {
		const weft_h1_hdr_t *h = &r->hdrs[i];
		if (NAME_IS(h->name, "content-length")) {
			unsigned long long v;
			if (weft_str_to_u64(h->value, 1ULL << 53, &v) < 0 ||
			    (r->has_length && r->content_length != v))
				return WEFT_EPROTO;
			r->has_length = true;
			r->content_length = v;
		} else if (NAME_IS(h->name, "transfer-encoding")) {
			if (te || te_is_chunked(h->value) < 0 || te_is_chunked(h->value) == -2)
				return WEFT_EPROTO;
			te = true;
		} else if (NAME_IS(h->name, "connection")) {
			conn_close |= has_token(h->value, "close");
			conn_keep |= has_token(h->value, "keep-alive");
		}
	}
	if (te && (r->has_length || r->minor == 0))
		return WEFT_EPROTO;
	r->keep_alive = r->minor == 1 ? !conn_close : (conn_keep && !conn_close);
	if (r->status == 101) {
		r->upgrade = true;
		r->keep_alive = false;
		r->body = WEFT_H1_BODY_NONE;
	} else if (head_req || r->status < 200 || r->status == 204 || r->status == 304) {
		r->body = WEFT_H1_BODY_NONE;
	} else if (te) {
		r->body = WEFT_H1_BODY_CHUNKED;
	} else if (r->has_length) {
		r->body = r->content_length ? WEFT_H1_BODY_LENGTH : WEFT_H1_BODY_NONE;
	} else {
		r->body = WEFT_H1_BODY_CLOSE;
		r->keep_alive = false;
	}
	return (int)((size_t)eol + 1 + (size_t)hl);
}

/* ---- chunked bodies ---- */

enum { CK_SIZE0, CK_SIZE, CK_EXT, CK_LF, CK_DATA, CK_DCR, CK_DLF, CK_TRAILER, CK_END, CK_ERR };

#define CK_MAX_EXT 4096
#define CK_MAX_SIZE (1ULL << 60)

void weft_h1_chunked_init(weft_h1_chunked_t *d)
{
	d->state = CK_SIZE0;
	d->left = 0;
	d->ext = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int ck_fail(weft_h1_chunked_t *d)
{
	d->state = CK_ERR;
	return WEFT_EPROTO;
}

int weft_h1_chunked_step(weft_h1_chunked_t *d, const char *p, size_t n, size_t max_data,
			 size_t max_trailer_bytes, size_t *used, weft_h1_chunk_out_t *out)
{
	size_t i = 0;

	*used = 0;
	out->data = weft_str("", 0);
	out->ntrailers = 0;
	if (d->state == CK_ERR)
		return WEFT_EPROTO;
	if (d->state == CK_END)
		return WEFT_H1_CK_END;
	while (i < n) {
		char c = p[i];
		int h;
		switch (d->state) {
		case CK_SIZE0:
		case CK_SIZE:
			h = hexval(c);
			if (h >= 0) {
				if (d->left > (CK_MAX_SIZE >> 4))
					return ck_fail(d);   /* chunk-size overflow */
				d->left = (d->left << 4) | (uint64_t)h;
				d->state = CK_SIZE;
			} else if (d->state == CK_SIZE0) {
				return ck_fail(d);
			} else if (c == '\r') {
				d->state = CK_LF;
			} else if (c == ';' || c == ' ' || c == '\t') {
				d->state = CK_EXT;   /* BWS then extensions: ignored */
				d->ext = 1;
			} else {
				return ck_fail(d);
			}
			i++;
			break;
		case CK_EXT:
			if (c == '\r')
				d->state = CK_LF;
			else if (!is_vchar_ws((unsigned char)c) || ++d->ext > CK_MAX_EXT)
				return ck_fail(d);
			i++;
			break;
		case CK_LF:
			if (c != '\n')
				return ck_fail(d);
			i++;
			d->state = d->left ? CK_DATA : CK_TRAILER;
			break;
		case CK_DATA: {
			size_t k = n - i;
			if (k > d->left)
				k = (size_t)d->left;
			if (k > max_data)
				k = max_data;
			if (k == 0) {
				*used = i;
				return WEFT_H1_CK_MORE;
			}
			out->data = weft_str(p + i, k);
			d->left -= k;
			if (d->left == 0)
				d->state = CK_DCR;
			*used = i + k;
			return WEFT_H1_CK_DATA;
		}
		case CK_DCR:
			if (c != '\r')
				return ck_fail(d);
			d->state = CK_DLF;
			i++;
			break;
		case CK_DLF:
			if (c != '\n')
				return ck_fail(d);
			d->state = CK_SIZE0;
			d->left = 0;
			i++;
			break;
		case CK_TRAILER: {
			int tl = weft_h1_parse_fields(p + i, n - i, max_trailer_bytes, out->trailers,
						      out->max_trailers, &out->ntrailers);
			if (tl == WEFT_EAGAIN) {
				out->ntrailers = 0;
				*used = i;
				return WEFT_H1_CK_MORE;
			}
			if (tl < 0)
				return ck_fail(d);
			d->state = CK_END;
			*used = i + (size_t)tl;
			return WEFT_H1_CK_END;
		}
		default:
			return ck_fail(d);
		}
	}
	*used = i;
	return WEFT_H1_CK_MORE;
}

const char *weft_h1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 304: return "Not Modified";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}
