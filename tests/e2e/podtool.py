"""A small TCP tool that the cluster fixture runs INSIDE a pod's network
namespace (`ip netns exec NS python3 podtool.py CMD ...`). Every command
prints one JSON object per line on stdout; times are time.monotonic(), which
is the same clock in every network namespace.

  connect IP PORT [--send HEX] [--read-s S] [--timeout S]
      connect, send, half-close, read until EOF or S seconds; prints
      {"ok": bool, "data": hex, "error": str, "eof": bool}
  hold IP PORT [--timeout S]
      connect, print {"event": "connected"}, then read until the peer closes;
      prints {"event": "closed", "t": monotonic, "how": "eof"|"reset"}
  load IP PORT --seconds S [--conns-per-s N]
      one connection after another (each: read the banner line, send a
      marker, expect it echoed back); prints {"ok": n, "failed": n, "errors": [...]}
  http URL [--n N] [--conc C] [--method M] [--header "K: V"]... [--data S] [--timeout S]
      N requests (over C connections in parallel, default 1), each over a keep-alive connection (a new one after the server
      closes or an error); prints {"status": {code: n}, "served": {X-Served-By: n},
      "errors": n, "error": last error, "bodies": [the first 3], "headers": [the
      first response's headers], "p50_ms", "p99_ms"}
  listen IP PORT [--seconds S]
      accept for S seconds; prints {"event": "listening"} then
      {"accepted": n, "peers": [...]}
"""
import argparse
import json
import socket
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cmd_connect(a):
    data = bytes.fromhex(a.send) if a.send else b""
    got = b""
    try:
        s = socket.create_connection((a.ip, a.port), timeout=a.timeout)
    except OSError as e:
        out({"ok": False, "data": "", "error": f"connect: {e}", "eof": False})
        return
    eof = False
    err = ""
    try:
        if data:
            s.sendall(data)
        if a.shut:
            s.shutdown(socket.SHUT_WR)
        end = time.monotonic() + a.read_s
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                eof = True
                break
            got += b
            if a.until and a.until.encode() in got:
                break
    except OSError as e:
        err = f"io: {e}"
    finally:
        s.close()
    out({"ok": not err, "data": got.hex(), "error": err, "eof": eof})


def cmd_hold(a):
    try:
        s = socket.create_connection((a.ip, a.port), timeout=a.timeout)
    except OSError as e:
        out({"event": "failed", "error": str(e)})
        return
    s.settimeout(None)
    out({"event": "connected", "t": time.monotonic()})
    how = "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out({"event": "data", "data": b.hex()})
    except OSError as e:
        how = f"reset: {e}"
    out({"event": "closed", "t": time.monotonic(), "how": how})


def one_exchange(ip, port, marker, timeout):
    with socket.create_connection((ip, port), timeout=timeout) as s:
        buf = b""
        while b"\n" not in buf:
            b = s.recv(4096)
            if not b:
                raise OSError("closed before the banner")
            buf += b
        rest = buf.split(b"\n", 1)[1]
        s.sendall(marker)
        got = rest
        while len(got) < len(marker):
            b = s.recv(4096)
            if not b:
                raise OSError("closed before the echo")
            got += b
        if got[:len(marker)] != marker:
            raise OSError("echo differs")
        return buf.split(b"\n", 1)[0].decode(errors="replace")


def cmd_load(a):
    ok = failed = 0
    errors = []
    servers = {}
    end = time.monotonic() + a.seconds
    gap = 1.0 / a.conns_per_s if a.conns_per_s > 0 else 0
    i = 0
    while time.monotonic() < end:
        i += 1
        marker = f"load-{i}-{time.monotonic_ns()}".encode()
        try:
            banner = one_exchange(a.ip, a.port, marker, a.timeout)
            ok += 1
            name = banner.split(" ")[0]
            servers[name] = servers.get(name, 0) + 1
        except OSError as e:
            failed += 1
            if len(errors) < 20:
                errors.append(f"{time.monotonic():.3f}: {e}")
        if gap:
            time.sleep(gap)
    out({"ok": ok, "failed": failed, "errors": errors, "servers": servers})


