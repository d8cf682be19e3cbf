"""Acceptance: the agent's observability. Istio's TCP metrics on :15020
with their reporter/source/destination labels pass `promtool check metrics`
and are scraped by a real Prometheus; one JSON log line per connection; the
admin endpoint on :15000 answers /healthz, /config_dump and /certs."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from cluster import parse_metrics, wait_for

ISTIO_TCP = ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
             "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total")


def traffic(cluster, marker):
    r = cluster.connect("a1", cluster.pod("b2")["service_ip"], 9090, marker, until=marker.decode(),
                        read_s=5)
    assert r["ok"] and marker in r["data"], r


def raw_metrics(cluster, node):
    st, body = cluster.http_get(cluster.node(node)["metrics"], "/metrics")
    assert st == 200, body
    return body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_istio_tcp_metrics_with_labels_pass_promtool(cluster):
    traffic(cluster, b"metrics-" + uuid.uuid4().hex.encode())
    for node, reporter in (("n1", "source"), ("n2", "destination")):
        wait_for(lambda: cluster.metric(node, "istio_tcp_connections_closed_total", reporter=reporter) > 0,
                 5, what=f"{node}'s closed connections ({reporter})")
        text = raw_metrics(cluster, node)
        series = parse_metrics(text)
        for name in ISTIO_TCP:
            assert any(k[0] == name for k in series), (node, name)
        promtool = shutil.which("promtool")
        assert promtool, "promtool not found: run 'make deps'"
        r = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr
    # the labels Istio's dashboards group by, on the destination side
    text = raw_metrics(cluster, "n2")
    line = next(ln for ln in text.splitlines()
                if ln.startswith("istio_tcp_connections_opened_total{") and 'reporter="destination"' in ln
                and 'destination_workload="b2"' in ln)
    for label in ('source_principal="spiffe://cluster.local/ns/default/sa/client"',
                  'destination_principal="spiffe://cluster.local/ns/default/sa/echo"',
                  'destination_workload_namespace="default"',
                  'connection_security_policy="mutual_tls"', 'request_protocol="tcp"'):
        assert label in line, (label, line)


def test_real_prometheus_scrapes_both_agents(cluster):
    prom = shutil.which("prometheus")
    assert prom, "prometheus not found: run 'make deps'"
    traffic(cluster, b"scrape-" + uuid.uuid4().hex.encode())
    targets = [cluster.node(n)["metrics"] for n in ("n1", "n2")]
    tmp = tempfile.mkdtemp(prefix="weft-prom-")
    port = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n"
                "- job_name: weft-agents\n"
                "  metrics_path: /stats/prometheus\n"
                f"  static_configs: [{{targets: {json.dumps(targets)}}}]\n")
    log = open(os.path.join(tmp, "prometheus.log"), "wb")
    p = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                          f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        def query(q):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    d = json.load(r)
            except OSError:
                return []
            return d["data"]["result"] if d.get("status") == "success" else []

        wait_for(lambda: len(query('up{job="weft-agents"} == 1')) == 2, 30,
                 what="Prometheus to scrape both agents")
        res = []

        def have():
            res[:] = query('sum by (reporter, destination_workload) '
                           '(istio_tcp_connections_opened_total{destination_workload="b2"})')
            return {r["metric"].get("reporter") for r in res} >= {"source", "destination"}
        wait_for(have, 30, what="istio_tcp_connections_opened_total from both reporters")
        assert all(float(r["value"][1]) >= 1 for r in res), res
        assert query("istio_tcp_sent_bytes_total"), "no byte counters scraped"
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_one_json_log_line_per_connection(cluster):
    marker = b"log-" + uuid.uuid4().hex.encode()
    src_log = cluster.node("n1")["log"]
    dst_log = cluster.node("n2")["log"]
    start = {p: os.path.getsize(p) for p in (src_log, dst_log)}
    traffic(cluster, marker)

    def lines(path):
        with open(path, "rb") as f:
            f.seek(start[path])
            out = []
            for ln in f.read().decode(errors="replace").splitlines():
                if ln.startswith("{"):
                    d = json.loads(ln)       # every JSON line parses
                    if d.get("type") == "connection":
                        out.append(d)
            return out

    got = {}

    def both():
        got["src"] = [d for d in lines(src_log) if d["reporter"] == "source"
                      and d["original_dst"].startswith(cluster.pod("b2")["service_ip"] + ":")]
        got["dst"] = [d for d in lines(dst_log) if d["reporter"] == "destination"
                      and d["dst_workload"] == "b2"]
        return got["src"] and got["dst"]
    wait_for(both, 5, what="a connection log line on both agents")
    assert len(got["src"]) == 1 and len(got["dst"]) == 1, got
    for d in got["src"] + got["dst"]:
        for k in ("time", "src_principal", "dst_principal", "src_addr", "dst_addr", "bytes_sent",
                  "bytes_received", "duration_ms", "reason"):
            assert k in d, (k, d)
        assert d["src_principal"] == "spiffe://cluster.local/ns/default/sa/client", d
        assert d["dst_principal"] == "spiffe://cluster.local/ns/default/sa/echo", d
        assert d["bytes_sent"] > 0 and d["bytes_received"] > 0, d


def test_admin_endpoints(cluster):
    st, body = cluster.admin("n1", "/healthz")
    assert st == 200, body
    dump = json.loads(cluster.admin("n1", "/config_dump")[1])
    text = json.dumps(dump)
    assert "a1" in text and "a2" in text and "b1" not in json.dumps(dump.get("workloads", "")), dump
    certs = json.loads(cluster.admin("n1", "/certs")[1])
    ids = {c["identity"] for c in certs["certificates"]}
    assert "spiffe://cluster.local/ns/default/sa/client" in ids, ids
    st, _ = cluster.admin("n1", "/no-such-page")
    assert st == 404
