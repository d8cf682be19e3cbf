/* weft — internals of the model -> xDS translation (src/control/xds_*.c).
 * Not a public header: only the translation files include it.
 *
 * Lifetimes: message trees (protobuf-c structs, their strings and arrays)
 * are built in the scratch arena `tmp`, emptied after each service port and
 * freed when weft_xds_translate() returns. Only the packed bytes, the names
 * and the versions are kept, in blobs (below); the resource arrays and the
 * reuse record go in the snapshot's arena.
 *
 * Running out of memory: every allocation goes through weft_xds_tx_alloc(),
 * which on failure longjmp()s back to weft_xds_translate(); that frees both
 * arenas and the blobs and returns NULL. No code between the two holds anything else. */
#ifndef WEFT_CONTROL_XDS_TRANSLATE_H
#define WEFT_CONTROL_XDS_TRANSLATE_H
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>
#include "weft/arena-t.h"
#include "weft/model-t.h"
#include "weft/str-t.h"
#include "weft/xds-t.h"

#include "envoy/config/core/v3/config_source.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

/* Type URLs of the messages packed into Any fields. */
#define WEFT_XDS_TYPE_PREFIX "type.googleapis.com/"
#define WEFT_XDS_URL_HCM     WEFT_XDS_TYPE_PREFIX "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define WEFT_XDS_URL_ROUTER  WEFT_XDS_TYPE_PREFIX "envoy.extensions.filters.http.router.v3.Router"
#define WEFT_XDS_URL_FAULT   WEFT_XDS_TYPE_PREFIX "envoy.extensions.filters.http.fault.v3.HTTPFault"
#define WEFT_XDS_URL_LB_RR   WEFT_XDS_TYPE_PREFIX "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"
#define WEFT_XDS_URL_LB_LR   WEFT_XDS_TYPE_PREFIX "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest"
#define WEFT_XDS_URL_LB_RAND WEFT_XDS_TYPE_PREFIX "envoy.extensions.load_balancing_policies.random.v3.Random"

/* HTTP filter names, as the HCM lists them and typed_per_filter_config keys them. */
#define WEFT_XDS_FILTER_FAULT  "envoy.filters.http.fault"
#define WEFT_XDS_FILTER_ROUTER "envoy.filters.http.router"

/* ---- snapshot storage and reuse across generations (xds_reuse.c) ----
 *
 * A resource's bytes, name and version are stored together (unaligned) in a
 * blob: a reference-counted block that every snapshot using one of its
 * resources holds a reference to. A translation with a previous snapshot
 * does not rebuild a resource whose inputs are unchanged: it points at the
 * previous bytes and references their blob, unless too little of that blob
 * is still used (then it copies the bytes, so that dead resources do not
 * pin memory for ever).
 *
 * Inputs are compared by fingerprint: a 128-bit hash, per service port and
 * resource type, of every model value the resource's builder reads (the
 * weft_xds_*_fp() functions next to each builder). A fingerprint may cover
 * more than the builder reads (that only costs a rebuild), never less. */

typedef struct weft_xds_blob {
	unsigned refs;
	size_t size;                  /* bytes in data */
	size_t used;                  /* bytes handed out */
	_Alignas(16) unsigned char data[];
} weft_xds_blob_t;

typedef struct weft_xds_fp {
	uint64_t a, b;                /* {0, 0}: unknown, never equal to anything */
} weft_xds_fp_t;

/* Resource slots of one unit: a service port (the first five), or one
 * agent resource (a workload, a service or an authorization policy: its
 * one resource in WEFT_XDS_SLOT_AGENT). */
