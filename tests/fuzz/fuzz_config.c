/* Fuzzes the configuration loader: YAML reading, decoding, resolution,
 * and the translation of an accepted set.
 * The input is split at NUL bytes into up to 4 "files" so cross-file
 * references and ordering are exercised too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "weft/config.h"
#include "weft/xds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[4] = { "a.yaml", "b.yaml", "c.yaml", "d.yaml" };
	const char *texts[4];
	size_t lens[4], n = 0, start = 0;
	weft_cfg_errors_t errs;
	weft_model_t *m;

	for (size_t i = 0; i <= size && n < 4; i++) {
		if (i == size || (data[i] == 0 && n < 3)) {
			texts[n] = (const char *)data + start;
			lens[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	weft_cfg_errors_init(&errs);
	m = weft_config_load_mem(n, names, texts, lens, &errs);
	if (m) {
		/* walk the resolved pointers so bad ones show up under ASan */
		for (size_t i = 0; i < m->nservices; i++) {
			const weft_service_t *s = &m->services[i];
			for (size_t j = 0; j < s->nworkloads; j++)
				(void)s->workloads[j]->meta.name.len;
			for (size_t j = 0; j < s->nroutes; j++)
				(void)s->routes[j]->nrules;
			if (s->policy)
				(void)s->policy->lb.type;
		}
		/* the agent resources read the security kinds: translate too
		 * (audiences must be sorted: weft_xds_visible() relies on it) */
		weft_xds_snapshot_t *snap = weft_xds_translate(m, 1);
		for (size_t i = 0; snap && i < snap->types[WEFT_XDS_AUTHZ].n; i++) {
			const weft_xds_resource_t *r = &snap->types[WEFT_XDS_AUTHZ].v[i];
			for (size_t j = 0; j < r->naudience; j++)
				if (!weft_xds_visible(WEFT_XDS_AUTHZ, r, r->audience[j].p))
					__builtin_trap();
		}
		weft_xds_snapshot_unref(snap);
		weft_model_free(m);
	} else if (errs.n == 0) {
		__builtin_trap();   /* a rejected set must say why */
	}
	weft_cfg_errors_free(&errs);
	return 0;
}
