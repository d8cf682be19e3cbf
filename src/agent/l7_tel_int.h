/* weft — private between src/agent/l7_tel.c and src/agent/trace.c: the
 * trace exporter hung off a weft_l7_tel_t. */
#ifndef WEFT_L7_TEL_INT_H
#define WEFT_L7_TEL_INT_H
#include <stddef.h>
#include "weft/l7tel.h"

struct l7_trace;

/* The exporter for o (o->trace_endpoint may be NULL: spans are then only
 * counted, never sent). Registers weft_agent_trace_spans_{exported,
 * dropped}_total in m. Returns NULL with a message in err on a bad
 * endpoint or sample rate, or no memory. */
struct l7_trace *l7_trace_new(weft_loop_t *loop, weft_metrics_t *m, const weft_l7_tel_opts_t *o,
			      char *err, size_t errlen);
/* Drops queued spans, aborts a POST in flight. NULL is accepted. */
void l7_trace_free(struct l7_trace *tr);
/* t's exporter (NULL when t is NULL). */
struct l7_trace *l7_tel_trace(weft_l7_tel_t *t);

/* Changes the cap on label sets of the istio_request* metrics (default
 * 10,000); for tests. */
void l7_tel_set_max_series(weft_l7_tel_t *t, size_t n);

#endif
