/* weft — ADS state of the world (StreamAggregatedResources).
 *
 * Per client and type: the subscribed names (an empty list means wildcard
 * for LDS/CDS, nothing for RDS/EDS; "*" is wildcard for any type), the
 * nonce of the last response, and a digest of the (name, version) list it
 * carried. A request echoing the last nonce is an ACK, or a NACK when it
 * carries error_detail; a request with an older nonce is stale and
 * ignored. The first request for a type and every subscription change get
 * a response; snapshot pushes send a type only when its content for this
 * client changed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/log.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "xds_server_int.h"

static bool implicit_wildcard(weft_xds_type_t t)
{
	return t == WEFT_XDS_LDS || t == WEFT_XDS_CDS || weft_xds_type_is_agent(t);
}


/* The resources of type t this client should hold, in name order. Returns
 * the count (written to out, which has room for the upper bound) and the
 * content digest. */
static size_t collect(const weft_xds_client_t *c, weft_xds_type_t t,
		      const weft_xds_resource_t **out, uint64_t *hash)
{
	const weft_xds_snapshot_t *snap = c->srv->snap;
	const weft_xds_tstate_t *ts = &c->t[t];
	uint64_t h = WEFT_FNV1A64_INIT;
	size_t n = 0;

	if (ts->wildcard) {
		for (size_t i = 0; i < snap->types[t].n; i++)
			if (weft_xds_visible(t, &snap->types[t].v[i], c->node_auth))
				out[n++] = &snap->types[t].v[i];
	} else {
		for (size_t i = 0; i < ts->subs.n; i++) {
			const weft_xds_resource_t *r = weft_xds_snapshot_find(snap, t, weft_str_c(ts->subs.k[i]));
			if (r && weft_xds_visible(t, r, c->node_auth))
				out[n++] = r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		h = weft_fnv1a64(h, out[i]->name.p, out[i]->name.len);
		h = weft_fnv1a64(h, "", 1);
		h = weft_fnv1a64(h, out[i]->version.p, out[i]->version.len);
		h = weft_fnv1a64(h, "", 1);
	}
	*hash = h;
	return n;
}

void weft_xds_sotw_push(weft_xds_client_t *c, weft_xds_type_t t, bool force)
{
	weft_xds_server_t *srv = c->srv;
	weft_xds_tstate_t *ts = &c->t[t];
	Envoy__Service__Discovery__V3__DiscoveryResponse resp =
		ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT;
	const weft_xds_resource_t **rs;
	Google__Protobuf__Any *anys = NULL, **anyp = NULL;
	char version[24], nonce[24];
	uint64_t hash;
	size_t n, cap;

	if (!srv->snap)
		return;   /* answered when the first snapshot arrives */
	cap = ts->wildcard ? srv->snap->types[t].n : ts->subs.n;
	rs = malloc((cap ? cap : 1) * sizeof(*rs));
	if (!rs)
		return;
	n = collect(c, t, rs, &hash);
	if (!force && ts->sent_any && hash == ts->sent_hash) {
		free(rs);
		return;   /* the client already has exactly this */
	}
	if (n) {
		anys = calloc(n, sizeof(*anys));
		anyp = calloc(n, sizeof(*anyp));
		if (!anys || !anyp)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		google__protobuf__any__init(&anys[i]);
		anys[i].type_url = (char *)weft_xds_type_url(t);
		anys[i].value.data = (uint8_t *)rs[i]->bytes;
		anys[i].value.len = rs[i]->len;
		anyp[i] = &anys[i];
	}
	snprintf(version, sizeof(version), "%" PRIu64, srv->snap->generation);
	weft_xds_nonce(srv, nonce);
	resp.version_info = version;
	resp.type_url = (char *)weft_xds_type_url(t);
	resp.nonce = nonce;
	resp.n_resources = n;
	resp.resources = anyp;
	if (c->send(c->sink, &resp.base) < 0)
		goto out;
	ts->sent_any = true;
	ts->sent_hash = hash;
	memcpy(ts->sent_version, version, sizeof(version));
	memcpy(ts->last_nonce, nonce, sizeof(nonce));
	ts->responses++;
	weft_xds_count_push(srv, t);
	weft_debug(c->name, "sent %s version %s nonce %s: %zu resources", weft_xds_type_name(t),
		   version, nonce, n);
out:
	free(anys);
	free(anyp);
	free(rs);
}

/* Replaces ts's subscription with the request's names. Returns 1 when it
 * changed, 0 when not, WEFT_ENOMEM / WEFT_ELIMIT. */
static int set_subscription(weft_xds_client_t *c, weft_xds_type_t t,
			    const Envoy__Service__Discovery__V3__DiscoveryRequest *req)
{
	weft_xds_tstate_t *ts = &c->t[t];
	weft_xds_set_t ns = { 0 };
	bool wildcard = req->n_resource_names == 0 && implicit_wildcard(t);
	int changed;

	if (req->n_resource_names > c->srv->o.max_names)
		return WEFT_ELIMIT;
	for (size_t i = 0; i < req->n_resource_names; i++) {
		const char *name = req->resource_names[i] ? req->resource_names[i] : "";
		if (!strcmp(name, "*")) {
			wildcard = true;
			continue;
		}
		if (weft_xds_set_put(&ns, name, NULL) < 0) {
			weft_xds_set_free(&ns);
			return WEFT_ENOMEM;
		}
	}
	changed = wildcard != ts->wildcard || ns.n != ts->subs.n;
	for (size_t i = 0; !changed && i < ns.n; i++)
		changed = strcmp(ns.k[i], ts->subs.k[i]) != 0;
	weft_xds_set_free(&ts->subs);
	ts->subs = ns;
	ts->wildcard = wildcard;
	return changed;
}

int weft_xds_sotw_request(weft_xds_client_t *c, const uint8_t *p, size_t n)
{
	Envoy__Service__Discovery__V3__DiscoveryRequest *req =
		envoy__service__discovery__v3__discovery_request__unpack(NULL, n, p);
	weft_xds_tstate_t *ts;
	const char *nonce;
	int t, changed, rc = 0;
	bool first;

	if (!req) {
		weft_info(c->name, "undecodable DiscoveryRequest (%zu bytes)", n);
		return WEFT_GRPC_INVALID_ARGUMENT;
	}
	weft_xds_note_node(c, req->node);
	t = weft_xds_type_from_url(weft_str_c(req->type_url));
	if (t >= 0 && weft_xds_type_is_agent((weft_xds_type_t)t) && !c->node_auth)
		t = -1;   /* agent types exist only for clients authenticated as a node */
	if (t < 0) {
		c->unknown_types++;
		weft_info(c->name, "request for unknown type '%.200s': ignored", req->type_url ? req->type_url : "");
		goto out;
	}
	ts = &c->t[t];
	ts->requests++;
	nonce = req->response_nonce ? req->response_nonce : "";
	first = !ts->active;
	if (!first && *nonce && strcmp(nonce, ts->last_nonce)) {
		/* answers a response that a newer one superseded: the client
		 * will answer the newer one too */
		ts->stale++;
		weft_debug(c->name, "stale nonce %.40s for %s (last %s): ignored", nonce,
			   weft_xds_type_name(t), ts->last_nonce);
		goto out;
	}
	if (!first && *nonce)
		weft_xds_ack(c, (weft_xds_type_t)t, req->error_detail);
	changed = set_subscription(c, (weft_xds_type_t)t, req);
	if (changed < 0) {
		rc = changed == WEFT_ELIMIT ? WEFT_GRPC_RESOURCE_EXHAUSTED : WEFT_GRPC_INTERNAL;
		goto out;
	}
	ts->active = true;
	if (first || changed)
		weft_xds_sotw_push(c, (weft_xds_type_t)t, true);
out:
	envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);
	return rc;
}
