#!/bin/bash
# Section 7: what the installer image carries. Per emulator size of the default payload
# (build/qemu, whatever `make qemu` staged), the total, and the total compressed (tar |
# gzip -9, as image layers are stored, tar | xz -6, tar | zstd -19), beside Debian's own
# 10.0 binaries ($BUILD/qemu-debian, all targets, what the image carried before the
# rebuild became the default) and the payloads we do not ship (zstd only), plus the
# platforms BuildKit probes only, and one emulator as Debian builds it and as rebuilt
# here without capstone (static-pie and static). The installer image itself is measured
# when it exists (buildah / docker images named binfmt-installer*).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
T=$RESULTS/size
rm -rf "$T" && mkdir -p "$T"

comp() { # comp [-z] FILE... -> raw gzip xz zstd bytes of their tar (cached by file identity;
    # -z: zstd only, for the payloads we do not ship)
    local key tmp=$T/t.tar c zonly=0
    [[ $1 == -z ]] && { zonly=1; shift; }
    key=$( (echo "$zonly"; stat -L -c '%n %s %Y %i' "$@") | md5sum | cut -c1-32)
    c=$CACHE/size-cache/$key
    if [[ ! -s $c ]]; then
        mkdir -p "$CACHE/size-cache"
        tar -cf "$tmp" --owner=0 --group=0 --mtime=@0 -P -h "$@"
        if ((zonly)); then
            printf '%s\t-\t-\t%s\n' "$(stat -c %s "$tmp")" "$(zstd -19 -T0 -q -c "$tmp" | wc -c)" >"$c.tmp"
        else
            printf '%s\t%s\t%s\t%s\n' "$(stat -c %s "$tmp")" "$(gzip -9 -c "$tmp" | wc -c)" \
                "$(xz -6 -T0 -c "$tmp" | wc -c)" "$(zstd -19 -T0 -q -c "$tmp" | wc -c)" >"$c.tmp"
        fi
        mv "$c.tmp" "$c"
        rm -f "$tmp"
    fi
    cat "$c"
}
command -v zstd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zstd >&2

# per emulator, the default payload
for f in "$BUILD"/qemu/qemu-*; do
    printf '%s\t%s\n' "${f##*/}" "$(stat -c %s "$f")"
done | sort -t$'\t' -k2,2nr >"$T/per-emulator.tsv"

# totals per payload; first column: a key for the report (bench/report.py, size()).
# The default payload is build/qemu (what `make qemu` staged), named by its series.
kind=$(b_default_kind)
def=qemu-$(b_default_series)
if [[ $def == qemu-def ]]; then def="the default payload"; fi
# Debian's binaries: build/qemu itself when it holds them; none when not staged.
DEB=$BUILD/qemu-debian
if [[ $kind == debian ]]; then DEB=$BUILD/qemu; elif [[ ! -x $DEB/qemu-aarch64 ]]; then DEB=""; fi
mapfile -t names < <(cd "$BUILD/qemu" && ls qemu-*)
{
    printf 'key\tpayload\tfiles\traw\tgzip -9\txz -6\tzstd -19\n'
    printf 'default\t%s (default: build/qemu, %s, %s targets)\t%s\t%s\n' "$def" \
        "$([[ $kind == rebuilt ]] && echo "rebuilt here, static, no capstone" || echo "Debian's binaries")" \
        "${#names[@]}" "${#names[@]}" "$(comp "$BUILD"/qemu/qemu-*)"
    # Debian's own 10.0 binaries, every target the .deb has, as the image carried them.
    if [[ -n $DEB && $DEB != "$BUILD/qemu" ]]; then
        debs=("$DEB"/qemu-*)
        printf 'debian\tqemu-10 (Debian trixie'"'"'s binaries, static-pie, capstone: all %s targets)\t%s\t%s\n' \
            "${#debs[@]}" "${#debs[@]}" "$(comp "${debs[@]}")"
    fi
    fs=()
    for n in "${names[@]}"; do [[ -e /usr/bin/$n-static ]] && fs+=("$(readlink -f "/usr/bin/$n-static")"); done
    printf '72\tqemu-72 (bookworm, same targets as the default)\t%s\t%s\n' "${#fs[@]}" "$(comp -z "${fs[@]}")"
    fs=()
    for n in "${names[@]}"; do [[ -e $CACHE/qemu-11.1/$n ]] && fs+=("$CACHE/qemu-11.1/$n"); done
    ((${#fs[@]})) && printf '11\tqemu-11 (the pinned 11.1, same targets as the default)\t%s\t%s\n' "${#fs[@]}" "$(comp -z "${fs[@]}")"
    # BuildKit's probe set: arm64 riscv64 ppc64le s390x 386 mips64el loong64 arm
    fs=()
    for c in aarch64 riscv64 ppc64le s390x mips64el loongarch64 arm; do fs+=("$BUILD/qemu/qemu-$c"); done
    printf 'common7\t%s, the 7 emulators of tonistiigi/binfmt'"'"'s common set\t%s\t%s\n' "$def" "${#fs[@]}" "$(comp "${fs[@]}")"
    if [[ -n $DEB ]]; then
        printf 'aarch64.debian\tqemu-10 aarch64 as Debian builds it (static-pie, capstone)\t1\t%s\n' "$(comp "$DEB/qemu-aarch64")"
    fi
    if [[ -x $(payload_qemu 10pie aarch64) ]]; then
        printf 'aarch64.pie\tqemu-10pie aarch64: rebuilt without capstone, static-pie\t1\t%s\n' "$(comp "$(payload_qemu 10pie aarch64)")"
    fi
    if [[ -x $(payload_qemu 10nopie aarch64) ]]; then
        printf 'aarch64.nopie\tqemu-10nopie aarch64: rebuilt without capstone, static (no PIE)\t1\t%s\n' "$(comp "$(payload_qemu 10nopie aarch64)")"
    fi
} >"$T/totals.tsv"

# The installer image, when another engineer's `make image` has built it.
{
    if command -v buildah >/dev/null; then
        buildah images --format '{{.Name}}:{{.Tag}}|{{.Size}}' 2>/dev/null | grep -i binfmt-installer | tr '|' '\t' || true
    fi
    for s in /run/docker.sock /run/binfmt-e2e-docker.sock; do
        [[ -S $s ]] && docker -H "unix://$s" images --format '{{.Repository}}:{{.Tag}}|{{.Size}}' 2>/dev/null | grep -i binfmt-installer | tr '|' '\t' || true
    done
} | sort -u >"$T/images.tsv"
b_log "size: $(wc -l <"$T/per-emulator.tsv") emulators; images found: $(wc -l <"$T/images.tsv")"