def cmd_listen(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.ip, a.port))
    s.listen(64)
    s.settimeout(0.1)
    out({"event": "listening"})
    peers = []
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        try:
            c, addr = s.accept()
            peers.append(f"{addr[0]}:{addr[1]}")
            c.close()
        except socket.timeout:
            pass
    out({"accepted": len(peers), "peers": peers})


def cmd_http(a):
    if a.conc > 1:
        import threading
        results = [None] * a.conc
        per = [a.n // a.conc + (1 if i < a.n % a.conc else 0) for i in range(a.conc)]

        def run(i):
            results[i] = http_run(a, per[i])
        ts = [threading.Thread(target=run, args=(i,)) for i in range(a.conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        merged = {"status": {}, "served": {}, "errors": 0, "error": "", "bodies": [], "headers": [], "lat": []}
        for r in results:
            for k in ("status", "served"):
                for kk, v in r[k].items():
                    merged[k][kk] = merged[k].get(kk, 0) + v
            merged["errors"] += r["errors"]
            merged["error"] = merged["error"] or r["error"]
            merged["bodies"] = (merged["bodies"] + r["bodies"])[:3]
            merged["headers"] = merged["headers"] or r["headers"]
            merged["lat"] += r["lat"]
        res = merged
    else:
        res = http_run(a, a.n)
    lat = sorted(res.pop("lat"))
    pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None)
    res["p50_ms"], res["p99_ms"] = pct(0.5), pct(0.99)
    out(res)


def http_run(a, n):
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(a.url)
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    hdrs = {}
    for h in a.header:
        k, _, v = h.partition(":")
        hdrs[k.strip()] = v.strip()
    status, served, bodies, lat = {}, {}, [], []
    errors, err, first_headers = 0, "", None
    conn = None
    for _ in range(n):
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
            conn.request(a.method, target, body=a.data.encode() if a.data else None, headers=hdrs)
            r = conn.getresponse()
            body = r.read()
            lat.append((time.monotonic() - t0) * 1000)
            status[str(r.status)] = status.get(str(r.status), 0) + 1
            sb = r.getheader("x-served-by", "-")
            served[sb] = served.get(sb, 0) + 1
            if first_headers is None:
                first_headers = [[k, v] for k, v in r.getheaders()]
            if len(bodies) < 3:
                bodies.append(body.decode(errors="replace"))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:  # noqa: BLE001 - every failure is a result here
            errors += 1
            err = f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
    return {"status": status, "served": served, "errors": errors, "error": err, "bodies": bodies,
            "headers": first_headers or [], "lat": lat}


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("connect")
    c.add_argument("ip")
    c.add_argument("port", type=int)
    c.add_argument("--send", default="")
    c.add_argument("--read-s", type=float, default=2.0)
    c.add_argument("--until", default="")
    c.add_argument("--shut", action="store_true")
    c.add_argument("--timeout", type=float, default=5.0)
    h = sub.add_parser("hold")
    h.add_argument("ip")
    h.add_argument("port", type=int)
    h.add_argument("--timeout", type=float, default=5.0)
    ld = sub.add_parser("load")
    ld.add_argument("ip")
    ld.add_argument("port", type=int)
    ld.add_argument("--seconds", type=float, required=True)
    ld.add_argument("--conns-per-s", type=float, default=20)
    ld.add_argument("--timeout", type=float, default=5.0)
    li = sub.add_parser("listen")
    li.add_argument("ip")
    li.add_argument("port", type=int)
    li.add_argument("--seconds", type=float, default=5.0)
    ht = sub.add_parser("http")
    ht.add_argument("url")
    ht.add_argument("--n", type=int, default=1)
    ht.add_argument("--method", default="GET")
    ht.add_argument("--header", action="append", default=[])
    ht.add_argument("--data", default="")
    ht.add_argument("--timeout", type=float, default=5.0)
    ht.add_argument("--conc", type=int, default=1)
    a = p.parse_args()
    {"connect": cmd_connect, "hold": cmd_hold, "load": cmd_load, "listen": cmd_listen,
     "http": cmd_http}[a.cmd](a)


if __name__ == "__main__":
    main()
