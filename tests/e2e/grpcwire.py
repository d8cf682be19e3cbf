"""One gRPC-looking request on the wire, run INSIDE a pod (`ip netns exec ...
python3 grpcwire.py IP PORT PATH`): h2c with prior knowledge (the python h2
library), a POST with content-type application/grpc and one empty message,
sent whole before reading. Prints one JSON line: {"status": int|null,
"headers": {name: value}, "trailers": {name: value}, "data": bytes of
DATA received, "ended": bool (END_STREAM seen), "reset": error code|null,
"error": str}. The headers of a trailers-only answer are in "headers"."""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def main():
    ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    res = {"status": None, "headers": {}, "trailers": {}, "data": 0, "ended": False, "reset": None,
           "error": ""}
    s = socket.create_connection((ip, port), timeout=5)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                         (":authority", f"{ip}:{port}"), ("content-type", "application/grpc"),
                         ("te", "trailers")])
    c.send_data(sid, b"\0\0\0\0\0", end_stream=True)
    s.sendall(c.data_to_send())
    end = time.monotonic() + 10
    try:
        while time.monotonic() < end and not res["ended"] and res["reset"] is None:
            b = s.recv(65536)
            if not b:
                res["error"] = "connection closed"
                break
            for ev in c.receive_data(b):
                if isinstance(ev, h2.events.ResponseReceived):
                    for k, v in ev.headers:
                        if k == ":status":
                            res["status"] = int(v)
                        else:
                            res["headers"][k] = v
                elif isinstance(ev, h2.events.TrailersReceived):
                    res["trailers"] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    res["data"] += len(ev.data)
                    c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    res["ended"] = True
                elif isinstance(ev, h2.events.StreamReset):
                    res["reset"] = ev.error_code
            s.sendall(c.data_to_send())
    except (OSError, h2.exceptions.ProtocolError) as e:
        res["error"] = str(e)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
