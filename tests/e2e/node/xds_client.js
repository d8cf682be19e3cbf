#!/usr/bin/env node
// A proxyless gRPC client for weft's black-box tests and demo: grpc-js with the
// xds:/// resolver of @grpc/grpc-js-xds, talking to weft.test.Echo.
//
//   xds_client.js [common options] run [--n N] [--concurrency C]
//       Makes N calls (C at a time, default 1), prints one JSON summary line.
//   xds_client.js [common options] continuous --rate R [--duration-s S]
//       Calls R times a second (open loop) for S seconds (default: until
//       stdin closes or SIGTERM); prints each result as a JSON line
//       {"record": {...}} and finally {"summary": {...}}.
//   xds_client.js [common options] serve
//       Long-running: one channel, commands as JSON lines on stdin, one JSON
//       reply line per command on stdout (see COMMANDS below).
//   xds_client.js [common options] watch [--rate R] [--also-metadata k=v]
//       For humans (the demo): calls at rate R and prints the per-backend
//       distribution of the last second, every second.
//
// Common options:
//   --target T        default xds:///echo.default.svc.cluster.local:7070
//   --metadata k=v    request metadata (repeatable)
//   --deadline-ms D   per-call deadline (default 5000)
//   --echo-key K      ask the server to echo request metadata key K (repeatable)
//   --xds-server H:P  when GRPC_XDS_BOOTSTRAP is unset: build the bootstrap
//                     for this xDS server (with --node-id, default weft-client)
//   --warmup-s S      before the mode starts, retry one call until it succeeds
//                     or S seconds pass (default 0: no warm-up)
//
// COMMANDS (serve mode), each a JSON object on one line; "seq" is copied into
// the reply:
//   {"cmd":"batch","n":100,"concurrency":4,"metadata":{"x":"y"},"deadline_ms":2000}
//        -> {"seq":..,"ok":true,"summary":{...}}
//   {"cmd":"warmup","timeout_s":10}   -> {"ok":true|false,"summary":{...}}
//   {"cmd":"start","rate":50,"metadata":{...}}   start a continuous stream
//   {"cmd":"stop"}    -> {"ok":true,"records":[...],"summary":{...}}
//   {"cmd":"state"}   -> {"ok":true,"state":"READY"}
//   {"cmd":"quit"}
//
// A record is {"t0":ms,"t1":ms,"code":"OK","backend":"echo-a","latency_ms":x,
// "error":"..."}: t0/t1 are wall-clock epoch milliseconds (sub-ms precision)
// taken by this client when the call started and when its status arrived.
// A summary is {"n","ok","failed","backends":{name:count},"codes":{name:count},
// "latency_ms":{"min","p50","p99","max"},"errors":[first few messages],
// "metadata_seen":{key:{value:count}}}.
'use strict';
const path = require('path');
const readline = require('readline');
const { performance } = require('perf_hooks');

function usage(msg) {
  if (msg) process.stderr.write(`xds_client: ${msg}\n`);
  process.stderr.write('usage: xds_client.js [--target T] [--metadata k=v] [--deadline-ms D] ' +
    '[--xds-server H:P] [--node-id ID] run|continuous|serve|watch [mode options]\n');
  process.exit(2);
}

