/* Fuzzes the agent view's decoding of weft.agent.v1 resources (src/agent/
 * view.c): the input, unpacked as a Service and as an Authorization, is
 * built into a view. Whatever the control sends, building never crashes
 * and what lands in the view keeps its invariants: every kept route rule
 * has known enum values, backends named "ns/name" with a port, a policy
 * with ring sizes and shares in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agentview.h"

static void check_rule(const weft_av_route_rule_t *r)
{
	if (!r->route || (r->kind != WEFT_ROUTE_HTTP && r->kind != WEFT_ROUTE_GRPC))
		abort();
	for (size_t i = 0; i < r->nmatches; i++) {
		const weft_route_match_t *m = &r->matches[i];
		if (m->path_type > WEFT_MATCH_REGEX || m->grpc_type > WEFT_MATCH_REGEX)
			abort();
		for (size_t k = 0; k < m->nheaders; k++)
			if (m->headers[k].type != WEFT_MATCH_EXACT && m->headers[k].type != WEFT_MATCH_REGEX)
				abort();
	}
	for (size_t i = 0; i < r->nfilters; i++)
		if (r->filters[i].type > WEFT_FILTER_REDIRECT || r->filters[i].mirror.percent_ppm > WEFT_PPM_ALL)
			abort();
	for (size_t i = 0; i < r->nbackends; i++)
		if (!strchr(r->backends[i].svc, '/') || !r->backends[i].port)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Weft__Agent__V1__Service *svc = weft__agent__v1__service__unpack(NULL, size, data);
	Weft__Agent__V1__Authorization *az = weft__agent__v1__authorization__unpack(NULL, size, data);
	char err[256];
	weft_av_t *v = weft_av_build("n1", 1, NULL, 0, svc ? &svc : NULL, svc != NULL, az ? &az : NULL,
				     az != NULL, err, sizeof(err));

	for (size_t i = 0; v && i < v->nservices; i++) {
		const weft_av_service_t *s = &v->services[i];
		for (size_t p = 0; p < s->nports; p++) {
			if (weft_av_service_port(s, s->ports[p].port) == NULL)
				abort();
			for (size_t k = 0; k < s->ports[p].nrules; k++)
				check_rule(&s->ports[p].rules[k]);
		}
		if (s->policy && (s->policy->lb.ring_min > s->policy->lb.ring_max ||
				  s->policy->lb.ring_max > 8388608 || s->policy->fault.abort_ppm > WEFT_PPM_ALL ||
				  s->policy->lb.type > WEFT_LB_MAGLEV))
			abort();
	}
	weft_av_unref(v);
	if (svc)
		weft__agent__v1__service__free_unpacked(svc, NULL);
	if (az)
		weft__agent__v1__authorization__free_unpacked(az, NULL);
	return 0;
}
