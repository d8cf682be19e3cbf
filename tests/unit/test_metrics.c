/* Unit tests for the metrics registry and its Prometheus rendering, and
 * for JSON string escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/json.h"
#include "weft/metrics.h"

static char *render(weft_metrics_t *m, weft_buf_t *b)
{
	weft_buf_init(b, 0);
	assert_int_equal(weft_metrics_render(m, b), 0);
	weft_buf_append(b, "", 1);
	return (char *)weft_buf_head(b);
}

static void test_counter_gauge(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;

	weft_metrics_init(&m);
	weft_metric_t *c = weft_metrics_counter(&m, "weft_x_total", "Things\\done\nhere", "type,result");
	weft_metric_t *g = weft_metrics_gauge(&m, "weft_g", "A gauge", NULL);
	assert_non_null(c);
	assert_non_null(g);
	weft_series_inc(weft_metric_with(c, "LDS", "ok"));
	weft_series_add(weft_metric_with(c, "LDS", "ok"), 2);
	weft_series_inc(weft_metric_with(c, "a\"b\\c\nd", "x"));
	weft_series_set(weft_metric_with(g), 1.5);
	char *out = render(&m, &b);
	assert_non_null(strstr(out, "# HELP weft_x_total Things\\\\done\\nhere\n# TYPE weft_x_total counter\n"));
	assert_non_null(strstr(out, "weft_x_total{type=\"LDS\",result=\"ok\"} 3\n"));
	assert_non_null(strstr(out, "weft_x_total{type=\"a\\\"b\\\\c\\nd\",result=\"x\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE weft_g gauge\nweft_g 1.5\n"));
	weft_buf_free(&b);
	/* bad names and labels are refused */
	assert_null(weft_metrics_counter(&m, "9bad", "", NULL));
	assert_null(weft_metrics_counter(&m, "ok_name", "", "bad-label"));
	assert_null(weft_metrics_counter(&m, "ok_name", "", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y"));
	assert_null(weft_metrics_histogram(&m, "h", "", "le", (double[]){ 1 }, 1));
	assert_null(weft_metric_with(NULL));
	weft_series_inc(NULL);   /* no-op */
	weft_metrics_free(&m);
}

static void test_histogram(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;
	const double bounds[] = { 0.005, 0.1, 1 };

	weft_metrics_init(&m);
	weft_metric_t *h = weft_metrics_histogram(&m, "weft_d_seconds", "Durations", NULL, bounds, 3);
	assert_non_null(h);
	weft_series_observe(weft_metric_with(h), 0.001);
	weft_series_observe(weft_metric_with(h), 0.05);
	weft_series_observe(weft_metric_with(h), 0.05);
	weft_series_observe(weft_metric_with(h), 5);
	char *out = render(&m, &b);
	assert_non_null(strstr(out, "# TYPE weft_d_seconds histogram\n"
				    "weft_d_seconds_bucket{le=\"0.005\"} 1\n"
				    "weft_d_seconds_bucket{le=\"0.1\"} 3\n"
				    "weft_d_seconds_bucket{le=\"1\"} 3\n"
				    "weft_d_seconds_bucket{le=\"+Inf\"} 4\n"
				    "weft_d_seconds_sum 5.101"));
	assert_non_null(strstr(out, "weft_d_seconds_count 4\n"));
	weft_buf_free(&b);
	/* unsorted bounds are refused */
	assert_null(weft_metrics_histogram(&m, "bad", "", NULL, (double[]){ 2, 1 }, 2));
	weft_metrics_free(&m);
}

/* One owner per name, and a series can go away with its subject. */
static void test_repeat_and_remove(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;

	weft_metrics_init(&m);
	weft_metric_t *g = weft_metrics_gauge(&m, "weft_exp", "Expiry", "id");
	assert_non_null(g);
	assert_null(weft_metrics_gauge(&m, "weft_exp", "Again", "id"));
	assert_null(weft_metrics_counter(&m, "weft_exp", "Again", NULL));
	weft_series_t *a = weft_metric_with(g, "a"), *bb = weft_metric_with(g, "b"), *c = weft_metric_with(g, "c");
	weft_series_set(a, 1);
	weft_series_set(bb, 2);
	weft_series_set(c, 3);
	weft_series_remove(c);      /* the last one: a new series is appended after b */
	weft_series_remove(a);      /* the first one */
	weft_series_set(weft_metric_with(g, "d"), 4);
	weft_series_remove(NULL);
	char *out = render(&m, &b);
	assert_null(strstr(out, "weft_exp{id=\"a\"}"));
	assert_null(strstr(out, "weft_exp{id=\"c\"}"));
	assert_non_null(strstr(out, "# TYPE weft_exp gauge\nweft_exp{id=\"b\"} 2\nweft_exp{id=\"d\"} 4\n"));
	weft_buf_free(&b);
	/* removing every series leaves only the header */
	weft_series_remove(weft_metric_with(g, "b"));
	weft_series_remove(weft_metric_with(g, "d"));
	out = render(&m, &b);
	assert_null(strstr(out, "weft_exp{"));
	weft_buf_free(&b);
	weft_metrics_free(&m);
}

static void test_json(void **st)
{
	weft_buf_t b;

	weft_buf_init(&b, 0);
	static const char in[] = "a\"b\\c\n\t\x01\x7f caf\xc3\xa9 \xff";
	weft_json_str(&b, in, sizeof(in) - 1);
	weft_buf_append(&b, "", 1);
	assert_string_equal((char *)weft_buf_head(&b),
			    "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f caf\xc3\xa9 \\ufffd\"");
	weft_buf_reset(&b);
	weft_json_cstr(&b, NULL);
	weft_buf_append(&b, "", 1);
	assert_string_equal((char *)weft_buf_head(&b), "null");
	weft_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_repeat_and_remove),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
