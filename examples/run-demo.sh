#!/usr/bin/env bash
# weft's demo (`make demo`): weft control on examples/mesh, three real gRPC
# echo servers on 127.0.0.11-13:7070, and a proxyless gRPC client
# (grpc-js + grpc-js-xds) calling xds:///echo.default.svc.cluster.local:7070
# through it, printing which backend answered, every second.
#
# Builds nothing (make did). Runs until Ctrl-C, or for DEMO_SECONDS seconds.
# Environment: WEFT_BIN (default build/weft), DEMO_SECONDS, DEMO_RATE (calls
# per second per stream, default 50), WEFT_XDS_PORT (15010),
# WEFT_ADMIN_PORT (15014), DEMO_CONFIG (examples/mesh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

WEFT=${WEFT_BIN:-$ROOT/build/weft}
XDS_PORT=${WEFT_XDS_PORT:-15010}
ADMIN_PORT=${WEFT_ADMIN_PORT:-15014}
CONFIG=${DEMO_CONFIG:-$ROOT/examples/mesh}
RATE=${DEMO_RATE:-50}
SECONDS_TO_RUN=${DEMO_SECONDS:-0}
NODE_DIR=$ROOT/tests/e2e/node
ADMIN=127.0.0.1:$ADMIN_PORT

[[ -x $WEFT ]] || { echo "demo: $WEFT not built: run 'make' first" >&2; exit 1; }
command -v node >/dev/null || { echo "demo: node not found: run 'make deps'" >&2; exit 1; }
[[ -d $ROOT/node_modules/@grpc/grpc-js-xds ]] || { echo "demo: npm packages missing: run 'make deps'" >&2; exit 1; }

WORK=$(mktemp -d /tmp/weft-demo.XXXXXX)
PIDS=()
CLIENT_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $CLIENT_PID ]] && kill -TERM "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0)) && [[ -d $WORK ]]; then
    for f in "$WORK"/*.log; do [[ -s $f ]] && { echo "----- $(basename "$f") -----"; tail -30 "$f"; }; done >&2
  fi
  rm -rf "$WORK"
  echo "demo: stopped, everything cleaned up"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

fail() { echo "demo: $*" >&2; exit 1; }

echo "demo: weft control --config ${CONFIG#$ROOT/} (xDS 127.0.0.1:$XDS_PORT, admin $ADMIN)"
"$WEFT" control --config "$CONFIG" --xds-listen "127.0.0.1:$XDS_PORT" \
  --admin-listen "$ADMIN" >"$WORK/weft-control.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do
  kill -0 "${PIDS[0]}" 2>/dev/null || fail "weft control exited: $(tail -20 "$WORK/weft-control.log")"
  curl -fsS -o /dev/null "http://$ADMIN/readyz" 2>/dev/null && break
  ((i < 100)) || fail "weft control not ready after 10 s"
  sleep 0.1
done

for b in a:11 b:12 c:13; do
  name=echo-${b%%:*} ip=127.0.0.${b##*:}
  node "$NODE_DIR/echo_server.js" "$name" "$ip:7070" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
done
for name in echo-a echo-b echo-c; do
  for i in $(seq 150); do
    grep -q READY "$WORK/$name.out" 2>/dev/null && break
    ((i < 150)) || fail "$name did not start: $(cat "$WORK/$name.log")"
    sleep 0.1
  done
done
echo "demo: echo servers echo-a 127.0.0.11:7070, echo-b 127.0.0.12:7070, echo-c 127.0.0.13:7070"

cat <<EOF

  mesh:   examples/mesh: GRPCRoute 'echo' splits calls 80/20 between echo-v1
          (echo-a, echo-b) and echo-v2 (echo-c); calls with 'x-backend: c' go to echo-c.
  client: proxyless grpc-js-xds, xds:///echo.default.svc.cluster.local:7070,
          $RATE calls/s without the header and $RATE calls/s with it.
  look:   curl -s http://$ADMIN/debug/clients    (connected xDS clients, ACK/NACK)
          curl -s http://$ADMIN/debug/config     (accepted config, or the errors with file:line)
          $WEFT status
  try:    edit examples/mesh/routes.yaml (weights, header) and watch the split change.
  stop:   Ctrl-C$( ((SECONDS_TO_RUN > 0)) && echo " (or wait: stops by itself after ${SECONDS_TO_RUN}s)")

EOF

node "$NODE_DIR/xds_client.js" --xds-server "127.0.0.1:$XDS_PORT" --node-id weft-demo-client \
  --deadline-ms 2000 watch --rate "$RATE" --also-metadata x-backend=c \
  --duration-s "$SECONDS_TO_RUN" 2>"$WORK/client.log" &
CLIENT_PID=$!
wait "$CLIENT_PID" || fail "client failed: $(tail -20 "$WORK/client.log")"
CLIENT_PID=
