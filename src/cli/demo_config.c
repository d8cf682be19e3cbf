/* weft demo — the mesh config of the demo cluster (<dir>/config/ YAML files,
 * which `weft control` watches) and the cluster.json state file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "demo.h"

int demo_write_file(const char *path, const char *s, size_t n, unsigned mode)
{
	char tmp[DEMO_PATH + 64];
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		goto fail;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(tmp);
			goto fail;
		}
		s += w;
		n -= (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "weft demo: writing %s: %s\n", path, strerror(errno));
	return -1;
}

/* A growing text buffer; on allocation failure it stays marked failed. */
typedef struct text {
	char *p;
	size_t n, cap;
	bool failed;
} text_t;

__attribute__((format(printf, 2, 3)))
static void put(text_t *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			t->failed = true;
			return;
		}
		if (t->p && t->n + (size_t)k < t->cap) {
			t->n += (size_t)k;
			return;
		}
		size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)k;
		char *np = realloc(t->p, cap);
		if (!np) {
			t->failed = true;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
}

static int flush(text_t *t, const char *dir, const char *name)
{
	char path[DEMO_PATH + 64];
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (t->failed) {
		fprintf(stderr, "weft demo: %s: out of memory\n", path);
		rc = -1;
	} else {
		rc = demo_write_file(path, t->p ? t->p : "", t->n, 0644);
	}
	free(t->p);
	memset(t, 0, sizeof *t);
	return rc;
}

int demo_config_write(const demo_t *d)
{
	char cdir[DEMO_PATH + 16];
	text_t t = { 0 };

	snprintf(cdir, sizeof cdir, "%s/config", d->dir);
	if (mkdir(cdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "weft demo: %s: %s\n", cdir, strerror(errno));
		return -1;
	}

	put(&t, "# weft demo cluster '%s': the two nodes (written by `weft demo up`).\n", d->prefix);
	put(&t, "# Each node's agent listens for HBONE on <address>:15008 in the node's netns.\n");
	for (int k = 0; k < DEMO_NNODES; k++) {
		const demo_node_t *n = &d->nodes[k];
		put(&t, "---\napiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata:\n  name: %s\n"
			"spec:\n  address: %s\n  locality: {region: demo, zone: %s}\n",
		    n->name, n->addr, n->zone);
	}
	if (flush(&t, cdir, "nodes.yaml") < 0)
		return -1;

	put(&t, "# The four pods: a1, a2 on n1; b1, b2 on n2. Clients (sa client) run a\n"
		"# banner server on :%d; echo pods (sa echo) also serve HTTP on :%d.\n",
	    DEMO_BANNER_PORT, DEMO_HTTP_PORT);
	for (int i = 0; i < DEMO_NPODS; i++) {
		const demo_pod_t *p = &d->pods[i];
		put(&t, "---\napiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata:\n"
			"  name: %s\n  namespace: %s\n  labels: {app: %s, version: %s, instance: %s}\n"
			"spec:\n  serviceAccount: %s\n  node: %s\n  addresses: [%s]\n"
			"  netns: /var/run/netns/%s\n",
		    p->name, p->ns, p->app, p->version, p->name, p->sa,
		    d->nodes[p->node].name, p->ip, p->netns);
		if (p->cgroup[0])
			put(&t, "  cgroup: %s\n", p->cgroup);
	}
	if (flush(&t, cdir, "workloads.yaml") < 0)
		return -1;

	put(&t, "# echo: the two echo pods (a2 on n1, b2 on n2); one Service per pod.\n"
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  namespace: default\n"
		"spec:\n  clusterIP: 10.96.0.10\n  selector: {app: echo}\n  ports:\n"
		"  - {name: http, port: 80, targetPort: %d, appProtocol: tcp}\n"
		"  - {name: banner, port: %d, targetPort: %d, appProtocol: tcp}\n",
	    DEMO_HTTP_PORT, DEMO_BANNER_PORT, DEMO_BANNER_PORT);
	for (int i = 0; i < DEMO_NPODS; i++) {
		const demo_pod_t *p = &d->pods[i];
		put(&t, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n"
			"spec:\n  clusterIP: %s\n  selector: {instance: %s}\n  ports:\n"
			"  - {name: banner, port: %d, appProtocol: tcp}\n",
		    p->name, p->ns, p->svc_ip, p->name, DEMO_BANNER_PORT);
		if (p->http)
			put(&t, "  - {name: http, port: 80, targetPort: %d, appProtocol: tcp}\n",
			    DEMO_HTTP_PORT);
	}
	put(&t, "# echo-web: the echo pods' HTTP port as an L7 Service (appProtocol http): the\n"
		"# agents parse, route, balance, retry and report every request. Paths under\n"
		"# /v2 go to b2 only (an HTTPRoute); the rest to either echo pod.\n"
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: echo-web\n  namespace: default\n"
		"spec:\n  clusterIP: 10.96.0.20\n  selector: {app: echo}\n  ports:\n"
		"  - {name: http, port: 80, targetPort: %d, appProtocol: http}\n"
		"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
		"metadata:\n  name: echo-web\n  namespace: default\n"
		"spec:\n  parentRefs: [{kind: Service, name: echo-web, port: 80}]\n  rules:\n"
		"  - matches: [{path: {type: PathPrefix, value: /v2}}]\n"
		"    backendRefs: [{name: b2, port: 80}]\n"
		"  - backendRefs: [{name: echo-web, port: 80}]\n"
		"---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\n"
		"metadata:\n  name: echo-web\n  namespace: default\n"
		"spec:\n  targetRef: {kind: Service, name: echo-web}\n"
		"  retries: {attempts: 2, retryOn: [5xx, connect-failure, reset]}\n",
	    DEMO_HTTP_PORT);
	if (flush(&t, cdir, "services.yaml") < 0)
		return -1;

	put(&t,
	    "# Authorization (Istio semantics). With no AuthorizationPolicy every mesh\n"
	    "# connection is allowed. To try policies, uncomment and edit; weft control\n"
	    "# reloads this directory on every change and the agents apply it at once.\n"
	    "#\n"
	    "# Allow only the clients (service account 'client') to reach the echo pods:\n"
	    "#\n"
	    "# apiVersion: security.istio.io/v1\n"
	    "# kind: AuthorizationPolicy\n"
	    "# metadata:\n"
	    "#   name: echo-allow-clients\n"
	    "#   namespace: default\n"
	    "# spec:\n"
	    "#   selector: {matchLabels: {app: echo}}\n"
	    "#   action: ALLOW\n"
	    "#   rules:\n"
	    "#   - from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]\n"
	    "#     to: [{operation: {ports: [\"%d\", \"%d\"]}}]\n"
	    "#\n"
	    "# Refuse plaintext (non-mesh) connections to every workload of 'default':\n"
	    "#\n"
	    "# apiVersion: security.istio.io/v1\n"
	    "# kind: PeerAuthentication\n"
	    "# metadata:\n"
	    "#   name: default\n"
	    "#   namespace: default\n"
	    "# spec:\n"
	    "#   mtls: {mode: STRICT}\n",
	    DEMO_HTTP_PORT, DEMO_BANNER_PORT);
	return flush(&t, cdir, "policy.yaml");
}

