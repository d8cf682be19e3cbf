"""Black-box tests of `weft control`'s network side: admin endpoints, reloads,
and the ADS server's robustness (garbage, slow readers, connect-and-vanish
storms, unknown type URLs), with a small HTTP/2 ADS client written on
python3-h2 and a hand-rolled protobuf encoder."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

h2 = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402

LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

CONFIG = """\
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: echo-a, namespace: default, labels: {app: echo}}
spec:
  addresses: [127.0.0.11]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7070, appProtocol: grpc}
"""


# --- protobuf, by hand (only what the tests need) ---------------------------
def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def discovery_request(type_url, names=(), version="", nonce="", node_id="e2e-node", error=None):
    node = _field(1, node_id) + _field(6, "weft-e2e")
    msg = _field(1, version) + _field(2, node) + b"".join(_field(3, n) for n in names)
    msg += _field(4, type_url) + _field(5, nonce)
    if error is not None:
        msg += _field(6, _varint(1 << 3 | 0) + _varint(3) + _field(2, error))
    return msg


def parse_fields(buf):
    """{field number: [values]} for a flat message (varints and bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            val, i = buf[i:i + ln], i + ln
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def grpc_frame(msg):
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


# --- helpers -----------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


class Control:
    def __init__(self, weft_bin, tmp_path, extra=()):
        self.dir = tmp_path / "cfg"
        self.dir.mkdir()
        (self.dir / "mesh.yaml").write_text(CONFIG)
        self.xds_port, self.admin_port = free_port(), free_port()
        self.log = open(tmp_path / "control.log", "wb")
        self.logpath = tmp_path / "control.log"
        self.proc = subprocess.Popen(
            [weft_bin, "control", "--config", str(self.dir),
             "--xds-listen", f"127.0.0.1:{self.xds_port}",
             "--admin-listen", f"127.0.0.1:{self.admin_port}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            assert self.proc.poll() is None, self.logpath.read_text()
            try:
                return self.get("/readyz")[0] == 200
            except OSError:
                return False
        wait_for(ready, 10, what="/readyz")

    def get(self, path, timeout=2.0):
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(10)
        self.log.close()
        return rc


@pytest.fixture
def control(weft_bin, tmp_path):
    c = Control(weft_bin, tmp_path)
    yield c
    if c.proc.poll() is None:
        assert c.stop() == 0


class AdsClient:
    """One HTTP/2 connection with one ADS stream."""

    def __init__(self, port, window=65535, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [
            (":method", "POST"), (":scheme", "http"), (":path", SOTW),
            (":authority", f"127.0.0.1:{port}"), ("content-type", "application/grpc"),
            ("te", "trailers")])
        self.flush()
        self.buf = b""
        self.closed = False
        self.trailers = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send(self, msg):
        self.conn.send_data(self.sid, grpc_frame(msg))
        self.flush()

    def recv_message(self, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                n = int.from_bytes(self.buf[1:5], "big")
                if len(self.buf) >= 5 + n:
                    msg, self.buf = self.buf[5:5 + n], self.buf[5 + n:]
                    return parse_fields(msg)
            if self.closed or time.monotonic() > end:
                return None
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                self.closed = True
                return None
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    self.buf += ev.data
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.trailers = dict(ev.headers)
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    self.closed = True
            self.flush()

    def close(self):
        self.sock.close()


def resp_summary(fields):
    return {
        "version": fields.get(1, [b""])[0].decode(),
        "type_url": fields.get(4, [b""])[0].decode(),
        "nonce": fields.get(5, [b""])[0].decode(),
        "n": len(fields.get(2, [])),
    }


# --- admin ---------------------------------------------------------------------
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$')


def test_health_ready_metrics(control):
    assert control.get("/healthz") == (200, "ok\n")
    assert control.get("/readyz")[0] == 200
    assert control.get("/nope")[0] == 404
    status, body = control.get("/metrics")
    assert status == 200
    typed = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif line.startswith("# HELP "):
            continue
        else:
            assert SAMPLE.match(line), line
    for name in ("weft_xds_pushes_total", "weft_xds_push_duration_seconds",
                 "weft_xds_connected_clients", "weft_xds_nacks_total", "weft_config_errors_total",
                 "weft_config_reloads_total", "weft_config_generation"):
        assert name in typed, name
    assert 'weft_config_reloads_total{result="ok"} 1' in body
    # the real Prometheus linter (Debian's prometheus package, installed by make deps)
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run 'make deps'"
    r = subprocess.run([promtool, "check", "metrics"], input=body, text=True, capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_http1_strictness_over_the_wire(control):
    def raw(req):
        with socket.create_connection(("127.0.0.1", control.admin_port), timeout=3) as s:
            s.sendall(req)
            out = b""
            while True:
                d = s.recv(65536)
                if not d:
                    return out
                out += d
    assert raw(b"GET /healthz HTTP/1.1\nHost: x\n\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 505")
    assert raw(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414")
    assert raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 405")
    # keep-alive: two requests on one connection, then Connection: close
    both = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert both.count(b"HTTP/1.1 200 OK") == 2


def test_bad_edit_reported_and_last_good_kept(control):
    gen = json.loads(control.get("/debug/config")[1])["generation"]
    (control.dir / "bad.yaml").write_text("kind: Service\nmetadata: [\n")
    body = wait_for(lambda: (lambda b: b if "bad.yaml:" in b else None)(control.get("/debug/config")[1]),
                    5, what="the rejected config in /debug/config")
    cfg = json.loads(body)
    assert cfg["generation"] == gen and cfg["last_reload"] == "rejected"
    err = cfg["last_rejected"]["errors"][0]
    assert err["file"].endswith("bad.yaml") and err["line"] >= 1 and err["message"]
    assert control.get("/readyz")[0] == 200
    metrics = control.get("/metrics")[1]
    assert 'weft_config_reloads_total{result="error"} 1' in metrics
    # the fix is applied as the next generation
    (control.dir / "bad.yaml").unlink()
    wait_for(lambda: json.loads(control.get("/debug/config")[1])["generation"] == gen + 1, 5,
             what="the next generation")
    # an editor-style replace (write a temporary, rename over) is seen too
    tmp = control.dir / ".mesh.yaml.tmp"
    tmp.write_text(CONFIG + "---\n")
    os.rename(tmp, control.dir / "mesh.yaml")
    wait_for(lambda: json.loads(control.get("/debug/config")[1])["generation"] == gen + 2, 5,
             what="the renamed file to be reloaded")
    text = control.get("/debug/config?format=text")[1]
    assert "bad.yaml:" in text


def test_invalid_config_at_startup_exits_1(weft_bin, tmp_path):
    (tmp_path / "x.yaml").write_text("a: [\n")
    r = subprocess.run([weft_bin, "control", "--config", str(tmp_path / "x.yaml"),
                        "--xds-listen", f"127.0.0.1:{free_port()}",
                        "--admin-listen", f"127.0.0.1:{free_port()}"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "x.yaml:" in r.stderr


# --- ADS -----------------------------------------------------------------------
def test_ads_stream_ack_and_unknown_type(control):
    c = AdsClient(control.xds_port)
    c.send(discovery_request(LDS))
    r = resp_summary(c.recv_message())
    assert r["type_url"] == LDS and r["version"] and r["nonce"]
    c.send(discovery_request(LDS, version=r["version"], nonce=r["nonce"]))  # ACK
    # an unknown type keeps the stream: nothing comes back for it ...
    c.send(discovery_request("type.googleapis.com/no.such.Type"))
    assert c.recv_message(timeout=0.5) is None and not c.closed
    # ... and the stream still serves known types
    c.send(discovery_request(CDS))
    r2 = resp_summary(c.recv_message())
    assert r2["type_url"] == CDS
    clients = json.loads(control.get("/debug/clients")[1])
    me = [e for e in clients if e["node_id"] == "e2e-node"]
    assert me and me[0]["unknown_type_requests"] == 1
    assert me[0]["types"]["LDS"]["last_acked_version"] == r["version"]
    # a NACK is recorded with its message
    c.send(discovery_request(CDS, version="", nonce=r2["nonce"], error="bad cluster x"))
    wait_for(lambda: "bad cluster x" in control.get("/debug/clients")[1], 3, what="the NACK")
    assert 'weft_xds_nacks_total{type="CDS"} 1' in control.get("/metrics")[1]
    c.close()


def test_garbage_bytes_closed_and_others_served(control):
    good = AdsClient(control.xds_port)
    good.send(discovery_request(LDS))
    assert good.recv_message() is not None
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096), b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\xff" * 64):
        s = socket.create_connection(("127.0.0.1", control.xds_port), timeout=3)
        s.sendall(junk)
        t0 = time.monotonic()
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 2.0, "garbage connection not closed promptly"
        s.close()
    # the good client is still served
    good.send(discovery_request(CDS))
    assert resp_summary(good.recv_message())["type_url"] == CDS
    good.close()
    assert control.get("/healthz")[0] == 200


def test_preface_timeout(weft_bin, tmp_path):
    c = Control(weft_bin, tmp_path, extra=("--preface-timeout", "500"))
    try:
        s = socket.create_connection(("127.0.0.1", c.xds_port), timeout=5)
        t0 = time.monotonic()
        while s.recv(65536):   # the server's SETTINGS, then EOF
            pass
        assert 0.3 < time.monotonic() - t0 < 3
        s.close()
    finally:
        assert c.stop() == 0


def test_client_that_never_reads(weft_bin, tmp_path):
    c = Control(weft_bin, tmp_path, extra=("--max-pending", "262144", "--stall-timeout", "1500"))
    try:
        rss0 = c.rss_kb()
        slow = AdsClient(c.xds_port, window=1024, rcvbuf=4096)
        # every subscription change makes the server answer; never read any of it
        # (until our own send window, which the server can no longer
        # refill, runs out: the server's WINDOW_UPDATEs are never read)
        sent = 0
        try:
            for i in range(3000):
                slow.send(discovery_request(LDS, names=["l%d" % (i % 2)]))
                sent += 1
        except (BrokenPipeError, ConnectionResetError, socket.timeout, h2.exceptions.FlowControlError):
            pass
        assert sent > 100
        # meanwhile another client is served
        good = AdsClient(c.xds_port)
        good.send(discovery_request(LDS))
        assert good.recv_message() is not None

        def disconnected():
            try:
                slow.sock.settimeout(0.2)
                while True:
                    d = slow.sock.recv(1 << 20)
                    if not d:
                        return True
            except socket.timeout:
                return False
            except OSError:
                return True
        wait_for(disconnected, 10, 0.1, what="the slow reader to be disconnected")
        assert c.rss_kb() - rss0 < 64 * 1024, "RSS grew without bound"
        good.send(discovery_request(CDS))
        assert good.recv_message() is not None
        good.close()
        slow.close()
        assert "stalled" in c.logpath.read_text() or "pending output" in c.logpath.read_text()
    finally:
        assert c.stop() == 0


def test_thousand_clients_connect_and_vanish(control):
    # let the server settle, then take the baseline
    time.sleep(0.2)
    base = control.fds()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for batch in range(10):
        socks = []
        for i in range(100):
            s = socket.socket()
            s.connect(("127.0.0.1", control.xds_port))
            kind = (batch * 100 + i) % 3
            if kind == 1:
                s.sendall(preface[:10])
            elif kind == 2:
                s.sendall(preface + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            socks.append(s)
        for s in socks:
            s.close()
    wait_for(lambda: control.fds() <= base, 10, 0.1, what="fds back to the baseline")
    assert control.get("/healthz")[0] == 200
    c = AdsClient(control.xds_port)
    c.send(discovery_request(LDS))
    assert c.recv_message() is not None
    c.close()


def test_sigterm_sends_goaway(control):
    c = AdsClient(control.xds_port)
    c.send(discovery_request(LDS))
    assert c.recv_message() is not None
    control.proc.terminate()
    assert control.proc.wait(10) == 0
    c.recv_message(timeout=2)
    assert c.closed
    c.close()
