/* weft — internals of the model -> xDS translation (src/control/xds_*.c).
 * Not a public header: only the translation files include it.
 *
 * Lifetimes: one translation owns two arenas. Message trees (protobuf-c
 * structs, their strings and arrays) are built in the scratch arena `tmp`,
 * which dies when weft_xds_translate() returns. Only the packed bytes, the
 * names and the versions are copied into the snapshot's arena.
 *
 * Running out of memory: every allocation goes through weft_xds_tx_alloc(),
 * which on failure longjmp()s back to weft_xds_translate(); that frees both
 * arenas and returns NULL. No code between the two holds anything else. */
#ifndef WEFT_CONTROL_XDS_TRANSLATE_H
#define WEFT_CONTROL_XDS_TRANSLATE_H
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Resources of one type collected during a translation (scratch memory). */
typedef struct weft_xds_list {
	size_t n, cap;
	weft_xds_resource_t *v;
} weft_xds_list_t;

/* One translation in progress. */
typedef struct weft_xds_tx {
	const weft_model_t *m;
	weft_arena_t tmp;             /* message trees: freed at the end */
	weft_xds_snapshot_t *snap;    /* lives in its own arena (snap->arena) */
	weft_xds_list_t out[WEFT_XDS_NTYPES];
	jmp_buf oom;                  /* weft_xds_tx_alloc() jumps here on failure */
} weft_xds_tx_t;

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

/* Packs msg as the resource `name` of type t into the snapshot's arena,
 * with its version. Names must be unique per type (a later duplicate is
 * dropped when the snapshot is sealed). */
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

/* True when the RouteConfiguration of (svc, port) sends traffic to a service
 * whose DestinationPolicy injects faults, so that the HCM must list the
 * fault filter (xds_rds.c). */
bool weft_xds_port_has_fault(const weft_service_t *svc, const weft_svc_port_t *port);

/* Each adds the resources of one service port (xds_lds.c, xds_rds.c,
 * xds_cds.c, xds_eds.c). */
void weft_xds_lds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_rds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_cds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);
void weft_xds_eds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port);

/* The HTTPFault override for a service's DestinationPolicy faultInjection,
 * packed in an Any; NULL when the service injects no faults (xds_rds.c). */
Google__Protobuf__Any *weft_xds_fault_any(weft_xds_tx_t *tx, const weft_service_t *svc);

#endif
