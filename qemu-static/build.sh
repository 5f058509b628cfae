#!/bin/bash
# Build the "rebuilt" payload (`make qemu QEMU_PAYLOAD=rebuilt`; optional and cached):
# the manifest's QEMU from Debian's source package of the same version, Debian's patches
# applied, configured as debian/rules configures the user-mode build, with two changes:
#   - no capstone: Debian links it (libcapstone-dev is a build-dependency) although QEMU
#     uses it only for -d in_asm/out_asm logs; it is more than half of every emulator and
#     most of the ~100k relocations a static-pie applies to itself at every start;
#   - linked static, not static-pie: the same objects, with no start-up relocation at all.
# Measured (docs/benchmarks.md, sections 5-7): a foreign exec costs ~4 ms instead of ~6,
# arm64 fork+exec steps take ~0.7x the time, each emulator is 6.5 MB instead of 16.7 MB.
#
#   qemu-static/build.sh [--targets "aarch64 riscv64"] [--jobs N] [--top DIR] [--keep-pie]
#
#   --targets   QEMU cpus to build (default: every cpu the manifest lists for this
#               machine's architecture except its own, which binfmt never registers)
#   --jobs      parallel compile jobs (default: nproc)
#   --top       build directory (default: $QEMU_STATIC_CACHE/build/<version>-<arch>,
#               QEMU_STATIC_CACHE defaulting to /var/cache/binfmt-installer/qemu)
#   --keep-pie  also keep the static-pie link of the same objects in TOP/pie (the bench
#               compares both)
#
# Output: TOP/out/qemu-<cpu> (static, stripped), TOP/out/SHA256SUMS, TOP/out/BUILDINFO.
# Re-runs that find every requested output do nothing (no network, no compiler). A full
# build takes about 15 minutes on 2 idle cores (25 under load). Only the host's Debian mirror is used, through
# the private apt configuration of lib.sh (deb-src added); the source package's .dsc must
# have the SHA-256 the manifest pins (`src` record), and every file the .dsc lists must
# match it. meson >= 1.5 comes from the payload's suite as a .deb, unpacked (bookworm's
# 1.0 is too old for QEMU 10). It builds for the machine it runs on only (no cross builds).
# Build dependencies: gcc ninja-build pkg-config patch flex bison libglib2.0-dev python3.
set -euo pipefail
QS_PROG=${QS_PROG:-qemu-build}
# shellcheck source=qemu-static/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '12,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

arch=$(dpkg --print-architecture)
qs_read_manifest "$QS_MANIFEST" "$arch"
[[ -n $QS_SRC_VERSION ]] || qs_die "$QS_MANIFEST has no src record (run 'make qemu-pin')"
[[ $QS_SRC_VERSION == "$QS_VERSION" ]] ||
    qs_die "$QS_MANIFEST pins source $QS_SRC_VERSION but binaries $QS_VERSION for $arch"
machine=$(qs_machine "$arch") || qs_die "unsupported build architecture $arch (amd64 or arm64)"
case $machine in x86_64) own=x86_64 ;; *) own=$machine ;; esac

targets="" jobs=$(nproc) top="" keep_pie=0
while (($#)); do
    case $1 in
    --targets) targets=${2:?--targets needs a value}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    --top) top=${2:?--top needs a value}; shift 2 ;;
    --keep-pie) keep_pie=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; qs_die "unknown argument '$1'" ;;
    esac
done
if [[ -z $targets ]]; then
    for c in "${QS_CPUS[@]}"; do [[ $c == "$own" ]] || targets+="$c "; done
fi
for t in $targets; do
    [[ -n ${QS_BIN_SHA[$t]:-} ]] || qs_die "--targets: qemu-$t is not in the manifest for $arch"
