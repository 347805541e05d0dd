#!/bin/sh
# Typed gRPC vs the envelope (issue #11): the same one-step workflow, once as a typed call
# (acme.deploy.v1.Provisioner/CreateInstance through a descriptor set) and once as an envelope
# call, against one backend (tests/servers/grpc_typed.py --envelope, a grpcio server that serves
# both). The backend is slow (Python), so throughput is its own; what compares Maestro's cost is
# the in-process CPU per step (`maestro bench --json` cpu_s_per_step). Interleaved rounds,
# median. Usage: sh bench/typed.sh [RUNS [CONCURRENCY [ROUNDS]]]   (defaults 2000 20 3)
set -eu
cd "$(dirname "$0")/.."
runs=${1:-2000}
conc=${2:-20}
rounds=${3:-3}
tmp=$(mktemp -d)
trap 'kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
protoc-c -Itests/servers/typed -o "$tmp/deploy.protoset" --include_imports acme/deploy/v1/deploy.proto
/usr/bin/python3 tests/servers/grpc_typed.py --port 0 --envelope > "$tmp/port" &
srv=$!
i=0
while ! grep -q PORT "$tmp/port" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 300 ] && { echo "backend did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(awk '/PORT/ {print $2}' "$tmp/port")
for kind in typed envelope; do
  desc=""
  [ $kind = typed ] && desc="    descriptors: deploy.protoset"
  cat > "$tmp/$kind.yaml" <<WF
name: bench_$kind
services:
  cloud:
    type: grpc
    endpoint: "127.0.0.1:$port"
$desc
steps:
  - id: make
    service: cloud
    method: CreateInstance
    input: {image: "{{ .input.image }}", disk_gb: 20, tags: {team: core}}
    output: inst
output: {ip: "{{ .inst.ip }}"}
WF
done
r=1
while [ $r -le "$rounds" ]; do
  for kind in typed envelope; do
    bin/maestro bench "$tmp/$kind.yaml" --input '{"image":"debian"}' -n "$runs" -c "$conc" --json \
      | sed "s/^/$kind /" >> "$tmp/results"
  done
  r=$((r + 1))
done
/usr/bin/python3 - "$tmp/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kind, js = line.split(" ", 1)
    rows.setdefault(kind, []).append(json.loads(js))
for kind in ("typed", "envelope"):
    rs = rows[kind]
    cpu = statistics.median(r["cpu_s_per_step"] * 1e6 for r in rs)
    rps = statistics.median(r["runs_per_s"] for r in rs)
    p50 = statistics.median(r["latency_ms"]["p50"] for r in rs)
    failed = sum(r["failed"] for r in rs)
    print("%-9s %7.1f us CPU/step  %8.1f runs/s  p50 %6.2f ms  failed %d  (%d rounds)"
          % (kind, cpu, rps, p50, failed, len(rs)))
PY
