"""Acceptance (issue 5): the L7 features the other test_l7_* modules leave
out, end to end on the two-node demo cluster (client a1 on n1; a2 on n1,
b1 and b2 on n2): active health checks (HTTP and gRPC), gRPC streaming and
gRPC-shaped local replies, fault delay and gRPC abort, retries on a dead
backend and per-try timeouts, the 64 KiB retry body limit, mirror
percentage, the 429 / Retry-After penalty, Maglev and cookie stickiness,
and GRPCRoute method matching with a weighted split.

Locality: a1's agent prefers endpoints in its own zone (n1, so a2). The
pair b1/b2 (selector version: v2) sits in n2's zone, so from a1 both are
equal candidates: the load-balancing tests use that pair."""
import concurrent.futures
import json
import os
import pathlib
import signal
import time

import pytest

from cluster import wait_for
from test_l7_traffic import SERVICES, apply, remove

HERE = pathlib.Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
PY = "/usr/bin/python3"

MORE_SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: pair, namespace: default}
spec:
  clusterIP: 10.96.1.40
  selector: {version: v2}
  ports:
  - {name: http, port: 80, targetPort: 8085, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: hc, namespace: default}
spec:
  clusterIP: 10.96.1.41
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8086, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: ghc, namespace: default}
spec:
  clusterIP: 10.96.1.42
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7071, targetPort: 7071, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: gall, namespace: default}
spec:
  clusterIP: 10.96.1.43
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7074, targetPort: 7074, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: ga2, namespace: default}
spec:
  clusterIP: 10.96.1.44
  selector: {instance: a2}
  ports:
  - {name: grpc, port: 7074, targetPort: 7074, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: gb2, namespace: default}
spec:
  clusterIP: 10.96.1.45
  selector: {instance: b2}
  ports:
  - {name: grpc, port: 7074, targetPort: 7074, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: gslow, namespace: default}
spec:
  clusterIP: 10.96.1.46
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7075, targetPort: 7075, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: dead, namespace: default}
spec:
  clusterIP: 10.96.1.47
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8087, appProtocol: http}
"""

WEB = "http://10.96.1.10"
PAIR = "http://10.96.1.40"
GALL = "10.96.1.43:7074"


def _kill(p):
    if p is not None and p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def cleanup(cluster, name):
    """Removes a config file when it is there, and waits for the views."""
    if os.path.exists(os.path.join(cluster.s["control"]["config"], name)):
        remove(cluster, name)


def start_echo(cluster, pod, port, name, *extra):
    return cluster.start_echo(pod, port, name, *extra)


def start_grpc(cluster, pod, port, name, *extra):
    """The grpc-js test server (node/echo_server.js) on pod's address:port."""
    ip = cluster.pod(pod)["ip"]
    p = cluster.popen_in(pod, ["node", str(NODE_DIR / "echo_server.js"), name, f"{ip}:{port}", *extra],
                         text=True)
    line = p.stdout.readline().strip()
    assert line == "READY", p.stderr.read() if p.poll() is not None else line
    return p


