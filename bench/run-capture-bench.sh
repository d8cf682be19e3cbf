#!/usr/bin/env bash
# run-capture-bench.sh — connection-setup cost of each capture mode
# (issue 4; bench/README.md "Capture modes").
#
# One pod per mode and run, built the same way: a network namespace (lo, a
# veth eth0 10.77.0.2/24 with the default route, its peer unaddressed) and a
# cgroup v2 directory the client is put in. Inside the pod, an echo
# listener on 127.0.0.1:15001 (the in-pod outbound listener address of
# docs/agent.md) — a plain echo, no tunnel: `conn-rate serve` — and the
# client `conn-rate client`.
#   none   the client connects straight to 127.0.0.1:15001, no capture
#   nft    the client connects to 10.96.0.1:80; the agent's own rule set
#          (`table inet weft`, src/agent/nft.c, weft_nft_install) redirects
#          it to :15001; the listener reads SO_ORIGINAL_DST
#   ebpf   the client connects to 10.96.0.1:80; the agent's programs
#          (bpf/capture.bpf.c through src/agent/bpf_capture.c: connect4,
#          connect6, sockops on the pod cgroup, sk_lookup on the pod netns)
#          rewrite it to 127.0.0.1:15001; the listener reads and deletes the
#          orig_by_tuple record (weft_bpfcap_original_dst)
# The capture is installed and removed by the listener process itself;
# only the redirect and the original-destination lookup differ between the
# modes. The listener counts original destinations equal to 10.96.0.1:80:
# in nft/ebpf every accepted connection must have one (the run is marked
# otherwise), which shows the redirect really happened.
# Per mode and run: open loop at RATE connections/s (at most RATE_CONNS in
# flight) for RATE_DURATION s: p50/p99 of connect + first byte; then closed
# loop, CONNS connectors, MAX_DURATION s: connects/s. RUNS runs, mode order
# rotated each run; medians. Writes markdown to stdout and
# bench/results/capture-<date>.md.
#
# Environment (defaults):
#   RUNS=5  RATE=2000 RATE_CONNS=64 RATE_DURATION=10  CONNS=16 MAX_DURATION=5
#   WARMUP=1  MODES="none nft ebpf"
#   LOOKUP=1 (0: the listener skips the original-destination lookup, so only
#             the redirect itself is measured; the redirect is then not checked)
#   QUICK=1 (durations cut to a second or two: to try the harness, not to measure)
#   REPORT_ONLY=1 (no runs: the table again from the raw files in WORK, same settings)
#   WORK=build/bench/capture  OUT=bench/results/capture-<date>.md  PREFIX=cb<pid>
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "run-capture-bench: must run as root (network namespaces, cgroups, nftables, eBPF); try: sudo $0" >&2
	exit 1
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="$0 $*"
RUNS=${RUNS:-5}
RATE=${RATE:-2000}
RATE_CONNS=${RATE_CONNS:-64}
RATE_DURATION=${RATE_DURATION:-10}
CONNS=${CONNS:-16}
MAX_DURATION=${MAX_DURATION:-5}
WARMUP=${WARMUP:-1}
MODES=${MODES:-none nft ebpf}
LOOKUP=${LOOKUP:-1}
if [ "${QUICK:-0}" = 1 ]; then
	RATE_DURATION=2 MAX_DURATION=2 WARMUP=0.5
fi
PREFIX=${PREFIX:-cb$$}
DATE=$(date -u +%Y%m%d-%H%M%S)
WORK=${WORK:-build/bench/capture}
OUT=${OUT:-bench/results/capture-$DATE.md}
PY=/usr/bin/python3
CR=$ROOT/build/bench/conn-rate
LISTEN=127.0.0.1:15001
SVC=10.96.0.1:80
POD_IP=10.77.0.2

log() { echo "run-capture-bench: $*" >&2; }

for t in ip nft; do
	command -v "$t" >/dev/null || { log "$t is missing: run make deps (scripts/deps.sh)"; exit 1; }
done
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$CG2" ]; then
	log "no cgroup v2 hierarchy is mounted (eBPF capture attaches to cgroup v2)"; exit 1
fi
BPFFS=/sys/fs/bpf
if ! awk -v m="$BPFFS" '$2 == m && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts; then
	log "no bpffs at $BPFFS (mount -t bpf bpf $BPFFS)"; exit 1
