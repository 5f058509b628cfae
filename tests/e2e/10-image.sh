#!/bin/bash
# The installer image as built by `make image` (packaging/image/build.sh), without any
# container engine: the OCI index holds linux/amd64 and linux/arm64/v8; each variant's
# config runs /usr/bin/binfmt; its single layer holds binfmt, exactly the libraries it
# needs and the static emulators; the amd64 layer runs chrooted with nothing from the
# host, and the arm64 layer's binfmt runs chrooted under emulation through a private
# binfmt_misc instance (the host's registry is not touched).
set -uo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_require_host
command -v buildah >/dev/null || e2e_install buildah || skip_all "buildah cannot be installed"
e2e_install jq >/dev/null || skip_all "jq cannot be installed"

plan 21

t_ok "make image builds the image" e2e_image || bail_out "no image: $(tail -n 5 "$E2E_TMP/image.log" 2>/dev/null)"
OCI=$IMAGE_DIR/binfmt-installer.oci.tar
note "$(sed 's/^/size: /' "$IMAGE_DIR/SIZES")"
note "oci-archive (gzip layers, both variants): $(($(stat -c %s "$OCI") / 1048576)) MiB"

blob() { tar -xOf "$OCI" "blobs/sha256/${1#sha256:}"; }
index=$(tar -xOf "$OCI" index.json | jq -r '.manifests[0].digest')
t_is "oci-archive: its one entry is the image index" \
    "$(tar -xOf "$OCI" index.json | jq -r '.manifests[0].mediaType + " " + .manifests[0].annotations["org.opencontainers.image.ref.name"]')" \
    "application/vnd.oci.image.index.v1+json binfmt-installer:latest"
t_is "the index has linux/amd64 and linux/arm64/v8" \
    "$(blob "$index" | jq -r '[.manifests[].platform | .os + "/" + .architecture + (if .variant then "/" + .variant else "" end)] | sort | join(" ")')" \
    "linux/amd64 linux/arm64/v8"

declare -A LAYER=()
for arch in amd64 arm64; do
    m=$(blob "$index" | jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest')
    cfg=$(blob "$m" | jq -r .config.digest)
    LAYER[$arch]=$(blob "$m" | jq -r '.layers | if length == 1 then .[0].digest else "layers: \(length)" end')
    t_is "$arch: config is linux/$arch with ENTRYPOINT [\"/usr/bin/binfmt\"]" \
        "$(blob "$cfg" | jq -c '[.os, .architecture, .config.Entrypoint, .config.Cmd]')" \
        "[\"linux\",\"$arch\",[\"/usr/bin/binfmt\"],null]"
    t_like "$arch: one layer (FROM scratch)" "${LAYER[$arch]}" '^sha256:'
done

# Unpack each variant's layer, as a container engine would.
for arch in amd64 arm64; do
    mkdir -p "$E2E_TMP/rootfs-$arch"
    blob "${LAYER[$arch]}" | tar -xz -C "$E2E_TMP/rootfs-$arch" 2>/dev/null
done
A=$E2E_TMP/rootfs-amd64 B=$E2E_TMP/rootfs-arm64
export A B

# Every file in the layer is one of: binfmt, a library it needs, an emulator, /tmp.
# binfmt dlopen()s libmount.so.1 to mount binfmt_misc (no DT_NEEDED names it): it and its
# own NEEDED are part of the closure too.
needed_closure() { # ROOTFS TRIPLET: NEEDED of binfmt and libmount, recursively, as layer paths
    local root=$1 t=$2 q=(usr/bin/binfmt "lib/$2/libmount.so.1") seen=" libmount.so.1" so cur
    [[ -f $root/lib/$t/libmount.so.1 ]] && echo "lib/$t/libmount.so.1" || echo "MISSING:libmount.so.1"
    while ((${#q[@]})); do
        cur=${q[0]} q=("${q[@]:1}")
        for so in $(readelf -d "$root/$cur" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
            [[ " $seen " == *" $so "* ]] && continue
            seen+=" $so"
            [[ $so == ld-linux-* ]] && continue # the interpreter, checked on its own
            if [[ -f $root/lib/$t/$so ]]; then
                echo "lib/$t/$so"
                q+=("lib/$t/$so")
            else
                echo "MISSING:$so"
            fi
        done
    done
}
for pair in amd64:x86_64-linux-gnu:lib64/ld-linux-x86-64.so.2:x86_64 arm64:aarch64-linux-gnu:lib/ld-linux-aarch64.so.1:aarch64; do
    IFS=: read -r arch t ld native <<<"$pair"
    r=$E2E_TMP/rootfs-$arch
    closure=$(needed_closure "$r" "$t" | sort -u)
    t_unlike "$arch: every library binfmt needs is in the image" "$closure" MISSING
    t_is "$arch: the program interpreter is /$ld" \
        "$(readelf -l "$r/usr/bin/binfmt" | sed -n 's/.*interpreter: \/\(.*\)\]$/\1/p')" "$ld"
    want=$(printf '%s\n' usr/bin/binfmt "$ld" "$closure" | sort -u)
    got=$(cd "$r" && find . -type f ! -name 'qemu-*' | sed 's:^\./::' | sort)
    t_is "$arch: nothing else but emulators ($(wc -w <<<"$closure") libraries)" "$got" "$want"
    emus=$(find "$r/usr/bin" -name 'qemu-*' | wc -l)
    bad=""
    for e in "$r"/usr/bin/qemu-*; do
        [[ $(stat -c '%u %g %a' "$e") == "0 0 755" ]] || bad+=" ${e##*/}:$(stat -c '%u:%g:%a' "$e")"
        file -b "$e" | grep -q 'static-pie linked\|statically linked' || bad+=" ${e##*/}:dynamic"
    done
    t_is "$arch: $emus emulators, static, root-owned, 0755" "${bad:-ok}" ok
    t_ok "$arch: no emulator for the architecture itself (qemu-$native)" test ! -e "$r/usr/bin/qemu-$native"
done
t_is "/tmp is there, 1777, for the probes" "$(stat -c %a "$A/tmp") $(stat -c %a "$B/tmp")" "1777 1777"

qv=$(sed -n 's/^qemu_version=//p' "$E2E_BUILD/qemu/VERSION")
out=$(chroot "$A" /usr/bin/binfmt --version 2>&1)
t_is "amd64: binfmt --version runs chrooted in the image alone" "$out" \
    "binfmt from binfmt-installer 0.1.0"$'\n'"QEMU $qv (emulators in /usr/bin)"

# arm64: register the host's aarch64 emulator in a private instance, then run the
# image's own arm64 binfmt chrooted; it asks its own (arm64) emulators for their version.
arm64_version() {
    "$BINFMT" --mount "$BM" --qemu-path "$E2E_BUILD/qemu" --install arm64 >/dev/null 2>&1 || return 3
    chroot "$B" /usr/bin/binfmt --version
}
out=$(in_private_binfmt arm64_version 2>&1)
t_is "arm64: its binfmt --version runs under emulation" "$out" \
    "binfmt from binfmt-installer 0.1.0"$'\n'"QEMU $qv (emulators in /usr/bin)"
t_like "arm64: its binfmt is an AArch64 executable" "$(file -b "$B/usr/bin/binfmt")" 'ARM aarch64'
