"""The node agent and the control plane together (docs/agent.md): a real
`weft control` with its CA (--ca-dir, the mTLS port --xds-tls), join tokens
from `weft control token create`, and real `weft agent --capture none`
processes (the Workloads have no netns, so no capture is needed) read through
their admin endpoints (/certs, /healthz, /metrics).

Everything listens on 127.0.0.1; every process is stopped and every file
removed at teardown, whatever the outcome."""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
import urllib.error
import urllib.request

import pytest

from mesh import ProcessGroup, free_port, wait_for

TD = "cluster.local"
NODE_ID = "spiffe://cluster.local/weft/node/{}"
WL_ID = "spiffe://cluster.local/ns/{}/sa/{}"

# Two nodes; n1 runs echo (sa echo) and web (sa web, twice), n2 runs db.
CONFIG = """\
apiVersion: weft.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: 127.0.0.1}
---
apiVersion: weft.dev/v1alpha1
kind: Node
metadata: {name: n2}
spec: {address: 127.0.0.2}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: echo-a, namespace: default, labels: {app: echo}}
spec: {serviceAccount: echo, node: n1, addresses: [127.0.0.11]}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: web-a, namespace: shop, labels: {app: web}}
spec: {serviceAccount: web, node: n1, addresses: [127.0.0.12]}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: web-b, namespace: shop, labels: {app: web}}
spec: {serviceAccount: web, node: n1, addresses: [127.0.0.13]}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: db-a, namespace: shop, labels: {app: db}}
spec: {serviceAccount: db, node: n2, addresses: [127.0.0.14]}
"""

N1_WORKLOAD_IDS = {WL_ID.format("default", "echo"), WL_ID.format("shop", "web")}
N2_WORKLOAD_IDS = {WL_ID.format("shop", "db")}


def http_get(port, path, timeout=2.0):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when
    nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return None, str(e)


class Control:
    """`weft control` with a CA; restartable on the same ports and CA dir."""

    def __init__(self, world):
        self.w = world
        self.xds_port, self.admin_port, self.tls_port = free_port(), free_port(), free_port()
        self.proc = None
        self.starts = 0

    @property
    def addr(self):
        return f"127.0.0.1:{self.tls_port}"

    def start(self):
        self.starts += 1
        log = self.w.logs / f"control.{self.starts}.log"
        argv = [self.w.weft_bin, "control", "--config", str(self.w.config),
                "--ca-dir", str(self.w.ca_dir), "--xds-tls", self.addr,
                "--xds-listen", f"127.0.0.1:{self.xds_port}",
                "--admin-listen", f"127.0.0.1:{self.admin_port}"]
        with open(log, "wb") as f:
            self.proc = self.w.group.spawn(argv, stdin=subprocess.DEVNULL, stdout=f,
                                           stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"weft control exited {self.proc.returncode}:\n{log.read_text()}")
            return http_get(self.admin_port, "/readyz", 0.5)[0] == 200
        wait_for(ready, 10, what="weft control /readyz")

    def stop(self):
        rc = ProcessGroup.stop(self.proc)
        self.proc = None
        return rc

    def log_text(self):
        return "".join(p.read_text(errors="replace") for p in sorted(self.w.logs.glob("control.*.log")))


class Agent:
    """One `weft agent` process (--capture none) and its admin endpoints."""

    def __init__(self, world, node, state_dir, token_file=None, cert_ttl=None):
        self.w = world
        self.node = node
        self.state_dir = pathlib.Path(state_dir)
        self.admin_port, self.metrics_port = free_port(), free_port()
        world.nagents += 1
        self.log = world.logs / f"agent-{node}.{world.nagents}.log"
        argv = [world.weft_bin, "agent", "--node", node, "--control", world.control.addr,
                "--state-dir", str(self.state_dir), "--capture", "none",
                "--admin", f"127.0.0.1:{self.admin_port}",
                "--metrics", f"127.0.0.1:{self.metrics_port}",
                "--hbone-port", str(free_port())]
        if token_file:
            argv += ["--token-file", str(token_file)]
        if cert_ttl:
            argv += ["--cert-ttl", cert_ttl]
        with open(self.log, "wb") as f:
            self.proc = world.group.spawn(argv, stdin=subprocess.DEVNULL, stdout=f,
                                          stderr=subprocess.STDOUT)

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"weft agent {self.node} exited {self.proc.returncode}:\n"
                                 + self.log_text())
        return True

    def certs(self):
        """{identity: cert entry} from /certs, or None while it does not answer."""
        self.alive()
        st, body = http_get(self.admin_port, "/certs")
        if st != 200:
            return None
        doc = json.loads(body)
        return {c["identity"]: c for c in doc["certificates"]}

    def metric(self, line_prefix):
        """The value of the first /metrics sample starting with line_prefix, or None."""
        st, body = http_get(self.metrics_port, "/metrics")
        if st != 200:
            return None
        for line in body.splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.split()[-1])
        return None

    def wait_certs(self, want, timeout=15):
        """Waits until /certs holds exactly the identities in want; returns them."""
        def got():
            c = self.certs()
            return c if c is not None and set(c) == set(want) else None
        try:
            return wait_for(got, timeout, 0.1, what=f"certs {sorted(want)}")
        except TimeoutError as e:
            raise AssertionError(f"{e}; /certs has {sorted(self.certs() or {})}\n{self.log_text()}")

    def stop(self):
        return ProcessGroup.stop(self.proc)

    def log_text(self):
        return self.log.read_text(errors="replace")


