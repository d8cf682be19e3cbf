#!/usr/bin/env bash
# run-agent-bench.sh — the node agent (L4) data-path benchmark (bench/README.md).
#
# Pod on node 1 to pod on node 2, side by side in one run:
#   direct   client in pod a1 -> echo server in pod b2 (10.1.2.12:8080), no mesh
#   haproxy  a1 -> haproxy #1 in node n1's netns (10.1.1.1:9000, tcp mode)
#            -> TLS 1.3, client certificate both ways (ECDSA P-256, SPIFFE
#            URI SAN, throwaway CA) -> haproxy #2 in n2's netns (10.0.0.2:9443)
#            -> b2:8080. One process each, nbthread 1.
#   haproxy-mt  the same with haproxy's default thread count (HAPROXY_MT=1)
#   nginx    the same pair as nginx stream proxies (10.1.1.1:9100 ->
#            10.0.0.2:9543), one process each (NGINX=1, default on)
#   weft     a1 -> (captured) weft agent n1 -> HBONE mTLS -> agent n2 -> b2,
#            through service b2's clusterIP (10.96.0.14:80 -> 8080, :9090 for
#            iperf3), in a second cluster made by `weft demo up --no-workloads`
#            (same layout, prefix <PREFIX>w: its pods are captured, so the
#            plain contenders keep their own uncaptured topology). Needs
#            `weft agent` and `weft demo` in build/weft, else "not available".
# The server pod is b2 (not b1) because the demo's service b2 has the two
# ports needed (80 -> 8080 and 9090); the pods are identical in shape.
# Each contender, per run: latency at a fixed rate (open loop), the maximum
# rate (closed loop), one iperf3 stream, CPU seconds of each proxy per 1,000
# requests during the fixed-rate part, RSS idle / at 1,000 open connections /
# peak (VmHWM). RUNS runs, contender order rotated each run; medians.
# Writes a markdown table to stdout and bench/results/agent-<date>.md.
#
# PROTO=http measures the L7 data path instead (issue 5): the server in b2
# is `weft echo --mode http` answering 1 KiB bodies (SIZE=1024 is the body
# size then), the client tcp-rr --http (HTTP/1.1 keep-alive GETs), HAProxy
# in http mode (h2 between the two, mTLS), nginx as an http proxy pair
# (keep-alive upstreams, mTLS), weft through a Service with appProtocol
# http (10.96.1.14:80 -> b2:8080: L7 in both agents). No iperf3; instead
# the same fixed-rate and maximum-rate runs over HTTP/2 with h2load (h2c
# prior knowledge from the client; per-request latencies from its
# --log-file).
#
# Environment (defaults):
#   RUNS=3  RATE=1000 RATE_CONNS=10 RATE_DURATION=30  MAX_CONNS=50 MAX_DURATION=20
#   IPERF_DURATION=20  HOLD_CONNS=1000 HOLD_RATE=200 HOLD_DURATION=10  SIZE=64
#   WARMUP=2  CONTENDERS="direct haproxy nginx weft"  HAPROXY_MT=0
#   PROTO=tcp (or http)
#   QUICK=1 (every duration cut to a few seconds: to try the harness, not to measure)
#   WORK=build/bench/agent  OUT=bench/results/agent-<date>.md  PREFIX=wb<pid>
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "run-agent-bench: must run as root (it creates network namespaces, veths and bridges); try: sudo $0" >&2
	exit 1
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="$0 $*"
RUNS=${RUNS:-3}
RATE=${RATE:-1000}
RATE_CONNS=${RATE_CONNS:-10}
RATE_DURATION=${RATE_DURATION:-30}
MAX_CONNS=${MAX_CONNS:-50}
MAX_DURATION=${MAX_DURATION:-20}
IPERF_DURATION=${IPERF_DURATION:-20}
HOLD_CONNS=${HOLD_CONNS:-1000}
HOLD_RATE=${HOLD_RATE:-200}
HOLD_DURATION=${HOLD_DURATION:-10}
SIZE_SET=${SIZE:-}
SIZE=${SIZE:-64}
WARMUP=${WARMUP:-2}
HAPROXY_MT=${HAPROXY_MT:-0}
CONTENDERS=${CONTENDERS:-direct haproxy nginx weft}
PROTO=${PROTO:-tcp}
case $PROTO in
tcp) ;;
http) SIZE=${SIZE_SET:-1024} ;;
*) echo "run-agent-bench: PROTO is tcp or http, not '$PROTO'" >&2; exit 2 ;;
esac
if [ "${QUICK:-0}" = 1 ]; then
	RATE_DURATION=3 MAX_DURATION=3 IPERF_DURATION=2 HOLD_DURATION=4 WARMUP=1
fi
[ "$HAPROXY_MT" = 1 ] && CONTENDERS="$CONTENDERS haproxy-mt"
PREFIX=${PREFIX:-wb$$}
DATE=$(date -u +%Y%m%d-%H%M%S)
WORK=${WORK:-build/bench/agent}
if [ "$PROTO" = http ]; then
	OUT=${OUT:-bench/results/agent-l7-$DATE.md}
else
	OUT=${OUT:-bench/results/agent-$DATE.md}
fi
PY=/usr/bin/python3
RR=$ROOT/build/bench/tcp-rr
WEFT=$ROOT/build/weft
CLK_TCK=$(getconf CLK_TCK)

