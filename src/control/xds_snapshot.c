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
	[WEFT_XDS_WORKLOAD] = { WEFT_XDS_TYPE_PREFIX "weft.agent.v1.Workload", "WORKLOAD" },
	[WEFT_XDS_SERVICE] = { WEFT_XDS_TYPE_PREFIX "weft.agent.v1.Service", "SERVICE" },
	[WEFT_XDS_AUTHZ] = { WEFT_XDS_TYPE_PREFIX "weft.agent.v1.Authorization", "AUTHZ" },
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

bool weft_xds_visible(weft_xds_type_t t, const weft_xds_resource_t *r, const char *node)
{
	size_t lo = 0, hi;
	weft_str_t n;

	if (!weft_xds_type_is_agent(t))
		return true;
	if (!node)
		return false;
	if (!r->audience)
		return true;
	n = weft_str_c(node);
	hi = r->naudience;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(r->audience[mid], n);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int out_cmp(const void *a, const void *b)
{
	const weft_xds_out_t *x = a, *y = b;
	int c = name_cmp(x->r.name, y->r.name);

	/* stable on equal names: keep emission order so the first one wins */
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
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
	weft_xds_reuse_release(s->reuse);
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

void weft_xds_tx_emit(weft_xds_tx_t *tx, weft_xds_type_t t, const char *name,
		      const ProtobufCMessage *msg)
{
	static const char hex[16] = "0123456789abcdef";
	weft_xds_list_t *l = &tx->out[t];
	weft_xds_out_t *o;
	size_t len = protobuf_c_message_get_packed_size(msg), nlen = strlen(name);
	/* the record: bytes, name, NUL, 16 hex digits, NUL */
	unsigned char *buf = weft_xds_blob_space(tx, len + nlen + 1 + 17);
	char *nm, *ver;
	uint64_t h;

	len = protobuf_c_message_pack(msg, buf);
	nm = (char *)buf + len;
	memcpy(nm, name, nlen + 1);
	ver = nm + nlen + 1;
	h = weft_fnv1a64(WEFT_FNV1A64_INIT, buf, len);
	for (int i = 15; i >= 0; i--, h >>= 4)
		ver[i] = hex[h & 15];
	ver[16] = '\0';
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		weft_xds_out_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			longjmp(tx->oom, 1);
		l->v = v;
		l->cap = cap;
	}
	o = &l->v[l->n++];
	o->r.name = (weft_str_t){ nm, nlen };
	o->r.version = (weft_str_t){ ver, 16 };
	o->r.bytes = buf;
	o->r.len = len;
	o->r.audience = NULL;   /* everyone; agent units set theirs (xds_agent.c) */
	o->r.naudience = 0;
	o->seq = tx->seq++;
	o->slot = tx->slot++;
	o->blob = WEFT_XDS_NO_INDEX;
	o->prev_pos = tx->cur_pu ? tx->cur_pu->idx[o->slot % WEFT_XDS_NSLOTS] : WEFT_XDS_NO_INDEX;
	o->placed = false;
}

/* ---- names: built with memcpy (printf dominated the profile) ---- */

/* Decimal digits of v into buf (at least 6 bytes); returns them. */
static weft_str_t port_str(char *buf, unsigned v)
{
	char *e = buf + 6, *p = e;

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) && p > buf);
	return (weft_str_t){ p, (size_t)(e - p) };
}

char *weft_xds_tx_cat(weft_xds_tx_t *tx, size_t n, const weft_str_t *parts)
{
	size_t len = 0;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		len += parts[i].len;
	out = o = weft_xds_tx_alloc(tx, len + 1);
	for (size_t i = 0; i < n; i++)
		if (parts[i].len) {
			memcpy(o, parts[i].p, parts[i].len);
			o += parts[i].len;
		}
	*o = '\0';
	return out;
}

char *weft_xds_tx_port_name(weft_xds_tx_t *tx, weft_str_t a, weft_str_t b, weft_str_t c,
			    unsigned port)
{
	char buf[6];
	weft_str_t parts[5] = { a, b, c, WEFT_STR_LIT(":"), port_str(buf, port) };

	return weft_xds_tx_cat(tx, 5, parts);
}

