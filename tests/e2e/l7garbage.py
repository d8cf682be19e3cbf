"""Malformed and abusive L7 traffic, run INSIDE a pod (`ip netns exec ...
python3 l7garbage.py MODE IP PORT [--n N] [--seed S] [--conc C]`) against a
captured Service VIP, for test_l7_robustness.py. Prints one JSON line:
{"cases": N, "status": {"400": n, ...}, "goaway": {"1": n, ...}, "closed": n,
"silent": n, "errors": {"ConnectionResetError": n, ...}, "connect_failed": n}.
"silent" counts cases the agent neither answered nor closed within the
read window; "connect_failed" cases whose connect() itself failed.

Modes:
  h1        HTTP/1 requests: smuggling and framing edge cases, mutations of
            valid requests (byte flips, insertions, cuts), random bytes
  h1-abort  valid HTTP/1 requests for slow answers (?delay=), the client
            vanishing mid-request, mid-body or before the answer (FIN or RST)
  h2        h2c with prior knowledge: invalid frames, mutated HPACK blocks,
            invalid pseudo-headers, flow-control and SETTINGS errors, random
            frames and bytes
  h2-abort  h2c streams for slow answers reset or abandoned mid-flight
  burst     --conc uploads (HTTP/1 and h2c) at once, each client gone
            0-30 ms later: upstream requests cancelled while the agent is
            still opening tunnels for them
  h2-ok     one valid h2c GET; "status" holds its answer
The cases are a pure function of --seed: a failure can be replayed."""
import json
import random
import socket
import struct
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from hpack import Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINUP, CONT = range(10)
END_STREAM, END_HEADERS, PADDED, PRIO = 0x1, 0x4, 0x8, 0x20


# ---------------------------------------------------------------------------
# one connection
def linger0(s):
    """close() on s sends an RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def exchange(ip, port, chunks, read_s=2.0, half_close=True, rst_after=None):
    """Sends chunks (bytes, or a float: sleep that long), half-closes unless
    told not to, then reads until EOF or read_s. rst_after: abort (RST) that
    many seconds after sending instead of reading. Returns (bytes read,
    outcome) with outcome one of "closed", "silent", "aborted", "connect",
    or an exception name."""
    try:
        s = socket.create_connection((ip, port), timeout=5)
    except OSError:
        return b"", "connect"
    buf = b""
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for c in chunks:
            if isinstance(c, float):
                time.sleep(c)
            else:
                s.sendall(c)
        if rst_after is not None:
            time.sleep(rst_after)
            linger0(s)
            return b"", "aborted"
        if half_close:
            s.shutdown(socket.SHUT_WR)
        end = time.monotonic() + read_s
        s.settimeout(0.1)
        while time.monotonic() < end:
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                return buf, "closed"
            buf += d
            if len(buf) > 1 << 20:
                break
        return buf, "silent"
    except OSError as e:
        return buf, type(e).__name__
    finally:
        s.close()


def h1_statuses(resp):
    """Every HTTP/1 status code at the start of a line of resp."""
    out = []
    for ln in resp.split(b"\r\n"):
        if ln.startswith(b"HTTP/1.") and len(ln) >= 12:
            try:
                out.append(int(ln[9:12]))
            except ValueError:
                out.append(-1)
    return out


def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid & 0xffffffff) + payload


def h2_parse(buf):
    """(statuses of HEADERS answers as a count, GOAWAY error codes) in buf
    (after the server's frames; statuses are not decoded: HEADERS count)."""
    heads, goaways = 0, []
    while len(buf) >= 9:
        ln = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + ln:
            break
        t, payload = buf[3], buf[9:9 + ln]
        buf = buf[9 + ln:]
        if t == HEADERS:
            heads += 1
        elif t == GOAWAY and len(payload) >= 8:
            goaways.append(struct.unpack(">I", payload[4:8])[0])
    return heads, goaways


# ---------------------------------------------------------------------------
# HTTP/1 cases
H1_FIXED = [
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\nHost: web\n\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nX-A: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1;x=\"y\"\r\nabc\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n 3 \r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: identity\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: +3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 1e3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\nabcGARBAGE\x00\xff\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 10\r\n\r\nabc",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nHost: other\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web:99999\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
    b"GET http://other.example/x HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET http://web HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET http://user@web/ HTTP/1.1\r\nHost: web\r\n\r\n",
    b"CONNECT web:80 HTTP/1.1\r\nHost: web:80\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: web\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1 \r\nHost: web\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET\r\n\r\n",
    b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /\x7f HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /%00%ff%2e%2e/%2F HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nX-\x00: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nX-A: \x00\x01\x7f\xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\n: empty-name\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nNoColon\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nX-A:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nExpect: 999-nonsense\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85garbage",
    b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close, keep-alive, te, x-a\r\nTE: trailers\r\nX-A: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nx-forwarded-client-cert: By=a;URI=b\r\nx-weft-service: a/b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\nx-request-id: " + b"r" * 5000 + b"\r\ntraceparent: 00-zz-zz-01\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\ntraceparent: 00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-ff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: web\r\ntraceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra\r\n\r\n",
    b"GET /?delay=100 HTTP/1.1\r\nHost: web\r\n\r\nGET /?status=503 HTTP/1.1\r\nHost: web\r\n\r\nGET /?size=7000 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /?status=101 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /?status=204&size=100 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"HEAD /?size=7000 HTTP/1.1\r\nHost: web\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /?status=100 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"GET /?status=599 HTTP/1.1\r\nHost: web\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 64,
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(64)),
]


