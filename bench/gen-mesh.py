#!/usr/bin/python3
"""gen-mesh.py — writes a large, valid weft configuration for the control-plane
scale benchmark (bench/run-xds-bench.sh), and applies one endpoint change to it.

Generate (deterministic for given parameters):

    gen-mesh.py --out DIR [--services 10000] [--workloads 50000]
                [--namespaces 100] [--nodes 20] [--listeners FILE]

  DIR/nodes.yaml          the Nodes (with localities)
  DIR/ns-XXX.yaml         one file per namespace: its Services, Workloads,
                          DestinationPolicies (every 10th service) and
                          GRPCRoutes (every 20th service, a 90/10 split to
                          two other services of the same namespace)
  FILE (--listeners)      every listener name a proxyless client may ask
                          for, "<svc>.<ns>.svc.cluster.local:<port>", one a
                          line; the first line is the "hot" service whose
                          endpoints the change test modifies (--hot, default 1)

Change (one endpoint of the hot service; the namespace file is rewritten
whole and swapped in with rename(2), as an editor or a config sync would):

    gen-mesh.py --out DIR --change move|remove [--step N] [same sizes]

  move:   the hot service's first workload gets a new address (a new one
          for each --step, so repeated changes keep producing new versions)
  remove: the hot service's first workload is deleted
  Prints the CLOCK_MONOTONIC time of the rename in nanoseconds on stdout
  (Python's time.monotonic_ns() reads the same clock as the C simulator).

Addresses are 10.0.0.0/8 config data only; nothing ever connects to them.
"""
import argparse
import os
import sys
import time

PORT = 8080


def ip4(base, n):
    """base: (a, b) first two octets; n: index -> 'a.b.c.d' (n + 1 spread
    over the low 24 bits, so the first address ends in .1)."""
    n += 1
    return "%d.%d.%d.%d" % (base[0], base[1] + (n >> 16), (n >> 8) & 255, n & 255)


