#!/usr/bin/env node
// A real grpc-js server for weft's black-box tests.
//
//   echo_server.js NAME HOST:PORT [--fail-rate P] [--fail-code CODE]
//                                 [--fail-first] [--delay-ms MS]
//                                 [--health SERVING|NOT_SERVING]
//
// Answers weft.test.Echo/Echo with its NAME and the request metadata the
// caller asked for (EchoRequest.echo_metadata). Failure injection:
//   --fail-rate P   fail a fraction P (0..1) of calls with --fail-code
//   --fail-first    fail the first attempt of each EchoRequest.id (so that a
//                   retrying client succeeds on the second attempt)
//   --fail-code C   the gRPC status code of injected failures (default 14,
//                   UNAVAILABLE)
// Stream (server streaming) sends EchoRequest.count replies, then ends with
// status EchoRequest.end_code and the trailer x-echo-trailer: NAME.
// grpc.health.v1.Health/Check answers --health (default SERVING) for any
// service name; SIGUSR2 flips SERVING <-> NOT_SERVING.
// Prints "READY" on stdout once listening; exits 0 on SIGTERM/SIGINT.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(msg) {
  if (msg) process.stderr.write(`echo_server: ${msg}\n`);
  process.stderr.write('usage: echo_server.js NAME HOST:PORT [--fail-rate P] [--fail-code CODE] [--fail-first] [--delay-ms MS] [--health SERVING|NOT_SERVING]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const positional = [];
const opts = { failRate: 0, failCode: grpc.status.UNAVAILABLE, failFirst: false, delayMs: 0, health: 'SERVING' };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
  if (a === '--fail-rate') opts.failRate = Number(val());
  else if (a === '--fail-code') opts.failCode = Number(val());
  else if (a === '--fail-first') opts.failFirst = true;
  else if (a === '--delay-ms') opts.delayMs = Number(val());
  else if (a === '--health') opts.health = val();
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else positional.push(a);
}
if (positional.length !== 2) usage();
const [name, addr] = positional;
if (!(opts.failRate >= 0 && opts.failRate <= 1)) usage('--fail-rate must be within 0..1');
if (opts.health !== 'SERVING' && opts.health !== 'NOT_SERVING') usage('--health: SERVING or NOT_SERVING');

const def = protoLoader.loadSync(path.join(__dirname, 'echo.proto'),
  { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
const proto = grpc.loadPackageDefinition(def).weft.test;
const hdef = protoLoader.loadSync(path.join(__dirname, 'health.proto'),
  { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
const health = grpc.loadPackageDefinition(hdef).grpc.health.v1;

const attempts = new Map();   // request id -> attempts seen
let calls = 0;

function echo(call, callback) {
  calls++;
  const req = call.request;
  let attempt = 1;
  if (req.id) {
    attempt = (attempts.get(req.id) || 0) + 1;
    attempts.set(req.id, attempt);
  }
  const finish = () => {
    if ((opts.failFirst && req.id && attempt === 1) ||
        (opts.failRate > 0 && Math.random() < opts.failRate)) {
      const md = new grpc.Metadata();
      md.set('x-echo-server', name);
      callback({ code: opts.failCode, details: `${name}: injected failure (attempt ${attempt})`, metadata: md });
      return;
    }
    const metadata = {};
    for (const key of req.echoMetadata || []) {
      const v = call.metadata.get(key.toLowerCase());
      if (v.length) metadata[key] = v.map(String).join(',');
    }
    callback(null, { message: req.message, server: name, metadata, attempt });
  };
  if (opts.delayMs > 0) setTimeout(finish, opts.delayMs); else finish();
}

function stream(call) {
  calls++;
  const req = call.request;
  const n = Math.min(Number(req.count) || 0, 10000);
  for (let i = 1; i <= n; i++) call.write({ message: req.message, server: name, metadata: {}, attempt: i });
  const md = new grpc.Metadata();
  md.set('x-echo-trailer', name);
  const code = Number(req.endCode) || 0;
  if (code) call.emit('error', { code, details: `${name}: stream ends with ${code}`, metadata: md });
  else call.end(md);
}

function check(call, callback) {
  callback(null, { status: opts.health });
}

const server = new grpc.Server();
server.addService(proto.Echo.service, { Echo: echo, Stream: stream });
server.addService(health.Health.service, { Check: check });
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`echo_server ${name}: bind ${addr}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('READY\n');
});

function stop() {
  process.stderr.write(`echo_server ${name}: stopping after ${calls} calls\n`);
  server.forceShutdown();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGUSR2', () => { opts.health = opts.health === 'SERVING' ? 'NOT_SERVING' : 'SERVING'; });
process.on('SIGINT', stop);