done
srcver=${QS_VERSION#*:}         # 10.0.13+ds-0+deb13u1
up=$QS_QEMU_VERSION             # 10.0.13
top=${top:-${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}/build/$srcver-$arch}
out=$top/out
mkdir -p "$top" || qs_die "cannot create $top (run as root, or use --top / QEMU_STATIC_CACHE)"
qs_lock "$top"

cached() {
    local t
    for t in $targets; do
        [[ -x $out/qemu-$t ]] || return 1
        ((!keep_pie)) || [[ -x $top/pie/qemu-$t ]] || return 1
    done
    [[ -s $out/SHA256SUMS && -s $out/BUILDINFO ]]
}
if cached; then
    qs_log "cached: $out ($(wc -w <<<"$targets") emulators)"
    exit 0
fi

for tool in gcc ninja pkg-config patch flex bison python3 dpkg-buildflags; do
    command -v $tool >/dev/null || qs_die "$tool missing (make deps installs the build dependencies)"
done
[[ -r /usr/lib/$(gcc -print-multiarch)/libglib-2.0.a ]] ||
    qs_die "static glib missing: apt-get install libglib2.0-dev"

# --- sources and meson through the private apt configuration ---------------------------
apt=$top/apt
dsc=$apt/dl/qemu_$srcver.dsc
if [[ ! -f $dsc ]] || ! ls "$apt"/dl/meson_*.deb >/dev/null 2>&1; then
    qs_apt_setup "$apt" "$QS_SUITE" "$arch"
    echo "deb-src [signed-by=$QS_KEYRING] $QS_MIRROR $QS_SUITE main" >>"$apt/sources.list"
    qs_apt_update "$apt"
    (cd "$apt/dl" && apt-get "${QS_APT[@]}" -q source --download-only "qemu=$QS_VERSION" >&2 &&
        apt-get "${QS_APT[@]}" -q download meson >&2) ||
        qs_die "downloading the source of qemu $QS_VERSION from $QS_MIRROR $QS_SUITE failed"
fi
# The .dsc is pinned; the .dsc pins the tarballs.
[[ $(qs_sha256 "$dsc") == "$QS_SRC_DSC_SHA" ]] ||
    qs_die "$dsc has SHA-256 $(qs_sha256 "$dsc"), the manifest pins $QS_SRC_DSC_SHA: delete $apt to download it again"
while read -r sha _ name; do
    [[ $(qs_sha256 "$apt/dl/$name") == "$sha" ]] || qs_die "$apt/dl/$name does not match $dsc"
done < <(awk '/^Checksums-Sha256:/ {on = 1; next} /^[^ ]/ {on = 0} on && NF == 3' "$dsc")

src=$top/qemu-$up
if [[ ! -e $src/.patched ]]; then
    rm -rf "$src" "$top/debian"
    tar -xf "$apt"/dl/qemu_"${srcver%%-*}".orig.tar.* -C "$top"
    [[ -d $src ]] || qs_die "no $src after unpacking"
    mkdir -p "$top/debian" && tar -xf "$apt"/dl/qemu_"$srcver".debian.tar.* -C "$top/debian"
    : >"$top/patch.log"
    while read -r p; do
        [[ -z $p || $p == '#'* ]] && continue
        if ! patch -d "$src" -p1 -s --forward <"$top/debian/debian/patches/$p" >>"$top/patch.log" 2>&1; then
            case $p in
            *linux-user* | *static*) qs_die "Debian patch $p does not apply (see $top/patch.log)" ;;
            *) qs_log "skipped Debian patch $p (not used by linux-user)" ;;
            esac
        fi
    done <"$top/debian/debian/patches/series"
    touch "$src/.patched"
fi
mesondir=$top/meson
[[ -d $mesondir/usr ]] || dpkg-deb -x "$apt"/dl/meson_*.deb "$mesondir"
export PYTHONPATH=$mesondir/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}