def h1_big_cases():
    return [
        b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: web\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: web\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n",
        b"GET / HTTP/1.1\r\nHost: web\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: web\r\n" + b"X-A: 1\r\n" * 3000,
        b"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 5000 + b"0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 200000\r\n\r\n" + b"z" * 200000,
        b"".join(b"GET /p%d HTTP/1.1\r\nHost: web\r\n\r\n" % i for i in range(200)),
    ]


H1_BASE = [
    b"GET /base?x=1 HTTP/1.1\r\nHost: web\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    b"POST /base HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /base HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: web\r\n\r\nGET /b HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
]
NASTY = [b"\r", b"\n", b"\r\n", b"\x00", b":", b" ", b"\t", b"%", b"\xff", b"\x80", b";", b",",
         b"\r\n\r\n", b"chunked", b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        if not data:
            data += rng.choice(NASTY)
            continue
        i = rng.randrange(len(data))
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            data[i:i] = rng.choice(NASTY)
        elif op == 2:
            del data[i:i + rng.randint(1, 8)]
        elif op == 3:
            j = rng.randrange(len(data))
            data[i:i] = data[min(i, j):max(i, j)][:64]
        elif op == 4:
            data = data[:i]
        else:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data)


def h1_cases(rng, n):
    out = [(c, {}) for c in H1_FIXED + h1_big_cases()]
    while len(out) < n:
        k = rng.random()
        if k < 0.6:
            out.append((mutate(rng, rng.choice(H1_BASE + H1_FIXED)), {}))
        elif k < 0.8:
            out.append((bytes(rng.randrange(256) for _ in range(rng.randint(0, 2048))), {}))
        else:
            # printable garbage that looks like a head
            out.append((b"".join(rng.choice([b"GET", b" ", b"/", b"HTTP/1.1", b"\r\n", b"Host: web",
                                             b":", b"a", b"0", b"\n", b"Content-Length: 2"])
                                 for _ in range(rng.randint(1, 40))) + b"\r\n\r\n", {}))
    return out[:max(n, len(H1_FIXED))]


