/* weft — xDS snapshots: type URLs, the translation driver, lookup and
 * reference counting, and the helpers the per-type translators share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "xds_translate.h"

static const struct {
	const char *url;
	const char *name;
} xds_types[WEFT_XDS_NTYPES] = {
	[WEFT_XDS_LDS] = { WEFT_XDS_TYPE_PREFIX "envoy.config.listener.v3.Listener", "LDS" },
	[WEFT_XDS_RDS] = { WEFT_XDS_TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration", "RDS" },
	[WEFT_XDS_CDS] = { WEFT_XDS_TYPE_PREFIX "envoy.config.cluster.v3.Cluster", "CDS" },
	[WEFT_XDS_EDS] = { WEFT_XDS_TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment", "EDS" },
};

const char *weft_xds_type_url(weft_xds_type_t t)
{
	return (unsigned)t < WEFT_XDS_NTYPES ? xds_types[t].url : NULL;
}

const char *weft_xds_type_name(weft_xds_type_t t)
{
	return (unsigned)t < WEFT_XDS_NTYPES ? xds_types[t].name : "?";
}

int weft_xds_type_from_url(weft_str_t url)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		if (weft_str_eq_c(url, xds_types[t].url))
			return t;
	return -1;
}

/* memcmp order on (ptr, len), shorter first on a common prefix. */
static int name_cmp(weft_str_t a, weft_str_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int res_cmp(const void *a, const void *b)
{
	const weft_xds_resource_t *x = a, *y = b;
	int c = name_cmp(x->name, y->name);

	/* stable on equal names: keep emission order so the first one wins */
	if (c)
		return c;
	return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

const weft_xds_resource_t *weft_xds_snapshot_find(const weft_xds_snapshot_t *s,
						  weft_xds_type_t t, weft_str_t name)
{
	size_t lo = 0, hi;

	if (!s || (unsigned)t >= WEFT_XDS_NTYPES)
		return NULL;
	hi = s->types[t].n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(s->types[t].v[mid].name, name);

		if (c == 0)
			return &s->types[t].v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void weft_xds_snapshot_ref(weft_xds_snapshot_t *s)
{
	if (s)
		s->refs++;
}

void weft_xds_snapshot_unref(weft_xds_snapshot_t *s)
{
	weft_arena_t a;

	if (!s || --s->refs > 0)
		return;
	/* the snapshot lives in its own arena: copy the arena out first */
	a = s->arena;
	weft_arena_destroy(&a);
}

/* ---- helpers shared by the translators ---- */

void *weft_xds_tx_alloc(weft_xds_tx_t *tx, size_t size)
{
	void *p = weft_arena_alloc(&tx->tmp, size ? size : 1);

	if (!p)
		longjmp(tx->oom, 1);
	return p;
}

void *weft_xds_tx_msg(weft_xds_tx_t *tx, const ProtobufCMessageDescriptor *d)
{
	void *p = weft_xds_tx_alloc(tx, d->sizeof_message);

	protobuf_c_message_init(d, p);
	return p;
}

void **weft_xds_tx_ptrs(weft_xds_tx_t *tx, size_t n)
{
	if (n > SIZE_MAX / sizeof(void *))
		longjmp(tx->oom, 1);
	return weft_xds_tx_alloc(tx, n * sizeof(void *));
}

char *weft_xds_tx_str(weft_xds_tx_t *tx, weft_str_t s)
{
	char *p = weft_xds_tx_alloc(tx, s.len + 1);

	if (s.len)
		memcpy(p, s.p, s.len);
	return p;
}

char *weft_xds_tx_printf(weft_xds_tx_t *tx, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		longjmp(tx->oom, 1);
	p = weft_xds_tx_alloc(tx, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

Google__Protobuf__Any *weft_xds_tx_any(weft_xds_tx_t *tx, const ProtobufCMessage *msg,
				       const char *type_url)
{
	Google__Protobuf__Any *any = WEFT_XDS_NEW(tx, Google__Protobuf__Any,
						   google__protobuf__any__descriptor);
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = weft_xds_tx_alloc(tx, len);

	any->type_url = (char *)type_url;
	any->value.len = protobuf_c_message_pack(msg, buf);
	any->value.data = buf;
	return any;
}

Google__Protobuf__Duration *weft_xds_tx_duration_ms(weft_xds_tx_t *tx, uint64_t ms)
{
	Google__Protobuf__Duration *d = WEFT_XDS_NEW(tx, Google__Protobuf__Duration,
						      google__protobuf__duration__descriptor);

	d->seconds = (int64_t)(ms / 1000);
	d->nanos = (int32_t)(ms % 1000) * 1000000;
	return d;
}

Google__Protobuf__UInt32Value *weft_xds_tx_u32(weft_xds_tx_t *tx, uint32_t v)
{
	Google__Protobuf__UInt32Value *w = WEFT_XDS_NEW(tx, Google__Protobuf__UInt32Value,
							 google__protobuf__uint32_value__descriptor);
	w->value = v;
	return w;
}

Google__Protobuf__UInt64Value *weft_xds_tx_u64(weft_xds_tx_t *tx, uint64_t v)
{
	Google__Protobuf__UInt64Value *w = WEFT_XDS_NEW(tx, Google__Protobuf__UInt64Value,
							 google__protobuf__uint64_value__descriptor);
	w->value = v;
	return w;
}

Envoy__Config__Core__V3__ConfigSource *weft_xds_tx_ads(weft_xds_tx_t *tx)
{
	Envoy__Config__Core__V3__ConfigSource *cs =
		WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__ConfigSource,
			     envoy__config__core__v3__config_source__descriptor);

	cs->config_source_specifier_case = ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
	cs->ads = WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__AggregatedConfigSource,
			       envoy__config__core__v3__aggregated_config_source__descriptor);
	cs->resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
	return cs;
}

/* FNV-1a, 64 bits: stable across runs and builds. */
static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void weft_xds_tx_emit(weft_xds_tx_t *tx, weft_xds_type_t t, const char *name,
		      const ProtobufCMessage *msg)
{
	weft_xds_list_t *l = &tx->out[t];
	weft_arena_t *a = &tx->snap->arena;
	weft_xds_resource_t *r;
	size_t len = protobuf_c_message_get_packed_size(msg);
	unsigned char *buf = weft_arena_alloc(a, len ? len : 1);
	char *ver;

	if (!buf)
		longjmp(tx->oom, 1);
	len = protobuf_c_message_pack(msg, buf);
	ver = weft_arena_printf(a, "%016llx", (unsigned long long)fnv1a64(buf, len));
	if (!ver)
		longjmp(tx->oom, 1);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		weft_xds_resource_t *v = weft_xds_tx_alloc(tx, cap * sizeof(*v));

		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		l->v = v;
		l->cap = cap;
	}
	r = &l->v[l->n++];
	r->name = weft_arena_strdup(a, weft_str_c(name));
	if (!r->name.p)
		longjmp(tx->oom, 1);
	r->version = weft_str_c(ver);
	r->bytes = buf;
	r->len = len;
}

char *weft_xds_svc_fqdn(weft_xds_tx_t *tx, const weft_service_t *svc)
{
	return weft_xds_tx_printf(tx, WEFT_STR_FMT "." WEFT_STR_FMT ".svc.cluster.local",
				  WEFT_STR_ARG(svc->meta.name), WEFT_STR_ARG(svc->meta.ns));
}

char *weft_xds_cluster_name(weft_xds_tx_t *tx, weft_str_t name, weft_str_t ns, uint16_t port)
{
	return weft_xds_tx_printf(tx, "outbound|%u||" WEFT_STR_FMT "." WEFT_STR_FMT ".svc.cluster.local",
				  (unsigned)port, WEFT_STR_ARG(name), WEFT_STR_ARG(ns));
}

char *weft_xds_route_name(weft_xds_tx_t *tx, const weft_service_t *svc, uint16_t port)
{
	return weft_xds_tx_printf(tx, WEFT_STR_FMT "." WEFT_STR_FMT ".svc.cluster.local:%u",
				  WEFT_STR_ARG(svc->meta.name), WEFT_STR_ARG(svc->meta.ns),
				  (unsigned)port);
}

/* ---- the driver ---- */

/* Sorts each list by name, drops later duplicates and copies the arrays
 * into the snapshot's arena. Longjmps when memory runs out. */
static void seal(weft_xds_tx_t *tx)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		weft_xds_list_t *l = &tx->out[t];
		weft_xds_resource_t *v;
		size_t n = 0;

		if (l->n)
			qsort(l->v, l->n, sizeof(*l->v), res_cmp);
		v = weft_arena_calloc(&tx->snap->arena, l->n ? l->n : 1, sizeof(*v));
		if (!v)
			longjmp(tx->oom, 1);
		for (size_t i = 0; i < l->n; i++) {
			if (n && name_cmp(v[n - 1].name, l->v[i].name) == 0)
				continue;
			v[n++] = l->v[i];
		}
		tx->snap->types[t].v = v;
		tx->snap->types[t].n = n;
	}
}

