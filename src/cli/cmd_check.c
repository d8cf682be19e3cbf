/* weft check — validates a configuration (a file or a directory) the way
 * `weft control` would load it, without serving it. */
#include <stdio.h>
#include <string.h>
#include "weft/cli.h"
#include "weft/config.h"

static void check_usage(FILE *out)
{
	fprintf(out,
		"usage: weft check PATH\n\n"
		"Loads PATH (a YAML file, or every *.yaml / *.yml file below a directory)\n"
		"and validates the whole set: schema, references, conflicts.\n"
		"Exit status: 0 valid, 1 invalid (errors on stderr as file:line: field: message),\n"
		"2 usage error.\n");
}

/* Counts HTTPRoutes or GRPCRoutes of a model. */
static size_t count_routes(const weft_model_t *m, weft_route_kind_t k)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nroutes; i++)
		n += m->routes[i].kind == k;
	return n;
}

static int run_check(int argc, char **argv)
{
	const char *path = NULL;
	weft_cfg_errors_t errs;
	weft_model_t *m;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			check_usage(stdout);
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "weft check: unknown option '%s'\n", argv[i]);
			check_usage(stderr);
			return 2;
		}
		if (path) {
			fprintf(stderr, "weft check: only one PATH may be given\n");
			check_usage(stderr);
			return 2;
		}
		path = argv[i];
	}
	if (!path) {
		check_usage(stderr);
		return 2;
	}
	weft_cfg_errors_init(&errs);
	m = weft_config_load(path, &errs);
	if (m && !m->nfiles)
		weft_cfg_error_add(&errs, path, 0, "", "no *.yaml or *.yml files found");
	if (!m || errs.n) {
		weft_cfg_errors_print(&errs, stderr);
		fprintf(stderr, "weft check: %s: %zu error%s\n", path, errs.n, errs.n == 1 ? "" : "s");
		weft_cfg_errors_free(&errs);
		weft_model_free(m);
		return 1;
	}
	printf("%s: ok: %zu Node, %zu Workload, %zu Service, %zu HTTPRoute, %zu GRPCRoute, "
	       "%zu DestinationPolicy, %zu AuthorizationPolicy, %zu PeerAuthentication (%zu file%s)\n",
	       path, m->nnodes, m->nworkloads, m->nservices, count_routes(m, WEFT_ROUTE_HTTP),
	       count_routes(m, WEFT_ROUTE_GRPC), m->npolicies, m->nauthz, m->npeerauth, m->nfiles,
	       m->nfiles == 1 ? "" : "s");
	weft_cfg_errors_free(&errs);
	weft_model_free(m);
	return 0;
}

WEFT_CLI_COMMAND(check, "check", "validate a configuration file or directory", run_check);
