#!/bin/bash
# Refresh the pin (`make qemu-pin`): resolve the current qemu-user in Debian SUITE for
# every host architecture, download it, check it, hash the .deb and every static
# /usr/bin/qemu-<cpu> in it, and rewrite qemu-static/manifest.
#
#   qemu-static/pin.sh [--suite SUITE] [--cache DIR] [--binary-only]
#
#   --suite        Debian suite to pin from (default: the manifest's, else trixie)
#   --cache        also store the verified .debs here, so the next stage.sh needs no network
#                  (default: ${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu};
#                  skipped with a note when it is not writable)
#   --binary-only  pin the binaries only, no src record (the default when the manifest
#                  has none): for a version whose source files the mirror does not serve
#
# Host architectures: amd64 and arm64 (QEMU_STATIC_ARCHES overrides, space-separated).
# Network: the host's Debian mirror only (QEMU_STATIC_MIRROR overrides).
set -euo pipefail
QS_PROG=qemu-pin
# shellcheck source=qemu-static/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGE=qemu-user
read -r -a ARCHES <<<"${QEMU_STATIC_ARCHES:-amd64 arm64}"
suite="" binary_only=""
cache=${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}
while (($#)); do
    case $1 in
    --suite) suite=${2:?--suite needs a value}; shift 2 ;;
    --suite=*) suite=${1#*=}; shift ;;
    --cache) cache=${2:?--cache needs a value}; shift 2 ;;
    --cache=*) cache=${1#*=}; shift ;;
    --binary-only) binary_only=1; shift ;;
    -h | --help) sed -n '6,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) qs_die "unknown argument '$1'" ;;
    esac
done
if [[ -z $suite && -r $QS_MANIFEST ]]; then
    suite=$(awk '$1 == "suite" {print $2; exit}' "$QS_MANIFEST")
fi
suite=${suite:-trixie}
# A binary-only pin stays one: its source is not on the mirror (Debian lists the .dsc of
# trixie-backports' and sid's QEMU 11.1 in Sources, but mirrors need not carry the files).
if [[ -z $binary_only ]]; then
    binary_only=0
    [[ -r $QS_MANIFEST ]] && ! awk '$1 == "src" {f = 1} END {exit !f}' "$QS_MANIFEST" && binary_only=1
fi

for tool in apt-get apt-cache dpkg-deb tar sha256sum flock xargs; do
    command -v "$tool" >/dev/null 2>&1 || qs_die "$tool not found"
done
for arch in "${ARCHES[@]}"; do
    qs_machine "$arch" >/dev/null || qs_die "unsupported architecture '$arch' (amd64 or arm64)"
done

start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-pin.XXXXXX")
chmod 0755 "$work" # apt downloads as the _apt user when run as root
trap 'rm -rf "$work"' EXIT
elfcheck=$(qs_elfcheck "$work")
build_arch=$(dpkg --print-architecture 2>/dev/null || true)

qs_apt_setup "$work/apt" "$suite" "${ARCHES[@]}"
# deb-src too: the src record pins the source package's .dsc (qemu-static/build.sh).
echo "deb-src [signed-by=$QS_KEYRING] $QS_MIRROR $suite main" >>"$work/apt/sources.list"
qs_log "resolving $PACKAGE in $QS_MIRROR $suite for ${ARCHES[*]}"
qs_apt_update "$work/apt"

declare -A version=()
specs=()
for arch in "${ARCHES[@]}"; do
    v=$(apt-cache "${QS_APT[@]}" show --no-all-versions "$PACKAGE:$arch" 2>/dev/null |
        awk '/^Version:/ {print $2; exit}' || true)
    [[ -n $v ]] || qs_die "$PACKAGE:$arch is not in $QS_MIRROR $suite"
    version[$arch]=$v
    specs+=("$PACKAGE:$arch=$v")
done
qs_log "downloading ${specs[*]}"
if ! (cd "$work/apt/dl" && apt-get "${QS_APT[@]}" -q download "${specs[@]}") >>"$work/apt/apt.log" 2>&1; then
    cat "$work/apt/apt.log" >&2
    qs_die "apt-get download ${specs[*]} failed"
fi

# The source package of the pinned binaries: its .dsc's SHA-256 from the (signed) Sources
# index, so build.sh can refuse any other source without downloading anything here.
src_version=${version[${ARCHES[0]}]} src_dsc=""
if ((!binary_only)); then
    # (showsrc takes no version: pick the stanza by its file name; no early exit, which
    # would make apt-cache die of SIGPIPE under pipefail.)
    src_dsc=$(apt-cache "${QS_APT[@]}" showsrc qemu 2>/dev/null |
        awk -v f="qemu_${src_version#*:}.dsc" '/^Checksums-Sha256:/ {on = 1; next} /^[^ ]/ {on = 0} on && $3 == f && !s {s = $1} END {print s}')
    [[ $src_dsc =~ ^[0-9a-f]{64}$ ]] ||
        qs_die "source package qemu $src_version is not in $QS_MIRROR $suite (--binary-only pins the binaries alone)"
fi

cache_ok=0
if mkdir -p "$cache" 2>/dev/null && [[ -w $cache ]]; then
    cache_ok=1
    qs_lock "$cache"
else
    qs_log "note: cache $cache is not writable; the .debs are not kept"
fi

