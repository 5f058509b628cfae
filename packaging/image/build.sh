#!/bin/bash
# Build the installer image `binfmt-installer` (what `make image` runs):
#
#   packaging/image/build.sh
#
# For each architecture in IMAGE_ARCHES (default "amd64 arm64") it assembles a root
# filesystem from the project's own build outputs:
#
#   /usr/bin/binfmt          built here (amd64 natively; arm64 cross-compiled with
#                            gcc-aarch64-linux-gnu against a sysroot of Debian's arm64
#                            packages, packaging/image/sysroot.sh), stripped
#   /lib/<triplet>/*.so.*    exactly the shared libraries it needs: DT_NEEDED followed
#                            recursively with readelf (no ldd, so it works for foreign
#                            binaries too), copied from the host (native) or the sysroot;
#                            plus libmount.so.1 and what it needs, which binfmt dlopen()s
#   /lib64/ld-linux-x86-64.so.2 | /lib/ld-linux-aarch64.so.1   its PT_INTERP
#   /usr/bin/qemu-<cpu>      the pinned static emulators for that host architecture
#                            (`make qemu [HOST_ARCH=arm64]`), except the one for the
#                            architecture itself, which binfmt never registers
#   /tmp                     (1777) where binfmt writes its probes; a scratch image
#                            has no other exec-able writable directory
#
# and commits it FROM scratch with buildah (no daemon needed; Docker's engine cannot
# make an OCI index) as localhost/binfmt-installer:latest-<arch>, config
# ENTRYPOINT ["/usr/bin/binfmt"], os/arch/variant set. Then:
#
#   localhost/binfmt-installer:latest             buildah manifest list (OCI image
#                                                 index) of all variants
#   $BUILD/image/binfmt-installer.oci.tar         that index and all its images
#                                                 (oci-archive, gzip layers)
#   $BUILD/image/binfmt-installer-<arch>.docker.tar   one variant each, for
#                                                 `docker load`; the build machine's
#                                                 own architecture is tagged
#                                                 binfmt-installer:latest, the others
#                                                 binfmt-installer:latest-<arch>
#   $BUILD/image/rootfs-<arch>/                   the assembled trees
#   $BUILD/image/SIZES                            per-variant sizes and the largest files
#
# When a Docker engine answers (`docker info`, DOCKER_HOST honoured) the host
# variant is also loaded into it, so `docker run --privileged --rm binfmt-installer
# --install all` works right away.
#
# Environment: BUILD (default build), IMAGE_ARCHES, IMAGE_NAME (default
# binfmt-installer), IMAGE_NO_DOCKER_LOAD=1, QEMU_STATIC_MIRROR (see qemu-static/).
# Missing tools (buildah, the cross compiler, binutils) are installed with apt-get
# when running as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
NAME=${IMAGE_NAME:-binfmt-installer}
read -r -a ARCHES <<<"${IMAGE_ARCHES:-amd64 arm64}"
OUT=$BUILD/image
MAKE=${MAKE:-make}
HOST_ARCH=$(dpkg --print-architecture)
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)

die() { echo "image: error: $*" >&2; exit 1; }
log() { echo "image: $*" >&2; }

triplet() {
    case $1 in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    *) die "no image support for architecture '$1' (amd64, arm64)" ;;
    esac
}
# QEMU's name for the architecture itself: its emulator is never registered there.
native_cpu() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac; }
variant() { case $1 in arm64) echo v8 ;; esac; }

# --- tools -----------------------------------------------------------------------
need_pkgs=()
command -v buildah >/dev/null || need_pkgs+=(buildah)
command -v readelf >/dev/null || need_pkgs+=(binutils)
for a in "${ARCHES[@]}"; do
    t=$(triplet "$a")
    [[ $a == "$HOST_ARCH" ]] && continue
    command -v "$t-gcc" >/dev/null || need_pkgs+=("gcc-$t")
