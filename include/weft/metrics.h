/* weft — metrics: counters, gauges and histograms with labels, rendered
 * in the Prometheus text exposition format (version 0.0.4). */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H
#include "weft/buf-t.h"
#include "weft/metrics-t.h"

void weft_metrics_init(weft_metrics_t *m);
/* Frees every metric and series. */
void weft_metrics_free(weft_metrics_t *m);

/* Registers a metric. labels is a comma-separated list of label names
 * ("type", "type,result") or NULL for none (then the single series exists
 * from the start, so it renders as 0). Histograms take nbounds ascending
 * upper bounds (+Inf is implicit). Returns the metric, or NULL on a bad
 * name/label, too many labels, a name already registered in m, or no
 * memory. */
weft_metric_t *weft_metrics_counter(weft_metrics_t *m, const char *name, const char *help,
				    const char *labels);
weft_metric_t *weft_metrics_gauge(weft_metrics_t *m, const char *name, const char *help,
				  const char *labels);
weft_metric_t *weft_metrics_histogram(weft_metrics_t *m, const char *name, const char *help,
				      const char *labels, const double *bounds, size_t nbounds);

/* The series for these label values (metric->nlabels strings, in order),
 * created on first use. Returns NULL when mt is NULL or memory ran out;
 * every weft_series_* call accepts NULL and does nothing then. */
weft_series_t *weft_metric_with(weft_metric_t *mt, ...);
/* The same with the values in an array of mt->nlabels strings (NULL
 * entries are ""). */
weft_series_t *weft_metric_withv(weft_metric_t *mt, const char *const *vals);

/* Removes series s from its metric and frees it (it no longer renders);
 * pointers to it become invalid. Meant for series whose subject went away
 * (a dropped identity). A series of a metric without labels may be removed
 * too; it then no longer renders either. NULL is accepted. */
void weft_series_remove(weft_series_t *s);

void weft_series_add(weft_series_t *s, double v);
static inline void weft_series_inc(weft_series_t *s) { weft_series_add(s, 1); }
void weft_series_set(weft_series_t *s, double v);
void weft_series_observe(weft_series_t *s, double v);

/* Appends the text exposition of every metric to out. Returns 0, or -1
 * when out's limit was reached. */
int weft_metrics_render(const weft_metrics_t *m, weft_buf_t *out);

#endif
