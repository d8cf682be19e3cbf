#!/usr/bin/env bash
# run-xds-bench.sh — control-plane scale benchmark (see bench/README.md).
#
# Builds weft and the simulator, generates a mesh (10,000 services, 50,000
# workloads by default), then REPS times: starts `weft control` on loopback
# ports, waits for /readyz, connects CLIENTS simulated proxyless gRPC clients
# (build/bench/xds-sim), waits for full sync, moves one endpoint of the
# service every client watches (one file rewritten and renamed into place),
# waits for every client's ACK of the new EDS, and samples the control
# plane's peak RSS and CPU seconds. Prints a table of medians and writes
# $WORK/summary.json and $WORK/results.jsonl.
#
# Environment (defaults): CLIENTS=1000 PER_CLIENT=5 SERVICES=10000
#   WORKLOADS=50000 NAMESPACES=100 NODES=20 REPS=3 XDS_PORT=25010
#   ADMIN_PORT=25014 WORK=build/bench/run CHANGE=move
#   RELOAD_SIGNAL=   (e.g. HUP: also signal the control plane after the rename,
#                     for a build that does not watch its config directory)
#   MODE=sotw        (delta: the simulator uses DeltaAggregatedResources)
#   SERVER=weft      (mock: bench/mock-ads.js instead, to test the harness;
#                     the change is then SIGUSR1 and there is no config load)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CLIENTS=${CLIENTS:-1000}
PER_CLIENT=${PER_CLIENT:-5}
SERVICES=${SERVICES:-10000}
WORKLOADS=${WORKLOADS:-50000}
NAMESPACES=${NAMESPACES:-100}
NODES=${NODES:-20}
REPS=${REPS:-3}
XDS_PORT=${XDS_PORT:-25010}
ADMIN_PORT=${ADMIN_PORT:-25014}
WORK=${WORK:-build/bench/run}
CHANGE=${CHANGE:-move}
RELOAD_SIGNAL=${RELOAD_SIGNAL:-}
SERVER=${SERVER:-weft}
MODE=${MODE:-sotw}
SIM_MODE=
[ "$MODE" = delta ] && SIM_MODE=--delta
PY=/usr/bin/python3
SIM=build/bench/xds-sim
CLK_TCK=$(getconf CLK_TCK)

log() { echo "run-xds-bench: $*" >&2; }

# file descriptors: one per client here, one per client in the server
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CLIENTS + 256)) ]; then
	log "fd limit $(ulimit -n) is below $((CLIENTS + 256)); raise it (ulimit -Hn)"
	exit 1
fi

log "building"
make -s all bench-tools >&2

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -f "$WORK/results.jsonl"
log "generating $SERVICES services, $WORKLOADS workloads in $NAMESPACES files"
rm -rf "$WORK/mesh"
t=$(date +%s%N)
$PY bench/gen-mesh.py --out "$WORK/mesh" --services "$SERVICES" --workloads "$WORKLOADS" \
	--namespaces "$NAMESPACES" --nodes "$NODES" --listeners "$WORK/listeners.txt"
log "generated in $(( ($(date +%s%N) - t) / 1000000 )) ms, $(du -sh "$WORK/mesh" | cut -f1)"

SRV_PID=
SIM_PID=
cleanup() {
	[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

# cpu_s PID: utime + stime of the process so far, in seconds
cpu_s() {
	awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) / tck }' "/proc/$1/stat"
}
# hwm_kb PID: peak resident set (VmHWM) in kB
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

wait_ready() {  # polls /readyz (or the port, for the mock) for up to 300 s
	local deadline=$(( $(date +%s) + 300 ))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		if [ "$SERVER" = mock ]; then
			(exec 3<>"/dev/tcp/127.0.0.1/$XDS_PORT") 2>/dev/null && return 0
		elif curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz"; then
			return 0
		fi
		sleep 0.01
	done
	return 1
}

for rep in $(seq 1 "$REPS"); do
	log "repetition $rep/$REPS"
	rm -rf "$WORK/config"
	cp -r "$WORK/mesh" "$WORK/config"
	srvlog="$WORK/server-$rep.log"
	t_start=$(date +%s%N)
	if [ "$SERVER" = mock ]; then
		node bench/mock-ads.js --port "$XDS_PORT" --hot svc-1. >"$srvlog" 2>&1 &
	else
		build/weft control --config "$WORK/config" --xds-listen "127.0.0.1:$XDS_PORT" \
			--admin-listen "127.0.0.1:$ADMIN_PORT" >"$srvlog" 2>&1 &
	fi
	SRV_PID=$!
	if ! wait_ready; then
		log "control plane not ready (log: $srvlog):"
		tail -20 "$srvlog" >&2
		exit 1
	fi
	t_ready=$(date +%s%N)
	load_ms=$(( (t_ready - t_start) / 1000000 ))
	cpu_load=$(cpu_s "$SRV_PID")
	rss_loaded=$(rss_kb "$SRV_PID")
	log "ready after $load_ms ms (cpu ${cpu_load}s, rss ${rss_loaded} kB)"

	rm -f "$WORK/sim-ready" "$WORK/sim-trigger"
	$SIM --server "127.0.0.1:$XDS_PORT" --listeners "$WORK/listeners.txt" \
		--clients "$CLIENTS" --per-client "$PER_CLIENT" --hot 1 --seed "$rep" \
		--ready-file "$WORK/sim-ready" --trigger-file "$WORK/sim-trigger" \
		--sync-timeout 120 --trigger-timeout 30 --change-timeout 60 --max-time 300 \
		--out "$WORK/sim-$rep.json" $SIM_MODE &
	SIM_PID=$!
	while [ ! -f "$WORK/sim-ready" ] && kill -0 "$SIM_PID" 2>/dev/null; do sleep 0.01; done
	cpu_sync=$(cpu_s "$SRV_PID")
	if [ -f "$WORK/sim-ready" ]; then
		log "simulator synced ($(cat "$WORK/sim-ready")); changing one endpoint"
		sleep 1   # let the server go idle, so the change is measured alone
		cpu_before_change=$(cpu_s "$SRV_PID")
		if [ "$SERVER" = mock ]; then
			t0=$($PY -c 'import time; print(time.monotonic_ns())')
			kill -USR1 "$SRV_PID"
		else
			t0=$($PY bench/gen-mesh.py --out "$WORK/config" --services "$SERVICES" \
				--workloads "$WORKLOADS" --namespaces "$NAMESPACES" --nodes "$NODES" \
				--change "$CHANGE" --step "$rep")
			[ -n "$RELOAD_SIGNAL" ] && kill -s "$RELOAD_SIGNAL" "$SRV_PID"
		fi
		echo "$t0" >"$WORK/sim-trigger.tmp"
		mv "$WORK/sim-trigger.tmp" "$WORK/sim-trigger"
	else
		cpu_before_change=$cpu_sync
	fi
	sim_rc=0
	wait "$SIM_PID" || sim_rc=$?
	SIM_PID=
	cpu_end=$(cpu_s "$SRV_PID")
	hwm=$(hwm_kb "$SRV_PID")
	kill "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=
	$PY - "$WORK/sim-$rep.json" "$rep" "$sim_rc" "$load_ms" "$cpu_load" "$cpu_sync" \
		"$cpu_before_change" "$cpu_end" "$hwm" "$rss_loaded" >>"$WORK/results.jsonl" <<'EOF'