records=()
for arch in "${ARCHES[@]}"; do
    v=${version[$arch]}
    name=$(qs_deb_name "$PACKAGE" "$v" "$arch")
    deb=$work/apt/dl/$name
    [[ -f $deb ]] || qs_die "apt-get download did not produce $name"
    [[ $(dpkg-deb -f "$deb" Package) == "$PACKAGE" && $(dpkg-deb -f "$deb" Version) == "$v" &&
        $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || qs_die "$name: unexpected control fields"
    deb_sha=$(qs_sha256 "$deb")
    deb_size=$(stat -c %s "$deb")
    upstream=$(qs_upstream "$v")
    [[ $upstream =~ ^[0-9]+\.[0-9]+ ]] || qs_die "cannot derive the QEMU version from $v"

    # Every regular /usr/bin/qemu-<cpu> (the qemu-amd64, qemu-arm64... aliases are symlinks).
    x=$work/x/$arch
    mkdir -p "$x"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --no-same-owner -f - ./usr/bin
    mapfile -t files < <(find "$x/usr/bin" -maxdepth 1 -type f -name 'qemu-*' | LC_ALL=C sort)
    ((${#files[@]} > 0)) || qs_die "$name ships no /usr/bin/qemu-* binaries"
    [[ -f $x/usr/bin/qemu-aarch64 ]] || qs_die "$name has no qemu-aarch64"
    if ! bad=$("$elfcheck" --machine "$(qs_machine "$arch")" "${files[@]}"); then
        qs_die "elfcheck rejects binaries in $name:"$'\n'"$bad"
    fi
    # Run one where it runs natively: it must say the version we record.
    if [[ $arch == "$build_arch" ]]; then
        said=$("$x/usr/bin/qemu-aarch64" -version | head -n1)
        [[ $said == *"version $upstream "* ]] ||
            qs_die "qemu-aarch64 -version says '$said', expected QEMU $upstream"
        qs_log "$arch: $said"
    fi

    records+=("deb $arch $v $upstream $deb_sha $deb_size")
    declare -A sha=()
    while read -r s path; do sha[${path##*/}]=$s; done < <(
        printf '%s\0' "${files[@]}" | xargs -0 -n 4 -P "$(nproc 2>/dev/null || echo 2)" sha256sum --)
    for f in "${files[@]}"; do
        b=${f##*/}
        [[ -n ${sha[$b]:-} ]] || qs_die "could not hash $b"
        records+=("bin $arch ${b#qemu-} ${sha[$b]} $(stat -c %s "$f")")
    done
    unset sha
    qs_log "$arch: $PACKAGE $v (QEMU $upstream), ${#files[@]} emulators, .deb $((deb_size / 1048576)) MB"

    if ((cache_ok)) && [[ ! -f $cache/$name || $(qs_sha256 "$cache/$name") != "$deb_sha" ]]; then
        cp -- "$deb" "$cache/.$name.tmp"
        chmod 0644 "$cache/.$name.tmp"
        mv -f -- "$cache/.$name.tmp" "$cache/$name"
    fi
    rm -rf "$x"
done

new=$work/manifest
{
    cat <<'EOF'
# Pinned static QEMU user-mode emulators, staged by `make qemu` (qemu-static/stage.sh).
# Written by qemu-static/pin.sh: run `make qemu-pin` to refresh; do not edit by hand.
#
# One record per line, fields separated by blanks, no quoting; lines starting with
# '#' and blank lines are ignored. ARCH is the Debian architecture of the host the
# emulators run on; CPU is the guest, staged as qemu-CPU.
#   suite   SUITE                                  Debian suite the package comes from
#   package NAME                                   Debian binary package (static binaries)
#   deb     ARCH VERSION QEMU-VERSION SHA256 SIZE  the .deb for ARCH; VERSION is Debian's
#   bin     ARCH CPU SHA256 SIZE                   /usr/bin/qemu-CPU in that .deb
#   src     VERSION DSC-SHA256                     Debian's source package qemu VERSION
#                                                  (its .dsc), for qemu-static/build.sh;
#                                                  none in a binary-only pin
# Reading it from shell:
#   while read -r kind a b c d e; do case $kind in deb) ...;; bin) ...;; esac; done <manifest
EOF
    echo
    echo "suite $suite"
    echo "package $PACKAGE"
    if ((binary_only)); then
        echo "# binary-only: no src record (pin.sh --binary-only), so Debian's binaries only"
    else
        echo "src $src_version $src_dsc"
    fi
    for r in "${records[@]}"; do
        if [[ $r == deb\ * ]]; then echo; fi
        echo "$r"
    done
} >"$new"

# The new manifest must be readable by stage.sh for every architecture.
for arch in "${ARCHES[@]}"; do (qs_read_manifest "$new" "$arch"); done

if [[ -f $QS_MANIFEST ]] && cmp -s "$new" "$QS_MANIFEST"; then
    result="unchanged"
else
    cp -- "$new" "$QS_MANIFEST.tmp"
    mv -f -- "$QS_MANIFEST.tmp" "$QS_MANIFEST"
    result="written"
fi
summary=()
for arch in "${ARCHES[@]}"; do summary+=("$arch=${version[$arch]}"); done
echo "$QS_PROG: $QS_MANIFEST $result: $PACKAGE ${summary[*]} from $suite ($((SECONDS - start))s)"
