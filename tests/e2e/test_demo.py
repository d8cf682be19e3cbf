"""The README's main command: `make demo` runs examples/run-demo.sh. Here it
runs for a few seconds on free ports and must show calls reaching every
backend, then stop by itself and leave nothing behind."""
import os
import re
import signal
import socket
import subprocess

from conftest import ROOT
from mesh import free_port


def _port_free(ip, port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
            return True
        except OSError:
            return False


def test_demo_runs_and_stops_cleanly(weft_bin, node_ok):
    env = dict(os.environ, WEFT_BIN=weft_bin, DEMO_SECONDS="6", DEMO_RATE="20",
               WEFT_XDS_PORT=str(free_port()), WEFT_ADMIN_PORT=str(free_port()))
    p = subprocess.Popen(["bash", str(ROOT / "examples" / "run-demo.sh")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    print(out)
    assert p.returncode == 0, out
    assert "demo: stopped, everything cleaned up" in out

    plain = [ln for ln in out.splitlines() if re.match(r"\[\s*\d+s\] no header", ln)]
    header = [ln for ln in out.splitlines() if re.match(r"\[\s*\d+s\] x-backend: c", ln)]
    assert len(plain) >= 3 and len(header) >= 3, out
    seen = set(re.findall(r"echo-[abc]", " ".join(plain)))
    assert seen == {"echo-a", "echo-b", "echo-c"}, out
    # after the first second (xDS warm-up), header calls go to echo-c only, and nothing fails
    for ln in header[1:]:
        assert set(re.findall(r"echo-[abc]", ln)) == {"echo-c"} and "failed" not in ln, ln
    for ln in plain[1:]:
        assert "failed" not in ln and "(no replies)" not in ln, ln
    # every process is gone: the echo servers' addresses are free again
    for ip in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
        assert _port_free(ip, 7070), f"{ip}:7070 still bound after the demo"