enum {
	WEFT_XDS_SLOT_LDS = 0,        /* the fqdn Listener */
	WEFT_XDS_SLOT_LDS_SHORT,      /* the <name>.<ns>.svc Listener */
	WEFT_XDS_SLOT_RDS,
	WEFT_XDS_SLOT_CDS,
	WEFT_XDS_SLOT_EDS,
	WEFT_XDS_SLOT_AGENT,          /* agent units: their only resource */
	WEFT_XDS_NSLOTS,
};
/* Types built per service port: LDS, RDS, CDS, EDS. */
#define WEFT_XDS_NPORT_TYPES 4
#define WEFT_XDS_NO_INDEX UINT32_MAX

/* What a snapshot remembers of one unit. */
typedef struct weft_xds_unit {
	uint64_t key;                         /* hash of (service name, ns, port), or of
					       * (agent type, ns, name) */
	weft_xds_fp_t fp[WEFT_XDS_NTYPES];    /* inputs of each type's resources */
	uint32_t idx[WEFT_XDS_NSLOTS];        /* index in types[t].v, or WEFT_XDS_NO_INDEX */
} weft_xds_unit_t;

/* snapshot->reuse: lives in the snapshot's arena; the blobs are malloc()ed. */
typedef struct weft_xds_reuse {
	size_t nblobs;
	weft_xds_blob_t **blobs;      /* referenced, sorted by address */
	size_t nunits;
	weft_xds_unit_t *units;       /* in model order */
	size_t nbuckets;              /* power of 2 */
	uint32_t *buckets;            /* open addressing on key: unit index + 1, 0 = empty */
} weft_xds_reuse_t;

/* A fingerprint being computed. */
typedef struct weft_xds_hasher {
	uint64_t a, b;
} weft_xds_hasher_t;

/* Two 64-bit lanes updated per 64-bit word by a step that is a bijection of
 * the 128-bit state for a fixed word (so the state never collapses), mixed
 * by a finaliser. Not cryptographic: config authors are trusted. */
static inline uint64_t weft_xds_rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline void weft_xds_fp_init(weft_xds_hasher_t *h, unsigned domain)
{
	h->a = 0x243f6a8885a308d3ull ^ domain;
	h->b = 0x13198a2e03707344ull + domain;
}

static inline void weft_xds_fp_u64(weft_xds_hasher_t *h, uint64_t v)
{
	h->a = weft_xds_rotl64(h->a ^ v, 27) * 0x9e3779b97f4a7c15ull + h->b;
	h->b = weft_xds_rotl64(h->b + v, 31) * 0xc2b2ae3d27d4eb4full ^ h->a;
}

/* Length-prefixed, so that ("ab", "c") and ("a", "bc") differ. */
static inline void weft_xds_fp_str(weft_xds_hasher_t *h, weft_str_t s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t n = s.len;
	uint64_t w;

	weft_xds_fp_u64(h, n);
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&w, p, 8);
		weft_xds_fp_u64(h, w);
	}
	if (n) {
		w = 0;
		memcpy(&w, p, n);
		weft_xds_fp_u64(h, w);
	}
}

weft_xds_fp_t weft_xds_fp_final(const weft_xds_hasher_t *h);

/* Fingerprints of config values both the proxyless (xds_rds.c) and the
 * agent (xds_agent.c) builders read: header/query matches, and a whole
 * route rule (matches, filters, backends, timeouts). backend_svc: also
 * the backend services' DestinationPolicies (what RDS derives from them). */
void weft_xds_fp_str_matches(weft_xds_hasher_t *h, size_t n, const weft_str_match_t *m);
void weft_xds_fp_rule(weft_xds_hasher_t *h, const weft_route_rule_t *rule, bool backend_svc);

/* Resources collected during a translation, before sorting. */
typedef struct weft_xds_out {
	weft_xds_resource_t r;
	uint32_t seq;                 /* emission order: the first of equal names wins */
	uint32_t slot;                /* unit * WEFT_XDS_NSLOTS + slot */
	uint32_t blob;                /* index in prev's blobs when reused, else WEFT_XDS_NO_INDEX */
	uint32_t prev_pos;            /* index in prev's array of the same slot, or WEFT_XDS_NO_INDEX */
	bool placed;                  /* ordering: put at prev_pos (names then differ from neighbours') */
} weft_xds_out_t;