# topology (the layout of `weft demo up`, docs/demo.md)
N1=$PREFIX-n1 N2=$PREFIX-n2
A1=$PREFIX-n1-a1 A2=$PREFIX-n1-a2 B1=$PREFIX-n2-b1 B2=$PREFIX-n2-b2
SRV_IP=10.1.2.12            # b2
ECHO_PORT=8080 IPERF_PORT=9090
# the weft cluster (weft demo up)
WP=${PREFIX}w
WDIR=
W_SVC=10.96.0.14            # service b2: port 80 -> 8080, 9090 -> 9090
[ "$PROTO" = http ] && W_SVC=10.96.1.14   # service bench-http (written by weft_up): 80 -> b2:8080, appProtocol http
HTTP_PATH="/?size=$SIZE"
CLIENT_NS=$A1

log() { echo "run-agent-bench: $*" >&2; }

TOOLS="haproxy iperf3 openssl ip"
[ "$PROTO" = http ] && TOOLS="haproxy openssl ip h2load curl"
for t in $TOOLS; do
	command -v "$t" >/dev/null || { log "$t is missing: run make deps (scripts/deps.sh)"; exit 1; }
done

# ---- cleanup on every exit path ----
PIDS=()          # every process this script started
NETNS=()         # every namespace this script created
DEMO_UP=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
	# anything still running inside our own namespaces
	for ns in "${NETNS[@]+"${NETNS[@]}"}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	sleep 0.2
	for ns in "${NETNS[@]+"${NETNS[@]}"}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
	wait 2>/dev/null || true
	if [ "$DEMO_UP" = 1 ]; then
		"$WEFT" demo down --name "$WP" --dir "$WDIR" >"$WORK/demo-down.log" 2>&1 ||
			echo "run-agent-bench: weft demo down failed: see $WORK/demo-down.log" >&2
	fi
	for ns in "${NETNS[@]+"${NETNS[@]}"}"; do ip netns del "$ns" 2>/dev/null || true; done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# cx CMD...: the client, in CLIENT_NS (and in CLIENT_CG, the pod's cgroup,
# when set: the weft cluster's capture may hook cgroups, e.g. ebpf)
CLIENT_CG=
cx() {
	if [ -n "$CLIENT_CG" ]; then
		# the cgroup first: ip netns exec remounts /sys
		sh -c 'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$@"' "$CLIENT_CG" "$CLIENT_NS" "$@"
	else
		ip netns exec "$CLIENT_NS" "$@"
	fi
}

# ---- the topology: two nodes, one bridge each, four pods ----
mkns() { ip netns add "$1"; NETNS+=("$1"); ip -n "$1" link set lo up; }
mkpod() {  # mkpod NODE_NS POD_NS SHORT IP GW
	mkns "$2"
	ip -n "$1" link add "v-$3" type veth peer name eth0 netns "$2"
	ip -n "$1" link set "v-$3" master br0 up
	ip -n "$2" addr add "$4/24" dev eth0
	ip -n "$2" link set eth0 up
	ip -n "$2" route add default via "$5"
}
topo_up() {
	for ns in "$N1" "$N2" "$A1" "$A2" "$B1" "$B2"; do
		if ip netns list | grep -qw "^$ns"; then
			log "network namespace $ns exists already; pick another PREFIX"; exit 1
		fi
	done
	mkns "$N1"; mkns "$N2"
	ip -n "$N1" link add link0 type veth peer name link0 netns "$N2"
	ip -n "$N1" addr add 10.0.0.1/24 dev link0; ip -n "$N1" link set link0 up
	ip -n "$N2" addr add 10.0.0.2/24 dev link0; ip -n "$N2" link set link0 up
	local k ns
	for k in 1 2; do
		[ $k = 1 ] && ns=$N1 || ns=$N2
		ip -n "$ns" link add br0 type bridge
		ip -n "$ns" addr add "10.1.$k.1/24" dev br0
		ip -n "$ns" link set br0 up
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
	done
	ip -n "$N1" route add 10.1.2.0/24 via 10.0.0.2
	ip -n "$N2" route add 10.1.1.0/24 via 10.0.0.1
	mkpod "$N1" "$A1" a1 10.1.1.11 10.1.1.1
	mkpod "$N1" "$A2" a2 10.1.1.12 10.1.1.1
	mkpod "$N2" "$B1" b1 10.1.2.11 10.1.2.1
	mkpod "$N2" "$B2" b2 10.1.2.12 10.1.2.1
}

# wait_port NS IP PORT: until something listens there (5 s)
wait_port() {
	local i
	for i in $(seq 1 100); do
		nsx "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.05
	done
	log "nothing listens on $2:$3 in $1"; return 1
}