def h1_abort_cases(rng, n):
    out = []
    for i in range(n):
        d = rng.choice([50, 200, 400])
        req = b"GET /abort%d?delay=%d HTTP/1.1\r\nHost: web\r\n\r\n" % (i, d)
        k = i % 6
        if k == 0:      # the client's FIN before the answer
            out.append(([req], {"read_s": 0.0}))
        elif k == 1:    # RST before the answer
            out.append(([req], {"rst_after": d / 2000.0}))
        elif k == 2:    # mid-body
            out.append(([b"POST /abort HTTP/1.1\r\nHost: web\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000],
                        {"rst_after": 0.05}))
        elif k == 3:    # mid-chunked body, then FIN
            out.append(([b"POST /abort HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123"],
                        {"read_s": 0.2}))
        elif k == 4:    # pipelined slow answers, then RST
            out.append(([req * 5], {"rst_after": 0.1}))
        else:           # a big answer never read
            out.append(([b"GET /?size=7000 HTTP/1.1\r\nHost: web\r\n\r\n" * 50], {"rst_after": 0.05}))
    return [(c, kw) for c, kw in out]


# ---------------------------------------------------------------------------
# h2 cases: each a list of chunks sent after the preface and a SETTINGS
def h2_req(enc, path="/", extra=(), method="GET"):
    return enc.encode([(":method", method), (":scheme", "http"), (":path", path),
                       (":authority", "web")] + list(extra))


def h2_bad_headers(enc, rng):
    """An encoded header block that breaks an RFC 9113 rule."""
    base = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "web")]
    k = rng.randrange(14)
    if k == 0:
        hs = base + [("X-Upper", "1")]
    elif k == 1:
        hs = base + [("connection", "keep-alive")]
    elif k == 2:
        hs = base + [("te", "gzip")]
    elif k == 3:
        hs = base[1:]                                   # no :method
    elif k == 4:
        hs = base + [(":path", "/again")]               # duplicate pseudo
    elif k == 5:
        hs = [("x-a", "1")] + base                      # pseudo after regular
    elif k == 6:
        hs = [(":method", "GET"), (":scheme", "http"), (":path", ""), (":authority", "web")]
    elif k == 7:
        hs = [(":method", "CONNECT"), (":path", "/"), (":scheme", "http")]
    elif k == 8:
        hs = base + [(":status", "200")]
    elif k == 9:
        hs = base + [("x-a", "a\r\nb")]
    elif k == 10:
        hs = base + [("x-\x00", "v")]
    elif k == 11:
        hs = base + [("content-length", "abc")]
    elif k == 12:
        hs = [(":method", "GET"), (":scheme", "http"), (":path", "no-slash"), (":authority", "web")]
    else:
        hs = base + [("host", "other"), ("transfer-encoding", "chunked")]
    return enc.encode(hs)


def h2_case(rng, enc):
    """A list of frames (bytes) that misbehave in one or more ways."""
    sid = 1
    frames = []
    for _ in range(rng.randint(1, 12)):
        k = rng.randrange(26)
        if k == 0:      # a valid request
            frames.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, h2_req(enc, "/ok")))
        elif k == 1:    # mutated HPACK
            blk = bytearray(h2_req(enc, "/m", [("x-a", "b" * rng.randint(0, 300))]))
            for _ in range(rng.randint(1, 4)):
                blk[rng.randrange(len(blk))] = rng.randrange(256)
            frames.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, bytes(blk)))
        elif k == 2:
            frames.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, h2_bad_headers(enc, rng)))
        elif k == 3:    # content-length disagrees with DATA
            frames.append(frame(HEADERS, END_HEADERS, sid, h2_req(enc, "/cl", [("content-length", "5")], "POST")))
            frames.append(frame(DATA, END_STREAM, sid, b"abc"))
        elif k == 4:
            frames.append(frame(DATA, END_STREAM, 0, b"zero"))
        elif k == 5:    # DATA on an idle stream
            frames.append(frame(DATA, END_STREAM, sid + 40, b"idle"))
        elif k == 6:    # bad padding
            frames.append(frame(HEADERS, END_HEADERS, sid, h2_req(enc, "/pad", (), "POST")))
            frames.append(frame(DATA, PADDED | END_STREAM, sid, b"\xff" + b"x" * 4))
        elif k == 7:
            frames.append(frame(RST, 0, rng.choice([0, sid, sid + 20]), struct.pack(">I", rng.randrange(16))))
        elif k == 8:
            frames.append(frame(WINUP, 0, rng.choice([0, sid]), struct.pack(">I", 0)))
        elif k == 9:    # window overflow
            frames.append(frame(WINUP, 0, 0, struct.pack(">I", 0x7fffffff)) * 2)
        elif k == 10:
            ident, val = rng.choice([(2, 2), (4, 0x80000000), (5, 100), (5, 1 << 24), (3, 0), (1, 0),
                                     (6, 0), (0x99, 7), (4, 0)])
            frames.append(frame(SETTINGS, 0, 0, struct.pack(">HI", ident, val)))
        elif k == 11:
            frames.append(frame(SETTINGS, 1, 0, b"\x00" * 6))          # ACK with payload
        elif k == 12:
            frames.append(frame(SETTINGS, 0, 0, b"\x00" * 5))          # not a multiple of 6
        elif k == 13:
            frames.append(frame(PING, 0, rng.choice([0, 1]), b"\x00" * rng.choice([7, 8, 9])))
        elif k == 14:
            frames.append(frame(PRIORITY, 0, sid, struct.pack(">IB", sid, 10)))     # depends on itself
        elif k == 15:
            frames.append(frame(PRIORITY, 0, sid, b"\x00\x00"))
        elif k == 16:
            frames.append(frame(PUSH, END_HEADERS, sid, struct.pack(">I", 2) + h2_req(enc)))
        elif k == 17:
            frames.append(frame(GOAWAY, 0, 0, struct.pack(">II", 0, rng.randrange(16))))
        elif k == 18:
            frames.append(frame(CONT, END_HEADERS, sid, h2_req(enc)))   # no HEADERS before it
        elif k == 19:
            frames.append(frame(0x42, 0xff, sid, b"unknown type"))
        elif k == 20:   # larger than SETTINGS_MAX_FRAME_SIZE
            frames.append(frame(HEADERS, END_HEADERS, sid, h2_req(enc, "/big", (), "POST")))
            frames.append(frame(DATA, 0, sid, b"d" * 20000))
        elif k == 21:   # random frame
            frames.append(frame(rng.randrange(12), rng.randrange(256), rng.randrange(8),
                                bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))))
        elif k == 22:   # random bytes
            frames.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))))
        elif k == 23:   # HEADERS on a stream id going backwards / even
            frames.append(frame(HEADERS, END_STREAM | END_HEADERS, rng.choice([2, 0, sid - 2 if sid > 2 else 2]),
                                h2_req(enc)))
        elif k == 24:   # priority flag, then a trailer HEADERS without END_STREAM
            frames.append(frame(HEADERS, END_HEADERS | PRIO, sid, struct.pack(">IB", 0, 1) + h2_req(enc, "/p", (), "POST")))
            frames.append(frame(HEADERS, END_HEADERS, sid, enc.encode([("x-trailer", "1")])))
        else:           # split headers across CONTINUATION, then something else in between
            blk = h2_req(enc, "/cont", [("x-b", "c" * 100)])
            frames.append(frame(HEADERS, END_STREAM, sid, blk[:10]))
            frames.append(frame(rng.choice([CONT, DATA, PING]), END_HEADERS, sid, blk[10:]))
        sid += 2
    return frames


