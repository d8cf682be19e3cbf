#!/usr/bin/env node
// A client of weft's certificate authority (weft.ca.v1.Ca, api/weft/ca/v1/ca.proto)
// for the black-box tests: grpc-js over TLS, one unary call, one JSON line out.
//
//   ca_client.js --addr 127.0.0.1:15012 --root root.pem [--key k.pem --cert c.pem]
//                [--td cluster.local] join|sign '<request as JSON>'
//
// The server must present spiffe://<td>/weft/control (checked instead of a
// host name). Output: {"ok":true,"response":{...}} or
// {"ok":false,"code":7,"details":"not authorized"}.
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

function main() {
  const args = process.argv.slice(2);
  const opt = { td: 'cluster.local' };
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) opt[args[i].slice(2)] = args[++i];
    else pos.push(args[i]);
  }
  const [method, body] = pos;
  if (!opt.addr || !opt.root || !['join', 'sign'].includes(method)) {
    console.error('usage: ca_client.js --addr H:P --root FILE [--key F --cert F] join|sign JSON');
    process.exit(2);
  }
  const protoPath = path.resolve(__dirname, '../../../api/weft/ca/v1/ca.proto');
  const def = loader.loadSync(protoPath, { keepCase: false, longs: Number, defaults: true });
  const Ca = grpc.loadPackageDefinition(def).weft.ca.v1.Ca;
  const want = `URI:spiffe://${opt.td}/weft/control`;
  const creds = grpc.credentials.createSsl(
    fs.readFileSync(opt.root),
    opt.key ? fs.readFileSync(opt.key) : null,
    opt.cert ? fs.readFileSync(opt.cert) : null,
    {
      checkServerIdentity: (host, cert) => {
        const san = (cert.subjectaltname || '').split(', ');
        return san.includes(want) ? undefined : new Error(`server is not ${want}: ${cert.subjectaltname}`);
      },
    });
  const client = new Ca(opt.addr, creds);
  const fn = method === 'join' ? 'Join' : 'Sign';
  const deadline = new Date(Date.now() + 10000);
  client[fn](JSON.parse(body || '{}'), { deadline }, (err, resp) => {
    if (err) console.log(JSON.stringify({ ok: false, code: err.code, details: err.details }));
    else console.log(JSON.stringify({ ok: true, response: resp }));
    client.close();
  });
}

main();
