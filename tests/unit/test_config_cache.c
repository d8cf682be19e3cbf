/* Unit tests for weft_config_load_cached() (src/control/config.c): a reload
 * re-reads only changed files, and the model it builds is the one a full
 * weft_config_load() of the same directory builds; models built from shared
 * decoded files stay valid and unmodified while the cache moves on. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cfg_test_util.h"

static const char nodes_yaml[] =
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Node\n"
	"metadata: {name: n1}\n"
	"spec: {address: 10.0.0.1, locality: {region: r, zone: z}}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Node\n"
	"metadata: {name: n2}\n"
	"spec: {address: 10.0.0.2}\n";

static const char services_yaml[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: echo}\n"
	"spec:\n"
	"  selector: {app: echo}\n"
	"  ports: [{name: grpc, port: 7070, appProtocol: grpc}, {name: http, port: 8080, appProtocol: http}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: echo-v1}\n"
	"spec:\n"
	"  selector: {app: echo, version: v1}\n"
	"  ports: [{name: grpc, port: 7070, appProtocol: grpc}, {name: http, port: 8080, appProtocol: http}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: shop, namespace: other}\n"
	"spec:\n"
	"  selector: {app: shop}\n"
	"  ports: [{port: 81}]\n";

/* 18 characters per address: changing one digit keeps the size */
static const char workloads_fmt[] =
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Workload\n"
	"metadata: {name: echo-a, labels: {app: echo, version: v1}}\n"
	"spec: {node: n1, addresses: [%s]}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Workload\n"
	"metadata: {name: echo-b, labels: {app: echo, version: %s}}\n"
	"spec: {node: n2, addresses: [10.1.0.2]}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Workload\n"
	"metadata: {name: shop-a, namespace: other, labels: {app: shop}}\n"
	"spec: {node: n1, addresses: [10.2.0.1]}\n";

static const char routes_yaml[] =
	"apiVersion: gateway.networking.k8s.io/v1\n"
	"kind: HTTPRoute\n"
	"metadata: {name: web}\n"
	"spec:\n"
	"  parentRefs: [{name: echo, port: 8080}]\n"
	"  rules:\n"
	"  - matches: [{path: {type: PathPrefix, value: /v1}}]\n"
	"    filters:\n"
	"    - type: RequestMirror\n"
	"      requestMirror: {backendRef: {name: shop, namespace: other, port: 81}, percent: 10}\n"
	"    backendRefs: [{name: echo-v1, port: 8080}]\n"
	"  - backendRefs: [{name: echo, port: 8080}]\n"
	"---\n"
	"apiVersion: gateway.networking.k8s.io/v1\n"
	"kind: GRPCRoute\n"
	"metadata: {name: rpc}\n"
	"spec:\n"
	"  parentRefs: [{name: echo, port: 7070}]\n"
	"  rules:\n"
	"  - backendRefs: [{name: echo-v1, port: 7070}]\n";

static const char policy_yaml[] =
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: DestinationPolicy\n"
	"metadata: {name: echo}\n"
	"spec:\n"
	"  targetRef: {kind: Service, name: echo}\n"
	"  retries: {attempts: 2, retryOn: [unavailable]}\n";

typedef struct fixture {
	char dir[64];
	weft_config_cache_t cache;
} fixture_t;

