"""The destination side of the L7 data path (src/agent/l7_in.c) on the
two-node cluster: client pod a1 (node n1) -> agent n1 -> HBONE tunnel
flagged weft-proto: h2 -> agent n2 -> echo server b2:8080 (web-b2) or,
on the same node, a2 (web-a2).

- an L7 AuthorizationPolicy (DENY paths ["/admin*"]) on b2 blocks /admin
  with 403 "RBAC: access denied" at n2's agent while / passes;
- the application sees x-forwarded-client-cert with By=<its own identity>
  and URI=<the verified client identity>, and a client-sent one (or any
  x-weft-* field) is replaced, never passed on;
- a DestinationPolicy rateLimit answers 429 with Retry-After once
  maxTokens requests were taken."""
import re

import pytest

from cluster import status_of
from test_l7_traffic import SERVICES, apply


def apply_on(cluster, name, text, nodes):
    """Writes (text) or removes (None) a config file and waits until the
    agents of nodes (those the change concerns) have a newer view."""
    gens = {n: cluster.generation(n) for n in nodes}
    if text is None:
        cluster.remove_config(name)
    else:
        cluster.write_config(name, text)
    for n, g in gens.items():
        cluster.wait_generation_after(n, g, timeout=15)

WEB_A2 = "http://10.96.1.11"
WEB_B2 = "http://10.96.1.12"

DENY_ADMIN_B2 = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7in-deny-admin, namespace: default}
spec:
  selector: {matchLabels: {instance: b2}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
"""

RATE_LIMIT_A2 = """
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: {name: l7in-ratelimit, namespace: default}
spec:
  targetRef: {kind: Service, name: web-a2}
  rateLimit: {maxTokens: 3, tokensPerFill: 1, fillInterval: 1h}
"""

XFCC_RE = re.compile(r"^x-forwarded-client-cert: (.*)$", re.I | re.M)


@pytest.fixture(scope="module", autouse=True)
def services(cluster):
    apply(cluster, "l7-services.yaml", SERVICES)
    yield
    cluster.remove_config("l7-services.yaml")


def raw_get(cluster, ip, target, extra=b""):
    r = cluster.connect("a1", ip, 80, b"GET " + target + b" HTTP/1.1\r\nHost: web\r\n" + extra +
                        b"Connection: close\r\n\r\n", read_s=3)
    return r["data"]


def test_l7_deny_path_at_destination(cluster):
    apply_on(cluster, "l7in-deny.yaml", DENY_ADMIN_B2, ["n2"])
    try:
        before = cluster.served("b2")
        resp = raw_get(cluster, "10.96.1.12", b"/admin")
        assert status_of(resp) == 403, resp
        assert b"RBAC: access denied" in resp, resp
        assert status_of(raw_get(cluster, "10.96.1.12", b"/admin/users?x=1")) == 403
        assert cluster.served("b2") == before, "a denied request reached the app"
        r = cluster.http("a1", WEB_B2 + "/", n=5)
        assert r["status"] == {"200": 5}, r
        assert cluster.served("b2") == before + 5
        # the policy selects b2 only: a2 still serves /admin
        assert status_of(raw_get(cluster, "10.96.1.11", b"/admin")) == 200
    finally:
        apply_on(cluster, "l7in-deny.yaml", None, ["n2"])
    assert status_of(raw_get(cluster, "10.96.1.12", b"/admin")) == 200


def xfcc_values(resp):
    body = resp.split(b"\r\n\r\n", 1)[1].decode(errors="replace")
    return XFCC_RE.findall(body), body


@pytest.mark.parametrize("ip", ["10.96.1.12", "10.96.1.11"])   # other node, same node
def test_xfcc_carries_verified_identities(cluster, ip):
    resp = raw_get(cluster, ip, b"/?headers=1")
    assert status_of(resp) == 200, resp
    vals, body = xfcc_values(resp)
    assert len(vals) == 1, body
    m = re.fullmatch(r"By=spiffe://([^/;]+)/ns/default/sa/echo;URI=spiffe://([^/;]+)/ns/default/sa/client",
                     vals[0].strip())
    assert m and m.group(1) == m.group(2), vals[0]


def test_client_sent_xfcc_and_weft_fields_are_replaced(cluster):
    resp = raw_get(cluster, "10.96.1.12", b"/?headers=1",
                   b"X-Forwarded-Client-Cert: By=spiffe://evil/ns/x/sa/y;URI=spiffe://evil/ns/x/sa/admin\r\n"
                   b"x-forwarded-client-cert: URI=spiffe://evil2\r\n"
                   b"weft-proto: h2\r\nx-weft-peer: evil\r\n")
    assert status_of(resp) == 200, resp
    vals, body = xfcc_values(resp)
    assert len(vals) == 1, body
    assert "evil" not in body.lower(), body
    assert "/ns/default/sa/client" in vals[0], vals
    assert not re.search(r"^(x-)?weft-", body, re.I | re.M), body


def test_rate_limit_answers_429_with_retry_after(cluster):
    apply_on(cluster, "l7in-ratelimit.yaml", RATE_LIMIT_A2, ["n1"])
    try:
        before = cluster.served("a2")
        r = cluster.http("a1", WEB_A2 + "/", n=6)
        assert r["status"] == {"200": 3, "429": 3}, r
        assert cluster.served("a2") == before + 3, "a rate-limited request reached the app"
        resp = raw_get(cluster, "10.96.1.11", b"/")
        assert status_of(resp) == 429, resp
        m = re.search(rb"^retry-after: *(\d+)\r$", resp, re.I | re.M)
        assert m and int(m.group(1)) >= 1, resp
        # other services of the same workload have their own bucket (none here)
        r = cluster.http("a1", "http://10.96.1.10/", n=4)
        assert "429" not in r["status"], r
    finally:
        apply_on(cluster, "l7in-ratelimit.yaml", None, ["n1"])