# /proc readings
# cpu_s PID: "user+system system" CPU seconds of PID so far
cpu_s() { awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f %.2f\n", ($12 + $13) / tck, $13 / tck }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# ---- certificates: a throwaway CA, ECDSA P-256, SPIFFE URI SANs ----
mkcerts() {
	local d=$WORK/pki
	rm -rf "$d"; mkdir -p "$d"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$d/ca.key" -sha256 -days 2 -subj "/O=weft-bench/CN=bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$d/ca.pem" 2>/dev/null
	local who
	for who in client server; do
		openssl ecparam -name prime256v1 -genkey -noout -out "$d/$who.key" 2>/dev/null
		openssl req -new -key "$d/$who.key" -subj "/O=weft-bench" -out "$d/$who.csr" 2>/dev/null
		printf '%s\n' "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth,clientAuth" \
			"subjectAltName=URI:spiffe://bench.local/ns/bench/sa/$who,DNS:bench-$who" >"$d/$who.ext"
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -sha256 -extfile "$d/$who.ext" -out "$d/$who.pem" 2>/dev/null
		cat "$d/$who.pem" "$d/$who.key" >"$d/$who.bundle.pem"
	done
}

# ---- proxies ----
# Each start_* sets PROXY_LABELS/PROXY_PIDS (the processes to account) and
# ECHO_TARGET/IPERF_TARGET (where the client in a1 connects).
PROXY_LABELS=() PROXY_PIDS=()

haproxy_conf() {  # haproxy_conf 1|2 NBTHREAD
	local d=$WORK/pki th=""
	if [ "$PROTO" = http ]; then haproxy_conf_http "$@"; return; fi
	[ "$2" != default ] && th="    nbthread $2"
	cat <<EOF
global
    maxconn 8000
$th
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
EOF
	if [ "$1" = 1 ]; then
		local p port
		for p in "9000 9443" "9001 9444"; do
			set -- $p
			cat <<EOF
listen out-$1
    bind 10.1.1.1:$1
    server n2 10.0.0.2:$2 ssl ssl-min-ver TLSv1.3 crt $d/client.bundle.pem ca-file $d/ca.pem verify required verifyhost bench-server sni str(bench-server)
EOF
		done
	else
		cat <<EOF
listen in-echo
    bind 10.0.0.2:9443 ssl ssl-min-ver TLSv1.3 crt $d/server.bundle.pem ca-file $d/ca.pem verify required
    server b2 $SRV_IP:$ECHO_PORT
listen in-iperf
    bind 10.0.0.2:9444 ssl ssl-min-ver TLSv1.3 crt $d/server.bundle.pem ca-file $d/ca.pem verify required
    server b2 $SRV_IP:$IPERF_PORT
EOF
	fi
}

# HTTP mode: keep-alive both sides, HTTP/2 over mTLS between the two (as
# weft's agents speak), h2c prior knowledge accepted on the client side
# (HAProxy detects the preface on a clear HTTP listener).
haproxy_conf_http() {  # haproxy_conf_http 1|2 NBTHREAD
	local d=$WORK/pki th=""
	[ "$2" != default ] && th="    nbthread $2"
	cat <<EOF
global
    maxconn 8000
$th
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
EOF
	if [ "$1" = 1 ]; then
		cat <<EOF
listen out-http
    bind 10.1.1.1:9000
    server n2 10.0.0.2:9443 ssl alpn h2 ssl-min-ver TLSv1.3 crt $d/client.bundle.pem ca-file $d/ca.pem verify required verifyhost bench-server sni str(bench-server)
EOF
	else
		cat <<EOF
listen in-http
    bind 10.0.0.2:9443 ssl alpn h2 ssl-min-ver TLSv1.3 crt $d/server.bundle.pem ca-file $d/ca.pem verify required
    server b2 $SRV_IP:$ECHO_PORT
EOF
	fi
}

start_haproxy() {  # start_haproxy NBTHREAD
	local i ns
	for i in 1 2; do
		[ $i = 1 ] && ns=$N1 || ns=$N2
		haproxy_conf $i "$1" >"$WORK/haproxy$i.cfg"
		haproxy -c -q -f "$WORK/haproxy$i.cfg" || { log "haproxy config $i invalid"; return 1; }
		ip netns exec "$ns" haproxy -db -f "$WORK/haproxy$i.cfg" >"$WORK/haproxy$i.log" 2>&1 &
		PIDS+=($!); PROXY_PIDS+=($!); PROXY_LABELS+=("haproxy-n$i")
	done
	wait_port "$N2" 10.0.0.2 9443 && wait_port "$N1" 10.1.1.1 9000 && check_pids haproxy
	mtls_check 10.0.0.2 9443
	ECHO_TARGET=10.1.1.1:9000 IPERF_TARGET=10.1.1.1:9001 H2_TARGET=10.1.1.1:9000
}

nginx_conf() {  # nginx_conf 1|2
	local d=$WORK/pki
	if [ "$PROTO" = http ]; then nginx_conf_http "$@"; return; fi
	cat <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $WORK/nginx$1.pid;
error_log $WORK/nginx$1.log warn;
events { worker_connections 8000; }
stream {
EOF
	if [ "$1" = 1 ]; then
		local p
		for p in "9100 9543" "9101 9544"; do
			set -- $p
			cat <<EOF
    server {
        listen 10.1.1.1:$1;
        proxy_pass 10.0.0.2:$2;
        proxy_ssl on;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_certificate $d/client.pem;
        proxy_ssl_certificate_key $d/client.key;
        proxy_ssl_trusted_certificate $d/ca.pem;
        proxy_ssl_verify on;
        proxy_ssl_name bench-server;
        proxy_ssl_server_name on;
        proxy_ssl_session_reuse on;
    }
EOF
		done
	else
		local p
		for p in "9543 $ECHO_PORT" "9544 $IPERF_PORT"; do
			set -- $p
			cat <<EOF
    server {
        listen 10.0.0.2:$1 ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        ssl_client_certificate $d/ca.pem;
        ssl_verify_client on;
        proxy_pass $SRV_IP:$2;
    }
EOF
		done
	fi
	echo "}"
}

# HTTP mode: n1 listens for HTTP/1.1 on 9100 and h2c on 9102, proxies over
# HTTPS with a client certificate and keep-alive upstream connections (nginx
# speaks HTTP/1.1 to upstreams) to n2, which proxies to b2 the same way.
nginx_conf_http() {
	local d=$WORK/pki
	cat <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $WORK/nginx$1.pid;
error_log $WORK/nginx$1.log warn;
events { worker_connections 8000; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
EOF
	if [ "$1" = 1 ]; then
		cat <<EOF
    upstream n2 { server 10.0.0.2:9543; keepalive 256; }
    server {
        listen 10.1.1.1:9100;
        listen 10.1.1.1:9102 http2;
        location / {
            proxy_pass https://n2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_certificate $d/client.pem;
            proxy_ssl_certificate_key $d/client.key;
            proxy_ssl_trusted_certificate $d/ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_name bench-server;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }
    }
EOF
	else
		cat <<EOF
    upstream b2 { server $SRV_IP:$ECHO_PORT; keepalive 256; }
    server {
        listen 10.0.0.2:9543 ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        ssl_client_certificate $d/ca.pem;
        ssl_verify_client on;
        location / {
            proxy_pass http://b2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
	fi
	echo "}"
}

start_nginx() {
	local i ns
	for i in 1 2; do
		[ $i = 1 ] && ns=$N1 || ns=$N2
		nginx_conf $i >"$WORK/nginx$i.conf"
		ip netns exec "$ns" nginx -p "$WORK" -e "$WORK/nginx$i.log" -c "$WORK/nginx$i.conf" >>"$WORK/nginx$i.log" 2>&1 &
		PIDS+=($!); PROXY_PIDS+=($!); PROXY_LABELS+=("nginx-n$i")
	done
	wait_port "$N2" 10.0.0.2 9543 && wait_port "$N1" 10.1.1.1 9100 && check_pids nginx
	mtls_check 10.0.0.2 9543
	ECHO_TARGET=10.1.1.1:9100 IPERF_TARGET=10.1.1.1:9101 H2_TARGET=10.1.1.1:9102
}

start_direct() {
	ECHO_TARGET=$SRV_IP:$ECHO_PORT IPERF_TARGET=$SRV_IP:$IPERF_PORT H2_TARGET=
}

# weft: needs `weft agent` and `weft demo` in build/weft; prints why not
# (nothing when both are there).
weft_missing() {
	"$WEFT" agent --help 2>&1 | grep -q -- --node-netns || { echo "build/weft has no 'agent' command"; return 0; }
	"$WEFT" demo --help 2>&1 | grep -q -- --no-workloads || { echo "build/weft has no 'demo' command"; return 0; }
	"$WEFT" echo --help 2>&1 | grep -q -- --mode || { echo "build/weft has no 'echo' command"; return 0; }
}

# weft_up: the second cluster, with agents, and the servers in its pod b2
weft_up() {
	WDIR=$WORK/demo
	rm -rf "$WDIR"
	# HTTP mode: no per-request access log, like the HAProxy and nginx
	# configurations here (their logging is off too)
	local extra=()
	[ "$PROTO" = http ] && extra=(--agent-arg=--access-log=off)
	log "weft: demo up --name $WP --no-workloads ${extra[*]}"
	DEMO_UP=1
	if ! "$WEFT" demo up --name "$WP" --dir "$WDIR" --no-workloads "${extra[@]}" >"$WORK/demo-up.log" 2>&1; then
		log "weft demo up failed:"; tail -20 "$WORK/demo-up.log" >&2; return 1
	fi
	ip netns exec "$WP-n2-b2" "$WEFT" echo --listen "$SRV_IP:$ECHO_PORT" --mode "$ECHO_MODE" \
		>"$WORK/weft-echo.log" 2>&1 &
	PIDS+=($!)
	ip netns exec "$WP-n2-b2" iperf3 -s -B "$SRV_IP" -p "$IPERF_PORT" >"$WORK/weft-iperf-server.log" 2>&1 &
	PIDS+=($!)
	wait_port "$WP-n2-b2" "$SRV_IP" "$ECHO_PORT" && wait_port "$WP-n2-b2" "$SRV_IP" "$IPERF_PORT"
	if [ "$PROTO" = http ]; then
		# the L7 service: appProtocol http engages L7 in both agents
		cat >"$WDIR/config/bench-http.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench-http, namespace: default}
spec:
  clusterIP: $W_SVC
  selector: {instance: b2}
  ports:
  - {name: http, port: 80, targetPort: $ECHO_PORT, appProtocol: http}
EOF
		local i
		for i in $(seq 1 50); do
			[ -z "$(weft_carries)" ] && return 0
			sleep 0.2
		done
	fi
}

# weft_carries: prints why the weft cluster cannot carry the benchmark's
# traffic (nothing when it can). The clusterIP is routed nowhere, so an
# echo through it means the agents carried it.
weft_carries() {
	local probe="weft-probe-$$" out
	if [ "$PROTO" = http ]; then
		out=$(CLIENT_NS=$WP-n1-a1 CLIENT_CG=$(weft_cg a1) cx curl -s -m 5 "http://$W_SVC/$probe" 2>/dev/null || true)
		[[ $out == *"GET /$probe"* ]] || echo "no HTTP answer through the agents from a1 to $W_SVC:80 (see $WDIR/agent-n1.log)"
		return 0
	fi
	out=$(CLIENT_NS=$WP-n1-a1 CLIENT_CG=$(weft_cg a1) cx timeout 5 bash -c \
		"exec 3<>/dev/tcp/$W_SVC/80 && printf '%s\n' '$probe' >&3 && head -c ${#probe} <&3" 2>/dev/null || true)
	[ "$out" = "$probe" ] || echo "no echo through the agents from a1 to $W_SVC:80 (see $WDIR/agent-n1.log)"
}

# weft_cg POD: the weft cluster pod's cgroup directory (cluster.json)
weft_cg() { "$PY" -c 'import json,sys; print(next(p["cgroup"] for p in json.load(open(sys.argv[1]))["pods"] if p["name"] == sys.argv[2]))' "$WDIR/cluster.json" "$1"; }

agent_pid() { local p; read -r p _ <"$WDIR/agent-$1.pid" && echo "$p"; }

start_weft() {
	local n pid
	for n in n1 n2; do
		pid=$(agent_pid $n) || { log "weft: no pidfile $WDIR/agent-$n.pid"; return 1; }
		PROXY_PIDS+=("$pid"); PROXY_LABELS+=("weft-agent-$n")
	done
	check_pids weft
	CLIENT_NS=$WP-n1-a1 CLIENT_CG=$(weft_cg a1)
	ECHO_TARGET=$W_SVC:80 IPERF_TARGET=$W_SVC:$IPERF_PORT H2_TARGET=$W_SVC:80
}

# mtls_check HOST PORT: from node n1, the TLS listener of the second proxy
# must echo through with the client certificate and refuse without one
# (verify required really holds; the server name is checked by the client).
mtls_check() {
	local d=$WORK/pki probe="mtls-probe-$$" out
	if [ "$PROTO" = http ]; then
		# h2 between the proxies: ask with curl over TLS, with and without a certificate
		out=$(ip netns exec "$N1" curl -s -m 5 --cacert "$d/ca.pem" --cert "$d/client.pem" --key "$d/client.key" \
			--resolve "bench-server:$2:$1" "https://bench-server:$2/$probe" 2>/dev/null || true)
		[[ $out == *"/$probe"* ]] || { log "mTLS check: $1:$2 does not answer with a client certificate"; return 1; }
		out=$(ip netns exec "$N1" curl -s -m 5 --cacert "$d/ca.pem" \
			--resolve "bench-server:$2:$1" "https://bench-server:$2/$probe" 2>/dev/null || true)
		[[ $out != *"/$probe"* ]] || { log "mTLS check: $1:$2 answers a client without a certificate"; return 1; }
		return 0
	fi
	out=$( (printf '%s\n' "$probe"; sleep 1) | timeout 5 ip netns exec "$N1" openssl s_client \
		-connect "$1:$2" -CAfile "$d/ca.pem" -verify_return_error -verify_hostname bench-server \
		-servername bench-server -cert "$d/client.pem" -key "$d/client.key" -quiet 2>/dev/null || true)
	if [[ $out != *"$probe"* ]]; then
		log "mTLS check: $1:$2 does not echo through with a client certificate"; return 1
	fi
	out=$( (printf '%s\n' "$probe"; sleep 1) | timeout 5 ip netns exec "$N1" openssl s_client \
		-connect "$1:$2" -CAfile "$d/ca.pem" -servername bench-server -quiet 2>/dev/null || true)
	if [[ $out == *"$probe"* ]]; then
		log "mTLS check: $1:$2 lets a client without a certificate through"; return 1
	fi
}

# check_pids NAME: every accounted pid must be the proxy itself, not a wrapper
check_pids() {
	local p
	for p in "${PROXY_PIDS[@]+"${PROXY_PIDS[@]}"}"; do
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" != "$1" ]; then
			log "process $p is '$(cat "/proc/$p/comm" 2>/dev/null)', not $1 (did it exit? see $WORK/*.log)"
			return 1
		fi
	done
}

stop_proxies() {  # the agents stay up: they belong to the demo cluster
	local p
	if [ "$1" != weft ]; then
		for p in "${PROXY_PIDS[@]+"${PROXY_PIDS[@]}"}"; do
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		done
	fi
	PROXY_PIDS=() PROXY_LABELS=() CLIENT_NS=$A1 CLIENT_CG=
}

# ---- one contender, one run ----
# Leaves in $dir: fixed.json, max.json, hold.json, iperf.json, proxies.tsv
# (label pid idle_rss_kb cpu_fixed_s rss_hold_kb hwm_kb).
run_contender() {
	local name=$1 dir=$2 i
	mkdir -p "$dir"
	PROXY_PIDS=() PROXY_LABELS=()
	case $name in
	direct) start_direct ;;
	haproxy) start_haproxy 1 ;;
	haproxy-mt) start_haproxy default ;;
	nginx) start_nginx ;;
	weft) start_weft ;;
	*) log "unknown contender $name"; return 1 ;;
	esac
	sleep 0.3
	local n=${#PROXY_PIDS[@]} idle=() c0=() c1=() hold=() hwm=()
	for ((i = 0; i < n; i++)); do
		reset_hwm "${PROXY_PIDS[$i]}"
		idle+=("$(rss_kb "${PROXY_PIDS[$i]}")")
		c0+=("$(cpu_s "${PROXY_PIDS[$i]}")")
	done
	local rrmode=(--size "$SIZE")
	[ "$PROTO" = http ] && rrmode=(--http "$HTTP_PATH")
	log "  $name: fixed rate $RATE/s, $RATE_CONNS conns, ${RATE_DURATION}s"
	cx "$RR" --connect "$ECHO_TARGET" --conns "$RATE_CONNS" --rate "$RATE" \
		--duration "$RATE_DURATION" --warmup "$WARMUP" "${rrmode[@]}" >"$dir/fixed.json" || true
	for ((i = 0; i < n; i++)); do c1+=("$(cpu_s "${PROXY_PIDS[$i]}")"); done
	log "  $name: max rate, $MAX_CONNS conns, ${MAX_DURATION}s"
	cx "$RR" --connect "$ECHO_TARGET" --conns "$MAX_CONNS" --rate 0 \
		--duration "$MAX_DURATION" --warmup "$WARMUP" "${rrmode[@]}" >"$dir/max.json" || true
	if [ "$PROTO" = http ]; then
		if [ -n "${H2_TARGET:-}" ]; then
			log "  $name: HTTP/2 (h2load) fixed rate $RATE/s over $RATE_CONNS conns, then max"
			cx h2load -c "$RATE_CONNS" -m 1 --rps "$((RATE / RATE_CONNS))" \
				-D "$RATE_DURATION" --warm-up-time "$WARMUP" --log-file "$dir/h2fixed.log" \
				"http://$H2_TARGET$HTTP_PATH" >"$dir/h2fixed.txt" 2>&1 || true
			cx h2load -c "$MAX_CONNS" -m 10 -D "$MAX_DURATION" --warm-up-time "$WARMUP" \
				"http://$H2_TARGET$HTTP_PATH" >"$dir/h2max.txt" 2>&1 || true
		fi
	else
		log "  $name: iperf3, 1 stream, ${IPERF_DURATION}s"
		cx iperf3 -c "${IPERF_TARGET%:*}" -p "${IPERF_TARGET##*:}" -t "$IPERF_DURATION" -J \
			>"$dir/iperf.json" 2>"$dir/iperf.err" || true
	fi
	log "  $name: $HOLD_CONNS open connections"
	cx "$RR" --connect "$ECHO_TARGET" --conns "$HOLD_CONNS" --rate "$HOLD_RATE" \
		--duration "$HOLD_DURATION" --warmup 0 "${rrmode[@]}" >"$dir/hold.json" &
	local hp=$!
	PIDS+=($hp)
	sleep "$(awk -v d="$HOLD_DURATION" 'BEGIN { print d * 0.7 }')"
	for ((i = 0; i < n; i++)); do hold+=("$(rss_kb "${PROXY_PIDS[$i]}")"); done
	wait "$hp" || true
	for ((i = 0; i < n; i++)); do hwm+=("$(hwm_kb "${PROXY_PIDS[$i]}")"); done
	: >"$dir/proxies.tsv"
	for ((i = 0; i < n; i++)); do
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${PROXY_LABELS[$i]}" "${PROXY_PIDS[$i]}" "${idle[$i]}" \
			"$(awk -v a="${c0[$i]% *}" -v b="${c1[$i]% *}" 'BEGIN { printf "%.2f", b - a }')" \
			"${hold[$i]}" "${hwm[$i]}" \
			"$(awk -v a="${c0[$i]#* }" -v b="${c1[$i]#* }" 'BEGIN { printf "%.2f", b - a }')" >>"$dir/proxies.tsv"
	done
	stop_proxies "$name"
}

