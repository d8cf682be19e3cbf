"""The e2e cluster fixture: a real two-node mesh built by `weft demo up
--name <unique> --dir <tmp>` (network namespaces, cgroups, weft control,
one weft agent per node, weft echo servers in the pods), always removed by
`weft demo down`, even when a test fails, and swept again at session end.

    c = Cluster(weft_bin, "wt1a2b", "/tmp/x", cert_ttl="60s")
    c.up()
    c.connect("a1", "10.96.0.10", 9090, b"hi")    # from pod a1's netns
    c.admin("n1", "/config_dump")                  # agent admin of node n1
    c.write_config("policy.yaml", yaml)            # control hot-reloads
    with c.capture("n1") as cap: ...               # tshark on the inter-node link
    c.down()                                       # and check_clean()

Everything the cluster has is in its cluster.json (written by weft demo):
names, addresses, ports, paths. See tests/e2e/README.md.
"""
import atexit
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

from mesh import sanitizer_reports, wait_for  # noqa: F401 (the tests import wait_for from here too)

HERE = pathlib.Path(__file__).resolve().parent
PODTOOL = str(HERE / "podtool.py")
PY = "/usr/bin/python3"

_ALL = []   # every Cluster made in this process: swept at exit


def unique_prefix(tag="t"):
    """A prefix no other run uses now: tag + pid + a counter."""
    unique_prefix.n = getattr(unique_prefix, "n", 0) + 1
    return f"{tag}{os.getpid() % 100000}x{unique_prefix.n}"


def parse_metrics(text):
    """Prometheus text -> list of (name, {labels}, value)."""
    out = []
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', ln)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            pass
    return out


class Capture:
    """tshark on a node's inter-node link, writing a pcap; stop() returns it."""

    def __init__(self, cluster, node, path, link):
        self.c, self.node, self.path = cluster, node, path
        ns = cluster.node(node)["netns"]
        self.log = open(path + ".log", "wb")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "tshark", "-q", "-n", "-i", link,
                                   "-w", path], stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        cluster._procs.append(self.p)
        # tshark says "Capturing on 'link0'" once the capture runs
        wait_for(lambda: b"Capturing on" in open(path + ".log", "rb").read() or self.p.poll() is not None,
                 15, what="tshark to start")
        if self.p.poll() is not None:
            raise RuntimeError("tshark exited: " + open(path + ".log", "rb").read().decode(errors="replace"))

    def stop(self):
        if self.p.poll() is None:
            time.sleep(0.3)   # let the last packets reach the file
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def fields(self, *fields, display_filter=""):
        """tshark -T fields over the pcap: one list of values per packet."""
        argv = ["tshark", "-n", "-r", self.path, "-T", "fields", "-E", "separator=\t"]
        if display_filter:
            argv += ["-Y", display_filter]
        for f in fields:
            argv += ["-e", f]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [ln.split("\t") for ln in r.stdout.splitlines()]


