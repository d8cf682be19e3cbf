"""Bypass attempts for the eBPF capture tests (test_ebpf_bypass.py), run
INSIDE a pod (its netns and its cgroup: cluster.exec_in / popen_in). Every
command prints one JSON object per line on stdout; errors are reported as
{"errno": name} rather than raised, so the test sees what the kernel said.

  send IP PORT --send HEX [--bind-port P] [--v6] [--read-s S] [--no-shut]
      one TCP connection (AF_INET6 with --v6, which also takes a v4-mapped
      ::ffff:a.b.c.d), optionally bound to a fixed source port first; sends
      HEX, half-closes (not with --no-shut), reads until EOF or S s.
      -> {"connect": errno|null, "data": hex, "local": "ip:port"}
  twice-nb A_IP A_PORT B_IP B_PORT --send HEX
      non-blocking connect() to A, then connect() to B at once, then to B
      again once A's connect finished; sends HEX, reads.
      -> {"first": errno, "second": errno, "third": errno, "data": hex}
  twice-block A_IP A_PORT B_IP B_PORT --send HEX
      blocking connect() to A, then connect() to B; sends HEX, reads.
      -> {"first": errno|null, "second": errno, "data": hex}
  reconnect A_IP A_PORT B_IP B_PORT --send HEX
      connect() to A, connect(AF_UNSPEC) (which disconnects a TCP socket),
      connect() to B; sends HEX, reads.
      -> {"first": .., "unspec": .., "second": .., "data": hex}
  fastopen IP PORT --send HEX
      sendto(MSG_FASTOPEN): the connect happens inside sendmsg.
      -> {"send": errno|null, "data": hex}
  udp IP PORT --send HEX [--v6]
      a connected UDP socket: send, wait 3 s for a reply.
      -> {"connect": errno|null, "reply": hex}
  record IP PORT [--seconds S] [--udp]
      a listener (TCP, or a UDP echo with --udp): prints {"event":
      "listening"}, then after S s {"conns": [{"peer": .., "data": hex}]}
      (TCP) or {"datagrams": [...]} (UDP, each echoed back).
"""
import argparse
import ctypes
import errno
import json
import select
import signal
import socket
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else str(e)


def try_connect(s, addr):
    """connect(); None or the errno name."""
    try:
        s.connect(addr)
        return None
    except OSError as e:
        return ename(e)


def send_read(s, data, read_s=3.0, shut=True):
    """Sends data, half-closes (unless not shut), reads until EOF or read_s."""
    got = b""
    try:
        s.setblocking(True)
        s.settimeout(read_s)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        end = time.monotonic() + read_s
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    return got.hex()


def family_of(ip, v6=False):
    return socket.AF_INET6 if v6 or ":" in ip else socket.AF_INET


def cmd_send(a):
    fam = family_of(a.ip, a.v6)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.bind_port:
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", a.bind_port))
    s.settimeout(5)
    err = try_connect(s, (a.ip, a.port))
    local = ""
    data = ""
    if err is None:
        local = "%s:%d" % s.getsockname()[:2]
        data = send_read(s, bytes.fromhex(a.send), a.read_s, not a.no_shut)
    s.close()
    out({"connect": err, "data": data, "local": local})


def wait_connected(s, t=5.0):
    select.select([], [s], [], t)
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def cmd_twice_nb(a):
    s = socket.socket(family_of(a.a_ip), socket.SOCK_STREAM)
    s.setblocking(False)
    first = try_connect(s, (a.a_ip, a.a_port))
    second = try_connect(s, (a.b_ip, a.b_port))
    so = wait_connected(s)
    third = try_connect(s, (a.b_ip, a.b_port))
    data = send_read(s, bytes.fromhex(a.send)) if so == 0 else ""
    s.close()
    out({"first": first, "second": second, "so_error": so, "third": third, "data": data})


def cmd_twice_block(a):
    s = socket.socket(family_of(a.a_ip), socket.SOCK_STREAM)
    s.settimeout(None)   # truly blocking: connect() returns once established
    first = try_connect(s, (a.a_ip, a.a_port))
    second = try_connect(s, (a.b_ip, a.b_port))
    data = send_read(s, bytes.fromhex(a.send)) if first is None else ""
    s.close()
    out({"first": first, "second": second, "data": data})


class SockaddrUnspec(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_char * 14)]


