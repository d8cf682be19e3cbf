"""eBPF capture (issue 4), acceptance items 3 and 4: bypass attempts from a
captured workload are captured or refused and never reach the destination
in plaintext, and a workload cannot reach the agent's admin/metrics ports
or another workload's agent listeners.

Every attempt runs bypasstool.py inside pod a1 (its netns AND its cgroup:
cluster.exec_in joins both), aimed at pods on the other node (b1, b2). A
connection "went through the mesh" when n2's agent logs it as reporter
destination with connection_security_policy mutual_tls and a1's principal,
and the listener in b2 sees the connection come from b2's own address (the
agent delivering inside the pod), never from a1's; "never in plaintext"
when a pcap of the inter-node link has no byte of the payload marker. The
cluster fixture fails the module if any weft nftables table exists."""
import json
import os
import random
import signal
import uuid

import pytest

from cluster import PY, wait_for

CLUSTER_OPTS = {"capture": "ebpf"}
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bypasstool.py")
A1_PRINCIPAL = "spiffe://cluster.local/ns/default/sa/client"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def marker():
    return ("BYPASS-" + uuid.uuid4().hex).encode()


def tool(cluster, pod, *args, timeout=60):
    r = cluster.exec_in(pod, [PY, TOOL] + [str(a) for a in args], timeout=timeout)
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.strip()]
    assert lines, f"bypasstool {args} in {pod}: no output; stderr {r.stderr!r}"
    return json.loads(lines[-1])


