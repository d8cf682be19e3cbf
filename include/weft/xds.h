/* weft — xDS type URLs and snapshots. */
#ifndef WEFT_XDS_H
#define WEFT_XDS_H
#include "weft/xds-t.h"
#include "weft/model-t.h"
#include <stdbool.h>

/* "type.googleapis.com/envoy.config.listener.v3.Listener", ... */
const char *weft_xds_type_url(weft_xds_type_t t);
/* Short name for logs and metrics: "LDS", "RDS", "CDS", "EDS", and for
 * the agent types "WORKLOAD", "SERVICE", "AUTHZ". */
const char *weft_xds_type_name(weft_xds_type_t t);
/* Returns the type for a type URL, or -1 when unknown. */
int weft_xds_type_from_url(weft_str_t url);

/* Translates a model into every LDS/RDS/CDS/EDS resource that proxyless gRPC
 * clients (and later agents) can ask for. Returns a snapshot with refs == 1,
 * or NULL when memory ran out. The snapshot does not point into the model. */
weft_xds_snapshot_t *weft_xds_translate(const weft_model_t *m, uint64_t generation);

/* Like weft_xds_translate(), reusing what it can of prev (the snapshot of an
 * earlier model; NULL: none): each resource whose inputs in m are the same
 * as they were for prev (compared by a 128-bit fingerprint of every model
 * value the resource is built from) takes prev's bytes and version instead
 * of being built again, sharing the memory that holds them. The result is
 * the same, byte for byte, as weft_xds_translate(m, generation). prev is
 * only read (it may be freed before or after the result); it must have come
 * from weft_xds_translate*(), or carry no reuse data. */
weft_xds_snapshot_t *weft_xds_translate_from(const weft_model_t *m, uint64_t generation,
					     const weft_xds_snapshot_t *prev);

/* Like weft_xds_translate_from() with options (o NULL: the defaults, which
 * the two functions above use). A snapshot made with other options is
 * still a valid prev: the options are part of the fingerprints. */
weft_xds_snapshot_t *weft_xds_translate_opts(const weft_model_t *m, uint64_t generation,
					     const weft_xds_snapshot_t *prev, const weft_xds_opts_t *o);

/* True for weft's agent types (WEFT_XDS_WORKLOAD and after). */
static inline bool weft_xds_type_is_agent(weft_xds_type_t t)
{
	return t >= WEFT_XDS_FIRST_AGENT && t < WEFT_XDS_NTYPES;
}

/* True when a client authenticated as node `node` (NULL: not
 * authenticated as a node) may receive r of type t: every client gets the
 * proxyless types; agent types go only to nodes in the resource's
 * audience. */
bool weft_xds_visible(weft_xds_type_t t, const weft_xds_resource_t *r, const char *node);

/* Memory held by s: *own gets the bytes only s holds, *shared (may be
 * NULL) the bytes s shares with other snapshots. Returns their sum. */
size_t weft_xds_snapshot_memory(const weft_xds_snapshot_t *s, size_t *own, size_t *shared);

/* Binary search by name; NULL when absent. */
const weft_xds_resource_t *weft_xds_snapshot_find(const weft_xds_snapshot_t *s,
						  weft_xds_type_t t, weft_str_t name);

void weft_xds_snapshot_ref(weft_xds_snapshot_t *s);
/* Drops one reference; frees the snapshot at zero. NULL is ignored. */
void weft_xds_snapshot_unref(weft_xds_snapshot_t *s);

#endif
