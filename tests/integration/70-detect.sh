#!/bin/bash
# Platform detection for real: probes executed chrooted in an empty directory
# against registrations in a private binfmt_misc instance, and every failure
# explained: no handler, no F flag, a missing interpreter, a crashing, hanging or
# misbehaving emulator, a disabled entry. Also --inspect's shape and order.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
BUILD_DIR=$(dirname "$(dirname "$BINFMT")")
host_state() { grep -w binfmt_misc /proc/self/mountinfo; ls -A /proc/sys/fs/binfmt_misc 2>&1; }
host_before=$(host_state)
[[ $(uname -m) == x86_64 ]] || skip_all "expectations are written for an x86_64 host"
for q in aarch64 riscv64 s390x ppc64le mips64el loongarch64; do
    [[ -x /usr/bin/qemu-$q-static ]] || skip_all "Debian's qemu-user-static is not installed"
done
for f in crash hang exit3; do
    [[ -x $BUILD_DIR/tests/fake-emu-$f ]] || skip_all "fake emulators not built (make unit)"
done
command -v python3 >/dev/null || skip_all "python3 needed to read JSON"
plan 26

export QEMU_BINARY_PATH=/usr/bin FAKES=$BUILD_DIR/tests
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-70-detect.XXXXXX")
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
export WORK
# What runs natively, from lib.sh's cpu-view (run as binfmt runs). linux/386 needs
# IA32 emulation, which a kernel can have configured (/proc/sys/abi/vsyscall32
# exists) and still refuse at run time: only a real 32-bit exec tells.
NATIVE=$NATIVE_PLATFORMS
I386=${I386_NATIVE:+ $I386_NATIVE}
export NATIVE I386
# The levels expected of binfmt come from tests/helpers/cpu-view run as binfmt runs
# (lib.sh), not from /proc/cpuinfo: a kernel may hide CPUID features from its flags
# (seen: no "abm" on a VM whose CPUID has LZCNT, which reads as v2 instead of v4),
# and a wrapper (valgrind) changes CPUID itself. What the helper can be checked
# against natively is the vendor the kernel names.
if [[ -z ${BINFMT_WRAPPER:-} ]]; then
    case $(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') in
    GenuineIntel) v=intel ;; AuthenticAMD) v=amd ;; *) v=other ;;
    esac
    t_is "cpu-view reads this CPU (its vendor is /proc/cpuinfo's)" "$(sed -n 's/.*vendor: \([a-z]*\).*/\1/p' <<<"$CPU_VIEW_REPORT")" "$v"
    [[ $(cpuinfo_amd64_levels) == "$AMD64_LEVELS" ]] ||
        diag "note: /proc/cpuinfo's flags give '$(cpuinfo_amd64_levels)', CPUID gives '$AMD64_LEVELS' (the kernel hides some features)"
else
    skip "binfmt runs under $BINFMT_WRAPPER: its CPU is the wrapper's, not the kernel's, by design"
fi

# supported as one line; --inspect's entry for one platform as "status|supported|reason".
supported() { "$BINFMT" --mount "$BM" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["supported"]))'; }
inspect_of() {
    "$BINFMT" --mount "$BM" --inspect | python3 -c '
import json, sys
for p in json.load(sys.stdin)["platforms"]:
    if p["platform"] == sys.argv[1]:
        print("%s|%s|%s" % (p["status"], str(p["supported"]).lower(), p["reason"] or ""))' "$1"
}
# A copy of an emulator in its own directory, to register from (root-owned here).
emu_dir() { # NAME FILE -> prints the dir holding qemu-NAME
    local d=$WORK/emu-$1
    mkdir -p "$d" && cp "$2" "$d/qemu-$1" && chmod 755 "$d/qemu-$1" && echo "$d"
}
export -f supported inspect_of emu_dir

