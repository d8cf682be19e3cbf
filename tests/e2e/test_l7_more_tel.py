"""Acceptance (issue 5): L7 tracing export and access-log options, on a
two-node cluster whose agents run with

    --trace-endpoint=http://127.0.0.1:PORT/v1/traces --trace-sample=1
    --access-log-fields=method,path,response_code,reporter,response_flags
    --access-log-sample=0.3

The agents run in the root netns, so the OTLP/HTTP JSON collector here (a
thread of the test process on 127.0.0.1) receives their POSTs. A request
is reported by the source agent (n1, client side) and the destination
agent (n2, server side): the two spans share the trace id and the
destination span is the child of the source span."""
import http.server
import json
import os
import threading
import uuid

import pytest

from cluster import wait_for
from test_agent_observability import free_port
from test_l7_traffic import SERVICES, apply

PORT = free_port()
LOG_FIELDS = "method,path,response_code,reporter,response_flags"
CLUSTER_OPTS = {"agent_args": [f"--trace-endpoint=http://127.0.0.1:{PORT}/v1/traces", "--trace-sample=1",
                               f"--access-log-fields={LOG_FIELDS}", "--access-log-sample=0.3"]}
B2 = "http://10.96.1.12"


class Collector(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.spans, self.resources, self.bad = [], [], []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", PORT), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):   # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        try:
            doc = json.loads(body)
            assert self.path == "/v1/traces", self.path
            assert self.headers.get("Content-Type", "").startswith("application/json")
            with srv.lock:
                for rs in doc["resourceSpans"]:
                    res = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
                    for ss in rs["scopeSpans"]:
                        for sp in ss["spans"]:
                            sp["_resource"] = res
                            sp["_attrs"] = {a["key"]: next(iter(a["value"].values()))
                                            for a in sp.get("attributes", [])}
                            srv.spans.append(sp)
            self.send_response(200)
        except (ValueError, KeyError, AssertionError) as e:
            with srv.lock:
                srv.bad.append(repr(e))
            self.send_response(400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def collector(cluster):
    c = Collector()
    t = threading.Thread(target=c.serve_forever, daemon=True)
    t.start()
    apply(cluster, "l7-services.yaml", SERVICES)
    yield c
    c.shutdown()
    c.server_close()
    cluster.remove_config("l7-services.yaml")


def _spans_of(col, trace_id):
    with col.lock:
        return [s for s in col.spans if s["traceId"] == trace_id]


def _two_spans(col, trace_id):
    got = []

    def both():
        got[:] = _spans_of(col, trace_id)
        return {s["_attrs"].get("weft.reporter") for s in got} >= {"source", "destination"}
    wait_for(both, 20, what=f"spans of both reporters for trace {trace_id}")
    src = next(s for s in got if s["_attrs"]["weft.reporter"] == "source")
    dst = next(s for s in got if s["_attrs"]["weft.reporter"] == "destination")
    return src, dst


def test_spans_from_both_reporters_share_the_trace(cluster, collector):
    trace, parent = uuid.uuid4().hex, "2" * 16
    marker = "/traced-" + uuid.uuid4().hex[:8]
    r = cluster.http("a1", B2 + marker, headers=[f"traceparent: 00-{trace}-{parent}-01"])
    assert r["status"] == {"200": 1}, r
    src, dst = _two_spans(collector, trace)
    assert src["parentSpanId"] == parent, src                  # the app's span is the parent
    assert dst.get("parentSpanId") == src["spanId"], (src, dst)
    assert src["spanId"] != dst["spanId"] and len(src["spanId"]) == 16, (src, dst)
    assert src["kind"] == 3 and dst["kind"] == 2, (src["kind"], dst["kind"])   # CLIENT, SERVER
    for sp in (src, dst):
        a = sp["_attrs"]
        assert a["http.request.method"] == "GET" and a["url.path"] == marker, a
        assert str(a["http.response.status_code"]) == "200", a
        assert a["weft.source.workload"] == "a1" and a["weft.destination.workload"] == "b2", a
        assert int(sp["endTimeUnixNano"]) >= int(sp["startTimeUnixNano"]) > 0, sp
        assert sp["_resource"].get("service.name"), sp["_resource"]
    assert not collector.bad, collector.bad


def test_a_trace_is_started_when_the_client_sends_none(cluster, collector):
    marker = "/untraced-" + uuid.uuid4().hex[:8]
    r = cluster.http("a1", B2 + marker + "?headers=1")
    assert r["status"] == {"200": 1}, r
    tp = next(ln for ln in r["bodies"][0].lower().splitlines() if ln.startswith("traceparent:"))
    trace = tp.split()[1].split("-")[1]
    src, dst = _two_spans(collector, trace)
    assert not src.get("parentSpanId"), src                     # the root: started by n1
    assert dst["parentSpanId"] == src["spanId"], (src, dst)
    assert tp.split()[1].split("-")[2] == dst["spanId"], (tp, dst)   # the app sees n2's span
    assert dst["_attrs"]["url.path"].startswith(marker), dst


def _log_lines(path, start, marker):
    with open(path, "rb") as f:
        f.seek(start)
        out = []
        for ln in f.read().decode(errors="replace").splitlines():
            if ln.startswith("{") and marker in ln:
                out.append(json.loads(ln))
        return out


def test_access_log_fields_and_sampling(cluster, collector):
    marker = "/logsample-" + uuid.uuid4().hex[:8]
    log = cluster.node("n1")["log"]
    start = os.path.getsize(log)
    r = cluster.http("a1", B2 + marker, n=200, conc=4)
    assert r["status"] == {"200": 200}, r
    r = cluster.http("a1", B2 + marker + "-err?status=503", n=20)
    assert r["status"] == {"503": 20}, r
    lines = []

    def errors_logged():
        lines[:] = _log_lines(log, start, marker)
        return sum(1 for d in lines if d.get("response_code") == 503) >= 20
    wait_for(errors_logged, 10, what="the 20 error lines on n1")
    ok = [d for d in lines if d.get("response_code") == 200]
    err = [d for d in lines if d.get("response_code") == 503]
    assert len(err) == 20, err                                 # errors are always logged
    assert 25 <= len(ok) <= 100, len(ok)                      # about 30% of 200
    for d in ok + err:
        assert set(d) <= set(LOG_FIELDS.split(",")), d          # only the chosen fields
        assert d["reporter"] == "source" and d["method"] == "GET", d
        assert d["path"].startswith(marker), d
