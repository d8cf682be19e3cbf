#!/usr/bin/env node
// Runs @grpc/grpc-js-xds's own resource validation (the code that decides
// between ACK and NACK in a proxyless gRPC client) on resources dumped by
// the xDS translation unit test (WEFT_XDS_DUMP=<dir>).
//
// <dir>/index.txt lists "<file> <type_url> <name>" per line. Prints each
// rejected resource with the client's reason; exits 1 when any is rejected
// or a decoded name differs, 2 when the input is unusable, 0 otherwise.
//
// usage: node tests/proto/validate-resources.js DIR [NODE_MODULES_DIR]
'use strict';

const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const nodeModules = path.resolve(process.argv[3] || path.join(__dirname, '..', '..', 'node_modules'));
const xdsDir = path.join(nodeModules, '@grpc', 'grpc-js-xds', 'build', 'src');

require(path.join(nodeModules, '@grpc', 'grpc-js-xds')).register();   // filters, LB policies
const types = {
	'type.googleapis.com/envoy.config.listener.v3.Listener':
		require(path.join(xdsDir, 'xds-resource-type', 'listener-resource-type')).ListenerResourceType,
	'type.googleapis.com/envoy.config.route.v3.RouteConfiguration':
		require(path.join(xdsDir, 'xds-resource-type', 'route-config-resource-type')).RouteConfigurationResourceType,
	'type.googleapis.com/envoy.config.cluster.v3.Cluster':
		require(path.join(xdsDir, 'xds-resource-type', 'cluster-resource-type')).ClusterResourceType,
	'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment':
		require(path.join(xdsDir, 'xds-resource-type', 'endpoint-resource-type')).EndpointResourceType,
};
const context = { server: {}, bootstrap: { certificateProviders: {} } };

function main() {
	if (!dir)
		return 2;
	const lines = fs.readFileSync(path.join(dir, 'index.txt'), 'utf8').split('\n').filter(Boolean);
	let bad = 0;
	const seen = {};
	for (const line of lines) {
		const [file, typeUrl, ...rest] = line.split(' ');
		const name = rest.join(' ');
		const type = types[typeUrl];
		if (!type) {
			console.log(`REJECTED ${name}: unknown type ${typeUrl}`);
			bad++;
			continue;
		}
		const value = fs.readFileSync(path.join(dir, file));
		let res;
		try {
			res = type.get().decode(context, { type_url: typeUrl, value });
		} catch (e) {
			res = { name, error: 'exception: ' + e.message };
		}
		if (res.error) {
			console.log(`REJECTED ${typeUrl.split('.').pop()} ${name}: ${res.error}`);
			bad++;
		} else if (res.name !== name) {
			console.log(`MISNAMED ${name}: decodes as ${res.name}`);
			bad++;
		}
		seen[typeUrl] = (seen[typeUrl] || 0) + 1;
	}
	console.log(`validate-resources: ${lines.length} resources, ${bad} rejected ` +
		JSON.stringify(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k.split('.').pop(), v]))));
	return bad ? 1 : 0;
}

process.exitCode = main();
