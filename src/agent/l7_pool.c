/* weft — the L7 codec connection pool (contract: src/agent/l7_int.h).
 *
 * A pool keeps client-role codec connections (weft_hconn_t: HTTP/1.1 or
 * HTTP/2) per key. l7_pool_open() takes a stream on a connection of the
 * key that can take one (most recently used first: a keep-alive HTTP/1
 * connection that was just used is the least likely to have been closed
 * by the peer), and dials a new one otherwise.
 *
 * Bookkeeping per connection (pconn_t, reached through hc->owner): the
 * key entry it belongs to, a draining mark and an idle timer. The timer is
 * (re)armed whenever a stream is opened or the connection reports on_idle;
 * when it fires the connection is closed if it carries no stream, else the
 * timer is armed again. The codec's on_close removes the connection; an
 * entry is freed with its last connection.
 *
 * Keys live in a small chained hash table (entries), grown as keys are
 * added. */
#include <stdlib.h>
#include <string.h>
#include "l7_int.h"
#include "weft/log.h"
#include "weft/loop.h"

#define POOL_IDLE_DEFAULT_MS 60000u

typedef struct pentry {
	struct pentry *hnext;        /* hash chain */
	struct l7_pool *p;
	weft_hconn_t *head;          /* most recently used first (hc->prev/next) */
	size_t n;
	uint64_t hash;               /* l7_pool_key_hash(key) */
	char key[];
} pentry_t;

typedef struct pconn {
	pentry_t *e;
	weft_hconn_t *hc;
	weft_timer_t idle;
	bool draining;
} pconn_t;

typedef struct ptable {
	pentry_t **b;
	size_t nb, nkeys;
} ptable_t;

uint64_t l7_pool_key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static ptable_t *table(l7_pool_t *p, bool create)
{
	ptable_t *t = p->entries;

	if (t || !create)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->nb = 16;
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		free(t);
		return NULL;
	}
	p->entries = t;
	return t;
}

static pentry_t *entry_find(l7_pool_t *p, const char *key, uint64_t hash)
{
	ptable_t *t = table(p, false);

	if (!t)
		return NULL;
	for (pentry_t *e = t->b[hash & (t->nb - 1)]; e; e = e->hnext)
		if (e->hash == hash && !strcmp(e->key, key))
			return e;
	return NULL;
}

/* Doubles the bucket array (best effort: a failed allocation keeps the
 * old one, which still works, only with longer chains). */