int demo_state_write(const demo_t *d)
{
	text_t t = { 0 };
	char path[DEMO_PATH + 32];

	put(&t, "{\n  \"prefix\": \"%s\",\n  \"dir\": \"%s\",\n  \"weft\": \"%s\",\n",
	    d->prefix, d->dir, d->self);
	put(&t, "  \"agents\": %s,\n  \"workloads\": %s,\n  \"cgroup_root\": \"%s\",\n",
	    d->agents ? "true" : "false", d->workloads ? "true" : "false", d->cgdir);
	put(&t, "  \"link\": \"%s\",\n  \"http_port\": %d,\n  \"banner_port\": %d,\n",
	    DEMO_LINK, DEMO_HTTP_PORT, DEMO_BANNER_PORT);
	put(&t, "  \"control\": {\"xds\": \"%s\", \"tls\": \"%s\", \"admin\": \"%s\", "
		"\"config\": \"%s/config\", \"ca_dir\": \"%s/ca\", \"log\": \"%s/control.log\", "
		"\"pidfile\": \"%s/control.pid\"},\n",
	    d->ctl_xds, d->ctl_tls, d->ctl_admin, d->dir, d->dir, d->dir, d->dir);
	put(&t, "  \"nodes\": [\n");
	for (int k = 0; k < DEMO_NNODES; k++) {
		const demo_node_t *n = &d->nodes[k];
		put(&t, "    {\"name\": \"%s\", \"netns\": \"%s\", \"address\": \"%s\", "
			"\"bridge_ip\": \"%s\", \"pod_cidr\": \"%s\", \"zone\": \"%s\", "
			"\"admin\": \"%s\", \"metrics\": \"%s\", \"state_dir\": \"%s/agent-%s\", "
			"\"token_file\": \"%s/%s.token\", \"log\": \"%s/agent-%s.log\", "
			"\"pidfile\": \"%s/agent-%s.pid\"}%s\n",
		    n->name, n->netns, n->addr, n->bridge_ip, n->pod_cidr, n->zone, n->admin,
		    n->metrics, d->dir, n->name, d->dir, n->name, d->dir, n->name, d->dir, n->name,
		    k + 1 < DEMO_NNODES ? "," : "");
	}
	put(&t, "  ],\n  \"pods\": [\n");
	for (int i = 0; i < DEMO_NPODS; i++) {
		const demo_pod_t *p = &d->pods[i];
		put(&t, "    {\"name\": \"%s\", \"node\": \"%s\", \"netns\": \"%s\", \"ip\": \"%s\", "
			"\"cgroup\": \"%s\", \"namespace\": \"%s\", \"service_account\": \"%s\", "
			"\"app\": \"%s\", \"version\": \"%s\", \"service_ip\": \"%s\", \"http\": %s}%s\n",
		    p->name, d->nodes[p->node].name, p->netns, p->ip, p->cgroup, p->ns, p->sa,
		    p->app, p->version, p->svc_ip, p->http ? "true" : "false",
		    i + 1 < DEMO_NPODS ? "," : "");
	}
	put(&t, "  ],\n  \"services\": {\"echo\": \"10.96.0.10\"");
	for (int i = 0; i < DEMO_NPODS; i++)
		put(&t, ", \"%s\": \"%s\"", d->pods[i].name, d->pods[i].svc_ip);
	put(&t, "}\n}\n");
	snprintf(path, sizeof path, "%s", d->dir);
	return flush(&t, path, "cluster.json");
}