def grpc_call(cluster, target, mode, *args, where="a1"):
    """node/grpc_call.js from a pod: its one JSON result line."""
    r = cluster.exec_in(where, ["node", str(NODE_DIR / "grpc_call.js"), target, mode, *map(str, args)],
                        timeout=90)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def grpc_wire(cluster, ip, port, path, where="a1"):
    """One gRPC request on the wire from a pod (grpcwire.py): its JSON result."""
    r = cluster.exec_in(where, [PY, str(HERE / "grpcwire.py"), ip, str(port), path], timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module", autouse=True)
def setup(cluster):
    apply(cluster, "l7-services.yaml", SERVICES)
    apply(cluster, "l7-more-services.yaml", MORE_SERVICES)
    procs = [start_echo(cluster, "b1", 8085, "b1p"), start_echo(cluster, "b2", 8085, "b2p"),
             start_grpc(cluster, "a2", 7074, "a2g"), start_grpc(cluster, "b2", 7074, "b2g")]
    yield
    for p in procs:
        _kill(p)
    cluster.remove_config("l7-more-services.yaml")
    cluster.remove_config("l7-services.yaml")


# ---- active health checks ----

def test_http_health_check_avoids_a_failing_endpoint_and_returns_it(cluster):
    a = start_echo(cluster, "a2", 8086, "a2h", "--fail-path", "/healthz")
    b = start_echo(cluster, "b2", 8086, "b2h")
    try:
        # without checks, a1 stays in its zone: a2h (whose /healthz fails)
        r = cluster.http("a1", "http://10.96.1.41/x", n=10)
        assert r["served"] == {"a2h": 10}, r
        apply(cluster, "l7-hc.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: hc, namespace: default}
spec:
  targetRef: {kind: Service, name: hc}
  healthCheck: {path: /healthz, interval: 300ms, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 1}
""")
        try:
            wait_for(lambda: cluster.http("a1", "http://10.96.1.41/y", n=10)["served"] == {"b2h": 10},
                     15, what="a2h to be marked unhealthy")
            r = cluster.http("a1", "http://10.96.1.41/z", n=20)
            assert r["status"] == {"200": 20} and r["served"] == {"b2h": 20}, r
            # a2h heals: the same server without the failing path
            _kill(a)
            a = start_echo(cluster, "a2", 8086, "a2h")
            wait_for(lambda: cluster.http("a1", "http://10.96.1.41/w", n=10)["served"] == {"a2h": 10},
                     15, what="a2h to be healthy again")
        finally:
            remove(cluster, "l7-hc.yaml")
    finally:
        _kill(a)
        _kill(b)


def test_grpc_health_check_follows_serving_status(cluster):
    a = start_grpc(cluster, "a2", 7071, "a2hc", "--health", "NOT_SERVING")
    b = start_grpc(cluster, "b2", 7071, "b2hc")
    try:
        r = grpc_call(cluster, "10.96.1.42:7071", "unary", "--n", 10)
        assert r["servers"] == {"a2hc": 10}, r          # locality, no checks yet
        apply(cluster, "l7-ghc.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: ghc, namespace: default}
spec:
  targetRef: {kind: Service, name: ghc}
  healthCheck: {type: GRPC, interval: 300ms, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 1}
""")
        try:
            wait_for(lambda: grpc_call(cluster, "10.96.1.42:7071", "unary", "--n", 10)["servers"] == {"b2hc": 10},
                     15, what="a2hc (NOT_SERVING) to be marked unhealthy")
            os.kill(a.pid, signal.SIGUSR2)             # now SERVING
            wait_for(lambda: grpc_call(cluster, "10.96.1.42:7071", "unary", "--n", 10)["servers"] == {"a2hc": 10},
                     15, what="a2hc to be healthy again")
        finally:
            remove(cluster, "l7-ghc.yaml")
    finally:
        _kill(a)
        _kill(b)


# ---- gRPC through the agents ----

def test_grpc_server_streaming_with_trailers(cluster):
    r = grpc_call(cluster, "10.96.1.45:7074", "stream", "--count", 50)
    assert r["code"] == "OK" and r["messages"] == list(range(1, 51)), r
    assert r["servers"] == ["b2g"] and r["trailers"].get("x-echo-trailer") == "b2g", r
    # an error status after messages arrives intact, with its trailers
    r = grpc_call(cluster, "10.96.1.45:7074", "stream", "--count", 3, "--end-code", 9)
    assert r["code"] == "FAILED_PRECONDITION" and r["messages"] == [1, 2, 3], r
    assert r["details"] == "b2g: stream ends with 9", r
    assert r["trailers"].get("x-echo-trailer") == "b2g", r
    # trailers-only error (no message at all)
    r = grpc_call(cluster, "10.96.1.45:7074", "stream", "--count", 0, "--end-code", 5)
    assert r["code"] == "NOT_FOUND" and r["messages"] == [] and r["details"] == "b2g: stream ends with 5", r


def _assert_grpc_shaped(cluster, path, code):
    """A trailers-only gRPC answer: HTTP 200, grpc-status in the one head."""
    r = grpc_wire(cluster, "10.96.1.45", 7074, path)
    assert r["status"] == 200 and r["ended"] and r["data"] == 0, (path, r)
    assert r["headers"].get("content-type", "").startswith("application/grpc"), r
    assert r["headers"].get("grpc-status") == str(code), r
    assert r["headers"].get("grpc-message"), r


def test_local_replies_to_grpc_are_grpc_shaped(cluster):
    stream = "/weft.test.Echo/Stream"
    apply(cluster, "l7-more-gr404.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: gb2-echo-only, namespace: default}
spec:
  parentRefs: [{kind: Service, name: gb2, port: 7074}]
  rules:
  - matches: [{method: {service: weft.test.Echo, method: Echo}}]
    backendRefs: [{name: gb2, port: 7074}]
""")
    try:
        _assert_grpc_shaped(cluster, stream, 12)                     # no route: UNIMPLEMENTED
        r = grpc_call(cluster, "10.96.1.45:7074", "stream")
        assert r["code"] == "UNIMPLEMENTED" and "HTTP status" not in r["details"], r
    finally:
        remove(cluster, "l7-more-gr404.yaml")
    apply(cluster, "l7-more-gabort.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: gb2-abort, namespace: default}
spec:
  targetRef: {kind: Service, name: gb2}
  faultInjection:
    abort: {grpcStatus: 8, percentage: 100}
""")
    try:
        _assert_grpc_shaped(cluster, stream, 8)
        r = grpc_call(cluster, "10.96.1.45:7074", "unary", "--n", 5)
        assert r["codes"] == {"RESOURCE_EXHAUSTED": 5}, r
    finally:
        remove(cluster, "l7-more-gabort.yaml")
    apply(cluster, "l7-more-grl.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: gb2-rl, namespace: default}
spec:
  targetRef: {kind: Service, name: gb2}
  rateLimit: {maxTokens: 1, tokensPerFill: 1, fillInterval: 60s}
""")
    try:
        r = grpc_call(cluster, "10.96.1.45:7074", "unary", "--n", 4)
        assert r["codes"].get("OK", 0) <= 1 and r["codes"].get("UNAVAILABLE", 0) >= 3, r
        assert all("HTTP status" not in d for d in r["details"]), r
        _assert_grpc_shaped(cluster, stream, 14)                     # rate limited at n2
    finally:
        remove(cluster, "l7-more-grl.yaml")
    # only n2 (where b2 lives) gets a new view for this one
    g = cluster.generation("n2")
    cluster.write_config("l7-more-gdeny.yaml", """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gb2-deny-stream, namespace: default}
spec:
  selector: {matchLabels: {instance: b2}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/weft.test.Echo/Stream"]}}]
""")
    cluster.wait_generation_after("n2", g, timeout=15)
    try:
        _assert_grpc_shaped(cluster, stream, 7)                      # PERMISSION_DENIED
        r = grpc_call(cluster, "10.96.1.45:7074", "stream")
        assert r["code"] == "PERMISSION_DENIED" and "HTTP status" not in r["details"], r
        assert grpc_call(cluster, "10.96.1.45:7074", "unary")["codes"] == {"OK": 1}
    finally:
        g = cluster.generation("n2")
        cluster.remove_config("l7-more-gdeny.yaml")
        cluster.wait_generation_after("n2", g, timeout=15)


def test_grpc_overflow_is_grpc_shaped(cluster):
    slow = start_grpc(cluster, "a2", 7075, "a2slow", "--delay-ms", "1500")
    apply(cluster, "l7-more-gcb.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: gslow-cb, namespace: default}
spec:
  targetRef: {kind: Service, name: gslow}
  connectionLimits: {maxRequests: 1, maxPendingRequests: 1}
""")
    try:
        # six calls at once: past one in flight and one pending, the
        # agent answers at once with UNAVAILABLE, as a gRPC answer
        script = ("for i in 1 2 3 4 5 6; do node {js} 10.96.1.46:7075 unary --deadline-ms 8000 & done; wait"
                  .format(js=NODE_DIR / "grpc_call.js"))
        r = cluster.exec_in("a1", ["sh", "-c", script], timeout=60)
        res = [json.loads(ln) for ln in r.stdout.decode().splitlines() if ln.startswith("{")]
        assert len(res) == 6, (r.stdout, r.stderr)
        codes = {}
        for x in res:
            for k, v in x["codes"].items():
                codes[k] = codes.get(k, 0) + v
        assert codes.get("UNAVAILABLE", 0) >= 3 and codes.get("OK", 0) >= 1, res
        for x in res:
            for d in x["details"]:
                assert "HTTP status" not in d, x
        st, body = cluster.http_get(cluster.node("n1")["metrics"], "/metrics")
        assert any('response_flags="UO"' in ln and 'grpc_response_status="14"' in ln
                   for ln in body.splitlines() if ln.startswith("istio_requests_total")), "UO not counted"
    finally:
        remove(cluster, "l7-more-gcb.yaml")
        _kill(slow)


def test_grpc_route_method_match_and_weighted_split(cluster):
    apply(cluster, "l7-more-groute.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: gall-split, namespace: default}
spec:
  parentRefs: [{kind: Service, name: gall, port: 7074}]
  rules:
  - matches: [{method: {service: weft.test.Echo, method: Stream}}]
    backendRefs: [{name: gb2, port: 7074}]
  - matches: [{method: {service: weft.test.Echo}}]
    backendRefs:
    - {name: ga2, port: 7074, weight: 30}
    - {name: gb2, port: 7074, weight: 70}
""")
    try:
        r = grpc_call(cluster, GALL, "unary", "--n", 200)
        assert r["codes"] == {"OK": 200}, r
        share = r["servers"].get("b2g", 0) / 200
        assert 0.58 <= share <= 0.82, r["servers"]              # 70% (locality would give a2g all)
        for _ in range(5):
            r = grpc_call(cluster, GALL, "stream", "--count", 2)
            assert r["code"] == "OK" and r["servers"] == ["b2g"], r
    finally:
        remove(cluster, "l7-more-groute.yaml")


# ---- faults ----

def test_fault_delay_and_its_flag(cluster):
    r = cluster.http("a1", WEB + "/nodelay", n=3)
    assert r["status"] == {"200": 3} and r["p50_ms"] < 900, r
    apply(cluster, "l7-more-delay.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-delay, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  faultInjection:
    delay: {fixedDelay: 1s, percentage: 100}
""")
    try:
        before = cluster.metric("n1", "istio_requests_total", reporter="source",
                                destination_service_name="web", response_flags="DI")
        for _ in range(3):
            r = cluster.http("a1", WEB + "/delayed")
            assert r["status"] == {"200": 1}, r
            assert r["p50_ms"] >= 900, r
        after = cluster.metric("n1", "istio_requests_total", reporter="source",
                               destination_service_name="web", response_flags="DI")
        assert after - before == 3, (before, after)
    finally:
        remove(cluster, "l7-more-delay.yaml")


# ---- retries ----

def _dead_policy(cluster, retries):
    apply(cluster, "l7-more-dead.yaml", f"""
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {{name: dead-retry, namespace: default}}
spec:
  targetRef: {{kind: Service, name: dead}}
  retries: {retries}
""")


def test_retry_on_connect_failure_of_a_killed_backend(cluster):
    a = start_echo(cluster, "a2", 8087, "a2d")
    b = start_echo(cluster, "b2", 8087, "b2d")
    try:
        assert cluster.http("a1", "http://10.96.1.47/", n=5)["served"] == {"a2d": 5}
        _kill(a)
        # a1 still picks its zone's a2d (no outlier detection): n1's agent
        # cannot reach it. Without retries the client sees 503 UF...
        _dead_policy(cluster, "{attempts: 0}")
        r = cluster.http("a1", "http://10.96.1.47/dead", n=10)
        assert r["status"] == {"503": 10}, r
        # ...with retryOn connect-failure the try goes to b2d
        _dead_policy(cluster, "{attempts: 2, retryOn: [connect-failure], backoff: {baseInterval: 1ms}}")
        r = cluster.http("a1", "http://10.96.1.47/retried", n=20)
        assert r["status"] == {"200": 20} and r["served"] == {"b2d": 20}, r
        # and so does the default (no policy: what never reached the app)
        cleanup(cluster, "l7-more-dead.yaml")
        r = cluster.http("a1", "http://10.96.1.47/default", n=20)
        assert r["status"] == {"200": 20} and r["served"] == {"b2d": 20}, r
        st, body = cluster.http_get(cluster.node("n1")["metrics"], "/metrics")
        assert 'response_flags="UF"' in body, "the dead endpoint's tries are not flagged UF"
    finally:
        cleanup(cluster, "l7-more-dead.yaml")
        _kill(a)
        _kill(b)


def _killed_mid_request(cluster, name):
    """A slow request to a1's local dead-service endpoint, whose server is
    killed while it waits: the client's result."""
    a = start_echo(cluster, "a2", 8087, name)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(cluster.http, "a1", "http://10.96.1.47/slow?delay=2000", 1, 1, "GET", (), "", 10.0)
            wait_for(lambda: _busy(cluster), 10, what="the request to arrive")
            _kill(a)
            return fut.result(60)
    finally:
        _kill(a)


def _busy(cluster):
    r = cluster.exec_in("a2", ["sh", "-c", "ss -tn state established '( sport = :8087 )' | tail -n +2 | wc -l"])
    return int(r.stdout.decode().strip() or 0) > 0


def test_retry_on_reset_of_a_backend_dying_mid_request(cluster):
    b = start_echo(cluster, "b2", 8087, "b2d")
    try:
        _dead_policy(cluster, "{attempts: 0}")
        r = _killed_mid_request(cluster, "a2r")
        assert r["status"] == {"503": 1}, r                      # UC, not retried
        _dead_policy(cluster, "{attempts: 2, retryOn: [reset], backoff: {baseInterval: 1ms}}")
        r = _killed_mid_request(cluster, "a2r")
        assert r["status"] == {"200": 1} and r["served"] == {"b2d": 1}, r
    finally:
        cleanup(cluster, "l7-more-dead.yaml")
        _kill(b)


def test_per_try_timeout_retries_elsewhere(cluster):
    slow = start_grpc(cluster, "a2", 7075, "a2slow", "--delay-ms", "3000")
    fast = start_grpc(cluster, "b2", 7075, "b2fast")
    try:
        r = grpc_call(cluster, "10.96.1.46:7075", "unary", "--deadline-ms", "1500")
        assert r["codes"] == {"DEADLINE_EXCEEDED": 1}, r          # a2slow, local, too slow
        apply(cluster, "l7-more-pertry.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: gslow-pertry, namespace: default}
spec:
  targetRef: {kind: Service, name: gslow}
  retries: {attempts: 2, perTryTimeout: 300ms, retryOn: [gateway-error], backoff: {baseInterval: 1ms, maxInterval: 5ms}}
""")
        try:
            r = grpc_call(cluster, "10.96.1.46:7075", "unary", "--n", 3, "--deadline-ms", "2500")
            assert r["codes"] == {"OK": 3} and r["servers"] == {"b2fast": 3}, r
        finally:
            remove(cluster, "l7-more-pertry.yaml")
    finally:
        _kill(slow)
        _kill(fast)


def test_body_over_64k_is_not_retried(cluster):
    apply(cluster, "l7-more-bigretry.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-bigretry, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  retries:
    attempts: 4
    retryOn: [5xx]
    backoff: {baseInterval: 1ms, maxInterval: 5ms}
    budget: {percent: 100, minRetryConcurrency: 10}
""")
    try:
        small = "s" * 1000
        r = cluster.http("a1", WEB + "/up?fail=50", n=20, method="POST", data=small)
        assert r["status"] == {"200": 20}, r
        big = "b" * (100 * 1024)
        r = cluster.http("a1", WEB + "/up?fail=50", n=20, method="POST", data=big, timeout=10)
        assert r["status"].get("503", 0) >= 5, r
        assert r["status"].get("200", 0) >= 5, r
    finally:
        remove(cluster, "l7-more-bigretry.yaml")


# ---- mirror percentage ----

def test_mirror_percentage(cluster):
    apply(cluster, "l7-more-mirror.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-mirror-half, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web-a2, port: 80}]
  rules:
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: web-b2, port: 80}, percent: 50}
    backendRefs: [{name: web-a2, port: 80}]
