#!/bin/bash
# Sections 4 and 5: RUN-like workloads in the arm64 and riscv64 busybox rootfs
# (bench/rootfs.sh: shell loop, sha256 of 64 MiB, 300 fork+exec of foreign children,
# tar+gzip of 2000 files), alternated per workload (altbench):
#   section "work":    emu-run vs bare QEMU vs proot -q vs docker run --platform vs
#                      native, the default payload (build/qemu, payload "def"); chroot+binfmt
#                      with it is the "version" row of its series (b_default_series:
#                      qemu-10nopie for the rebuilt payload, qemu-10 for Debian's)
#   section "version": chroot+binfmt with each payload (7.2 bookworm, Debian trixie's 10.0,
#                      the pinned 11.1, and the 10.0 rebuild without capstone if built), plus the
#                      default payload's series with other CPU models (arm64)
# plus a correctness sweep (part "check"): every runner's and payload's output (the
# first timed run's) must equal the native stand-in's (the host's busybox-static), and
# part "debian": ldconfig and dpkg --version in an arm64 Debian root per payload.
# Part "overhead": emu-run against bare QEMU only, many alternated pairs per workload
# (BENCH_OVERHEAD_RUNS, default 15): the 2% question needs more runs than this VM's noise
# allows the five-runner "work" part.
#   bench/workloads.sh [RUNS] [work|overhead|version|debian|check ...]
# BENCH_WORK_PARTS (default "work overhead version debian check") picks the parts when none is
# given; BENCH_WORKLOADS, BENCH_ARCHES and BENCH_PAYLOADS narrow them.
# The docker-run rows (docker run --rm --network=none --platform linux/ARCH
# -e W=/work -e BB=/bin/busybox -w /work bench-ARCH /bin/sh /work/W.sh) need the host's
# binfmt_misc registry: bench/docker.sh changes it under the host-registry lock for the
# "work" part only and restores it exactly at exit (see bench/startup.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/docker.sh"
runs=${1:-$(b_runs 3 1)}
# emu-run against bare QEMU is a 2% question: the "work" part takes more runs than the
# payload comparison (BENCH_WORK_RUNS overrides).
work_runs=${BENCH_WORK_RUNS:-$(b_runs 7 1)}
shift || true
parts=("$@")
((${#parts[@]})) || read -ra parts <<<"${BENCH_WORK_PARTS:-work overhead version debian check}"
EMU=$BUILD/bin/emu-run
WORKLOADS=(${BENCH_WORKLOADS:-loop sha forkexec targz})
ARCHES=(${BENCH_ARCHES:-arm64 riscv64})
PAYLOADS=(${BENCH_PAYLOADS:-$(payloads_available)})
# 10pie behaves as 10nopie once started; the workloads compare 10nopie only (execcost has both).
VPAYLOADS=()
for v in "${PAYLOADS[@]}"; do [[ $v == 10pie ]] || VPAYLOADS+=("$v"); done
trap bd_section_exit EXIT
for a in "${ARCHES[@]}"; do b_magic "$(deb2cpu "$a")" >/dev/null; done

# The default payload's series (its CPU-model rows): one of the compared payloads, else def.
DEF=$(b_default_series)
[[ " ${PAYLOADS[*]} " == *" $DEF "* ]] || DEF=def
# One holder per payload, registering that payload's emulators for every arch (pdef: the
# default payload, build/qemu, for the "work" part).
for v in def "${PAYLOADS[@]}"; do
    regs=()
    for a in "${ARCHES[@]}"; do
        c=$(deb2cpu "$a")
        regs+=("$(b_reg "qemu-$c" "$c" "$(payload_qemu "$v" "$c")")")
    done
    holder_start "p$v" "${regs[@]}"
done
emu_ok=0
if [[ -x $EMU ]] && "$EMU" --arch arm64 --rootfs "$ROOTFS_DIR/arm64" -- /bin/true >/dev/null 2>&1; then
    emu_ok=1
else
    b_fact work.emu-run "pending: $EMU missing or failing"
fi

# row LABEL RUNNER ARCH WORKLOAD [PAYLOAD] -> "LABEL=command" for altbench
row() {
    local label=$1 runner=$2 a=$3 w=$4 v=${5:-def} R=$ROOTFS_DIR/$3 c
    c=$(deb2cpu "$a")
    local Q
    Q=$(payload_qemu "$v" "$c")
    case $runner in
    native) echo "$label=W=$R/work BB=/bin/busybox /bin/busybox sh $R/work/$w.sh" ;;
    bare) echo "$label=W=$R/work BB=$R/bin/busybox $(in_holder "p$v") $Q $R/bin/busybox sh $R/work/$w.sh" ;;
    chroot) echo "$label=W=/work BB=/bin/busybox $(in_holder "p$v") chroot $R /bin/sh /work/$w.sh" ;;
    emu-run) echo "$label=$EMU --arch $a --rootfs $R --qemu $Q -e W=/work -e BB=/bin/busybox -- /bin/sh /work/$w.sh" ;;
    proot) echo "$label=W=/work BB=/bin/busybox proot -q $Q -r $R -w /work /bin/sh /work/$w.sh" ;;
    docker) echo "$label=$BD_DOCKER run --rm --network=none --platform linux/$a -e W=/work -e BB=/bin/busybox -w /work bench-$a /bin/sh /work/$w.sh" ;;
    esac
}

