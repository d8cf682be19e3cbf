#!/usr/bin/env node
// Checks weft's .proto subset (api/) against the upstream definitions that
// ship with @grpc/grpc-js-xds (deps/: envoy-api, xds, googleapis,
// protoc-gen-validate) and protobufjs (google/protobuf).
//
// For every message and enum declared in our files:
//   - a type of the same kind and full name exists upstream, declared in a
//     file of the same relative path;
//   - every field exists upstream under the same name with the same number,
//     the same resolved type (full name for messages and enums), the same
//     repeated / map-ness (and map key type) and the same oneof membership;
//   - every enum value exists upstream with the same number.
// Files under api/weft/ are weft's own API and are skipped.
// Each mismatch is printed; the exit status is 1 when there is any, 2 when
// the files cannot be loaded, 0 otherwise.
//
// usage: node tests/proto/check-subset.js [API_DIR] [NODE_MODULES_DIR]
'use strict';

const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '..', '..');
const apiDir = path.resolve(process.argv[2] || path.join(repo, 'api'));
const nodeModules = path.resolve(process.argv[3] || path.join(repo, 'node_modules'));
const protobuf = require(path.join(nodeModules, 'protobufjs'));

const deps = path.join(nodeModules, '@grpc', 'grpc-js-xds', 'deps');
const upstreamDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']
	.map((d) => path.join(deps, d))
	.concat([path.join(nodeModules, 'protobufjs')]);

function listProtos(dir) {
	const out = [];
	(function walk(d) {
		for (const e of fs.readdirSync(d, { withFileTypes: true })) {
			const p = path.join(d, e.name);
			if (e.isDirectory())
				walk(p);
			else if (e.name.endsWith('.proto'))
				out.push(path.relative(dir, p).split(path.sep).join('/'));
		}
	})(dir);
	return out.sort();
}

// Our files: parsed one by one into one root, without following imports, so
// that protobufjs does not swap our google/protobuf files for its bundled
// copies. Each type remembers the file it came from.
function loadOurs(files) {
	const root = new protobuf.Root();
	const origin = new Map();
	for (const rel of files) {
		const before = new Set(allTypes(root).map((t) => t.fullName));
		protobuf.parse(fs.readFileSync(path.join(apiDir, rel), 'utf8'), root,
			{ keepCase: true, alternateCommentMode: true });
		for (const t of allTypes(root))
			if (!before.has(t.fullName))
				origin.set(t.fullName, rel);
	}
	root.resolveAll();
	return { root, origin };
}

// Upstream: loaded with imports resolved against the include directories;
// google/protobuf/* comes from protobufjs' bundled definitions.
function loadUpstream(files) {
	const root = new protobuf.Root();
	root.resolvePath = (from, target) => {
		if (path.isAbsolute(target))
			return target;
		for (const d of upstreamDirs) {
			const p = path.join(d, target);
			if (fs.existsSync(p))
				return p;
		}
		return target;
	};
	const missing = [];
	const load = [];
	for (const rel of files) {
		if (rel.startsWith('google/protobuf/')) {
			load.push(rel);
			continue;
		}
		if (root.resolvePath('', rel) === rel)
			missing.push(rel);
		else
			load.push(rel);
	}
	root.loadSync(load, { keepCase: true, alternateCommentMode: true });
	root.resolveAll();
	return { root, missing };
}

function allTypes(ns) {
	const out = [];
	(function walk(n) {
		for (const c of n.nestedArray) {
			if (c instanceof protobuf.Type || c instanceof protobuf.Enum)
				out.push(c);
			if (c.nestedArray)
				walk(c);
		}
	})(ns);
	return out;
}

function upstreamFile(t) {
	if (!t.filename)
		return null;
	const f = t.filename.split(path.sep).join('/');
	const i = f.lastIndexOf('google/protobuf/');
	if (i >= 0 && !f.includes('/deps/'))
		return f.slice(i);
	for (const d of upstreamDirs) {
		const dd = d.split(path.sep).join('/') + '/';
		if (f.startsWith(dd))
			return f.slice(dd.length);
	}
	return f;
}

function typeName(f) {
	return f.resolvedType ? f.resolvedType.fullName : f.type;
}

function describe(f) {
	return {
		id: f.id,
		type: typeName(f),
		label: f.map ? 'map<' + f.keyType + '>' : (f.repeated ? 'repeated' : 'singular'),
		oneof: f.partOf ? f.partOf.name : '(none)',
	};
}

function check(ours, up, origin) {
	const errors = [];
	for (const t of allTypes(ours)) {
		const name = t.fullName;
		const u = up.lookup(name);
		const where = origin.get(name) || '?';
		if (!u || (t instanceof protobuf.Enum) !== (u instanceof protobuf.Enum) ||
		    !(u instanceof protobuf.Type || u instanceof protobuf.Enum)) {
			errors.push(`${where}: ${name}: no ${t instanceof protobuf.Enum ? 'enum' : 'message'} of that name upstream`);
			continue;
		}
		const uf = upstreamFile(u);
		if (uf && where !== '?' && uf !== where)
			errors.push(`${where}: ${name}: declared upstream in ${uf}`);
		if (t instanceof protobuf.Enum) {
			for (const [k, v] of Object.entries(t.values)) {
				if (!(k in u.values))
					errors.push(`${where}: ${name}.${k}: no such enum value upstream`);
				else if (u.values[k] !== v)
					errors.push(`${where}: ${name}.${k}: number ${v}, upstream ${u.values[k]}`);
			}
			continue;
		}
		for (const f of t.fieldsArray) {
			// protobufjs' bundled google/protobuf types use camelCase names
			let uf2 = u.fields[f.name];
			if (!uf2 && name.startsWith('.google.protobuf.'))
				uf2 = u.fields[protobuf.util.camelCase(f.name)];
			if (!uf2) {
				errors.push(`${where}: ${name}.${f.name}: no such field upstream`);
				continue;
			}
			const a = describe(f), b = describe(uf2);
			for (const k of ['id', 'type', 'label', 'oneof'])
				if (a[k] !== b[k])
					errors.push(`${where}: ${name}.${f.name}: ${k} ${a[k]}, upstream ${b[k]}`);
		}
		for (const o of t.oneofsArray) {
			if (!u.oneofs || !u.oneofs[o.name])
				errors.push(`${where}: ${name}: oneof ${o.name} not upstream`);
		}
	}
	return errors;
}

// weft's own packages (api/weft/**: weft.agent.v1, weft.ca.v1) are not a
// subset of anything upstream: they are skipped.
function isOurs(rel) {
	return rel.startsWith('weft/');
}

function main() {
	const files = listProtos(apiDir).filter((f) => !isOurs(f));
	if (files.length === 0) {
		console.error(`check-subset: no .proto files under ${apiDir}`);
		return 2;
	}
	let ours, up;
	try {
		ours = loadOurs(files);
		up = loadUpstream(files);
	} catch (e) {
		console.error(`check-subset: cannot load: ${e.message}`);
		return 2;
	}
	const errors = up.missing.map((f) => `${f}: no upstream file of that path`);
	errors.push(...check(ours.root, up.root, ours.origin));
	for (const e of errors)
		console.log('MISMATCH ' + e);
	const n = allTypes(ours.root).length;
	const nf = allTypes(ours.root).reduce((s, t) => s + (t.fieldsArray ? t.fieldsArray.length : Object.keys(t.values).length), 0);
	console.log(`check-subset: ${files.length} files, ${n} types, ${nf} fields/values checked, ${errors.length} mismatches`);
	return errors.length ? 1 : 0;
}

process.exitCode = main();
