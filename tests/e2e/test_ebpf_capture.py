"""eBPF capture (issue 4): the two-node cluster with `--capture ebpf`. (Bypass
attempts and the agent ports: test_ebpf_bypass.py.)

Pod processes run in their pod's cgroup (cluster.py joins it for every
command in a pod), which is what the cgroup connect hooks follow. Checks:
traffic across nodes with no nftables rule of ours in any pod; the agent
stopped -> captured connections refused both ways (fail closed); restarted
-> capture resumes with no manual step; a host workload (cgroup, no netns)
captured by its cgroup; a workload removed from the config leaves nothing
pinned. The cluster fixture removes the pins (weft demo down) and checks
that nothing is left, whatever the outcome. Root only."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from cluster import PODTOOL, PY, wait_for

CLUSTER_OPTS = {"capture": "ebpf"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def banner(cluster, pod, ip, port=9090):
    marker = ("M-" + uuid.uuid4().hex).encode()
    r = cluster.connect(pod, ip, port, marker, until=marker.decode(), read_s=5)
    return r


def agent_pid(cluster, node):
    with open(cluster.node(node)["pidfile"]) as f:
        return int(f.read().split()[0])


def healthy(cluster, node):
    st, _ = cluster.admin(node, "/healthz")
    return st == 200


def log_text(cluster, node):
    with open(cluster.node(node)["log"], errors="replace") as f:
        return f.read()


def test_chosen_backend_is_logged(cluster):
    assert "capture: ebpf" in log_text(cluster, "n1")


def test_pod_to_service_across_nodes_without_nft(cluster):
    r = banner(cluster, "a1", cluster.pod("b2")["service_ip"])
    assert r["ok"], r
    assert r["data"].startswith(b"b2 "), r
    r = banner(cluster, "b1", cluster.pod("a2")["service_ip"])
    assert r["ok"] and r["data"].startswith(b"a2 "), r
    for p in cluster.s["pods"]:
        rules = cluster.exec_in(p["name"], ["nft", "list", "ruleset"]).stdout.decode()
        assert "weft" not in rules, (p["name"], rules)
        wl = os.path.join(cluster.bpf_pin_dir(p["node"]), "wl", f"{p['namespace']}_{p['name']}")
        assert sorted(os.listdir(wl)) == ["connect4", "connect6", "sk_lookup", "sockops"], wl


def test_same_node_pod_to_pod_is_captured(cluster):
    # a2's address is local to n1 but not to a1: a1's connect to it is
    # captured (tunnelled by the agent), unlike a1's own address
    def sourced():
        return sum(1 for ln in log_text(cluster, "n1").splitlines()
                   if '"reporter":"destination"' in ln and '"src_workload":"a1"' in ln
                   and '"dst_workload":"a2"' in ln and '"mutual_tls"' in ln)
    before = sourced()
    r = banner(cluster, "a1", cluster.pod("a2")["ip"])
    assert r["ok"] and r["data"].startswith(b"a2 "), r
    wait_for(lambda: sourced() > before, 10, what="a2 to get a1's connection through mTLS")


def test_agent_ports_refused_to_workloads(cluster):
    # the agent's own listeners are not for the workloads: EPERM at connect
    for port in (15001, 15006, 15008):
        r = cluster.connect("a1", "127.0.0.1", port, read_s=0.5)
        assert not r["ok"] and "not permitted" in r["error"].lower(), (port, r)
    # any other loopback port is the pod's own business (not captured)
    r = cluster.connect("a1", "127.0.0.1", 9090, b"x", until="x", read_s=3)
    assert r["ok"] and r["data"].startswith(b"a1 "), r


def test_inbound_plaintext_is_steered_to_the_agent(cluster):
    # from the node netns (not enrolled) straight to pod a2's address: the
    # sk_lookup program hands it to n1's agent, which logs it as destination
    before = log_text(cluster, "n1").count('"reporter":"destination"')
    r = cluster.connect("n1", cluster.pod("a2")["ip"], 9090, b"x", until="x", read_s=5)
    assert r["ok"] and r["data"].startswith(b"a2 "), r
    wait_for(lambda: log_text(cluster, "n1").count('"reporter":"destination"') > before, 10,
             what="n1's agent to log the inbound connection")


def test_fail_closed_then_capture_resumes_after_restart(cluster):
    pid = agent_pid(cluster, "n1")
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10, what="the agent to stop")
    # outbound from a1: rewritten to the agent's listener, which is gone
    r = banner(cluster, "a1", cluster.pod("b2")["service_ip"])
    assert not r["ok"], r
    assert "refused" in r["error"].lower(), r
    # inbound to a2 (plaintext from the node netns): sk_lookup finds no socket
    r = cluster.connect("n1", cluster.pod("a2")["ip"], 9090, b"x", read_s=1)
    assert not r["ok"], r
    # pins stay while no agent runs
    assert os.path.exists(os.path.join(cluster.bpf_pin_dir("n1"), "wl", "default_a1", "connect4"))
    # the same agent again: capture back with no manual step
    log = open(cluster.node("n1")["log"], "ab")
    p = subprocess.Popen([a.decode() for a in argv], stdout=log, stderr=log, start_new_session=True)
    cluster._procs.append(p)
    wait_for(lambda: healthy(cluster, "n1"), 30, interval=0.2, what="the restarted agent")
    r = wait_for(lambda: (lambda x: x if x["ok"] else None)(
        banner(cluster, "a1", cluster.pod("b2")["service_ip"])), 20, interval=0.5,
        what="capture to resume")
    assert r["data"].startswith(b"b2 "), r


HOST_WL = """apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: h1
  namespace: default
  labels: {{app: host}}
