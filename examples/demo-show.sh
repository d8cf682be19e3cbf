#!/usr/bin/env bash
# A short look at traffic in the cluster `weft demo up` built (`make demo`
# runs it right after up): a few requests from the client pods to the echo
# Service (10.96.0.10, L4), to the web Service (10.96.0.20, L7) and to single
# pods, then the agents' TCP and HTTP metrics.
# Reads everything from the cluster's state file.
# Environment: WEFT_DEMO_DIR (default /run/weft-demo/weft).
set -uo pipefail
DIR=${WEFT_DEMO_DIR:-/run/weft-demo/weft}
STATE=$DIR/cluster.json
[[ -r $STATE ]] || { echo "demo-show: $STATE not found: run 'build/weft demo up' first" >&2; exit 1; }
field() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$STATE')); print(eval(sys.argv[1]))" "$1"; }

A1=$(field "[p for p in d['pods'] if p['name']=='a1'][0]['netns']")
B1=$(field "[p for p in d['pods'] if p['name']=='b1'][0]['netns']")
# eBPF capture follows cgroups: each command joins its pod's cgroup first
# (before `ip netns exec`, which remounts /sys)
cg_of() { field "([p['cgroup'] for p in d['pods'] if p['netns']=='$1'] + [''])[0]"; }
AGENTS=$(field "d['agents']")

show() {   # netns, what, command...
  local ns=$1 what=$2; shift 2
  printf '  %-40s ' "$what"
  local cg; cg=$(cg_of "$ns")
  if [[ -n $cg ]]; then
    out=$(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" ip netns exec "$ns" "$@" 2>&1 | head -1)
  else
    out=$(ip netns exec "$ns" "$@" 2>&1 | head -1)
  fi
  echo "${out:-(no answer)}"
}
echo "traffic:"
for i in 1 2 3; do
  show "$A1" "a1 -> echo (http, 10.96.0.10:80)" curl -sS -m 3 "http://10.96.0.10/req$i"
  show "$B1" "b1 -> echo (http, 10.96.0.10:80)" curl -sS -m 3 "http://10.96.0.10/req$i"
done
for i in 1 2; do
  show "$A1" "a1 -> echo-web (L7 http, 10.96.0.20:80)" curl -sS -m 3 "http://10.96.0.20/l7-$i"
done
show "$B1" "b1 -> echo-web /v2 (HTTPRoute -> b2)" curl -sS -m 3 "http://10.96.0.20/v2/hello"
show "$A1" "a1 -> b2 (banner, 10.96.0.14:9090)" bash -c 'exec 3<>/dev/tcp/10.96.0.14/9090; timeout 3 head -1 <&3'
show "$B1" "b1 -> a2 (banner, 10.96.0.12:9090)" bash -c 'exec 3<>/dev/tcp/10.96.0.12/9090; timeout 3 head -1 <&3'
if [[ $AGENTS == True ]]; then
  echo
  echo "agent metrics (istio_tcp_connections_opened_total):"
  for m in $(field "' '.join(n['metrics'] for n in d['nodes'])"); do
    curl -s -m 2 "http://$m/metrics" | grep '^istio_tcp_connections_opened_total' | head -4 | sed "s|^|  $m  |"
  done
  echo
  echo "agent metrics (istio_requests_total, L7; 'build/weft top --admin ADMIN' for a table):"
  for m in $(field "' '.join(n['metrics'] for n in d['nodes'])"); do
    curl -s -m 2 "http://$m/metrics" | grep '^istio_requests_total' | head -4 |
      sed -E 's/(source_principal|destination_principal|source_cluster|destination_cluster|destination_service_namespace|source_workload_namespace|destination_workload_namespace)="[^"]*",?//g' |
      sed "s|^|  $m  |"
  done
fi
echo
echo "the cluster keeps running: 'build/weft demo down' stops it (docs/demo.md)"
