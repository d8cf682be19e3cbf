/* weft — per-workload fairness accounting of the L7 data path (contract:
 * src/agent/l7_fair.h). */
#include <stdlib.h>
#include <string.h>
#include "l7_fair.h"
#include "weft/l7tel.h"

static uint64_t *counter(l7_tenant_t *tn, l7_fair_kind_t k)
{
	switch (k) {
	case L7_FAIR_CONNS: return &tn->conns;
	case L7_FAIR_IN_CONNS: return &tn->in_conns;
	case L7_FAIR_REQUESTS: return &tn->requests;
	case L7_FAIR_IN_REQUESTS: return &tn->in_requests;
	default: return &tn->buffer;
	}
}

static uint64_t limit_of(const weft_l7_t *l7, l7_fair_kind_t k)
{
	return k == L7_FAIR_CONNS || k == L7_FAIR_IN_CONNS ? l7->max_conns
	       : k == L7_FAIR_REQUESTS || k == L7_FAIR_IN_REQUESTS ? l7->max_requests : l7->max_buffer;
}

static void gauges(weft_l7_t *l7, const l7_tenant_t *tn)
{
	if (l7->tel)
		weft_l7_tel_workload_gauges(l7->tel, tn->uid, tn->conns + tn->in_conns,
					    tn->requests + tn->in_requests,
					    tn->buffer);
}

const char *l7_fair_name(l7_fair_kind_t k)
{
	return k == L7_FAIR_CONNS || k == L7_FAIR_IN_CONNS ? "connections"
	       : k == L7_FAIR_BUFFER ? "buffer" : "requests";
}

l7_tenant_t *l7_fair_tenant(weft_l7_t *l7, const char *uid)
{
	l7_tenant_t *tn;

	if (!uid)
		return NULL;
	for (tn = l7->tenants; tn; tn = tn->next)
		if (!strcmp(tn->uid, uid))
			return tn;
	if (!(tn = calloc(1, sizeof(*tn))) || !(tn->uid = strdup(uid))) {
		free(tn);
		return NULL;
	}
	tn->next = l7->tenants;
	l7->tenants = tn;
	return tn;
}

bool l7_fair_take(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n)
{
	uint64_t lim = limit_of(l7, k), *c;

	if (!tn)
		return true;
	c = counter(tn, k);
	if (lim && (*c >= lim || n > lim - *c)) {
		if (l7->tel)
			weft_l7_tel_limit_hit(l7->tel, tn->uid, l7_fair_name(k));
		return false;
	}
	if (n) {
		*c += n;
		gauges(l7, tn);
	}
	return true;
}

void l7_fair_charge(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n)
{
	uint64_t *c;

	if (!tn || !n)
		return;
	c = counter(tn, k);
	*c = *c + n < *c ? UINT64_MAX : *c + n;
	gauges(l7, tn);
}

void l7_fair_give(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n)
{
	uint64_t *c;

	if (!tn || !n)
		return;
	c = counter(tn, k);
	*c = n > *c ? 0 : *c - n;
	gauges(l7, tn);
}

bool l7_fair_full(const weft_l7_t *l7, const l7_tenant_t *tn, l7_fair_kind_t k)
{
	uint64_t lim = limit_of(l7, k);

	return tn && lim && *counter((l7_tenant_t *)tn, k) >= lim;
}

void l7_fair_free(weft_l7_t *l7)
{
	while (l7->tenants) {
		l7_tenant_t *tn = l7->tenants;
		l7->tenants = tn->next;
		free(tn->uid);
		free(tn);
	}
}