class Mesh:
    def __init__(self, a):
        self.nsvc = a.services
        self.nwl = a.workloads
        self.nns = a.namespaces
        self.nnodes = a.nodes
        self.hot = a.hot
        if self.nsvc < 3 * self.nns or self.nwl < self.nsvc:
            sys.exit("gen-mesh: need services >= 3*namespaces and workloads >= services")

    def ns_of(self, i):
        return "ns-%d" % (i % self.nns)

    def svc_name(self, i):
        return "svc-%d" % i

    def listener(self, i):
        return "%s.%s.svc.cluster.local:%d" % (self.svc_name(i), self.ns_of(i), PORT)

    def nodes_yaml(self):
        out = []
        regions = ["eu-west", "us-east"]
        for n in range(self.nnodes):
            region = regions[n % 2]
            zone = "%s-%d%s" % (region, 1, "abcd"[(n // 2) % 4])
            out.append(
                "---\napiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata:\n"
                "  name: node-%d\n  labels: {rack: r%d}\nspec:\n  address: %s\n"
                "  locality: {region: %s, zone: %s, subZone: rack%d}\n"
                % (n, n % 8, ip4((10, 250), n), region, zone, n % 8))
        return "".join(out)

    def ns_yaml(self, j, change=None, step=0):
        """Every document of namespace j. change: None, 'move' or 'remove'
        (applies to the hot service's first workload when it lives here)."""
        ns = "ns-%d" % j
        out = []
        svcs = range(j, self.nsvc, self.nns)
        for i in svcs:
            name = self.svc_name(i)
            out.append(
                "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
                "  namespace: %s\n  labels: {app: %s}\nspec:\n  clusterIP: %s\n"
                "  selector: {app: %s}\n  ports:\n  - name: grpc\n    port: %d\n"
                "    targetPort: 9090\n    appProtocol: grpc\n"
                % (name, ns, name, ip4((10, 96), i), name, PORT))
            if i % 10 == 0:
                out.append(
                    "---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\n"
                    "metadata:\n  name: %s\n  namespace: %s\nspec:\n"
                    "  targetRef: {kind: Service, name: %s}\n"
                    "  loadBalancer: {type: LeastRequest, leastRequest: {choiceCount: 2}}\n"
                    "  connectionLimits: {maxConnections: 1024, maxPendingRequests: 256, maxRequests: 1024, maxRetries: 3}\n"
                    "  outlierDetection: {consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 10}\n"
                    "  retries:\n    attempts: 2\n    perTryTimeout: 1s\n"
                    "    retryOn: [unavailable, reset, connect-failure]\n"
                    "    backoff: {baseInterval: 25ms, maxInterval: 250ms}\n"
                    % (name, ns, name))
            if i % 20 == 0:
                b1 = self.svc_name((i + self.nns) % self.nsvc)
                b2 = self.svc_name((i + 2 * self.nns) % self.nsvc)
                out.append(
                    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\n"
                    "metadata:\n  name: %s-split\n  namespace: %s\nspec:\n"
                    "  parentRefs: [{kind: Service, name: %s, port: %d}]\n  rules:\n"
                    "  - backendRefs:\n    - {name: %s, port: %d, weight: 90}\n"
                    "    - {name: %s, port: %d, weight: 10}\n"
                    "    timeouts: {request: 5s}\n"
                    % (name, ns, name, PORT, b1, PORT, b2, PORT))
        # workloads: w belongs to service w % nsvc; the hot service's first
        # workload is w == hot
        for i in svcs:
            sname = self.svc_name(i)
            for w in range(i, self.nwl, self.nsvc):
                addr = ip4((10, 1), w)
                if w == self.hot and change == "remove":
                    continue
                if w == self.hot and change == "move":
                    addr = ip4((10, 200), step)
                out.append(
                    "---\napiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata:\n"
                    "  name: %s-%d\n  namespace: %s\n  labels: {app: %s, version: v1}\n"
                    "spec:\n  serviceAccount: %s\n  node: node-%d\n  addresses: [%s]\n"
                    % (sname, w, ns, sname, sname, w % self.nnodes, addr))
        return "".join(out)


def write_atomic(path, text):
    """Writes text to path through a temporary file and rename(2) (the
    temporary name does not end in .yaml, so a loader never reads it half
    written). Returns CLOCK_MONOTONIC ns right after the rename."""
    tmp = path + ".tmp~"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    return time.monotonic_ns()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="config directory to write")
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--workloads", type=int, default=50000)
    p.add_argument("--namespaces", type=int, default=100,
                   help="one file per namespace (default 100)")
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--hot", type=int, default=1,
                   help="index of the service the change test modifies (default 1)")
    p.add_argument("--listeners", help="write the listener names to this file")
    p.add_argument("--change", choices=["move", "remove"],
                   help="apply one endpoint change to an existing directory")
    p.add_argument("--step", type=int, default=1, help="change number (move: new address)")
    a = p.parse_args()
    m = Mesh(a)
    if a.hot % 10 == 0 or a.hot % 20 == 0:
        sys.exit("gen-mesh: --hot must not carry a policy or route (not a multiple of 10)")

    if a.change:
        j = a.hot % a.namespaces
        t = write_atomic(os.path.join(a.out, "ns-%03d.yaml" % j),
                         m.ns_yaml(j, a.change, a.step))
        print(t)
        return

    os.makedirs(a.out, exist_ok=True)
    write_atomic(os.path.join(a.out, "nodes.yaml"), m.nodes_yaml())
    for j in range(a.namespaces):
        write_atomic(os.path.join(a.out, "ns-%03d.yaml" % j), m.ns_yaml(j))
    if a.listeners:
        order = [a.hot] + [i for i in range(a.services) if i != a.hot]
        with open(a.listeners, "w") as f:
            for i in order:
                f.write(m.listener(i) + "\n")


if __name__ == "__main__":
    main()
