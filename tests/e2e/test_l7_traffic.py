"""Acceptance (issue 5): L7 traffic management through the node agents on
the two-node demo cluster. The client is pod a1 (node n1); the HTTP echo
servers are a2 (n1) and b2 (n2) on :8080 (`weft echo --mode http`, whose
query-string controls make a request fail, wait or grow: src/cli/cmd_echo.c).
Every request goes client -> agent n1 (routing, LB, retries...) -> HBONE
(HTTP/2 inside) -> the endpoint's agent -> the echo server."""
import json
import os
import signal
import time

import pytest

from cluster import wait_for

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.1.10
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: web-a2, namespace: default}
spec:
  clusterIP: 10.96.1.11
  selector: {instance: a2}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: web-b2, namespace: default}
spec:
  clusterIP: 10.96.1.12
  selector: {instance: b2}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
---
apiVersion: v1
kind: Service
metadata: {name: od, namespace: default}
spec:
  clusterIP: 10.96.1.13
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8082, appProtocol: http}
"""

WEB = "http://10.96.1.10"


def apply(cluster, name, text):
    """Writes a config file and waits until both agents have a newer view."""
    gens = {n: cluster.generation(n) for n in ("n1", "n2")}
    cluster.write_config(name, text)
    for n, g in gens.items():
        cluster.wait_generation_after(n, g, timeout=15)


def remove(cluster, name):
    gens = {n: cluster.generation(n) for n in ("n1", "n2")}
    cluster.remove_config(name)
    for n, g in gens.items():
        cluster.wait_generation_after(n, g, timeout=15)


@pytest.fixture(scope="module", autouse=True)
def services(cluster):
    apply(cluster, "l7-services.yaml", SERVICES)
    yield
    cluster.remove_config("l7-services.yaml")


def test_l7_request_through_the_agents(cluster):
    # locality-aware priority: a1's requests stay on its own node (a2) while
    # a2 is healthy (test_outlier_detection_ejects_and_returns shows the spill)
    r = cluster.http("a1", WEB + "/hello", n=40)
    assert r["status"] == {"200": 40}, r
    assert set(r["served"]) <= {"a2", "b2"} and r["served"], r
    assert r["bodies"][0].split(" ")[2:] == ["GET", "/hello\n"], r
    r = cluster.http("b1", WEB + "/from-b1", n=10)
    assert r["status"] == {"200": 10}, r


def test_split_80_20_holds_within_5_percent(cluster):
    apply(cluster, "l7-split.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-split, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web, port: 80}]
  rules:
  - backendRefs:
    - {name: web-a2, port: 80, weight: 80}
    - {name: web-b2, port: 80, weight: 20}
""")
    try:
        r = cluster.http("a1", WEB + "/split", n=2000, conc=4, timeout=10)
        assert r["status"] == {"200": 2000}, r
        share = r["served"].get("a2", 0) / 2000
        assert 0.75 <= share <= 0.85, r["served"]
    finally:
        remove(cluster, "l7-split.yaml")


def test_header_match_and_filters(cluster):
    apply(cluster, "l7-filters.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-filters, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web, port: 80}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /old}
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-added, value: yes-1}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: x-resp, value: r1}]}
    backendRefs: [{name: web-b2, port: 80}]
  - matches:
    - path: {type: Exact, value: /moved}
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: example.org, statusCode: 302}
  - matches:
    - headers: [{name: x-canary, value: "1"}]
    backendRefs: [{name: web-a2, port: 80}]
  - backendRefs: [{name: web-b2, port: 80}]
