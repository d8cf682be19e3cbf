/* weft — the HBONE client pool: connections grouped by key, each carrying
 * up to lim.max_streams tunnels. A tunnel goes on the least loaded open
 * connection of its key that has room; when none has, a new connection is
 * dialled. Connections leave the pool when they die, get GOAWAY (they stay
 * listed until their streams finish but take no new tunnels) or idle out
 * (the connection's own idle timer sends GOAWAY and closes it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "weft/hbone.h"
#include "weft/log.h"

typedef struct pool_key {
	struct pool_key *prev, *next;
	weft_hbone_pool_t *pool;
	weft_hbone_conn_t *conns;
	size_t nconns;
	uint64_t seq;
	char key[];
} pool_key_t;

void weft_hbone_pool_init(weft_hbone_pool_t *p, weft_loop_t *loop, const weft_hbone_limits_t *lim,
			  weft_hbone_dial_fn dial, void *ud)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	if (lim)
		p->lim = *lim;
	else
		weft_hbone_limits_default(&p->lim);
	p->dial = dial;
	p->ud = ud;
}

static pool_key_t *key_find(weft_hbone_pool_t *p, const char *key)
{
	for (pool_key_t *k = p->entries; k; k = k->next)
		if (!strcmp(k->key, key))
			return k;
	return NULL;
}

static void key_free(weft_hbone_pool_t *p, pool_key_t *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		p->entries = k->next;
	if (k->next)
		k->next->prev = k->prev;
	free(k);
}

/* on_destroy of a pooled connection: unlink it (and its key when empty). */
static void conn_gone(weft_hbone_conn_t *hc)
{
	pool_key_t *k = hc->pool_entry;
	weft_hbone_pool_t *p;

	if (!k)
		return;
	p = k->pool;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		k->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	hc->pool_entry = NULL;
	k->nconns--;
	p->nconns--;
	if (!k->conns)
		key_free(p, k);
}

/* How many streams hc may still take. */
static uint32_t room(const weft_hbone_conn_t *hc)
{
	uint32_t cap = hc->lim.max_streams;

	if (hc->dead || hc->goaway)
		return 0;
	if (hc->ready) {
		uint32_t r = nghttp2_session_get_remote_settings(hc->sess,
								 NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (r < cap)
			cap = r;
	}
	return hc->nstreams < cap ? cap - hc->nstreams : 0;
}

static weft_hbone_conn_t *dial_new(weft_hbone_pool_t *p, pool_key_t *k, const void *dial_arg)
{
	int fd = -1;
	const weft_xprt_ops_t *x = NULL;
	void *xctx = NULL;
	char name[96];
	weft_hbone_conn_t *hc;

	p->dials++;
	if (!p->dial || p->dial(p->ud, k->key, dial_arg, &fd, &x, &xctx) != WEFT_OK || !x) {
		p->dial_failures++;
		weft_info("hbone-pool", "dial for %s failed", k->key);
		return NULL;
	}
	snprintf(name, sizeof(name), "hbone-out %.60s #%llu", k->key, (unsigned long long)++k->seq);
	hc = weft_hbone_client_new(p->loop, fd, x, xctx, &p->lim, p, name);
	if (!hc) {
		p->dial_failures++;
		return NULL;
	}
	hc->pool_entry = k;
	hc->on_destroy = conn_gone;
	hc->prev = NULL;
	hc->next = k->conns;
	if (hc->next)
		hc->next->prev = hc;
	k->conns = hc;
	k->nconns++;
	p->nconns++;
	return hc;
}

weft_hbone_stream_t *weft_hbone_pool_open(weft_hbone_pool_t *p, const char *key,
					  const void *dial_arg, const struct sockaddr *dst,
					  const struct sockaddr *src,
					  const weft_hbone_stream_cbs_t *cbs, void *ud)
{
	return weft_hbone_pool_open_f(p, key, dial_arg, dst, src, 0, cbs, ud);
}

weft_hbone_stream_t *weft_hbone_pool_open_f(weft_hbone_pool_t *p, const char *key,
					    const void *dial_arg, const struct sockaddr *dst,
					    const struct sockaddr *src, uint32_t flags,
					    const weft_hbone_stream_cbs_t *cbs, void *ud)
{
	pool_key_t *k = key_find(p, key);
	weft_hbone_conn_t *best = NULL;

	if (!k) {
		size_t kl = strlen(key);
		k = calloc(1, sizeof(*k) + kl + 1);
		if (!k)
			return NULL;
		memcpy(k->key, key, kl + 1);
		k->pool = p;
		k->next = p->entries;
		if (k->next)
			k->next->prev = k;
		p->entries = k;
	}
	for (weft_hbone_conn_t *hc = k->conns; hc; hc = hc->next)
		if (room(hc) && (!best || hc->nstreams < best->nstreams))
			best = hc;
	if (!best)
		best = dial_new(p, k, dial_arg);
	if (!best) {
		if (!k->conns)
			key_free(p, k);
		return NULL;
	}
	return weft_hbone_open_f(best, dst, src, flags, cbs, ud);
}

void weft_hbone_pool_each(weft_hbone_pool_t *p,
			  void (*fn)(void *arg, const char *key, const weft_hbone_conn_t *hc),
			  void *arg)
{
	for (pool_key_t *k = p->entries; k; k = k->next)
		for (weft_hbone_conn_t *hc = k->conns; hc; hc = hc->next)
			fn(arg, k->key, hc);
}

void weft_hbone_pool_drain(weft_hbone_pool_t *p, const char *prefix, bool graceful)
{
	size_t pl = prefix ? strlen(prefix) : 0;

	/* kill and goaway never free synchronously, so the lists stay valid */
	for (pool_key_t *k = p->entries; k; k = k->next) {
		if (pl && strncmp(k->key, prefix, pl))
			continue;
		for (weft_hbone_conn_t *hc = k->conns; hc; hc = hc->next) {
			if (graceful)
				weft_hbone_goaway(hc);
			else
				weft_hbone_kill(hc, "pool drain");
		}
	}
}

void weft_hbone_pool_destroy(weft_hbone_pool_t *p)
{
	while (p->entries) {
		pool_key_t *k = p->entries;
		weft_hbone_close(k->conns);   /* conn_gone frees k with its last conn */
	}
}
