/* weft — metrics registry and Prometheus text rendering. Memory is taken
 * at registration (start-up) and when a new label combination first
 * appears; label sets are small and bounded by the callers (xDS types,
 * reload results). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/metrics.h"

void weft_metrics_init(weft_metrics_t *m)
{
	m->head = m->tail = NULL;
}

static void series_free(weft_series_t *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

/* Frees one metric, its series and its strings (a partly built one too). */
static void metric_free(weft_metric_t *mt)
{
	for (weft_series_t *s = mt->series, *sn; s; s = sn) {
		sn = s->next;
		series_free(s, mt->nlabels);
	}
	for (size_t i = 0; i < mt->nlabels; i++)
		free(mt->labels[i]);
	free(mt->name);
	free(mt->help);
	free(mt->bounds);
	free(mt);
}

void weft_metrics_free(weft_metrics_t *m)
{
	weft_metric_t *mt = m->head, *nx;

	while (mt) {
		nx = mt->next;
		metric_free(mt);
		mt = nx;
	}
	m->head = m->tail = NULL;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':') */
static int valid_name(const char *s, size_t n, int colon_ok)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			 (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static weft_series_t *series_new(weft_metric_t *mt)
{
	weft_series_t *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->metric = mt;
	if (mt->kind == WEFT_METRIC_HISTOGRAM) {
		s->buckets = calloc(mt->nbounds ? mt->nbounds : 1, sizeof(*s->buckets));
		if (!s->buckets) {
			free(s);
			return NULL;
		}
	}
	if (mt->last)
		mt->last->next = s;
	else
		mt->series = s;
	mt->last = s;
	return s;
}

static weft_metric_t *metric_new(weft_metrics_t *m, weft_metric_kind_t kind, const char *name,
				 const char *help, const char *labels, const double *bounds,
				 size_t nbounds)
{
	weft_metric_t *mt;

	if (!valid_name(name, strlen(name), 1))
		return NULL;
	/* one owner per name: a second registration would render the metric
	 * twice, which Prometheus rejects */
	for (weft_metric_t *o = m->head; o; o = o->next)
		if (!strcmp(o->name, name))
			return NULL;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		return NULL;
	mt->kind = kind;
	mt->name = strdup(name);
	mt->help = strdup(help ? help : "");
	if (!mt->name || !mt->help)
		goto fail;
	if (labels && *labels) {
		const char *p = labels;
		for (;;) {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (mt->nlabels == WEFT_METRIC_MAX_LABELS || !valid_name(p, n, 0) ||
			    (kind == WEFT_METRIC_HISTOGRAM && n == 2 && !memcmp(p, "le", 2)))
				goto fail;
			mt->labels[mt->nlabels] = strndup(p, n);
			if (!mt->labels[mt->nlabels++])
				goto fail;
			if (!e)
				break;
			p = e + 1;
		}
	}
	if (kind == WEFT_METRIC_HISTOGRAM) {
		mt->bounds = malloc((nbounds ? nbounds : 1) * sizeof(double));
		if (!mt->bounds)
			goto fail;
		for (size_t i = 0; i < nbounds; i++) {
			if (i && bounds[i] <= bounds[i - 1])
				goto fail;
			mt->bounds[i] = bounds[i];
		}
		mt->nbounds = nbounds;
	}
	if (mt->nlabels == 0 && !series_new(mt))
		goto fail;
	if (m->tail)
		m->tail->next = mt;
	else
		m->head = mt;
	m->tail = mt;
	return mt;
fail:
	metric_free(mt);
	return NULL;
}

weft_metric_t *weft_metrics_counter(weft_metrics_t *m, const char *name, const char *help,
				    const char *labels)
{
	return metric_new(m, WEFT_METRIC_COUNTER, name, help, labels, NULL, 0);
}

weft_metric_t *weft_metrics_gauge(weft_metrics_t *m, const char *name, const char *help,
				  const char *labels)
{
	return metric_new(m, WEFT_METRIC_GAUGE, name, help, labels, NULL, 0);
}

weft_metric_t *weft_metrics_histogram(weft_metrics_t *m, const char *name, const char *help,
				      const char *labels, const double *bounds, size_t nbounds)
{
	return metric_new(m, WEFT_METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

weft_series_t *weft_metric_with(weft_metric_t *mt, ...)
{
	const char *vals[WEFT_METRIC_MAX_LABELS];
	va_list ap;

	if (!mt)
		return NULL;
	va_start(ap, mt);
	for (size_t i = 0; i < mt->nlabels; i++)
		vals[i] = va_arg(ap, const char *);
	va_end(ap);
	return weft_metric_withv(mt, vals);
}

weft_series_t *weft_metric_withv(weft_metric_t *mt, const char *const *in)
{
	const char *vals[WEFT_METRIC_MAX_LABELS];
	weft_series_t *s;

	if (!mt)
		return NULL;
	for (size_t i = 0; i < mt->nlabels; i++)
		vals[i] = in[i] ? in[i] : "";
	for (s = mt->series; s; s = s->next) {
		size_t i;
		for (i = 0; i < mt->nlabels; i++)
			if (strcmp(s->values[i], vals[i]))
				break;
		if (i == mt->nlabels)
			return s;
	}
	s = series_new(mt);
	if (!s)
		return NULL;
	for (size_t i = 0; i < mt->nlabels; i++) {
		s->values[i] = strdup(vals[i]);
		if (!s->values[i]) {
			/* keep the series (it is linked) but unusable labels: make them empty */
			for (size_t j = 0; j <= i; j++) {
				free(s->values[j]);
				s->values[j] = strdup("");
			}
			return NULL;
		}
	}
	return s;
}

void weft_series_remove(weft_series_t *s)
{
	weft_metric_t *mt;
	weft_series_t **pp, *prev = NULL;

	if (!s)
		return;
	mt = s->metric;
	for (pp = &mt->series; *pp && *pp != s; pp = &(*pp)->next)
		prev = *pp;
	if (!*pp)
		return;
	*pp = s->next;
	if (mt->last == s)
		mt->last = prev;
	series_free(s, mt->nlabels);
}

void weft_series_add(weft_series_t *s, double v)
{
	if (s)
		s->value += v;
}

void weft_series_set(weft_series_t *s, double v)
{
	if (s)
		s->value = v;
}

void weft_series_observe(weft_series_t *s, double v)
{
	weft_metric_t *mt;

	if (!s || !s->buckets)
		return;
	mt = s->metric;
	s->sum += v;
	s->count++;
	for (size_t i = 0; i < mt->nbounds; i++)
		if (v <= mt->bounds[i]) {
			s->buckets[i]++;
			break;
		}
}

/* ---- rendering ---- */

static int put_escaped(weft_buf_t *out, const char *s, int quote)
{
	for (; *s; s++) {
		const char *e = NULL;
		if (*s == '\\')
			e = "\\\\";
		else if (*s == '\n')
			e = "\\n";
		else if (quote && *s == '"')
			e = "\\\"";
		if (e ? weft_buf_append(out, e, 2) : weft_buf_append(out, s, 1))
			return -1;
	}
	return 0;
}

static int put_num(weft_buf_t *out, double v)
{
	if (isnan(v))
		return weft_buf_printf(out, "NaN");
	if (isinf(v))
		return weft_buf_printf(out, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e15)
		return weft_buf_printf(out, "%.0f", v);
	return weft_buf_printf(out, "%.17g", v);
}

/* name{l1="v1",...,extra} (extra: an extra label already formatted, or NULL) */
static int put_series_name(weft_buf_t *out, const weft_metric_t *mt, const weft_series_t *s,
			   const char *suffix, const char *extra)
{
	int first = 1;

	if (weft_buf_printf(out, "%s%s", mt->name, suffix))
		return -1;
	if (!mt->nlabels && !extra)
		return weft_buf_append(out, " ", 1);
	if (weft_buf_append(out, "{", 1))
		return -1;
	for (size_t i = 0; i < mt->nlabels; i++) {
		if (weft_buf_printf(out, "%s%s=\"", first ? "" : ",", mt->labels[i]) ||
		    put_escaped(out, s->values[i] ? s->values[i] : "", 1) ||
		    weft_buf_append(out, "\"", 1))
			return -1;
		first = 0;
	}
	if (extra && weft_buf_printf(out, "%s%s", first ? "" : ",", extra))
		return -1;
	return weft_buf_append(out, "} ", 2);
}

int weft_metrics_render(const weft_metrics_t *m, weft_buf_t *out)
{
	static const char *const kinds[] = { "counter", "gauge", "histogram" };

	for (const weft_metric_t *mt = m->head; mt; mt = mt->next) {
		if (weft_buf_printf(out, "# HELP %s ", mt->name) || put_escaped(out, mt->help, 0) ||
		    weft_buf_printf(out, "\n# TYPE %s %s\n", mt->name, kinds[mt->kind]))
			return -1;
		for (const weft_series_t *s = mt->series; s; s = s->next) {
			if (mt->kind != WEFT_METRIC_HISTOGRAM) {
				if (put_series_name(out, mt, s, "", NULL) || put_num(out, s->value) ||
				    weft_buf_append(out, "\n", 1))
					return -1;
				continue;
			}
			uint64_t cum = 0;
			char le[64];
			for (size_t i = 0; i < mt->nbounds; i++) {
				cum += s->buckets[i];
				snprintf(le, sizeof(le), "le=\"%.15g\"", mt->bounds[i]);
				if (put_series_name(out, mt, s, "_bucket", le) ||
				    weft_buf_printf(out, "%llu\n", (unsigned long long)cum))
					return -1;
			}
			if (put_series_name(out, mt, s, "_bucket", "le=\"+Inf\"") ||
			    weft_buf_printf(out, "%llu\n", (unsigned long long)s->count) ||
			    put_series_name(out, mt, s, "_sum", NULL) || put_num(out, s->sum) ||
			    weft_buf_append(out, "\n", 1) ||
			    put_series_name(out, mt, s, "_count", NULL) ||
			    weft_buf_printf(out, "%llu\n", (unsigned long long)s->count))
				return -1;
		}
	}
	return 0;
}
