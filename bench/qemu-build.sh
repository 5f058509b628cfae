#!/bin/bash
# Optional, cached: the rebuilt QEMU payloads the bench compares, built by the packaging
# step qemu-static/build.sh with --keep-pie (Debian's pinned 10.0 source, Debian's
# patches, no capstone). Everything lands in build.sh's TOP, by default
# ${QEMU_STATIC_CACHE:-/var/cache/binfmt-installer/qemu}/build/<version>-<arch>:
#   TOP/out/qemu-<cpu>   static, not PIE: the rebuilt payload (`make qemu`'s default on
#                        amd64), bench payload "10nopie"
#   TOP/pie/qemu-<cpu>   the static-pie link of the same objects, bench payload "10pie"
#
#   bench/qemu-build.sh [--targets "aarch64 riscv64"] [--jobs N]
#
# Default targets: build.sh's (every manifest target but the host's own), i.e. the same
# configuration `make qemu` builds, so that TOP stays cached for both. Do not pass a
# smaller --targets for the shared TOP: build.sh keys its configuration by the target
# list, and another list wipes TOP/b and configures (and later rebuilds) it from scratch.
# When TOP/out is already built (by `make qemu`), adding TOP/pie is a relink only.
set -euo pipefail
export QS_PROG=${QS_PROG:-bench-qemu-build}
exec "$(dirname "${BASH_SOURCE[0]}")/../qemu-static/build.sh" --keep-pie "$@"
