// mock-ads.js — a stand-in state-of-the-world ADS server for testing
// build/bench/xds-sim on its own (not a benchmark contender). It answers any
// listener name "<svc>.<ns>.svc.cluster.local:<port>" with the resource names
// weft's translator uses: route config = listener name, cluster
// "outbound|<port>||<svc>.<ns>.svc.cluster.local", EDS name = cluster name.
// Every "svc-<i>" with i % 20 == 0 splits 90/10 to svc-<i+100>, svc-<i+200>.
// SIGUSR1 changes one endpoint of every cluster whose name contains
// --hot (default "svc-1.") and pushes EDS to the subscribers.
//
//   node bench/mock-ads.js --port 15010 [--hot svc-1.]
'use strict';
const path = require('path');
const fs = require('fs');
const nm = path.join(__dirname, '..', 'node_modules');
const grpc = require(path.join(nm, '@grpc/grpc-js'));
const loader = require(path.join(nm, '@grpc/proto-loader'));
const protobuf = require(path.join(nm, 'protobufjs'));

const deps = path.join(nm, '@grpc/grpc-js-xds/deps');
const inc = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map(d => path.join(deps, d));
const files = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
];
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  for (const d of inc) if (fs.existsSync(path.join(d, target))) return path.join(d, target);
  return target;
};
root.loadSync(files, { keepCase: true });
const T = n => root.lookupType(n);
const Listener = T('envoy.config.listener.v3.Listener');
const HCM = T('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
const RouteConfiguration = T('envoy.config.route.v3.RouteConfiguration');
const Cluster = T('envoy.config.cluster.v3.Cluster');
const CLA = T('envoy.config.endpoint.v3.ClusterLoadAssignment');

const URL = {
  LDS: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RDS: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  CDS: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  EDS: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
};
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const port = Number(opt('--port', '15010'));
const hot = opt('--hot', 'svc-1.');
let edsGen = 0;
let nonceSeq = 0;

const any = (url, type, obj) => ({ type_url: url, value: type.encode(type.fromObject(obj)).finish() });
function parseListener(name) {
  const m = /^svc-(\d+)\.([^.]+)\.svc\.cluster\.local:(\d+)$/.exec(name);
  return m ? { i: Number(m[1]), ns: m[2], port: m[3] } : null;
}
const clusterOf = (i, ns, p) => `outbound|${p}||svc-${i}.${ns}.svc.cluster.local`;
function build(type, name) {
  if (type === 'LDS') {
    if (!parseListener(name)) return null;
    const hcm = HCM.encode(HCM.fromObject({ rds: { config_source: { ads: {} }, route_config_name: name } })).finish();
    return any(URL.LDS, Listener, { name, api_listener: { api_listener: { type_url: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', value: hcm } } });
  }
  if (type === 'RDS') {
    const l = parseListener(name);
    if (!l) return null;
    const route = l.i % 20 === 0
      ? { weighted_clusters: { clusters: [{ name: clusterOf(l.i + 100, l.ns, l.port), weight: { value: 90 } }, { name: clusterOf(l.i + 200, l.ns, l.port), weight: { value: 10 } }] } }
      : { cluster: clusterOf(l.i, l.ns, l.port) };
    return any(URL.RDS, RouteConfiguration, { name, virtual_hosts: [{ name, domains: [name], routes: [{ match: { prefix: '' }, route }] }] });
  }
  if (type === 'CDS')
    return any(URL.CDS, Cluster, { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: name } });
  if (type === 'EDS') {
    const g = name.includes(hot) ? edsGen : 0;
    const eps = [1, 2, 3].map(k => ({ endpoint: { address: { socket_address: { address: `10.1.${k}.${g % 250 + 1}`, port_value: 9090 } } } }));
    return any(URL.EDS, CLA, { cluster_name: name, endpoints: [{ locality: { region: 'eu-west' }, lb_endpoints: eps, load_balancing_weight: { value: 1 } }] });
  }
  return null;
}
const typeOf = url => Object.keys(URL).find(k => URL[k] === url);
const version = t => (t === 'EDS' ? `eds-${edsGen}` : `${t.toLowerCase()}-0`);

const streams = new Set();
function push(st, t) {
  const s = st.subs[t];
  const resources = s.names.map(n => build(t, n)).filter(Boolean);
  const nonce = String(++nonceSeq);
  s.sentVersion = version(t);
  s.nonce = nonce;
  st.call.write({ version_info: s.sentVersion, resources, type_url: URL[t], nonce });
}

const pkg = loader.loadSync('envoy/service/discovery/v3/ads.proto', { keepCase: true, includeDirs: inc });
const ads = grpc.loadPackageDefinition(pkg).envoy.service.discovery.v3.AggregatedDiscoveryService;
const server = new grpc.Server();
server.addService(ads.service, {
  StreamAggregatedResources(call) {
    const st = { call, subs: {} };
    streams.add(st);
    call.on('data', rq => {
      const t = typeOf(rq.type_url);
      if (!t) return;
      const names = [...(rq.resource_names || [])].sort();
      const s = st.subs[t] || (st.subs[t] = { names: [], sentVersion: null, nonce: '' });
      const changed = names.join('\n') !== s.names.join('\n');
      s.names = names;
      if (changed || s.sentVersion !== version(t)) push(st, t);
    });
    call.on('end', () => { streams.delete(st); call.end(); });
    call.on('error', () => streams.delete(st));
  },
  DeltaAggregatedResources(call) {
    const st = { call, delta: true, subs: {} };
    streams.add(st);
    call.on('data', rq => {
      const t = typeOf(rq.type_url);
      if (!t) return;
      const s = st.subs[t] || (st.subs[t] = new Set());
      for (const n of rq.resource_names_unsubscribe || []) s.delete(n);
      const add = (rq.resource_names_subscribe || []).filter(n => !s.has(n));
      for (const n of add) s.add(n);
      if (add.length) pushDelta(st, t, add);
    });
    call.on('end', () => { streams.delete(st); call.end(); });
    call.on('error', () => streams.delete(st));
  },
});
function pushDelta(st, t, names) {
  const resources = names.map(n => ({ name: n, version: version(t), resource: build(t, n) })).filter(r => r.resource);
  st.call.write({ system_version_info: version(t), resources, type_url: URL[t], nonce: String(++nonceSeq) });
}
process.on('SIGUSR1', () => {
  edsGen++;
  for (const st of streams) {
    if (st.delta) {
      const hit = [...(st.subs.EDS || [])].filter(n => n.includes(hot));
      if (hit.length) pushDelta(st, 'EDS', hit);
    } else if (st.subs.EDS && st.subs.EDS.names.some(n => n.includes(hot))) push(st, 'EDS');
  }
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), err => {
  if (err) { console.error(err); process.exit(1); }
  console.error(`mock-ads: listening on 127.0.0.1:${port}`);
});