def h2_cases(rng, n):
    out = []
    for i in range(n):
        enc = Encoder()
        if i % 10 == 9:     # a mangled preface
            p = bytearray(PREFACE)
            p[rng.randrange(len(p))] = rng.randrange(256)
            out.append(([bytes(p), frame(SETTINGS, 0, 0, b"")], {}))
            continue
        # no half-close: an h2 server may treat the FIN as the end of
        # every stream, and the answers (and their errors) are the point
        out.append(([PREFACE + frame(SETTINGS, 0, 0, b"")] + h2_case(rng, enc),
                    {"half_close": False, "read_s": 1.0}))
    return out


def h2_abort_cases(rng, n):
    out = []
    for i in range(n):
        enc = Encoder()
        head = PREFACE + frame(SETTINGS, 0, 0, b"")
        reqs = b"".join(frame(HEADERS, END_STREAM | END_HEADERS, sid,
                              h2_req(enc, "/h2abort%d?delay=%d" % (i, rng.choice([50, 200, 400]))))
                        for sid in range(1, 21, 2))
        k = i % 5
        if k == 4:      # requests, then a connection error in the same write: the
            # agent routes them and must cancel their upstream streams at once
            post = b"".join(frame(HEADERS, END_HEADERS, sid, h2_req(enc, "/doomed%d" % sid, (), "POST")) +
                            frame(DATA, 0, sid, b"b" * 100) for sid in range(1, 11, 2))
            err = rng.choice([frame(WINUP, 0, 0, struct.pack(">I", 0)), frame(SETTINGS, 0, 0, b"\x00" * 5),
                              frame(DATA, 0, 0, b"zero"), frame(PING, 0, 0, b"\x00")])
            out.append(([head + reqs + post + err], {"half_close": False, "read_s": 0.5}))
        elif k == 0:    # reset every stream while its answer is pending
            rst = b"".join(frame(RST, 0, sid, struct.pack(">I", 8)) for sid in range(1, 21, 2))
            out.append(([head + reqs, 0.05, rst], {"read_s": 0.3}))
        elif k == 1:    # the connection vanishes (RST)
            out.append(([head + reqs], {"rst_after": 0.05}))
        elif k == 2:    # GOAWAY from the client with streams in flight, then FIN
            out.append(([head + reqs, frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0))], {"read_s": 0.6}))
        else:           # a body cut short by RST_STREAM, big answers left unread
            body = frame(HEADERS, END_HEADERS, 1, h2_req(enc, "/up", (), "POST")) + frame(DATA, 0, 1, b"u" * 8000)
            big = b"".join(frame(HEADERS, END_STREAM | END_HEADERS, sid, h2_req(enc, "/?size=7000"))
                           for sid in range(3, 41, 2))
            out.append(([head + body + big, 0.02, frame(RST, 0, 1, struct.pack(">I", 8))], {"rst_after": 0.05}))
    return out


