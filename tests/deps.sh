#!/bin/sh
# Installs the Debian packages a make target needs, only those missing (idempotent, one
# dpkg-query when nothing is missing). Levels, each including the ones before it:
#   build  compiler, pkg-config, protoc-c and the -dev libraries       (make, make install)
#   demo   + jq, which examples/demo.sh uses to print the calls, and      (make demo,
#          graphviz, which draws the pictures of `maestro graph --format svg` make pictures)
#   test   + clang with its sanitizer runtimes and the real peers the    (make test)
#          integration tests talk to: grpcio/grpc_tools (which need pkg_resources and do not
#          pull it in), python3-h2, python3-jsonschema/yaml (the schema test), python3-protobuf
#          (the reference of the proto3 JSON codec's differential test), nginx with the
#          echo module, openssl, the curl CLI, zsh and groff (completion and man page
#          checks); and the
#          -dev packages named by libcurl.pc's Libs.private, which the installed-library test's
#          `pkg-config --static` link needs.
# Not root: prints the exact apt-get line and fails. Not Debian (no dpkg-query): says so and
# lets the build go on; pkg-config then reports what is missing.
# Usage: sh tests/deps.sh build|demo|test
level=${1:-test}
BUILD="gcc libc6-dev pkg-config protobuf-c-compiler
libuv1-dev libyaml-dev libcurl4-openssl-dev libnghttp2-dev libprotobuf-c-dev libcjson-dev
libhttp-parser-dev libssl-dev zlib1g-dev"
DEMO="jq graphviz"
TEST="clang libclang-rt-14-dev curl openssl
python3 python3-grpcio python3-grpc-tools python3-pkg-resources python3-h2 python3-jsonschema python3-yaml wrk
python3-protobuf zsh groff-base
nginx-light libnginx-mod-http-echo
libidn2-dev librtmp-dev libssh2-1-dev libpsl-dev libkrb5-dev libldap-dev libzstd-dev
libbrotli-dev"
case $level in
  build) pkgs=$BUILD;;
  demo) pkgs="$BUILD $DEMO";;
  test) pkgs="$BUILD $DEMO $TEST";;
  *) echo "usage: $0 build|demo|test" >&2; exit 2;;
esac
# Test level, the npm peers (tests/js: grpc-js, reflection, health): Debian's nodejs and npm when
# there is no `node` (any node >= 12 runs them; Debian 12 has 18 with npm 9), then `npm ci` from
# the committed lock file into tests/js/node_modules whenever the lock file is newer than what
# is installed.
JS_DIR=$(dirname "$0")/js
if [ "$level" = test ] && ! command -v node >/dev/null 2>&1; then pkgs="$pkgs nodejs npm"; fi
npm_peers() {
  [ "$level" = test ] || return 0
  [ "$JS_DIR/node_modules/.package-lock.json" -nt "$JS_DIR/package-lock.json" ] && return 0
  echo "deps (test): npm ci in $JS_DIR"
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error) || {
    echo "deps: npm ci failed in $JS_DIR (the registry must be reachable once)" >&2; exit 1; }
}
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: not a Debian system; $level needs the equivalents of:" $pkgs
  exit 0
fi
# One line per installed package; whatever is not listed as installed is missing.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null | awk '/ install ok installed$/ {print $1}')
missing=""
for p in $pkgs; do
  echo "$installed" | grep -qx "$p" || missing="$missing $p"
done
if [ -z "$missing" ]; then npm_peers; exit 0; fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: make needs these Debian packages:$missing" >&2
  echo "deps: run as root: apt-get update && $cmd" >&2
  exit 1
fi
echo "deps ($level): installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && $cmd && npm_peers
