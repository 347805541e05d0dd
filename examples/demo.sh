#!/usr/bin/env bash
# make demo: deploy_service against its stubs, twice — once healthy, once with the health check
# failing so the saga undoes the deployment — with maestro's live progress (--progress). Stubs listen on free ports (the workflow is pointed
# at them with --set); everything stays on 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MAESTRO:-bin/maestro}
WF=examples/workflows/deploy_service.yaml
INPUT=examples/inputs/deploy_service.json
OUT=build/demo
mkdir -p "$OUT"
if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; Y=$'\e[33m'; D=$'\e[2m'; N=$'\e[0m'; else B= G= R= Y= D= N=; fi

stub_pid=
cleanup() { [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null && wait "$stub_pid" 2>/dev/null; stub_pid=; }
trap cleanup EXIT

# Starts the stub file $1 on free ports; fills SETS with one --set per service.
start_stub() {
    local file=$1 log=$2 ports=$OUT/ports.txt n
    sed -E 's/listen: 127\.0\.0\.1:[0-9]+/listen: 127.0.0.1:0/' "$file" > "$OUT/stub.yaml"
    n=$(grep -c '^    listen:' "$OUT/stub.yaml")
    : > "$log"
    "$BIN" stub "$OUT/stub.yaml" --log "$log" > "$ports" 2> "$OUT/stub.err" &
    stub_pid=$!
    for _ in $(seq 100); do [ "$(wc -l < "$ports")" -ge "$n" ] && break; sleep 0.05; done
    [ "$(wc -l < "$ports")" -ge "$n" ] || { cat "$OUT/stub.err"; exit 1; }
    SETS=()
    while read -r _ port name; do
        if grep -A1 "^  $name:" "$WF" | grep -q 'type: http'; then url="http://127.0.0.1:$port"; else url="127.0.0.1:$port"; fi
        SETS+=(--set "service.$name.endpoint=$url")
    done < "$ports"
}

run_once() {
    local title=$1 stubs=$2 tag=$3 rc=0
    printf '\n%s%s%s\n' "$B" "$title" "$N"
    printf '%s  stubs: %s   report: %s%s\n' "$D" "$stubs" "$OUT/report-$tag.json" "$N"
    start_stub "$stubs" "$OUT/calls-$tag.jsonl"
    # the live progress (stderr) as it happens; the output (stdout) kept for the summary line
    set +e
    "$BIN" run "$WF" --input @"$INPUT" "${SETS[@]}" --report "$OUT/report-$tag.json" --progress \
        2>&1 > "$OUT/stdout-$tag.json" | tee "$OUT/stderr-$tag.txt" | sed -u 's/^/  /'
    rc=${PIPESTATUS[0]}
    set -e
    cleanup
    local ms status
    ms=$(jq -r .duration_ms "$OUT/report-$tag.json")
    status=$(jq -r .status "$OUT/report-$tag.json")
    case $rc in
      0) printf '  %s✔ exit 0: %s in %s ms%s, output %s\n' "$G" "$status" "$ms" "$N" "$(cat "$OUT/stdout-$tag.json")";;
      1) printf '  %s✘ exit 1: %s in %s ms; every completed step was compensated%s\n' "$Y" "$status" "$ms" "$N";;
      *) printf '  %sexit %s: %s%s\n' "$R" "$rc" "$status" "$N"; cat "$OUT/stderr-$tag.txt";;
    esac
    return "$rc"
}

printf '%sMaestro demo%s: %s — provision, deploy, health check, register, notify.\n' "$B" "$N" "$WF"
ok=0
run_once "Run 1: all services healthy" examples/stubs/deploy_service.yaml ok || ok=$?
[ "$ok" = 0 ] || { echo "demo: the healthy run should succeed (exit $ok)"; exit 1; }
fail=0
run_once "Run 2: the health check keeps failing" examples/stubs/deploy_service.fail.yaml fail || fail=$?
[ "$fail" = 1 ] || { echo "demo: the failing run should exit 1 (exit $fail)"; exit 1; }
# The saga: Undeploy then DestroyInstance, in that order, after the failed checks.
order=$(jq -r '.method' "$OUT/calls-fail.jsonl" | tail -n 2 | tr '\n' ' ')
[ "$order" = "Undeploy DestroyInstance " ] || { echo "demo: unexpected compensation order: $order"; exit 1; }
printf '\n%sBoth runs behaved as designed.%s Try: %s graph %s --format svg > wf.svg\n' "$G" "$N" "$BIN" "$WF"
