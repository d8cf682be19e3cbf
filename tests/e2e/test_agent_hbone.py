"""Acceptance: the HBONE server only carries tunnels to its own node's
workloads, and pods cannot use the agent's in-pod ports to loop or spoof."""
import json
import os
import time

import pytest

from cluster import PY, wait_for

AGENTCERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agentcerts.py")
BANNERS = (b"a1 ", b"a2 ", b"b1 ", b"b2 ")


def workload_cred(cluster, node, ns, sa):
    d = cluster.node(node)["state_dir"]
    cert, key = os.path.join(d, f"wl-{ns}--{sa}-cert.pem"), os.path.join(d, f"wl-{ns}--{sa}-key.pem")
    wait_for(lambda: os.path.exists(cert) and os.path.exists(key), 15,
             what=f"{node}'s credential for {ns}/{sa}")
    return cert, key


def hbone_connect(cluster, cred, authority, sni="echo.default.svid.weft"):
    r = cluster.exec_in("n1", [PY, AGENTCERTS, "connect", cluster.node("n2")["address"], "15008",
                               sni, cred[0], cred[1], authority], timeout=30)
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def test_connect_to_local_workload_works(cluster):
    # the positive control: a valid client (sa client, from n1) to b2 on n2
    cred = workload_cred(cluster, "n1", "default", "client")
    r = hbone_connect(cluster, cred, f"{cluster.pod('b2')['ip']}:9090")
    assert r["status"] == 200, r


def test_connect_to_non_local_destination_is_400_and_not_dialled(cluster):
    cred = workload_cred(cluster, "n1", "default", "client")
    a2 = cluster.pod("a2")["ip"]          # a2 lives on n1, not on n2
    lst = cluster.popen_in("a2", [PY, os.path.join(os.path.dirname(AGENTCERTS), "podtool.py"),
                                  "listen", a2, "7777", "--seconds", "4"], text=True)
    assert json.loads(lst.stdout.readline())["event"] == "listening"
    r = hbone_connect(cluster, cred, f"{a2}:7777")
    assert r["status"] == 400, r
    res = json.loads(lst.stdout.readline())
    assert res["accepted"] == 0, res


def direct(cluster, pod, ip, port):
    r = cluster.connect(pod, ip, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nloop-probe", read_s=3)
    return r


@pytest.mark.parametrize("target", ["127.0.0.1:15001", "self:15006", "self:15008", "self:15001"])
def test_pod_cannot_use_agent_ports_directly(cluster, target):
    host, port = target.split(":")
    ip = cluster.pod("a1")["ip"] if host == "self" else host
    before = cluster.metric("n1", "istio_tcp_connections_opened_total")
    r = direct(cluster, "a1", ip, int(port))
    # refused or closed, and nothing answered: no workload got the bytes
    assert not any(b in r["data"] for b in BANNERS), r
    assert b"HTTP/1.1 200" not in r["data"], r
    assert (not r["ok"]) or r["eof"] or r["data"] == b"", r
    # the agent is still healthy and still carries real traffic
    assert cluster.admin("n1", "/healthz")[0] == 200
    ok = cluster.connect("a1", cluster.pod("a2")["service_ip"], 9090, b"after", until="after", read_s=3)
    assert ok["data"].startswith(b"a2 "), ok
    assert cluster.metric("n1", "istio_tcp_connections_opened_total") >= before
