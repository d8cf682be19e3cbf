"""Certificates for the agent acceptance tests, crafted with OpenSSL (through
python3-cryptography) from the CA files in the control's ca-dir
(root-cert.pem, root-key.pem), and an HBONE client/server over Python ssl
that runs inside a network namespace (python3 agentcerts.py ...)."""
import datetime
import json
import os
import socket
import ssl
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))


def load_ca(ca_dir):
    cert = x509.load_pem_x509_certificate(open(os.path.join(ca_dir, "root-cert.pem"), "rb").read())
    key = serialization.load_pem_private_key(open(os.path.join(ca_dir, "root-key.pem"), "rb").read(), None)
    return cert, key


def new_ca(name="foreign CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def leaf(ca, uris, *, ca_flag=False, eku=("client", "server"), expired=False, days=1):
    """A leaf signed by ca=(cert, key) with the given URI SANs."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        nb, na = now - datetime.timedelta(days=3), now - datetime.timedelta(days=2)
    else:
        nb, na = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    b = (x509.CertificateBuilder().subject_name(x509.Name([]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
                        critical=True)
         .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(True, False, True, False, False, ca_flag, ca_flag, False, False),
                        critical=True))
    ekus = [{"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}[e] for e in eku]
    if ekus:
        b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    return cert, key


def write_pair(dirpath, name, cert_key, chain=()):
    cert, key = cert_key
    cp = os.path.join(dirpath, f"{name}-cert.pem")
    kp = os.path.join(dirpath, f"{name}-key.pem")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        for c in chain:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


# ---- run inside a netns -------------------------------------------------

def _h2_settings_seen(s, timeout):
    """After the handshake: send the HTTP/2 preface and read; True when the
    server answers with frames (it accepted us), False on alert/EOF."""
    s.settimeout(timeout)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    try:
        data = s.recv(9)
    except (ssl.SSLError, OSError):
        return False
    return len(data) >= 4 and data[3] == 0x04


def client_main(argv):
    """client HOST PORT SNI CERT KEY BUNDLE -> {"accepted": bool, "error": str}"""
    host, port, sni, cert, key, bundle = argv
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # we test the agent's checks, not its certificate
    ctx.set_alpn_protocols(["h2"])
    if cert:
        ctx.load_cert_chain(cert, key)
    try:
        raw = socket.create_connection((host, int(port)), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname=sni)
        ok = _h2_settings_seen(s, 3)
        s.close()
        print(json.dumps({"accepted": ok, "error": ""}))
    except (ssl.SSLError, OSError) as e:
        print(json.dumps({"accepted": False, "error": str(e)}))


def server_main(argv):
    """server HOST PORT CERT KEY: a TLS server (ALPN h2) presenting CERT; it
    prints {"event": "listening"}, then one line per handshake attempt."""
    host, port, cert, key = argv
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["h2"])
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cafile=os.environ.get("BUNDLE"))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(16)
    print(json.dumps({"event": "listening"}), flush=True)
    while True:
        c, addr = ls.accept()
        try:
            s = ctx.wrap_socket(c, server_side=True)
            s.settimeout(2)
            try:
                got = s.recv(100)
            except (ssl.SSLError, OSError) as e:
                got = b""
                print(json.dumps({"event": "after-handshake", "error": str(e)}), flush=True)
            print(json.dumps({"event": "handshake", "peer": addr[0], "got": len(got)}), flush=True)
            s.close()
        except (ssl.SSLError, OSError) as e:
            print(json.dumps({"event": "refused", "peer": addr[0], "error": str(e)}), flush=True)
            c.close()


def connect_main(argv):
    """connect HOST PORT SNI CERT KEY AUTHORITY: one HBONE CONNECT over
    HTTP/2 (python3-h2); prints {"status": int|null, "error": str}."""
    import h2.config
    import h2.connection
    import h2.events
    host, port, sni, cert, key, authority = argv
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    ctx.load_cert_chain(cert, key)
    try:
        s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname=sni)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False))   # plain CONNECT has no :path
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "CONNECT"), (":authority", authority)])
        s.sendall(conn.data_to_send())
        s.settimeout(5)
        while True:
            data = s.recv(65536)
            if not data:
                print(json.dumps({"status": None, "error": "closed"}))
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    st = dict((k.decode() if isinstance(k, bytes) else k, v) for k, v in ev.headers)[":status"]
                    print(json.dumps({"status": int(st), "error": ""}))
                    return
                if isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    print(json.dumps({"status": None, "error": type(ev).__name__}))
                    return
            out = conn.data_to_send()
            if out:
                s.sendall(out)
    except (ssl.SSLError, OSError) as e:
        print(json.dumps({"status": None, "error": str(e)}))


if __name__ == "__main__":
    {"client": client_main, "server": server_main, "connect": connect_main}[sys.argv[1]](sys.argv[2:])