class Recorder:
    """bypasstool record in a pod: every connection's peer and bytes."""

    def __init__(self, cluster, pod, ip, port, seconds=60, udp=False):
        argv = [PY, TOOL, "record", ip, str(port), "--seconds", str(seconds)] + (["--udp"] if udp else [])
        self.p = cluster.popen_in(pod, argv, text=True)
        first = self.p.stdout.readline()
        assert first and json.loads(first)["event"] == "listening", (first, self.p.stderr.read())

    def result(self):
        """Stops recording (SIGUSR1: a short drain, then the report)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGUSR1)
        line = self.p.stdout.readline()
        self.p.wait(30)
        assert line, self.p.stderr.read()
        r = json.loads(line)
        return r.get("conns", r.get("datagrams"))


def dest_lines(cluster, node):
    with open(cluster.node(node)["log"], errors="replace") as f:
        return [json.loads(ln[ln.index("{"):]) for ln in f
                if '"type":"connection"' in ln and '"reporter":"destination"' in ln]


def src_lines(cluster, node):
    with open(cluster.node(node)["log"], errors="replace") as f:
        return [json.loads(ln[ln.index("{"):]) for ln in f
                if '"type":"connection"' in ln and '"reporter":"source"' in ln]


def wait_mesh_arrival(cluster, node, original_dst, before):
    """Waits for node's agent to log a connection to original_dst from a1
    over mTLS (a destination record after the first `before` ones)."""
    def seen():
        return [e for e in dest_lines(cluster, node)[before:]
                if e.get("original_dst") == original_dst and e.get("src_workload") == "a1"
                and e.get("src_principal") == A1_PRINCIPAL
                and e.get("connection_security_policy") == "mutual_tls"]
    return wait_for(seen, 10, what=f"{node}'s agent to log a1 -> {original_dst} over mTLS")


def assert_no_plaintext(cap, mark):
    data = open(cap.path, "rb").read()
    assert mark not in data, "the payload crossed the inter-node link in plaintext"
    assert mark[:16] not in data


def hbone_packets(cap):
    return cap.fields("frame.number", display_filter="tcp.port == 15008")


@pytest.fixture
def b2_listener(cluster):
    """A listener on b2, port 7777: no Service of the mesh names it."""
    rec = Recorder(cluster, "b2", "0.0.0.0", 7777)
    yield rec
    if rec.p.poll() is None:
        rec.p.kill()
        rec.p.wait()


def assert_delivered_by_agent(cluster, conns, mark, pod="b2"):
    got = [c for c in conns if bytes.fromhex(c["data"]) == mark]
    assert got, conns
    own = cluster.pod(pod)["ip"]
    for c in conns:   # every connection came from the agent, in the pod
        assert c["peer"].rsplit(":", 1)[0] in (own, f"::ffff:{own}"), conns


# ---- item 3: bypass attempts ----

def test_raw_endpoint_ip_instead_of_the_service_ip(cluster):
    b2 = cluster.pod("b2")["ip"]
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "send", b2, 9090, "--send", mark.hex())
    assert r["connect"] is None, r
    data = bytes.fromhex(r["data"])
    assert data.startswith(b"b2 ") and mark in data, r
    wait_mesh_arrival(cluster, "n2", f"{b2}:9090", before)
    assert_no_plaintext(cap, mark)
    assert hbone_packets(cap), "no HBONE traffic at all on the link"


def test_other_port_nobody_serves_in_the_mesh(cluster, b2_listener):
    b2 = cluster.pod("b2")["ip"]
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "send", b2, 7777, "--send", mark.hex())
        assert r["connect"] is None, r
        # and a port where nothing listens at all: captured too (handed to
        # the agent, tunnelled to n2's, which fails to deliver it and
        # counts that); the client's connection just ends
        failed = cluster.metric("n2", "weft_agent_errors_total", reason="deliver_failed")
        r2 = tool(cluster, "a1", "send", b2, 7778, "--send", mark.hex(), "--read-s", 2)
        # the agent resets the client when the far end refuses: the reset
        # may come before or after the client's send
        assert r2["connect"] in (None, "ECONNRESET", "EPIPE") and r2["data"] == "", r2
        if r2["local"]:
            assert r2["local"].startswith("127.0.0.1:"), f"not handed to the agent: {r2}"
        wait_for(lambda: cluster.metric("n2", "weft_agent_errors_total", reason="deliver_failed") > failed,
                 10, what="n2's agent to count the undeliverable tunnelled connection")
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_ipv4_mapped_ipv6_destination(cluster, b2_listener):
    # an AF_INET6 socket to ::ffff:<b2>: the connect6 program sees it
    b2 = cluster.pod("b2")["ip"]
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "send", f"::ffff:{b2}", 7777, "--send", mark.hex())
    assert r["connect"] is None, r
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_own_source_port(cluster, b2_listener):
    b2 = cluster.pod("b2")["ip"]
    mark = marker()
    port = random.randint(41000, 48000)
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "send", b2, 7777, "--send", mark.hex(), "--bind-port", port)
    assert r["connect"] is None, r
    assert r["local"].endswith(f":{port}"), r
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_connect_twice_non_blocking(cluster, b2_listener):
    # connect(A) non-blocking, connect(B) at once, connect(B) again: the
    # socket stays on A (through the mesh); B never sees a byte
    b1, b2 = cluster.pod("b1")["ip"], cluster.pod("b2")["ip"]
    other = Recorder(cluster, "b1", "0.0.0.0", 7780)
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "twice-nb", b2, 7777, b1, 7780, "--send", mark.hex())
    assert r["first"] == "EINPROGRESS", r
    assert r["third"] in ("EISCONN", None), r
    assert other.result() == [], "B got a connection"
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_connect_twice_blocking(cluster, b2_listener):
    b1, b2 = cluster.pod("b1")["ip"], cluster.pod("b2")["ip"]
    other = Recorder(cluster, "b1", "0.0.0.0", 7780)
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "twice-block", b2, 7777, b1, 7780, "--send", mark.hex())
    assert r["first"] is None and r["second"] == "EISCONN", r
    assert other.result() == [], "B got a connection"
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_disconnect_then_connect_elsewhere(cluster, b2_listener):
    # connect(A); connect(AF_UNSPEC) disconnects the TCP socket; connect(B):
    # the second connect is captured like the first
    b1, b2 = cluster.pod("b1")["ip"], cluster.pod("b2")["ip"]
    first = Recorder(cluster, "b1", "0.0.0.0", 7780)
    mark = marker()
    before = len(dest_lines(cluster, "n2"))
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "reconnect", b1, 7780, b2, 7777, "--send", mark.hex())
    assert r["first"] is None and r["unspec"] is None and r["second"] is None, r
    for c in first.result():   # A: at most the empty first connection, via the agent
        assert c["data"] == "" and c["peer"].startswith(b1 + ":"), c
    assert_delivered_by_agent(cluster, b2_listener.result(), mark)
    wait_mesh_arrival(cluster, "n2", f"{b2}:7777", before)
    assert_no_plaintext(cap, mark)


def test_tcp_fast_open_connect_inside_sendto(cluster, b2_listener):
    b2 = cluster.pod("b2")["ip"]
    mark = marker()
    with cluster.capture("n1") as cap:
        r = tool(cluster, "a1", "fastopen", b2, 7777, "--send", mark.hex())
    assert r["send"] in (None, "EINPROGRESS"), r
    conns = b2_listener.result()
    own = cluster.pod("b2")["ip"]
    for c in conns:   # whatever arrived came from the agent
        assert c["peer"].startswith(own + ":"), conns
    assert_no_plaintext(cap, mark)


def test_udp_is_left_alone_and_still_works(cluster):
    b2 = cluster.pod("b2")["ip"]
    rec = Recorder(cluster, "b2", "0.0.0.0", 7781, seconds=5, udp=True)
    mark = marker()
    r = tool(cluster, "a1", "udp", b2, 7781, "--send", mark.hex())
    assert r["connect"] is None and bytes.fromhex(r["reply"]) == mark, r
    got = rec.result()
    assert [bytes.fromhex(d["data"]) for d in got] == [mark], got
    assert got[0]["peer"].startswith(cluster.pod("a1")["ip"] + ":"), got
    # and TCP from the same pod is still captured
    r = cluster.connect("a1", cluster.pod("b2")["service_ip"], 9090, b"after-udp",
                        until="after-udp", read_s=5)
    assert r["ok"] and r["data"].startswith(b"b2 "), r


# ---- IPv6: ULA addresses the test gives a1 and b2 (and the nodes' routes) ----

ULA = {"link_n1": "fd00:77::1", "link_n2": "fd00:77::2", "br_n1": "fd00:1::1", "br_n2": "fd00:2::1",
       "a1": "fd00:1::11", "b2": "fd00:2::12"}


def _ip(*argv):
    import subprocess
    r = subprocess.run(["ip"] + list(argv), capture_output=True, text=True)
    assert r.returncode == 0, (argv, r.stderr)


@pytest.fixture
def ipv6(cluster):
    import subprocess
    n1, n2 = cluster.node("n1")["netns"], cluster.node("n2")["netns"]
    link = cluster.s["link"]
    undo = []
    try:
        for ns, dev, addr in ((n1, link, ULA["link_n1"]), (n2, link, ULA["link_n2"]),
                              (n1, "br0", ULA["br_n1"]), (n2, "br0", ULA["br_n2"]),
                              (cluster.netns("a1"), "eth0", ULA["a1"]),
                              (cluster.netns("b2"), "eth0", ULA["b2"])):
            _ip("-n", ns, "addr", "add", f"{addr}/64", "dev", dev, "nodad")
            undo.append(["-n", ns, "addr", "del", f"{addr}/64", "dev", dev])
        for ns, dst, via in ((n1, "fd00:2::/64", ULA["link_n2"]), (n2, "fd00:1::/64", ULA["link_n1"]),
                             (cluster.netns("a1"), "default", ULA["br_n1"]),
                             (cluster.netns("b2"), "default", ULA["br_n2"])):
            _ip("-n", ns, "-6", "route", "replace", dst, "via", via)
            undo.append(["-n", ns, "-6", "route", "del", dst, "via", via])
        for ns in (n1, n2):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.all.forwarding=1"], check=True)
        yield ULA
    finally:
        for argv in reversed(undo):
            subprocess.run(["ip"] + argv, capture_output=True)


def test_ipv6_to_a_pod_outside_the_mesh_view_is_still_captured(cluster, ipv6):
    # the ULA addresses are not in any Workload: connect6 still hands the
    # connection to the agent ([::1]:15001), which reports it as a1's
    rec = Recorder(cluster, "b2", "::", 7779)
    mark = marker()
    nsrc = len(src_lines(cluster, "n1"))
    r = tool(cluster, "a1", "send", ipv6["b2"], 7779, "--send", mark.hex())
    assert r["connect"] is None, r
    assert r["local"].startswith("::1:"), f"not handed to the agent's [::1]:15001: {r}"
    wait_for(lambda: any(e.get("original_dst") == f"[{ipv6['b2']}]:7779" and e.get("src_workload") == "a1"
                         for e in src_lines(cluster, "n1")[nsrc:]), 10,
             what="n1's agent to report a1 -> [b2]:7779")
    rec.result()


WL_V6 = """apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: {name}
  namespace: default
  labels: {{app: {app}, version: {version}, instance: {name}}}