static void write_file(const fixture_t *fx, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void write_workloads(const fixture_t *fx, const char *addr, const char *version)
{
	char text[sizeof(workloads_fmt) + 64];

	snprintf(text, sizeof(text), workloads_fmt, addr, version);
	write_file(fx, "workloads.yaml", text);
}

/* Waits until files written so far are older than the clock tick, so that
 * the next load may cache them (config.c reads a file changed within the
 * current tick again next time). */
static void settle(void)
{
	struct timespec res = { 0, 1000000 }, ts;

	clock_getres(CLOCK_REALTIME_COARSE, &res);
	ts.tv_sec = 0;
	ts.tv_nsec = 2 * res.tv_nsec + 2000000;
	if (ts.tv_nsec >= 1000000000)
		ts = (struct timespec){ 1, 0 };
	nanosleep(&ts, NULL);
}

static int setup(void **st)
{
	fixture_t *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/weft-cfgcache-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	write_file(fx, "nodes.yaml", nodes_yaml);
	write_file(fx, "services.yaml", services_yaml);
	write_workloads(fx, "10.1.0.1", "v1");
	write_file(fx, "routes.yaml", routes_yaml);
	write_file(fx, "policy.yaml", policy_yaml);
	settle();
	weft_config_cache_init(&fx->cache);
	*st = fx;
	return 0;
}

static int teardown(void **st)
{
	fixture_t *fx = *st;
	char cmd[128];

	weft_config_cache_destroy(&fx->cache);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* ---- a canonical text of a model ---- */

#define IN(m, arr, n, p) ((p) >= (m)->arr && (p) < (m)->arr + (m)->n)

static void dump_str(FILE *f, const char *tag, weft_str_t s)
{
	fprintf(f, " %s=%.*s", tag, (int)s.len, s.p ? s.p : "");
}

static void dump_labels(FILE *f, const char *tag, const weft_labels_t *l)
{
	fprintf(f, " %s{", tag);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%.*s=%.*s,", (int)l->kv[i].key.len, l->kv[i].key.p, (int)l->kv[i].value.len,
			l->kv[i].value.p);
	fprintf(f, "}");
}

static void dump_meta(FILE *f, const weft_meta_t *m)
{
	dump_str(f, "ns", m->ns);
	dump_str(f, "name", m->name);
	dump_labels(f, "labels", &m->labels);
	fprintf(f, " at=%s:%u", m->loc.file, m->loc.line);
}

/* Names a resolved service; "FOREIGN" when the pointer is not into m's
 * own services array (it must never point into another model). */
static void dump_svc_ref(FILE *f, const weft_model_t *m, const weft_service_t *s)
{
	if (!s)
		fprintf(f, " svc=-");
	else if (!IN(m, services, nservices, s))
		fprintf(f, " svc=FOREIGN");
	else
		fprintf(f, " svc=%.*s/%.*s", (int)s->meta.ns.len, s->meta.ns.p, (int)s->meta.name.len, s->meta.name.p);
}

static void dump_backend(FILE *f, const weft_model_t *m, const weft_backend_ref_t *b)
{
	dump_str(f, "be", b->name);
	dump_str(f, "bens", b->ns);
	fprintf(f, " port=%u w=%u at=%s:%u", b->port, b->weight, b->loc.file, b->loc.line);
	dump_svc_ref(f, m, b->svc);
}

/* Returns the model as text (malloc'd): every object and every resolved
 * reference by name. */
static char *dump_model(const weft_model_t *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	fprintf(f, "files %zu:", m->nfiles);
	for (size_t i = 0; i < m->nfiles; i++)
		fprintf(f, " %s", m->files[i]);
	fprintf(f, "\n");
	for (size_t i = 0; i < m->nnodes; i++) {
		const weft_node_t *n = &m->nodes[i];
		fprintf(f, "node");
		dump_meta(f, &n->meta);
		dump_str(f, "addr", n->address);
		dump_str(f, "region", n->locality.region);
		dump_str(f, "zone", n->locality.zone);
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < m->nworkloads; i++) {
		const weft_workload_t *w = &m->workloads[i];
		fprintf(f, "workload");
		dump_meta(f, &w->meta);
		dump_str(f, "sa", w->service_account);
		if (w->node && !IN(m, nodes, nnodes, w->node))
			fprintf(f, " node=FOREIGN");
		else
			dump_str(f, "node", w->node ? w->node->meta.name : WEFT_STR_LIT("-"));
		for (size_t a = 0; a < w->naddrs; a++)
			dump_str(f, "addr", w->addrs[a]);
		fprintf(f, " weight=%u\n", w->weight);
	}
	for (size_t i = 0; i < m->nservices; i++) {
		const weft_service_t *s = &m->services[i];
		fprintf(f, "service");
		dump_meta(f, &s->meta);
		dump_labels(f, "selector", &s->selector);
		for (size_t p = 0; p < s->nports; p++)
			fprintf(f, " port=%u/%u/%d", s->ports[p].port, s->ports[p].target_port, (int)s->ports[p].proto);
		for (size_t w = 0; w < s->nworkloads; w++) {
			if (!IN(m, workloads, nworkloads, s->workloads[w]))
				fprintf(f, " wl=FOREIGN");
			else
				dump_str(f, "wl", s->workloads[w]->meta.name);
		}
		if (s->policy && !IN(m, policies, npolicies, s->policy))
			fprintf(f, " policy=FOREIGN");
		else
			dump_str(f, "policy", s->policy ? s->policy->meta.name : WEFT_STR_LIT("-"));
		for (size_t r = 0; r < s->nroutes; r++) {
			if (!IN(m, routes, nroutes, s->routes[r]))
				fprintf(f, " route=FOREIGN");
			else
				dump_str(f, "route", s->routes[r]->meta.name);
		}
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < m->nroutes; i++) {
		const weft_route_t *rt = &m->routes[i];
		fprintf(f, "route kind=%d", (int)rt->kind);
		dump_meta(f, &rt->meta);
		for (size_t p = 0; p < rt->nparents; p++) {
			dump_str(f, "parent", rt->parents[p].name);
			fprintf(f, " port=%u", rt->parents[p].port);
			dump_svc_ref(f, m, rt->parents[p].svc);
		}
		for (size_t j = 0; j < rt->nrules; j++) {
			const weft_route_rule_t *ru = &rt->rules[j];
			fprintf(f, "\n  rule at=%s:%u", ru->loc.file, ru->loc.line);
			for (size_t k = 0; k < ru->nmatches; k++) {
				fprintf(f, " match=%d", (int)ru->matches[k].path_type);
				dump_str(f, "path", ru->matches[k].path);
			}
			for (size_t k = 0; k < ru->nbackends; k++)
				dump_backend(f, m, &ru->backends[k]);
			for (size_t k = 0; k < ru->nfilters; k++) {
				fprintf(f, " filter=%d", (int)ru->filters[k].type);
				if (ru->filters[k].type == WEFT_FILTER_MIRROR) {
					fprintf(f, " ppm=%u", ru->filters[k].mirror.percent_ppm);
					dump_backend(f, m, &ru->filters[k].mirror.backend);
				}
			}
		}
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < m->npolicies; i++) {
		const weft_dest_policy_t *p = &m->policies[i];
		fprintf(f, "policy");
		dump_meta(f, &p->meta);
		dump_str(f, "target", p->target);
		dump_svc_ref(f, m, p->svc);
		fprintf(f, " retry=%d/%u/%u\n", p->retry.set, p->retry.attempts, p->retry.retry_on);
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

/* Loads fx->dir with the cache and checks the model is the one a full
 * load builds and that parsed / reused files are as expected. Returns the
 * model (never NULL). */
static weft_model_t *load_ok(fixture_t *fx, size_t parsed, size_t reused)
{
	weft_cfg_errors_t errs;
	weft_model_t *m, *full;
	char *a, *b;

	weft_cfg_errors_init(&errs);
	m = weft_config_load_cached(fx->dir, &fx->cache, &errs);
	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	assert_int_equal(errs.n, 0);
	assert_int_equal(fx->cache.last_parsed, parsed);
	assert_int_equal(fx->cache.last_reused, reused);
	full = weft_config_load(fx->dir, &errs);
	assert_non_null(full);
	a = dump_model(m);
	b = dump_model(full);
	assert_string_equal(a, b);
	assert_null(strstr(a, "FOREIGN"));
	free(a);
	free(b);
	weft_model_free(full);
	weft_cfg_errors_free(&errs);
	return m;
}

/* The canonical list of errors, one per line. */
static char *dump_errs(const weft_cfg_errors_t *errs)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	weft_cfg_errors_print(errs, f);
	assert_int_equal(fclose(f), 0);
	return out;
}

/* Loads fx->dir with the cache, expecting a rejection with the same
 * errors a full load reports, and one containing `want`. */
static void load_bad(fixture_t *fx, const char *want, size_t parsed)
{
	weft_cfg_errors_t errs, ferrs;
	char *a, *b;

	weft_cfg_errors_init(&errs);
	weft_cfg_errors_init(&ferrs);
	assert_null(weft_config_load_cached(fx->dir, &fx->cache, &errs));
	assert_null(weft_config_load(fx->dir, &ferrs));
	a = dump_errs(&errs);
	b = dump_errs(&ferrs);
	assert_string_equal(a, b);
	if (!strstr(a, want))
		fprintf(stderr, "errors:\n%s", a);
	assert_non_null(strstr(a, want));
	assert_int_equal(fx->cache.last_parsed, parsed);
	free(a);
	free(b);
	weft_cfg_errors_free(&errs);
	weft_cfg_errors_free(&ferrs);
}

/* ---- tests ---- */

/* Unchanged files are not read again; a changed one is; the result is
 * always the full load's model. */
static void test_reuse_and_change(void **st)
{
	fixture_t *fx = *st;
	weft_model_t *m1, *m2, *m3;

	m1 = load_ok(fx, 5, 0);
	assert_int_equal(fx->cache.n, 5);
	m2 = load_ok(fx, 0, 5);
	assert_ptr_equal(m2->workloads[0].meta.name.p, m1->workloads[0].meta.name.p);   /* shared */
	assert_ptr_not_equal(m2->workloads, m1->workloads);
	weft_model_free(m1);

	/* move an endpoint and relabel echo-b: only workloads.yaml is read */
	write_workloads(fx, "10.1.0.9", "v2");
	settle();
	m3 = load_ok(fx, 1, 4);
	assert_true(seq(m3->workloads[0].addrs[0], "10.1.0.9"));
	assert_true(seq(m2->workloads[0].addrs[0], "10.1.0.1"));
	assert_int_equal(weft_model_service(m3, WEFT_STR_LIT("default"), WEFT_STR_LIT("echo-v1"))->nworkloads, 1);
	assert_int_equal(weft_model_service(m2, WEFT_STR_LIT("default"), WEFT_STR_LIT("echo-v1"))->nworkloads, 2);
	weft_model_free(m2);
	weft_model_free(m3);
}

/* Routes share their decoded rules between models; resolving a new model
 * must not rewrite the old one's resolved services (nor leave the new one
 * pointing into the old one). */
static void test_old_model_untouched(void **st)
{
	fixture_t *fx = *st;
	weft_model_t *m1, *m2;
	char *before, *after;

	m1 = load_ok(fx, 5, 0);
	before = dump_model(m1);
	m2 = load_ok(fx, 0, 5);
	/* the same decoded route, its own resolved copies */
	assert_ptr_equal(m1->routes[0].meta.name.p, m2->routes[0].meta.name.p);
	assert_ptr_not_equal(m1->routes[0].parents, m2->routes[0].parents);
	assert_ptr_not_equal(m1->routes[0].rules[0].backends, m2->routes[0].rules[0].backends);
	weft_model_free(m2);
	after = dump_model(m1);
	assert_string_equal(before, after);
	assert_null(strstr(after, "FOREIGN"));
	free(before);
	free(after);
	/* the cache may go first: the model keeps its files */
	weft_config_cache_destroy(&fx->cache);
	after = dump_model(m1);
	assert_null(strstr(after, "FOREIGN"));
	free(after);
	weft_model_free(m1);
}

/* A file with errors is rejected with the full load's errors, is never
 * cached (read and reported again every time), and once fixed loads. */
static void test_bad_then_fixed(void **st)
{
	fixture_t *fx = *st;
	weft_model_t *m1, *m2;

	m1 = load_ok(fx, 5, 0);
	write_workloads(fx, "10.1.0.300", "v1");
	settle();
	load_bad(fx, "workloads.yaml:4: spec.addresses[0]: \"10.1.0.300\" is not an IPv4 or IPv6 address", 1);
	assert_int_equal(fx->cache.n, 4);
	load_bad(fx, "workloads.yaml:4: spec.addresses[0]", 1);
	/* the last good model is intact */
	assert_true(seq(m1->workloads[0].addrs[0], "10.1.0.1"));

	/* an error that only resolution finds (cached files reference it) */
	write_workloads(fx, "10.1.0.7", "v1");
	write_file(fx, "policy.yaml",
		   "apiVersion: weft.dev/v1alpha1\n"
		   "kind: DestinationPolicy\n"
		   "metadata: {name: echo}\n"
		   "spec:\n"
		   "  targetRef: {kind: Service, name: nope}\n");
	settle();
	load_bad(fx, "policy.yaml:5: spec.targetRef.name: no Service default/nope", 2);
	load_bad(fx, "no Service default/nope", 0);   /* both decode fine: cached */

	/* a duplicate of a cached object: "first defined at" the cached file */
	write_file(fx, "policy.yaml", nodes_yaml);
	settle();
	load_bad(fx, "duplicate Node n1: first defined at", 1);

	write_file(fx, "policy.yaml", policy_yaml);
	settle();
	m2 = load_ok(fx, 1, 4);
	assert_true(seq(m2->workloads[0].addrs[0], "10.1.0.7"));
	weft_model_free(m1);
	weft_model_free(m2);
}

/* Deleted and added files; a file replaced by rename (as editors do) with
 * the same size; an in-place edit with the old mtime put back. */
static void test_delete_rename_touch(void **st)
{
	fixture_t *fx = *st;
	weft_model_t *m1, *m2, *m3, *m4, *m5;
	char from[128], to[128];
	struct stat st0;
	struct timespec times[2];
	char text[sizeof(workloads_fmt) + 64];

	m1 = load_ok(fx, 5, 0);
	snprintf(to, sizeof(to), "%s/policy.yaml", fx->dir);
	assert_int_equal(unlink(to), 0);
	m2 = load_ok(fx, 0, 4);
	assert_int_equal(m2->npolicies, 0);
	assert_int_equal(fx->cache.n, 4);

	/* editor-style save: write a temporary, rename it over the file */
	write_file(fx, ".workloads.yaml.swp", "");
	snprintf(text, sizeof(text), workloads_fmt, "10.1.0.5", "v1");   /* same size */
	write_file(fx, ".workloads.yaml.swp", text);
	snprintf(from, sizeof(from), "%s/.workloads.yaml.swp", fx->dir);
	snprintf(to, sizeof(to), "%s/workloads.yaml", fx->dir);
	assert_int_equal(rename(from, to), 0);
	write_file(fx, "policy.yaml", policy_yaml);    /* and a new file */
	settle();
	m3 = load_ok(fx, 2, 3);
	assert_true(seq(m3->workloads[0].addrs[0], "10.1.0.5"));
	assert_int_equal(m3->npolicies, 1);

	/* same size, mtime restored: the ctime still tells */
	assert_int_equal(stat(to, &st0), 0);
	snprintf(text, sizeof(text), workloads_fmt, "10.1.0.6", "v1");
	write_file(fx, "workloads.yaml", text);
	times[0] = st0.st_atim;
	times[1] = st0.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, to, times, 0), 0);
	settle();
	m4 = load_ok(fx, 1, 4);
	assert_true(seq(m4->workloads[0].addrs[0], "10.1.0.6"));

	/* everything gone */
	for (const char *const *n = (const char *const[]){ "nodes.yaml", "services.yaml", "workloads.yaml",
							    "routes.yaml", "policy.yaml", NULL }; *n; n++) {
		snprintf(to, sizeof(to), "%s/%s", fx->dir, *n);
		assert_int_equal(unlink(to), 0);
	}
	m5 = load_ok(fx, 0, 0);
	assert_int_equal(m5->nfiles, 0);
	assert_int_equal(fx->cache.n, 0);

	/* models freed in any order after the cache moved on */
	weft_model_free(m3);
	weft_model_free(m1);
	weft_model_free(m5);
	weft_model_free(m4);
	weft_model_free(m2);
}

