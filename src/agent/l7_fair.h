/* weft — private to the agent's L7 data path: per-workload fairness
 * accounting (src/agent/l7_fair.c). The agent is shared by every workload
 * of its node; each local workload (a tenant, l7_tenant_t in l7_int.h)
 * has a share of three resources, both sides of the data path counted
 * together:
 *
 *   connections  captured connections from it served at L7 (source
 *                side, l7_out.c) and, counted apart with the same
 *                limit, L7 tunnels served for it (destination side,
 *                l7_in.c)
 *   requests     requests in flight from it (source side) and, counted
 *                apart with the same limit, requests in flight to it
 *                (destination side)
 *
 * Source and destination shares are apart so that a workload flooded by
 * its callers can still make its own calls, and the reverse.
 *   buffer       body bytes the agent holds for it: request bodies kept
 *                for retries and mirrors, bytes queued towards a slow
 *                peer (either direction, either side)
 *
 * Limits are l7->max_conns / max_requests / max_buffer (0: unlimited).
 * Every change updates the weft_agent_l7_workload_* gauges (connections,
 * requests: both directions summed); every refusal
 * counts weft_agent_l7_limit_rejections_total{workload,limit}. */
#ifndef WEFT_L7_FAIR_H
#define WEFT_L7_FAIR_H
#include <stdbool.h>
#include <stdint.h>
#include "l7_int.h"

typedef enum l7_fair_kind {
	L7_FAIR_CONNS,               /* from the workload */
	L7_FAIR_IN_CONNS,            /* tunnels to the workload (metrics: "connections" too) */
	L7_FAIR_REQUESTS,            /* sent by the workload */
	L7_FAIR_IN_REQUESTS,         /* to the workload (metrics: "requests" too) */
	L7_FAIR_BUFFER,
} l7_fair_kind_t;

/* The tenant of local workload uid, made at first use (freed by
 * l7_fair_free). NULL when out of memory or uid is NULL (callers then do
 * without accounting for that connection or request). */
l7_tenant_t *l7_fair_tenant(weft_l7_t *l7, const char *uid);

/* Takes n units of kind k for tn if it stays within its limit. Returns
 * true (taken; gauges updated) or false (taking them would pass the
 * limit: nothing taken, the rejection is counted under the limit's name
 * "connections", "requests" or "buffer"). n = 0 asks whether any room
 * is left (false when the share is full). tn NULL: true, nothing taken. */
bool l7_fair_take(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n);

/* Takes n units whatever the limit: resources already held that cannot
 * be refused any more (bytes of a response under way waiting for a slow
 * client; flow control bounds them). They count against later takes. */
void l7_fair_charge(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n);

/* Gives back n units of kind k (never below zero). tn NULL: nothing. */
void l7_fair_give(weft_l7_t *l7, l7_tenant_t *tn, l7_fair_kind_t k, uint64_t n);

/* Whether tn holds at least its whole share of kind k now (false when
 * unlimited or tn is NULL). Counts nothing. */
bool l7_fair_full(const weft_l7_t *l7, const l7_tenant_t *tn, l7_fair_kind_t k);

/* The limit's name in metrics and logs. */
const char *l7_fair_name(l7_fair_kind_t k);

/* Frees every tenant (l7_free). */
void l7_fair_free(weft_l7_t *l7);

#endif
