#!/bin/sh
# Runs every test binary of the given flavours (norm, asan) and prints the total as the last line.
# Each binary prints its own "N passed, N failed"; a binary that dies without one counts as a failure.
cd "$(dirname "$0")/.." || exit 1
export MAESTRO_ROOT="$PWD"
# every `maestro run` writes a journal (docs/journal.md): the suite's go under build/, not $HOME
export MAESTRO_JOURNAL="${MAESTRO_JOURNAL:-$PWD/build/test-journal}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0; fail=0; skip=0
for fl in "$@"; do
  for t in build/$fl/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    log="build/$fl/tests/$(basename "$t").log"
    # MAESTRO_TEST_BIN: the CLI's test build (scripted transport under MAESTRO_SCRIPT).
    MAESTRO_BIN="$PWD/$( [ "$fl" = asan ] && echo build/asan/bin/maestro || echo bin/maestro )" \
    MAESTRO_TEST_BIN="$PWD/build/$fl/tests/maestro-test" \
      timeout 600 "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
      echo "[$fl] $(basename "$t"): died (exit $rc), no summary"; tail -n 20 "$log"; fail=$((fail+1)); continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
    if [ "$f" != 0 ] || [ $rc != 0 ]; then
      [ "$f" = 0 ] && fail=$((fail+1))
      echo "[$fl] $(basename "$t"): $line (exit $rc)"; grep -E '^(FAIL|  )' "$log" | head -n 60
    else
      echo "[$fl] $(basename "$t"): $line"
    fi
  done
done
if [ "$skip" != 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" = 0 ]
