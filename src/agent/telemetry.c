/* weft — the agent's telemetry: Istio's TCP metrics, per-connection JSON
 * log lines, and the agent's own metrics.
 *
 * Label sets are interned: a chained hash map from the 19 label values to
 * an entry holding the four series (opened, closed, sent, received), so a
 * connection resolves its series once when it opens and byte accounting
 * is two additions. Entries live as long as the weft_tm_t (the registry's
 * series never go away either). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/buf.h"
#include "weft/json.h"
#include "weft/metrics.h"
#include "weft/str.h"
#include "weft/telemetry.h"

enum {
	L_REPORTER, L_SW, L_SNS, L_SP, L_SAPP, L_SVER, L_SCL,
	L_DW, L_DNS, L_DP, L_DAPP, L_DVER, L_DSVC, L_DSVCN, L_DSVCNS, L_DCL,
	L_PROTO, L_FLAGS, L_SEC, NL
};
_Static_assert(NL == WEFT_TM_NLABELS, "label count");

static const char tcp_labels[] =
	"reporter,source_workload,source_workload_namespace,source_principal,source_app,"
	"source_version,source_cluster,destination_workload,destination_workload_namespace,"
	"destination_principal,destination_app,destination_version,destination_service,"
	"destination_service_name,destination_service_namespace,destination_cluster,"
	"request_protocol,response_flags,connection_security_policy";

typedef struct tm_ent {
	struct tm_ent *next;
	uint64_t hash;
	const char *v[NL];           /* into `data` */
	weft_series_t *opened, *closed, *sent, *received;
	size_t len;
	char data[];                 /* the values, each NUL-terminated */
} tm_ent_t;

struct weft_tm {
	weft_metrics_t *reg;
	FILE *log;
	weft_tm_metrics_t m;
	tm_ent_t **b;
	size_t nb, n;
	weft_tm_conn_t *open;        /* open records (freed with the tm) */
};

struct weft_tm_conn {
	weft_tm_t *tm;
	struct weft_tm_conn *prev, *next;
	tm_ent_t *ent;
	uint64_t sent, received;
	struct timespec t0;          /* monotonic */
	const char *src_addr, *dst_addr, *orig_dst, *policy;   /* into data */
	char data[];
};

#define REG(field, kind, name, help, labels)                                    \
	do {                                                                    \
		tm->m.field = weft_metrics_##kind(m, name, help, labels);       \
		if (!tm->m.field)                                               \
			goto fail;                                              \
	} while (0)

weft_tm_t *weft_tm_new(weft_metrics_t *m, FILE *log)
{
	weft_tm_t *tm = calloc(1, sizeof(*tm));

	if (!tm)
		return NULL;
	tm->reg = m;
	tm->log = log ? log : stderr;
	tm->nb = 64;
	tm->b = calloc(tm->nb, sizeof(*tm->b));
	if (!tm->b)
		goto fail;
	REG(tcp_opened, counter, "istio_tcp_connections_opened_total",
	    "Total number of TCP connections opened", tcp_labels);
	REG(tcp_closed, counter, "istio_tcp_connections_closed_total",
	    "Total number of TCP connections closed", tcp_labels);
	REG(tcp_sent, counter, "istio_tcp_sent_bytes_total",
	    "Total bytes sent during response in case of a TCP connection", tcp_labels);
	REG(tcp_received, counter, "istio_tcp_received_bytes_total",
	    "Total bytes received during request in case of a TCP connection", tcp_labels);
	REG(cert_expiry, gauge, "weft_agent_cert_expiry_timestamp_seconds",
	    "Unix time (seconds) at which the held certificate of identity expires", "identity");
	REG(certs, gauge, "weft_agent_certs", "Credentials held (node and workloads)", NULL);
	REG(cert_issued, counter, "weft_agent_cert_issued_total",
	    "Certificates obtained from the CA (first issue and renewals), by kind (node, workload)", "kind");
	REG(cert_failures, counter, "weft_agent_cert_failures_total",
	    "Failed certificate requests, by kind (node, workload)", "kind");
	REG(cert_expired, counter, "weft_agent_cert_expired_total",
	    "Certificates dropped because they expired before they could be renewed", NULL);
	REG(control_connected, gauge, "weft_agent_control_connected",
	    "1 while the connection to weft control is open", NULL);
	REG(control_connects, counter, "weft_agent_control_connects_total",
	    "Connection attempts to weft control, by result (ok, error)", "result");
	REG(xds_connected, gauge, "weft_agent_xds_connected",
	    "1 while the xDS stream to weft control is up", NULL);
	REG(xds_resources, gauge, "weft_agent_xds_resources", "xDS resources held, by type", "type");
	REG(xds_updates, counter, "weft_agent_xds_updates_total", "xDS updates applied, by type", "type");
	REG(xds_nacks, counter, "weft_agent_xds_nacks_total", "xDS updates rejected (NACK), by type", "type");
	REG(hbone_conns, gauge, "weft_agent_hbone_connections", "Open HBONE connections (pooled and accepted)",
	    NULL);
	REG(hbone_streams, gauge, "weft_agent_hbone_streams", "Open HBONE CONNECT streams", NULL);
	REG(errors, counter, "weft_agent_errors_total", "Errors by reason", "reason");
	REG(peer_refused, counter, "weft_agent_peer_refused_total",
	    "TLS peers refused, by reason", "reason");
	REG(authz, counter, "weft_agent_authz_decisions_total",
	    "Authorization decisions on inbound connections", "decision");
	return tm;
fail:
	/* registered metrics stay in the registry, which frees them */
	free(tm->b);
	free(tm);
	return NULL;
}

