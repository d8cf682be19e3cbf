/* bench/config-reload — times loading a config directory: full loads
 * (weft_config_load), then cached reloads (weft_config_load_cached) with no
 * change and after bench/gen-mesh.py --change move rewrote one file.
 *   /usr/bin/python3 bench/gen-mesh.py --out /tmp/mesh
 *   make bench-tools && build/bench/config-reload /tmp/mesh
 * The directory is modified (one endpoint moved per step). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "weft/config.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/mesh";
	weft_cfg_errors_t errs;
	weft_config_cache_t c;
	weft_model_t *m, *old;
	double t;

	weft_cfg_errors_init(&errs);
	for (int i = 0; i < 3; i++) {
		t = now_ms();
		m = weft_config_load(dir, &errs);
		printf("full load:                %7.1f ms (%zu files, %zu workloads)\n", now_ms() - t,
		       m ? m->nfiles : 0, m ? m->nworkloads : 0);
		if (!m) {
			weft_cfg_errors_print(&errs, stderr);
			return 1;
		}
		weft_model_free(m);
	}
	weft_config_cache_init(&c);
	t = now_ms();
	m = weft_config_load_cached(dir, &c, &errs);
	printf("cached, first load:       %7.1f ms (read %zu, reused %zu)\n", now_ms() - t, c.last_parsed,
	       c.last_reused);
	for (int i = 0; i < 3; i++) {
		old = m;
		t = now_ms();
		m = weft_config_load_cached(dir, &c, &errs);
		printf("cached, no change:        %7.1f ms (read %zu, reused %zu)\n", now_ms() - t, c.last_parsed,
		       c.last_reused);
		weft_model_free(old);
	}
	for (int i = 0; i < 5; i++) {
		char cmd[512];
		struct timespec settle = { 0, 20 * 1000000 };

		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 bench/gen-mesh.py --change move --step %d --out '%s' >/dev/null",
			 i + 1, dir);
		if (system(cmd) != 0)
			return 1;
		nanosleep(&settle, NULL);
		old = m;
		t = now_ms();
		m = weft_config_load_cached(dir, &c, &errs);
		printf("cached, one file changed: %7.1f ms (read %zu, reused %zu)%s\n", now_ms() - t, c.last_parsed,
		       c.last_reused, m ? "" : " REJECTED");
		weft_model_free(old);
	}
	weft_model_free(m);
	weft_config_cache_destroy(&c);
	weft_cfg_errors_free(&errs);
	return 0;
}