""")
    try:
        before = cluster.served("b2")
        r = cluster.http("a1", "http://10.96.1.11/half", n=200)
        assert r["status"] == {"200": 200} and r["served"] == {"a2": 200}, r
        time.sleep(2)                                           # copies are fire and forget
        copies = cluster.served("b2") - before
        assert 60 <= copies <= 140, copies
    finally:
        remove(cluster, "l7-more-mirror.yaml")


# ---- 429 / Retry-After ----

def test_429_retry_after_penalises_the_endpoint(cluster):
    # both pair endpoints are candidates (same zone, n2); one 429 with
    # Retry-After: 5 from whichever answers first sends the next requests
    # to the other one
    r = cluster.http("a1", PAIR + "/spread", n=40)
    assert set(r["served"]) == {"b1p", "b2p"}, r             # round robin over both
    r = cluster.http("a1", PAIR + "/busy?status=429&retry_after=5")
    assert r["status"] == {"429": 1}, r
    penalised = next(iter(r["served"]))
    other = ({"b1p", "b2p"} - {penalised}).pop()
    r = cluster.http("a1", PAIR + "/after", n=20)
    assert r["served"] == {other: 20}, (penalised, r)
    # once Retry-After passes (whole seconds: up to ~6 s), it is picked again
    wait_for(lambda: cluster.http("a1", PAIR + "/later", n=20)["served"].get(penalised, 0) > 0,
             15, what=f"{penalised} to be picked again after Retry-After")


# ---- hashing ----

def _sticky(cluster, keys, headers_of):
    seen = {}
    for k in keys:
        r = cluster.http("a1", PAIR + "/h", n=8, headers=headers_of(k))
        assert r["status"] == {"200": 8} and len(r["served"]) == 1, (k, r)
        seen[k] = next(iter(r["served"]))
    return seen


def test_maglev_on_a_header_is_sticky_and_spreads(cluster):
    apply(cluster, "l7-more-maglev.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: pair-maglev, namespace: default}
spec:
  targetRef: {kind: Service, name: pair}
  loadBalancer:
    type: Maglev
    maglev: {header: x-user}
""")
    try:
        seen = _sticky(cluster, [f"user{i}" for i in range(16)], lambda k: [f"x-user: {k}"])
        assert set(seen.values()) == {"b1p", "b2p"}, seen
    finally:
        remove(cluster, "l7-more-maglev.yaml")


def test_cookie_hash_is_sticky_and_spreads(cluster):
    apply(cluster, "l7-more-cookie.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: pair-cookie, namespace: default}
spec:
  targetRef: {kind: Service, name: pair}
  loadBalancer:
    type: RingHash
    ringHash: {cookie: session}
""")
    try:
        seen = _sticky(cluster, [f"s{i}" for i in range(16)],
                       lambda k: [f"Cookie: theme=dark; session={k}; lang=en"])
        assert set(seen.values()) == {"b1p", "b2p"}, seen
    finally:
        remove(cluster, "l7-more-cookie.yaml")