def burst_cases(rng, n):
    """n uploads that all start at once (run with --conc n): more open
    requests than one pooled upstream connection takes, so the agent opens
    new tunnels, and each client vanishes 0-30 ms later: mostly while its
    upstream request still waits for its tunnel."""
    out = []
    for i in range(n):
        if i % 2:
            req = [b"POST /burst%d HTTP/1.1\r\nHost: web\r\nContent-Length: 1000\r\n\r\n" % i + b"x" * 10]
        else:
            enc = Encoder()
            req = [PREFACE + frame(SETTINGS, 0, 0, b"") +
                   frame(HEADERS, END_HEADERS, 1, h2_req(enc, "/burst%d" % i, (), "POST")) +
                   frame(DATA, 0, 1, b"y" * 10)]
        out.append((req, {"rst_after": rng.randint(0, 30) / 1000.0}))
    return out


def h2_ok(ip, port):
    enc = Encoder()
    data, outcome = exchange(ip, port, [PREFACE + frame(SETTINGS, 0, 0, b"") +
                                        frame(HEADERS, END_STREAM | END_HEADERS, 1, h2_req(enc, "/h2ok"))],
                             read_s=5.0, half_close=False)
    from hpack import Decoder
    dec = Decoder()
    buf = data
    while len(buf) >= 9:
        ln = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + ln:
            break
        t, fl, payload = buf[3], buf[4], buf[9:9 + ln]
        buf = buf[9 + ln:]
        if t == HEADERS:
            return dict(dec.decode(payload)).get(":status", "?")
    return outcome


# ---------------------------------------------------------------------------
def main():
    mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    n = int(opts.get("--n", 200))
    rng = random.Random(int(opts.get("--seed", 1)))
    conc = int(opts.get("--conc", 16))
    if mode == "h2-ok":
        print(json.dumps({"cases": 1, "status": {str(h2_ok(ip, port)): 1}}))
        return
    if mode == "h1":
        cases = [([c], kw) for c, kw in h1_cases(rng, n)]
    elif mode == "h1-abort":
        cases = h1_abort_cases(rng, n)
    elif mode == "h2":
        cases = h2_cases(rng, n)
    elif mode == "h2-abort":
        cases = h2_abort_cases(rng, n)
    elif mode == "burst":
        cases = burst_cases(rng, n)
    else:
        raise SystemExit(f"unknown mode {mode}")

    def run(case):
        chunks, kw = case
        return exchange(ip, port, chunks, **kw)

    status, goaway, errors = Counter(), Counter(), Counter()
    closed = silent = connect_failed = 0
    with ThreadPoolExecutor(conc) as ex:
        for data, outcome in ex.map(run, cases):
            if mode.startswith("h1"):
                for st in h1_statuses(data):
                    status[str(st)] += 1
            else:
                heads, gas = h2_parse(data[len(PREFACE):] if data.startswith(PREFACE) else data)
                status["headers"] += heads
                for g in gas:
                    goaway[str(g)] += 1
            if outcome == "closed":
                closed += 1
            elif outcome == "silent":
                silent += 1
            elif outcome == "connect":
                connect_failed += 1
            elif outcome != "aborted":
                errors[outcome] += 1
    print(json.dumps({"cases": len(cases), "status": status, "goaway": goaway, "closed": closed,
                      "silent": silent, "errors": errors, "connect_failed": connect_failed}))


if __name__ == "__main__":
    main()
