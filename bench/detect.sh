#!/bin/bash
# Detection bench (issue 3): every emulator of the default payload (build/qemu,
# else /usr/bin) installed into a private binfmt_misc instance, then all probes
# run in parallel vs sequentially, alternated. Usage: bench/detect.sh [RUNS]
# BENCH_TSV=FILE also appends every sample to FILE (used by bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s all "$BUILD/bench/detect_bench" >/dev/null
runs=${1:-31}
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$BUILD/bin/binfmt" --version | sed -n 2p
unshare --user --map-root-user --mount --propagation private bash -c '
    set -e
    d=$(mktemp -d); mount -t binfmt_misc binfmt_misc "$d"
    "$1/bin/binfmt" --mount "$d" --install all >/dev/null 2>&1
    mount --bind "$d" /proc/sys/fs/binfmt_misc 2>/dev/null || true
    "$1/bench/detect_bench" "$2"
' bench "$BUILD" "$runs"
