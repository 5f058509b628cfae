#!/bin/bash
# Optional, cached: build QEMU user-mode emulators from Debian's source package (the
# pinned payload's version, Debian's patches applied) with other link options, to find
# out what Debian's build costs at start-up. Results in $CACHE/build/<version>/out:
#   qemu-<cpu>-pie     static-pie, as Debian links it (same objects, this toolchain)
#   qemu-<cpu>-nopie   the same objects linked static, not PIE (no start-up relocation)
#
#   bench/qemu-build.sh [--targets "aarch64 riscv64"] [--jobs N]
#
# Only the host's Debian mirror is used, through the private apt configuration of
# qemu-static/lib.sh (deb-src added); meson >= 1.5 comes from the payload's suite as a
# .deb, unpacked (bookworm's 1.0 is too old for QEMU 10). Re-runs reuse everything.
set -euo pipefail
QS_PROG=bench-qemu-build
. "$(dirname "${BASH_SOURCE[0]}")/../qemu-static/lib.sh"

targets="aarch64 riscv64"
jobs=$(nproc)
while (($#)); do
    case $1 in
    --targets) targets=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) qs_die "unknown argument $1" ;;
    esac
done
CACHE=${BENCH_CACHE:-/var/cache/binfmt-installer/bench}
arch=$(dpkg --print-architecture)
qs_read_manifest "$QS_MANIFEST" "$arch"
ver=$QS_VERSION            # 1:10.0.13+ds-0+deb13u1
srcver=${ver#*:}           # 10.0.13+ds-0+deb13u1
up=$(qs_upstream "$ver")   # 10.0.13
top=$CACHE/build/$srcver
out=$top/out
mkdir -p "$top"
qs_lock "$top"

done_all=1
for t in $targets; do
    [[ -x $out/qemu-$t-pie && -x $out/qemu-$t-nopie ]] || done_all=0
done
if ((done_all)); then
    qs_log "cached: $out"
    exit 0
fi

for tool in gcc ninja pkg-config patch; do command -v $tool >/dev/null || qs_die "$tool missing"; done
[[ -r /usr/lib/$(gcc -print-multiarch)/libglib-2.0.a ]] ||
    qs_die "static glib missing: apt-get install libglib2.0-dev"

# --- sources and meson through the private apt configuration ---------------------------
apt=$top/apt
if ! ls "$apt"/dl/qemu_"${srcver%%-*}".orig.tar.* >/dev/null 2>&1 || ! ls "$apt"/dl/meson_*.deb >/dev/null 2>&1; then
    qs_apt_setup "$apt" "$QS_SUITE" "$arch"
    echo "deb-src [signed-by=$QS_KEYRING] $QS_MIRROR $QS_SUITE main" >>"$apt/sources.list"
    qs_apt_update "$apt"
    (cd "$apt/dl" && apt-get "${QS_APT[@]}" -q source --download-only "qemu=$ver" >&2 &&
        apt-get "${QS_APT[@]}" -q download meson >&2)
fi
src=$top/qemu-$up
if [[ ! -e $src/.patched ]]; then
    rm -rf "$src" "$top/debian"
    tar -xf "$apt"/dl/qemu_"${srcver%%-*}".orig.tar.* -C "$top"
    [[ -d $src ]] || qs_die "no $src after unpacking"
    mkdir -p "$top/debian" && tar -xf "$apt"/dl/qemu_"$srcver".debian.tar.* -C "$top/debian"
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
if [[ ! -d $mesondir/usr ]]; then
    dpkg-deb -x "$apt"/dl/meson_*.deb "$mesondir"
fi
export PYTHONPATH=$mesondir/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}

# --- configure and build (Debian's user build: --static --disable-plugins, stubs) -----
b=$top/b
tl=$(for t in $targets; do printf '%s-linux-user,' "$t"; done)
tl=${tl%,}
if [[ ! -e $b/.configured-$tl ]]; then
    rm -rf "$b" && mkdir -p "$b"
    cflags="$(dpkg-buildflags --get CFLAGS | sed 's/-g //;s/ -g$//') $(dpkg-buildflags --get CPPFLAGS) -DPROVIDE_STUBS_FOR_STATIC"
    (cd "$b" && "$src/configure" --python=/usr/bin/python3 \
        --with-pkgversion="Debian $ver, rebuilt by bench/qemu-build.sh" \
        --prefix=/usr --static --disable-system --enable-linux-user --disable-plugins \
        --disable-docs --disable-tools --disable-debug-info --disable-install-blobs \
        --extra-cflags="$cflags" --extra-ldflags="$(dpkg-buildflags --get LDFLAGS)" \
        --target-list="$tl") >"$top/configure.log" 2>&1 || { tail -30 "$top/configure.log" >&2; qs_die "configure failed"; }
    touch "$b/.configured-$tl"
fi
start=$(date +%s)
ninja -C "$b" -j"$jobs" $(for t in $targets; do printf 'qemu-%s ' "$t"; done) >"$top/build.log" 2>&1 ||
    { tail -30 "$top/build.log" >&2; qs_die "build failed"; }
qs_log "built in $(($(date +%s) - start)) s"

mkdir -p "$out"
for t in $targets; do
    cp "$b/qemu-$t" "$out/qemu-$t-pie"
    # The same objects (compiled -fPIE) linked as a plain static executable.
    cmd=$(ninja -C "$b" -t commands "qemu-$t" | tail -n1)
    [[ $cmd == *static-pie* ]] || qs_log "note: link line has no -static-pie"
    cmd=${cmd//-static-pie/-static -no-pie}
    cmd=${cmd//-o qemu-$t /-o qemu-$t-nopie }
    (cd "$b" && eval "$cmd") >>"$top/build.log" 2>&1 || qs_die "non-PIE relink of qemu-$t failed"
    cp "$b/qemu-$t-nopie" "$out/qemu-$t-nopie"
    strip "$out/qemu-$t-pie" "$out/qemu-$t-nopie"
done
qs_log "done: $out"
ls -la "$out" >&2