class Cluster:
    def __init__(self, weft_bin, prefix, directory, cert_ttl=None, agents=True, workloads=True,
                 capture=None, agent_args=()):
        self.weft = weft_bin
        # the agents' --capture: nft unless the module (or WEFT_E2E_CAPTURE) says otherwise
        self.capture_mode = capture or os.environ.get("WEFT_E2E_CAPTURE", "nft")
        self.prefix = prefix
        self.dir = str(directory)
        self.cert_ttl = cert_ttl
        self.agents = agents
        self.workloads = workloads
        self.agent_args = list(agent_args)    # more `weft agent` options (weft demo up --agent-arg)
        self.s = None
        self._procs = []
        self.extra_netns = []
        self.up_output = ""
        _ALL.append(self)

    # ---- life cycle ----
    def up(self, timeout=60):
        argv = [self.weft, "demo", "up", "--name", self.prefix, "--dir", self.dir]
        if self.cert_ttl:
            argv += ["--cert-ttl", self.cert_ttl]
        argv += ["--capture", self.capture_mode]
        for arg in self.agent_args:
            argv.append(f"--agent-arg={arg}")
        if not self.agents:
            argv.append("--no-agents")
        if not self.workloads:
            argv.append("--no-workloads")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30)
        self.up_output = r.stdout + r.stderr
        if r.returncode != 0:
            raise RuntimeError(f"weft demo up failed ({r.returncode}):\n{self.up_output}\n{self.dump_logs()}")
        with open(os.path.join(self.dir, "cluster.json")) as f:
            self.s = json.load(f)
        return self

    def down(self):
        for p in self._procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self._procs.clear()
        for ns in self.extra_netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.extra_netns.clear()
        r = subprocess.run([self.weft, "demo", "down", "--name", self.prefix, "--dir", self.dir],
                           capture_output=True, text=True, timeout=60)
        return r

    def leftovers(self):
        """What of this prefix still exists: netns names, cgroup dir, pids."""
        left = []
        r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        for ln in r.stdout.splitlines():
            name = ln.split()[0] if ln.split() else ""
            if name == f"{self.prefix}-n1" or name == f"{self.prefix}-n2" or \
               name.startswith(f"{self.prefix}-n1-") or name.startswith(f"{self.prefix}-n2-"):
                left.append("netns " + name)
        cg = (self.s or {}).get("cgroup_root") or ""
        if cg and os.path.exists(cg):
            left.append("cgroup " + cg)
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            words = [w.decode(errors="replace") for w in cmd]
            if any(w.startswith(f"/var/run/netns/{self.prefix}-n") or w.startswith(self.dir + "/")
                   for w in words):
                left.append(f"process {pid} {' '.join(words)}")
        for node in ("n1", "n2"):
            pin = self.bpf_pin_dir(node)
            if os.path.exists(pin):
                left.append("bpf pins " + pin)
        if os.path.exists(self.dir):
            left.append("state dir " + self.dir)
        return left

    def weft_nft_tables(self):
        """Every nftables table whose name holds "weft", in every pod and node
        netns of the cluster: ["<netns>: table inet weft", ...]."""
        found = []
        for where in [p["netns"] for p in (self.s or {}).get("pods", [])] + \
                     [n["netns"] for n in (self.s or {}).get("nodes", [])]:
            r = subprocess.run(["ip", "netns", "exec", where, "nft", "list", "tables"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                found.append(f"{where}: nft list tables failed: {r.stderr.strip()}")
                continue
            found += [f"{where}: {ln.strip()}" for ln in r.stdout.splitlines() if "weft" in ln]
        return found

    def bpf_pin_dir(self, node):
        """Where node's agent pins its eBPF capture (weft demo's choice)."""
        return f"/sys/fs/bpf/weft/{self.prefix}-{node}"

    # ---- lookups ----
    def pod(self, name):
        return next(p for p in self.s["pods"] if p["name"] == name)

    def node(self, name):
        return next(n for n in self.s["nodes"] if n["name"] == name)

    def netns(self, name):
        """The netns of a pod (a1..b2) or node (n1, n2), or a netns name itself."""
        for p in self.s["pods"]:
            if p["name"] == name:
                return p["netns"]
        for n in self.s["nodes"]:
            if n["name"] == name:
                return n["netns"]
        return name

    def node_of(self, pod):
        return self.node(self.pod(pod)["node"])

    # ---- running things in namespaces ----
    def _in(self, where, argv):
        """argv run in where's netns; for a pod under eBPF capture also in its
        cgroup (joined before `ip netns exec`, which remounts /sys)."""
        cmd = ["ip", "netns", "exec", self.netns(where)] + [str(a) for a in argv]
        pod = next((p for p in (self.s or {}).get("pods", []) if p["name"] == where), None)
        if self.capture_mode != "nft" and pod and pod.get("cgroup"):
            cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', pod["cgroup"]] + cmd
        return cmd

    def exec_in(self, where, argv, timeout=30, check=False, **kw):
        r = subprocess.run(self._in(where, argv), capture_output=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv} in {where} failed: {r.stderr!r}")
        return r

    def popen_in(self, where, argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self._in(where, argv), start_new_session=True, **kw)
        self._procs.append(p)
        return p

    def podtool(self, where, *args, timeout=60):
        r = self.exec_in(where, [PY, PODTOOL] + [str(a) for a in args], timeout=timeout)
        lines = [ln for ln in r.stdout.decode().splitlines() if ln.strip()]
        if not lines:
            raise RuntimeError(f"podtool {args} in {where}: no output; stderr {r.stderr!r}")
        return json.loads(lines[-1])

    def connect(self, where, ip, port, data=b"", read_s=2.0, until=None, shut=False, timeout=5.0):
        """Connects from a pod to ip:port, sends data, reads for read_s s (or
        until `until` arrives). Returns dict(ok, data: bytes, error, eof)."""
        args = ["connect", ip, port, "--read-s", read_s, "--timeout", timeout]
        if data:
            args += ["--send", data.hex()]
        if until:
            args += ["--until", until]
        if shut:
            args.append("--shut")
        r = self.podtool(where, *args, timeout=timeout + read_s + 30)
        r["data"] = bytes.fromhex(r["data"])
        return r

    def http(self, where, url, n=1, conc=1, method="GET", headers=(), data="", timeout=5.0):
        """n HTTP/1.1 requests from a pod (podtool http): returns its summary
        (status and X-Served-By counts, errors, first bodies, p50/p99)."""
        args = ["http", url, "--n", n, "--conc", conc, "--method", method, "--timeout", timeout]
        for h in headers:
            args += ["--header", h]
        if data:
            args += ["--data", data]
        return self.podtool(where, *args, timeout=timeout * max(1, n // max(1, conc)) + 60)

    def start_echo(self, pod, port, name, *extra):
        """`weft echo --mode http` on pod's address:port (extra: more
        options); waits until it listens. Returns the Popen."""
        ip = self.pod(pod)["ip"]
        p = self.popen_in(pod, [self.weft, "echo", "--listen", f"{ip}:{port}", "--mode", "http",
                                "--name", name, *extra])
        wait_for(lambda: self.exec_in(pod, ["sh", "-c", f"ss -ltn | grep -q ':{port} '"]).returncode == 0,
                 10, what=f"echo {name} on {pod}:{port}")
        return p

    def served(self, pod, port=8080):
        """Requests pod's HTTP echo server on port has answered (its /__stats)."""
        # outside the pod's cgroup: loopback, never captured
        r = subprocess.run(["ip", "netns", "exec", self.netns(pod), "curl", "-sS", "-m", "5",
                            f"http://127.0.0.1:{port}/__stats"], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.decode().split()[1])

    def hold(self, where, ip, port):
        """A long-lived connection from a pod; returns the Popen whose stdout
        gives JSON events (connected, data, closed with a monotonic time)."""
        p = self.popen_in(where, [PY, PODTOOL, "hold", ip, str(port)], text=True)
        return p

    def add_netns(self, name, node, ip):
        """An extra, unenrolled netns attached to node's bridge with ip/24."""
        ns = f"{self.prefix}-x{name}"
        n = self.node(node)
        self.extra_netns.append(ns)
        for argv in (["ip", "netns", "add", ns],
                     ["ip", "-n", ns, "link", "set", "lo", "up"],
                     ["ip", "link", "add", "name", "eth0", "netns", ns, "type", "veth",
                      "peer", "name", f"x-{name}", "netns", n["netns"]],
                     ["ip", "-n", n["netns"], "link", "set", f"x-{name}", "master", "br0"],
                     ["ip", "-n", n["netns"], "link", "set", f"x-{name}", "up"],
                     ["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"],
                     ["ip", "-n", ns, "link", "set", "eth0", "up"],
                     ["ip", "-n", ns, "route", "add", "default", "via", n["bridge_ip"]]):
            subprocess.run(argv, check=True, capture_output=True)
        return ns

    # ---- agents' and control's endpoints ----
    @staticmethod
    def http_get(addr, path, timeout=3):
        try:
            with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            return None, str(e)

    def admin(self, node, path):
        return self.http_get(self.node(node)["admin"], path)

    def config_dump(self, node):
        st, body = self.admin(node, "/config_dump")
        assert st == 200, body
        return json.loads(body)

    def generation(self, node):
        d = self.config_dump(node)
        return int(d.get("generation", 0))

    def metrics(self, node):
        st, body = self.http_get(self.node(node)["metrics"], "/metrics")
        assert st == 200, body
        return parse_metrics(body)

    def metric(self, node, name, **labels):
        """Sum of every sample of name whose labels include labels."""
        return sum(v for n, ls, v in self.metrics(node)
                   if n == name and all(ls.get(k) == str(x) for k, x in labels.items()))

    def control_admin(self, path):
        return self.http_get(self.s["control"]["admin"], path)

    # ---- config ----
    def write_config(self, name, text):
        """Writes <dir>/config/<name> atomically; weft control reloads it."""
        d = self.s["control"]["config"]
        tmp = os.path.join(d, f".{name}.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(d, name))

    def remove_config(self, name):
        try:
            os.unlink(os.path.join(self.s["control"]["config"], name))
        except FileNotFoundError:
            pass

    def wait_generation_after(self, node, gen, timeout=10):
        """Waits until node's agent shows a view generation above gen."""
        return wait_for(lambda: self.generation(node) > gen, timeout,
                        what=f"{node}'s agent to receive a new view")

    # ---- packet capture ----
    def capture(self, node="n1", name="cap"):
        path = os.path.join(self.dir, f"{name}-{node}-{time.monotonic_ns()}.pcap")
        return Capture(self, node, path, self.s["link"])

    # ---- processes ----
    def _pidfile(self, name):
        return os.path.join(self.dir, f"{name}.pid")

    def _pid(self, name):
        with open(self._pidfile(name)) as f:
            return int(f.read().split()[0])

    def _argv_of(self, pid):
        return [w.decode() for w in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0") if w]

    def _stop(self, name, sig):
        pid = self._pid(name)
        argv = self._argv_of(pid)
        os.kill(pid, sig)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                 open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z",
                 10, what=f"{name} (pid {pid}) to exit")
        with open(os.path.join(self.dir, f"{name}.argv"), "w") as f:
            json.dump(argv, f)
        return argv

    def _start(self, name):
        with open(os.path.join(self.dir, f"{name}.argv")) as f:
            argv = json.load(f)
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        log.close()
        start = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[19]
        with open(self._pidfile(name), "w") as f:
            f.write(f"{p.pid} {start}\n")
        self._procs.append(p)
        return p

    def kill_agent(self, node, sig=signal.SIGKILL):
        return self._stop(f"agent-{node}", sig)

    def start_agent(self, node, wait=True):
        p = self._start(f"agent-{node}")
        if wait:
            wait_for(lambda: self.admin(node, "/healthz")[0] == 200, 30,
                     what=f"agent {node} /healthz")
        return p

    def restart_agent(self, node, sig=signal.SIGKILL):
        self.kill_agent(node, sig)
        return self.start_agent(node)

    def stop_control(self, sig=signal.SIGTERM):
        return self._stop("control", sig)

    def start_control(self, wait=True):
        p = self._start("control")
        if wait:
            wait_for(lambda: self.control_admin("/readyz")[0] == 200, 30, what="control /readyz")
        return p

    # ---- diagnostics ----
    def stop_gracefully(self, timeout=20):
        """SIGTERM to every process weft demo started (its <name>.pid files),
        then waits up to timeout s for each to exit, so that a sanitized
        build writes its leak report to <name>.log before `weft demo down`
        (which SIGKILLs after 3 s and removes the directory). Returns the
        names still running at the deadline."""
        if not os.path.isdir(self.dir):
            return []
        live = {}
        for f in sorted(os.listdir(self.dir)):
            if not f.endswith(".pid"):
                continue
            try:
                pid, start = open(os.path.join(self.dir, f)).read().split()[:2]
                pid = int(pid)
                if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19] != start:
                    continue
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError, IndexError):
                continue
            live[f[:-4]] = pid

        def gone(pid):
            try:
                return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True
        end = time.monotonic() + timeout
        while live and time.monotonic() < end:
            live = {n: p for n, p in live.items() if not gone(p)}
            if live:
                time.sleep(0.05)
        for p in self._procs:    # reap our own children (restarted agents)
            p.poll()
        return sorted(live)

    def sanitizer_reports(self):
        """ASan/LSan/UBSan reports in any process's log (mesh.sanitizer_reports)."""
        if not os.path.isdir(self.dir):
            return []
        return sanitizer_reports(os.path.join(self.dir, f) for f in sorted(os.listdir(self.dir))
                                 if f.endswith(".log"))

    def dump_logs(self, lines=60):
        out = []
        if not os.path.isdir(self.dir):
            return ""
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".log"):
                try:
                    text = open(os.path.join(self.dir, f), errors="replace").read().splitlines()
                except OSError:
                    continue
                out.append(f"----- {f} -----")
                out.extend(text[-lines:])
        return "\n".join(out)


def status_of(resp):
    """The status code of a raw HTTP/1 response (bytes), or None."""
    parts = resp.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def sweep_all():
    """Session end / interpreter exit: down every cluster made here."""
    for c in _ALL:
        try:
            c.down()
        except Exception:   # noqa: BLE001 - best effort at exit
            pass


atexit.register(sweep_all)
