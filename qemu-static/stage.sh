#!/bin/bash
# Stage the pinned static QEMU user-mode emulators (qemu-static/manifest) for one host
# architecture:  DIR/qemu-<cpu> (mode 0755, owned by the invoking user), DIR/VERSION and
# DIR/SHA256SUMS (the staged binaries with their pinned SHA-256, either payload).
#
#   qemu-static/stage.sh [--host-arch amd64|arm64] [--payload debian|rebuilt] [--out DIR]
#                        [--cache DIR] [--verify]
#
#   --host-arch  Debian architecture the emulators run on (default: this machine's)
#   --payload    debian (default here; `make qemu` defaults to rebuilt): Debian's binaries;
#                rebuilt: the same QEMU built here from Debian's pinned source without
#                capstone and linked static, not PIE (qemu-static/build.sh: cached, about
#                15 minutes the first time; this machine's architecture only)
#   --out        where to stage (default: build/qemu for this machine's architecture,
#                build/qemu-ARCH for another one); `binfmt` finds <bindir>/../qemu
#   --cache      where verified .debs are kept
#                (default: ${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu})
#   --verify     re-hash DIR even when its stamp says it is unchanged
#
# The .deb (Debian's qemu-user, whose /usr/bin/qemu-<cpu> are static-pie) is downloaded
# once through a private apt configuration (the host's Debian mirror, read from its apt
# sources; QEMU_STATIC_MIRROR overrides) and kept in the cache. Before anything is
# staged: the .deb's SHA-256 must match the manifest, every binary's SHA-256 must match,
# and elfcheck must call each one a static ELF for the host machine. Re-runs need no
# network (cache) and change nothing when DIR already matches the manifest.
# Environment: QEMU_STATIC_CACHE, QEMU_STATIC_MIRROR, QEMU_STATIC_MANIFEST, ELFCHECK.
set -euo pipefail
QS_PROG=qemu-stage
# shellcheck source=qemu-static/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '6,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

build_arch=$(dpkg --print-architecture 2>/dev/null || true)
arch="" out="" verify=0 payload=debian
cache=${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}
while (($#)); do
    case $1 in
    --host-arch) arch=${2:?--host-arch needs a value}; shift 2 ;;
    --host-arch=*) arch=${1#*=}; shift ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --cache) cache=${2:?--cache needs a value}; shift 2 ;;
    --cache=*) cache=${1#*=}; shift ;;
    --verify) verify=1; shift ;;
    --payload) payload=${2:?--payload needs a value}; shift 2 ;;
    --payload=*) payload=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; qs_die "unknown argument '$1'" ;;
    esac
done
arch=${arch:-$build_arch}
machine=$(qs_machine "$arch") || qs_die "unsupported --host-arch '$arch' (amd64 or arm64)"
if [[ -z $out ]]; then
    if [[ $arch == "$build_arch" ]]; then out=$QS_ROOT/build/qemu; else out=$QS_ROOT/build/qemu-$arch; fi
fi
out=${out%/}
[[ -n $out ]] || qs_die "--out must not be /"

for tool in sha256sum dpkg-deb tar stat flock xargs; do
    command -v "$tool" >/dev/null 2>&1 || qs_die "$tool not found"
done

qs_read_manifest "$QS_MANIFEST" "$arch"
debname=$(qs_deb_name "$QS_PACKAGE" "$QS_VERSION" "$arch")
case $payload in
debian)
    what="QEMU $QS_QEMU_VERSION ($QS_PACKAGE $QS_VERSION $arch)"
    version_text=$(printf '%s\n' \
        "qemu_version=$QS_QEMU_VERSION" \
        "package=$QS_PACKAGE" \
        "package_version=$QS_VERSION" \
        "arch=$arch" \
        "suite=$QS_SUITE" \
        "deb_sha256=$QS_DEB_SHA")
    ;;
