"""L7 through two agents (issue 5): a Service port with appProtocol http or
http2 is served by the source agent's HTTP codec and carried as HTTP/2
inside an HBONE tunnel to the destination agent, which delivers to the
application in the port's own protocol.

Client a1 (node n1) -> Services selecting b2 (node n2): every request
crosses both agents. The echo server in b2 speaks only HTTP/1.1, so an h2c
client getting its answer proves the request was proxied at L7 (at L4 the
HTTP/2 preface would reach the HTTP/1 server and fail)."""
import json
import os
import shutil
import tempfile
import uuid

import pytest

from cluster import wait_for

WEB_VIP = "10.96.0.200"     # appProtocol http  -> b2's weft echo (HTTP/1.1 on 8080)
H2_VIP = "10.96.0.201"      # appProtocol http2 -> nghttpd --no-tls in b2 (h2c on 8090)
H2_PORT = 8090

SERVICES = f"""
apiVersion: v1
kind: Service
metadata: {{name: l7web, namespace: default}}
spec:
  clusterIP: {WEB_VIP}
  selector: {{instance: b2}}
  ports:
  - {{name: http, port: 80, targetPort: 8080, appProtocol: http}}
---
apiVersion: v1
kind: Service
metadata: {{name: l7h2, namespace: default}}
spec:
  clusterIP: {H2_VIP}
  selector: {{instance: b2}}
  ports:
  - {{name: h2, port: 80, targetPort: {H2_PORT}, appProtocol: http2}}
"""


@pytest.fixture(scope="module")
def l7(cluster):
    """The two L7 Services, visible to n1's agent."""
    cluster.write_config("l7-basic.yaml", SERVICES)
    wait_for(lambda: "l7h2" in json.dumps(cluster.config_dump("n1")) and
             "l7web" in json.dumps(cluster.config_dump("n1")), 15,
             what="n1's agent to see the L7 services")
    yield cluster
    cluster.remove_config("l7-basic.yaml")


def nopeer(text):
    """weft echo answers "NAME PEER METHOD TARGET": drop the (varying) peer."""
    import re
    return re.sub(r"^(\S+) \S+:\d+ ", r"\1 ", text, flags=re.M)


def curl(cluster, *args, timeout=10):
    return cluster.exec_in("a1", ["curl", "-sS", "-m", "8"] + list(args), timeout=timeout)


def test_get_through_two_agents(l7):
    path = "/get-" + uuid.uuid4().hex[:8]
    r = curl(l7, "-D", "-", f"http://{WEB_VIP}{path}")
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, r.stderr
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), out
    assert nopeer(body) == f"b2 GET {path}\n", out        # the app's own answer


def test_http1_keep_alive_reuses_the_connection(l7):
    r = curl(l7, "-v", f"http://{WEB_VIP}/one", f"http://{WEB_VIP}/two")
    assert r.returncode == 0, r.stderr
    assert nopeer(r.stdout.decode()) == "b2 GET /one\nb2 GET /two\n", r.stdout
    err = r.stderr.decode(errors="replace")
    assert "Re-using existing connection" in err or "Reusing existing connection" in err, err


def test_post_with_a_body(l7):
    body = os.urandom(100 * 1024).hex().encode()[:150 * 1024]   # 150 KiB: more than one window
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(body)
        f.flush()
        os.chmod(f.name, 0o644)
        r = curl(l7, "-w", "\\n%{http_code} %{size_upload}", "--data-binary", "@" + f.name,
                 f"http://{WEB_VIP}/post")
    assert r.returncode == 0, r.stderr
    out = nopeer(r.stdout.decode())
    assert out.startswith("b2 POST /post\n"), out
    assert out.rstrip().endswith(f"200 {len(body)}"), out


def test_h2c_client_to_an_http1_app(l7):
    r = curl(l7, "--http2-prior-knowledge", "-w", "\\n%{http_version}", f"http://{WEB_VIP}/h2")
    assert r.returncode == 0, r.stderr
    out = nopeer(r.stdout.decode())
    assert out == "b2 GET /h2\n\n2", out


def test_h2c_client_to_an_http2_service(l7):
    if not shutil.which("nghttpd"):
        pytest.skip("nghttpd is not installed (scripts/deps.sh: nghttp2-server)")
    docroot = tempfile.mkdtemp(prefix="weft-l7-h2-")
    marker = "h2-data-" + uuid.uuid4().hex
    with open(os.path.join(docroot, "hello.txt"), "w") as f:
        f.write(marker)
    os.chmod(docroot, 0o755)
    srv = l7.popen_in("b2", ["nghttpd", "--no-tls", "-d", docroot, str(H2_PORT)])
    try:
        wait_for(lambda: l7.exec_in("b2", ["sh", "-c", f"ss -ltn | grep -q ':{H2_PORT} '"]).returncode == 0,
                 10, what="nghttpd to listen")
        r = curl(l7, "--http2-prior-knowledge", "-w", "\\n%{http_code}", f"http://{H2_VIP}/hello.txt")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == marker + "\n200", r.stdout
        # an HTTP/1.1 client reaches the same h2c application through the agents
        r = curl(l7, "-w", "\\n%{http_code}", f"http://{H2_VIP}/hello.txt")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == marker + "\n200", r.stdout
        r = curl(l7, "-w", "%{http_code}", "-o", "/dev/null", f"http://{H2_VIP}/missing")
        assert r.stdout.decode() == "404", r.stdout     # the app's status passes through
    finally:
        srv.terminate()
        try:
            srv.wait(5)
        except Exception:
            srv.kill()
        shutil.rmtree(docroot, ignore_errors=True)
