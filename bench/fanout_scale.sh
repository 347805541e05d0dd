#!/bin/bash
# Fan-out scaling (issue #17): one HTTP foreach of 10,000 and of 100,000 items against `maestro
# stub` (bench/stubs.yaml's POST /echo), the time and peak RSS of each `maestro run`, for a
# concurrency given as $1 (default 50; "default" leaves the key out, i.e. 100). Linear scaling
# means the 100k run takes about 10x the 10k one. Then the second-signal check: a 100k foreach
# whose compensations hang, SIGTERM, SIGTERM again 0.5 s later; the time from the second signal
# to exit (it must write the report first). Needs bin/maestro (make), python3, jq, bc; with
# CALLGRIND=1 also valgrind, for instruction counts.
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-50}
W=$(mktemp -d)
trap 'kill $SP 2>/dev/null; rm -rf "$W"' EXIT
bin/maestro stub bench/stubs.yaml > "$W/stub.out" 2>"$W/stub.err" &
SP=$!
for _ in $(seq 100); do grep -q ' web$' "$W/stub.out" && break; sleep 0.05; done
PORT=$(awk '/ web$/{print $2}' "$W/stub.out")
python3 -c "
import json,sys
for n in (10000,100000): json.dump({'items':list(range(n))}, open(sys.argv[1]+f'/in{n}.json','w'))" "$W"
conc=$([ "$C" = default ] && echo "" || echo "concurrency: $C, ")
cat > "$W/wf.yaml" <<EOW
name: fanout_scale
timeout: 30m
services:
  web: {type: http, endpoint: "http://127.0.0.1:$PORT", timeout: 30s}
steps:
  - {id: fan, foreach: "{{ .input.items }}", as: it, ${conc}max_items: 100000,
     do: {id: echo, service: web, method: "POST /echo", input: {id: "{{ .it }}"}, output: r}, output: all}
output: {n: "{{ len .all }}"}
EOW
for r in 1 2; do for n in 10000 100000; do
  /usr/bin/time -f "round $r items=$n concurrency=$C wall=%es user=%Us sys=%Ss maxrss=%MKB" \
    bin/maestro run "$W/wf.yaml" --input @"$W/in$n.json" > "$W/out" 2> "$W/err" || { cat "$W/err"; exit 1; }
  tail -1 "$W/err"
done; done
# Instructions (CALLGRIND=1): stable where wall time is not (a shared machine); about 8 minutes.
if [ "${CALLGRIND:-0}" = 1 ]; then
  for n in 10000 100000; do
    valgrind --tool=callgrind --callgrind-out-file=/dev/null bin/maestro run "$W/wf.yaml" \
      --input @"$W/in$n.json" 2>&1 >/dev/null | awk -v n=$n '/refs:/{print "instructions items=" n ": " $NF}'
  done
fi
cat > "$W/sig.yaml" <<EOW
name: fanout_signal
services:
  web: {type: http, endpoint: "http://127.0.0.1:$PORT", timeout: 30s}
steps:
  - {id: fan, foreach: "{{ .input.items }}", as: it, concurrency: 1000, max_items: 100000,
     do: {id: echo, service: web, method: "POST /echo", input: {id: "{{ .it }}"},
          compensate: {method: "POST /hang", input: {id: "{{ .it }}"}}}}
EOW
for r in 1 2 3; do
  rm -f "$W/rep.json"
  bin/maestro run "$W/sig.yaml" --input @"$W/in100000.json" --report "$W/rep.json" > /dev/null 2>&1 &
  P=$!
  sleep 2.5; kill -TERM $P; sleep 0.5
  t0=$(date +%s.%N); kill -TERM $P; rc=0; wait $P || rc=$?; t1=$(date +%s.%N)
  echo "second signal round $r: exit $rc after $(echo "$t1 - $t0" | bc) s;" \
       "report $(stat -c %s "$W/rep.json") bytes, $(jq '.uncompensated|length' "$W/rep.json") uncompensated"
done
