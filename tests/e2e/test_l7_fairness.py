"""Per-workload fairness on the shared node agent (issue 5): limits on
connections, in-flight requests and buffered bytes per local workload, each
visible as a metric, and acceptance 8 (a noisy workload at 10x the load
does not push a quiet workload's p99 over 2x its baseline on the same agent).

The agents run with small limits (CLUSTER_OPTS below). Pods a1 and a2 are
both on node n1 (one agent); a2 is an HTTP echo server on :8080 but runs
clients too; b1 and b2 are on n2. Services as in test_l7_traffic.py."""
import json
import os
import statistics
import subprocess
import time

import pytest

from cluster import PODTOOL, PY, wait_for
from conftest import ROOT
from test_l7_traffic import SERVICES, apply

MAX_REQUESTS = 4
MAX_CONNS = 6
CLUSTER_OPTS = {"agent_args": [f"--l7-max-requests={MAX_REQUESTS}",
                               f"--l7-max-connections={MAX_CONNS}"]}

WEB_A2 = "http://10.96.1.11"
WEB_B2 = "http://10.96.1.12"


@pytest.fixture(scope="module", autouse=True)
def services(cluster):
    apply(cluster, "l7-services.yaml", SERVICES)
    yield
    cluster.remove_config("l7-services.yaml")


def wl_metric(cluster, node, name, pod, **labels):
    """Sum of name's samples whose workload label names pod ("ns/pod" or
    "pod") and whose other labels include labels."""
    tot = 0.0
    for n, ls, v in cluster.metrics(node):
        wl = ls.get("workload", "")
        if n == name and (wl == pod or wl.endswith("/" + pod)) and \
                all(ls.get(k) == str(x) for k, x in labels.items()):
            tot += v
    return tot


def stop(procs):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)


def slow_requests(cluster, where, url, n, delay_ms):
    """n requests in flight at once from a pod, each answered after
    delay_ms (weft echo's delay=); returns the Popen."""
    return cluster.popen_in(where, [PY, PODTOOL, "http", f"{url}/slow?delay={delay_ms}",
                                    "--n", n, "--conc", n, "--timeout", 30])


def test_request_limit_rejects_the_noisy_workload_only(cluster):
    rej0 = wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a1", limit="requests")
    # a1 fills its in-flight share with slow requests to a2 (same node)
    p = slow_requests(cluster, "a1", WEB_A2, MAX_REQUESTS, 6000)
    try:
        wait_for(lambda: wl_metric(cluster, "n1", "weft_agent_l7_workload_requests", "a1")
                 >= MAX_REQUESTS, timeout=10)
        # one more from a1: a fast 503 with response flag OL, counted
        r = cluster.http("a1", WEB_A2 + "/one-more")
        assert r["status"] == {"503": 1}, r
        assert r["bodies"][0].strip() == "503 OL", r
        assert wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a1",
                         limit="requests") == rej0 + 1
        # a2 on the same agent is not affected, as a client, although a1's
        # requests to it are in flight (its share as a destination is apart)
        r = cluster.http("a2", WEB_B2 + "/quiet", n=10)
        assert r["status"] == {"200": 10}, r
        # the destination side holds too: b1 (node n2) calling a2, whose
        # agent already serves MAX_REQUESTS requests to it, gets 503 OL
        rin0 = wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a2",
                         limit="requests")
        r = cluster.http("b1", WEB_A2 + "/to-a2")
        assert r["status"] == {"503": 1}, r
        assert wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a2",
                         limit="requests") == rin0 + 1
        out, _ = p.communicate(timeout=30)
        slow = json.loads(out.decode().strip().splitlines()[-1])
        assert slow["status"] == {"200": MAX_REQUESTS}, slow
    finally:
        stop([p])
    # the share comes back when they finish
    wait_for(lambda: wl_metric(cluster, "n1", "weft_agent_l7_workload_requests", "a1") == 0,
             timeout=10)
    r = cluster.http("a1", WEB_A2 + "/after", n=3)
    assert r["status"] == {"200": 3}, r


