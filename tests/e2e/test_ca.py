"""The certificate authority of `weft control` (docs/control.md, "Certificate
authority"), seen from outside: a real control plane with --ca-dir, a real
grpc-js client over TLS (tests/e2e/node/ca_client.js), openssl to read what
was issued."""
import json
import subprocess

import pytest

from mesh import NODE, NODE_DIR, free_port, wait_for

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
metadata: {name: web-b, namespace: default, labels: {app: web}}
spec: {serviceAccount: web, node: n2, addresses: [127.0.0.12]}
"""


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def openssl(*args, inp=None):
    r = run(["openssl", *args], input=inp)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def ca(mesh, weft_bin):
    """A control plane with a CA in <tmp>/ca, its mTLS port, and helpers."""
    ca_dir = mesh.root / "ca"
    mesh.write("mesh.yaml", CONFIG)
    tls_port = free_port()
    cp = mesh.start_control(extra=["--ca-dir", str(ca_dir), "--xds-tls", f"127.0.0.1:{tls_port}",
                                   "--cert-ttl", "2h"])

    class CA:
        root = ca_dir / "root-cert.pem"
        addr = f"127.0.0.1:{tls_port}"
        dir = ca_dir
        control = cp

        @staticmethod
        def token(node, ttl="1h"):
            r = run([weft_bin, "control", "token", "create", "--node", node, "--ca-dir", str(ca_dir),
                     "--ttl", ttl])
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert len(lines) == 1
            return lines[0]

        @staticmethod
        def key_and_csr(name, subj="/CN=ignored", san=None):
            key = mesh.root / f"{name}-key.pem"
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
            args = ["req", "-new", "-key", str(key), "-subj", subj]
            if san:
                args += ["-addext", f"subjectAltName={san}"]
            return key, openssl(*args)

        @staticmethod
        def call(method, body, key=None, cert=None):
            argv = [NODE, str(NODE_DIR / "ca_client.js"), "--addr", CA.addr, "--root", str(CA.root)]
            if key:
                argv += ["--key", str(key), "--cert", str(cert)]
            r = run(argv + [method, json.dumps(body)])
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout.strip().splitlines()[-1])

        @staticmethod
        def join(node):
            """Joins as node: returns (key file, cert file) of the node certificate."""
            key, csr = CA.key_and_csr(f"node-{node}")
            res = CA.call("join", {"token": CA.token(node), "node": node, "csrPem": csr})
            assert res["ok"], res
            cert = mesh.root / f"node-{node}-cert.pem"
            cert.write_text("".join(res["response"]["certChainPem"]))
            return key, cert

    return CA


def san_of(pem):
    text = openssl("x509", "-noout", "-ext", "subjectAltName", inp=pem)
    return [l.strip() for l in text.splitlines()[1:] if l.strip()]


def metrics(cp):
    body = cp.get("/metrics")[1]
    return body.decode() if isinstance(body, bytes) else body


def test_token_format_and_pin(ca):
    tok = ca.token("n1")
    tid, secret, pin = tok.split(".")
    assert len(tid) == 16 and len(secret) == 64 and len(pin) == 64
    # the pin is the SHA-256 of the root's SubjectPublicKeyInfo
    der = subprocess.run("openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform DER"
                         " | openssl dgst -sha256 -r" % ca.root, shell=True, capture_output=True,
                         text=True, check=True).stdout.split()[0]
    assert pin == der
    assert (ca.dir / "root-key.pem").stat().st_mode & 0o777 == 0o600
    # a node name that cannot be an identity is refused
    r = run([ca.control.weft_bin, "control", "token", "create", "--node", "Bad/Name",
             "--ca-dir", str(ca.dir)])
    assert r.returncode != 0 and "not a valid node name" in r.stderr


def test_join_once(ca):
    key, csr = ca.key_and_csr("n1", san="URI:spiffe://cluster.local/weft/node/n2")
    tok = ca.token("n1")
    res = ca.call("join", {"token": tok, "node": "n1", "csrPem": csr})
    assert res["ok"], res
    chain = res["response"]["certChainPem"]
    assert san_of(chain[0]) == ["URI:spiffe://cluster.local/weft/node/n1"]
    assert res["response"]["trustDomain"] == "cluster.local"
    assert "BEGIN CERTIFICATE" in res["response"]["bundlePem"]
    # the same token again: refused, opaque to the caller, explained in the log
    res = ca.call("join", {"token": tok, "node": "n1", "csrPem": csr})
    assert res == {"ok": False, "code": 7, "details": "not authorized"}
    wait_for(lambda: "Join refused: unknown_token" in ca.control.log_text(), 5, what="log line")
    # a token for another node
    res = ca.call("join", {"token": ca.token("n1"), "node": "n2", "csrPem": csr})
    assert res["code"] == 7 and res["details"] == "not authorized"
    # a node that is not in the config
    res = ca.call("join", {"token": ca.token("n9"), "node": "n9", "csrPem": csr})
    assert res["code"] == 7
    wait_for(lambda: "unknown_node" in ca.control.log_text(), 5, what="log line")


def test_sign_for_workload_on_own_node(ca):
    nkey, ncert = ca.join("n1")
    wkey, csr = ca.key_and_csr("echo", subj="/CN=admin",
                               san="URI:spiffe://cluster.local/ns/kube-system/sa/admin")
    res = ca.call("sign", {"csrPem": csr, "namespace": "default", "serviceAccount": "echo",
                           "ttlSeconds": 600}, nkey, ncert)
    assert res["ok"], res
    leaf = res["response"]["certChainPem"][0]
    assert san_of(leaf) == ["URI:spiffe://cluster.local/ns/default/sa/echo"]
    text = openssl("x509", "-noout", "-text", inp=leaf)
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    # chains to the root
    (ca.dir / "leaf.pem").write_text(leaf)
    openssl("verify", "-CAfile", str(ca.root), str(ca.dir / "leaf.pem"))
    # the node renews its own certificate
    _, csr2 = ca.key_and_csr("n1b")
    res = ca.call("sign", {"csrPem": csr2, "node": True}, nkey, ncert)
    assert res["ok"], res
    assert san_of(res["response"]["certChainPem"][0]) == ["URI:spiffe://cluster.local/weft/node/n1"]
    body = metrics(ca.control)
    assert 'weft_ca_certs_issued_total{kind="workload"} 1' in body
    assert 'weft_ca_certs_issued_total{kind="node"} 2' in body


def test_sign_refusals(ca):
    nkey, ncert = ca.join("n1")
    wkey, csr = ca.key_and_csr("w")
    # web runs on n2, not on the caller's node
    res = ca.call("sign", {"csrPem": csr, "namespace": "default", "serviceAccount": "web"}, nkey, ncert)
    assert res == {"ok": False, "code": 7, "details": "not authorized"}
    wait_for(lambda: "no_workload_on_node (node 'n1', identity 'spiffe://cluster.local/ns/default/sa/web')"
             in ca.control.log_text(), 5, what="log line")
    # without a node certificate
    res = ca.call("sign", {"csrPem": csr, "namespace": "default", "serviceAccount": "echo"})
    assert res["code"] == 7 and res["details"] == "not authorized"
    wait_for(lambda: "Sign refused: no_peer_certificate" in ca.control.log_text(), 5, what="log line")
    # a workload certificate is not a node certificate
    res = ca.call("sign", {"csrPem": csr, "namespace": "default", "serviceAccount": "echo"}, nkey, ncert)
    assert res["ok"]
    wcert = ca.dir / "w-cert.pem"
    wcert.write_text(res["response"]["certChainPem"][0])
    res = ca.call("sign", {"csrPem": csr, "namespace": "default", "serviceAccount": "echo"}, wkey, wcert)
    assert res["code"] == 7
    wait_for(lambda: "peer_not_a_node" in ca.control.log_text(), 5, what="log line")
    # a malformed CSR
    res = ca.call("sign", {"csrPem": "junk", "namespace": "default", "serviceAccount": "echo"}, nkey, ncert)
    assert res["code"] == 3
    body = metrics(ca.control)
    assert 'weft_ca_requests_refused_total{reason="no_workload_on_node"} 1' in body
    assert 'weft_ca_requests_refused_total{reason="no_peer_certificate"} 1' in body
    assert 'weft_ca_requests_refused_total{reason="malformed_csr"} 1' in body
