#!/bin/bash
# `make bench`: every benchmark of issue 6, then docs/benchmarks.md and docs/bench-*.png.
#
#   bench/run.sh [section...]     sections: install detect startup workloads execcost size compile
#                                 cpu
#
# Section cpu (bench/cpumodels.sh, issue 18) is not in the default list: QEMU CPU models
# (arm64 max neoverse-n1 cortex-a76 cortex-a53; riscv64 max rv64 rv64,v=true rva22u64
# rva23u64) on Debian trixie roots that tests/fixtures/debian-roots.sh makes on
# request (trixie-arm64-bench trixie-riscv64-bench: root, emulated mmdebstrap); python3
# start-up, apt-get install from a local cache, perl/sh, gzip, xz, gcc -O2, each model's
# output compared with max's. `bench/run.sh cpu` alone skips the busybox fixtures and
# payload staging the other sections need, and splices its section 9 into the existing
# $DOCS/benchmarks.md (bench/report.py --only cpu: from "## 9." to the next "## "
# heading, or before "## Goals" when missing) instead of rewriting the file from only
# this run's results, so the other sections' numbers stay as they were.
#
# Environment:
#   BENCH_QUICK=1            fewer runs (a few minutes instead of ~15)
#   BENCH_WAIT_QUIET=SECS    first wait up to SECS for a quiet machine (1-minute load
#                            average < 0.5); the report says whether it was quiet
#   BENCH_BUILD_QEMU=1       also build the 10.0 rebuilds (bench/qemu-build.sh: TOP/out,
#                            the rebuilt payload, and TOP/pie, its static-pie link; about
#                            25 minutes on 2 cores, cached, a relink only when `make qemu`
#                            built TOP/out); without it they are used when cached
#   BENCH_RESULTS=DIR        raw results (default build/bench-results)
#   BENCH_DOCS=DIR           where benchmarks.md and the charts go (default docs)
#   BENCH_DOCKER=0           no `docker run --platform` rows (the host's registry untouched)
#   BENCH_DOCKER_HOST=URL    take the docker rows on that daemon, as it is (bench/docker.sh)
#   BENCH_WORK_PARTS="..."   the workloads section's parts (default: work overhead version debian check)
#   BENCH_CPU_QEMU=DIR       section cpu: the payload to measure (default $BUILD/qemu)
# Payloads (bench/lib.sh): the default one is build/qemu, whatever `make qemu` staged
# (facts payload.default*); Debian's 10.0 binaries are staged into $BUILD/qemu-debian
# (qemu-static/stage.sh --payload debian, cached .deb) for the comparisons.
# Every comparison runs in private binfmt_misc instances (see bench/lib.sh), except the
# `docker run --platform` rows of the startup and workloads sections: a dockerd's
# containers use the host's registry. For those rows bench/docker.sh takes the shared
# host-registry lock (/run/lock/binfmt-installer-host-binfmt.lock), snapshots the host's
# binfmt_misc (tests/e2e/lib.sh), mounts it if needed, registers the default payload's
# arm64 and riscv64 emulators with `binfmt --install` and starts a private dockerd; when
# the rows are done it stops the daemon, removes its data-root, restores the host's
# registry exactly and compares the listing with the snapshot (a difference is an error).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DOCS=${BENCH_DOCS:-docs}
sections=("$@")
((${#sections[@]})) || sections=(install detect startup workloads execcost size compile)
start=$(date +%s)
# Only section cpu: it needs none of the fixtures below, and its report is spliced in.
only_cpu=1
for s in "${sections[@]}"; do [[ $s == cpu ]] || only_cpu=0; done

make -s all "$BUILD/bench/altbench" "$BUILD/bench/mkprobe" "$BUILD/bench/detect_bench" >&2
# (Section cpu alone with BENCH_CPU_QEMU=DIR measures that payload: no `make qemu` then.)
if ! ((only_cpu)) || [[ -z ${BENCH_CPU_QEMU:-} ]]; then
    [[ -x $BUILD/qemu/qemu-aarch64 ]] || make -s qemu >&2
fi
if ((!only_cpu)); then
bench/fetch.sh
bench/rootfs.sh
if [[ ${BENCH_BUILD_QEMU:-0} == 1 ]]; then bench/qemu-build.sh; fi
# Debian's own 10.0 binaries (payload "10"), whichever payload build/qemu holds.
# Idempotent: nothing is downloaded or written when the directory already matches.
if [[ -x $BUILD/bin/elfcheck ]]; then export ELFCHECK=${ELFCHECK:-$BUILD/bin/elfcheck}; fi
qemu-static/stage.sh --payload debian --out "$BUILD/qemu-debian" >&2 ||
    b_log "warning: staging Debian's 10.0 payload into $BUILD/qemu-debian failed: no qemu-10 rows"
fi

if [[ -n ${BENCH_WAIT_QUIET:-} ]]; then
    deadline=$(($(date +%s) + BENCH_WAIT_QUIET))
    while ! b_quiet && (($(date +%s) < deadline)); do
        b_log "load $(b_load): waiting for a quiet machine (until $(date -d @$deadline +%T))"
        sleep 60
    done
fi

rm -rf "$RESULTS" && mkdir -p "$RESULTS"
b_fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
b_fact results "${RESULTS#"$B_ROOT"/}"
b_fact mode "$([[ $QUICK == 1 ]] && echo 'quick (BENCH_QUICK=1)' || echo full)"
b_fact load.start "$(cut -d' ' -f1-3 /proc/loadavg)"
b_quiet && b_fact quiet yes || b_fact quiet no
b_fact machine.cpu "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
b_fact machine.memory "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
b_fact machine.kernel "$(uname -srm)"
b_fact machine.os "$(. /etc/os-release && echo "$PRETTY_NAME")"
b_fact machine.thp "$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
b_fact version.binfmt "$("$BUILD/bin/binfmt" --version 2>&1 | tr '\n' ' ')"
[[ -x $BUILD/bin/emu-run ]] && b_fact version.emu-run "$("$BUILD/bin/emu-run" --version 2>&1 | head -n1)"
for v in $(payloads_available); do b_fact "version.qemu-$v" "$(payload_version "$v") — $(payload_qemu "$v" aarch64)"; done
# The default payload (build/qemu): which kind, and which compared series it is.
b_fact payload.default "$(b_default_kind)"
b_fact payload.default.series "qemu-$(b_default_series)"
b_fact payload.default.what "$(payload_version def) — ${BUILD#"$B_ROOT"/}/qemu, $(ls "$BUILD"/qemu/qemu-* | wc -l) emulators ($(grep -E '^(package|package_version|payload)=' "$BUILD/qemu/VERSION" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'))"
b_fact version.busybox-native "$(busybox | head -n1 | cut -d' ' -f1-3) ($(dpkg-query -W -f '${Package} ${Version}' busybox-static))"
if ((!only_cpu)); then
b_fact version.busybox-arm64 "$(cat "$BUSYBOX_FIXTURES/arm64/VERSION")"
b_fact version.busybox-riscv64 "$(cat "$BUSYBOX_FIXTURES/riscv64/VERSION")"
fi
b_fact version.docker.io "$(dpkg-query -W -f '${Version}' docker.io 2>/dev/null) (containerd $(dpkg-query -W -f '${Version}' containerd 2>/dev/null), runc $(dpkg-query -W -f '${Version}' runc 2>/dev/null))"
b_fact version.proot "$(dpkg-query -W -f '${Version}' proot 2>/dev/null)"
b_fact version.systemd "$(dpkg-query -W -f '${Version}' systemd 2>/dev/null)"
b_fact version.binfmt-support "$(ls "$CACHE"/apt-bookworm/dl/binfmt-support_*.deb 2>/dev/null | sed 's/.*binfmt-support_//;s/_.*//') (unpacked in $CACHE/binfmt-support)"
b_fact version.qemu-binfmt-conf.sh "$(cat "$CACHE/qemu-binfmt-conf.sh.SOURCE" 2>/dev/null)"
b_fact version.util-linux "$(unshare --version)"
((only_cpu)) || b_fact work.loop_n "$(grep -o 'lt [0-9]*' "$ROOTFS_DIR/arm64/work/loop.sh" | cut -d' ' -f2)"

for s in "${sections[@]}"; do
    b_log "== $s (load $(b_load), $(($(date +%s) - start)) s so far)"
    case $s in
    install) bench/install.sh ;;
    detect)
        b_fact detect.what "$(grep -c . <<<"$(BENCH_TSV="$RESULTS/samples.tsv" bench/detect.sh "$(b_runs 31 9)" 2>&1 | tee "$RESULTS/detect.txt")" >/dev/null; sed -n 2p "$RESULTS/detect.txt"); all 13 probes, every emulator of the payload installed in a private instance (bench/detect.sh)"
        ;;
    startup) bench/startup.sh ;;
    compile) bench/compile.sh ;;
    workloads) bench/workloads.sh ;;
    execcost) bench/execcost.sh ;;
    size) bench/size.sh ;;
    cpu) bench/cpumodels.sh ;;
    *) b_die "unknown section $s" ;;
    esac
done
b_fact load.end "$(cut -d' ' -f1-3 /proc/loadavg)"
b_fact duration "$(($(date +%s) - start)) s"
if ((only_cpu)); then
    python3 bench/report.py "$RESULTS" "$DOCS" --only cpu
else
    python3 bench/report.py "$RESULTS" "$DOCS"
fi
b_log "done in $(($(date +%s) - start)) s: $DOCS/benchmarks.md"
