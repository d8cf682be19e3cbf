"""Acceptance: AuthorizationPolicy (ALLOW/DENY by principal, namespace,
ipBlocks, port) and PeerAuthentication STRICT, applied by the agents; a
policy change closes open connections it now denies."""
import json
import select
import time

import pytest

from cluster import wait_for

TD = "cluster.local"


def authz(name, action, rules, selector="{app: echo}"):
    return (f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
            f"  name: {name}\n  namespace: default\nspec:\n  selector: {{matchLabels: {selector}}}\n"
            f"  action: {action}\n  rules:\n{rules}")


@pytest.fixture
def policy(cluster):
    """Writes test-policy.yaml and waits until both agents have a newer view;
    removes it (and waits again) after the test."""
    def apply(text):
        gens = {n: cluster.generation(n) for n in ("n1", "n2")}
        cluster.write_config("test-policy.yaml", text)
        for n, g in gens.items():
            cluster.wait_generation_after(n, g)
    yield apply
    gens = {n: cluster.generation(n) for n in ("n1", "n2")}
    cluster.remove_config("test-policy.yaml")
    for n, g in gens.items():
        cluster.wait_generation_after(n, g)


def reaches(cluster, client, server, port=9090):
    ip = cluster.pod(server)["service_ip"] if port == 9090 else cluster.pod(server)["ip"]
    if port == 8080:     # the http echo server: a real request
        r = cluster.connect(client, ip, port, b"GET /probe HTTP/1.1\r\nHost: t\r\n\r\n",
                            until="GET /probe", read_s=3)
    else:
        r = cluster.connect(client, ip, port, b"probe", until="probe", read_s=3)
    return r["data"].startswith(server.encode() + b" ") or \
        (port == 8080 and b"HTTP/1.1 200" in r["data"])


def test_deny_by_principal(cluster, policy):
    assert reaches(cluster, "a1", "b2") and reaches(cluster, "b1", "a2")
    policy(authz("deny-clients", "DENY",
                 f"  - from: [{{source: {{principals: [{TD}/ns/default/sa/client]}}}}]\n"))
    assert not reaches(cluster, "a1", "b2")
    assert not reaches(cluster, "b1", "a2")
    assert reaches(cluster, "a1", "b1")          # b1 is not selected (app client)


def test_allow_by_namespace(cluster, policy):
    policy(authz("allow-other-ns", "ALLOW", "  - from: [{source: {namespaces: [other]}}]\n"))
    assert not reaches(cluster, "a1", "a2")      # ALLOW exists and does not match: denied
    policy(authz("allow-other-ns", "ALLOW", "  - from: [{source: {namespaces: [default]}}]\n"))
    assert reaches(cluster, "a1", "a2") and reaches(cluster, "a1", "b2")


def test_deny_by_ip_block(cluster, policy):
    a1 = cluster.pod("a1")["ip"]
    policy(authz("deny-a1", "DENY", f"  - from: [{{source: {{ipBlocks: [{a1}/32]}}}}]\n"))
    assert not reaches(cluster, "a1", "b2")
    assert reaches(cluster, "b1", "b2")


def test_allow_by_port(cluster, policy):
    policy(authz("allow-http", "ALLOW", '  - to: [{operation: {ports: ["8080"]}}]\n'))
    assert not reaches(cluster, "a1", "b2", 9090)
    assert reaches(cluster, "a1", "b2", 8080)


def test_strict_refuses_plaintext_from_unenrolled_netns(cluster, policy):
    x = cluster.add_netns("plain", "n2", "10.1.2.50")
    b2 = cluster.pod("b2")["ip"]
    # PERMISSIVE (default): plaintext from outside the mesh is delivered
    r = cluster.connect(x, b2, 9090, b"plain", until="plain", read_s=3)
    assert r["data"].startswith(b"b2 "), r
    policy("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
           "  name: default\n  namespace: default\nspec:\n  mtls: {mode: STRICT}\n")
    r = cluster.connect(x, b2, 9090, b"plain", read_s=3)
    assert not r["data"].startswith(b"b2 ") and b"plain" not in r["data"], r
    assert reaches(cluster, "a1", "b2") and reaches(cluster, "b1", "b2")   # the mesh still works


def test_new_deny_closes_open_connection_within_1s(cluster, policy):
    b2 = cluster.pod("b2")["service_ip"]
    h = cluster.hold("a1", b2, 9090)
    ev = json.loads(h.stdout.readline())
    assert ev["event"] == "connected", ev
    ev = json.loads(h.stdout.readline())
    assert ev["event"] == "data" and bytes.fromhex(ev["data"]).startswith(b"b2 "), ev
    g = cluster.generation("n2")
    cluster.write_config("test-policy.yaml", authz(
        "deny-clients", "DENY", f"  - from: [{{source: {{principals: [{TD}/ns/default/sa/client]}}}}]\n"))
    # the moment n2's agent is seen holding the new view (an upper bound of
    # when it received it, as we poll)
    wait_for(lambda: cluster.generation("n2") > g, 10, interval=0.02, what="n2's new view")
    t_seen = time.monotonic()
    ready, _, _ = select.select([h.stdout], [], [], 5)
    line = h.stdout.readline() if ready else ""   # podtool prints "closed" when the peer closes
    ev = json.loads(line) if line else {"event": "none"}
    assert ev["event"] == "closed", ev
    assert ev["t"] - t_seen <= 1.0, f"closed {ev['t'] - t_seen:.3f}s after n2 had the policy"
    h.wait(5)
