#!/bin/bash
# Section 3: start-up of `true` in the arm64 busybox rootfs, every way of running it,
# alternated (altbench), the default payload (build/qemu, what `make qemu` staged) everywhere:
#   bare-qemu        qemu-aarch64 ROOT/bin/busybox true            (no binfmt at all)
#   chroot+binfmt    chroot ROOT /bin/true, through a private instance's F entry, as a
#                    host with binfmt registered does it (entered with nsenter --user;
#                    nsenter-native is that entry cost alone, /bin/true natively)
#   unshare-oneliner unshare -Urm sh -c 'mount binfmt_misc; register; exec chroot ROOT /bin/true'
#   emu-run          emu-run --arch arm64 --rootfs ROOT -- /bin/true
#   proot-q          proot -q qemu-aarch64 -r ROOT /bin/true
#   native           the host's busybox true (what spawning costs here)
#   docker-run       docker run --rm --network=none --platform linux/arm64 bench-arm64 /bin/true
#                    (the same rootfs imported as an arm64 image), on a private dockerd
#   docker-native    the same for a linux/amd64 image of the host's busybox-static: what
#                    the container alone costs, as nsenter-native is for chroot+binfmt
# Everything but the docker rows runs in private binfmt_misc instances (bench/lib.sh).
# The docker rows cannot: a dockerd's containers use the HOST's registry. For them
# bench/docker.sh takes the host-registry lock, snapshots the host's binfmt_misc,
# mounts it if needed, registers the default payload's arm64 and riscv64 emulators
# (binfmt --install, flags FP) and starts a private dockerd; at exit it stops the
# daemon, removes its data-root and restores the host's registry exactly (a listing
# that differs afterwards fails the section). BENCH_DOCKER=0 leaves the host alone (no
# docker rows); BENCH_DOCKER_HOST=URL uses that daemon instead, as it is.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${1:-$(b_runs 41 11)}
R=$ROOTFS_DIR/arm64
Q=$(payload_qemu def aarch64)
EMU=$BUILD/bin/emu-run
. "$(dirname "${BASH_SOURCE[0]}")/docker.sh"
trap bd_section_exit EXIT
b_magic aarch64 >/dev/null
REG=$(b_reg qemu-aarch64 aarch64 "$Q")
holder_start s10 "$REG"
mnt=$RESULTS/mnt-oneliner
mkdir -p "$mnt"

rows=(
    "bare-qemu=$Q $R/bin/busybox true"
    "chroot+binfmt=$(in_holder s10) chroot $R /bin/true"
    "nsenter-native=$(in_holder s10) /bin/true"
    "unshare-oneliner=REG='$REG' unshare --user --map-root-user --mount sh -c 'mount -t binfmt_misc binfmt_misc $mnt && printf %s \"\$REG\" >$mnt/register && exec chroot $R /bin/true'"
    "proot-q=proot -q $Q -r $R /bin/true"
    "native=busybox true"
)
if [[ -x $EMU ]] && "$EMU" --arch arm64 --rootfs "$R" -- /bin/true >/dev/null 2>&1; then
    rows=("emu-run=$EMU --arch arm64 --rootfs $R -- /bin/true" "${rows[@]}")
    b_fact startup.emu-run "measured ($("$EMU" --version 2>/dev/null | head -n1))"
else
    b_fact startup.emu-run "pending: $EMU missing or failing (emu-run --arch arm64 --rootfs ROOT -- /bin/true)"
fi
# An ordinary user's start-up, single ids against subordinate ids (issue 13): the
# same wrapper for both (a private mount namespace with the bench's own
# /etc/subuid and /etc/subgid bound over the host's, then nobody), so the
# difference is newuidmap + newgidmap and libsubid's lookup.
sub=$RESULTS/subids
mkdir -p "$sub" && chmod 755 "$sub"
printf 'nobody:%s:65536\n' 1100000 >"$sub/ranges"
: >"$sub/none"
chmod 644 "$sub/ranges" "$sub/none"
# The user's own root, as an ordinary user has it: unpacked by that user.
rm -rf "$sub/root" && mkdir -p "$sub/root" && cp -a "$R/bin" "$R/etc" "$sub/root/" && chown -R 65534:65534 "$sub/root"
as_nobody_cmd() {
    echo "unshare --mount --propagation private sh -c 'mount --bind $sub/$1 /etc/subuid && mount --bind $sub/$1 /etc/subgid && cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups $EMU --arch arm64 --rootfs $sub/root -- /bin/true'"
}
if ((EUID == 0)) && command -v newuidmap >/dev/null && [[ -x $EMU ]] &&
    sh -c "$(as_nobody_cmd ranges)" >/dev/null 2>&1 && sh -c "$(as_nobody_cmd none)" >/dev/null 2>&1; then
    rows+=("emu-run-user-single=$(as_nobody_cmd none)" "emu-run-user-subids=$(as_nobody_cmd ranges)")
    b_fact startup.subids "measured: emu-run as nobody with no subordinate range and with one of 65536 (newuidmap, newgidmap)"
else
    b_fact startup.subids "not measured: needs root and uidmap (newuidmap)"
fi
if bd_start arm64 native; then
    rows+=("docker-run=$BD_DOCKER run --rm --network=none --platform linux/arm64 bench-arm64 /bin/true"
        "docker-native=$BD_DOCKER run --rm --network=none --platform linux/amd64 bench-native /bin/true")
    b_fact startup.docker "measured: docker-run and docker-native (a linux/amd64 image of the host's busybox-static, the container without emulation)"
    bd_fact startup
else
    b_fact startup.docker "not measured: $BD_WHY"
fi
for row in "${rows[@]}"; do b_cmd startup "${row%%=*}" "${row#*=}"; done
ab startup -r "$runs" -w 3 "${rows[@]}"