# ---- main ----
log "building"
make -s all bench-tools >&2
mkdir -p "$WORK" "$(dirname "$OUT")"
WORK=$(cd "$WORK" && pwd)
rm -rf "$WORK"/run-*
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "certificates"
mkcerts
log "topology $PREFIX (nodes $N1 $N2, pods a1 a2 b1 b2; servers in b2)"
topo_up

# the workload servers in b2: an echo server and an iperf3 server
ECHO_MODE=echo
[ "$PROTO" = http ] && ECHO_MODE=http
if "$WEFT" echo --help >/dev/null 2>&1; then
	ECHO_SERVER="build/weft echo --mode $ECHO_MODE"
	ip netns exec "$B2" "$WEFT" echo --listen "$SRV_IP:$ECHO_PORT" --mode "$ECHO_MODE" >"$WORK/echo.log" 2>&1 &
elif [ "$PROTO" = http ]; then
	log "build/weft has no echo command: the HTTP server is missing"; exit 1
else
	ECHO_SERVER="build/bench/tcp-rr --serve"
	ip netns exec "$B2" "$RR" --serve "$SRV_IP:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
fi
PIDS+=($!)
ip netns exec "$B2" iperf3 -s -B "$SRV_IP" -p "$IPERF_PORT" >"$WORK/iperf-server.log" 2>&1 &
PIDS+=($!)
wait_port "$B2" "$SRV_IP" "$ECHO_PORT"
wait_port "$B2" "$SRV_IP" "$IPERF_PORT"
# and across the nodes (the routes): from a1
wait_port "$A1" "$SRV_IP" "$ECHO_PORT" || { log "topology: a1 cannot reach b2"; exit 1; }