// ---- arguments ------------------------------------------------------------
const opts = {
  target: 'xds:///echo.default.svc.cluster.local:7070',
  metadata: {}, deadlineMs: 5000, echoKeys: [], xdsServer: null, nodeId: 'weft-client',
  warmupS: 0, n: 100, concurrency: 1, rate: 20, durationS: 0, alsoMetadata: null,
};
let mode = null;
const argv = process.argv.slice(2);
function kv(s) {
  const i = s.indexOf('=');
  if (i <= 0) usage(`expected key=value, got ${s}`);
  return [s.slice(0, i), s.slice(i + 1)];
}
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
  switch (a) {
    case '--target': opts.target = val(); break;
    case '--metadata': { const [k, v] = kv(val()); opts.metadata[k] = v; break; }
    case '--deadline-ms': opts.deadlineMs = Number(val()); break;
    case '--echo-key': opts.echoKeys.push(val()); break;
    case '--xds-server': opts.xdsServer = val(); break;
    case '--node-id': opts.nodeId = val(); break;
    case '--warmup-s': opts.warmupS = Number(val()); break;
    case '--n': opts.n = Number(val()); break;
    case '--concurrency': opts.concurrency = Number(val()); break;
    case '--rate': opts.rate = Number(val()); break;
    case '--duration-s': opts.durationS = Number(val()); break;
    case '--also-metadata': opts.alsoMetadata = kv(val()); break;
    default:
      if (a.startsWith('--') || mode) usage(`unexpected argument ${a}`);
      mode = a;
  }
}
if (!['run', 'continuous', 'serve', 'watch'].includes(mode)) usage('missing or unknown mode');

if (opts.target.startsWith('xds:') && !process.env.GRPC_XDS_BOOTSTRAP &&
    !process.env.GRPC_XDS_BOOTSTRAP_CONFIG) {
  if (!opts.xdsServer) usage('set GRPC_XDS_BOOTSTRAP or pass --xds-server');
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: opts.xdsServer, channel_creds: [{ type: 'insecure' }],
                    server_features: ['xds_v3'] }],
    node: { id: opts.nodeId, cluster: 'weft-demo', locality: { zone: 'local' } },
  });
}

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
require('@grpc/grpc-js-xds').register();

const def = protoLoader.loadSync(path.join(__dirname, 'echo.proto'),
  { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
const proto = grpc.loadPackageDefinition(def).weft.test;
const client = new proto.Echo(opts.target, grpc.credentials.createInsecure());

const CODE_NAMES = {};
for (const [k, v] of Object.entries(grpc.status)) CODE_NAMES[v] = k;
const nowMs = () => performance.timeOrigin + performance.now();
const round3 = (x) => Math.round(x * 1000) / 1000;
let callSeq = 0;

// ---- one call -------------------------------------------------------------
// Resolves (never rejects) with a record.
function call(metadata, deadlineMs) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata || {})) md.set(k, String(v));
  const id = `${process.pid}-${++callSeq}`;
  const t0 = nowMs();
  return new Promise((resolve) => {
    client.Echo({ message: 'hi', id, echoMetadata: opts.echoKeys }, md,
      { deadline: new Date(Date.now() + deadlineMs) }, (err, reply) => {
        const t1 = nowMs();
        const rec = { t0: round3(t0), t1: round3(t1), latency_ms: round3(t1 - t0), id };
        if (err) {
          rec.code = CODE_NAMES[err.code] || String(err.code);
          rec.backend = null;
          rec.error = err.details || err.message;
          const srv = err.metadata && err.metadata.get('x-echo-server');
          if (srv && srv.length) rec.failed_backend = String(srv[0]);
        } else {
          rec.code = 'OK';
          rec.backend = reply.server;
          rec.attempt = reply.attempt;
          if (reply.metadata && Object.keys(reply.metadata).length) rec.metadata = reply.metadata;
        }
        resolve(rec);
      });
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1));
  return sorted[idx];
}

function summarize(records) {
  const s = { n: records.length, ok: 0, failed: 0, backends: {}, codes: {},
              latency_ms: {}, errors: [], metadata_seen: {} };
  const lat = [];
  for (const r of records) {
    s.codes[r.code] = (s.codes[r.code] || 0) + 1;
    if (r.code === 'OK') {
      s.ok++;
      s.backends[r.backend] = (s.backends[r.backend] || 0) + 1;
      for (const [k, v] of Object.entries(r.metadata || {})) {
        s.metadata_seen[k] = s.metadata_seen[k] || {};
        s.metadata_seen[k][v] = (s.metadata_seen[k][v] || 0) + 1;
      }
    } else {
      s.failed++;
      if (s.errors.length < 5) s.errors.push(`${r.code}: ${r.error}`);
    }
    lat.push(r.latency_ms);
  }
  lat.sort((a, b) => a - b);
  s.latency_ms = { min: lat.length ? lat[0] : null, p50: percentile(lat, 50),
                   p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : null };
  return s;
}