spec:
  serviceAccount: client
  node: n1
  addresses: [{addr}]
  cgroup: {cgroup}
"""


def map_keys(pin):
    r = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", pin], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [e.get("key") for e in json.loads(r.stdout)]


def test_host_workload_captured_by_cgroup_and_removed_cleanly(cluster):
    cg = os.path.join(cluster.s["cgroup_root"], "h1")
    os.mkdir(cg)
    pin = os.path.join(cluster.bpf_pin_dir("n1"), "wl", "default_h1")
    try:
        gen = cluster.generation("n1")
        cluster.write_config("zz-host.yaml", HOST_WL.format(addr=cluster.node("n1")["address"], cgroup=cg))
        cluster.wait_generation_after("n1", gen)
        wait_for(lambda: os.path.exists(os.path.join(pin, "connect4")), 10, what="h1's links")
        # a process in h1's cgroup, in the node netns: captured by its cgroup
        marker = "M-" + uuid.uuid4().hex
        cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg,
               "ip", "netns", "exec", cluster.node("n1")["netns"], PY, PODTOOL, "connect",
               cluster.pod("b2")["service_ip"], "9090", "--send", marker.encode().hex(),
               "--until", marker, "--read-s", "5", "--timeout", "5"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert r["ok"], (r, out.stderr)
        assert bytes.fromhex(r["data"]).startswith(b"b2 "), r
        wait_for(lambda: '"src_workload":"h1"' in log_text(cluster, "n1"), 10,
                 what="n1's agent to name h1 as the source")
        cgid = os.stat(cg).st_ino
        keys = map_keys(os.path.join(cluster.bpf_pin_dir("n1"), "map_wl_cgroups"))
        assert any(int.from_bytes(bytes(int(b, 16) for b in k), "little") == cgid for k in keys), keys
        # removed from the config: links detached, nothing of it pinned
        gen = cluster.generation("n1")
        cluster.remove_config("zz-host.yaml")
        cluster.wait_generation_after("n1", gen)
        wait_for(lambda: not os.path.exists(pin), 10, what="h1's pins to go")
        keys = map_keys(os.path.join(cluster.bpf_pin_dir("n1"), "map_wl_cgroups"))
        assert not any(int.from_bytes(bytes(int(b, 16) for b in k), "little") == cgid for k in keys)
        # and its processes are no longer captured: the VIP leads nowhere
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert not r["ok"] or not bytes.fromhex(r["data"]).startswith(b"b2 "), r
    finally:
        cluster.remove_config("zz-host.yaml")
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def stop_agent(cluster, node):
    """SIGTERM to node's agent (the demo's or one a test started); returns its argv."""
    procs = [p for p in cluster._procs if p.poll() is None and
             any(f"--node-netns" in a for a in p.args) and cluster.node(node)["netns"] in " ".join(p.args)]
    pid = procs[-1].pid if procs else agent_pid(cluster, node)
    argv = [a.decode() for a in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10, what="the agent to stop")
    for p in procs:
        p.wait()
    return argv


def start_agent(cluster, node, argv):
    log = open(cluster.node(node)["log"], "ab")
    p = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    cluster._procs.append(p)
    wait_for(lambda: healthy(cluster, node), 30, interval=0.2, what="the restarted agent")


def test_fail_open_lets_traffic_bypass_once_the_heartbeat_is_stale(cluster):
    argv = [a for a in stop_agent(cluster, "n1") if a not in ("--capture-failure", "open")]
    start_agent(cluster, "n1", argv + ["--capture-failure", "open"])
    try:
        stop_agent(cluster, "n1")
        # outbound: once the heartbeat is older than 2 s, straight to b2's
        # address (n2's agent still takes it in, as plaintext)
        r = wait_for(lambda: (lambda x: x if x["ok"] else None)(
            banner(cluster, "a1", cluster.pod("b2")["ip"])), 15, interval=0.5,
            what="outbound to bypass the stopped agent")
        assert r["data"].startswith(b"b2 "), r
        # inbound: no listener in the SOCKHASH -> straight to a2's server
        r = cluster.connect("n1", cluster.pod("a2")["ip"], 9090, b"x", until="x", read_s=3)
        assert r["ok"] and r["data"].startswith(b"a2 "), r
    finally:
        start_agent(cluster, "n1", argv)   # back to fail closed for whatever follows


HOST_SVC = """apiVersion: weft.dev/v1alpha1
kind: Workload
metadata:
  name: h2
  namespace: default
  labels: {{app: hostsvc}}
