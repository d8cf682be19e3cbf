/* weft — the ADS server (SotW and delta): per-stream client state and the
 * server that pushes snapshots to them. Types only. */
#ifndef WEFT_XDS_SERVER_T_H
#define WEFT_XDS_SERVER_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <protobuf-c/protobuf-c.h>
#include "weft/loop-t.h"
#include "weft/metrics-t.h"
#include "weft/xds-t.h"

/* A sorted set of owned strings, each with an optional owned value
 * (delta: the version the client holds). */
typedef struct weft_xds_set {
	size_t n, cap;
	char **k;
	char **v;
} weft_xds_set_t;

/* What one client (ADS stream) has for one resource type. */
typedef struct weft_xds_tstate {
	bool active;              /* the client asked for this type */
	bool wildcard;            /* every resource of the type */
	weft_xds_set_t subs;      /* subscribed names (besides wildcard) */
	weft_xds_set_t known;     /* delta: name -> version the client holds */
	bool sent_any;
	uint64_t sent_hash;       /* SotW: digest of the (name, version) list last sent */
	char last_nonce[24];      /* nonce of the last response: ACK/NACK must echo it */
	char sent_version[24];    /* version_info / system_version_info last sent */
	char acked_version[24];
	char nacked_version[24];
	char *nack_msg;           /* last NACK's error_detail.message */
	uint64_t requests, responses, acks, nacks, stale;
} weft_xds_tstate_t;

struct weft_xds_server;

/* Where a client's responses go: the gRPC call in production, a capture in
 * tests. Returns 0, or <0 when the stream cannot take it (it is closing). */
typedef int (*weft_xds_sink_fn)(void *sink, const ProtobufCMessage *msg);

typedef struct weft_xds_client {
	struct weft_xds_server *srv;
	struct weft_xds_client *prev, *next;
	uint64_t id;
	bool delta;
	char *node_id;
	/* The node this client is authenticated as, or NULL: only then does it
	 * see agent types (and only the resources whose audience includes it).
	 * Set from the verified peer certificate (a node SPIFFE ID) on the mTLS
	 * port, or with agent_plaintext from the first request's node.id. */
	char *node_auth;
	char *user_agent;
	time_t since;             /* wall clock at connect */
	weft_xds_tstate_t t[WEFT_XDS_NTYPES];
	uint64_t unknown_types;   /* requests for type URLs we do not serve */
	weft_xds_sink_fn send;
	void *sink;
	char name[112];           /* log context */
} weft_xds_client_t;

typedef struct weft_xds_server_opts {
	uint32_t debounce_ms;     /* coalesce snapshot changes (default 100) */
	size_t max_names;         /* subscriptions per type per client (default 100000) */
	bool agent_plaintext;     /* TESTS ONLY: a client without a node certificate is
				   * authenticated as its request's node.id (default false) */
} weft_xds_server_opts_t;

typedef struct weft_xds_server {
	weft_loop_t *loop;
	weft_xds_server_opts_t o;
	weft_xds_snapshot_t *snap;     /* current (a reference held) */
	weft_xds_snapshot_t *pending;  /* waiting for the debounce (a reference held) */
	weft_timer_t debounce;
	weft_xds_client_t *clients;
	size_t nclients;
	uint64_t next_client_id;
	uint64_t next_nonce;
	uint64_t pushes;               /* snapshots installed */
	/* metrics (NULL when no registry was given) */
	weft_metric_t *m_pushes, *m_push_dur, *m_clients, *m_nacks;
} weft_xds_server_t;

#endif
