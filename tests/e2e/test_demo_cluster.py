"""`weft demo up/down` without agents (the topology, control, pod servers,
cgroups, config) and `weft echo`. The agent acceptance tests build on the
same fixture (tests/e2e/cluster.py)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from cluster import Cluster, unique_prefix

CLUSTER_OPTS = {"agents": False}


def test_pods_reach_each_other_across_nodes(cluster):
    # a1 (n1) -> b2 (n2) directly by pod IP: routed through both nodes
    r = cluster.connect("a1", cluster.pod("b2")["ip"], 9090, b"ping-xyz", until="ping-xyz")
    assert r["ok"], r
    line, rest = r["data"].split(b"\n", 1)
    assert line.startswith(b"b2 10.1.1.11:"), r        # banner: server name, client as seen
    assert rest == b"ping-xyz"
    # same node, http mode: the body names the server and the client
    r = cluster.exec_in("b1", ["curl", "-sS", "-m", "5", "-i", "http://10.1.2.12:8080/p?q=1"])
    out = r.stdout.decode()
    assert r.returncode == 0 and "HTTP/1.1 200" in out, out
    body = out.split("\r\n\r\n", 1)[1]
    assert body == "b2 10.1.2.11:" + body.split(":", 1)[1] and body.endswith(" GET /p?q=1\n"), body
    assert f"Content-Length: {len(body)}" in out


def test_node_addresses_and_routes(cluster):
    for n in ("n1", "n2"):
        r = cluster.exec_in(n, ["ip", "-4", "-o", "addr"])
        out = r.stdout.decode()
        assert cluster.node(n)["address"] + "/24" in out and cluster.node(n)["bridge_ip"] + "/24" in out
        r = cluster.exec_in(n, ["cat", "/proc/sys/net/ipv4/ip_forward"])
        assert r.stdout.strip() == b"1"


def test_pod_servers_run_in_their_cgroups(cluster):
    for p in cluster.s["pods"]:
        if not p["cgroup"]:
            pytest.skip("no cgroup v2 on this machine")
        pids = open(os.path.join(p["cgroup"], "cgroup.procs")).read().split()
        assert pids, p
        for pid in pids:
            assert os.stat(f"/var/run/netns/{p['netns']}").st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino


def test_config_is_valid_and_served(cluster, weft_bin):
    r = subprocess.run([weft_bin, "check", cluster.s["control"]["config"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 Node, 4 Workload, 6 Service, 1 HTTPRoute, 0 GRPCRoute, 1 DestinationPolicy" in r.stdout
    st, body = cluster.control_admin("/readyz")
    assert st == 200, body


def test_up_twice_refused_and_down_idempotent(weft_bin):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tempfile.mkdtemp(prefix="weft-demo-")
    c = Cluster(weft_bin, unique_prefix("d"), os.path.join(root, "s"), agents=False, workloads=False)
    try:
        c.up()
        r = subprocess.run([weft_bin, "demo", "up", "--name", c.prefix, "--dir", os.path.join(root, "s2"),
                            "--no-agents"], capture_output=True, text=True)
        assert r.returncode == 1 and "exists already" in r.stderr, r.stderr
        assert c.control_admin("/readyz")[0] == 200        # the first one is untouched
    finally:
        r1 = c.down()
        r2 = c.down()
        left = c.leftovers()
        shutil.rmtree(root, ignore_errors=True)
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr, r2.stderr)
    assert not left


def test_failed_up_rolls_back(weft_bin):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tempfile.mkdtemp(prefix="weft-demo-")
    c = Cluster(weft_bin, unique_prefix("f"), os.path.join(root, "s"), agents=False)
    # the control's admin address is taken: control cannot start
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.9.1", 15014))
        blocker.listen(1)
        r = subprocess.run([weft_bin, "demo", "up", "--name", c.prefix, "--dir", c.dir, "--no-agents",
                            "--loopback", "127.0.9", "--timeout", "5"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "control.log" in r.stderr and "rolled back" in r.stderr, r.stderr
        # nothing but the logs is left; down removes those
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"{c.prefix}-n1" not in netns
    finally:
        blocker.close()
        c.down()
        left = c.leftovers()
        shutil.rmtree(root, ignore_errors=True)
    assert not left


def test_bad_arguments(weft_bin):
    for argv, msg in ((["up", "--name", "Bad_Name"], "--name"),
                      (["up", "--cert-ttl", "5s"], "--cert-ttl"),
                      (["sideways"], "unknown action"),
                      (["down", "--no-agents"], "down takes only")):
        r = subprocess.run([weft_bin, "demo"] + argv, capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr, (argv, r.stderr)


def test_echo_many_connections_and_modes(weft_bin):
    port = 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([weft_bin, "echo", "--listen", f"127.0.0.1:{port}", "--mode", "banner",
                          "--name", "e1"], stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in p.stdout.readline()
        socks = []
        for _ in range(2000):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for i, s in enumerate(socks):
            buf = b""
            while not buf.endswith(b"\n"):
                buf += s.recv(100)
            assert buf.startswith(b"e1 127.0.0.1:")
            s.sendall(b"m%d" % i)
        for i, s in enumerate(socks):
            want = b"m%d" % i
            got = b""
            while len(got) < len(want):
                got += s.recv(100)
            assert got == want
            s.close()
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_echo_bad_arguments(weft_bin):
    for argv in (["--mode", "x", "--listen", "127.0.0.1:1"], [], ["--listen", "nonsense"]):
        r = subprocess.run([weft_bin, "echo"] + argv, capture_output=True, text=True)
        assert r.returncode in (1, 2) and "weft echo" in r.stderr, (argv, r.stderr)