class World:
    def __init__(self, weft_bin, root):
        self.weft_bin = weft_bin
        self.root = pathlib.Path(root)
        self.config = self.root / "config"
        self.config.mkdir()
        (self.config / "mesh.yaml").write_text(CONFIG)
        self.ca_dir = self.root / "ca"
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.group = ProcessGroup()
        self.nagents = 0
        self.control = Control(self)

    def token_file(self, node, name=None):
        r = subprocess.run([self.weft_bin, "control", "token", "create", "--node", node,
                            "--ca-dir", str(self.ca_dir)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        p = self.root / (name or f"token-{node}")
        p.write_text(r.stdout)
        os.chmod(p, 0o600)
        return p

    def agent(self, node, state=None, token=None, cert_ttl=None):
        return Agent(self, node, self.root / (state or f"state-{node}"), token, cert_ttl)

    def dump(self):
        out = []
        for p in sorted(self.logs.glob("*.log")):
            t = p.read_text(errors="replace")
            out.append(f"===== {p.name} =====\n{t[-20000:]}")
        return "\n".join(out)


@pytest.fixture
def world(request, weft_bin):
    root = tempfile.mkdtemp(prefix="weft-agentctl-")
    w = World(weft_bin, root)
    bad = []
    try:
        w.control.start()
        yield w
    finally:
        try:
            w.group.close()
            # under SANITIZE=1 a sanitizer report in any process fails the test
            for p in sorted(w.logs.glob("*.log")):
                t = p.read_text(errors="replace")
                if "runtime error:" in t or "Sanitizer" in t:
                    bad.append(p.name)
            rep = getattr(request.node, "rep_call", None)
            if rep is None or rep.failed or bad:
                print(w.dump())
        finally:
            shutil.rmtree(root, ignore_errors=True)
    assert not bad, f"sanitizer reports in {bad}"


def test_join_holds_only_own_identities(world):
    """n1 joins with its token and holds certificates for its node and its own
    workloads' identities (one per namespace/service account), never n2's."""
    a1 = world.agent("n1", token=world.token_file("n1"))
    certs = a1.wait_certs({NODE_ID.format("n1")} | N1_WORKLOAD_IDS)
    for ident, c in certs.items():
        assert c["seconds_left"] > 0, c
        assert c["chain_length"] >= 1, c
    # healthy: a synced view and a credential for every local identity
    wait_for(lambda: http_get(a1.admin_port, "/healthz")[0] == 200, 10, what="n1 /healthz 200")
    # the state dir holds them, keys private
    sd = a1.state_dir
    for f in ("node-cert.pem", "node-key.pem", "bundle.pem", "wl-default--echo-cert.pem",
              "wl-shop--web-key.pem"):
        assert (sd / f).is_file(), f
    assert (sd / "node-key.pem").stat().st_mode & 0o077 == 0
    assert (sd / "wl-shop--web-key.pem").stat().st_mode & 0o077 == 0
    assert not list(sd.glob("wl-shop--db-*"))
    # one expiry series per held certificate, named by its SPIFFE ID
    for ident in certs:
        v = a1.metric(f'weft_agent_cert_expiry_timestamp_seconds{{identity="{ident}"}}')
        assert v is not None and v > time.time(), (ident, v)
    assert a1.metric("weft_agent_certs") == 3

    # n2 (its own token) gets n2's identity and nothing of n1's
    a2 = world.agent("n2", token=world.token_file("n2"))
    a2.wait_certs({NODE_ID.format("n2")} | N2_WORKLOAD_IDS)
    assert set(a1.certs()) == {NODE_ID.format("n1")} | N1_WORKLOAD_IDS


def test_token_single_use_and_restart_without_token(world):
    tok = world.token_file("n1")
    a = world.agent("n1", state="s1", token=tok)
    first = a.wait_certs({NODE_ID.format("n1")} | N1_WORKLOAD_IDS)

    # the same token with an empty state dir: the CA refuses, the agent
    # exits 1 and says why
    b = world.agent("n1", state="s2", token=tok)
    try:
        rc = b.proc.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError("an agent with a spent token kept running:\n" + b.log_text())
    assert rc == 1, b.log_text()
    assert "join refused" in b.log_text(), b.log_text()
    assert not (b.state_dir / "node-key.pem").exists()

    # a missing token with an empty state dir: a clear error, exit 2
    c = world.agent("n1", state="s3")
    assert c.proc.wait(10) == 2
    assert "--token-file is needed" in c.log_text(), c.log_text()

    # restart with the state dir and no token: the persisted credentials
    # are used as they are (same serials), nothing joins again
    assert a.stop() == 0
    a2 = world.agent("n1", state="s1")
    again = a2.wait_certs(set(first), timeout=5)
    assert {i: c["serial"] for i, c in again.items()} == {i: c["serial"] for i, c in first.items()}
    assert "using the persisted node credential" in a2.log_text()
    # it is connected with its node certificate (mTLS) and synced
    wait_for(lambda: a2.metric("weft_agent_control_connected") == 1, 10, what="control connected")
    wait_for(lambda: http_get(a2.admin_port, "/healthz")[0] == 200, 10, what="/healthz 200")
    assert "joining" not in a2.log_text()


def test_control_down_keeps_certs_and_reconnects(world):
    a = world.agent("n1", token=world.token_file("n1"))
    held = a.wait_certs({NODE_ID.format("n1")} | N1_WORKLOAD_IDS)
    wait_for(lambda: a.metric("weft_agent_control_connected") == 1, 10, what="connected")
    ok0 = a.metric('weft_agent_control_connects_total{result="ok"}')

    assert world.control.stop() == 0
    wait_for(lambda: a.metric("weft_agent_control_connected") == 0, 10, what="disconnected")
    wait_for(lambda: (a.metric('weft_agent_control_connects_total{result="error"}') or 0) >= 1, 10,
             what="a failed reconnect attempt")
    # the certificates stay in use while control is away
    assert set(a.certs()) == set(held)
    assert a.alive()

    world.control.start()   # same ports, same CA
    wait_for(lambda: a.metric("weft_agent_control_connected") == 1, 15, what="reconnected")
    assert a.metric('weft_agent_control_connects_total{result="ok"}') > ok0
    wait_for(lambda: a.metric("weft_agent_xds_connected") == 1, 10, what="ADS stream again")
    # the same credentials (nothing was lost or re-requested)
    now = a.certs()
    assert {i: c["serial"] for i, c in now.items()} == {i: c["serial"] for i, c in held.items()}


def test_workload_cert_renewal(world):
    """With --cert-ttl 60s a workload certificate is renewed at half its life
    (24..36 s after issue): a new serial, later not_after, no gap."""
    a = world.agent("n1", token=world.token_file("n1"), cert_ttl="60s")
    first = a.wait_certs({NODE_ID.format("n1")} | N1_WORKLOAD_IDS)
    echo = WL_ID.format("default", "echo")
    assert first[echo]["seconds_left"] <= 60

    def renewed():
        c = a.certs()
        return c if c and echo in c and c[echo]["serial"] != first[echo]["serial"] else None
    now = wait_for(renewed, 50, 0.5, what="renewed echo certificate")
    assert now[echo]["not_after"] > first[echo]["not_after"]
    # at half life (the CA backdates not_before equally for both): not
    # earlier than 24 s after the first, and only once per identity so far
    gap = (datetime.fromisoformat(now[echo]["not_before"].replace("Z", "+00:00"))
           - datetime.fromisoformat(first[echo]["not_before"].replace("Z", "+00:00"))).total_seconds()
    assert 23 <= gap <= 40, (first[echo], now[echo])
    assert a.metric('weft_agent_cert_issued_total{kind="workload"}') <= 4
    # the node certificate (24 h) was not renewed
    node = NODE_ID.format("n1")
    assert now[node]["serial"] == first[node]["serial"]
    assert a.metric('weft_agent_cert_issued_total{kind="workload"}') >= 3
    v = a.metric(f'weft_agent_cert_expiry_timestamp_seconds{{identity="{echo}"}}')
    assert v is not None and v > time.time() + 20
