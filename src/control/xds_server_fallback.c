/* weft — weak fallbacks for the snapshot helpers declared in weft/xds.h.
 * The translator (src/control/xds_translate*.c) provides the real ones;
 * these let the server and its tests link before/without it. A strong
 * definition anywhere else in the link wins over these. */
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/str.h"
#include "weft/xds.h"

static const char *const fb_urls[WEFT_XDS_NTYPES] = {
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
};
static const char *const fb_names[WEFT_XDS_NTYPES] = { "LDS", "RDS", "CDS", "EDS" };

__attribute__((weak)) const char *weft_xds_type_url(weft_xds_type_t t)
{
	return (unsigned)t < WEFT_XDS_NTYPES ? fb_urls[t] : "";
}

__attribute__((weak)) const char *weft_xds_type_name(weft_xds_type_t t)
{
	return (unsigned)t < WEFT_XDS_NTYPES ? fb_names[t] : "?";
}

__attribute__((weak)) int weft_xds_type_from_url(weft_str_t url)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		if (weft_str_eq_c(url, fb_urls[t]))
			return t;
	return -1;
}

__attribute__((weak)) const weft_xds_resource_t *
weft_xds_snapshot_find(const weft_xds_snapshot_t *s, weft_xds_type_t t, weft_str_t name)
{
	size_t lo = 0, hi;

	if (!s || (unsigned)t >= WEFT_XDS_NTYPES)
		return NULL;
	hi = s->types[t].n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const weft_str_t *k = &s->types[t].v[mid].name;
		size_t m = k->len < name.len ? k->len : name.len;
		int c = m ? memcmp(k->p, name.p, m) : 0;
		if (c == 0)
			c = k->len < name.len ? -1 : k->len > name.len;
		if (c == 0)
			return &s->types[t].v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

__attribute__((weak)) void weft_xds_snapshot_ref(weft_xds_snapshot_t *s)
{
	if (s)
		s->refs++;
}

__attribute__((weak)) void weft_xds_snapshot_unref(weft_xds_snapshot_t *s)
{
	if (!s || --s->refs > 0)
		return;
	weft_arena_destroy(&s->arena);
	free(s);
}
