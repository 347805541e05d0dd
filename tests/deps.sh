#!/bin/sh
# Installs the Debian packages a make target needs, only those missing (idempotent, one
# dpkg-query when nothing is missing). Levels, each including the ones before it:
#   build  compiler, pkg-config, protoc-c and the -dev libraries       (make, make install)
#   demo   + jq, which examples/demo.sh uses to print the calls, and      (make demo,
#          graphviz, which draws the pictures of `maestro graph --format svg` make pictures)
#   test   + clang with its sanitizer runtimes and the real peers the    (make test)
#          integration tests talk to: grpcio/grpc_tools (which need pkg_resources and do not
#          pull it in), python3-h2, python3-jsonschema/yaml (the schema test), nginx with the
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
libhttp-parser-dev"
DEMO="jq graphviz"
TEST="clang libclang-rt-14-dev curl openssl
python3 python3-grpcio python3-grpc-tools python3-pkg-resources python3-h2 python3-jsonschema python3-yaml wrk
zsh groff-base
nginx-light libnginx-mod-http-echo
libidn2-dev librtmp-dev libssh2-1-dev libpsl-dev libssl-dev libkrb5-dev libldap-dev libzstd-dev
libbrotli-dev zlib1g-dev"
case $level in
  build) pkgs=$BUILD;;
  demo) pkgs="$BUILD $DEMO";;
  test) pkgs="$BUILD $DEMO $TEST";;
  *) echo "usage: $0 build|demo|test" >&2; exit 2;;
esac
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
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: make needs these Debian packages:$missing" >&2
  echo "deps: run as root: apt-get update && $cmd" >&2
  exit 1
fi
echo "deps ($level): installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && $cmd
