#!/bin/sh
# Installs the Debian packages Maestro builds and tests with, only those missing (idempotent).
# Not root: prints the exact command instead.
PKGS="build-essential pkg-config clang libclang-rt-14-dev valgrind
libuv1-dev libyaml-dev libcurl4-openssl-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
libcjson-dev libhttp-parser-dev
python3-grpcio python3-grpc-tools python3-h2 nghttp2-client wrk nginx-light grpc-proto curl jq"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then echo "deps: all packages present"; exit 0; fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing:$missing"; echo "run as root: apt-get update && $cmd"; exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && $cmd