const weft_tm_metrics_t *weft_tm_metrics(const weft_tm_t *tm)
{
	static const weft_tm_metrics_t none;

	return tm ? &tm->m : &none;
}

void weft_tm_free(weft_tm_t *tm)
{
	if (!tm)
		return;
	while (tm->open) {
		weft_tm_conn_t *c = tm->open;
		tm->open = c->next;
		free(c);
	}
	for (size_t i = 0; i < tm->nb; i++)
		for (tm_ent_t *e = tm->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(tm->b);
	free(tm);
}

static const char *or_unknown(const char *s)
{
	return s && *s ? s : "unknown";
}

void weft_tm_label_values(const weft_tm_labels_t *l, const char *flags, const char *proto,
			  const char **v)
{
	v[L_REPORTER] = l->destination ? "destination" : "source";
	v[L_SW] = or_unknown(l->src_workload);
	v[L_SNS] = or_unknown(l->src_ns);
	v[L_SP] = or_unknown(l->src_principal);
	v[L_SAPP] = or_unknown(l->src_app);
	v[L_SVER] = or_unknown(l->src_version);
	v[L_SCL] = or_unknown(l->src_cluster);
	v[L_DW] = or_unknown(l->dst_workload);
	v[L_DNS] = or_unknown(l->dst_ns);
	v[L_DP] = or_unknown(l->dst_principal);
	v[L_DAPP] = or_unknown(l->dst_app);
	v[L_DVER] = or_unknown(l->dst_version);
	v[L_DSVC] = or_unknown(l->dst_service);
	v[L_DSVCN] = or_unknown(l->dst_service_name);
	v[L_DSVCNS] = or_unknown(l->dst_service_ns);
	v[L_DCL] = or_unknown(l->dst_cluster);
	v[L_PROTO] = proto;
	v[L_FLAGS] = flags && *flags ? flags : WEFT_TM_FLAG_NONE;
	v[L_SEC] = l->mtls ? "mutual_tls" : "none";
}

static void grow(weft_tm_t *tm)
{
	size_t nb = tm->nb * 2;
	tm_ent_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < tm->nb; i++)
		for (tm_ent_t *e = tm->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(tm->b);
	tm->b = b;
	tm->nb = nb;
}

/* The entry for these values, created (with its series) on first use.
 * Returns NULL on no memory. */
static tm_ent_t *intern(weft_tm_t *tm, const char *const *v)
{
	size_t lens[NL], len = 0;
	uint64_t h = WEFT_FNV1A64_INIT;
	tm_ent_t *e;
	char *p;

	for (int i = 0; i < NL; i++) {
		lens[i] = strlen(v[i]);
		h = weft_fnv1a64(h, v[i], lens[i] + 1);
		len += lens[i] + 1;
	}
	for (e = tm->b[h & (tm->nb - 1)]; e; e = e->next) {
		if (e->hash != h || e->len != len)
			continue;
		int i;
		for (i = 0; i < NL; i++)
			if (strcmp(e->v[i], v[i]))
				break;
		if (i == NL)
			return e;
	}
	e = malloc(sizeof(*e) + len);
	if (!e)
		return NULL;
	e->hash = h;
	e->len = len;
	p = e->data;
	for (int i = 0; i < NL; i++) {
		memcpy(p, v[i], lens[i] + 1);
		e->v[i] = p;
		p += lens[i] + 1;
	}
	e->opened = weft_metric_withv(tm->m.tcp_opened, e->v);
	e->closed = weft_metric_withv(tm->m.tcp_closed, e->v);
	e->sent = weft_metric_withv(tm->m.tcp_sent, e->v);
	e->received = weft_metric_withv(tm->m.tcp_received, e->v);
	e->next = tm->b[h & (tm->nb - 1)];
	tm->b[h & (tm->nb - 1)] = e;
	if (++tm->n > tm->nb * 2)
		grow(tm);
	return e;
}

weft_tm_conn_t *weft_tm_conn_open(weft_tm_t *tm, const weft_tm_labels_t *l)
{
	const char *v[NL];
	const char *extra[4] = { l->src_addr, l->dst_addr, l->orig_dst, l->policy };
	size_t lens[4], len = 0;
	weft_tm_conn_t *c;
	tm_ent_t *e;
	char *p;

	if (!tm || !l)
		return NULL;
	weft_tm_label_values(l, l->response_flags, "tcp", v);
	e = intern(tm, v);
	if (!e)
		return NULL;
	for (int i = 0; i < 4; i++) {
		extra[i] = extra[i] ? extra[i] : "";
		lens[i] = strlen(extra[i]);
		len += lens[i] + 1;
	}
	c = malloc(sizeof(*c) + len);
	if (!c)
		return NULL;
	c->tm = tm;
	c->ent = e;
	c->sent = c->received = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	p = c->data;
	const char **dst[4] = { &c->src_addr, &c->dst_addr, &c->orig_dst, &c->policy };
	for (int i = 0; i < 4; i++) {
		memcpy(p, extra[i], lens[i] + 1);
		*dst[i] = p;
		p += lens[i] + 1;
	}
	c->prev = NULL;
	c->next = tm->open;
	if (c->next)
		c->next->prev = c;
	tm->open = c;
	weft_series_inc(e->opened);
	return c;
}

void weft_tm_conn_bytes(weft_tm_conn_t *c, uint64_t sent, uint64_t received)
{
	if (!c)
		return;
	c->sent += sent;
	c->received += received;
	if (sent)
		weft_series_add(c->ent->sent, (double)sent);
	if (received)
		weft_series_add(c->ent->received, (double)received);
}

void weft_tm_conn_flags(weft_tm_conn_t *c, const char *flags)
{
	const char *v[NL];
	tm_ent_t *e;

	if (!c)
		return;
	memcpy(v, c->ent->v, sizeof(v));
	v[L_FLAGS] = flags && *flags ? flags : WEFT_TM_FLAG_NONE;
	e = intern(c->tm, v);
	if (e)
		c->ent = e;
}

/* "2024-05-01T12:00:00.123Z" */
static void rfc3339_ms(char *out, size_t n)
{
	struct timespec ts;
	struct tm t;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &t);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &t);
	snprintf(out, n, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

static void kv(weft_buf_t *b, const char *key, const char *val, bool first)
{
	weft_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
	weft_json_cstr(b, val);
}

void weft_tm_conn_close(weft_tm_conn_t *c, const char *reason)
{
	weft_tm_t *tm;
	const tm_ent_t *e;
	struct timespec t1;
	weft_buf_t b;
	char now[48];
	double ms;

	if (!c)
		return;
	tm = c->tm;
	e = c->ent;
	weft_series_inc(e->closed);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - c->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - c->t0.tv_nsec) / 1e6;
	if (ms < 0)
		ms = 0;
	rfc3339_ms(now, sizeof(now));
	weft_buf_init(&b, 64 * 1024);
	weft_buf_append(&b, "{", 1);
	kv(&b, "time", now, true);
	weft_buf_printf(&b, ",\"type\":\"connection\"");
	kv(&b, "reporter", e->v[L_REPORTER], false);
	kv(&b, "src_workload", e->v[L_SW], false);
	kv(&b, "src_namespace", e->v[L_SNS], false);
	kv(&b, "src_principal", e->v[L_SP], false);
	kv(&b, "src_addr", c->src_addr, false);
	kv(&b, "dst_workload", e->v[L_DW], false);
	kv(&b, "dst_namespace", e->v[L_DNS], false);
	kv(&b, "dst_principal", e->v[L_DP], false);
	kv(&b, "dst_addr", c->dst_addr, false);
	kv(&b, "original_dst", c->orig_dst, false);
	kv(&b, "service", e->v[L_DSVC], false);
	weft_buf_printf(&b, ",\"bytes_sent\":%llu,\"bytes_received\":%llu,\"duration_ms\":%llu",
			(unsigned long long)c->sent, (unsigned long long)c->received,
			(unsigned long long)ms);
	kv(&b, "reason", reason ? reason : "closed", false);
	kv(&b, "policy", c->policy, false);
	kv(&b, "response_flags", e->v[L_FLAGS], false);
	kv(&b, "connection_security_policy", e->v[L_SEC], false);
	weft_buf_printf(&b, "}\n");
	if (tm->log) {
		fwrite(weft_buf_head(&b), 1, weft_buf_len(&b), tm->log);
		fflush(tm->log);
	}
	weft_buf_free(&b);
	if (c->prev)
		c->prev->next = c->next;
	else
		tm->open = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

void weft_tm_cert(weft_tm_t *tm, const char *identity, time_t not_after)
{
	if (tm && identity)
		weft_series_set(weft_metric_with(tm->m.cert_expiry, identity), (double)not_after);
}

void weft_tm_cert_drop(weft_tm_t *tm, const char *identity)
{
	if (!tm || !identity || !tm->m.cert_expiry)
		return;
	for (weft_series_t *s = tm->m.cert_expiry->series; s; s = s->next)
		if (!strcmp(s->values[0], identity)) {
			weft_series_remove(s);
			return;
		}
}