typedef struct weft_xds_list {
	size_t n, cap;
	weft_xds_out_t *v;            /* malloc()ed */
} weft_xds_list_t;

/* One translation in progress. */
typedef struct weft_xds_tx {
	const weft_model_t *m;
	weft_arena_t tmp;             /* message trees of one service port: reset after each */
	weft_xds_snapshot_t *snap;    /* lives in its own arena (snap->arena) */
	weft_xds_list_t out[WEFT_XDS_NTYPES];
	uint32_t seq;
	uint32_t slot;                /* where the next emitted resource goes (unit * NSLOTS + slot) */
	weft_xds_unit_t *units;       /* in snap's arena, one per service port */
	size_t nunits;
	/* blobs written by this translation (malloc()ed array) */
	size_t nown, capown;
	weft_xds_blob_t **own;
	size_t next_blob;             /* size of the next blob */
	/* reuse */
	const weft_xds_reuse_t *prev; /* NULL: build everything */
	const weft_xds_unit_t *cur_pu; /* prev's unit for the port being translated, or NULL */
	size_t *live;                 /* per prev blob: bytes reused from it (malloc()ed) */
	size_t last_blob;             /* index in prev's blobs of the last one reused from */
	weft_xds_fp_t *node_fp;       /* per m->nodes entry: locality fingerprint, {0,0} = not yet */
	/* agent types (xds_agent.c) */
	weft_str_t trust_domain, root_ns;
	weft_str_t *node_names;       /* per m->nodes entry: its name in snap's arena (audiences) */
	jmp_buf oom;                  /* weft_xds_tx_alloc() jumps here on failure */
} weft_xds_tx_t;

/* Returns len bytes of blob space for the current resource (unaligned). */
unsigned char *weft_xds_blob_space(weft_xds_tx_t *tx, size_t len);
/* Decides, for each previous blob something was reused from, whether to
 * share it or copy the bytes, and moves the references into the snapshot's
 * reuse record (snap->reuse must be set). Longjmps when memory runs out. */
void weft_xds_blobs_settle(weft_xds_tx_t *tx);
/* Drops the references a failed translation took. */
void weft_xds_blobs_abandon(weft_xds_tx_t *tx);
/* Frees a snapshot's blob references. */
void weft_xds_reuse_release(weft_xds_reuse_t *r);
/* The previous unit with this key, or NULL. */
const weft_xds_unit_t *weft_xds_reuse_find(const weft_xds_reuse_t *r, uint64_t key);
/* Adds resource slot `slot` of prev's unit pu (of type t) to the output as
 * the current unit's; returns false when pu has no such resource. */
bool weft_xds_reuse_take(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev,
			 const weft_xds_unit_t *pu, weft_xds_type_t t, unsigned slot);
/* Builds the key index of the snapshot's units (in its arena). */
void weft_xds_reuse_index(weft_xds_tx_t *tx, weft_xds_reuse_t *r);

/* ---- memory and message helpers (xds_snapshot.c) ---- */

/* Returns size zeroed bytes of scratch memory; never NULL (longjmps on failure). */
void *weft_xds_tx_alloc(weft_xds_tx_t *tx, size_t size);
/* Returns an initialised message of the given type in scratch memory. */
void *weft_xds_tx_msg(weft_xds_tx_t *tx, const ProtobufCMessageDescriptor *d);
#define WEFT_XDS_NEW(tx, type, desc) ((type *)weft_xds_tx_msg((tx), &(desc)))
/* Returns an array of n pointers in scratch memory (n may be 0). */
void **weft_xds_tx_ptrs(weft_xds_tx_t *tx, size_t n);
/* NUL-terminated scratch copy of s. */
char *weft_xds_tx_str(weft_xds_tx_t *tx, weft_str_t s);
/* The concatenation of n strings, NUL-terminated, in scratch memory. */
char *weft_xds_tx_cat(weft_xds_tx_t *tx, size_t n, const weft_str_t *parts);
/* "<a><b><c>:<port>" in scratch memory. */
char *weft_xds_tx_port_name(weft_xds_tx_t *tx, weft_str_t a, weft_str_t b, weft_str_t c,
			    unsigned port);
