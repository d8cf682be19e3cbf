/* weft — xDS resource snapshots: the translated form of a model that the
 * xDS server hands to clients. Types only. Produced by
 * src/control/xds_translate*.c, consumed by src/control/xds_server*.c. */
#ifndef WEFT_XDS_T_H
#define WEFT_XDS_T_H
#include <stddef.h>
#include <stdint.h>
#include "weft/arena-t.h"
#include "weft/str-t.h"

typedef enum weft_xds_type {
	WEFT_XDS_LDS = 0,   /* envoy.config.listener.v3.Listener */
	WEFT_XDS_RDS,       /* envoy.config.route.v3.RouteConfiguration */
	WEFT_XDS_CDS,       /* envoy.config.cluster.v3.Cluster */
	WEFT_XDS_EDS,       /* envoy.config.endpoint.v3.ClusterLoadAssignment */
	/* weft's own types for node agents (api/weft/agent/v1/agent.proto),
	 * served only to clients authenticated as a node (see xds_server.c) */
	WEFT_XDS_WORKLOAD,  /* weft.agent.v1.Workload */
	WEFT_XDS_SERVICE,   /* weft.agent.v1.Service */
	WEFT_XDS_AUTHZ,     /* weft.agent.v1.Authorization */
	WEFT_XDS_NTYPES,
} weft_xds_type_t;

#define WEFT_XDS_FIRST_AGENT WEFT_XDS_WORKLOAD   /* types from here on are agent types */

/* One named resource, serialized (the message itself, not wrapped in Any). */
typedef struct weft_xds_resource {
	weft_str_t name;
	weft_str_t version;      /* hex digest of bytes: changes iff the content does */
	const unsigned char *bytes;
	size_t len;
	/* Who may receive it (agent types): NULL = every client; otherwise the
	 * naudience node names, sorted (memcmp order) and unique, possibly
	 * none (then nobody). Lives in the snapshot's arena. */
	const weft_str_t *audience;
	size_t naudience;
} weft_xds_resource_t;

/* Options of the translation that do not come from the config files. */
typedef struct weft_xds_opts {
	const char *trust_domain;    /* Workload.trust_domain (NULL: "cluster.local") */
	const char *root_namespace;  /* policies here apply mesh-wide (NULL: "weft-system") */
} weft_xds_opts_t;

struct weft_xds_reuse;

/* Every resource of every type for one config generation. Immutable once
 * built; shared by all clients; freed when no longer current and no longer
 * referenced (refcount held by the server). */
typedef struct weft_xds_snapshot {
	weft_arena_t arena;      /* owns everything below but the bytes of `reuse` */
	uint64_t generation;     /* increases with each accepted config */
	unsigned refs;
	struct {
		size_t n;
		weft_xds_resource_t *v;   /* sorted by name (memcmp order), names unique */
	} types[WEFT_XDS_NTYPES];
	/* Translator-private (src/control/xds_translate.h): the reference-counted
	 * blocks holding the resources' bytes, names and versions (possibly
	 * shared with the snapshots before and after this one), and what the
	 * next translation needs to reuse them. NULL in snapshots built by
	 * other means, whose strings then live in the arena. */
	struct weft_xds_reuse *reuse;
} weft_xds_snapshot_t;

#endif