fi

# ---- cleanup on every exit path ----
PIDS=()      # processes this script started
NETNS=()     # namespaces
CGROUPS=()   # cgroup directories
PINS=()      # bpffs pin directories
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for ns in "${NETNS[@]+"${NETNS[@]}"}"; do
		ip netns exec "$ns" nft delete table inet weft 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	for d in "${PINS[@]+"${PINS[@]}"}"; do
		# unlinking a pinned link detaches it when nothing else holds it
		[ -d "$d" ] && rm -rf "$d" 2>/dev/null || true
	done
	for d in "${CGROUPS[@]+"${CGROUPS[@]}"}"; do
		if [ -d "$d" ]; then
			for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
			rmdir "$d" 2>/dev/null || sleep 0.2
			rmdir "$d" 2>/dev/null || log "could not remove cgroup $d"
		fi
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# pod_up NAME: a fresh namespace and cgroup
pod_up() {
	local ns=$1
	if ip netns list | grep -qw "^$ns"; then log "network namespace $ns exists already; pick another PREFIX"; exit 1; fi
	if [ -e "$CG2/$ns" ]; then log "cgroup $CG2/$ns exists already; pick another PREFIX"; exit 1; fi
	ip netns add "$ns"; NETNS+=("$ns")
	ip -n "$ns" link set lo up
	# eth0's peer stays in the pod, unaddressed: what is not redirected goes nowhere
	ip -n "$ns" link add eth0 type veth peer name eth0p
	ip -n "$ns" addr add "$POD_IP/24" dev eth0
	ip -n "$ns" link set eth0p up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default dev eth0
	mkdir "$CG2/$ns"; CGROUPS+=("$CG2/$ns")
}

pod_down() {
	local ns=$1
	ip netns del "$ns" 2>/dev/null || true
	rmdir "$CG2/$ns" 2>/dev/null || { sleep 0.2; rmdir "$CG2/$ns" 2>/dev/null || true; }
}

# client NS ARGS...: conn-rate client in the pod's cgroup and netns
client() {
	local ns=$1; shift
	bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" client --netns "$3" "${@:4}"' _ \
		"$CG2/$ns" "$CR" "$ns" "$@"
}

# one mode, one run: leaves fixed.json, max.json, server.json, conntrack in $dir
run_mode() {
	local mode=$1 dir=$2 ns=$PREFIX-$1 target pin=$BPFFS/$PREFIX-$1 i nolookup=
	[ "$LOOKUP" = 1 ] || nolookup=--no-lookup
	mkdir -p "$dir"
	pod_up "$ns"
	[ "$mode" = ebpf ] && PINS+=("$pin")
	rm -f "$dir/ready"
	"$CR" serve --netns "$ns" --listen "$LISTEN" --capture "$mode" --cgroup "$CG2/$ns" \
		--pin "$pin" --pod-addr "$POD_IP" --expect "$SVC" --ready "$dir/ready" $nolookup \
		>"$dir/server.json" 2>"$dir/server.err" &
	local sp=$!
	PIDS+=($sp)
	for i in $(seq 1 100); do
		[ -f "$dir/ready" ] && break
		kill -0 "$sp" 2>/dev/null || { log "$mode: the listener exited: $(cat "$dir/server.err")"; return 1; }
		sleep 0.05
	done
	[ -f "$dir/ready" ] || { log "$mode: the listener is not ready after 5 s"; return 1; }
	[ "$mode" = none ] && target=$LISTEN || target=$SVC
	log "  $mode: open loop $RATE/s, ${RATE_DURATION}s"
	# clients in the background + wait: a signal interrupts `wait` at once
	# (a foreground child would hold the EXIT trap back until it ended)
	client "$ns" --connect "$target" --conns "$RATE_CONNS" --rate "$RATE" \
		--duration "$RATE_DURATION" --warmup "$WARMUP" >"$dir/fixed.json" 2>"$dir/fixed.err" &
	PIDS+=($!)
	wait $! || true
	log "  $mode: closed loop, $CONNS connectors, ${MAX_DURATION}s"
	client "$ns" --connect "$target" --conns "$CONNS" --rate 0 \
		--duration "$MAX_DURATION" --warmup "$WARMUP" >"$dir/max.json" 2>"$dir/max.err" &
	PIDS+=($!)
	wait $! || true
	ip netns exec "$ns" cat /proc/sys/net/netfilter/nf_conntrack_count >"$dir/conntrack" 2>/dev/null ||
		echo 0 >"$dir/conntrack"
	kill "$sp"
	wait "$sp" || log "$mode: the listener failed on exit: $(cat "$dir/server.err")"
	if [ "$mode" = ebpf ] && [ -e "$pin" ]; then log "ebpf: $pin left behind"; rm -rf "$pin"; fi
	pod_down "$ns"
}

