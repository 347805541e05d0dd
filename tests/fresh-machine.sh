#!/usr/bin/env bash
# The new user's first five minutes, for real: a Debian 12 (bookworm) minbase root made with
# debootstrap from Debian's archive, with only make, git and ca-certificates added; a git clone
# of this checkout's current commit inside it; then the README's two commands, `make demo` and
# `make test`, as the very first commands, in a chroot. Prints how long each took and its last
# lines; exits non-zero when either fails. Needs root. Not part of `make test` (it takes a while).
#
# Environment: FRESH_DIR  where the root is made (default /var/tmp/maestro-fresh; emptied first)
#              FRESH_KEEP=1  keep the root afterwards (default: removed when everything passed)
#              FRESH_CACHE   directory for downloaded .debs, reused across runs so a second run
#                            does not download again (default /var/cache/maestro-fresh; "" = none)
#              FRESH_TAIL    how many last lines to show per command (default 15)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${FRESH_DIR:-/var/tmp/maestro-fresh}
ROOT=$DIR/root
CACHE=${FRESH_CACHE-/var/cache/maestro-fresh}
TAIL=${FRESH_TAIL:-15}
SUITE=bookworm

say() { printf 'fresh-machine: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, mount, chroot)"

commit=$(git -C "$SRC" rev-parse HEAD)
gitdir=$(cd "$SRC" && cd "$(git rev-parse --git-common-dir)" && pwd)
[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ] ||
    say "note: uncommitted changes in $SRC are not tested (the clone is of $commit)"

# Debian's archive as this machine's apt sources name it (deb822 or one-line format).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
         awk '/^URIs:/ {print $2}' | grep -v security | head -n 1 || true)
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
         awk '$1 == "deb" && $0 ~ / '"$SUITE"' / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; }
fi

# Unmounts everything under $ROOT, deepest first; lazily when a leftover process holds it.
unmount_all() {
    local m
    for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
    done
}
mounted_under_root() { awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1' /proc/mounts | grep -q .; }
remove_root() {
    # Never delete through a mount (the bind of /dev or of the repository).
    if mounted_under_root; then say "mounts left under $ROOT: not removing it"; return; fi
    rm -rf --one-file-system "$ROOT"
}
status=1
cleanup() {
    # Processes a test may have left running inside the root (nginx, stubs) keep mounts busy.
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
    unmount_all
    if [ "$status" = 0 ] && [ "${FRESH_KEEP:-0}" != 1 ]; then remove_root; else say "root kept in $ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR"
unmount_all
remove_root
mounted_under_root && die "$ROOT still has mounts; unmount them first"
cache_opt=()
[ -n "$CACHE" ] && { mkdir -p "$CACHE/debootstrap" "$CACHE/apt"; cache_opt=(--cache-dir="$CACHE/debootstrap"); }

t0=$(date +%s)
say "debootstrap --variant=minbase $SUITE from $mirror (+ make git ca-certificates)"
debootstrap --variant=minbase --include=make,git,ca-certificates "${cache_opt[@]}" \
    "$SUITE" "$ROOT" "$mirror" > "$DIR/debootstrap.log" 2>&1 ||
    { tail -n 30 "$DIR/debootstrap.log"; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
say "root ready in $(( $(date +%s) - t0 )) s: $(du -sm --one-file-system "$ROOT" | cut -f1) MiB"

# What any machine has that debootstrap does not write: name resolution and the hosts file.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -s "$ROOT/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
# And the network's trust: a machine behind a TLS-inspecting egress proxy has that proxy's CA
# installed by its administrator (here under /usr/local/share/ca-certificates); without it npm
# cannot reach its registry. This copies the machine's configuration, not anything of the
# project's: a root on an open network gets nothing extra.
extra_ca=()
for c in /usr/local/share/ca-certificates/*.crt; do [ -f "$c" ] && extra_ca+=("$c"); done
if [ ${#extra_ca[@]} -gt 0 ]; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp "${extra_ca[@]}" "$ROOT/usr/local/share/ca-certificates/"
    chroot "$ROOT" update-ca-certificates > /dev/null 2>&1 || die "update-ca-certificates failed in the root"
    say "machine CAs added to the root: ${extra_ca[*]##*/}"
fi

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts" 2>/dev/null || mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
mkdir -p "$ROOT/mnt/maestro.git"
mount --bind "$gitdir" "$ROOT/mnt/maestro.git"
mount -o remount,bind,ro "$ROOT/mnt/maestro.git" 2>/dev/null || true
if [ -n "$CACHE" ]; then mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives"; fi

# Runs a command line inside the root as a login shell would, with a clean environment.
in_root() {
    # NODE_EXTRA_CA_CERTS: Node.js trusts its own bundled CAs only; a machine with a private CA
    # points it at the system bundle, as this one does.
    chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt} \
        /bin/bash -c "$1"
}
in_root "git config --global --add safe.directory '*' && git clone -q /mnt/maestro.git /root/maestro &&
         cd /root/maestro && git checkout -q $commit && git log -1 --format='clone: %h %s'" ||
    die "git clone inside the root failed"

# One README command: its time, its exit code, its last lines.
step() {
    local name=$1 log=$DIR/$2.log t rc=0
    say "running '$name' in /root/maestro (log: $log)"
    t=$(date +%s)
    # In the background so that a signal runs the traps at once, not after the command ends.
    in_root "cd /root/maestro && $name" > "$log" 2>&1 &
    wait $! || rc=$?
    t=$(( $(date +%s) - t ))
    printf '=== %s: exit %d after %dm%02ds; last %d lines:\n' "$name" "$rc" $((t / 60)) $((t % 60)) "$TAIL"
    tail -n "$TAIL" "$log" | sed 's/\x1b\[[0-9;]*m//g'
    return "$rc"
}
rc=0
step "make demo" demo || rc=$?
[ "$rc" = 0 ] && { step "make test" test || rc=$?; }
umount "$ROOT/var/cache/apt/archives" 2>/dev/null || true
say "total $(( $(date +%s) - t0 )) s; $([ "$rc" = 0 ] && echo PASS || echo "FAIL (exit $rc)")"
status=$rc
exit "$rc"
