/* weft demo — the cluster's plumbing, made with iproute2 (`ip`), one
 * command per step so a failure names the step:
 *
 *   netns <p>-n1 ─ link0 10.0.0.1/24 ═════ veth ═════ 10.0.0.2/24 link0 ─ netns <p>-n2
 *      br0 10.1.1.1/24                                     br0 10.1.2.1/24
 *       ├ v-a1 ══ eth0 10.1.1.11 (netns <p>-n1-a1)          ├ v-b1 ══ eth0 10.1.2.11
 *       └ v-a2 ══ eth0 10.1.1.12 (netns <p>-n1-a2)          └ v-b2 ══ eth0 10.1.2.12
 *
 * Links are created directly inside their namespaces, so nothing is ever
 * named in the root namespace and clusters with different prefixes do not
 * collide. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "demo.h"

#define IP(...) demo_must(what, (const char *const[]){ "ip", __VA_ARGS__, NULL })

static int ns_add(const char *ns)
{
	const char *what = "creating a network namespace";
	if (IP("netns", "add", ns) < 0)
		return -1;
	what = "bringing loopback up";
	return IP("-n", ns, "link", "set", "lo", "up");
}

static int forwarding(const char *ns)
{
	return demo_must("enabling IPv4 forwarding",
			 (const char *const[]){ "ip", "netns", "exec", ns, "sysctl", "-qw",
						"net.ipv4.ip_forward=1", NULL });
}

static int node_up(const demo_t *d, int k)
{
	const demo_node_t *n = &d->nodes[k];
	const demo_node_t *o = &d->nodes[1 - k];
	const char *what = "configuring a node";
	char addr[32], bip[32];

	snprintf(addr, sizeof addr, "%s/24", n->addr);
	snprintf(bip, sizeof bip, "%s/24", n->bridge_ip);
	if (IP("-n", n->netns, "addr", "add", addr, "dev", DEMO_LINK) < 0 ||
	    IP("-n", n->netns, "link", "set", DEMO_LINK, "up") < 0 ||
	    IP("-n", n->netns, "link", "add", "br0", "type", "bridge") < 0 ||
	    IP("-n", n->netns, "addr", "add", bip, "dev", "br0") < 0 ||
	    IP("-n", n->netns, "link", "set", "br0", "up") < 0)
		return -1;
	what = "routing to the other node's pods";
	if (IP("-n", n->netns, "route", "add", o->pod_cidr, "via", o->addr, "dev", DEMO_LINK) < 0)
		return -1;
	return forwarding(n->netns);
}

static int pod_up(const demo_t *d, const demo_pod_t *p)
{
	const demo_node_t *n = &d->nodes[p->node];
	const char *what = "connecting a pod to its node's bridge";
	char host[16], addr[32];

	snprintf(host, sizeof host, "v-%s", p->name);
	snprintf(addr, sizeof addr, "%s/24", p->ip);
	if (IP("link", "add", "name", "eth0", "netns", p->netns, "type", "veth",
	       "peer", "name", host, "netns", n->netns) < 0 ||
	    IP("-n", n->netns, "link", "set", host, "master", "br0") < 0 ||
	    IP("-n", n->netns, "link", "set", host, "up") < 0)
		return -1;
	what = "addressing a pod";
	if (IP("-n", p->netns, "addr", "add", addr, "dev", "eth0") < 0 ||
	    IP("-n", p->netns, "link", "set", "eth0", "up") < 0 ||
	    IP("-n", p->netns, "route", "add", "default", "via", n->bridge_ip) < 0)
		return -1;
	if (p->cgroup[0] && mkdir(p->cgroup, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "weft demo: creating cgroup %s: %s\n", p->cgroup, strerror(errno));
		return -1;
	}
	return 0;
}

int demo_net_up(const demo_t *d)
{
	const char *what = "linking the two nodes";

	for (int k = 0; k < DEMO_NNODES; k++)
		if (ns_add(d->nodes[k].netns) < 0)
			return -1;
	for (int i = 0; i < DEMO_NPODS; i++)
		if (ns_add(d->pods[i].netns) < 0)
			return -1;
	if (IP("link", "add", "name", DEMO_LINK, "netns", d->nodes[0].netns, "type", "veth",
	       "peer", "name", DEMO_LINK, "netns", d->nodes[1].netns) < 0)
		return -1;
	for (int k = 0; k < DEMO_NNODES; k++)
		if (node_up(d, k) < 0)
			return -1;
	if (d->cgdir[0] && mkdir(d->cgdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "weft demo: creating cgroup %s: %s\n", d->cgdir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < DEMO_NPODS; i++)
		if (pod_up(d, &d->pods[i]) < 0)
			return -1;
	return 0;
}

bool demo_net_exists(const demo_t *d)
{
	char path[128];

	for (int i = 0; i < DEMO_NNODES + DEMO_NPODS; i++) {
		snprintf(path, sizeof path, "/var/run/netns/%s",
			 i < DEMO_NNODES ? d->nodes[i].netns : d->pods[i - DEMO_NNODES].netns);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* rmdir with a few retries: a killed process leaves its cgroup a moment
 * after it is reaped. */
static int rmdir_retry(const char *path)
{
	for (int i = 0; i < 40; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "weft demo: removing cgroup %s: %s\n", path, strerror(errno));
	return -1;
}

int demo_net_down(const demo_t *d)
{
	int rc = 0;
	char path[128];

	for (int i = DEMO_NNODES + DEMO_NPODS - 1; i >= 0; i--) {
		const char *ns = i < DEMO_NNODES ? d->nodes[i].netns : d->pods[i - DEMO_NNODES].netns;
		snprintf(path, sizeof path, "/var/run/netns/%s", ns);
		if (access(path, F_OK) < 0)
			continue;
		if (demo_must("deleting a network namespace",
			      (const char *const[]){ "ip", "netns", "del", ns, NULL }) < 0)
			rc = -1;
	}
	for (int i = 0; i < DEMO_NPODS; i++)
		if (d->pods[i].cgroup[0] && rmdir_retry(d->pods[i].cgroup) < 0)
			rc = -1;
	if (d->cgdir[0] && rmdir_retry(d->cgdir) < 0)
		rc = -1;
	return rc;
}