spec:
  serviceAccount: hostsvc
  node: n1
  addresses: [{addr}]
  cgroup: {cgroup}
---
apiVersion: v1
kind: Service
metadata:
  name: hostsvc
  namespace: default
spec:
  clusterIP: 10.96.0.60
  selector: {{app: hostsvc}}
  ports:
  - {{name: banner, port: 7070, targetPort: 7070, appProtocol: tcp}}
"""
HOST_PRINCIPAL = "spiffe://cluster.local/ns/default/sa/hostsvc"


def conn_logs(cluster, node, reporter):
    return [json.loads(ln[ln.index("{"):]) for ln in log_text(cluster, node).splitlines()
            if '"type":"connection"' in ln and f'"reporter":"{reporter}"' in ln]


def test_host_workload_calls_a_pod_and_is_called_back_with_its_own_identity(cluster):
    # issue 4, item 2: a process group in n1's netns, enrolled by its cgroup
    # with its own service account, calls pod b2 through the mesh (n2's
    # agent names its principal, over mTLS), and pod b1 calls its server
    # back through a Service (n1's agent delivers it over mTLS)
    cg = os.path.join(cluster.s["cgroup_root"], "h2")
    os.mkdir(cg)
    n1 = cluster.node("n1")
    pin = os.path.join(cluster.bpf_pin_dir("n1"), "wl", "default_h2")
    in_cg = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, "ip", "netns", "exec", n1["netns"]]
    srv = None
    try:
        gens = {n: cluster.generation(n) for n in ("n1", "n2")}
        cluster.write_config("zz-hostsvc.yaml", HOST_SVC.format(addr=n1["address"], cgroup=cg))
        for n in ("n1", "n2"):
            cluster.wait_generation_after(n, gens[n])
        wait_for(lambda: os.path.exists(os.path.join(pin, "connect4")), 10, what="h2's links")
        srv = subprocess.Popen(in_cg + [cluster.weft, "echo", "--listen", "0.0.0.0:7070", "--name", "h2",
                                        "--mode", "banner"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
        cluster._procs.append(srv)
        assert b"listening" in srv.stdout.readline()
        # out: host -> b2's Service
        before = len(conn_logs(cluster, "n2", "destination"))
        marker = "M-" + uuid.uuid4().hex
        out = subprocess.run(in_cg + [PY, PODTOOL, "connect", cluster.pod("b2")["service_ip"], "9090",
                                      "--send", marker.encode().hex(), "--until", marker,
                                      "--read-s", "5", "--timeout", "5"],
                             capture_output=True, text=True, timeout=60)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert r["ok"] and bytes.fromhex(r["data"]).startswith(b"b2 "), (r, out.stderr)
        wait_for(lambda: [e for e in conn_logs(cluster, "n2", "destination")[before:]
                          if e["src_workload"] == "h2" and e["src_principal"] == HOST_PRINCIPAL
                          and e["dst_workload"] == "b2"
                          and e["connection_security_policy"] == "mutual_tls"], 10,
                 what="n2's agent to log h2 (its own principal) over mTLS")
        # back: pod b1 (on n2) -> the host workload's Service
        before = len(conn_logs(cluster, "n1", "destination"))
        r = banner(cluster, "b1", "10.96.0.60", 7070)
        assert r["ok"] and r["data"].startswith(b"h2 "), r
        wait_for(lambda: [e for e in conn_logs(cluster, "n1", "destination")[before:]
                          if e["src_workload"] == "b1" and e["dst_workload"] == "h2"
                          and e["dst_principal"] == HOST_PRINCIPAL
                          and e["connection_security_policy"] == "mutual_tls"], 10,
                 what="n1's agent to deliver b1 -> h2 over mTLS")
    finally:
        if srv and srv.poll() is None:
            os.killpg(srv.pid, signal.SIGKILL)
            srv.wait()
        gen = cluster.generation("n1")
        cluster.remove_config("zz-hostsvc.yaml")
        try:
            cluster.wait_generation_after("n1", gen)
            wait_for(lambda: not os.path.exists(pin), 10, what="h2's pins to go")
        finally:
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
