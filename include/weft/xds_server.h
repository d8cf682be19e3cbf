/* weft — the ADS server: StreamAggregatedResources (state of the world)
 * and DeltaAggregatedResources for LDS/RDS/CDS/EDS. */
#ifndef WEFT_XDS_SERVER_H
#define WEFT_XDS_SERVER_H
#include "weft/buf-t.h"
#include "weft/grpc-t.h"
#include "weft/rc.h"
#include "weft/xds_server-t.h"

#define WEFT_ADS_SOTW_PATH "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
#define WEFT_ADS_DELTA_PATH "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"

void weft_xds_server_opts_default(weft_xds_server_opts_t *o);

/* Initialises the server. metrics may be NULL; otherwise the xDS metrics
 * are registered there. Returns WEFT_OK or WEFT_ENOMEM. */
int weft_xds_server_init(weft_xds_server_t *srv, weft_loop_t *loop, weft_metrics_t *metrics,
			 const weft_xds_server_opts_t *o);

/* Frees every client (their sinks are not called) and drops the snapshots. */
void weft_xds_server_destroy(weft_xds_server_t *srv);

/* Registers both ADS methods on a gRPC server. Returns WEFT_OK or WEFT_ELIMIT. */
int weft_xds_server_register(weft_xds_server_t *srv, weft_grpc_server_t *grpc);

/* Installs snap (the server takes its own reference). The first snapshot
 * is installed at once; later ones wait debounce_ms, and a burst of them
 * is coalesced into the last. Each install pushes to every client only the
 * types/resources that changed for it. */
void weft_xds_server_set_snapshot(weft_xds_server_t *srv, weft_xds_snapshot_t *snap);

/* Installs the pending snapshot now, if any (the debounce timer's work). */
void weft_xds_server_flush(weft_xds_server_t *srv);

/* A new ADS stream. delta selects the protocol. name is the log context.
 * Returns the client or NULL (no memory). */
weft_xds_client_t *weft_xds_client_new(weft_xds_server_t *srv, bool delta, weft_xds_sink_fn send,
				       void *sink, const char *name);

/* Handles one serialized request (DiscoveryRequest or, for delta clients,
 * DeltaDiscoveryRequest). Returns 0, or a gRPC status to end the stream
 * with (INVALID_ARGUMENT: undecodable; RESOURCE_EXHAUSTED: too many names). */
int weft_xds_client_request(weft_xds_client_t *c, const uint8_t *p, size_t n);

void weft_xds_client_free(weft_xds_client_t *c);

/* /debug/clients: a JSON array, one object per client (node_id,
 * user_agent, stream, connected_since, types{LDS:{subscriptions,
 * last_acked_version, last_nacked_version, last_nack_message, ...}}).
 * Returns 0 or -1. */
int weft_xds_server_debug_json(const weft_xds_server_t *srv, weft_buf_t *out);

/* The same as a plain-text table (for `weft status`). Returns 0 or -1. */
int weft_xds_server_debug_text(const weft_xds_server_t *srv, weft_buf_t *out);

#endif