# ---- main ----
log "building"
make -s all bench-tools >&2
mkdir -p "$WORK" "$(dirname "$OUT")"
WORK=$(cd "$WORK" && pwd)
[ "${REPORT_ONLY:-0}" = 1 ] || rm -rf "$WORK"/run-*
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

read -r -a active <<<"$MODES"
for m in "${active[@]}"; do
	case $m in none | nft | ebpf) ;; *) log "unknown mode $m (none, nft, ebpf)"; exit 2 ;; esac
done
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
[ "${REPORT_ONLY:-0}" = 1 ] && LOAD0="(not recorded: REPORT_ONLY)"
for run in $(seq 1 "$RUNS"); do
	[ "${REPORT_ONLY:-0}" = 1 ] && break
	k=$(( (run - 1) % ${#active[@]} ))
	order=("${active[@]:$k}" "${active[@]:0:$k}")
	log "run $run/$RUNS: ${order[*]}"
	for m in "${order[@]}"; do
		run_mode "$m" "$WORK/run-$run/$m"
	done
done

{
	echo "# Capture modes (connection setup) — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Command: \`$(env | grep -E '^(RUNS|RATE|RATE_CONNS|RATE_DURATION|CONNS|MAX_DURATION|WARMUP|MODES|QUICK|LOOKUP)=' | sort | tr '\n' ' ')$CMDLINE\`"
	echo
	echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include bench bpf 2>/dev/null || echo ' (with local changes)'); $(nproc) vCPU, $(uname -r); $(nft --version); load average before the runs $LOAD0, after $(cut -d' ' -f1-3 /proc/loadavg) (the client and listener need about one vCPU each in the closed loop: anything above that shares the machine)."
	echo
	echo "Per mode and run, in a fresh pod: open loop $RATE connections/s (at most $RATE_CONNS in flight) for ${RATE_DURATION}s after ${WARMUP}s warm-up, latency = socket() to the 1-byte echo, from the scheduled start; closed loop, $CONNS connectors, ${MAX_DURATION}s. $RUNS runs, mode order rotated; medians, every run's value in brackets."
	echo
	"$PY" - "$WORK" "$RUNS" "${active[@]}" <<'PYEOF'
import json, os, statistics, sys

work, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def load(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None

def med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None

def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:,.{nd}f}"

def cell(vals, nd=1):
    mv = med(vals)
    if mv is None:
        return "n/a"
    if len(vals) == 1:
        return fmt(mv, nd)
    return f"{fmt(mv, nd)} [{', '.join(fmt(v, nd) for v in vals)}]"

rows, notes = {}, []
for name in names:
    m = rows.setdefault(name, {})
    for r in range(1, runs + 1):
        d = os.path.join(work, f"run-{r}", name)
        fx, mx, sv = load(f"{d}/fixed.json"), load(f"{d}/max.json"), load(f"{d}/server.json")
        def put(k, v):
            m.setdefault(k, []).append(v)
        ok_fx = fx is not None and fx["errors"] == 0 and fx["unsent"] == 0
        ok_mx = mx is not None and mx["errors"] == 0
        put("p50", fx["latency_us"]["p50"] if ok_fx else None)
        put("p99", fx["latency_us"]["p99"] if ok_fx else None)
        put("p999", fx["latency_us"]["p999"] if ok_fx else None)
        put("rate", mx["rate"] if ok_mx else None)
        put("maxp50", mx["latency_us"]["p50"] if ok_mx else None)
        put("errors", fx["errors"] + fx["unsent"] + mx["errors"] if fx and mx else None)
        try:
            with open(f"{d}/conntrack") as f:
                put("ct", int(f.read().strip() or 0))
        except (OSError, ValueError):
            put("ct", None)
        total = (fx["completed_total"] if fx else 0) + (mx["completed_total"] if mx else 0)
        if not fx or not mx:
            notes.append(f"run {r} {name}: client output missing (see {d})")
        elif not ok_fx or not ok_mx:
            notes.append(f"run {r} {name}: errors (open loop {fx['errors']} + {fx['unsent']} unsent, "
                         f"closed loop {mx['errors']}; last errno {mx['last_errno'] or fx['last_errno']})")
        if name != "none" and (sv or {}).get("lookup", True):
            if not sv:
                notes.append(f"run {r} {name}: no listener counters (see {d}/server.err)")
            elif sv["orig_ok"] < total or sv["orig_missing"] or sv["orig_mismatch"]:
                notes.append(f"run {r} {name}: original destination found for {sv['orig_ok']} of "
                             f"{total} connections ({sv['orig_missing']} missing, {sv['orig_mismatch']} wrong)")
        m.setdefault("orig", []).append((sv or {}).get("orig_ok"))

base = rows.get("none")
def diff(name, key, f):
    if not base or name == "none":
        return None
    return [f(a, b) if a is not None and b is not None else None
            for a, b in zip(rows[name][key], base[key])]

print("| mode | connects/s (closed loop) | added µs/conn from connects/s | p50 µs | added p50 µs | p99 µs | added p99 µs | p99.9 µs | closed-loop p50 µs | errors | conntrack entries at end |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
added = {}
for name in names:
    m = rows[name]
    a_rate = diff(name, "rate", lambda a, b: 1e6 / a - 1e6 / b)
    a_p50 = diff(name, "p50", lambda a, b: a - b)
    a_p99 = diff(name, "p99", lambda a, b: a - b)
    added[name] = (a_rate, a_p50, a_p99)
    print(f"| {name} | {cell(m['rate'], 0)} | {cell(a_rate, 2) if a_rate else '—'} | {cell(m['p50'])} | "
          f"{cell(a_p50) if a_p50 else '—'} | {cell(m['p99'])} | {cell(a_p99) if a_p99 else '—'} | "
          f"{cell(m['p999'])} | {cell(m['maxp50'])} | {cell(m['errors'], 0)} | {cell(m['ct'], 0)} |")
print()
if "ebpf" in rows and base:
    ar, ap, _ = added["ebpf"]
    mr, mp = med(ar), med(ap)
    verdict = []
    if mr is not None and mp is not None:
        ok = mr <= 5 and mp <= 5
        dm = med(rows["ebpf"]["p50"]) - med(base["p50"])
        verdict.append(f"- eBPF adds {mr:.2f} µs per connection over no capture from connects/s and "
                       f"{mp:.1f} µs at the p50 (median of the per-run differences; the difference of the "
                       f"medians is {dm:.1f} µs): target (at most 5 µs) {'met' if ok else 'NOT met'}.")
    if "nft" in rows:
        e, n = rows["ebpf"], rows["nft"]
        er, nr = med(e["rate"]), med(n["rate"])
        ep, np_ = med(e["p50"]), med(n["p50"])
        e9, n9 = med(e["p99"]), med(n["p99"])
        if None not in (er, nr, ep, np_, e9, n9):
            ok = er >= nr and ep <= np_
            line = (f"- eBPF vs nftables: {er:,.0f} vs {nr:,.0f} connects/s, p50 {ep:.1f} vs {np_:.1f} µs: "
                    f"no slower than nftables {'(met)' if ok else '(NOT met)'}; p99 {e9:.1f} vs {n9:.1f} µs")
            ev = [x for x in e["p99"] if x is not None]
            nv = [x for x in n["p99"] if x is not None]
            if e9 > n9:
                line += (f" — higher, but inside the run-to-run spread (eBPF {min(ev):.0f}–{max(ev):.0f}, "
                         f"nftables {min(nv):.0f}–{max(nv):.0f} µs)" if min(ev) <= n9 and max(nv) >= e9
                         else " — higher, outside the run-to-run spread")
            verdict.append(line + ".")
    print("\n".join(verdict))
for n in notes:
    print(f"- {n}")
PYEOF
} >"$OUT"
cat "$OUT"
log "written to $OUT; raw files in $WORK/run-*"
