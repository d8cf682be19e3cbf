/* weft agent — the data path as the admin endpoints see it: the pooled
 * HBONE client connections for /config_dump (weft_dp_pool_json). Reads
 * the pool only through weft_hbone_pool_each. */
#include <stdio.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/json.h"
#include "weft/loop.h"
#include "dp_int.h"

typedef struct pool_ctx {
	weft_buf_t *out;
	size_t n;
	uint64_t now_ms;
	int rc;
} pool_ctx_t;

/* One pooled connection: its pool key ("<source identity>|<node
 * address>|<destination identity>", split into its parts when it has
 * them), the verified peer identity, open streams and state. */
static void conn_json(void *arg, const char *key, const weft_hbone_conn_t *hc)
{
	pool_ctx_t *pc = arg;
	weft_buf_t *b = pc->out;
	const weft_spiffe_id_t *peer = weft_conn_peer_id(&hc->conn);
	const char *p1 = key ? strchr(key, '|') : NULL;
	const char *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
	char part[512];

	weft_buf_printf(b, "%s{\"key\":", pc->n++ ? "," : "");
	weft_json_cstr(b, key);
	if (p1 && p2) {
		snprintf(part, sizeof(part), "%.*s", (int)(p1 - key), key);
		weft_buf_printf(b, ",\"source_identity\":");
		weft_json_cstr(b, part);
		snprintf(part, sizeof(part), "%.*s", (int)(p2 - p1 - 1), p1 + 1);
		weft_buf_printf(b, ",\"node_address\":");
		weft_json_cstr(b, part);
		weft_buf_printf(b, ",\"destination_identity\":");
		weft_json_cstr(b, p2 + 1);
	}
	weft_buf_printf(b, ",\"name\":");
	weft_json_cstr(b, hc->name);
	weft_buf_printf(b, ",\"peer_identity\":");
	if (peer && peer->uri[0])
		weft_json_cstr(b, peer->uri);
	else
		weft_buf_printf(b, "null");
	weft_buf_printf(b, ",\"streams\":%u,\"state\":\"%s\",\"idle_ms\":%llu}", hc->nstreams,
			hc->dead ? "closed" : hc->goaway ? "draining" : hc->ready ? "ready" : "connecting",
			(unsigned long long)(pc->now_ms > hc->last_active_ms ? pc->now_ms - hc->last_active_ms : 0));
}

int weft_dp_pool_json(struct weft_dp *dp, weft_buf_t *out)
{
	pool_ctx_t pc = { out, 0, 0, 0 };

	if (!dp)
		return -1;
	pc.now_ms = weft_loop_now(dp->a->loop);
	weft_buf_printf(out, "[");
	weft_hbone_pool_each(&dp->pool, conn_json, &pc);
	return weft_buf_printf(out, "]") < 0 ? -1 : 0;
}
