#!/bin/bash
# Section 6: the cost of one foreign exec, per payload: a probe (binfmt's own minimal
# static arm64/riscv64 ELF whose first instruction is the exit system call) spawned and
# reaped, vs a native static exit(0) ELF: foreign - native = execve of the foreign
# binary to its first instruction (+ QEMU's exit). Also the probe under QEMU started
# directly (no binfmt_misc): foreign - direct = binfmt_misc's own share.
# All inside one holder whose private instance maps a file extension per payload
# (:q10a:E::p10a::qemu-aarch64:PF ...) so that a single altbench alternates payloads.
# Then section "gap": the start-up knobs (QEMU_CPU, QEMU_RESERVED_VA, QEMU_GUEST_BASE)
# on the direct start of the default payload (build/qemu, labelled by its series:
# qemu-10nopie for the rebuilt payload, qemu-10 for Debian's), and the phase breakdown
# from strace timestamps.
#   bench/execcost.sh [RUNS]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${1:-$(b_runs 61 15)}
PAYLOADS=(${BENCH_PAYLOADS:-$(payloads_available)})
T=$RESULTS/execcost
rm -rf "$T" && mkdir -p "$T"
trap holders_stop EXIT

"$BUILD/bench/mkprobe" linux/arm64 "$T/probe-arm64"
"$BUILD/bench/mkprobe" linux/riscv64 "$T/probe-riscv64"
printf '.globl _start\n_start: mov $60, %%eax\nxor %%edi, %%edi\nsyscall\n' |
    gcc -nostdlib -static -no-pie -o "$T/exit0" -x assembler -
regs=()
for v in "${PAYLOADS[@]}"; do
    for a in arm64 riscv64; do
        c=$(deb2cpu $a)
        ext=p$v${a:0:1}
        cp "$T/probe-$a" "$T/probe.$ext"
        regs+=("$(b_reg_ext "q$ext" "$ext" "$(payload_qemu "$v" "$c")")")
    done
done
holder_start x "${regs[@]}"

rows=("native-exit=$T/exit0")
for v in "${PAYLOADS[@]}"; do
    for a in arm64 riscv64; do
        ext=p$v${a:0:1}
        rows+=("$a/binfmt/qemu-$v=$T/probe.$ext" "$a/direct/qemu-$v=$(payload_qemu "$v" "$(deb2cpu $a)") $T/probe-$a")
    done
done
for r in "${rows[@]}"; do b_cmd exec "${r%%=*}" "${r#*=} (inside the holder: $(in_holder x))"; done
holder_run x "$ALTBENCH" -s exec -o "$RESULTS/samples.tsv" -r "$runs" -w 3 "${rows[@]}"

# --- what the start-up of each payload is made of -------------------------------------
# Knobs on the direct start of the arm64 probe.
krows=()
BB=$ROOTFS_DIR/arm64/bin/busybox
for v in "${PAYLOADS[@]}"; do
    Q=$(payload_qemu "$v" aarch64)
    krows+=("qemu-$v/probe=$Q $T/probe-arm64" "qemu-$v/busybox-true=$Q $BB true")
done
# The knobs on the default payload (build/qemu), under its series' name (qemu-10nopie for
# the rebuilt payload, qemu-10 for Debian's; the same files, b_default_series checks).
DEF=$(b_default_series)
[[ " ${PAYLOADS[*]} " == *" $DEF "* ]] || DEF=def
Q=$(payload_qemu "$DEF" aarch64)
if [[ $DEF == def ]]; then
    krows+=("qemu-def/probe=$Q $T/probe-arm64" "qemu-def/busybox-true=$Q $BB true")
fi
for cpu in cortex-a53 neoverse-n1 max,pauth-impdef=on; do
    krows+=("qemu-$DEF/probe cpu:${cpu//=/-}=QEMU_CPU=$cpu $Q $T/probe-arm64" "qemu-$DEF/busybox-true cpu:${cpu//=/-}=QEMU_CPU=$cpu $Q $BB true")
done
krows+=("qemu-$DEF/probe reserved_va:4G=QEMU_RESERVED_VA=0x100000000 $Q $T/probe-arm64"
    "qemu-$DEF/probe guest_base:1T=QEMU_GUEST_BASE=0x10000000000 $Q $T/probe-arm64")
Q=$(payload_qemu 72 aarch64)
krows+=("qemu-72/busybox-true cpu:cortex-a53=QEMU_CPU=cortex-a53 $Q $BB true")
Q=$(payload_qemu "$DEF" riscv64)
for cpu in rv64 max; do
    krows+=("qemu-$DEF-riscv64/probe cpu:$cpu=QEMU_CPU=$cpu $Q $T/probe-riscv64")
done
krows+=("qemu-$DEF-riscv64/probe=$Q $T/probe-riscv64")
for r in "${krows[@]}"; do b_cmd gap "${r%%=*}" "${r#*=}"; done
"$ALTBENCH" -s gap -o "$RESULTS/samples.tsv" -r "$runs" -w 3 "${krows[@]}"

# Facts per payload: file type, relative relocations, writable-after-relocation bytes,
# page faults and CPU time (perf stat), the default CPU model.
for v in "${PAYLOADS[@]}"; do
    Q=$(payload_qemu "$v" aarch64)
    ftype=$(file -b "$Q" | grep -oE 'static-pie linked|statically linked' || echo '?')
    relas=$(readelf -dW "$Q" 2>/dev/null | awk '/RELACOUNT/ {print $3}')
    relro=$(readelf -SW "$Q" | sed 's/\[ */[/' | awk '$2 == ".data.rel.ro" {print $6}')
    relro=$((16#${relro:-0}))
    pf=$(perf stat -x, -r 20 -e page-faults,task-clock "$Q" "$T/probe-arm64" 2>&1 >/dev/null |
        awk -F, '/page-faults/ {p=$1} /task-clock/ {t=$1} END {printf "%s %.2f", p, t}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$(payload_version "$v")" "$ftype" "${relas:-0}" "${relro:-0}" \
        "$(stat -c %s "$Q")" "$pf" >>"$T/payload-facts.tsv"
done

# Phases of one start (strace -ttt, medians of N runs; strace inflates syscall-dense
# phases, so read them as proportions): exec = execve to the first system call
# (kernel load + static-pie self-relocation + libc start), init = to opening the guest
# binary (QEMU's constructors, QOM types, options), cpu+tcg = to reading mmap_min_addr
# (TCG buffer, CPU model realisation), load+signals = to the guest's first system call
# (guest ELF, stack, 64 signal handlers), guest = to exit_group.
n=$(b_runs 15 5)
for v in "${PAYLOADS[@]}"; do
    Q=$(payload_qemu "$v" aarch64)
    for i in $(seq "$n"); do
        strace -ttt -o "$T/st.$v.$i" "$Q" "$T/probe-arm64" >/dev/null 2>&1 || true
        awk -v v="$v" '
            NR == 1 { t0 = $1 }
            NR == 2 { t1 = $1 }
            /openat\(.*probe-arm64/ && !t2 { t2 = $1 }
            /mmap_min_addr/ && !t3 { t3 = $1 }
            /rt_sigaction\(SIG/ { t4 = $1 }
            /exit_group/ { t5 = $1 }
            END { if (t2 && t3 && t5) printf "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", v,
                (t1-t0)*1e3, (t2-t1)*1e3, (t3-t2)*1e3, (t4-t3)*1e3, (t5-t4)*1e3 }' "$T/st.$v.$i" >>"$T/phases.tsv"
    done
    rm -f "$T"/st."$v".*
done