/* printf into scratch memory. */
char *weft_xds_tx_printf(weft_xds_tx_t *tx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Packs msg into an Any with the given type URL (scratch memory). */
Google__Protobuf__Any *weft_xds_tx_any(weft_xds_tx_t *tx, const ProtobufCMessage *msg,
				       const char *type_url);
Google__Protobuf__Duration *weft_xds_tx_duration_ms(weft_xds_tx_t *tx, uint64_t ms);
Google__Protobuf__UInt32Value *weft_xds_tx_u32(weft_xds_tx_t *tx, uint32_t v);
Google__Protobuf__UInt64Value *weft_xds_tx_u64(weft_xds_tx_t *tx, uint64_t v);

/* ConfigSource { ads {}, resource_api_version: V3 }: what the client
 * watches RDS and EDS resources through. */
Envoy__Config__Core__V3__ConfigSource *weft_xds_tx_ads(weft_xds_tx_t *tx);

/* Packs msg as the resource `name` of type t into the snapshot's blobs,
 * with its version, in the current slot (then advances it). Names must be
 * unique per type (a later duplicate is dropped when the snapshot is
 * sealed). */
void weft_xds_tx_emit(weft_xds_tx_t *tx, weft_xds_type_t t, const char *name,
		      const ProtobufCMessage *msg);

/* ---- naming (xds_snapshot.c) ---- */

/* "<name>.<ns>.svc.cluster.local" */
char *weft_xds_svc_fqdn(weft_xds_tx_t *tx, const weft_service_t *svc);
/* "outbound|<port>||<name>.<ns>.svc.cluster.local" from the parts. */
char *weft_xds_cluster_name(weft_xds_tx_t *tx, weft_str_t name, weft_str_t ns, uint16_t port);
/* The RouteConfiguration name of one service port: "<fqdn>:<port>". */
char *weft_xds_route_name(weft_xds_tx_t *tx, const weft_service_t *svc, uint16_t port);

/* ---- per resource type ---- */

/* Input fingerprints of one service port's resources (next to each builder:
 * they must cover every model value the builder reads). h comes with the
 * port's identity (service name, ns, port) already hashed. */
weft_xds_fp_t weft_xds_lds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port);
weft_xds_fp_t weft_xds_rds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port);
weft_xds_fp_t weft_xds_cds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port);
weft_xds_fp_t weft_xds_eds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port);
/* The fingerprint of a node's locality (cached per translation). */
weft_xds_fp_t weft_xds_locality_fp(weft_xds_tx_t *tx, const weft_node_t *node);

/* Each adds the resources of one service port (xds_lds.c, xds_rds.c,
 * xds_cds.c, xds_eds.c). */
void weft_xds_lds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_rds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_cds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_eds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);

/* Number of agent units the model gives (workloads + services +
 * authorization policies). */
size_t weft_xds_agent_nunits(const weft_model_t *m);
/* Adds every agent resource (weft.agent.v1 Workload, Service,
 * Authorization), each in its own unit, taken from prev when its inputs
 * are unchanged, with its audience (xds_agent.c). */
void weft_xds_agent_all(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev);

/* The HTTPFault override for a service's DestinationPolicy faultInjection,
 * packed in an Any; NULL when the service injects no faults (xds_rds.c). */
Google__Protobuf__Any *weft_xds_fault_any(weft_xds_tx_t *tx, const weft_service_t *svc);

#endif
