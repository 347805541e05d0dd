#!/usr/bin/env node
// A real @grpc/grpc-js server for Maestro's reflection and typed tests: serves the typed test
// service acme.deploy.v1.Provisioner (tests/js/protos/acme/deploy/v1/deploy.proto) with
// server reflection from @grpc/reflection and health from grpc-health-check, both from npm
// (installed by `npm ci` into tests/js/node_modules, see tests/deps.sh).
//
// Options: --port N (0 = pick), --reflection both|v1|v1alpha|none (default both),
//          --no-health.
// Prints "PORT <n>" once listening; then one line per call: "CALL <Method> <request JSON>".
// Methods: CreateInstance answers {id: "i-<image>", image, diskGb, ip: "10.0.0.7", zone,
// memoryBytes, created: 2024-01-02T03:04:05Z}; DestroyInstance {destroyed: true};
// ListInstances streams `count` instances; an image "fail" is INVALID_ARGUMENT.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const req = createRequire(path.join(__dirname, '..', 'js', 'package.json'));
const grpc = req('@grpc/grpc-js');
const protoLoader = req('@grpc/proto-loader');
const { ReflectionService } = req('@grpc/reflection');
const health = req('grpc-health-check');

// The test harness starts us with PR_SET_PDEATHSIG: we go with the test that started us.
function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const port = Number(arg('--port', '0'));
const reflection = arg('--reflection', 'both');
const withHealth = !process.argv.includes('--no-health');

const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  includeDirs: [path.join(__dirname, '..', 'js', 'protos')] };
const pkgDef = protoLoader.loadSync('acme/deploy/v1/deploy.proto', opts);
const pkg = grpc.loadPackageDefinition(pkgDef);

function log(method, request) {
  process.stdout.write(`CALL ${method} ${JSON.stringify(request)}\n`);
}

function instance(r, i) {
  return { id: `i-${r.image || 'x'}${i === undefined ? '' : '-' + i}`, image: r.image || '',
    disk_gb: r.disk_gb || 0, ip: '10.0.0.7', zone: r.zone || 'ZONE_UNSPECIFIED',
    memory_bytes: r.memory_bytes || '0',
    created: { seconds: '1704164645', nanos: 0 } };
}

const server = new grpc.Server();
server.addService(pkg.acme.deploy.v1.Provisioner.service, {
  CreateInstance(call, cb) {
    log('CreateInstance', call.request);
    if (call.request.image === 'fail') {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: 'image fail is not allowed' });
      return;
    }
    cb(null, instance(call.request));
  },
  DestroyInstance(call, cb) {
    log('DestroyInstance', call.request);
    cb(null, { destroyed: true });
  },
  ListInstances(call) {
    log('ListInstances', call.request);
    for (let i = 0; i < call.request.count; i++) call.write(instance({ image: 'list' }, i));
    call.end();
  },
  Watch(call) {
    call.on('data', (r) => call.write(instance({ image: r.id })));
    call.on('end', () => call.end());
  },
});

if (withHealth) {
  const h = new health.HealthImplementation({ '': 'SERVING',
    'acme.deploy.v1.Provisioner': 'SERVING' });
  h.addToServer(server);
}
if (reflection !== 'none') {
  // Reflection describes what is served: the typed service and, when served, health.
  const defs = [pkgDef];
  if (withHealth) defs.push(protoLoader.loadSync('health/v1/health.proto', Object.assign({},
    opts, { includeDirs: [path.join(path.dirname(req.resolve('grpc-health-check/package.json')),
      'proto')] })));
  const r = new ReflectionService(Object.assign({}, ...defs));
  if (reflection === 'both') r.addToServer(server);
  else if (reflection === 'v1') r.v1.addToServer(server);
  else r.v1Alpha.addToServer(server);
}

server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) {
    process.stderr.write(`bind: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`PORT ${p}\n`);
});