def cmd_reconnect(a):
    libc = ctypes.CDLL(None, use_errno=True)
    s = socket.socket(family_of(a.a_ip), socket.SOCK_STREAM)
    s.settimeout(5)
    first = try_connect(s, (a.a_ip, a.a_port))
    sa = SockaddrUnspec(0, b"")
    rc = libc.connect(s.fileno(), ctypes.byref(sa), ctypes.sizeof(sa))
    unspec = None if rc == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    second = try_connect(s, (a.b_ip, a.b_port))
    data = send_read(s, bytes.fromhex(a.send)) if second is None else ""
    s.close()
    out({"first": first, "unspec": unspec, "second": second, "data": data})


def cmd_fastopen(a):
    s = socket.socket(family_of(a.ip), socket.SOCK_STREAM)
    s.settimeout(5)
    err = None
    data = ""
    try:
        s.sendto(bytes.fromhex(a.send), socket.MSG_FASTOPEN, (a.ip, a.port))
    except OSError as e:
        err = ename(e)
    if err is None:
        got = b""
        try:
            s.shutdown(socket.SHUT_WR)
            end = time.monotonic() + 3
            while time.monotonic() < end:
                s.settimeout(max(0.01, end - time.monotonic()))
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except OSError:
            pass
        data = got.hex()
    s.close()
    out({"send": err, "data": data})


def cmd_udp(a):
    s = socket.socket(family_of(a.ip, a.v6), socket.SOCK_DGRAM)
    s.settimeout(3)
    err = try_connect(s, (a.ip, a.port))
    reply = ""
    if err is None:
        try:
            s.send(bytes.fromhex(a.send))
            reply = s.recv(65536).hex()
        except OSError as e:
            err = ename(e)
    s.close()
    out({"connect": err, "reply": reply})


def cmd_record(a):
    fam = family_of(a.ip)
    s = socket.socket(fam, socket.SOCK_DGRAM if a.udp else socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.ip, a.port))
    if not a.udp:
        s.listen(64)
    s.settimeout(0.1)
    out({"event": "listening"})
    end = [time.monotonic() + a.seconds]

    def stop(*_):   # SIGUSR1: report soon (after a short drain), not at the deadline
        end[0] = min(end[0], time.monotonic() + 0.5)
    signal.signal(signal.SIGUSR1, stop)
    items = []
    conns = []
    while time.monotonic() < end[0]:
        try:
            if a.udp:
                d, peer = s.recvfrom(65536)
                s.sendto(d, peer)
                items.append({"peer": "%s:%d" % peer[:2], "data": d.hex()})
            else:
                c, peer = s.accept()
                c.setblocking(False)
                conns.append([c, "%s:%d" % peer[:2], b""])
        except (socket.timeout, BlockingIOError):
            pass
        for cn in conns:
            if cn[0] is None:
                continue
            try:
                b = cn[0].recv(65536)
                if b:
                    cn[2] += b
                else:
                    cn[0].close()
                    cn[0] = None
            except BlockingIOError:
                pass
            except OSError:
                cn[0].close()
                cn[0] = None
    for cn in conns:
        if cn[0] is not None:
            cn[0].close()
        items.append({"peer": cn[1], "data": cn[2].hex()})
    out({"datagrams" if a.udp else "conns": items})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("send")
    c.add_argument("ip")
    c.add_argument("port", type=int)
    c.add_argument("--send", default="")
    c.add_argument("--bind-port", type=int, default=0)
    c.add_argument("--v6", action="store_true")
    c.add_argument("--read-s", type=float, default=3.0)
    c.add_argument("--no-shut", action="store_true")
    for name in ("twice-nb", "twice-block", "reconnect"):
        t = sub.add_parser(name)
        t.add_argument("a_ip")
        t.add_argument("a_port", type=int)
        t.add_argument("b_ip")
        t.add_argument("b_port", type=int)
        t.add_argument("--send", default="")
    f = sub.add_parser("fastopen")
    f.add_argument("ip")
    f.add_argument("port", type=int)
    f.add_argument("--send", default="")
    u = sub.add_parser("udp")
    u.add_argument("ip")
    u.add_argument("port", type=int)
    u.add_argument("--send", default="")
    u.add_argument("--v6", action="store_true")
    r = sub.add_parser("record")
    r.add_argument("ip")
    r.add_argument("port", type=int)
    r.add_argument("--seconds", type=float, default=5.0)
    r.add_argument("--udp", action="store_true")
    a = p.parse_args()
    {"send": cmd_send, "twice-nb": cmd_twice_nb, "twice-block": cmd_twice_block,
     "reconnect": cmd_reconnect, "fastopen": cmd_fastopen, "udp": cmd_udp,
     "record": cmd_record}[a.cmd](a)


if __name__ == "__main__":
    main()
