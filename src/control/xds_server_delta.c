/* weft — ADS delta (DeltaAggregatedResources).
 *
 * Per client and type: subscribed names, a wildcard flag ("*", or an empty
 * first subscribe for LDS/CDS), and the version of every resource the
 * client holds ("known": seeded from initial_resource_versions, updated by
 * each response). A response carries the subscribed resources whose
 * version differs from the known one, and removed_resources for known,
 * still wanted names the snapshot no longer has. Unsubscribed names are
 * forgotten. Subscription changes are applied whatever the nonce; the nonce
 * only pairs ACK/NACK with the last response. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/log.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "xds_server_int.h"

typedef Envoy__Service__Discovery__V3__Resource dres_t;

static bool implicit_wildcard(weft_xds_type_t t)
{
	return t == WEFT_XDS_LDS || t == WEFT_XDS_CDS || weft_xds_type_is_agent(t);
}

static bool wants(const weft_xds_tstate_t *ts, const char *name)
{
	return ts->wildcard || weft_xds_set_find(&ts->subs, name) >= 0;
}

/* Adds r to the response unless the client holds that version. Names and
 * versions are copied NUL-terminated into scratch (snapshot strings are
 * (ptr, len)). Returns 1 added, 0 skipped, WEFT_ENOMEM. */
static int add_if_changed(weft_xds_tstate_t *ts, weft_arena_t *scratch, const weft_xds_resource_t *r,
			  dres_t *res, dres_t **resp_, Google__Protobuf__Any *any, size_t *n,
			  weft_xds_type_t t)
{
	weft_str_t name = weft_arena_strdup(scratch, r->name);
	weft_str_t ver = weft_arena_strdup(scratch, r->version);
	long k;

	if (!name.p || !ver.p)
		return WEFT_ENOMEM;
	k = weft_xds_set_find(&ts->known, name.p);
	if (k >= 0 && ts->known.v[k] && !strcmp(ts->known.v[k], ver.p))
		return 0;
	envoy__service__discovery__v3__resource__init(&res[*n]);
	google__protobuf__any__init(&any[*n]);
	any[*n].type_url = (char *)weft_xds_type_url(t);
	any[*n].value.data = (uint8_t *)r->bytes;
	any[*n].value.len = r->len;
	res[*n].name = (char *)name.p;
	res[*n].version = (char *)ver.p;
	res[*n].resource = &any[*n];
	resp_[*n] = &res[*n];
	(*n)++;
	return 1;
}

void weft_xds_delta_push(weft_xds_client_t *c, weft_xds_type_t t, bool first)
{
	weft_xds_server_t *srv = c->srv;
	weft_xds_tstate_t *ts = &c->t[t];
	const weft_xds_snapshot_t *snap = srv->snap;
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse resp =
		ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
	dres_t *res = NULL, **resp_ = NULL;
	Google__Protobuf__Any *any = NULL;
	char **removed = NULL;
	size_t nres = 0, nrem = 0, cap;
	char version[24], nonce[24];
	weft_arena_t scratch;

	if (!snap)
		return;
	weft_arena_init(&scratch, 0);
	cap = snap->types[t].n + ts->subs.n;
	res = calloc(cap ? cap : 1, sizeof(*res));
	resp_ = calloc(cap ? cap : 1, sizeof(*resp_));
	any = calloc(cap ? cap : 1, sizeof(*any));
	removed = calloc(ts->known.n ? ts->known.n : 1, sizeof(*removed));
	if (!res || !resp_ || !any || !removed)
		goto out;
	if (ts->wildcard) {
		for (size_t i = 0; i < snap->types[t].n; i++)
			if (weft_xds_visible(t, &snap->types[t].v[i], c->node_auth))
				add_if_changed(ts, &scratch, &snap->types[t].v[i], res, resp_, any, &nres, t);
	}
	for (size_t i = 0; i < ts->subs.n; i++) {
		const weft_xds_resource_t *r = weft_xds_snapshot_find(snap, t, weft_str_c(ts->subs.k[i]));
		if (r && !(ts->wildcard) && weft_xds_visible(t, r, c->node_auth))
			add_if_changed(ts, &scratch, r, res, resp_, any, &nres, t);
	}
	/* known names still wanted but gone from the snapshot, or no longer
	 * for this client (a workload moved to another node) */
	for (size_t i = 0; i < ts->known.n; i++) {
		const weft_xds_resource_t *r;

		if (!wants(ts, ts->known.k[i]))
			continue;
		r = weft_xds_snapshot_find(snap, t, weft_str_c(ts->known.k[i]));
		if (!r || !weft_xds_visible(t, r, c->node_auth))
			removed[nrem++] = ts->known.k[i];
	}
	if (nres == 0 && nrem == 0 && !first)
		goto out;
	snprintf(version, sizeof(version), "%" PRIu64, snap->generation);
	weft_xds_nonce(srv, nonce);
	resp.system_version_info = version;
	resp.type_url = (char *)weft_xds_type_url(t);
	resp.nonce = nonce;
	resp.n_resources = nres;
	resp.resources = resp_;
	resp.n_removed_resources = nrem;
	resp.removed_resources = removed;
	if (c->send(c->sink, &resp.base) < 0)
		goto out;
	/* the client now holds these versions and not the removed names */
	for (size_t i = 0; i < nres; i++)
		weft_xds_set_put(&ts->known, res[i].name, res[i].version);
	for (size_t i = nrem; i-- > 0;) {
		char *name = strdup(removed[i]);
		if (name) {
			weft_xds_set_del(&ts->known, name);
			free(name);
		}
	}
	ts->sent_any = true;
	memcpy(ts->sent_version, version, sizeof(version));
	memcpy(ts->last_nonce, nonce, sizeof(nonce));
	ts->responses++;
	weft_xds_count_push(srv, t);
	weft_debug(c->name, "delta %s version %s nonce %s: %zu resources, %zu removed",
		   weft_xds_type_name(t), version, nonce, nres, nrem);
out:
	free(res);
	free(resp_);
	free(any);
	free(removed);
	weft_arena_destroy(&scratch);
}