def test_connection_limit(cluster):
    rej0 = wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a1",
                     limit="connections")
    holds = []
    try:
        for _ in range(MAX_CONNS):
            holds.append(cluster.hold("a1", "10.96.1.12", 80))
        for h in holds:
            ev = json.loads(h.stdout.readline())
            assert ev["event"] == "connected", ev
        wait_for(lambda: wl_metric(cluster, "n1", "weft_agent_l7_workload_connections", "a1")
                 >= MAX_CONNS, timeout=10)
        # one connection more: refused (reset) and counted
        r = cluster.http("a1", WEB_B2 + "/over", timeout=3)
        assert r["errors"] == 1 and not r["status"], r
        assert wl_metric(cluster, "n1", "weft_agent_l7_limit_rejections_total", "a1",
                         limit="connections") == rej0 + 1
        # another workload of the same agent connects as usual
        r = cluster.http("a2", WEB_B2 + "/other", n=3)
        assert r["status"] == {"200": 3}, r
    finally:
        stop(holds)
    wait_for(lambda: wl_metric(cluster, "n1", "weft_agent_l7_workload_connections", "a1") == 0,
             timeout=10)
    r = cluster.http("a1", WEB_B2 + "/again", n=2)
    assert r["status"] == {"200": 2}, r


# ---- acceptance 8: noisy vs quiet ----

QUIET_RATE = 50          # requests/s, open loop
NOISY_RATE = 10 * QUIET_RATE
ROUNDS = 3
PAIRS = 3                # (baseline, loaded) pairs; medians compared
QUIET_S = 4.0
FLOOR_US = 2000.0        # baselines under 2 ms count as 2 ms (scheduler noise)


def tcp_rr():
    path = ROOT / "build" / "bench" / "tcp-rr"
    if not os.access(path, os.X_OK):
        subprocess.run(["make", "-C", str(ROOT), "-j2", "build/bench/tcp-rr"], check=True,
                       capture_output=True, timeout=600)
    return str(path)


def run_rr(cluster, where, ip, url_path, rate, conns, duration, warmup=1.0):
    return cluster.popen_in(where, [tcp_rr(), "--connect", f"{ip}:80", "--http", url_path,
                                    "--rate", rate, "--conns", conns, "--duration", duration,
                                    "--warmup", warmup, "--drain", 5])


def result(p, timeout):
    out, err = p.communicate(timeout=timeout)
    lines = out.decode().strip().splitlines()
    assert lines, f"tcp-rr printed nothing: {err!r}"
    return json.loads(lines[-1])


def quiet_p99(cluster):
    r = result(run_rr(cluster, "a2", "10.96.1.12", "/quiet", QUIET_RATE, 2, QUIET_S), QUIET_S + 30)
    assert r["errors"] == 0 and r["conn_errors"] == 0 and r["unsent"] == 0 and \
        r["requests"] >= QUIET_RATE * QUIET_S * 0.9, json.dumps(r)
    return r["latency_us"]["p99"]


def test_noisy_workload_does_not_hurt_quiet_p99(cluster):
    """Acceptance 8. The quiet workload (a2) sends open-loop HTTP/1.1 at
    QUIET_RATE to web-b2 (through agent n1, then agent n2), the noisy one
    (a1, same agent) at 10x that to web-a2 (agent n1 on both sides: the
    same event loop serves it twice), on MAX_REQUESTS connections (inside
    its limits: it is served, not rejected). On a busy 2-vCPU machine one run is noisy, so the quiet
    p99 is measured PAIRS times without and with the noisy load (each pair
    back to back) and the medians are compared: loaded <= 2x baseline,
    where a baseline under FLOOR_US (2 ms) counts as FLOOR_US — below that
    the p99 of 200 requests is dominated by scheduling jitter, not by the
    agent. The noisy run must really have carried ~10x the load (checked),
    so the comparison is never vacuous. A round that fails is measured again
    (up to ROUNDS): other work on the machine can spoil one round, while an
    agent that lets the noisy workload starve the quiet one fails them all."""
    reports = []
    for _attempt in range(ROUNDS):
        base, loaded, noisy_rates = [], [], []
        for _ in range(PAIRS):
            base.append(quiet_p99(cluster))
            noisy = run_rr(cluster, "a1", "10.96.1.11", "/noisy", NOISY_RATE, MAX_REQUESTS, QUIET_S + 3,
                           warmup=0.5)
            try:
                time.sleep(1.0)   # the noisy load is running before the quiet one starts
                loaded.append(quiet_p99(cluster))
                nr = result(noisy, QUIET_S + 40)
            finally:
                stop([noisy])
            noisy_rates.append(nr["rate"])
            assert nr["errors"] == 0 and nr["conn_errors"] == 0, json.dumps(nr)
        b, lo = statistics.median(base), statistics.median(loaded)
        report = f"baseline p99s {base} us, loaded {loaded} us, noisy rates {noisy_rates}"
        print(report)
        reports.append(report)
        assert statistics.median(noisy_rates) >= NOISY_RATE * 0.9, report
        if lo <= 2 * max(b, FLOOR_US):
            return
    raise AssertionError("the quiet p99 more than doubled in every round: " + " | ".join(reports))
