/* weft — ADS server internals shared by xds_server*.c. */
#ifndef WEFT_XDS_SERVER_INT_H
#define WEFT_XDS_SERVER_INT_H
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "weft/xds_server.h"

/* ---- string sets (sorted, owned) ---- */
void weft_xds_set_free(weft_xds_set_t *s);
/* Index of name, or -1. */
long weft_xds_set_find(const weft_xds_set_t *s, const char *name);
/* Adds name (value may be NULL; replaces the value of an existing name).
 * Returns 1 added, 0 already there, WEFT_ENOMEM. */
int weft_xds_set_put(weft_xds_set_t *s, const char *name, const char *value);
/* Removes name. Returns 1 removed, 0 absent. */
int weft_xds_set_del(weft_xds_set_t *s, const char *name);

/* Records node id / user agent from a request's node (first one wins). */
void weft_xds_note_node(weft_xds_client_t *c, const Envoy__Config__Core__V3__Node *node);

/* Handles the ACK/NACK part of a request whose nonce matched. */
void weft_xds_ack(weft_xds_client_t *c, weft_xds_type_t t, const Google__Rpc__Status *err);

/* Next nonce as a string into out[24]. */
void weft_xds_nonce(weft_xds_server_t *srv, char out[24]);

/* Counts a response of type t in the metrics. */
void weft_xds_count_push(weft_xds_server_t *srv, weft_xds_type_t t);

/* SotW: handles a request / pushes type t (force: even if unchanged). */
int weft_xds_sotw_request(weft_xds_client_t *c, const uint8_t *p, size_t n);
void weft_xds_sotw_push(weft_xds_client_t *c, weft_xds_type_t t, bool force);

/* Delta: same. */
int weft_xds_delta_request(weft_xds_client_t *c, const uint8_t *p, size_t n);
void weft_xds_delta_push(weft_xds_client_t *c, weft_xds_type_t t, bool first);

#endif
