#!/bin/bash
# Make a cross-compilation sysroot for ARCH from Debian's own packages:
#
#   packaging/image/sysroot.sh ARCH DIR
#
# DIR/ gets the -dev packages binfmt links against (libmount, libkmod, libjansson,
# libcap, libelf) for ARCH, with everything they depend on down to libc6 and
# libc6-dev, unpacked with dpkg-deb -x; absolute symlinks are made relative so the
# tree works where it lies. DIR/PACKAGES lists what went in (name version).
#
# The .debs come from the host's Debian mirror (found the way tests/fixtures/fetch.sh
# and qemu-static/ find it; QEMU_STATIC_MIRROR overrides) through a private apt
# configuration in which ARCH is the only architecture: the host's apt sources,
# lists, caches, dpkg status and dpkg architectures are neither read nor changed
# (no `dpkg --add-architecture`). The dependency closure is computed by apt itself
# against an empty dpkg status (`apt-get install --download-only`).
#
# A complete DIR (DIR/.stamp matching the package list below) is reused without the
# network. Use it with the cross compiler's --sysroot and pkg-config, e.g.
#
#   PKG_CONFIG_SYSROOT_DIR=DIR PKG_CONFIG_LIBDIR=DIR/usr/lib/aarch64-linux-gnu/pkgconfig \
#     make CC="aarch64-linux-gnu-gcc --sysroot=DIR" BUILD=build/arm64
set -euo pipefail

export QS_PROG=sysroot
# shellcheck source=qemu-static/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/qemu-static/lib.sh"

arch=${1:?usage: sysroot.sh ARCH DIR}
dir=${2:?usage: sysroot.sh ARCH DIR}
suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
suite=${suite:-bookworm}
PACKAGES=(libmount-dev libkmod-dev libjansson-dev libcap-dev libelf-dev libc6-dev)
want="$suite $arch ${PACKAGES[*]}"

if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$want" ]]; then
    qs_log "$arch sysroot in $dir is complete ($(wc -l <"$dir/PACKAGES") packages)"
    exit 0
fi

for tool in apt-get dpkg-deb realpath; do
    command -v "$tool" >/dev/null 2>&1 || qs_die "$tool not found"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-sysroot.XXXXXX")
trap 'rm -rf "$work"' EXIT
qs_apt_setup "$work/apt" "$suite" "$arch"
qs_apt_update "$work/apt"
mkdir -p "$work/apt/state/lists/partial"
: >"$work/apt/status"
# ARCH is this private apt's native architecture and the dpkg status is empty, so
# apt resolves the complete closure of ARCH packages and only downloads it.
if ! apt-get "${QS_APT[@]}" -o "APT::Architecture=$arch" -o "Dir::State=$work/apt/state" \
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::State::status=$work/apt/status" \
    -o "Dir::Cache::archives=$work/apt/dl" -o Debug::NoLocking=1 \
    -o APT::Install-Recommends=0 -o APT::Install-Suggests=0 \
    -y -q install --download-only "${PACKAGES[@]}" >>"$work/apt/apt.log" 2>&1; then
    cat "$work/apt/apt.log" >&2
    qs_die "apt-get could not download ${PACKAGES[*]} for $arch from $QS_MIRROR $suite"
fi

rm -rf "$dir.new"
mkdir -p "$dir.new"
: >"$dir.new/PACKAGES"
for deb in "$work/apt/dl"/*.deb; do
    dpkg-deb -x "$deb" "$dir.new" || qs_die "dpkg-deb -x $deb failed"
    printf '%s %s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
        "$(dpkg-deb -f "$deb" Architecture)" >>"$dir.new/PACKAGES"
done
# Bookworm's -dev symlinks are absolute (libz.so -> /lib/.../libz.so.1): point them
# into the sysroot instead of at the host's libraries.
root=$(realpath "$dir.new")
while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$root$t")" "$l"
done < <(find "$dir.new" -type l -lname '/*' -print0)
printf '%s\n' "$want" >"$dir.new/.stamp"
rm -rf "$dir"
mv "$dir.new" "$dir"
qs_log "$arch sysroot in $dir: $(wc -l <"$dir/PACKAGES") packages from $QS_MIRROR $suite"
