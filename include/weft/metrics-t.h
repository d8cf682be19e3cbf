/* weft — metrics registry (Prometheus text exposition). Types only.
 * A registry is an instance owned by whoever serves it: no globals. */
#ifndef WEFT_METRICS_T_H
#define WEFT_METRICS_T_H
#include <stddef.h>
#include <stdint.h>

typedef enum weft_metric_kind {
	WEFT_METRIC_COUNTER = 0,
	WEFT_METRIC_GAUGE,
	WEFT_METRIC_HISTOGRAM,
} weft_metric_kind_t;

/* Istio's TCP metrics carry 20 labels (src/agent/telemetry.c). */
#define WEFT_METRIC_MAX_LABELS 24

struct weft_metric;

/* One labelled time series of a metric. */
typedef struct weft_series {
	struct weft_series *next;
	struct weft_metric *metric;
	char *values[WEFT_METRIC_MAX_LABELS];   /* label values, metric->nlabels of them */
	double value;                           /* counter / gauge */
	double sum;                             /* histogram */
	uint64_t count;                         /* histogram */
	uint64_t *buckets;                      /* histogram: per bound, not cumulative */
} weft_series_t;

typedef struct weft_metric {
	struct weft_metric *next;
	weft_metric_kind_t kind;
	char *name;
	char *help;
	size_t nlabels;
	char *labels[WEFT_METRIC_MAX_LABELS];
	size_t nbounds;
	double *bounds;                         /* histogram upper bounds, ascending */
	weft_series_t *series, *last;           /* in creation order */
} weft_metric_t;

typedef struct weft_metrics {
	weft_metric_t *head, *tail;
} weft_metrics_t;

#endif