char *weft_xds_svc_fqdn(weft_xds_tx_t *tx, const weft_service_t *svc)
{
	weft_str_t parts[4] = { svc->meta.name, WEFT_STR_LIT("."), svc->meta.ns,
				WEFT_STR_LIT(".svc.cluster.local") };

	return weft_xds_tx_cat(tx, 4, parts);
}

char *weft_xds_cluster_name(weft_xds_tx_t *tx, weft_str_t name, weft_str_t ns, uint16_t port)
{
	char buf[6];
	weft_str_t parts[7] = { WEFT_STR_LIT("outbound|"), port_str(buf, port), WEFT_STR_LIT("||"),
				name, WEFT_STR_LIT("."), ns, WEFT_STR_LIT(".svc.cluster.local") };

	return weft_xds_tx_cat(tx, 7, parts);
}

char *weft_xds_route_name(weft_xds_tx_t *tx, const weft_service_t *svc, uint16_t port)
{
	char buf[6];
	weft_str_t parts[5] = { svc->meta.name, WEFT_STR_LIT("."), svc->meta.ns,
				WEFT_STR_LIT(".svc.cluster.local:"), port_str(buf, port) };

	return weft_xds_tx_cat(tx, 5, parts);
}

/* Hashes a service port's identity: every fingerprint starts with it. */
static void fp_port(weft_xds_hasher_t *h, const weft_service_t *svc, const weft_svc_port_t *port)
{
	weft_xds_fp_str(h, svc->meta.name);
	weft_xds_fp_str(h, svc->meta.ns);
	weft_xds_fp_u64(h, port->port);
}

/* ---- the driver ---- */

/* Puts l in (name, emission) order. With prev (the previous snapshot's
 * array of the same type): an entry whose service port had a resource in
 * that slot with the same name takes that one's place, so that those
 * entries come out sorted (a subsequence of a sorted array) and only the
 * others need sorting, to be merged in. Longjmps when memory runs out. */
static void order_list(weft_xds_tx_t *tx, weft_xds_list_t *l, const weft_xds_resource_t *pv, size_t pn)
{
	uint32_t *at;
	weft_xds_out_t *rest, *v;
	size_t nrest = 0, n = 0, i, j;

	if (!pv || !pn) {
		if (l->n)
			qsort(l->v, l->n, sizeof(*l->v), out_cmp);
		return;
	}
	at = malloc(pn * sizeof(*at));
	rest = malloc((l->n + 1) * sizeof(*rest));
	v = malloc((l->n + 1) * sizeof(*v));
	if (!at || !rest || !v) {
		free(at);
		free(rest);
		free(v);
		longjmp(tx->oom, 1);
	}
	memset(at, 0xff, pn * sizeof(*at));   /* WEFT_XDS_NO_INDEX */
	for (i = 0; i < l->n; i++) {
		const weft_xds_out_t *o = &l->v[i];
		uint32_t p = o->prev_pos;

		/* a reused resource still points at prev's name */
		if (p < pn && at[p] == WEFT_XDS_NO_INDEX &&
		    (o->r.name.p == pv[p].name.p ? o->r.name.len == pv[p].name.len
						 : name_cmp(o->r.name, pv[p].name) == 0))
			at[p] = (uint32_t)i;
		else
			rest[nrest++] = *o;
	}
	if (nrest)
		qsort(rest, nrest, sizeof(*rest), out_cmp);
	/* merge the placed entries (in prev's order) with the rest */
	for (i = 0, j = 0; i < pn; i++) {
		const weft_xds_out_t *o;

		if (at[i] == WEFT_XDS_NO_INDEX)
			continue;
		o = &l->v[at[i]];
		while (j < nrest && out_cmp(&rest[j], o) < 0)
			v[n++] = rest[j++];
		v[n] = *o;
		v[n++].placed = true;
	}
	while (j < nrest)
		v[n++] = rest[j++];
	free(at);
	free(rest);
	free(l->v);
	l->v = v;
	l->cap = l->n + 1;
}

/* Settles the blobs, sorts each list by name, drops later duplicates (and
 * forgets the inputs of the service ports they came from, so that they are
 * never reused), copies the arrays into the snapshot's arena and indexes
 * the service ports. Longjmps when memory runs out. */