static void translate_all(weft_xds_tx_t *tx)
{
	const weft_model_t *m = tx->m;

	for (size_t i = 0; i < m->nservices; i++) {
		const weft_service_t *svc = &m->services[i];

		for (size_t p = 0; p < svc->nports; p++) {
			const weft_svc_port_t *port = &svc->ports[p];

			weft_xds_lds_port(tx, svc, port);
			weft_xds_rds_port(tx, svc, port);
			weft_xds_cds_port(tx, svc, port);
			weft_xds_eds_port(tx, svc, port);
		}
	}
	seal(tx);
}

weft_xds_snapshot_t *weft_xds_translate(const weft_model_t *m, uint64_t generation)
{
	/* heap-allocated so that nothing the longjmp skips over lives in this
	 * frame's automatic variables */
	weft_xds_tx_t *tx = calloc(1, sizeof(*tx));
	weft_xds_snapshot_t *s;
	weft_arena_t a;

	if (!tx)
		return NULL;
	tx->m = m;
	weft_arena_init(&tx->tmp, 64 * 1024);
	weft_arena_init(&a, 64 * 1024);
	tx->snap = weft_arena_alloc(&a, sizeof(*tx->snap));
	if (!tx->snap) {
		weft_arena_destroy(&a);
		free(tx);
		return NULL;
	}
	tx->snap->arena = a;   /* from here on the snapshot owns its arena */
	tx->snap->generation = generation;
	tx->snap->refs = 1;

	if (setjmp(tx->oom)) {
		a = tx->snap->arena;
		weft_arena_destroy(&a);
		weft_arena_destroy(&tx->tmp);
		free(tx);
		return NULL;
	}
	translate_all(tx);
	s = tx->snap;
	weft_arena_destroy(&tx->tmp);
	free(tx);
	return s;
}
