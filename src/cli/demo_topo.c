/* weft demo — the cluster's names and addresses, all derived from the
 * prefix (see docs/demo.md for the picture). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "demo.h"

int demo_prefix_check(const char *p, char *err, size_t errlen)
{
	size_t n = strlen(p);

	if (n == 0 || n > DEMO_PREFIX_MAX) {
		snprintf(err, errlen, "--name: 1..%d characters, not %zu", DEMO_PREFIX_MAX, n);
		return -1;
	}
	if (p[0] < 'a' || p[0] > 'z') {
		snprintf(err, errlen, "--name '%s': must start with a lowercase letter", p);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			snprintf(err, errlen, "--name '%s': only a-z, 0-9 and '-'", p);
			return -1;
		}
	}
	return 0;
}

void demo_cgroup_root(char *out, size_t outlen)
{
	char line[1024];
	FILE *f;

	out[0] = 0;
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		snprintf(out, outlen, "/sys/fs/cgroup");
		return;
	}
	/* a hybrid hierarchy: cgroup v2 mounted elsewhere (often .../unified) */
	if (!(f = fopen("/proc/self/mounts", "re")))
		return;
	while (fgets(line, sizeof line, f)) {
		char dev[256], mnt[512], type[64];
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(out, outlen, "%s", mnt);
			break;
		}
	}
	fclose(f);
}

void demo_topo_fill(demo_t *d)
{
	static const struct {
		const char *name, *app, *version, *sa;
		bool http;
	} pods[DEMO_NPODS] = {
		{ "a1", "client", "v1", "client", false },
		{ "a2", "echo", "v1", "echo", true },
		{ "b1", "client", "v2", "client", false },
		{ "b2", "echo", "v2", "echo", true },
	};

	for (int k = 0; k < DEMO_NNODES; k++) {
		demo_node_t *n = &d->nodes[k];
		snprintf(n->name, sizeof n->name, "n%d", k + 1);
		snprintf(n->netns, sizeof n->netns, "%s-n%d", d->prefix, k + 1);
		snprintf(n->addr, sizeof n->addr, "10.0.0.%d", k + 1);
		snprintf(n->bridge_ip, sizeof n->bridge_ip, "10.1.%d.1", k + 1);
		snprintf(n->pod_cidr, sizeof n->pod_cidr, "10.1.%d.0/24", k + 1);
		snprintf(n->admin, sizeof n->admin, "%s.%d:15000", d->lo_base, k + 2);
		snprintf(n->metrics, sizeof n->metrics, "%s.%d:15020", d->lo_base, k + 2);
		snprintf(n->zone, sizeof n->zone, "zone-%c", 'a' + k);
	}
	for (int i = 0; i < DEMO_NPODS; i++) {
		demo_pod_t *p = &d->pods[i];
		int k = i / DEMO_PODS_PER_NODE;
		snprintf(p->name, sizeof p->name, "%s", pods[i].name);
		p->node = k;
		p->idx = i % DEMO_PODS_PER_NODE + 1;
		snprintf(p->netns, sizeof p->netns, "%s-n%d-%s", d->prefix, k + 1, p->name);
		snprintf(p->ip, sizeof p->ip, "10.1.%u.%u", (unsigned)(k + 1) & 0xffu, (unsigned)(10 + p->idx) & 0xffu);
		if (d->cgroot[0])
			snprintf(p->cgroup, sizeof p->cgroup, "%s/%s/%s", d->cgroot, d->prefix, p->name);
		else
			p->cgroup[0] = 0;
		p->app = pods[i].app;
		p->version = pods[i].version;
		p->sa = pods[i].sa;
		p->ns = "default";
		p->http = pods[i].http;
		snprintf(p->svc_ip, sizeof p->svc_ip, "10.96.0.%d", 11 + i);
	}
	if (d->cgroot[0])
		snprintf(d->cgdir, sizeof d->cgdir, "%s/%s", d->cgroot, d->prefix);
	else
		d->cgdir[0] = 0;
	snprintf(d->ctl_xds, sizeof d->ctl_xds, "%s.1:15010", d->lo_base);
	snprintf(d->ctl_tls, sizeof d->ctl_tls, "%s.1:15012", d->lo_base);
	snprintf(d->ctl_admin, sizeof d->ctl_admin, "%s.1:15014", d->lo_base);
}