static void seal(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev)
{
	weft_xds_reuse_t *r = tx->snap->reuse;

	weft_xds_blobs_settle(tx);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		weft_xds_list_t *l = &tx->out[t];
		weft_xds_resource_t *v;
		size_t n = 0;
		bool last_placed = false;

		order_list(tx, l, prev ? prev->types[t].v : NULL, prev ? prev->types[t].n : 0);
		v = weft_arena_calloc(&tx->snap->arena, l->n ? l->n : 1, sizeof(*v));
		if (!v)
			longjmp(tx->oom, 1);
		for (size_t i = 0; i < l->n; i++) {
			weft_xds_unit_t *u = &tx->units[l->v[i].slot / WEFT_XDS_NSLOTS];

			/* placed entries have names unique among themselves */
			if (n && !(l->v[i].placed && last_placed) &&
			    name_cmp(v[n - 1].name, l->v[i].r.name) == 0) {
				u->fp[t] = (weft_xds_fp_t){ 0, 0 };
				continue;
			}
			u->idx[l->v[i].slot % WEFT_XDS_NSLOTS] = (uint32_t)n;
			last_placed = l->v[i].placed;
			v[n++] = l->v[i].r;
		}
		tx->snap->types[t].v = v;
		tx->snap->types[t].n = n;
	}
	r->units = tx->units;
	r->nunits = tx->nunits;
	weft_xds_reuse_index(tx, r);
}

static bool fp_eq(weft_xds_fp_t a, weft_xds_fp_t b)
{
	return a.a == b.a && a.b == b.b && (a.a || a.b);
}

typedef void (*build_fn)(weft_xds_tx_t *, const weft_service_t *, const weft_svc_port_t *);
typedef weft_xds_fp_t (*fp_fn)(weft_xds_tx_t *, weft_xds_hasher_t, const weft_service_t *,
			       const weft_svc_port_t *);

static const struct {
	build_fn build;
	fp_fn fp;
	unsigned slot, nslots;
} builders[WEFT_XDS_NTYPES] = {
	[WEFT_XDS_LDS] = { weft_xds_lds_port, weft_xds_lds_fp, WEFT_XDS_SLOT_LDS, 2 },
	[WEFT_XDS_RDS] = { weft_xds_rds_port, weft_xds_rds_fp, WEFT_XDS_SLOT_RDS, 1 },
	[WEFT_XDS_CDS] = { weft_xds_cds_port, weft_xds_cds_fp, WEFT_XDS_SLOT_CDS, 1 },
	[WEFT_XDS_EDS] = { weft_xds_eds_port, weft_xds_eds_fp, WEFT_XDS_SLOT_EDS, 1 },
};

/* Adds one service port's resources: each type's taken from prev when
 * its inputs are unchanged, built otherwise. */
static void translate_port(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev,
			   const weft_service_t *svc, const weft_svc_port_t *port)
{
	size_t ui = tx->nunits++;
	weft_xds_unit_t *u = &tx->units[ui];
	const weft_xds_unit_t *pu = NULL;
	bool built = false;
	weft_xds_hasher_t id;

	weft_xds_fp_init(&id, 0);
	fp_port(&id, svc, port);
	u->key = weft_xds_fp_final(&id).a;
	for (unsigned s = 0; s < WEFT_XDS_NSLOTS; s++)
		u->idx[s] = WEFT_XDS_NO_INDEX;
	if (prev)
		pu = weft_xds_reuse_find(tx->prev, u->key);
	tx->cur_pu = pu;
	for (int t = 0; t < WEFT_XDS_NPORT_TYPES; t++) {
		unsigned s0 = builders[t].slot, ns = builders[t].nslots, s;

		u->fp[t] = builders[t].fp(tx, id, svc, port);
		tx->slot = (uint32_t)(ui * WEFT_XDS_NSLOTS + s0);
		if (pu && fp_eq(pu->fp[t], u->fp[t])) {
			for (s = 0; s < ns && pu->idx[s0 + s] != WEFT_XDS_NO_INDEX; s++)
				;
			if (s == ns) {
				for (s = 0; s < ns && weft_xds_reuse_take(tx, prev, pu, t, s0 + s); s++)
					;
				if (s == ns)
					continue;
				/* not in a blob (cannot happen with snapshots we made):
				 * drop what was taken and build */
				tx->out[t].n -= s;
			}
		}
		builders[t].build(tx, svc, port);
		built = true;
	}
	if (built)
		weft_arena_reset(&tx->tmp);
}

