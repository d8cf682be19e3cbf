"""The in-pod capture rules (src/agent/nft.c) and sockets opened inside a
network namespace from outside it (src/agent/netns.c), through the hidden
`weft agent-debug` command.

Each test builds its own pair of network namespaces joined by a veth pair
("pod" 10.213.N.1 / fd00:213:N::1 and "peer" 10.213.N.2 / fd00:213:N::2),
with names unique to the test, and deletes them (with everything inside:
rules, sockets) whatever the outcome. Root only."""
import json
import os
import select
import shutil
import subprocess
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def sh(*args, check=True, timeout=20):
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


class Pair:
    """Two namespaces on a veth; `pod` gets the capture rules."""

    def __init__(self):
        tag = uuid.uuid4().hex[:8]
        self.pod = f"wdp-{tag}-pod"
        self.peer = f"wdp-{tag}-peer"
        self.n = int(tag[:2], 16)
        self.pod_ip, self.peer_ip = f"10.213.{self.n}.1", f"10.213.{self.n}.2"
        self.pod_ip6, self.peer_ip6 = f"fd00:213:{self.n:x}::1", f"fd00:213:{self.n:x}::2"
        self.procs = []
        va, vb = f"wdpa{tag}", f"wdpb{tag}"
        sh("ip", "netns", "add", self.pod)
        sh("ip", "netns", "add", self.peer)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", self.pod)
        sh("ip", "link", "set", vb, "netns", self.peer)
        for ns, dev, ip, ip6 in ((self.pod, va, self.pod_ip, self.pod_ip6),
                                 (self.peer, vb, self.peer_ip, self.peer_ip6)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # both ends up (carrier) and the v6 prefix routes in place before use
        for ns, dev, net6 in ((self.pod, va, self.pod_ip6), (self.peer, vb, self.peer_ip6)):
            for _ in range(100):
                link = sh("ip", "-n", ns, "-o", "link", "show", "dev", dev).stdout
                route = sh("ip", "-n", ns, "-6", "route", "get", net6.replace("::1", "::9").replace("::2", "::9"),
                           check=False).stdout
                if "LOWER_UP" in link and f"dev {dev}" in route:
                    break
                time.sleep(0.05)

    def path(self, ns):
        return f"/var/run/netns/{ns}"

    def start(self, *args):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        for ns in (self.pod, self.peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def pair():
    if shutil.which("nft") is None:
        pytest.fail("nft not found: run 'make deps'")
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def readline(p, timeout=10):
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        raise AssertionError(f"no output from {p.args} within {timeout}s")
    line = p.stdout.readline()
    if not line:
        raise AssertionError(f"{p.args} exited: {p.stderr.read()}")
    return line.strip()


def listen(pair, weft_bin):
    """The capture listeners inside the pod, opened from the root netns."""
    p = pair.start(weft_bin, "agent-debug", "capture-listen", pair.path(pair.pod))
    assert readline(p) == "ready"
    return p


def client(pair, ns, addr, port, v6=False):
    """A plain connect from inside ns (what an application in the pod does);
    returns what the server said."""
    fam = "AF_INET6" if v6 else "AF_INET"
    code = ("import socket,sys\n"
            f"s=socket.socket(socket.{fam});s.settimeout(5)\n"
            f"s.connect(('{addr}',{port}));s.sendall(b'hi\\n');s.shutdown(1)\n"
            "d=b''\nwhile True:\n  c=s.recv(4096)\n  if not c: break\n  d+=c\n"
            "sys.stdout.write(d.decode())\n")
    return sh("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code).stdout


def server(pair, ns, addr, port, reply, v6=False):
    """A one-reply-per-connection TCP server inside ns (prints 'up' when bound)."""
    fam = "AF_INET6" if v6 else "AF_INET"
    code = ("import socket,sys\n"
            f"s=socket.socket(socket.{fam});s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('{addr}',{port}));s.listen(8);print('up',flush=True)\n"
            "while True:\n  c,_=s.accept();c.recv(100)\n"
            f"  c.sendall(b'{reply}\\n');c.close()\n")
    p = pair.start("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code)
    assert readline(p) == "up"
    return p


def install(weft_bin, pair):
    r = sh(weft_bin, "agent-debug", "nft-install", pair.path(pair.pod), check=False)
    assert r.returncode == 0, r.stderr


def ruleset(pair):
    return sh("ip", "netns", "exec", pair.pod, "nft", "list", "ruleset").stdout


def test_outbound_redirected_with_original_destination(pair, weft_bin):
    install(weft_bin, pair)
    lst = listen(pair, weft_bin)
    # nobody listens on the peer's :8080: the connection still succeeds,
    # because it lands on the agent's 15001 listener
    assert client(pair, pair.pod, pair.peer_ip, 8080) == "captured 15001\n"
    ev = json.loads(readline(lst))
    assert ev["port"] == 15001
    assert ev["orig_dst"] == f"{pair.peer_ip}:8080"
    assert ev["peer"].startswith(pair.pod_ip + ":")
    # IPv6 too, on [::1]:15001
    assert client(pair, pair.pod, pair.peer_ip6, 8081, v6=True) == "captured 15001\n"
    ev = json.loads(readline(lst))
    assert ev["port"] == 15001
    assert ev["orig_dst"] == f"[{pair.peer_ip6}]:8081"


def test_loopback_and_local_destinations_not_captured(pair, weft_bin):
    install(weft_bin, pair)
    listen(pair, weft_bin)
    server(pair, pair.pod, "127.0.0.1", 9000, "local-lo")
    server(pair, pair.pod, pair.pod_ip, 9001, "local-ip")
    assert client(pair, pair.pod, "127.0.0.1", 9000) == "local-lo\n"
    assert client(pair, pair.pod, pair.pod_ip, 9001) == "local-ip\n"


def test_marked_socket_not_redirected(pair, weft_bin):
    install(weft_bin, pair)
    lst = listen(pair, weft_bin)
    server(pair, pair.peer, pair.peer_ip, 8080, "real-server")
    # the agent's marked socket in the pod reaches the real server...
    r = sh(weft_bin, "agent-debug", "connect", pair.path(pair.pod), f"{pair.peer_ip}:8080", "0x539")
    assert r.stdout == "real-server\n"
    # ...and the same connect without the mark is captured
    r = sh(weft_bin, "agent-debug", "connect", pair.path(pair.pod), f"{pair.peer_ip}:8080", "0")
    assert r.stdout == "captured 15001\n"
    assert json.loads(readline(lst))["orig_dst"] == f"{pair.peer_ip}:8080"


def test_inbound_redirected_and_hbone_port_left_alone(pair, weft_bin):
    install(weft_bin, pair)
    lst = listen(pair, weft_bin)
    assert client(pair, pair.peer, pair.pod_ip, 9090) == "captured 15006\n"
    ev = json.loads(readline(lst))
    assert ev["port"] == 15006
    assert ev["orig_dst"] == f"{pair.pod_ip}:9090"
    assert ev["peer"].startswith(pair.peer_ip + ":")
    assert client(pair, pair.peer, pair.pod_ip6, 9091, v6=True) == "captured 15006\n"
    ev = json.loads(readline(lst))
    assert ev["port"] == 15006
    assert ev["orig_dst"] == f"[{pair.pod_ip6}]:9091"
    # 15008 reaches the in-pod HBONE listener itself, not redirected
    assert client(pair, pair.peer, pair.pod_ip, 15008) == "captured 15008\n"
    ev = json.loads(readline(lst))
    assert ev["port"] == 15008
    assert ev["orig_dst"] in (None, f"{pair.pod_ip}:15008")   # conntrack without NAT


def test_rules_replaced_idempotently_and_removed(pair, weft_bin):
    install(weft_bin, pair)
    first = ruleset(pair)
    install(weft_bin, pair)
    assert ruleset(pair) == first
    assert first.count("table inet weft") == 1
    assert first.count("redirect to :15001") == 1
    assert first.count("redirect to :15006") == 1
    # removing leaves nothing; removing again is fine
    for _ in range(2):
        r = sh(weft_bin, "agent-debug", "nft-remove", pair.path(pair.pod), check=False)
        assert r.returncode == 0, r.stderr
        assert "weft" not in ruleset(pair)
    # without rules nothing is captured: the connection is refused
    r = subprocess.run(["ip", "netns", "exec", pair.pod, "/usr/bin/python3", "-c",
                        f"import socket;socket.create_connection(('{pair.peer_ip}',8080),5)"],
                       capture_output=True, text=True, timeout=20)
    assert "ConnectionRefusedError" in r.stderr


def test_rules_stay_when_listener_gone(pair, weft_bin):
    """Fail closed: with the rules in place and no agent listening, captured
    connections are refused instead of leaving the pod in the clear."""
    install(weft_bin, pair)
    server(pair, pair.peer, pair.peer_ip, 8080, "real-server")
    r = subprocess.run(["ip", "netns", "exec", pair.pod, "/usr/bin/python3", "-c",
                        f"import socket;socket.create_connection(('{pair.peer_ip}',8080),5)"],
                       capture_output=True, text=True, timeout=20)
    assert "ConnectionRefusedError" in r.stderr


def test_bad_netns_is_a_clear_error(weft_bin, tmp_path):
    f = tmp_path / "not-a-netns"
    f.write_text("x")
    for path in (str(f), str(tmp_path / "missing"), str(tmp_path)):
        r = sh(weft_bin, "agent-debug", "nft-install", path, check=False)
        assert r.returncode == 1
        assert path in r.stderr
