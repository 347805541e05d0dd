#!/bin/bash
# Start-up cost and idle memory (issue #15). For each binary given (default bin/maestro):
#   - instructions (valgrind --tool=callgrind, whole process) of `maestro version`, of
#     `maestro validate examples/workflows/order_processing.yaml`, and of a whole one-step
#     `maestro run` of bench/workflows/grpc1.yaml and http1.yaml against `maestro stub`;
#   - idle memory of a run waiting on one call that never returns (bench/workflows/hang_grpc.yaml,
#     hang_http.yaml, one item): VmRSS, RssAnon, RssFile from /proc/PID/status once VmRSS has
#     stayed the same for 1 s.
# Instruction counts do not depend on the machine's load; wall time would. Needs valgrind.
# Usage: bench/startup.sh [BIN...]   e.g. bench/startup.sh /tmp/maestro.old bin/maestro
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- bin/maestro
W=$(mktemp -d)
trap 'kill $SP 2>/dev/null; rm -rf "$W"' EXIT
bin/maestro stub bench/stubs.yaml > "$W/stub.out" 2>"$W/stub.err" &
SP=$!
for _ in $(seq 200); do grep -q ' rpc$' "$W/stub.out" && grep -q ' web$' "$W/stub.out" && break; sleep 0.05; done
G=127.0.0.1:$(awk '/ rpc$/{print $2}' "$W/stub.out")
H=http://127.0.0.1:$(awk '/ web$/{print $2}' "$W/stub.out")
echo '{"items": ["x"]}' > "$W/one.json"

insns() {   # insns LABEL CMD...: whole-process instruction count
  local n
  n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "${@:2}" 2>&1 >/dev/null |
      awk '/Collected/{print $NF}')
  printf '  %-34s %12s instructions\n' "$1" "$(printf "%'d" "$n")"
}

idle() {    # idle LABEL CMD...: memory of a process waiting on one call
  "${@:2}" > /dev/null 2>&1 &
  local p=$! last="" same=0
  for _ in $(seq 300); do
    sleep 0.1
    local r
    r=$(awk '/^VmRSS/{print $2}' /proc/$p/status 2>/dev/null || true)
    [ -n "$r" ] || break
    if [ "$r" = "$last" ]; then same=$((same + 1)); else same=0; last=$r; fi
    [ $same -ge 10 ] && break
  done
  printf '  %-34s %s\n' "$1" "$(awk '/^(VmRSS|RssAnon|RssFile)/{printf "%s %s kB  ", $1, $2}' /proc/$p/status)"
  kill $p 2>/dev/null; wait $p 2>/dev/null || true
}

for B in "$@"; do
  echo "$B ($(ldd "$B" | wc -l) libraries at start-up)"
  insns "version" "$B" version
  insns "validate order_processing.yaml" "$B" validate examples/workflows/order_processing.yaml
  insns "run grpc1.yaml (one gRPC step)" "$B" run bench/workflows/grpc1.yaml --input '{"id":"x"}' --set service.rpc.endpoint=$G
  insns "run http1.yaml (one HTTP step)" "$B" run bench/workflows/http1.yaml --input '{"id":"x"}' --set service.web.endpoint=$H
  idle "idle gRPC run (hang_grpc, 1 call)" "$B" run bench/workflows/hang_grpc.yaml --quiet --input @"$W/one.json" --set service.rpc.endpoint=$G
  idle "idle HTTP run (hang_http, 1 call)" "$B" run bench/workflows/hang_http.yaml --quiet --input @"$W/one.json" --set service.web.endpoint=$H
done
