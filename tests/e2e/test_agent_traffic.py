"""Acceptance: pod traffic through the agents. Across nodes it travels only
as TLS on port 15008 (HBONE) and the payload never appears on the wire."""
import uuid

import pytest

ECHO_VIP = "10.96.0.10"


def banner_of(cluster, pod, ip, port, marker):
    r = cluster.connect(pod, ip, port, marker, until=marker.decode(), read_s=5)
    assert r["ok"], r
    line, _, rest = r["data"].partition(b"\n")
    assert rest == marker, r                      # the payload made the round trip
    return line.decode()


@pytest.mark.parametrize("client,svc,server", [
    ("a1", "b2", "b2"),    # across nodes
    ("b1", "a2", "a2"),    # across nodes, the other way
    ("a1", "a2", "a2"),    # same node
    ("b1", "b2", "b2"),    # same node
])
def test_pod_to_service(cluster, client, svc, server):
    vip = cluster.pod(svc)["service_ip"]
    line = banner_of(cluster, client, vip, 9090, b"hello-" + uuid.uuid4().hex.encode())
    assert line.split(" ")[0] == server, line


def test_echo_service_http_reaches_both_echo_pods(cluster):
    seen = set()
    for i in range(20):
        r = cluster.exec_in("a1", ["curl", "-sS", "-m", "5", f"http://{ECHO_VIP}/r{i}"])
        body = r.stdout.decode()
        assert r.returncode == 0, r.stderr
        assert body.endswith(f" GET /r{i}\n"), body
        seen.add(body.split(" ")[0])
    assert seen <= {"a2", "b2"} and seen, seen


def test_inter_node_link_carries_only_hbone_tls(cluster):
    marker = ("MARKER-" + uuid.uuid4().hex).encode()
    with cluster.capture("n1") as cap:
        assert banner_of(cluster, "a1", cluster.pod("b2")["service_ip"], 9090, marker).startswith("b2 ")
        assert banner_of(cluster, "b1", cluster.pod("a2")["service_ip"], 9090, marker).startswith("a2 ")
    pcap = open(cap.path, "rb").read()
    assert marker not in pcap, "the payload crossed the link in clear"
    pkts = cap.fields("ip.proto", "tcp.srcport", "tcp.dstport", display_filter="ip")
    assert pkts, "nothing captured on the link"
    for proto, sport, dport in pkts:
        assert proto == "6" and "15008" in (sport, dport), (proto, sport, dport)
    # tshark does not know 15008: decode it as TLS. The tunnels may be pooled
    # connections opened before the capture, so no handshake is required:
    # every segment that carries bytes must be TLS records.
    data = _fields(cap, ["frame.number"], "tcp.len > 0")
    assert data, "no payload captured"
    recs = _fields(cap, ["frame.number", "tls.record.version", "tls.record.content_type"],
                   "tcp.len > 0 && tls.record")
    assert len(recs) == len(data), (len(recs), len(data))
    assert all(v[1].split(",")[0] in ("0x0303", "0x0301") for v in recs), recs[:5]
    # application data (23) only after the handshake; a ClientHello, if the
    # capture saw one, offers TLS 1.3
    assert any("23" in v[2].split(",") for v in recs), recs[:5]
    for h in _fields(cap, ["tls.handshake.extensions.supported_version"], "tls.handshake.type == 1"):
        assert "0x0304" in h[0].split(","), h


def _fields(cap, fields, display_filter):
    import subprocess
    argv = ["tshark", "-n", "-r", cap.path, "-d", "tcp.port==15008,tls", "-T", "fields",
            "-Y", display_filter]
    for f in fields:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [ln.split("\t") for ln in r.stdout.splitlines()]


def test_metrics_count_the_connections(cluster):
    before = cluster.metric("n2", "istio_tcp_connections_opened_total")
    banner_of(cluster, "a1", cluster.pod("b2")["service_ip"], 9090, b"count-me")
    from cluster import wait_for
    wait_for(lambda: cluster.metric("n2", "istio_tcp_connections_opened_total") > before, 5,
             what="n2's istio_tcp_connections_opened_total to grow")
