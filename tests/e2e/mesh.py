"""Helpers for weft's black-box tests: the real `weft control`, real grpc-js
echo servers and a real proxyless grpc-js-xds client, all on 127.0.0.0/8.

Every process started here is registered with a ProcessGroup, which kills it
at teardown (and at interpreter exit, should teardown never run).
"""
import atexit
import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
NODE = os.environ.get("NODE", "node")
SERVICE_TARGET = "xds:///echo.default.svc.cluster.local:7070"


def free_port(host="127.0.0.1"):
    """A TCP port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def now_ms():
    """Wall-clock epoch milliseconds: the same clock the node client stamps with."""
    return time.time() * 1000.0


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value (returned) or timeout passes."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# What ASan, LSan and UBSan print when they report (SANITIZE=1 builds).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def sanitizer_reports(paths, context=40):
    """Every sanitizer report in the given log files: a list of
    "<file>:\n<the report's first lines>" strings (empty when clean)."""
    found = []
    for p in paths:
        try:
            lines = open(p, errors="replace").read().splitlines()
        except OSError:
            continue
        for i, ln in enumerate(lines):
            if any(m in ln for m in SANITIZER_MARKERS):
                found.append(f"{os.path.basename(str(p))}:\n" + "\n".join(lines[i:i + context]))
                break
    return found


# ---------------------------------------------------------------------------
class ProcessGroup:
    """Owns child processes: each is stopped (SIGTERM, then SIGKILL) at close."""

    _live = set()

    def __init__(self):
        self.procs = []

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        ProcessGroup._live.add(p)
        return p

    @staticmethod
    def stop(p, timeout=5.0):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            except ProcessLookupError:
                pass
        ProcessGroup._live.discard(p)
        return p.returncode

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    try:
                        f.close()
                    except OSError:
                        pass
        self.procs.clear()

    @classmethod
    def kill_all(cls):
        for p in list(cls._live):
            if p.poll() is None:
                p.kill()


atexit.register(ProcessGroup.kill_all)


# ---------------------------------------------------------------------------
class ControlPlane:
    """`weft control` on a config directory, xDS and admin on 127.0.0.1."""

    def __init__(self, group, weft_bin, config_dir, log_dir, xds_port=None, admin_port=None,
                 extra=(), args=()):
        self.args = list(extra) + list(args)   # extra command-line options
        self.group = group
        self.weft_bin = weft_bin
        self.config_dir = pathlib.Path(config_dir)
        self.log_dir = pathlib.Path(log_dir)
        self.xds_port = xds_port or free_port()
        self.admin_port = admin_port or free_port()
        self.proc = None
        self.starts = 0
        self.logs = []

    @property
    def xds_addr(self):
        return f"127.0.0.1:{self.xds_port}"

    def start(self, timeout=10.0):
        self.starts += 1
        log = self.log_dir / f"weft-control.{self.starts}.log"
        self.logs.append(log)
        argv = [self.weft_bin, "control", "--config", str(self.config_dir),
                "--xds-listen", self.xds_addr,
                "--admin-listen", f"127.0.0.1:{self.admin_port}"] + self.args
        with open(log, "wb") as f:
            self.proc = self.group.spawn(argv, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"weft control exited with {self.proc.returncode}:\n"
                                   + self.log_text())
            try:
                return self.get("/readyz", timeout=0.5)[0] == 200
            except OSError:
                return False
        try:
            wait_for(ready, timeout, what="weft control /readyz")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n{self.log_text()}") from None
        return self

    def stop(self):
        """SIGTERM, and the exit status."""
        if self.proc is None:
            return None
        rc = ProcessGroup.stop(self.proc)
        self.proc = None
        return rc

    def get(self, path, timeout=2.0):
        """(status, body text) of an admin GET."""
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def log_text(self):
        out = []
        for p in self.logs:
            try:
                out.append(f"----- {p.name} -----\n" + p.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)


# ---------------------------------------------------------------------------
class EchoServer:
    """tests/e2e/node/echo_server.js NAME IP:PORT."""

    def __init__(self, group, name, ip, port=7070, args=(), log_dir=None):
        self.name, self.ip, self.port = name, ip, port
        self.log = pathlib.Path(log_dir) / f"echo-{name}.log" if log_dir else None
        argv = [NODE, str(NODE_DIR / "echo_server.js"), name, f"{ip}:{port}", *args]
        errf = open(self.log, "wb") if self.log else subprocess.DEVNULL
        try:
            self.proc = group.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=errf)
        finally:
            if self.log:
                errf.close()
        line = _readline_timeout(self.proc.stdout, 15.0)
        if line.strip() != b"READY":
            ProcessGroup.stop(self.proc)
            raise RuntimeError(f"echo server {name} on {ip}:{port} did not start: {line!r}\n"
                               + (self.log.read_text(errors="replace") if self.log else ""))

    def stop(self):
        return ProcessGroup.stop(self.proc)


def _readline_timeout(f, timeout):
    q = queue.Queue()
    threading.Thread(target=lambda: q.put(f.readline()), daemon=True).start()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return b""


# ---------------------------------------------------------------------------
def write_bootstrap(path, xds_addr, node_id):
    """The grpc-js-xds bootstrap file (A27 format) for one client."""
    doc = {
        "xds_servers": [{
            "server_uri": xds_addr,
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {
            "id": node_id,
            "cluster": "e2e",
            "locality": {"region": "local", "zone": "local-a"},
        },
    }
    pathlib.Path(path).write_text(json.dumps(doc, indent=2))
    return path


def client_env(bootstrap, trace=True):
    env = dict(os.environ)
    env["GRPC_XDS_BOOTSTRAP"] = str(bootstrap)
    env.pop("GRPC_XDS_BOOTSTRAP_CONFIG", None)
    if trace:
        env["GRPC_TRACE"] = "xds_client,xds_resolver,cds_balancer"
        env["GRPC_VERBOSITY"] = "DEBUG"
    return env


class Client:
    """A long-running xds_client.js in serve mode: one channel kept alive
    across config changes and control-plane restarts."""

    def __init__(self, group, bootstrap, log_path, target=SERVICE_TARGET, extra=(), trace=True):
        self.log = pathlib.Path(log_path)
        argv = [NODE, str(NODE_DIR / "xds_client.js"), "--target", target, *extra, "serve"]
        with open(self.log, "wb") as errf:
            self.proc = group.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errf, env=client_env(bootstrap, trace))
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        self.seq = 0
        hello = self._next(20.0)
        if not hello.get("ready"):
            raise RuntimeError(f"client did not start: {hello}\n{self.log_text()}")

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"client gave no answer within {timeout}s\n{self.log_text()}") from None
        if line is None:
            raise RuntimeError(f"client exited ({self.proc.poll()})\n{self.log_text()}")
        return json.loads(line)

    def cmd(self, timeout=60.0, **cmd):
        self.seq += 1
        cmd["seq"] = self.seq
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            r = self._next(timeout)
            if r.get("seq") == self.seq:
                return r

    def batch(self, n, concurrency=1, metadata=None, deadline_ms=5000, records=False):
        r = self.cmd(cmd="batch", n=n, concurrency=concurrency, metadata=metadata or {},
                     deadline_ms=deadline_ms, records=records)
        assert r["ok"], r
        return r if records else r["summary"]

    def warmup(self, timeout_s=15, metadata=None):
        """Waits until a call reaches a backend (the channel has its xDS config)."""
        r = self.cmd(cmd="warmup", timeout_s=timeout_s, metadata=metadata or {},
                     timeout=timeout_s + 10)
        if not r["ok"]:
            raise AssertionError(f"no call reached a backend within {timeout_s}s: "
                                 f"{r['summary']}\n--- client log ---\n{self.log_text()}")
        return r["summary"]

    def start_stream(self, rate=100, metadata=None, deadline_ms=5000):
        r = self.cmd(cmd="start", rate=rate, metadata=metadata or {}, deadline_ms=deadline_ms)
        assert r["ok"], r

    def stop_stream(self):
        r = self.cmd(cmd="stop", timeout=30.0)
        assert r["ok"], r
        return r["records"], r["summary"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"cmd":"quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        ProcessGroup.stop(self.proc)

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


def run_client(bootstrap, *args, target=SERVICE_TARGET, timeout=60, env_extra=None):
    """One-shot xds_client.js (run/continuous modes): returns its last JSON line."""
    env = client_env(bootstrap)
    env.update(env_extra or {})
    argv = [NODE, str(NODE_DIR / "xds_client.js"), "--target", target, *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise AssertionError(f"client failed ({p.returncode}): {p.stdout}\n{p.stderr[-20000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
def yaml_doc(text):
    return textwrap.dedent(text).strip("\n") + "\n"


def workload(name, ip, labels, ns="default"):
    lab = ", ".join(f"{k}: {v}" for k, v in labels.items())
    return yaml_doc(f"""
        apiVersion: weft.dev/v1alpha1
        kind: Workload
        metadata:
          name: {name}
          namespace: {ns}
          labels: {{{lab}}}
        spec:
          addresses: [{ip}]
        """)


def service(name, selector, port=7070, ns="default"):
    sel = ", ".join(f"{k}: {v}" for k, v in selector.items())
    return yaml_doc(f"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
          namespace: {ns}
        spec:
          selector: {{{sel}}}
          ports:
          - name: grpc
            port: {port}
            targetPort: {port}
            appProtocol: grpc
        """)


