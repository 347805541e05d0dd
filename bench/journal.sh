#!/bin/sh
# The journal's cost (issue #12): runs/s and run latency p50/p99 with the journal on and off, for
# one HTTP step and a 10-step sequence, at concurrency 1 and 50, against `maestro stub`.
# Usage: sh bench/journal.sh [JOURNAL_DIR]   (default: a fresh directory under /tmp, i.e. the
# file system /tmp is on; pass a directory on the disk you care about)
set -eu
M=${MAESTRO_BIN:-bin/maestro}
J=${1:-$(mktemp -d /tmp/maestro-bench-journal.XXXXXX)}
N1=${N1:-2000}
N10=${N10:-500}
: > /tmp/maestro-bench-ports.$$
$M stub bench/stubs.yaml > /tmp/maestro-bench-ports.$$ 2>/dev/null &
STUB=$!
trap 'kill $STUB 2>/dev/null; rm -f /tmp/maestro-bench-ports.$$' EXIT
while [ "$(wc -l < /tmp/maestro-bench-ports.$$)" -lt 2 ]; do sleep 0.05; done
WEB=$(awk '$3 == "web" {print $2}' /tmp/maestro-bench-ports.$$)
echo "journal dir: $J ($(df -T "$J" | awk 'NR == 2 {print $2}'))"
printf '%-8s %-4s %-8s %10s %10s %10s\n' workflow c journal runs/s p50_ms p99_ms
for wf in http1 http10; do
  n=$N1; [ $wf = http10 ] && n=$N10
  for c in 1 50; do
    for mode in off on; do
      jarg=""; [ $mode = on ] && jarg="--journal $J"
      $M bench bench/workflows/$wf.yaml --input '{"id":"x"}' -n $n -c $c --json \
         --set service.web.endpoint=http://127.0.0.1:$WEB $jarg |
        python3 -c "import json,sys; d=json.load(sys.stdin); print('%-8s %-4s %-8s %10.0f %10.2f %10.2f' % ('$wf', $c, '$mode', d['runs_per_s'], d['latency_ms']['p50'], d['latency_ms']['p99']))"
    done
  done
done
rm -f "$J"/*.mj