# Run one row's command once, printing its stdout (for the correctness sweep).
run_once() {
    local spec=${1#*=}
    eval "$spec" 2>/dev/null </dev/null
}

for part in "${parts[@]}"; do
    case $part in
    overhead)
        ((emu_ok)) || continue
        for a in "${ARCHES[@]}"; do
            for w in "${WORKLOADS[@]}"; do
                rows=("$(row "$a/$w/emu-run" emu-run "$a" "$w")" "$(row "$a/$w/bare-qemu" bare "$a" "$w")")
                for r in "${rows[@]}"; do b_cmd overhead "${r%%=*}" "${r#*=}"; done
                ab overhead -r "${BENCH_OVERHEAD_RUNS:-$(b_runs 15 3)}" -w 1 -k "${rows[@]}"
            done
        done
        ;;
    work)
        docker_ok=0
        if bd_start "${ARCHES[@]}"; then
            docker_ok=1
            bd_fact work
        else
            b_fact work.docker "docker-run not measured: $BD_WHY"
        fi
        for a in "${ARCHES[@]}"; do
            for w in "${WORKLOADS[@]}"; do
                rows=()
                ((emu_ok)) && rows+=("$(row "$a/$w/emu-run" emu-run "$a" "$w")")
                rows+=("$(row "$a/$w/bare-qemu" bare "$a" "$w")"
                    "$(row "$a/$w/proot-q" proot "$a" "$w")"
                    "$(row "$a/$w/native" native "$a" "$w")")
                ((docker_ok)) && rows+=("$(row "$a/$w/docker-run" docker "$a" "$w")")
                for r in "${rows[@]}"; do b_cmd work "${r%%=*}" "${r#*=}"; done
                mkdir -p "$RESULTS/out/work"
                ab work -r "$work_runs" -w 1 -k -O "$RESULTS/out/work" "${rows[@]}"
            done
        done
        # The host's registry back as soon as the docker rows are done.
        bd_stop || exit 1
        ;;
    version)
        for a in "${ARCHES[@]}"; do
            for w in "${WORKLOADS[@]}"; do
                rows=()
                for v in "${VPAYLOADS[@]}"; do rows+=("$(row "$a/$w/qemu-$v" chroot "$a" "$w" "$v")"); done
                if [[ $a == arm64 && ${BENCH_CPU_ROW:-1} == 1 ]]; then
                    # the default payload with other CPU models than its default (max):
                    # an ARMv8.0 core
                    r=$(row "$a/$w/qemu-$DEF cpu:cortex-a53" chroot "$a" "$w" "$DEF")
                    rows+=("${r%%=*}=QEMU_CPU=cortex-a53 ${r#*=}")
                    # all of max's features, with the cheap implementation-defined PAuth
                    r=$(row "$a/$w/qemu-$DEF cpu:max+pauth-impdef" chroot "$a" "$w" "$DEF")
                    rows+=("${r%%=*}=QEMU_CPU=max,pauth-impdef=on ${r#*=}")
                fi
                for r in "${rows[@]}"; do b_cmd version "${r%%=*}" "${r#*=}"; done
                mkdir -p "$RESULTS/out/version"
                ab version -r "$runs" -w 1 -k -O "$RESULTS/out/version" "${rows[@]}"
            done
        done
        ;;
    check)
        # The correctness sweep: the first timed run's output of every runner and payload
        # must equal the native stand-in's.
        out=$RESULTS/correctness.tsv
        for a in "${ARCHES[@]}"; do
            for w in "${WORKLOADS[@]}"; do
                ref=$RESULTS/out/work/${a}_${w}_native.out
                [[ -f $ref ]] || continue
                printf '%s\t%s\t%s\t%s\t%s\n' "$a" "$w" native "$(tr '\n' ' ' <"$ref")" ok >>"$out"
                for f in "$RESULTS"/out/work/"${a}_${w}"_*.out "$RESULTS"/out/version/"${a}_${w}"_*.out; do
                    [[ -f $f && $f != "$ref" ]] || continue
                    r=${f##*/}; r=${r#"${a}_${w}_"}; r=${r%.out}
                    [[ $f == */version/* ]] && r="chroot+binfmt/$r"
                    printf '%s\t%s\t%s\t%s\t%s\n' "$a" "$w" "$r" "$(tr '\n' ' ' <"$f")" \
                        "$(cmp -s "$f" "$ref" && echo ok || echo MISMATCH)" >>"$out"
                done
            done
        done
        b_log "correctness: $(grep -c MISMATCH "$out" || true) mismatches"
        ;;
    debian)
        # ldconfig and dpkg --version in an arm64 Debian root, chroot+binfmt per payload:
        # timed (alternated) and checked (dpkg's output, ld.so.cache identical everywhere).
        D=$CACHE/debroot-arm64
        if [[ ! -x $D/usr/bin/dpkg ]]; then
            b_fact debian.skipped "no arm64 Debian root (bench/rootfs.sh: mmdebstrap failed or BENCH_DEBROOT=0)"
            continue
        fi
        b_fact debian.root "$D: mmdebstrap --variant=extract --arch=arm64 --include=libc-bin,dpkg,coreutils,bash bookworm"
        rows=()
        for v in "${VPAYLOADS[@]}"; do
            rows+=("ldconfig/qemu-$v=$(in_holder "p$v") chroot $D /sbin/ldconfig"
                "dpkg--version/qemu-$v=$(in_holder "p$v") chroot $D /usr/bin/dpkg --version")
            rm -f "$D/etc/ld.so.cache"
            dv=$(holder_run "p$v" chroot "$D" /usr/bin/dpkg --version 2>&1) || dv="FAILED: $dv"
            dv=${dv%%$'\n'*}
            holder_run "p$v" chroot "$D" /sbin/ldconfig >/dev/null 2>&1 && lc=$(sha256sum <"$D/etc/ld.so.cache" | cut -c1-16) || lc=FAILED
            printf '%s\t%s\t%s\t%s\t%s\n' arm64 debian-root "chroot/$v" "$dv; ld.so.cache $lc" \
                "$([[ $dv == *"(arm64)"* && $lc != FAILED ]] && echo ok || echo MISMATCH)" >>"$RESULTS/correctness.tsv"
        done
        for r in "${rows[@]}"; do b_cmd debian "${r%%=*}" "${r#*=}"; done
        ab debian -r "$(b_runs 11 3)" -w 1 -k "${rows[@]}"
        ;;
    esac
done