done
if ((${#need_pkgs[@]})); then
    ((EUID == 0)) || die "missing ${need_pkgs[*]}: run as root or apt-get install them"
    log "installing ${need_pkgs[*]}"
    apt-get install -y -q "${need_pkgs[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q "${need_pkgs[@]}" >&2; } ||
        die "apt-get install ${need_pkgs[*]} failed"
fi

# --- shared libraries: follow DT_NEEDED ----------------------------------------------

# needed ELF -> its DT_NEEDED sonames, one a line
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
interp() { readelf -l "$1" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]$/\1/p'; }

# find_lib SYSROOT TRIPLET SONAME -> the file (symlinks resolved) in the sysroot
find_lib() {
    local sysroot=$1 t=$2 so=$3 d
    for d in "lib/$t" "usr/lib/$t" lib usr/lib lib64 usr/lib64; do
        if [[ -e $sysroot/$d/$so ]]; then
            realpath -- "$sysroot/$d/$so"
            return 0
        fi
    done
    return 1
}

# copy_libs ELF SYSROOT TRIPLET ROOTFS [nointerp]: the interpreter at its PT_INTERP path and
# every needed library, recursively, at /lib/TRIPLET/SONAME (the loader's default
# search path on Debian, so no ld.so.cache is needed).
copy_libs() {
    local elf=$1 sysroot=$2 t=$3 rootfs=$4 ip so f
    local -a queue=("$elf")
    local -A seen=()
    if [[ ${5:-} == nointerp ]]; then
        # a shared library: the program's interpreter is already there
        for f in "$rootfs"/lib*/ld-linux-*; do seen[${f##*/}]=1; done
    else
        ip=$(interp "$elf")
        [[ -n $ip ]] || die "$elf has no PT_INTERP: nothing to resolve?"
        f=$(realpath -- "$sysroot$ip") || die "interpreter $ip not found under $sysroot"
        install -D -m 0755 "$f" "$rootfs$ip"
        seen[${ip##*/}]=1
    fi
    while ((${#queue[@]})); do
        local cur=${queue[0]}
        queue=("${queue[@]:1}")
        while read -r so; do
            [[ -n $so && -z ${seen[$so]:-} ]] || continue
            seen[$so]=1
            f=$(find_lib "$sysroot" "$t" "$so") || die "$so (needed by ${cur##*/}) not found under $sysroot"
            install -D -m 0755 "$f" "$rootfs/lib/$t/$so"
            queue+=("$f")
        done < <(needed "$cur")
    done
}

# copy_dlopened ROOTFS SYSROOT TRIPLET SONAME...: libraries binfmt loads with dlopen (no
# DT_NEEDED names them), each with its own needed libraries, at /lib/TRIPLET/SONAME.
copy_dlopened() {
    local rootfs=$1 sysroot=$2 t=$3 so f
    shift 3
    for so in "$@"; do
        f=$(find_lib "$sysroot" "$t" "$so") || die "$so (dlopen()ed by binfmt) not found under $sysroot"
        install -D -m 0755 "$f" "$rootfs/lib/$t/$so"
        copy_libs "$rootfs/lib/$t/$so" "$sysroot" "$t" "$rootfs" nointerp
    done
}

# --- per architecture --------------------------------------------------------------
mkdir -p "$OUT"
: >"$OUT/SIZES.new"
declare -A TAG=()
for arch in "${ARCHES[@]}"; do
    t=$(triplet "$arch")
    if [[ $arch == "$HOST_ARCH" ]]; then
        log "$arch: building binfmt and staging the emulators"
        "$MAKE" -s BUILD="$BUILD" all qemu >/dev/null
        binfmt=$BUILD/bin/binfmt
        qemu=$BUILD/qemu
        sysroot=""
        strip="strip"
    else
        sysroot=$BUILD/sysroot-$arch
        log "$arch: sysroot, cross-compiling binfmt ($t-gcc), staging the $arch-host emulators"
        packaging/image/sysroot.sh "$arch" "$sysroot"
        PKG_CONFIG_SYSROOT_DIR=$sysroot \
            PKG_CONFIG_LIBDIR=$sysroot/usr/lib/$t/pkgconfig:$sysroot/usr/share/pkgconfig \
            "$MAKE" -s BUILD="$BUILD/$arch" CC="$t-gcc --sysroot=$sysroot" "$BUILD/$arch/bin/binfmt" >/dev/null
        # The qemu target's elfcheck is a host tool: build it with the host compiler.
        "$MAKE" -s BUILD="$BUILD" qemu HOST_ARCH="$arch" >/dev/null
        binfmt=$BUILD/$arch/bin/binfmt
        qemu=$BUILD/qemu-$arch
        strip=$t-strip
    fi
    [[ -x $binfmt ]] || die "$binfmt was not built"
    compgen -G "$qemu/qemu-*" >/dev/null || die "no emulators staged in $qemu"

    rootfs=$OUT/rootfs-$arch
    rm -rf "$rootfs"
    mkdir -p "$rootfs/usr/bin" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    install -m 0755 "$binfmt" "$rootfs/usr/bin/binfmt"
    "$strip" --strip-unneeded "$rootfs/usr/bin/binfmt"
    copy_libs "$rootfs/usr/bin/binfmt" "${sysroot:-}" "$t" "$rootfs"
    # binfmt dlopen()s libmount when it has to mount binfmt_misc, which is the usual case
    # in a container (docker run --privileged has no binfmt_misc mounted): ship it and
    # what it needs. Not libkmod: a scratch image has no /lib/modules to load from.
    copy_dlopened "$rootfs" "${sysroot:-}" "$t" libmount.so.1
    skip=$(native_cpu "$arch")
    n=0
    for e in "$qemu"/qemu-*; do
        cpu=${e##*/qemu-}
        [[ $cpu == "$skip" ]] && continue
        install -m 0755 "$e" "$rootfs/usr/bin/qemu-$cpu"
        n=$((n + 1))
    done
    qemu_version=$(sed -n 's/^qemu_version=//p' "$qemu/VERSION" 2>/dev/null || true)
    libs=$(cd "$rootfs" && find lib* -type f | sort | tr '\n' ' ')
    log "$arch: rootfs: binfmt, $n emulators (QEMU ${qemu_version:-?}), $libs"

    # The image: FROM scratch, one layer.
    ref=localhost/$NAME:latest-$arch
    buildah rmi -f "$ref" >/dev/null 2>&1 || true
    ctr=$(buildah from --quiet scratch)
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    buildah copy --quiet "$ctr" "$rootfs/" / >/dev/null
    cfg=(--os linux --arch "$arch" --entrypoint '["/usr/bin/binfmt"]'
        --workingdir / --env QEMU_BINARY_PATH=/usr/bin
        --label "org.opencontainers.image.title=$NAME"
        --label "org.opencontainers.image.version=$VERSION"
        --label "org.opencontainers.image.description=registers QEMU user-mode emulators in binfmt_misc"
        --label "io.github.binfmt-installer.qemu-version=${qemu_version:-unknown}")
    v=$(variant "$arch")
    [[ -z $v ]] || cfg+=(--variant "$v")
    buildah config "${cfg[@]}" "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
    trap - EXIT
    TAG[$arch]=$NAME:latest-$arch
    [[ $arch == "$HOST_ARCH" ]] && TAG[$arch]=$NAME:latest
    rm -f "$OUT/$NAME-$arch.docker.tar"
    buildah push --quiet --format docker "$ref" "docker-archive:$OUT/$NAME-$arch.docker.tar:${TAG[$arch]}" >/dev/null

    {
        printf '%s: %s bytes uncompressed (%s MiB), %d emulators, binfmt %s bytes, libraries %s bytes\n' \
            "$arch" "$(du -sb "$rootfs" | cut -f1)" "$(($(du -sb "$rootfs" | cut -f1) / 1048576))" "$n" \
            "$(stat -c %s "$rootfs/usr/bin/binfmt")" \
            "$(cd "$rootfs" && find lib* -type f -exec stat -c %s {} + | awk '{s += $1} END {print s + 0}')"
        (cd "$rootfs" && find . -type f -printf '%s %p\n' | sort -rn | head -n 5 | sed 's/^/  /')
    } >>"$OUT/SIZES.new"
done
mv -f "$OUT/SIZES.new" "$OUT/SIZES"

# --- the image index -------------------------------------------------------------
list=localhost/$NAME:latest
buildah manifest rm "$list" >/dev/null 2>&1 || buildah rmi -f "$list" >/dev/null 2>&1 || true
buildah manifest create "$list" >/dev/null
for arch in "${ARCHES[@]}"; do
    add=(--os linux --arch "$arch")
    v=$(variant "$arch")
    [[ -z $v ]] || add+=(--variant "$v")
    buildah manifest add "${add[@]}" "$list" "containers-storage:localhost/$NAME:latest-$arch" >/dev/null
done
rm -f "$OUT/$NAME.oci.tar"
buildah manifest push --quiet --all --format oci "$list" "oci-archive:$OUT/$NAME.oci.tar:$NAME:latest" >/dev/null
log "image index $list ($(IFS=,; echo "${ARCHES[*]}")) -> $OUT/$NAME.oci.tar ($(($(stat -c %s "$OUT/$NAME.oci.tar") / 1048576)) MiB)"
for arch in "${ARCHES[@]}"; do
    log "docker-archive $OUT/$NAME-$arch.docker.tar (${TAG[$arch]})"
done
sed 's/^/image: /' "$OUT/SIZES" >&2

# --- load into a running Docker engine -------------------------------------------------
if [[ -z ${IMAGE_NO_DOCKER_LOAD:-} && -n ${TAG[$HOST_ARCH]:-} ]] && command -v docker >/dev/null &&
    timeout 10 docker info >/dev/null 2>&1; then
    docker load -q -i "$OUT/$NAME-$HOST_ARCH.docker.tar" >&2 && log "loaded ${TAG[$HOST_ARCH]} into Docker"
fi
