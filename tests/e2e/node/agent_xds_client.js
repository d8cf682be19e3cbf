#!/usr/bin/env node
// A delta ADS client for weft's agent resource types (weft.agent.v1), for
// the black-box tests: it plays a node agent on the plaintext port of a
// `weft control --agent-plaintext` (node = node.id).
//
//   agent_xds_client.js --server H:P --node N [--types workload,service,authz]
//
// Subscribes to every given type with a wildcard ("*"), ACKs every
// response, and prints one JSON line per response:
//   {"type":"workload","version":"3","resources":{"ns/name":{...decoded...}},
//    "removed":["ns/name"]}
// Decoded values use the field names of api/weft/agent/v1/agent.proto.
// Stops when stdin closes or on SIGTERM. Errors go to stderr as a JSON line
// {"error": "..."} and exit 1.
'use strict';
const path = require('path');
const readline = require('readline');

const repo = path.resolve(__dirname, '..', '..', '..');
const nodeModules = path.join(repo, 'node_modules');
const grpc = require(path.join(nodeModules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(nodeModules, '@grpc', 'proto-loader'));
const protobuf = require(path.join(nodeModules, 'protobufjs'));

const TYPES = {
  workload: 'type.googleapis.com/weft.agent.v1.Workload',
  service: 'type.googleapis.com/weft.agent.v1.Service',
  authz: 'type.googleapis.com/weft.agent.v1.Authorization',
};

function usage(msg) {
  process.stderr.write(JSON.stringify({ error: msg }) + '\n');
  process.exit(2);
}

const opts = { server: null, node: null, types: ['workload', 'service', 'authz'] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--server') { opts.server = v; i++; }
  else if (a === '--node') { opts.node = v; i++; }
  else if (a === '--types') { opts.types = v.split(','); i++; }
  else usage(`unknown argument ${a}`);
}
if (!opts.server || !opts.node)
  usage('--server and --node are required');
for (const t of opts.types)
  if (!TYPES[t])
    usage(`unknown type ${t}`);

// Envoy's discovery service, from the protos grpc-js-xds ships
const deps = path.join(nodeModules, '@grpc', 'grpc-js-xds', 'deps');
const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d)),
});
const ads = grpc.loadPackageDefinition(def).envoy.service.discovery.v3.AggregatedDiscoveryService;

// weft's own messages, to decode the Any values
const agentRoot = protobuf.loadSync(path.join(repo, 'api', 'weft', 'agent', 'v1', 'agent.proto'));
const messageOf = {};
for (const [k, url] of Object.entries(TYPES))
  messageOf[url] = { short: k, type: agentRoot.lookupType(url.split('/')[1]) };

const client = new ads(opts.server, grpc.credentials.createInsecure());
const call = client.DeltaAggregatedResources();
const node = { id: opts.node, user_agent_name: 'weft-e2e-agent' };

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

call.on('data', (resp) => {
  const m = messageOf[resp.type_url];
  if (!m) {
    out({ type: resp.type_url, unexpected: true });
    return;
  }
  const resources = {};
  for (const r of resp.resources) {
    const msg = m.type.decode(r.resource.value);
    resources[r.name] = m.type.toObject(msg, { longs: String, enums: String, defaults: true, arrays: true });
  }
  out({ type: m.short, version: resp.system_version_info, resources, removed: resp.removed_resources });
  call.write({ node, type_url: resp.type_url, response_nonce: resp.nonce });
});
call.on('error', (e) => {
  if (e.code === grpc.status.CANCELLED)
    process.exit(0);
  process.stderr.write(JSON.stringify({ error: e.message }) + '\n');
  process.exit(1);
});
call.on('end', () => process.exit(0));

for (const t of opts.types)
  call.write({ node, type_url: TYPES[t], resource_names_subscribe: ['*'] });

function stop() {
  call.cancel();
  setTimeout(() => process.exit(0), 100);
}
process.on('SIGTERM', stop);
readline.createInterface({ input: process.stdin }).on('close', stop);