""")
    try:
        r = cluster.http("a1", WEB + "/old/x?q=1&headers=1")
        assert r["status"] == {"200": 1}, r
        body = r["bodies"][0]
        assert " GET /new/x?q=1&headers=1\n" in body, body
        assert "x-added: yes-1" in body.lower(), body
        assert ["x-resp", "r1"] in [[k.lower(), v] for k, v in r["headers"]], r["headers"]
        r = cluster.http("a1", WEB + "/moved")
        assert r["status"] == {"302": 1}, r
        loc = dict((k.lower(), v) for k, v in r["headers"]).get("location", "")
        assert loc.startswith("http://example.org/moved"), r["headers"]
        r = cluster.http("a1", WEB + "/c", n=20, headers=["x-canary: 1"])
        assert r["served"] == {"a2": 20}, r
        r = cluster.http("a1", WEB + "/c", n=20)
        assert r["served"] == {"b2": 20}, r
    finally:
        remove(cluster, "l7-filters.yaml")


def test_no_matching_rule_is_404(cluster):
    apply(cluster, "l7-404.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-only-api, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web, port: 80}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: web-a2, port: 80}]
""")
    try:
        assert cluster.http("a1", WEB + "/api/x")["status"] == {"200": 1}
        assert cluster.http("a1", WEB + "/other")["status"] == {"404": 1}
        assert cluster.http("a1", WEB + "/apix")["status"] == {"404": 1}   # element-wise prefix
    finally:
        remove(cluster, "l7-404.yaml")


def test_retries_turn_50_percent_failures_into_success(cluster):
    # without a policy, half the answers are 503 (the test can fail)
    r = cluster.http("a1", WEB + "/flaky?fail=50", n=100)
    assert 30 <= r["status"].get("503", 0) <= 70, r
    apply(cluster, "l7-retry.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-retry, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  retries:
    attempts: 4
    retryOn: [5xx]
    backoff: {baseInterval: 1ms, maxInterval: 5ms}
    budget: {percent: 100, minRetryConcurrency: 10}
""")
    try:
        r = cluster.http("a1", WEB + "/flaky?fail=50", n=200)
        assert r["status"] == {"200": 200}, r
    finally:
        remove(cluster, "l7-retry.yaml")


def test_retry_budget_stops_a_retry_storm(cluster):
    apply(cluster, "l7-budget.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-budget, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  retries:
    attempts: 5
    retryOn: [5xx]
    backoff: {baseInterval: 1ms, maxInterval: 2ms}
    budget: {percent: 10, minRetryConcurrency: 1}
""")
    try:
        before = cluster.served("a2") + cluster.served("b2")
        r = cluster.http("a1", WEB + "/down?status=503", n=200, conc=10)
        after = cluster.served("a2") + cluster.served("b2")
        assert r["status"].get("503", 0) == 200, r
        tries = after - before
        # unbounded, 200 requests with 5 retries each would be 1,200 tries;
        # the budget lets at most ~1 retry run at a time among 10 requests
        assert 200 <= tries <= 500, tries
    finally:
        remove(cluster, "l7-budget.yaml")


def test_timeout_and_per_try_timeout(cluster):
    apply(cluster, "l7-timeout.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-timeout, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web, port: 80}]
  rules:
  - timeouts: {request: 300ms}
    backendRefs: [{name: web, port: 80}]
""")
    try:
        t0 = time.monotonic()
        r = cluster.http("a1", WEB + "/slow?delay=3000")
        took = time.monotonic() - t0
        assert r["status"] == {"504": 1}, r
        assert took < 2.5, took
        assert cluster.http("a1", WEB + "/fast?delay=10")["status"] == {"200": 1}
    finally:
        remove(cluster, "l7-timeout.yaml")


def test_fault_injection_abort_and_header_match(cluster):
    apply(cluster, "l7-fault.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-fault, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  faultInjection:
    abort: {httpStatus: 418, percentage: 100}
    headers: [{name: x-chaos, value: "on"}]
""")
    try:
        r = cluster.http("a1", WEB + "/f", n=10, headers=["x-chaos: on"])
        assert r["status"] == {"418": 10}, r
        r = cluster.http("a1", WEB + "/f", n=10)
        assert r["status"] == {"200": 10}, r
    finally:
        remove(cluster, "l7-fault.yaml")