def join_docs(*docs):
    return "---\n" + "---\n".join(yaml_doc(d) for d in docs)


class Mesh:
    """One test's world: config directory, control plane, echo servers, clients.

    Files live under a per-test temporary directory (removed by pytest's
    tmp_path handling plus our own cleanup); processes in self.group."""

    def __init__(self, weft_bin, root):
        self.weft_bin = weft_bin
        self.root = pathlib.Path(root)
        self.config_dir = self.root / "config"
        self.config_dir.mkdir(parents=True)
        self.log_dir = self.root / "logs"
        self.log_dir.mkdir()
        self.group = ProcessGroup()
        self.cp = None
        self.servers = {}
        self.clients = []
        self._n = 0

    # config ----------------------------------------------------------------
    def write(self, filename, text):
        """Atomically replaces config/<filename> (write elsewhere, then rename).
        Returns the wall-clock ms just before the rename."""
        tmp = self.root / f".{filename}.tmp"
        tmp.write_text(text)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        t = now_ms()
        os.rename(tmp, self.config_dir / filename)
        return t

    # processes ---------------------------------------------------------------
    def start_control(self, **kw):
        if self.cp is None:
            self.cp = ControlPlane(self.group, self.weft_bin, self.config_dir, self.log_dir, **kw)
        return self.cp.start()

    def echo(self, name, ip, port=7070, args=()):
        s = EchoServer(self.group, name, ip, port, args, self.log_dir)
        self.servers[name] = s
        return s

    def bootstrap(self, node_id=None):
        self._n += 1
        node_id = node_id or f"e2e-client-{self._n}"
        path = self.root / f"bootstrap-{node_id}.json"
        write_bootstrap(path, self.cp.xds_addr, node_id)
        return path, node_id

    def client(self, node_id=None, target=SERVICE_TARGET, extra=(), trace=True):
        """A serve-mode client; trace=True logs grpc-js-xds's xDS traffic."""
        path, node_id = self.bootstrap(node_id)
        c = Client(self.group, path, self.log_dir / f"client-{node_id}.log", target, extra, trace)
        c.node_id = node_id
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()
        self.group.close()

    def sanitizer_reports(self):
        """ASan/LSan/UBSan reports in any process's log (after close())."""
        return sanitizer_reports(sorted(self.log_dir.glob("*.log")))

    def dump_logs(self):
        """Everything the processes wrote, for a failing test's report."""
        out = []
        for p in sorted(self.log_dir.glob("*.log")):
            txt = p.read_text(errors="replace")
            if len(txt) > 30000:
                txt = "...(cut)...\n" + txt[-30000:]
            out.append(f"===== {p.name} =====\n{txt}")
        return "\n".join(out)
