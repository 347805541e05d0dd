// Hand-written Node.js glue doing what bench/workflows/fan_grpc.yaml and fan_http.yaml do: fan out
// ITEMS calls, at most CONCURRENCY at a time (Promise.all over a pool of workers), each call
// sending {id: item} and reading the reply, RUNS times in a row. Prints one JSON line:
// {calls, errors, wall_s, cpu_s} where cpu_s is this process's user+system CPU during the calls
// (after start-up and proto loading, like `maestro bench`'s cpu_s).
//   node glue.js grpc 127.0.0.1:PORT ITEMS CONCURRENCY RUNS   (5 HTTP/2 connections, like maestro)
//   node glue.js http http://127.0.0.1:PORT ITEMS CONCURRENCY RUNS   (global fetch)
//   node glue.js http-agent http://127.0.0.1:PORT ...   (http.request, keep-alive agent of 5 sockets,
//                                                        like maestro's pool: a stronger baseline)
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [mode, target, itemsArg, concArg, runsArg] = process.argv.slice(2);
const ITEMS = Number(itemsArg || 1000), CONC = Number(concArg || 100), RUNS = Number(runsArg || 1);

function toValue(v) {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}
function toStruct(o) {
  const fields = {};
  for (const k of Object.keys(o)) fields[k] = toValue(o[k]);
  return { fields };
}
function fromValue(v) {
  switch (v.kind) {
    case 'nullValue': return null;
    case 'numberValue': return v.numberValue;
    case 'boolValue': return v.boolValue;
    case 'stringValue': return v.stringValue;
    case 'listValue': return (v.listValue.values || []).map(fromValue);
    default: return fromStruct(v.structValue);
  }
}
function fromStruct(s) {
  const o = {};
  for (const k of Object.keys(s.fields || {})) o[k] = fromValue(s.fields[k]);
  return o;
}

async function pool(n, conc, fn) {
  let next = 0, errors = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      try { await fn(i); } catch (e) { errors++; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  return errors;
}

function grpcCaller() {
  const def = protoLoader.loadSync(['maestro/v1/maestro.proto', 'google/protobuf/struct.proto'], {
    includeDirs: [path.join(__dirname, '..', '..', 'proto')], oneofs: true, defaults: true,
  });
  const Struct = def['google.protobuf.Struct'];
  const Svc = grpc.loadPackageDefinition(def).maestro.v1.MaestroService;
  // distinct channel options give distinct connections: 5, like maestro's default pool
  const clients = Array.from({ length: 5 }, (_, i) =>
    new Svc(target, grpc.credentials.createInsecure(), { 'grpc.bench_channel': i }));
  const runId = '0192f0c4-5b6a-7c1d-8e2f-0123456789ab';
  let k = 0;
  return (item) => new Promise((resolve, reject) => {
    const req = {
      method: 'Echo',
      payload: { type_url: 'type.googleapis.com/google.protobuf.Struct', value: Struct.serialize(toStruct({ id: item })) },
      correlation_id: runId + ':echo', workflow_id: runId, step_id: 'echo',
    };
    clients[k++ % clients.length].Execute(req, { deadline: Date.now() + 30000 }, (err, res) => {
      if (err) return reject(err);
      if (!res.success) return reject(new Error(res.error));
      const out = fromStruct(Struct.deserialize(res.data.value));
      if (out.id !== item) return reject(new Error('wrong reply'));
      resolve(out);
    });
  });
}

function httpCaller() {
  return async (item) => {
    const res = await fetch(target + '/echo', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: item }),
    });
    if (!res.ok) throw new Error('status ' + res.status);
    const out = await res.json();
    if (out.id !== item) throw new Error('wrong reply');
    return out;
  };
}

function agentCaller() {
  const http = require('http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 5 });
  const url = new URL(target + '/echo');
  return (item) => new Promise((resolve, reject) => {
    const body = JSON.stringify({ id: item });
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode < 200 || res.statusCode > 299) return reject(new Error('status ' + res.statusCode));
        const out = JSON.parse(Buffer.concat(chunks).toString());
        if (out.id !== item) return reject(new Error('wrong reply'));
        resolve(out);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const call = mode === 'grpc' ? grpcCaller() : mode === 'http-agent' ? agentCaller() : httpCaller();
  const items = Array.from({ length: ITEMS }, (_, i) => 'i' + i);
  await call('warmup');   // connections up, like the stub's first call in maestro's pool
  const cpu0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  let errors = 0;
  for (let r = 0; r < RUNS; r++) {
    const results = new Array(ITEMS);
    errors += await pool(ITEMS, CONC, async (i) => { results[i] = await call(items[i]); });
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9, cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ mode, calls: ITEMS * RUNS, errors, wall_s: wall, cpu_s: (cpu.user + cpu.system) / 1e6 }));
  process.exit(errors ? 1 : 0);
}
main().catch((e) => { console.error(e); process.exit(1); });