active=()
skipped=()
for c in $CONTENDERS; do
	case $c in
	weft)
		why=$(weft_missing)
		if [ -n "$why" ]; then
			log "weft: not available ($why)"
			skipped+=("weft: not available ($why)")
			continue
		fi ;;
	nginx)
		if ! command -v nginx >/dev/null || { [ "$PROTO" = tcp ] && [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; }; then
			log "nginx: not available (install nginx-light libnginx-mod-stream)"
			skipped+=("nginx: not available (nginx or its stream module is not installed)")
			continue
		fi ;;
	esac
	active+=("$c")
done
if [[ " ${active[*]} " == *" weft "* ]]; then
	why=
	weft_up || why="weft demo up failed (see $WORK/demo-up.log)"
	[ -n "$why" ] || why=$(weft_carries)
	if [ -n "$why" ]; then
		log "weft: not available ($why)"
		skipped+=("weft: not available ($why)")
		keep=()
		for c in "${active[@]}"; do [ "$c" = weft ] || keep+=("$c"); done
		active=("${keep[@]}")
		"$WEFT" demo down --name "$WP" --dir "$WDIR" >"$WORK/demo-down.log" 2>&1 && DEMO_UP=0
	fi
fi

for run in $(seq 1 "$RUNS"); do
	# rotate the order so that no contender always goes first
	k=$(( (run - 1) % ${#active[@]} ))
	order=("${active[@]:$k}" "${active[@]:0:$k}")
	log "run $run/$RUNS: ${order[*]}"
	for c in "${order[@]}"; do
		run_contender "$c" "$WORK/run-$run/$c"
	done
done

{
	if [ "$PROTO" = http ]; then
		echo "# Node agent (L7, HTTP) data path — $(date -u '+%Y-%m-%d %H:%M UTC')"
	else
		echo "# Node agent (L4) data path — $(date -u '+%Y-%m-%d %H:%M UTC')"
	fi
	echo
	echo "Command: \`$(env | grep -E '^(PROTO|RUNS|RATE|RATE_CONNS|RATE_DURATION|MAX_CONNS|MAX_DURATION|IPERF_DURATION|HOLD_CONNS|HOLD_RATE|HOLD_DURATION|SIZE|WARMUP|CONTENDERS|HAPROXY_MT|QUICK)=' | sort | tr '\n' ' ')$CMDLINE\`"
	echo
	echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include bench 2>/dev/null || echo ' (with local changes)'); $(nproc) vCPU, $(uname -r); $(haproxy -v | head -1 | cut -d' ' -f1-3)$(command -v nginx >/dev/null && echo ", $(nginx -v 2>&1 | cut -d' ' -f3)"); $(iperf3 --version | head -1 | cut -d' ' -f1-2); echo server: $ECHO_SERVER."
	echo
	if [ "$PROTO" = http ]; then
		echo "Per run: fixed rate $RATE req/s open loop over $RATE_CONNS connections for ${RATE_DURATION}s (+${WARMUP}s warm-up); max rate closed loop, $MAX_CONNS connections, ${MAX_DURATION}s; $HOLD_CONNS connections at $HOLD_RATE req/s for ${HOLD_DURATION}s (RSS sampled at 70%). $RUNS runs, medians (every run's value in brackets)."
	else
	echo "Per run: fixed rate $RATE req/s open loop over $RATE_CONNS connections for ${RATE_DURATION}s (+${WARMUP}s warm-up), $SIZE-byte requests echoed; max rate closed loop, $MAX_CONNS connections, ${MAX_DURATION}s; iperf3 one stream ${IPERF_DURATION}s; $HOLD_CONNS connections at $HOLD_RATE req/s for ${HOLD_DURATION}s (RSS sampled at 70%). $RUNS runs, medians (every run's value in brackets)."
	fi
	echo
	[ "$PROTO" = http ] && echo "HTTP mode: GET $HTTP_PATH over HTTP/1.1 keep-alive (tcp-rr --http; the size above is the response body), then HTTP/2 with h2load (fixed rate: -m 1 --rps per connection, latencies from --log-file; max: $MAX_CONNS connections x 10 streams). No iperf3." && echo
	"$PY" - "$WORK" "$RUNS" "${active[@]}" <<'PYEOF'
import json, os, statistics, sys

work, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def med(vals):
    v = [x for x in vals if x is not None]
    return statistics.median(v) if v else None

def fmt(x, nd=1):
    if x is None:
        return "n/a"
    return f"{x:,.{nd}f}"

rows = {}    # contender -> metric -> [per-run values]
procs = {}   # contender -> label -> metric -> [values]
for name in names:
    m = rows.setdefault(name, {})
    for r in range(1, runs + 1):
        d = os.path.join(work, f"run-{r}", name)
        fx, mx, ip = load(f"{d}/fixed.json"), load(f"{d}/max.json"), load(f"{d}/iperf.json")
        hd = load(f"{d}/hold.json")
        def put(k, v):
            m.setdefault(k, []).append(v)
        put("p50", fx["latency_us"]["p50"] if fx else None)
        put("p99", fx["latency_us"]["p99"] if fx else None)
        put("p999", fx["latency_us"]["p999"] if fx else None)
        put("errors", (fx["errors"] + fx["unsent"] + fx["conn_errors"]) if fx else None)
        put("sent", (fx["requests"] + fx["warmup_requests"]) if fx else None)
        put("maxrate", mx["rate"] if mx and mx["errors"] == 0 and mx["conn_errors"] == 0 else None)
        put("maxp99", mx["latency_us"]["p99"] if mx else None)
        bps = None
        if ip and "end" in ip and "sum_received" in ip["end"]:
            bps = ip["end"]["sum_received"]["bits_per_second"] / 1e9
        put("gbps", bps)
        put("hold_ok", (hd["conns_connected"] == hd["conns"] and hd["errors"] == 0) if hd else None)
        lat = []
        try:
            with open(f"{d}/h2fixed.log") as f:
                for ln in f:
                    parts = ln.split()
                    if len(parts) >= 3 and parts[1] == "200":
                        lat.append(float(parts[2]))
        except OSError:
            pass
        lat.sort()
        put("h2p50", lat[len(lat) // 2] if lat else None)
        put("h2p99", lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None)
        h2max = None
        try:
            with open(f"{d}/h2max.txt") as f:
                for ln in f:
                    if ln.startswith("finished in") and "req/s" in ln:
                        h2max = float(ln.split(",")[1].split()[0])
        except (OSError, ValueError, IndexError):
            pass
        put("h2max", h2max)
        try:
            with open(f"{d}/proxies.tsv") as f:
                for line in f:
                    f7 = line.rstrip("\n").split("\t")
                    label, pid, idle, cpu, hold, hwm = f7[:6]
                    sys_s = f7[6] if len(f7) > 6 else None
                    p = procs.setdefault(name, {}).setdefault(label, {})
                    sent = m["sent"][-1]
                    p.setdefault("idle", []).append(int(idle) / 1024)
                    p.setdefault("hold", []).append(int(hold) / 1024 if hold else None)
                    # VmHWM is folded in lazily; never below an RSS we saw
                    peak = max(int(hwm or 0), int(hold or 0))
                    p.setdefault("hwm", []).append(peak / 1024 if peak else None)
                    p.setdefault("cpu1k", []).append(float(cpu) / sent * 1000 if sent else None)
                    p.setdefault("sys1k", []).append(float(sys_s) / sent * 1000 if sent and sys_s else None)
        except OSError:
            pass

def cell(vals, nd=1):
    mv = med(vals)
    if mv is None:
        return "n/a"
    if len(vals) == 1:
        return fmt(mv, nd)
    return f"{fmt(mv, nd)} [{', '.join(fmt(v, nd) for v in vals)}]"

direct = rows.get("direct")
print("| contender | p50 µs | p99 µs | added p99 vs direct µs | p99.9 µs | errors | max rate req/s | max-rate p99 µs | iperf3 Gbit/s |")
print("|---|---|---|---|---|---|---|---|---|")
for name in names:
    m = rows[name]
    added = None
    if direct and name != "direct":
        added = [a - b if a is not None and b is not None else None
                 for a, b in zip(m["p99"], direct["p99"])]
    print(f"| {name} | {cell(m['p50'])} | {cell(m['p99'])} | {cell(added) if added else '—'} | "
          f"{cell(m['p999'])} | {cell(m['errors'], 0)} | {cell(m['maxrate'], 0)} | "
          f"{cell(m['maxp99'])} | {cell(m['gbps'], 2)} |")
if any(med(rows[n].get("h2p50", [])) is not None for n in names):
    print()
    print("HTTP/2 (h2load, h2c from the client):")
    print()
    print("| contender | p50 µs | p99 µs | max rate req/s |")
    print("|---|---|---|---|")
    for name in names:
        m = rows[name]
        print(f"| {name} | {cell(m['h2p50'])} | {cell(m['h2p99'])} | {cell(m['h2max'], 0)} |")
print()
print("Per proxy process (CPU from /proc/PID/stat utime+stime during the fixed-rate part, "
      "per 1,000 requests sent = vCPU per 1,000 req/s; RSS from /proc/PID/status):")
print()
print("| process | CPU s / 1,000 req | of which kernel (stime) | RSS idle MB | RSS at 1,000 conns MB | peak RSS (VmHWM) MB | 1,000 conns all served |")
print("|---|---|---|---|---|---|---|")
for name in names:
    for label, p in procs.get(name, {}).items():
        ok = rows[name]["hold_ok"]
        okc = "yes" if ok and all(ok) else ("no" if any(x is False for x in ok) else "n/a")
        print(f"| {label} | {cell(p['cpu1k'], 3)} | {cell(p.get('sys1k', []), 3)} | {cell(p['idle'])} | {cell(p['hold'])} | "
              f"{cell(p['hwm'])} | {okc} |")
hp = rows.get("haproxy")
if hp:
    print()
    for name in names:
        if name in ("direct", "haproxy"):
            continue
        m = rows[name]
        r1 = med(m["maxrate"]); r2 = med(hp["maxrate"])
        g1 = med(m["gbps"]); g2 = med(hp["gbps"])
        parts = []
        if r1 and r2:
            parts.append(f"max rate {r1 / r2:.2f}× haproxy")
        if g1 and g2:
            parts.append(f"throughput {g1 / g2:.2f}× haproxy")
        h1 = med(m.get("h2max", [])); h2 = med(hp.get("h2max", []))
        if h1 and h2:
            parts.append(f"HTTP/2 max rate {h1 / h2:.2f}× haproxy")
        if parts:
            print(f"- {name}: " + ", ".join(parts))
PYEOF
	for s in "${skipped[@]+"${skipped[@]}"}"; do echo; echo "- $s"; done
} >"$OUT"
cat "$OUT"
log "written to $OUT; raw files in $WORK/run-*"