# --- configure and build (Debian's user build: --static --disable-plugins, stubs) -----
b=$top/b
tl=$(for t in $targets; do printf '%s-linux-user\n' "$t"; done | LC_ALL=C sort | paste -sd,)
cflags="$(dpkg-buildflags --get CFLAGS | sed 's/-g //;s/ -g$//') $(dpkg-buildflags --get CPPFLAGS) -DPROVIDE_STUBS_FOR_STATIC"
cfg=(--python=/usr/bin/python3 --with-pkgversion="Debian $QS_VERSION, rebuilt by binfmt-installer"
    --prefix=/usr --static --disable-system --enable-linux-user --disable-plugins
    --disable-capstone --disable-docs --disable-tools --disable-debug-info --disable-install-blobs
    --extra-cflags="$cflags" --extra-ldflags="$(dpkg-buildflags --get LDFLAGS)" --target-list="$tl")
# Bench experiments only (docs/benchmarks.md section 5): more configure options, e.g.
# QEMU_BUILD_CONFIGURE_EXTRA=--disable-qom-cast-debug, with their own --top.
read -r -a extra_cfg <<<"${QEMU_BUILD_CONFIGURE_EXTRA:-}"
cfg+=("${extra_cfg[@]}")
# The marker names the configuration by its hash (32 targets make too long a file name):
# another target list or option configures a fresh build directory.
mark=$b/.configured-$(printf '%s\n' "${cfg[@]}" | sha256sum | cut -c1-16)
if [[ ! -e $mark ]]; then
    rm -rf "$b" && mkdir -p "$b"
    (cd "$b" && "$src/configure" "${cfg[@]}") >"$top/configure.log" 2>&1 ||
        { tail -30 "$top/configure.log" >&2; qs_die "configure failed"; }
    touch "$mark"
fi
start=$(date +%s)
qs_log "building $(wc -w <<<"$targets") emulators with $jobs jobs (about 15 minutes for all on 2 idle cores)"
# shellcheck disable=SC2046 # one ninja target per word
ninja -C "$b" -j"$jobs" $(for t in $targets; do printf 'qemu-%s ' "$t"; done) >"$top/build.log" 2>&1 ||
    { tail -30 "$top/build.log" >&2; qs_die "build failed (see $top/build.log)"; }
qs_log "built in $(($(date +%s) - start)) s"

mkdir -p "$out.tmp" "$top/pie"
for t in $targets; do
    ((!keep_pie)) || { cp "$b/qemu-$t" "$top/pie/qemu-$t" && strip "$top/pie/qemu-$t"; }
    # The same objects (compiled -fPIE) linked as a plain static executable.
    cmd=$(ninja -C "$b" -t commands "qemu-$t" | tail -n1)
    [[ $cmd == *-static-pie* ]] || qs_die "the link line of qemu-$t has no -static-pie to replace"
    cmd=${cmd//-static-pie/-static -no-pie}
    cmd=${cmd//-o qemu-$t /-o qemu-$t-nopie }
    (cd "$b" && eval "$cmd") >>"$top/build.log" 2>&1 || qs_die "static relink of qemu-$t failed"
    strip -o "$out.tmp/qemu-$t" "$b/qemu-$t-nopie"
    chmod 0755 "$out.tmp/qemu-$t"
done
# Keep what an earlier build of other targets left, replace what was rebuilt.
[[ -d $out ]] && cp -n "$out"/qemu-* "$out.tmp"/ 2>/dev/null || true
(cd "$out.tmp" && sha256sum qemu-* >SHA256SUMS)
{
    echo "qemu_version=$QS_QEMU_VERSION"
    echo "source=qemu $QS_VERSION ($QS_SUITE) dsc_sha256=$QS_SRC_DSC_SHA"
    echo "compiler=$(gcc --version | head -n1); $(basename "$apt"/dl/meson_*.deb .deb)"
    echo "configure=${cfg[*]}"
    echo "link=static (no PIE), stripped; capstone disabled"
    echo "built=$(date -u '+%Y-%m-%d %H:%M UTC') on $(. /etc/os-release && echo "$PRETTY_NAME") $arch"
} >"$out.tmp/BUILDINFO"
rm -rf "$out" && mv "$out.tmp" "$out"
qs_log "done: $out"
