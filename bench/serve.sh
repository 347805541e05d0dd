#!/bin/sh
# Runs/s through `maestro serve` (wrk POSTing to /v1/workflows/bench_http1/runs, each request
# waiting for its run) next to `maestro bench` on the same workflow and the same stub: the cost
# of the HTTP front door. Usage: sh bench/serve.sh [DURATION_S] [CONCURRENCIES...]
set -eu
cd "$(dirname "$0")/.."
D=${1:-8}; shift 2>/dev/null || true
CS=${*:-1 10 50 200}
B=bin/maestro
T=$(mktemp -d)
trap 'kill $SPID $STP 2>/dev/null; rm -rf "$T"' EXIT
sed 's/listen: 127.0.0.1:[0-9]*/listen: 127.0.0.1:0/' bench/stubs.yaml > "$T/stubs.yaml"
$B stub "$T/stubs.yaml" > "$T/stub.out" 2>/dev/null & STP=$!
while ! grep -q " web$" "$T/stub.out" 2>/dev/null; do sleep 0.1; done
P=$(awk '$3 == "web" {print $2}' "$T/stub.out")
SET="service.web.endpoint=http://127.0.0.1:$P"
$B serve bench/workflows/http1.yaml --listen 127.0.0.1:0 --set "$SET" --max-runs 10000 --log-level error \
    > "$T/serve.out" 2>"$T/serve.err" & SPID=$!
while ! grep -q LISTEN "$T/serve.out" 2>/dev/null; do sleep 0.1; done
SP=$(sed 's/.*://' "$T/serve.out")
cat > "$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id":"x"}'
wrk.headers["Content-Type"] = "application/json"
LUA
printf '| concurrency | serve + wrk runs/s | serve p50 / p99 ms | maestro bench runs/s | ratio |\n|---|---|---|---|---|\n'
for c in $CS; do
  t=$([ "$c" -lt 2 ] && echo 1 || echo 2)
  w=$(wrk -t"$t" -c"$c" -d"${D}s" --latency -s "$T/post.lua" "http://127.0.0.1:$SP/v1/workflows/bench_http1/runs")
  rps=$(echo "$w" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$w" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$w" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$w" | awk '/Non-2xx/ {print $5}')
  n=$(awk -v r="$rps" -v d="$D" 'BEGIN {n = int(r * d); print n < 2000 ? 2000 : n}')
  b=$($B bench bench/workflows/http1.yaml --input '{"id":"x"}' -n "$n" -c "$c" --set "$SET" --json)
  brps=$(echo "$b" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d.get("runs_per_s", d.get("throughput", 0))))')
  printf '| %s | %.0f%s | %s / %s | %s | %.2f |\n' "$c" "$rps" "${non2xx:+ ($non2xx non-2xx)}" "$p50" "$p99" "$brps" \
    "$(awk -v a="$rps" -v b="$brps" 'BEGIN {print b ? a / b : 0}')"
done