/* A file changed within the clock tick it was read in is not trusted:
 * it is read again next time even when size and timestamps look equal
 * (a change in the same tick may leave them as they were). */
static void test_racy_file_not_cached(void **st)
{
	fixture_t *fx = *st;
	weft_cfg_errors_t errs;
	weft_model_t *m;
	char path[128];
	bool left_out = false;

	snprintf(path, sizeof(path), "%s/routes.yaml", fx->dir);
	weft_cfg_errors_init(&errs);
	/* touching sets the ctime to now; a load in the same tick must leave
	 * the file out of the cache (tried a few times in case a tick ends
	 * between the touch and the read) */
	for (int i = 0; i < 20 && !left_out; i++) {
		assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
		m = weft_config_load_cached(fx->dir, &fx->cache, &errs);
		assert_non_null(m);
		weft_model_free(m);
		left_out = fx->cache.n == 4;
	}
	assert_true(left_out);
	settle();
	m = weft_config_load_cached(fx->dir, &fx->cache, &errs);
	assert_non_null(m);
	assert_int_equal(fx->cache.last_parsed, 1);
	assert_int_equal(fx->cache.n, 5);
	weft_model_free(m);
	m = weft_config_load_cached(fx->dir, &fx->cache, &errs);
	assert_non_null(m);
	assert_int_equal(fx->cache.last_parsed, 0);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

/* Without a cache and from memory, nothing changes. */
static void test_no_cache(void **st)
{
	fixture_t *fx = *st;
	weft_cfg_errors_t errs;
	weft_model_t *m;

	weft_cfg_errors_init(&errs);
	m = weft_config_load_cached(fx->dir, NULL, &errs);
	assert_non_null(m);
	assert_int_equal(m->nfiles, 5);
	assert_int_equal(m->nroutes, 2);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reuse_and_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_model_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_then_fixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_rename_touch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_racy_file_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