int weft_xds_delta_request(weft_xds_client_t *c, const uint8_t *p, size_t n)
{
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req =
		envoy__service__discovery__v3__delta_discovery_request__unpack(NULL, n, p);
	weft_xds_tstate_t *ts;
	const char *nonce;
	int t, rc = 0;
	bool first, changed = false;

	if (!req) {
		weft_info(c->name, "undecodable DeltaDiscoveryRequest (%zu bytes)", n);
		return WEFT_GRPC_INVALID_ARGUMENT;
	}
	weft_xds_note_node(c, req->node);
	t = weft_xds_type_from_url(weft_str_c(req->type_url));
	if (t >= 0 && weft_xds_type_is_agent((weft_xds_type_t)t) && !c->node_auth)
		t = -1;   /* agent types exist only for clients authenticated as a node */
	if (t < 0) {
		c->unknown_types++;
		weft_info(c->name, "delta request for unknown type '%.200s': ignored",
			  req->type_url ? req->type_url : "");
		goto out;
	}
	ts = &c->t[t];
	ts->requests++;
	first = !ts->active;
	nonce = req->response_nonce ? req->response_nonce : "";
	if (!first && *nonce) {
		if (!strcmp(nonce, ts->last_nonce))
			weft_xds_ack(c, (weft_xds_type_t)t, req->error_detail);
		else
			ts->stale++;
	}
	if (ts->subs.n + req->n_resource_names_subscribe > c->srv->o.max_names ||
	    req->n_initial_resource_versions > c->srv->o.max_names) {
		rc = WEFT_GRPC_RESOURCE_EXHAUSTED;
		goto out;
	}
	if (first) {
		for (size_t i = 0; i < req->n_initial_resource_versions; i++) {
			const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry *e =
				req->initial_resource_versions[i];
			if (e && e->key && weft_xds_set_put(&ts->known, e->key, e->value ? e->value : "") < 0) {
				rc = WEFT_GRPC_INTERNAL;
				goto out;
			}
		}
		if (req->n_resource_names_subscribe == 0 && implicit_wildcard((weft_xds_type_t)t))
			ts->wildcard = true;
		changed = true;
	}
	for (size_t i = 0; i < req->n_resource_names_subscribe; i++) {
		const char *name = req->resource_names_subscribe[i] ? req->resource_names_subscribe[i] : "";
		if (!strcmp(name, "*")) {
			changed |= !ts->wildcard;
			ts->wildcard = true;
			continue;
		}
		int r = weft_xds_set_put(&ts->subs, name, NULL);
		if (r < 0) {
			rc = WEFT_GRPC_INTERNAL;
			goto out;
		}
		changed |= r == 1;
	}
	for (size_t i = 0; i < req->n_resource_names_unsubscribe; i++) {
		const char *name = req->resource_names_unsubscribe[i] ? req->resource_names_unsubscribe[i] : "";
		if (!strcmp(name, "*")) {
			ts->wildcard = false;
		} else {
			weft_xds_set_del(&ts->subs, name);
		}
	}
	/* forget what the client no longer wants: it dropped those */
	for (size_t i = ts->known.n; i-- > 0;)
		if (!wants(ts, ts->known.k[i])) {
			char *name = strdup(ts->known.k[i]);
			if (name) {
				weft_xds_set_del(&ts->known, name);
				free(name);
			}
		}
	ts->active = true;
	if (changed)
		weft_xds_delta_push(c, (weft_xds_type_t)t, first);
out:
	envoy__service__discovery__v3__delta_discovery_request__free_unpacked(req, NULL);
	return rc;
}