async function batch(n, concurrency, metadata, deadlineMs) {
  const records = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      records[i] = await call(metadata, deadlineMs);
    }
  }
  const workers = [];
  for (let w = 0; w < Math.max(1, Math.min(concurrency, n)); w++) workers.push(worker());
  await Promise.all(workers);
  return records;
}

// Retries one call until a backend answers (successfully or with its own
// injected failure) or timeoutS passes: the channel's first call waits for xDS
// resolution, and a missing or wrong config fails fast instead.
async function warmup(timeoutS, metadata) {
  const end = Date.now() + timeoutS * 1000;
  const records = [];
  for (;;) {
    const left = end - Date.now();
    const rec = await call(metadata, Math.max(100, Math.min(left, opts.deadlineMs)));
    records.push(rec);
    // a reply, or a failure that a backend itself sent, means the channel has
    // its config and reaches the backends
    if (rec.code === 'OK' || rec.failed_backend) return { ok: true, records };
    if (Date.now() >= end) return { ok: false, records };
    await new Promise((r) => setTimeout(r, 100));
  }
}

// An open-loop stream of calls at a fixed rate; onRecord sees each result.
function startStream(rate, metadata, deadlineMs, onRecord) {
  const pending = new Set();
  const periodMs = 1000 / rate;
  const start = nowMs();
  let issued = 0;
  let stopped = false;
  let timer = null;
  const tick = () => {
    if (stopped) return;
    // catch up with the schedule, so that a slow event loop does not lower the rate
    const due = Math.floor((nowMs() - start) / periodMs) + 1;
    while (issued < due) {
      issued++;
      const p = call(metadata, deadlineMs).then((rec) => { pending.delete(p); onRecord(rec); });
      pending.add(p);
    }
    timer = setTimeout(tick, Math.max(1, start + issued * periodMs - nowMs()));
  };
  tick();
  return async function stop() {
    stopped = true;
    if (timer) clearTimeout(timer);
    await Promise.all([...pending]);
  };
}

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// ---- modes ----------------------------------------------------------------
async function modeRun() {
  if (opts.warmupS > 0) {
    const w = await warmup(opts.warmupS, opts.metadata);
    if (!w.ok) { out({ ok: false, warmup: summarize(w.records) }); return 1; }
  }
  const records = await batch(opts.n, opts.concurrency, opts.metadata, opts.deadlineMs);
  out({ ok: true, summary: summarize(records) });
  return 0;
}

async function modeContinuous() {
  if (opts.warmupS > 0) {
    const w = await warmup(opts.warmupS, opts.metadata);
    if (!w.ok) { out({ ok: false, warmup: summarize(w.records) }); return 1; }
  }
  const records = [];
  const stop = startStream(opts.rate, opts.metadata, opts.deadlineMs, (rec) => {
    records.push(rec);
    out({ record: rec });
  });
  await new Promise((resolve) => {
    if (opts.durationS > 0) setTimeout(resolve, opts.durationS * 1000);
    process.stdin.on('end', resolve);
    process.stdin.resume();
    process.on('SIGTERM', resolve);
    process.on('SIGINT', resolve);
  });
  await stop();
  out({ summary: summarize(records) });
  return 0;
}

