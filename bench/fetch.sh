#!/bin/bash
# Fetch what the bench compares against, once, into $CACHE (default
# /var/cache/binfmt-installer/bench), through the private apt configuration of
# qemu-static/lib.sh (the host's Debian mirror; the host's apt sources, lists and
# caches are never touched):
#   qemu-11.1/qemu-*               the pinned QEMU 11.1 series (qemu-static/manifest-11.1:
#                                  Debian's trixie-backports qemu-user, static-pie), staged
#                                  by qemu-static/stage.sh and checked against its pin
#   qemu-binfmt-conf.sh            QEMU's script, from Debian's source package of the
#                                  pinned payload (Debian does not ship it in a binary package)
#   binfmt-support/usr/sbin/update-binfmts   unpacked, not installed (installing
#                                  binfmt-support would enable the host's formats)
# Host tools it installs with apt-get if missing: hyperfine proot gnuplot-nox.
set -euo pipefail
QS_PROG=bench-fetch
. "$(dirname "${BASH_SOURCE[0]}")/../qemu-static/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$CACHE"
qs_lock "$CACHE"
arch=$(dpkg --print-architecture)

need=()
for p in proot:proot gnuplot:gnuplot-nox strace:strace perf:linux-perf mmdebstrap:mmdebstrap; do
    command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}")
done
if ((${#need[@]})); then
    b_log "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
fi

# The pinned 11.1 series (was: whatever sid carried on the day, unpinned). stage.sh
# checks it against its manifest and does nothing when it is already staged.
QEMU_STATIC_MANIFEST=$B_ROOT/qemu-static/manifest-11.1 QS_PROG=bench-fetch \
    "$B_ROOT/qemu-static/stage.sh" --payload debian --out "$CACHE/qemu-11.1" >&2

# qemu-binfmt-conf.sh from the pinned payload's source package
qs_read_manifest "$QS_MANIFEST" "$arch"
if [[ ! -s $CACHE/qemu-binfmt-conf.sh ]]; then
    srcver=${QS_VERSION#*:}
    d=$CACHE/build/$srcver/apt
    if ! ls "$d"/dl/qemu_"${srcver%%-*}".orig.tar.* >/dev/null 2>&1; then
        qs_apt_setup "$d" "$QS_SUITE" "$arch"
        echo "deb-src [signed-by=$QS_KEYRING] $QS_MIRROR $QS_SUITE main" >>"$d/sources.list"
        qs_apt_update "$d"
        (cd "$d/dl" && apt-get "${QS_APT[@]}" -q source --download-only "qemu=$QS_VERSION" >&2)
    fi
    up=$(qs_upstream "$QS_VERSION")
    tar -xOf "$d"/dl/qemu_"${srcver%%-*}".orig.tar.* "qemu-$up/scripts/qemu-binfmt-conf.sh" >"$CACHE/qemu-binfmt-conf.sh.tmp"
    chmod 0755 "$CACHE/qemu-binfmt-conf.sh.tmp"
    echo "qemu-binfmt-conf.sh from Debian source package qemu $QS_VERSION ($QS_SUITE)" >"$CACHE/qemu-binfmt-conf.sh.SOURCE"
    mv "$CACHE/qemu-binfmt-conf.sh.tmp" "$CACHE/qemu-binfmt-conf.sh"
fi

# binfmt-support's update-binfmts, unpacked only
if [[ ! -x $CACHE/binfmt-support/usr/sbin/update-binfmts ]]; then
    d=$CACHE/apt-bookworm
    qs_apt_setup "$d" "$(. /etc/os-release && echo "$VERSION_CODENAME")" "$arch"
    qs_apt_update "$d"
    rm -f "$d"/dl/binfmt-support_*.deb
    (cd "$d/dl" && apt-get "${QS_APT[@]}" -q download "binfmt-support:$arch" >&2)
    rm -rf "$CACHE/binfmt-support"
    dpkg-deb -x "$d"/dl/binfmt-support_*_"$arch".deb "$CACHE/binfmt-support"
fi
ldd "$CACHE/binfmt-support/usr/sbin/update-binfmts" | grep -q 'not found' && {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpipeline1 >&2
}
b_log "fetched: $(ls "$CACHE")"