static void translate_all(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev)
{
	const weft_model_t *m = tx->m;
	size_t nports = 0;

	size_t nagent = weft_xds_agent_nunits(m);

	for (size_t i = 0; i < m->nservices; i++)
		nports += m->services[i].nports;
	if (nports + nagent >= UINT32_MAX / WEFT_XDS_NSLOTS)
		longjmp(tx->oom, 1);
	tx->node_fp = calloc(m->nnodes + 1, sizeof(*tx->node_fp));
	if (!tx->node_fp)
		longjmp(tx->oom, 1);
	tx->units = weft_arena_calloc(&tx->snap->arena, nports + nagent ? nports + nagent : 1,
				      sizeof(*tx->units));
	tx->snap->reuse = weft_arena_alloc(&tx->snap->arena, sizeof(*tx->snap->reuse));
	if (!tx->units || !tx->snap->reuse)
		longjmp(tx->oom, 1);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		weft_xds_list_t *l = &tx->out[t];

		l->cap = t == WEFT_XDS_WORKLOAD ? m->nworkloads + 1 : t == WEFT_XDS_SERVICE ? m->nservices + 1 :
			 t == WEFT_XDS_AUTHZ ? m->nauthz + 1 : (t == WEFT_XDS_LDS ? 2 : 1) * nports + 1;
		l->v = malloc(l->cap * sizeof(*l->v));
		if (!l->v)
			longjmp(tx->oom, 1);
	}
	if (prev && prev->reuse && prev->reuse->nunits) {
		tx->prev = prev->reuse;
		tx->live = calloc(prev->reuse->nblobs + 1, sizeof(*tx->live));
		if (!tx->live)
			longjmp(tx->oom, 1);
	} else {
		prev = NULL;
	}

	for (size_t i = 0; i < m->nservices; i++) {
		const weft_service_t *svc = &m->services[i];

		for (size_t p = 0; p < svc->nports; p++)
			translate_port(tx, prev, svc, &svc->ports[p]);
	}
	weft_xds_agent_all(tx, prev);
	seal(tx, prev);
}

static void tx_free(weft_xds_tx_t *tx)
{
	weft_xds_blobs_abandon(tx);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		free(tx->out[t].v);
	free(tx->own);
	free(tx->live);
	free(tx->node_fp);
	weft_arena_destroy(&tx->tmp);
	free(tx);
}

weft_xds_snapshot_t *weft_xds_translate_from(const weft_model_t *m, uint64_t generation,
					     const weft_xds_snapshot_t *prev)
{
	return weft_xds_translate_opts(m, generation, prev, NULL);
}

weft_xds_snapshot_t *weft_xds_translate_opts(const weft_model_t *m, uint64_t generation,
					     const weft_xds_snapshot_t *prev, const weft_xds_opts_t *o)
{
	/* heap-allocated so that nothing the longjmp skips over lives in this
	 * frame's automatic variables */
	weft_xds_tx_t *tx = calloc(1, sizeof(*tx));
	weft_xds_snapshot_t *s;
	weft_arena_t a;

	if (!tx)
		return NULL;
	tx->m = m;
	tx->trust_domain = weft_str_c(o && o->trust_domain && *o->trust_domain ? o->trust_domain : "cluster.local");
	tx->root_ns = weft_str_c(o && o->root_namespace && *o->root_namespace ? o->root_namespace : "weft-system");
	weft_arena_init(&tx->tmp, 64 * 1024);
	weft_arena_init(&a, 64 * 1024);
	tx->snap = weft_arena_alloc(&a, sizeof(*tx->snap));
	if (!tx->snap) {
		weft_arena_destroy(&a);
		tx_free(tx);
		return NULL;
	}
	tx->snap->arena = a;   /* from here on the snapshot owns its arena */
	tx->snap->generation = generation;
	tx->snap->refs = 1;

	if (setjmp(tx->oom)) {
		weft_xds_reuse_release(tx->snap->reuse);
		a = tx->snap->arena;
		weft_arena_destroy(&a);
		tx_free(tx);
		return NULL;
	}
	translate_all(tx, prev);
	s = tx->snap;
	tx_free(tx);
	return s;
}

weft_xds_snapshot_t *weft_xds_translate(const weft_model_t *m, uint64_t generation)
{
	return weft_xds_translate_from(m, generation, NULL);
}