def test_circuit_breaker_overflow_is_a_fast_503(cluster):
    apply(cluster, "l7-cb.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-cb, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  connectionLimits: {maxRequests: 2, maxPendingRequests: 1}
""")
    try:
        r = cluster.http("a1", WEB + "/slow?delay=500", n=12, conc=12, timeout=10)
        assert r["status"].get("503", 0) >= 6, r
        assert r["status"].get("200", 0) >= 2, r
        st, body = cluster.http_get(cluster.node("n1")["metrics"], "/metrics")
        assert 'response_flags="UO"' in body, "overflow not counted with flag UO"
    finally:
        remove(cluster, "l7-cb.yaml")


def test_ring_hash_on_a_header_is_sticky(cluster):
    apply(cluster, "l7-hash.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: web-hash, namespace: default}
spec:
  targetRef: {kind: Service, name: web}
  loadBalancer:
    type: RingHash
    ringHash: {header: x-user}
""")
    try:
        seen = {}
        for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
            r = cluster.http("a1", WEB + "/h", n=10, headers=[f"x-user: {user}"])
            assert len(r["served"]) == 1, (user, r)
            seen[user] = next(iter(r["served"]))
        assert set(seen.values()) <= {"a2", "b2"}
    finally:
        remove(cluster, "l7-hash.yaml")


def test_outlier_detection_ejects_and_returns(cluster):
    # a1 prefers its own node's endpoint (a2x); when a2x fails it is ejected
    # and traffic spills to b2x on the other node, then comes back
    a = cluster.start_echo("a2", 8082, "a2x")
    b = cluster.start_echo("b2", 8082, "b2x")
    apply(cluster, "l7-outlier.yaml", """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: od, namespace: default}
spec:
  targetRef: {kind: Service, name: od}
  outlierDetection:
    consecutive5xx: 3
    consecutiveGatewayErrors: 3
    interval: 500ms
    baseEjectionTime: 3s
    maxEjectionPercent: 50
""")
    try:
        r = cluster.http("a1", "http://10.96.1.13/", n=20)
        assert r["status"] == {"200": 20} and r["served"] == {"a2x": 20}, r
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        cluster.http("a1", "http://10.96.1.13/warm", n=12)     # failures until ejection
        r = cluster.http("a1", "http://10.96.1.13/ejected", n=30)
        assert r["status"] == {"200": 30} and r["served"] == {"b2x": 30}, r
        a = cluster.start_echo("a2", 8082, "a2x")
        time.sleep(4.5)                                          # base ejection time passes
        r = cluster.http("a1", "http://10.96.1.13/back", n=20)
        assert r["served"].get("a2x", 0) > 0, r
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        remove(cluster, "l7-outlier.yaml")


def test_mirror_copies_to_shadow_and_client_sees_primary(cluster):
    apply(cluster, "l7-mirror.yaml", """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-mirror, namespace: default}
spec:
  parentRefs: [{kind: Service, name: web-a2, port: 80}]
  rules:
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: web-b2, port: 80}}
    backendRefs: [{name: web-a2, port: 80}]
""")
    try:
        before = cluster.served("b2")
        r = cluster.http("a1", "http://10.96.1.11/m?status=201", n=20)
        assert r["status"] == {"201": 20} and r["served"] == {"a2": 20}, r
        wait_for(lambda: cluster.served("b2") - before >= 20, 10, what="the shadow to get its copies")
    finally:
        remove(cluster, "l7-mirror.yaml")


def test_http2_prior_knowledge_client(cluster):
    # an HTTP/2 (h2c) client to an HTTP/1.1 app: the agents translate
    r = cluster.exec_in("a1", ["curl", "-sS", "-m", "5", "--http2-prior-knowledge", WEB + "/h2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split(" ")[2:] == ["GET", "/h2\n"], r.stdout


def test_upgrade_passes_through(cluster):
    # a WebSocket-style upgrade is carried as bytes; the echo app answers it
    # like any request, and the connection stays usable
    req = (b"GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    r = cluster.connect("a1", "10.96.1.10", 80, req, read_s=3, until="/ws")
    assert r["ok"], r
    assert b" GET /ws\n" in r["data"], r["data"]


def test_l7_metrics_and_access_log(cluster):
    cluster.http("a1", WEB + "/metrics-check", n=5)
    total = cluster.metric("n1", "istio_requests_total", reporter="source",
                           destination_service_name="web", response_code="200")
    assert total >= 5
    dst = cluster.metric("n2", "istio_requests_total", reporter="destination")
    assert dst >= 1
    st, body = cluster.http_get(cluster.node("n1")["metrics"], "/metrics")
    assert "istio_request_duration_milliseconds_bucket" in body
    assert json  # the log checks live in test_l7_observability.py