checks() {
    local out d t0 t1 ms probe_ms
    "$BINFMT" --mount "$BM" --install arm64 >/dev/null 2>&1
    t_is "only arm64 installed: supported is native, linux/arm64, what else runs natively; not riscv64" \
        "$(supported)" "$NATIVE linux/arm64$I386"
    t_is "arm64 passes its chrooted probe" "$(inspect_of linux/arm64)" "ok|true|"
    t_like "riscv64 without a handler: exec format error, with the fix" "$(inspect_of linux/riscv64)" \
        '^no-handler\|false\|no handler: exec format error \(binfmt --install linux/riscv64\)$'

    # Without F the interpreter path means nothing inside the empty chroot.
    "$BINFMT" --mount "$BM" --install riscv64 --flags P >/dev/null 2>&1
    t_like "riscv64 registered without F: not supported, the reason says F" "$(inspect_of linux/riscv64)" \
        '^not-found\|false\|entry qemu-riscv64 has no F flag'
    t_unlike "riscv64 without F is not in supported" "$(supported)" 'riscv64'

    d=$(emu_dir s390x /usr/bin/qemu-s390x-static)
    "$BINFMT" --mount "$BM" --qemu-path "$d" --install s390x --flags P >/dev/null 2>&1
    rm -f "$d/qemu-s390x"
    t_like "interpreter deleted after a registration without F: the reason says it is missing" \
        "$(inspect_of linux/s390x)" "^not-found\|false\|interpreter $d/qemu-s390x of entry qemu-s390x is missing"

    d=$(emu_dir ppc64le "$FAKES/fake-emu-crash")
    "$BINFMT" --mount "$BM" --qemu-path "$d" --install ppc64le >/dev/null 2>&1
    t_like "an emulator that crashes: the reason names the signal" "$(inspect_of linux/ppc64le)" \
        '^signal\|false\|the emulator .*/qemu-ppc64le was killed by signal 11 \(Segmentation fault\)$'

    d=$(emu_dir loongarch64 "$FAKES/fake-emu-exit3")
    "$BINFMT" --mount "$BM" --qemu-path "$d" --install loong64 >/dev/null 2>&1
    t_like "an emulator that exits 3: the reason gives the exit code" "$(inspect_of linux/loong64)" \
        '^exit-code\|false\|the probe exited with 3 instead of 0'

    d=$(emu_dir mips64el "$FAKES/fake-emu-hang")
    "$BINFMT" --mount "$BM" --qemu-path "$d" --install mips64le >/dev/null 2>&1
    # The limit must fire, and not early: the probe is reported as "timeout" after at
    # least its 400 ms (the "ms" --inspect gives it). Without a limit the hang would
    # last forever, which the guard (300 s) turns into a failure; below it, the bounds
    # are 400 ms + 30 s for the probe and + 60 s for the whole detection (binfmt's own
    # start included), generous for a loaded 2-core machine under valgrind or
    # sanitizers: they tell a limit that fired from one that never did.
    t0=$(date +%s%N)
    out=$(BINFMT_PROBE_TIMEOUT_MS=400 timeout -k 10 300 "$BINFMT" --mount "$BM" --inspect | python3 -c '
import json, sys
for p in json.load(sys.stdin)["platforms"]:
    if p["platform"] == "linux/mips64le":
        print("%s|%s|%s|%s" % (p["status"], str(p["supported"]).lower(), p["reason"] or "", p["ms"]))')
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    probe_ms=${out##*|}
    out=${out%|*}
    t_like "an emulator that hangs: timeout" "$out" '^timeout\|false\|timeout'
    t_ok "...the 400 ms limit fired, not before its time (probe ${probe_ms:-?} ms, detection ${ms} ms)" \
        awk -v p="$probe_ms" -v t="$ms" 'BEGIN { exit !(p != "" && p + 0 >= 400 && p + 0 < 30400 && t >= 400 && t < 60400) }'
    t_is "...and no probe process is left behind" "$(pgrep -c -f "$WORK/emu-mips64el" || true)" 0

    echo 0 >"$BM/qemu-aarch64"
    t_like "a disabled entry: the reason says so" "$(inspect_of linux/arm64)" '^no-handler\|false\|entry qemu-aarch64 is disabled$'
    echo 1 >"$BM/qemu-aarch64"
    t_is "the same probes agree with supported" "$(supported)" "$NATIVE linux/arm64$I386"

    # --inspect: one object per probe, in probe order, with the same keys.
    out=$("$BINFMT" --mount "$BM" --inspect | python3 -c '
import json, sys
ps = json.load(sys.stdin)["platforms"]
print(" ".join(p["platform"] for p in ps))
keys = {",".join(k for k in p if k != "amd64_level") for p in ps}
print(";".join(sorted(keys)))
a = [p for p in ps if p["platform"] == "linux/arm64"][0]
print(a["entry"], a["interpreter"], a["flags"], a["qemu_version"])
n = [p for p in ps if p["platform"] == "linux/amd64"][0]
print(n["status"], n.get("amd64_level"))')
    t_is "--inspect lists every probe in BuildKit's order, then the others" "$(sed -n 1p <<<"$out")" \
        "linux/amd64 linux/arm64 linux/riscv64 linux/ppc64 linux/ppc64le linux/s390x linux/386 linux/mips64le linux/mips64 linux/loong64 linux/arm/v7 linux/mipsle linux/mips"
    t_is "--inspect objects all have the same keys, in order" "$(sed -n 2p <<<"$out")" \
        "platform,supported,status,entry,interpreter,flags,qemu_version,reason,ms"
    t_like "--inspect names the entry, interpreter, flags and QEMU version serving arm64" "$(sed -n 3p <<<"$out")" \
        '^qemu-aarch64 /usr/bin/qemu-aarch64-static PF [0-9]+\.[0-9]+\.[0-9]+$'
    t_is "--inspect: amd64 is native here, with its level" "$(sed -n 4p <<<"$out")" \
        "native v$(($(wc -w <<<"$AMD64_LEVELS") + 1))"

    # Everything installed (the broken ones replaced): BuildKit's order, then the rest.
    "$BINFMT" --mount "$BM" --uninstall all >/dev/null 2>&1
    "$BINFMT" --mount "$BM" --install all >/dev/null 2>&1
    t_is "all installed: supported in BuildKit's order, arm adds v7 and v6, then mipsle and mips" "$(supported)" \
        "$NATIVE linux/arm64 linux/riscv64 linux/ppc64 linux/ppc64le linux/s390x linux/386 linux/mips64le linux/mips64 linux/loong64 linux/arm/v7 linux/arm/v6 linux/mipsle linux/mips"
    out=$("$BINFMT" --mount "$BM" --inspect | python3 -c '
import json, sys
print(" ".join(p["status"] for p in json.load(sys.stdin)["platforms"]))')
    t_like "all installed: every probe ran and passed" "$out" '^native( ok){12}$'
    t_is "install all again: nothing to do, exit 0" "$("$BINFMT" --mount "$BM" --install all >/dev/null 2>&1; echo $?)" 0
    "$BINFMT" --mount "$BM" --uninstall all >/dev/null 2>&1
    t_is "after uninstall all: only what runs natively" "$(supported)" "$NATIVE$I386"
}
export -f checks
in_private_binfmt checks

# Probes chroot from a user namespace when the caller may not chroot itself.
if id nobody >/dev/null 2>&1 && setpriv --help >/dev/null 2>&1; then
    out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups "$BINFMT" --inspect 2>&1)
    t_like "unprivileged --inspect runs the probes (native amd64 found)" "$out" '"status": "native"'
    t_unlike "unprivileged --inspect: no probe failed to start" "$out" '"status": "not-run"'
else
    skip "no nobody user or setpriv" 2
fi

# The 386 probe really executes: it runs natively or not at all, in an empty private
# instance (the host's registry may hold a qemu-i386 entry, which would answer).
probe386() {
    "$BINFMT" --mount "$BM" --inspect | python3 -c '
import json, sys
print([p["status"] for p in json.load(sys.stdin)["platforms"] if p["platform"] == "linux/386"][0])'
}
export -f probe386
out=$(in_private_binfmt probe386)
if [[ -n $I386 ]]; then t_is "386 probe runs natively (IA32 emulation)" "$out" ok; else t_is "386 probe: no handler" "$out" no-handler; fi

t_is "the host's binfmt_misc mounts and registry are as they were" "$(host_state)" "$host_before"
