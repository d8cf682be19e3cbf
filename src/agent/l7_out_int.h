/* weft — private to the source side of the L7 data path: what l7_out.c
 * (downstream connections, fairness, the upstream pool's dial),
 * l7_proxy.c (one request's life) and l7_health.c (active health checks)
 * share. */
#ifndef WEFT_L7_OUT_INT_H
#define WEFT_L7_OUT_INT_H
#include "l7_int.h"

struct l7_req;

/* A captured connection served at L7 (one per client socket). */
typedef struct l7_dconn {
	struct l7_dconn *prev, *next;
	weft_l7_t *l7;
	l7_tenant_t *tn;             /* the local workload's fairness counters */
	char *wl_uid, *svc_uid;      /* source workload, the Service asked for */
	uint16_t port;               /* that Service's port */
	struct sockaddr_storage orig;
	socklen_t origlen;
	char orig_s[80];             /* orig as text, formatted at the first request's end ("" before) */
	weft_ip_t src;               /* the client's address */
	int fd;                      /* until a codec takes it */
	weft_io_t io;
	weft_timer_t t;              /* sniff deadline; upgrade hand-over */
	weft_hconn_t *hc;
	struct l7_req *reqs;         /* requests in flight */
	struct l7_req *spare;        /* a finished request's memory, kept for the next (l7_proxy.c) */
	uint8_t *upg;                /* an Upgrade request re-serialized for the L4 path */
	size_t nupg;
	uint64_t id;
	char name[64];
} l7_dconn_t;

/* A route-independent upstream target: the key and what dial needs. */
typedef struct l7_up_arg {
	const weft_av_workload_t *w;
	const weft_av_endpoint_t *ep;
	uint16_t port;               /* the endpoint's (target) port */
} l7_up_arg_t;

/* l7_out.c: a stream to endpoint ep's port from workload w through the
 * up pool (h2 over an HBONE tunnel flagged WEFT_HBONE_F_H2). hostport:
 * ep's address and port as weft_ip_port_format writes them when the
 * caller has it already (NULL: formatted here). NULL when no connection
 * could be made. */
weft_hstream_t *l7_up_open(weft_l7_t *l7, const weft_av_workload_t *w, const weft_av_endpoint_t *ep,
			   uint16_t port, const char *hostport, const weft_hstream_cbs_t *cbs, void *ud);

/* l7_out.c: the connection's request is an HTTP/1 Upgrade (head h):
 * hand the connection to the L4 tunnel path at the next loop turn (the
 * request's head and the bytes read after it go first). */
void l7_out_upgrade(l7_dconn_t *dc, const weft_http_head_t *h);

/* l7_out.c: the tenant's gauges changed. */
void l7_tenant_update(weft_l7_t *l7, l7_tenant_t *tn);

/* l7_out.c: the service's cluster wants outlier ticks (pol->outlier.set). */
void l7_outlier_watch(weft_l7_t *l7, const weft_av_service_t *svc);

/* l7_proxy.c: serve a new downstream request stream on dc (sets s->cbs). */
void l7_req_start(l7_dconn_t *dc, weft_hstream_t *s);
/* l7_proxy.c: frees dc->spare (dc is being freed). */
void l7_req_spare_free(l7_dconn_t *dc);
/* l7_proxy.c: forget every request of dc without touching its streams
 * (the codec freed them: upgrade hand-over). */
void l7_req_drop_all(l7_dconn_t *dc);

/* l7_out.c: where l7_health.c keeps its state for this data path. */
void **l7_health_slot(weft_l7_t *l7);

/* l7_health.c: active health checks. */
void l7_health_start(weft_l7_t *l7);
void l7_health_stop(weft_l7_t *l7);

#endif