async function modeServe() {
  let stream = null;
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  out({ ready: true, pid: process.pid });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { out({ ok: false, error: `bad JSON: ${e.message}` }); continue; }
    const reply = { seq: cmd.seq };
    try {
      switch (cmd.cmd) {
        case 'batch': {
          const recs = await batch(cmd.n || 1, cmd.concurrency || 1, cmd.metadata || {},
                                   cmd.deadline_ms || opts.deadlineMs);
          reply.ok = true;
          reply.summary = summarize(recs);
          if (cmd.records) reply.records = recs;
          break;
        }
        case 'warmup': {
          const w = await warmup(cmd.timeout_s || 10, cmd.metadata || {});
          reply.ok = w.ok;
          reply.summary = summarize(w.records);
          break;
        }
        case 'start': {
          if (stream) throw new Error('a stream is already running');
          const records = [];
          const stop = startStream(cmd.rate || 50, cmd.metadata || {},
                                   cmd.deadline_ms || opts.deadlineMs, (r) => records.push(r));
          stream = { stop, records };
          reply.ok = true;
          break;
        }
        case 'stop': {
          if (!stream) throw new Error('no stream is running');
          await stream.stop();
          const recs = stream.records.sort((a, b) => a.t0 - b.t0);
          stream = null;
          reply.ok = true;
          reply.records = recs;
          reply.summary = summarize(recs);
          break;
        }
        case 'state': {
          const ch = client.getChannel();
          reply.ok = true;
          reply.state = grpc.connectivityState[ch.getConnectivityState(false)];
          break;
        }
        case 'quit':
          if (stream) await stream.stop();
          out({ seq: cmd.seq, ok: true });
          return 0;
        default:
          throw new Error(`unknown command ${cmd.cmd}`);
      }
    } catch (e) {
      reply.ok = false;
      reply.error = e.message;
    }
    out(reply);
  }
  if (stream) await stream.stop();
  return 0;
}

async function modeWatch() {
  const streams = [{ label: 'no header', metadata: opts.metadata }];
  if (opts.alsoMetadata) {
    const [k, v] = opts.alsoMetadata;
    streams.push({ label: `${k}: ${v}`, metadata: { ...opts.metadata, [k]: v } });
  }
  for (const s of streams) {
    s.window = [];
    s.total = 0;
    s.stop = startStream(opts.rate, s.metadata, opts.deadlineMs, (r) => { s.window.push(r); s.total++; });
  }
  const t0 = Date.now();
  const report = setInterval(() => {
    const secs = Math.round((Date.now() - t0) / 1000);
    for (const s of streams) {
      const sum = summarize(s.window);
      s.window = [];
      const parts = Object.keys(sum.backends).sort().map((b) =>
        `${b} ${String(sum.backends[b]).padStart(3)} (${String(Math.round(100 * sum.backends[b] / (sum.n || 1))).padStart(3)}%)`);
      if (sum.failed) parts.push(`failed ${sum.failed} [${Object.keys(sum.codes).filter((c) => c !== 'OK').join(',')}]`);
      const p50 = sum.latency_ms.p50 === null ? '-' : sum.latency_ms.p50.toFixed(1);
      process.stdout.write(`[${String(secs).padStart(4)}s] ${s.label.padEnd(14)} ${String(sum.n).padStart(4)} rpc/s  p50 ${p50.padStart(6)} ms | ${parts.join('  ') || '(no replies)'}\n`);
    }
  }, 1000);
  await new Promise((resolve) => {
    if (opts.durationS > 0) setTimeout(resolve, opts.durationS * 1000);
    process.on('SIGTERM', resolve);
    process.on('SIGINT', resolve);
  });
  clearInterval(report);
  for (const s of streams) await s.stop();
  process.stdout.write(`total: ${streams.map((s) => `${s.label} ${s.total} calls`).join(', ')}\n`);
  return 0;
}

const modes = { run: modeRun, continuous: modeContinuous, serve: modeServe, watch: modeWatch };
modes[mode]().then((rc) => {
  client.close();
  // grpc-js-xds keeps its xDS stream open; leave explicitly once output is flushed
  process.stdout.write('', () => process.exit(rc));
}, (e) => {
  process.stderr.write(`xds_client: ${e.stack || e}\n`);
  process.exit(1);
});
