#!/bin/bash
# Section 3: start-up of `true` in the arm64 busybox rootfs, every way of running it,
# alternated (altbench), the default payload (build/qemu) everywhere:
#   bare-qemu        qemu-aarch64 ROOT/bin/busybox true            (no binfmt at all)
#   chroot+binfmt    chroot ROOT /bin/true, through a private instance's F entry, as a
#                    host with binfmt registered does it (entered with nsenter --user;
#                    nsenter-native is that entry cost alone, /bin/true natively)
#   unshare-oneliner unshare -Urm sh -c 'mount binfmt_misc; register; exec chroot ROOT /bin/true'
#   emu-run          emu-run --arch arm64 --rootfs ROOT -- /bin/true
#   proot-q          proot -q qemu-aarch64 -r ROOT /bin/true
#   native           the host's busybox true (what spawning costs here)
# docker run --platform is measured only when BENCH_DOCKER_HOST names a daemon whose
# containers use a private binfmt instance (a daemon of this host uses the host's
# registry, which the bench never touches).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${1:-$(b_runs 41 11)}
R=$ROOTFS_DIR/arm64
Q=$(payload_qemu 10 aarch64)
EMU=$BUILD/bin/emu-run
trap holders_stop EXIT
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
if [[ -n ${BENCH_DOCKER_HOST:-} ]]; then
    rows+=("docker-run=docker -H $BENCH_DOCKER_HOST run --rm --network=none --platform linux/arm64 ${BENCH_DOCKER_IMAGE:-bench-arm64} /bin/true")
else
    b_fact startup.docker "not measured: $(pgrep -x dockerd >/dev/null && echo "a dockerd runs here" || echo "no Docker daemon ran during this run (another engineer's test daemon comes and goes)"); the containers of a daemon on this host dispatch foreign binaries through the host's binfmt_misc registry, not a private instance, and the bench never touches the host's registry. Set BENCH_DOCKER_HOST to a daemon that runs inside a private instance (rootless, in a user namespace with its own binfmt_misc) to include it"
fi
for row in "${rows[@]}"; do b_cmd startup "${row%%=*}" "${row#*=}"; done
ab startup -r "$runs" -w 3 "${rows[@]}"