spec:
  serviceAccount: {sa}
  node: {node}
  addresses: [{ip}, "{ip6}"]
  netns: {netns}
  cgroup: {cgroup}
"""


def test_ipv6_to_a_mesh_workloads_ipv6_address(cluster, ipv6):
    # b2 (and a1) get their ULA address in their Workload: a1's IPv6
    # connect to it must cross as mTLS, like IPv4
    path = os.path.join(cluster.s["control"]["config"], "workloads.yaml")
    orig = open(path).read()
    docs = []
    for name in ("a1", "b2"):
        p = cluster.pod(name)
        docs.append(WL_V6.format(name=name, app=p["app"], version=p["version"], sa=p["service_account"],
                                 node=p["node"], ip=p["ip"], ip6=ipv6[name],
                                 netns=f"/var/run/netns/{p['netns']}", cgroup=p["cgroup"]))
    # the demo's workloads.yaml with a1 and b2 replaced
    kept = [d for d in orig.split("\n---\n") if "kind: Workload" not in d or
            not any(f"name: {n}\n" in d for n in ("a1", "b2"))]
    try:
        gens = {n: cluster.generation(n) for n in ("n1", "n2")}
        cluster.write_config("workloads.yaml", "\n---\n".join(kept + docs))
        for n in ("n1", "n2"):
            cluster.wait_generation_after(n, gens[n])
        rec = Recorder(cluster, "b2", "::", 7779)
        mark = marker()
        before = len(dest_lines(cluster, "n2"))
        with cluster.capture("n1") as cap:
            r = tool(cluster, "a1", "send", ipv6["b2"], 7779, "--send", mark.hex())
        assert r["connect"] is None, r
        conns = rec.result()
        assert [c for c in conns if bytes.fromhex(c["data"]) == mark], conns
        for c in conns:
            assert c["peer"].rsplit(":", 1)[0] == ipv6["b2"], conns
        wait_mesh_arrival(cluster, "n2", f"[{ipv6['b2']}]:7779", before)
        assert_no_plaintext(cap, mark)
    finally:
        gens = {n: cluster.generation(n) for n in ("n1", "n2")}
        cluster.write_config("workloads.yaml", orig)
        for n in ("n1", "n2"):
            cluster.wait_generation_after(n, gens[n])


# ---- item 4: the agent's ports and other workloads' agent listeners ----

HTTP_PROBE = b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n"
BANNERS = (b"a1 ", b"a2 ", b"b1 ", b"b2 ")


def test_pod_cannot_reach_the_agent_admin_or_metrics(cluster):
    n1 = cluster.node("n1")
    admin_ip, admin_port = n1["admin"].rsplit(":", 1)
    metrics_ip, metrics_port = n1["metrics"].rsplit(":", 1)
    # positive control: the agent does serve them (from the host netns)
    assert cluster.admin("n1", "/healthz")[0] == 200
    for ip, port in (("127.0.0.1", admin_port), ("127.0.0.1", metrics_port),
                     (admin_ip, admin_port), (metrics_ip, metrics_port),
                     (n1["address"], admin_port), (n1["address"], metrics_port)):
        r = tool(cluster, "a1", "send", ip, port, "--send", HTTP_PROBE.hex(), "--read-s", 1)
        assert r["connect"] == "EPERM", (ip, port, r)


@pytest.mark.parametrize("port", [15001, 15006, 15008])
@pytest.mark.parametrize("pod", ["a2", "b2"])
def test_pod_cannot_use_another_workloads_agent_listener(cluster, pod, port):
    ip = cluster.pod(pod)["ip"]
    r = tool(cluster, "a1", "send", ip, port, "--send", HTTP_PROBE.hex(), "--read-s", 2)
    data = bytes.fromhex(r["data"])
    # refused, or captured and closed: nothing answered
    assert not any(b in data for b in BANNERS), r
    assert b"HTTP/1." not in data, r
    for node in ("n1", "n2"):
        assert cluster.admin(node, "/healthz")[0] == 200
    ok = cluster.connect("a1", cluster.pod(pod)["service_ip"], 9090, b"after", until="after", read_s=5)
    assert ok["ok"] and ok["data"].startswith(pod.encode() + b" "), ok


HOST_WL = """apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: h9
  namespace: default
  labels: {{app: host9}}
