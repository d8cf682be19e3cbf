"""Black-box tests of the agent resource types (weft.agent.v1 Workload,
Service, Authorization) and their per-node visibility: `weft control
--agent-plaintext` and a Node.js delta ADS client (node/agent_xds_client.js)
playing the agents of nodes n1 and n2."""
import json
import queue
import subprocess
import threading
import time

from mesh import NODE, NODE_DIR, ControlPlane, wait_for


def doc(kind, api, name, spec, ns=None, labels=None):
    meta = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = labels
    return json.dumps({"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec})


def config(a1_node):
    wl = "weft.dev/v1alpha1"
    docs = [
        doc("Node", wl, "n1", {"address": "127.0.0.1", "locality": {"region": "r", "zone": "z1"}}),
        doc("Node", wl, "n2", {"address": "127.0.0.2"}),
        doc("Workload", wl, "a1", {"node": a1_node, "addresses": ["10.0.0.1"], "serviceAccount": "a",
                                   "netns": "/run/netns/a1"}, "default", {"app": "a", "version": "v1"}),
        doc("Workload", wl, "a2", {"node": "n2", "addresses": ["10.0.0.2"]}, "default", {"app": "a"}),
        doc("Workload", wl, "b1", {"node": "n2", "addresses": ["10.0.0.3"]}, "default", {"app": "b"}),
        doc("Service", "v1", "a", {"selector": {"app": "a"}, "clusterIP": "10.96.0.1",
                                   "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                              "appProtocol": "http"}]}, "default"),
        doc("Service", "v1", "b", {"selector": {"app": "b"}, "ports": [{"port": 9000}]}, "default"),
        doc("AuthorizationPolicy", "security.istio.io/v1", "allow-a",
            {"selector": {"matchLabels": {"app": "a"}},
             "rules": [{"from": [{"source": {"principals": ["example.org/ns/default/sa/b"]}}],
                        "to": [{"operation": {"ports": ["8080"]}}]}]}, "default"),
        doc("AuthorizationPolicy", "security.istio.io/v1", "b-only",
            {"selector": {"matchLabels": {"app": "b"}}, "action": "DENY", "rules": [{}]}, "default"),
        doc("AuthorizationPolicy", "weft.dev/v1alpha1", "mesh", {"action": "AUDIT", "rules": [{}]},
            "weft-system"),
        doc("PeerAuthentication", "security.istio.io/v1", "strict", {"mtls": {"mode": "STRICT"}},
            "default"),
    ]
    return "\n---\n".join(docs) + "\n"


class AgentClient:
    """agent_xds_client.js for one node; its JSON lines in a queue."""

    def __init__(self, mesh, node):
        self.log = open(mesh.log_dir / f"agent-{node}.log", "wb")
        self.proc = mesh.group.spawn(
            [NODE, str(NODE_DIR / "agent_xds_client.js"), "--server", mesh.cp.xds_addr, "--node", node],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.q = queue.Queue()
        # what the client holds: type -> name -> decoded resource
        self.state = {"workload": {}, "service": {}, "authz": {}}
        self.responses = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(json.loads(line))

    def pump(self, timeout):
        """Applies every response that arrives within timeout s (at least one
        wait); returns how many."""
        n = 0
        end = time.monotonic() + timeout
        while True:
            try:
                r = self.q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return n
            assert not r.get("unexpected"), r
            self.responses.append(r)
            held = self.state[r["type"]]
            held.update(r["resources"])
            for name in r["removed"]:
                held.pop(name, None)
            n += 1
            if time.monotonic() >= end:
                return n

    def until(self, pred, timeout=15.0, what="state"):
        def check():
            self.pump(0.1)
            return pred(self.state)
        return wait_for(check, timeout, interval=0, what=what)

    def close(self):
        self.log.close()


def names(held):
    return sorted(held)


def test_agent_xds_visibility_and_move(mesh):
    mesh.write("mesh.yaml", config("n1"))
    mesh.cp = ControlPlane(mesh.group, mesh.weft_bin, mesh.config_dir, mesh.log_dir,
                           args=["--agent-plaintext", "--trust-domain", "example.org"])
    mesh.cp.start()
    n1 = AgentClient(mesh, "n1")
    n2 = AgentClient(mesh, "n2")
    try:
        # every type answered for both (the first response of each type comes even when empty)
        for cl in (n1, n2):
            cl.until(lambda st, cl=cl: {r["type"] for r in cl.responses} == {"workload", "service", "authz"},
                     what="a first response for every type")

        # n1 sees its workload only, every service, and only the policies of its workloads
        assert names(n1.state["workload"]) == ["default/a1"]
        assert names(n1.state["service"]) == ["default/a", "default/b"]
        assert names(n1.state["authz"]) == ["default/allow-a", "weft-system/mesh"]
        assert names(n2.state["workload"]) == ["default/a2", "default/b1"]
        assert names(n2.state["service"]) == ["default/a", "default/b"]
        assert names(n2.state["authz"]) == ["default/allow-a", "default/b-only", "weft-system/mesh"]

        a1 = n1.state["workload"]["default/a1"]
        assert a1["name"] == "a1" and a1["namespace"] == "default"
        assert a1["node"] == "n1" and a1["nodeAddress"] == "127.0.0.1"
        assert a1["serviceAccount"] == "a"
        assert a1["addresses"] == ["10.0.0.1"]
        assert a1["netns"] == "/run/netns/a1"
        assert a1["trustDomain"] == "example.org"
        assert a1["mtlsMode"] == "STRICT"
        assert a1["locality"]["zone"] == "z1"
        assert a1["authorizationPolicies"] == ["default/allow-a", "weft-system/mesh"]
        svc = n1.state["service"]["default/a"]
        assert svc["clusterIp"] == "10.96.0.1"
        assert svc["hostname"] == "a.default.svc.cluster.local"
        assert svc["ports"][0]["appProtocol"] == "http" and svc["ports"][0]["targetPort"] == 8080
        assert [(e["workload"], e["node"]) for e in svc["endpoints"]] == [("default/a1", "n1"),
                                                                           ("default/a2", "n2")]
        az = n1.state["authz"]["default/allow-a"]
        assert az["action"] == "ALLOW"
        assert az["rules"][0]["from"][0]["principals"] == ["example.org/ns/default/sa/b"]
        assert az["rules"][0]["to"][0]["ports"] == [8080]
        assert n2.state["authz"]["default/b-only"]["action"] == "DENY"

        # a1 moves to n2: n1's stream removes it (and the policies that no
        # longer concern n1), n2's adds it; both get the new endpoints
        seen1 = len(n1.responses)
        mesh.write("mesh.yaml", config("n2"))
        n2.until(lambda st: "default/a1" in st["workload"], what="n2 to get a1")
        n1.until(lambda st: "default/a1" not in st["workload"] and not st["authz"],
                 what="n1 to lose a1 and its policies")
        removed = [(r["type"], name) for r in n1.responses[seen1:] for name in r["removed"]]
        assert ("workload", "default/a1") in removed
        assert ("authz", "default/allow-a") in removed
        assert ("authz", "weft-system/mesh") in removed
        assert names(n1.state["workload"]) == []
        assert names(n1.state["service"]) == ["default/a", "default/b"]
        n1.until(lambda st: [e["node"] for e in st["service"]["default/a"]["endpoints"]] == ["n2", "n2"],
                 what="n1 to see a's endpoints move")
        assert names(n2.state["workload"]) == ["default/a1", "default/a2", "default/b1"]
        assert n2.state["workload"]["default/a1"]["node"] == "n2"
    finally:
        n1.close()
        n2.close()


def test_no_agent_types_without_node_identity(mesh):
    """Without --agent-plaintext, a plaintext client is no node: the agent
    types do not exist for it (counted as unknown type requests)."""
    mesh.write("mesh.yaml", config("n1"))
    mesh.start_control()
    cl = AgentClient(mesh, "n1")
    try:
        def unknown():
            status, body = mesh.cp.get("/debug/clients")
            if status != 200:
                return False
            cs = json.loads(body)
            return cs and cs[0]["unknown_type_requests"] == 3 and cs[0]["node_auth"] == ""
        wait_for(unknown, 15, what="three unknown type requests")
        assert cl.pump(0.2) == 0
        assert cl.responses == []
    finally:
        cl.close()
