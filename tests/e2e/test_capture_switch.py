"""Switching an agent's capture mode never leaves the other mode behind
(it would capture twice): nftables to eBPF removes the pods' `weft` tables,
eBPF back to nftables removes the pinned programs."""
import json
import os
import signal

from cluster import wait_for

CLUSTER_OPTS = {"capture": "nft"}


def nft_tables(cluster, pod):
    r = cluster.exec_in(cluster.netns(pod), ["nft", "list", "tables"], check=True)
    return r.stdout.decode()


def restart_with_capture(cluster, node, mode):
    name = f"agent-{node}"
    argv = cluster.kill_agent(node, signal.SIGTERM)
    i = argv.index("--capture")
    argv[i + 1] = mode
    with open(os.path.join(cluster.dir, f"{name}.argv"), "w") as f:
        json.dump(argv, f)
    cluster.start_agent(node)


def banner_from(cluster, pod, vip):
    r = cluster.connect(pod, vip, 9090, b"switch", until="switch", read_s=5)
    assert r["ok"] and r["data"].endswith(b"switch"), r
    return r["data"].split(b" ")[0].decode()


def test_nft_to_ebpf_and_back(cluster):
    assert "table inet weft" in nft_tables(cluster, "a1")
    state = cluster.node("n1")["state_dir"]
    assert os.path.exists(os.path.join(state, "capture-nft"))

    restart_with_capture(cluster, "n1", "ebpf")
    for pod in ("a1", "a2"):
        wait_for(lambda: "table inet weft" not in nft_tables(cluster, pod), 10,
                 what=f"{pod}'s nftables capture to be removed")
    assert not os.path.exists(os.path.join(state, "capture-nft"))
    # eBPF now carries a1's traffic (pod commands join the pod's cgroup)
    cluster.capture_mode = "ebpf"
    try:
        assert banner_from(cluster, "a1", cluster.pod("b2")["service_ip"]) == "b2"
    finally:
        cluster.capture_mode = "nft"

    restart_with_capture(cluster, "n1", "nft")
    assert "table inet weft" in nft_tables(cluster, "a1")
    # this cluster's pin directory only (other clusters may run meanwhile)
    pin = os.path.join("/sys/fs/bpf/weft", f"{cluster.prefix}-n1")
    if os.path.isdir(pin):
        assert not os.listdir(pin), f"eBPF capture left pinned after switching to nft: {pin}"
    assert banner_from(cluster, "a1", cluster.pod("b2")["service_ip"]) == "b2"
