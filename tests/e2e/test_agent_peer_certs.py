"""Acceptance: the agents refuse every bad peer certificate, on both sides,
and count each refusal with its reason in weft_agent_peer_refused_total.

Client side of node n2's HBONE port: we connect from n1's netns to
10.0.0.2:15008 with Python ssl (TLS 1.3, ALPN h2, SNI of b2's identity
"echo.default.svid.weft") presenting certificates crafted from the
control's CA files. Server side: a fake HBONE server standing in for n2
presents a valid certificate of the wrong service account; n1's agent must
refuse it when a1 dials b2."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import agentcerts as ac
from cluster import PY, wait_for

TD = "cluster.local"
GOOD = f"spiffe://{TD}/ns/default/sa/client"
SNI = "echo.default.svid.weft"
AGENTCERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agentcerts.py")


@pytest.fixture(scope="module")
def certs(cluster):
    d = tempfile.mkdtemp(prefix="weft-certs-")
    ca = ac.load_ca(cluster.s["control"]["ca_dir"])
    foreign = ac.new_ca()
    out = {
        "good": ac.write_pair(d, "good", ac.leaf(ca, [GOOD])),
        "wrong_trust_domain": ac.write_pair(d, "wtd", ac.leaf(ca, ["spiffe://other.example/ns/default/sa/client"])),
        "untrusted": ac.write_pair(d, "foreign", ac.leaf(foreign, [GOOD])),
        "expired": ac.write_pair(d, "expired", ac.leaf(ca, [GOOD], expired=True)),
        "ca_leaf": ac.write_pair(d, "caleaf", ac.leaf(ca, [GOOD], ca_flag=True)),
        "no_client_auth": ac.write_pair(d, "noclient", ac.leaf(ca, [GOOD], eku=("server",))),
        "san_count": ac.write_pair(d, "twosans", ac.leaf(ca, [GOOD, f"spiffe://{TD}/ns/default/sa/echo"])),
        # a valid server certificate, for the wrong identity (b2 runs as sa echo)
        "wrong_identity": ac.write_pair(d, "wrongsa", ac.leaf(ca, [GOOD])),
        "dir": d,
        "bundle": os.path.join(cluster.s["control"]["ca_dir"], "root-cert.pem"),
    }
    yield out
    shutil.rmtree(d, ignore_errors=True)


def hbone_client(cluster, cert_key, sni=SNI):
    cert, key = cert_key if cert_key else ("", "")
    r = cluster.exec_in("n1", [PY, AGENTCERTS, "client", cluster.node("n2")["address"], "15008",
                               sni, cert, key, ""], timeout=30)
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def refused(cluster, node, reason):
    return cluster.metric(node, "weft_agent_peer_refused_total", reason=reason)


def test_valid_workload_certificate_is_accepted(cluster, certs):
    # the positive control: the same path with a good certificate works,
    # so the refusals below are about the certificates
    r = hbone_client(cluster, certs["good"])
    assert r["accepted"], r


@pytest.mark.parametrize("reason", ["wrong_trust_domain", "untrusted", "expired", "ca_leaf",
                                    "no_client_auth", "san_count"])
def test_bad_client_certificate_is_refused_and_counted(cluster, certs, reason):
    before = refused(cluster, "n2", reason)
    r = hbone_client(cluster, certs[reason])
    assert not r["accepted"], r
    wait_for(lambda: refused(cluster, "n2", reason) >= before + 1, 5,
             what=f'weft_agent_peer_refused_total{{reason="{reason}"}} on n2 to grow')


def test_no_client_certificate_is_refused(cluster, certs):
    before = refused(cluster, "n2", "no_certificate")
    r = hbone_client(cluster, None)
    assert not r["accepted"], r
    wait_for(lambda: refused(cluster, "n2", "no_certificate") >= before + 1, 5,
             what="no_certificate refusal count")


def test_outbound_dial_refuses_server_with_wrong_identity(cluster, certs):
    """n2's agent is replaced by a TLS server presenting a valid certificate
    of sa 'client'; a1 -> b2 (sa echo) must not be carried to it."""
    cluster.kill_agent("n2")
    srv = None
    try:
        cert, key = certs["wrong_identity"]
        srv = cluster.popen_in("n2", ["env", f"BUNDLE={certs['bundle']}", PY, AGENTCERTS, "server",
                                      cluster.node("n2")["address"], "15008", cert, key], text=True)
        assert json.loads(srv.stdout.readline())["event"] == "listening"
        before = refused(cluster, "n1", "wrong_identity")
        r = cluster.connect("a1", cluster.pod("b2")["service_ip"], 9090, b"secret-payload", read_s=3)
        assert b"secret-payload" not in r["data"] and not r["data"].startswith(b"b2 "), r
        wait_for(lambda: refused(cluster, "n1", "wrong_identity") >= before + 1, 5,
                 what='weft_agent_peer_refused_total{reason="wrong_identity"} on n1')
    finally:
        if srv and srv.poll() is None:
            srv.kill()
            srv.wait()
        cluster.start_agent("n2")
    # and with the real n2 back, the same connection works
    def works():
        r = cluster.connect("a1", cluster.pod("b2")["service_ip"], 9090, b"x", until="x", read_s=3)
        return r["data"].startswith(b"b2 ")
    wait_for(works, 15, interval=0.5, what="a1 -> b2 after n2's agent is back")
