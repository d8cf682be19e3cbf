#!/usr/bin/env node
// A plain grpc-js client for weft's black-box tests (no xDS): calls
// weft.test.Echo through whatever answers at HOST:PORT (the node agents
// capture the connection) and prints one JSON line.
//
//   grpc_call.js HOST:PORT unary  [--n N] [--message M] [--metadata k=v]
//   grpc_call.js HOST:PORT stream [--count N] [--end-code C]
//   grpc_call.js HOST:PORT health [--service S]
// Common: --deadline-ms D (default 5000).
//
// unary:  N calls one after another ->
//         {"n","codes":{code:count},"servers":{name:count},"details":[first few]}
// stream: one server-streaming call ->
//         {"code","details","messages":[attempt...],"servers":[...],"trailers":{k:v}}
// health: one grpc.health.v1 Check -> {"code","details","status"}
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(msg) {
  if (msg) process.stderr.write(`grpc_call: ${msg}\n`);
  process.stderr.write('usage: grpc_call.js HOST:PORT unary|stream|health [options]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 2) usage();
const [target, mode] = argv;
const o = { n: 1, message: 'hi', metadata: {}, count: 3, endCode: 0, deadlineMs: 5000, service: '' };
for (let i = 2; i < argv.length; i++) {
  const a = argv[i];
  const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
  if (a === '--n') o.n = Number(val());
  else if (a === '--message') o.message = val();
  else if (a === '--metadata') { const [k, ...v] = val().split('='); o.metadata[k] = v.join('='); }
  else if (a === '--count') o.count = Number(val());
  else if (a === '--end-code') o.endCode = Number(val());
  else if (a === '--deadline-ms') o.deadlineMs = Number(val());
  else if (a === '--service') o.service = val();
  else usage(`unknown option ${a}`);
}

const lo = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
const echo = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(__dirname, 'echo.proto'), lo)).weft.test;
const health = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(__dirname, 'health.proto'), lo)).grpc.health.v1;
const creds = grpc.credentials.createInsecure();
const deadline = () => new Date(Date.now() + o.deadlineMs);
const codeName = (c) => Object.keys(grpc.status).find((k) => grpc.status[k] === c) || String(c);
const out = (obj) => { process.stdout.write(JSON.stringify(obj) + '\n'); process.exit(0); };

function md() {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(o.metadata)) m.set(k, v);
  return m;
}

if (mode === 'unary') {
  const c = new echo.Echo(target, creds);
  const res = { n: o.n, codes: {}, servers: {}, details: [] };
  let left = o.n;
  const one = () => {
    if (left-- <= 0) { c.close(); out(res); return; }
    c.Echo({ message: o.message }, md(), { deadline: deadline() }, (err, reply) => {
      const code = codeName(err ? err.code : 0);
      res.codes[code] = (res.codes[code] || 0) + 1;
      if (reply) res.servers[reply.server] = (res.servers[reply.server] || 0) + 1;
      if (err && res.details.length < 5) res.details.push(err.details);
      one();
    });
  };
  one();
} else if (mode === 'stream') {
  const c = new echo.Echo(target, creds);
  const res = { code: null, details: '', messages: [], servers: [], trailers: {} };
  const call = c.Stream({ message: o.message, count: o.count, endCode: o.endCode }, md(), { deadline: deadline() });
  call.on('data', (r) => { res.messages.push(r.attempt); if (!res.servers.includes(r.server)) res.servers.push(r.server); });
  call.on('error', () => {});
  call.on('status', (st) => {
    res.code = codeName(st.code);
    res.details = st.details;
    for (const [k, v] of Object.entries(st.metadata.getMap())) res.trailers[k] = String(v);
    c.close();
    out(res);
  });
} else if (mode === 'health') {
  const c = new health.Health(target, creds);
  c.Check({ service: o.service }, { deadline: deadline() }, (err, reply) => {
    c.close();
    out({ code: codeName(err ? err.code : 0), details: err ? err.details : '', status: reply ? reply.status : null });
  });
} else {
  usage(`unknown mode ${mode}`);
}