import json, sys
f, rep, rc, load_ms, c_load, c_sync, c_pre, c_end, hwm, rss = sys.argv[1:]
try:
    sim = json.load(open(f))
except Exception as e:
    sim = {"error": str(e)}
print(json.dumps({"rep": int(rep), "sim_rc": int(rc), "load_ms": int(load_ms),
                  "cpu_load_s": float(c_load), "cpu_sync_s": float(c_sync) - float(c_load),
                  "cpu_change_s": float(c_end) - float(c_pre), "cpu_total_s": float(c_end),
                  "peak_rss_mb": int(hwm) / 1024, "rss_after_load_mb": int(rss) / 1024,
                  "sim": sim}))
EOF
	log "repetition $rep: $(tail -1 "$WORK/results.jsonl" | $PY -c 'import json,sys; r=json.load(sys.stdin); s=r["sim"]; print("sync", s.get("full_sync",{}).get("all_synced_ms"), "ms; change p99", s.get("change",{}).get("p99_ms"), "ms; rss", round(r["peak_rss_mb"],1), "MB; rc", r["sim_rc"])')"
	sleep 1
done

$PY - "$WORK/results.jsonl" "$WORK/summary.json" "$CLIENTS" "$SERVICES" "$WORKLOADS" "$SERVER/$MODE" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out, clients, services, workloads, server = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def med(get):
    v = []
    for r in rows:
        try:
            x = get(r)
        except (KeyError, TypeError):
            x = None
        if x is not None:
            v.append(x)
    return (statistics.median(v) if v else None), v
metrics = [
    ("config load to /readyz (ms)", lambda r: r["load_ms"], None),
    ("full sync, all clients (ms)", lambda r: r["sim"]["full_sync"]["all_synced_ms"], ("< 5000", lambda x: x < 5000)),
    ("clients synced", lambda r: r["sim"]["synced"], ("= %d" % clients, lambda x: x == clients)),
    ("per-client sync p99 (ms)", lambda r: r["sim"]["full_sync"]["per_client_p99_ms"], None),
    ("change -> ACK p50 (ms)", lambda r: r["sim"]["change"]["p50_ms"], None),
    ("change -> ACK p99 (ms)", lambda r: r["sim"]["change"]["p99_ms"], ("< 200", lambda x: x < 200)),
    ("change -> ACK max (ms)", lambda r: r["sim"]["change"]["max_ms"], None),
    ("clients that ACKed the change", lambda r: r["sim"]["change"]["clients_updated"], ("= %d" % clients, lambda x: x == clients)),
    ("peak RSS, VmHWM (MB)", lambda r: r["peak_rss_mb"], ("< 300", lambda x: x < 300)),
    ("RSS after load (MB)", lambda r: r["rss_after_load_mb"], None),
    ("CPU s: load", lambda r: r["cpu_load_s"], None),
    ("CPU s: full sync", lambda r: r["cpu_sync_s"], None),
    ("CPU s: one change", lambda r: r["cpu_change_s"], None),
    ("simulator CPU s (whole run)", lambda r: r["sim"]["sim_cpu_s"], None),
]
summary = {"server": server, "clients": clients, "services": services, "workloads": workloads,
           "reps": len(rows), "medians": {}}
print("\n| metric (%s, %d clients, %s services, %s workloads) | median | runs | target | met |" % (server, clients, services, workloads))
print("|---|---|---|---|---|")
for name, get, target in metrics:
    m, v = med(get)
    summary["medians"][name] = m
    fmt = lambda x: ("%.1f" % x) if isinstance(x, float) else str(x)
    met = "" if not target or m is None else ("yes" if target[1](m) else "NO")
    print("| %s | %s | %s | %s | %s |" % (name, "n/a" if m is None else fmt(m),
          ", ".join(fmt(x) for x in v), target[0] if target else "", met))
json.dump(summary, open(out, "w"), indent=1)
EOF