spec:
  serviceAccount: host9
  node: n1
  addresses: [{addr}]
  cgroup: {cgroup}
"""


def test_host_workload_cannot_reach_the_agent_ports(cluster):
    import subprocess
    n1 = cluster.node("n1")
    cg = os.path.join(cluster.s["cgroup_root"], "h9")
    os.mkdir(cg)
    pin = os.path.join(cluster.bpf_pin_dir("n1"), "wl", "default_h9")
    admin_ip, admin_port = n1["admin"].rsplit(":", 1)

    def probe(ip, port, join=True, netns=True):
        argv = [PY, TOOL, "send", ip, str(port), "--send", HTTP_PROBE.hex(), "--read-s", "2", "--no-shut"]
        if netns:
            argv = ["ip", "netns", "exec", n1["netns"]] + argv
        if join:
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg] + argv
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        gen = cluster.generation("n1")
        cluster.write_config("zz-host9.yaml", HOST_WL.format(addr=n1["address"], cgroup=cg))
        cluster.wait_generation_after("n1", gen)
        wait_for(lambda: os.path.exists(os.path.join(pin, "connect4")), 10, what="h9's links")
        # in the node netns: the node address and loopback, every agent port
        for ip in (n1["address"], "127.0.0.1"):
            for port in (admin_port, 15020, 15001, 15006, 15008):
                r = probe(ip, port)
                assert r["connect"] == "EPERM", (ip, port, r)
        # where the agent's admin really listens (the host netns): refused
        # to the enrolled process, served to the same command outside it
        r = probe(admin_ip, admin_port, netns=False)
        assert r["connect"] == "EPERM", r
        r = probe(admin_ip, admin_port, join=False, netns=False)
        assert r["connect"] is None and b" 200 " in bytes.fromhex(r["data"]).split(b"\r\n")[0], r
    finally:
        gen = cluster.generation("n1")
        cluster.remove_config("zz-host9.yaml")
        cluster.wait_generation_after("n1", gen)
        wait_for(lambda: not os.path.exists(pin), 10, what="h9's pins to go")
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except FileNotFoundError:
                break
            except OSError:
                import time
                time.sleep(0.1)
