/* weft — the agent's telemetry (src/agent/telemetry.c): Istio's standard
 * TCP metrics with Istio's labels, one JSON log line per closed
 * connection, and the agent's own metrics (certificates, xDS, HBONE pool,
 * errors, refused peers) in one weft_metrics_t registry that :15020
 * renders. */
#ifndef WEFT_TELEMETRY_H
#define WEFT_TELEMETRY_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "weft/metrics-t.h"

/* Istio's response_flags values (Envoy's short names) used at L4. */
#define WEFT_TM_FLAG_NONE    "-"
#define WEFT_TM_FLAG_UF      "UF"     /* upstream connection failure */
#define WEFT_TM_FLAG_UH      "UH"     /* no healthy upstream (no endpoint) */
#define WEFT_TM_FLAG_DENIED  "UAEX"   /* denied by authorization policy (Envoy's RBAC filter sets UAEX) */
#define WEFT_TM_FLAG_DC      "DC"     /* downstream connection termination */

/* What is known of a connection when it opens. Every string may be NULL
 * or "" and then renders as Istio's "unknown" (response_flags: "-").
 * Principals are full SPIFFE IDs ("spiffe://td/ns/x/sa/y"), as Istio's
 * labels carry them. */
typedef struct weft_tm_labels {
	bool destination;            /* reporter: false "source", true "destination" */
	const char *src_workload, *src_ns, *src_principal, *src_app, *src_version, *src_cluster;
	const char *dst_workload, *dst_ns, *dst_principal, *dst_app, *dst_version;
	const char *dst_service;     /* host name: name.ns.svc.cluster.local */
	const char *dst_service_name, *dst_service_ns, *dst_cluster;
	const char *response_flags;
	bool mtls;                   /* connection_security_policy mutual_tls | none */
	/* for the log line only (not labels) */
	const char *src_addr;        /* "ip:port" */
	const char *dst_addr;        /* where the agent connected / delivered, "ip:port" */
	const char *orig_dst;        /* the original destination the client asked for */
	const char *policy;          /* the authorization decision ("allowed by ns/p", ...) */
} weft_tm_labels_t;

/* The agent's own metrics; parts bump them with weft_metric_with() /
 * weft_series_*. Every pointer may be NULL (registration failed) and the
 * weft_series_* calls accept that. */
typedef struct weft_tm_metrics {
	weft_metric_t *tcp_opened, *tcp_closed, *tcp_sent, *tcp_received;   /* Istio's */
	/* weft_agent_cert_expiry_timestamp_seconds{identity}: the held
	 * certificate's not_after as Unix seconds (alert on `... - time() <
	 * N`); a series exists only while a certificate is held */
	weft_metric_t *cert_expiry;
	weft_metric_t *certs;            /* weft_agent_certs: credentials held (node and workloads) */
	weft_metric_t *cert_issued;      /* weft_agent_cert_issued_total{kind}: node | workload, from the CA */
	weft_metric_t *cert_failures;    /* weft_agent_cert_failures_total{kind}: failed CA requests */
	weft_metric_t *cert_expired;     /* weft_agent_cert_expired_total: dropped, expired before renewal */
	weft_metric_t *control_connected; /* weft_agent_control_connected: 0/1 */
	weft_metric_t *control_connects; /* weft_agent_control_connects_total{result}: ok | error */
	weft_metric_t *xds_connected;    /* weft_agent_xds_connected: 0/1 */
	weft_metric_t *xds_resources;    /* weft_agent_xds_resources{type} */
	weft_metric_t *xds_updates;      /* weft_agent_xds_updates_total{type} */
	weft_metric_t *xds_nacks;        /* weft_agent_xds_nacks_total{type} */
	weft_metric_t *hbone_conns;      /* weft_agent_hbone_connections */
	weft_metric_t *hbone_streams;    /* weft_agent_hbone_streams */
	weft_metric_t *errors;           /* weft_agent_errors_total{reason} */
	weft_metric_t *peer_refused;     /* weft_agent_peer_refused_total{reason}: weft_peer_reason_name() */
	weft_metric_t *authz;            /* weft_agent_authz_decisions_total{decision}: allow | deny */
} weft_tm_metrics_t;

typedef struct weft_tm weft_tm_t;
typedef struct weft_tm_conn weft_tm_conn_t;

/* Registers every metric in m (borrowed; must outlive the weft_tm_t) and
 * logs closed connections to log (NULL: stderr). Returns NULL on no
 * memory. Call once per registry (names are not checked for repeats). */
weft_tm_t *weft_tm_new(weft_metrics_t *m, FILE *log);
/* Frees the label cache and any still-open records (without logging). */
void weft_tm_free(weft_tm_t *tm);
/* The metric pointers, for the parts to bump. Never NULL: with tm NULL,
 * a shared all-NULL set (every weft_series_* call then does nothing). */
const weft_tm_metrics_t *weft_tm_metrics(const weft_tm_t *tm);

/* A connection opened: interns the labels (strings are copied) and
 * resolves its series once, bumps istio_tcp_connections_opened_total.
 * Returns the record, or NULL on no memory (every weft_tm_conn_* call
 * accepts NULL and does nothing then). */
weft_tm_conn_t *weft_tm_conn_open(weft_tm_t *tm, const weft_tm_labels_t *l);
/* Bytes moved since the last call, from the reporting agent's side as
 * Istio counts them for both reporters: sent = bytes written towards the
 * client (the response direction), received = bytes read from the client
 * (the request direction). O(1). */
void weft_tm_conn_bytes(weft_tm_conn_t *c, uint64_t sent, uint64_t received);
/* Changes response_flags for the close counter and the log (a connect
 * failure found after opening); opened stays counted as it was. */
void weft_tm_conn_flags(weft_tm_conn_t *c, const char *flags);
/* Closes the record: bumps istio_tcp_connections_closed_total, writes one
 * JSON line (time, reporter, source/destination workload, namespace,
 * principal, addresses, original destination, service, bytes, duration,
 * reason, policy, flags, security) to the log, frees c. reason may be
 * NULL ("closed"). */
void weft_tm_conn_close(weft_tm_conn_t *c, const char *reason);

/* Istio's label values for l in Istio's order (reporter, source_workload,
 * ..., destination_cluster, request_protocol, response_flags,
 * connection_security_policy: WEFT_TM_NLABELS of them), empty strings as
 * "unknown", flags as given ("-" when empty), request_protocol proto.
 * The values borrow l's strings. */
#define WEFT_TM_NLABELS 19
void weft_tm_label_values(const weft_tm_labels_t *l, const char *flags, const char *proto,
			  const char **v);

/* Sets the expiry gauge of identity (its SPIFFE ID) to not_after. */
void weft_tm_cert(weft_tm_t *tm, const char *identity, time_t not_after);
/* Removes identity's expiry series (its certificate was dropped or the
 * identity left the node). Unknown identities and tm NULL are ignored. */
void weft_tm_cert_drop(weft_tm_t *tm, const char *identity);

#endif
