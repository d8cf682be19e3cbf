/* weft — protocol-neutral HTTP message helpers: default codec limits,
 * field lookup, and heads built or edited in an arena (weft_hmsg_*). */
#include <string.h>
#include "weft/arena.h"
#include "weft/http.h"
#include "weft/str.h"

void weft_http_limits_default(weft_http_limits_t *l)
{
	memset(l, 0, sizeof(*l));
	l->max_head = 16 * 1024;
	l->max_line = 8 * 1024;
	l->max_headers = 64;
	l->max_streams = 128;
	l->stream_window = 256 * 1024;
	l->conn_window = 1024 * 1024;
	l->stream_out_max = 64 * 1024;
	l->conn_out_max = 256 * 1024;
	l->head_timeout_ms = 10 * 1000;
	l->idle_ms = 60 * 1000;
	l->max_resets_per_s = 200;
	l->max_control_per_s = 200;
	l->max_continuations = 16;
}

const weft_hdr_t *weft_http_hdr(const weft_http_head_t *h, const char *name)
{
	weft_str_t nm = weft_str_c(name);

	for (size_t i = 0; i < h->nhdrs; i++)
		if (h->hdrs[i].name.len == nm.len && weft_str_ieq(h->hdrs[i].name, nm))
			return &h->hdrs[i];
	return NULL;
}

/* Copies s into the arena (an empty string stays a valid empty string).
 * Returns 0, or -1 when memory ran out. */
static int dup_str(weft_arena_t *a, weft_str_t *dst, weft_str_t s)
{
	weft_str_t c = weft_arena_strdup(a, s);

	if (!c.p)
		return -1;
	*dst = c;
	return 0;
}

void weft_hmsg_init(weft_hmsg_t *msg, weft_arena_t *arena)
{
	memset(msg, 0, sizeof(*msg));
	msg->arena = arena;
	msg->h.ver = WEFT_HTTP_11;
	msg->h.content_length = -1;
	msg->h.method = msg->h.scheme = msg->h.authority = msg->h.path = weft_str("", 0);
	msg->h.upgrade_proto = weft_str("", 0);
}

/* Makes room for at least one more field. Returns 0 or -1 (no memory). */
static int grow(weft_hmsg_t *msg)
{
	weft_hdr_t *n;
	size_t cap;

	if (msg->h.nhdrs < msg->cap)
		return 0;
	cap = msg->cap ? msg->cap * 2 : 16;
	n = weft_arena_calloc(msg->arena, cap, sizeof(*n));
	if (!n)
		return -1;
	if (msg->h.nhdrs)
		memcpy(n, msg->h.hdrs, msg->h.nhdrs * sizeof(*n));
	msg->h.hdrs = n;
	msg->cap = cap;
	return 0;
}

/* Copies s to *p (with its NUL, already there in zeroed memory) and
 * moves *p past it. */
static weft_str_t put_str(char **p, weft_str_t s)
{
	weft_str_t r = { *p, s.len };

	if (s.len)
		memcpy(*p, s.p, s.len);
	*p += s.len + 1;
	return r;
}

int weft_hmsg_copy(weft_hmsg_t *msg, weft_arena_t *arena, const weft_http_head_t *src)
{
	size_t strs = src->method.len + src->scheme.len + src->authority.len + src->path.len +
		      src->upgrade_proto.len + 5;
	size_t cap = src->nhdrs ? src->nhdrs + 8 : 0;
	weft_hdr_t *hdrs;
	char *p;

	weft_hmsg_init(msg, arena);
	msg->h.ver = src->ver;
	msg->h.status = src->status;
	msg->h.content_length = src->content_length;
	msg->h.upgrade = src->upgrade;
	/* one zeroed block: the field array (cap slots), then every string
	 * with its NUL */
	for (size_t i = 0; i < src->nhdrs; i++)
		strs += src->hdrs[i].name.len + src->hdrs[i].value.len + 2;
	if (cap > ((size_t)-1) / 4 / sizeof(weft_hdr_t) || strs > ((size_t)-1) / 4)
		return WEFT_ENOMEM;
	hdrs = weft_arena_alloc(arena, cap * sizeof(weft_hdr_t) + strs);
	if (!hdrs)
		return WEFT_ENOMEM;
	p = (char *)(hdrs + cap);
	msg->h.method = put_str(&p, src->method);
	msg->h.scheme = put_str(&p, src->scheme);
	msg->h.authority = put_str(&p, src->authority);
	msg->h.path = put_str(&p, src->path);
	msg->h.upgrade_proto = put_str(&p, src->upgrade_proto);
	if (cap) {
		msg->cap = cap;
		msg->h.hdrs = hdrs;
	}
	for (size_t i = 0; i < src->nhdrs; i++) {
		hdrs[i].name = put_str(&p, src->hdrs[i].name);
		hdrs[i].value = put_str(&p, src->hdrs[i].value);
	}
	msg->h.nhdrs = src->nhdrs;
	return WEFT_OK;
}

/* h as a lowercased copy of name and a copy of value, in one arena block
 * (zeroed: the NULs are there). Returns 0 or -1 (no memory). */
static int dup_field(weft_arena_t *a, weft_hdr_t *h, weft_str_t name, weft_str_t value)
{
	char *p;

	if (name.len > ((size_t)-1) / 4 || value.len > ((size_t)-1) / 4)
		return -1;
	p = weft_arena_alloc(a, name.len + value.len + 2);
	if (!p)
		return -1;
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		p[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	h->name = weft_str(p, name.len);
	p += name.len + 1;
	if (value.len)
		memcpy(p, value.p, value.len);
	h->value = weft_str(p, value.len);
	return 0;
}

int weft_hmsg_add(weft_hmsg_t *msg, weft_str_t name, weft_str_t value)
{
	weft_hdr_t h;

	if (dup_field(msg->arena, &h, name, value) < 0 || grow(msg) < 0)
		return WEFT_ENOMEM;
	msg->h.hdrs[msg->h.nhdrs++] = h;
	return WEFT_OK;
}

void weft_hmsg_remove(weft_hmsg_t *msg, weft_str_t name)
{
	size_t o = 0;

	for (size_t i = 0; i < msg->h.nhdrs; i++)
		if (msg->h.hdrs[i].name.len != name.len || !weft_str_ieq(msg->h.hdrs[i].name, name))
			msg->h.hdrs[o++] = msg->h.hdrs[i];
	msg->h.nhdrs = o;
}

int weft_hmsg_set(weft_hmsg_t *msg, weft_str_t name, weft_str_t value)
{
	weft_hdr_t h;
	size_t o = 0;
	bool placed = false;

	/* copy first: name/value may point into the fields being removed */
	if (dup_field(msg->arena, &h, name, value) < 0)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < msg->h.nhdrs; i++) {
		if (msg->h.hdrs[i].name.len != h.name.len || !weft_str_ieq(msg->h.hdrs[i].name, h.name))
			msg->h.hdrs[o++] = msg->h.hdrs[i];
		else if (!placed) {
			msg->h.hdrs[o++] = h;   /* keep the first one's position */
			placed = true;
		}
	}
	msg->h.nhdrs = o;
	if (placed)
		return WEFT_OK;
	if (grow(msg) < 0)
		return WEFT_ENOMEM;
	msg->h.hdrs[msg->h.nhdrs++] = h;
	return WEFT_OK;
}

int weft_hmsg_str(weft_hmsg_t *msg, weft_str_t *field, weft_str_t v)
{
	return dup_str(msg->arena, field, v) < 0 ? WEFT_ENOMEM : WEFT_OK;
}
