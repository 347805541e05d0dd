#!/bin/sh
# make bench: installs the bench-only tools when missing (apt-get as root: hyperfine, gnuplot;
# h2load and wrk are expected already), the Node.js glue's packages into bench/node/ (npm ci from
# the committed package-lock.json), then runs bench/bench.py (b0..b5 and the latency plot) with
# bin/maestro. Arguments are passed on (e.g. `sh bench/run.sh b2 b3`); ROUNDS=5 for more rounds,
# QUICK=1 for smaller N. Results: bench/results/.
set -e
cd "$(dirname "$0")/.."
[ -x bin/maestro ] || { echo "bench: build first (make all)"; exit 1; }

need=""
command -v hyperfine >/dev/null 2>&1 || need="$need hyperfine"
command -v gnuplot >/dev/null 2>&1 || need="$need gnuplot-nox"
command -v h2load >/dev/null 2>&1 || need="$need nghttp2-client"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
[ -x /usr/bin/time ] || need="$need time"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing$need (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null 2>&1; } ||
      echo "bench: could not install$need; carrying on without what is missing"
  else
    echo "bench: missing$need (not root: not installing); carrying on without it"
  fi
fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (GNU time) is required"; exit 1; }

if command -v npm >/dev/null 2>&1 && [ ! -d bench/node/node_modules/@grpc/grpc-js ]; then
  echo "bench: npm ci in bench/node"
  (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || echo "bench: npm ci failed; no Node comparison"
fi

ulimit -n 20000 2>/dev/null || true
exec /usr/bin/python3 bench/bench.py "$@"