rebuilt)
    [[ $arch == "$build_arch" ]] ||
        qs_die "--payload rebuilt is built on the machine it runs on ($build_arch); for $arch use --payload debian"
    [[ -n $QS_SRC_VERSION ]] ||
        qs_die "$QS_MANIFEST pins QEMU $QS_QEMU_VERSION's binaries only (no src record: the mirror does not serve its source), so it cannot be rebuilt; use --payload debian (make qemu QEMU_PAYLOAD=debian); nothing staged"
    built=$cache/build/${QS_VERSION#*:}-$arch
    "$QS_DIR/build.sh" --top "$built" || qs_die "building the rebuilt payload failed; nothing staged"
    # From here on the build's own record stands in for the manifest's bin records.
    QS_CPUS=()
    QS_BIN_SHA=()
    while read -r sha name; do
        QS_CPUS+=("${name#qemu-}")
        QS_BIN_SHA[${name#qemu-}]=$sha
    done <"$built/out/SHA256SUMS"
    ((${#QS_CPUS[@]})) || qs_die "$built/out/SHA256SUMS lists nothing"
    what="QEMU $QS_QEMU_VERSION (rebuilt from qemu $QS_VERSION, static, no capstone, $arch)"
    version_text=$(printf '%s\n' \
        "qemu_version=$QS_QEMU_VERSION" \
        "package=qemu (source, rebuilt by qemu-static/build.sh)" \
        "package_version=$QS_VERSION" \
        "arch=$arch" \
        "suite=$QS_SUITE" \
        "payload=rebuilt" \
        "dsc_sha256=$QS_SRC_DSC_SHA" \
        "sha256sums=$(qs_sha256 "$built/out/SHA256SUMS")")
    ;;
*) qs_die "unknown --payload '$payload' (debian or rebuilt)" ;;
esac

# --- is DIR already what the manifest says? -----------------------------------------

# DIR/SHA256SUMS: every staged binary's pinned SHA-256 (`sha256sum -c` format), so
# packaging can check what it ships whichever payload this is.
sums_text() {
    local cpu
    for cpu in "${QS_CPUS[@]}"; do printf '%s  qemu-%s\n' "${QS_BIN_SHA[$cpu]}" "$cpu"; done | LC_ALL=C sort -k2
}

# Every binary: regular file, mode 0755 (root-owned when staging as root), no stray
# qemu-* besides them, VERSION and SHA256SUMS as we would write them.
shape_ok() {
    local cpu f
    [[ -f $out/VERSION && $(<"$out/VERSION") == "$version_text" ]] || return 1
    [[ -f $out/SHA256SUMS && $(<"$out/SHA256SUMS") == "$(sums_text)" ]] || return 1
    for cpu in "${QS_CPUS[@]}"; do
        f=$out/qemu-$cpu
        [[ -f $f && ! -L $f ]] || return 1
        [[ $(stat -c %a -- "$f") == 755 ]] || return 1
        if ((EUID == 0)); then [[ $(stat -c %u -- "$f") == 0 ]] || return 1; fi
    done
    [[ -z $(stray_files) ]]
}

# qemu-* in DIR that the manifest does not list (left from an older pin).
stray_files() {
    local f
    declare -A want=()
    for f in "${QS_CPUS[@]}"; do want[qemu-$f]=1; done
    for f in "$out"/qemu-*; do
        [[ -e $f || -L $f ]] || continue
        [[ -n ${want[${f##*/}]:-} ]] || printf '%s\n' "$f"
    done
}

# What DIR/.stamp must say: manifest hash + identity (size, mtime, ctime, inode) of each
# file when it was last verified; any write or chmod changes ctime, so a match is safe.
stamp_text() {
    local cpu st
    for cpu in "${QS_CPUS[@]}"; do
        st=$(stat -c '%s %.9Y %.9Z %i' -- "$out/qemu-$cpu") || return 1
        printf 'qemu-%s %s %s\n' "$cpu" "${QS_BIN_SHA[$cpu]}" "$st"
    done
}

# hash_files DIR -> "sha256  path" lines for DIR/qemu-<cpu>, hashed in parallel.
hash_files() {
    local dir=$1 cpu
    for cpu in "${QS_CPUS[@]}"; do printf '%s\0' "$dir/qemu-$cpu"; done |
        xargs -0 -n 4 -P "$(nproc 2>/dev/null || echo 2)" sha256sum --
}

# verify_hashes DIR -> prints one line per mismatch; 0 when all match.
verify_hashes() {
    local dir=$1 sha path cpu bad=0
    declare -A got=()
    while read -r sha path; do got[${path##*/qemu-}]=$sha; done < <(hash_files "$dir")
    for cpu in "${QS_CPUS[@]}"; do
        if [[ -z ${got[$cpu]:-} ]]; then
            echo "qemu-$cpu: missing"; bad=1
        elif [[ ${got[$cpu]} != "${QS_BIN_SHA[$cpu]}" ]]; then
            echo "qemu-$cpu: sha256 ${got[$cpu]}, manifest pins ${QS_BIN_SHA[$cpu]}"; bad=1
        fi
    done
    return "$bad"
}

if [[ -d $out ]] && shape_ok; then
    if ((!verify)) && [[ -f $out/.stamp ]] && stamp=$(stamp_text 2>/dev/null) &&
        [[ $(<"$out/.stamp") == "$stamp" ]]; then
        echo "$QS_PROG: $out is up to date: ${#QS_CPUS[@]} emulators, $what"
        exit 0
    fi
    if verify_hashes "$out" >/dev/null; then
        stamp_text >"$out/.stamp" 2>/dev/null || true
        echo "$QS_PROG: $out is up to date (verified): ${#QS_CPUS[@]} emulators, $what"
        exit 0
    fi
fi

# --- the .deb: from the cache, else from the mirror -----------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-stage.XXXXXX")
chmod 0755 "$work" # apt downloads as the _apt user when run as root
stage=""
cleanup() { rm -rf "$work"; [[ -z $stage ]] || rm -rf "$stage"; }
trap cleanup EXIT

# check_deb FILE WHERE -> dies unless FILE has the pinned SHA-256
check_deb() {
    local sha
    sha=$(qs_sha256 "$1")
    [[ $sha == "$QS_DEB_SHA" ]] ||
        qs_die "$2 $1 has SHA-256 $sha but qemu-static/manifest pins $QS_DEB_SHA for $QS_PACKAGE $QS_VERSION $arch; nothing staged${3:+ ($3)}"
}

deb=$cache/$debname
if [[ $payload == rebuilt ]]; then
    : # no .deb: the files come from the build directory, checked against its SHA256SUMS
elif [[ -f $deb ]]; then
    check_deb "$deb" "cached" "the cached copy is corrupt or was replaced: delete it to download it again"
else
    if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w $cache ]]; then
        qs_die "cache $cache is not writable (run as root, or use --cache DIR / QEMU_STATIC_CACHE)"
    fi
    qs_lock "$cache"
    if [[ -f $deb ]]; then # a concurrent run fetched it while we waited
        check_deb "$deb" "cached" "the cached copy is corrupt or was replaced: delete it to download it again"
    else
        qs_apt_setup "$work/apt" "$QS_SUITE" "$arch"
        qs_log "$debname is not in $cache: downloading it ($((QS_DEB_SIZE / 1048576)) MB) from $QS_MIRROR $QS_SUITE"
        qs_apt_update "$work/apt"
        versions=$(qs_apt_versions "$QS_PACKAGE:$arch")
        if ! grep -Fxq -- "$QS_VERSION" <<<"$versions"; then
            now=$(tr "\n" " " <<<"$versions" | sed "s/ *$//")
            qs_die "the pinned $QS_PACKAGE $QS_VERSION ($arch) is no longer on $QS_MIRROR $QS_SUITE${now:+ (it now has $now)}: run 'make qemu-pin' to refresh qemu-static/manifest"
        fi
        if ! (cd "$work/apt/dl" && apt-get "${QS_APT[@]}" -q download "$QS_PACKAGE:$arch=$QS_VERSION") \
            >>"$work/apt/apt.log" 2>&1; then
            cat "$work/apt/apt.log" >&2
            qs_die "apt-get download $QS_PACKAGE:$arch=$QS_VERSION from $QS_MIRROR $QS_SUITE failed"
        fi
        [[ -f $work/apt/dl/$debname ]] || qs_die "apt-get download did not produce $debname"
        check_deb "$work/apt/dl/$debname" "downloaded"
        cp -- "$work/apt/dl/$debname" "$cache/.$debname.tmp"
        chmod 0644 "$cache/.$debname.tmp"
        mv -f -- "$cache/.$debname.tmp" "$deb"
        rm -f -- "$work/apt/dl/$debname"
    fi
fi

# --- extract and verify, next to DIR (same filesystem: staging is renames) -------------

parent=$(dirname -- "$out")
mkdir -p -- "$parent"
stage=$(mktemp -d "$parent/.${out##*/}.stage.XXXXXX")
members=()
for cpu in "${QS_CPUS[@]}"; do members+=("./usr/bin/qemu-$cpu"); done
if [[ $payload == rebuilt ]]; then
    mkdir -p "$stage/usr/bin"
    for cpu in "${QS_CPUS[@]}"; do cp -- "$built/out/qemu-$cpu" "$stage/usr/bin/"; done
    if ! bad=$(verify_hashes "$stage/usr/bin"); then
        qs_die "binaries in $built/out do not match its SHA256SUMS; nothing staged:"$'\n'"$bad"
    fi
elif ! dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$stage" --no-same-owner -f - -- "${members[@]}"; then
    qs_die "$deb lacks binaries the manifest lists (or cannot be unpacked); nothing staged"
elif ! bad=$(verify_hashes "$stage/usr/bin"); then
    qs_die "binaries in $debname do not match the manifest; nothing staged:"$'\n'"$bad"
fi
elfcheck=$(qs_elfcheck "$work")
files=()
for cpu in "${QS_CPUS[@]}"; do files+=("$stage/usr/bin/qemu-$cpu"); done
if ! bad=$("$elfcheck" --machine "$machine" "${files[@]}"); then
    qs_die "elfcheck rejects binaries for $arch ($machine); nothing staged:"$'\n'"$bad"
fi

# --- install: binaries (renames), stray ones out, VERSION and stamp last ----------------

mkdir -p -- "$out"
rm -f -- "$out/VERSION" "$out/SHA256SUMS" "$out/.stamp"
for cpu in "${QS_CPUS[@]}"; do
    chmod 0755 "$stage/usr/bin/qemu-$cpu"
    mv -f -- "$stage/usr/bin/qemu-$cpu" "$out/qemu-$cpu"
done
mapfile -t stray < <(stray_files)
if ((${#stray[@]})); then
    qs_log "removing emulators this payload does not have: ${stray[*]##*/}"
    rm -f -- "${stray[@]}"
fi
sums_text >"$out/SHA256SUMS"
chmod 0644 "$out/SHA256SUMS"
printf '%s\n' "$version_text" >"$out/.VERSION.tmp"
chmod 0644 "$out/.VERSION.tmp"
mv -f -- "$out/.VERSION.tmp" "$out/VERSION"
stamp_text >"$out/.stamp"
echo "$QS_PROG: staged ${#QS_CPUS[@]} emulators, $what, in $out"