static void table_grow(ptable_t *t)
{
	size_t nb = t->nb * 2;
	pentry_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (pentry_t *e = t->b[i], *next; e; e = next) {
			size_t j = e->hash & (nb - 1);
			next = e->hnext;
			e->hnext = b[j];
			b[j] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static pentry_t *entry_get(l7_pool_t *p, const char *key, uint64_t hash)
{
	pentry_t *e = entry_find(p, key, hash);
	ptable_t *t;
	size_t len, i;

	if (e)
		return e;
	if (!(t = table(p, true)))
		return NULL;
	len = strlen(key);
	if (!(e = calloc(1, sizeof(*e) + len + 1)))
		return NULL;
	memcpy(e->key, key, len + 1);
	e->p = p;
	e->hash = hash;
	if (t->nkeys + 1 > t->nb * 2)
		table_grow(t);
	i = hash & (t->nb - 1);
	e->hnext = t->b[i];
	t->b[i] = e;
	t->nkeys++;
	return e;
}

static void entry_free(pentry_t *e)
{
	ptable_t *t = e->p->entries;
	pentry_t **pp = &t->b[e->hash & (t->nb - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	t->nkeys--;
	free(e);
}

static void list_unlink(pentry_t *e, weft_hconn_t *hc)
{
	if (hc->prev)
		hc->prev->next = hc->next;
	else if (e->head == hc)
		e->head = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	hc->prev = hc->next = NULL;
}

static void list_push(pentry_t *e, weft_hconn_t *hc)
{
	hc->prev = NULL;
	hc->next = e->head;
	if (e->head)
		e->head->prev = hc;
	e->head = hc;
}

static uint32_t idle_ms(const l7_pool_t *p)
{
	return p->idle_ms ? p->idle_ms : POOL_IDLE_DEFAULT_MS;
}

static void idle_cb(weft_loop_t *l, weft_timer_t *tm)
{
	pconn_t *pc = tm->data;
	weft_hconn_t *hc = pc->hc;

	if (hc->nstreams) {
		weft_timer_start(l, &pc->idle, idle_ms(pc->e->p));
		return;
	}
	weft_debug("l7pool", "%s: idle, closing", hc->name);
	hc->ops->close(hc);   /* on_close frees pc */
}

static void arm_idle(pconn_t *pc)
{
	weft_timer_start(pc->e->p->loop, &pc->idle, idle_ms(pc->e->p));
}

/* ---- the codec connection callbacks ---- */

static void pool_on_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	/* client connections never get server streams: refuse it */
	s->ops->reset(s, WEFT_HS_REFUSED);
}

static void pool_on_ready(weft_hconn_t *hc)
{
}

/* The connection can take another stream: make it the first choice. */
static void pool_on_idle(weft_hconn_t *hc)
{
	pconn_t *pc = hc->owner;

	if (!pc || pc->draining)
		return;
	list_unlink(pc->e, hc);
	list_push(pc->e, hc);
	arm_idle(pc);
}

static void pool_on_close(weft_hconn_t *hc)
{
	pconn_t *pc = hc->owner;
	pentry_t *e;
	l7_pool_t *p;

	if (!pc)
		return;
	e = pc->e;
	p = e->p;
	weft_timer_stop(p->loop, &pc->idle);
	list_unlink(e, hc);
	hc->owner = NULL;
	e->n--;
	p->nconns--;
	free(pc);
	if (!e->n)
		entry_free(e);
}

const weft_hconn_cbs_t l7_pool_conn_cbs = {
	.on_stream = pool_on_stream,
	.on_ready = pool_on_ready,
	.on_idle = pool_on_idle,
	.on_close = pool_on_close,
};

/* ---- the pool ---- */

void l7_pool_init(l7_pool_t *p, weft_loop_t *loop, l7_pool_dial_fn dial, void *ud)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->dial = dial;
	p->ud = ud;
}

/* Adds a freshly dialled connection to e. Returns false (connection
 * closed) when memory ran out. */
static bool adopt(l7_pool_t *p, pentry_t *e, weft_hconn_t *hc)
{
	pconn_t *pc = calloc(1, sizeof(*pc));

	if (!pc) {
		hc->ops->close(hc);
		return false;
	}
	pc->e = e;
	pc->hc = hc;
	weft_timer_init(&pc->idle, idle_cb, pc);
	hc->owner = pc;
	hc->ud = p;
	list_push(e, hc);
	e->n++;
	p->nconns++;
	return true;
}

weft_hstream_t *l7_pool_open(l7_pool_t *p, const char *key, const void *arg,
			     const weft_hstream_cbs_t *cbs, void *ud)
{
	return l7_pool_open_hashed(p, key, l7_pool_key_hash(key), arg, cbs, ud);
}

weft_hstream_t *l7_pool_open_hashed(l7_pool_t *p, const char *key, uint64_t hash,
				    const void *arg, const weft_hstream_cbs_t *cbs, void *ud)
{
	pentry_t *e = entry_get(p, key, hash);
	weft_hconn_t *hc;
	weft_hstream_t *s;

	if (!e)
		return NULL;
	for (hc = e->head; hc; hc = hc->next) {
		pconn_t *pc = hc->owner;
		if (pc->draining || hc->closing || !hc->ops->can_open(hc))
			continue;
		if ((s = hc->ops->open(hc, cbs, ud))) {
			list_unlink(e, hc);
			list_push(e, hc);
			arm_idle(pc);
			return s;
		}
	}
	if (p->max_conns_per_key && e->n >= p->max_conns_per_key) {
		weft_debug("l7pool", "%s: %zu connections, at the limit", key, e->n);
		goto fail;
	}
	p->dials++;
	hc = p->dial ? p->dial(p->ud, key, arg) : NULL;
	if (!hc) {
		p->dial_failures++;
		goto fail;
	}
	if (!adopt(p, e, hc))
		goto fail;   /* e has a connection until its on_close: freed there if last */
	s = hc->ops->open(hc, cbs, ud);
	arm_idle(hc->owner);
	return s;
fail:
	if (!e->n)
		entry_free(e);
	return NULL;
}

void l7_pool_drain(l7_pool_t *p, const char *prefix, bool graceful)
{
	ptable_t *t = p->entries;
	size_t plen = strlen(prefix);

	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++) {
		pentry_t *e = t->b[i], *enext;
		for (; e; e = enext) {
			weft_hconn_t *hc, *next;
			size_t n = e->n;
			enext = e->hnext;
			if (strncmp(e->key, prefix, plen))
				continue;
			/* closing the last connection frees e: stop counting on it then */
			for (hc = e->head; hc && n; hc = next, n--) {
				pconn_t *pc = hc->owner;
				next = hc->next;
				if (pc->draining && graceful)
					continue;
				pc->draining = true;
				if (graceful)
					hc->ops->goaway(hc);
				else
					hc->ops->close(hc);
			}
		}
	}
}

void l7_pool_destroy(l7_pool_t *p)
{
	ptable_t *t = p->entries;

	if (!t)
		return;
	l7_pool_drain(p, "", false);
	/* a codec that defers its on_close leaves entries: detach them */
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			pentry_t *e = t->b[i];
			while (e->head) {
				weft_hconn_t *hc = e->head;
				pconn_t *pc = hc->owner;
				weft_timer_stop(p->loop, &pc->idle);
				list_unlink(e, hc);
				hc->owner = NULL;
				free(pc);
				e->n--;
				p->nconns--;
			}
			entry_free(e);
		}
	free(t->b);
	free(t);
	p->entries = NULL;
}

void l7_pool_each(l7_pool_t *p, void (*fn)(void *arg, const char *key, const weft_hconn_t *hc),
		  void *arg)
{
	ptable_t *t = p->entries;

	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (pentry_t *e = t->b[i]; e; e = e->hnext)
			for (weft_hconn_t *hc = e->head; hc; hc = hc->next)
				fn(arg, e->key, hc);
}
