#!/bin/bash
# emu-run's CPU model (issue 18): the default per target (cpu.c: neoverse-n1 for arm64,
# rva23u64 for riscv64 where the QEMU lists it, QEMU's own elsewhere), --cpu MODEL[,props], and how it reaches QEMU: on the command
# line of QEMU, by the launcher emu-run registers as its private entry's interpreter
# (emu-runner/launcher/emu-run-accel.c), never in the step's environment, which stays
# exactly BuildKit's; QEMU_CPU only where no launcher can be used (a host command
# without --rootfs, the host's registration), and the step's own QEMU_CPU wins.
#
# Which model QEMU really ran is read from the guest's AT_HWCAP/AT_HWCAP2
# (/proc/self/auxv, which QEMU builds from the emulated CPU's features), and the
# expected value from the same QEMU run bare on the host with -cpu MODEL: nothing of
# emu-run's. The launcher's argv handling (binfmt_misc's P flag: argv[0] as given;
# spaces; empty arguments; its table or QEMU missing) is checked on the built launcher
# directly, with a QEMU that prints its argv, in a mount namespace of its own. The
# trixie part: one real step (gcc, dpkg, gzip, perl) in the cached trixie arm64 root
# gives the same bytes under the default as under --cpu max. The host's registry is
# compared at the end.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
Q=/usr/bin/qemu-aarch64-static
QRV=/usr/bin/qemu-riscv64-static
[[ -x $Q && -x $QRV ]] || skip_all "Debian's qemu-user-static is not installed"
L=$BUILD/libexec/emu-run-accel
[[ -x $L ]] || skip_all "the launcher is not built at $L (make)"
plan 44

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80c.XXXXXX")
on_exit rm -rf "$WORK"
chmod 755 "$WORK"
host_before=$(host_listing)
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
ln -s busybox "$R/bin/od"
mkdir -p "$R/a b" && ln -s /bin/busybox "$R/a b/bb"
RV=$WORK/rv
emu_make_rootfs "$RV" riscv64 || bail_out "cannot build the riscv64 rootfs"
ln -s busybox "$RV/bin/od"
A=(--arch arm64 --rootfs "$R" --qemu "$Q")
has() { [[ $1 == *"$2"* ]]; }
has2() { has "$1" "$2" && has "$1" "$3"; }

# AT_HWCAP and AT_HWCAP2 of the guest program that reads them, one line.
HW='od -An -tx8 -w16 /proc/self/auxv | grep -E "^ 0{14}(10|1a) " | tr -s " " | paste -sd" " -'
oracle() { # QEMU MODEL (""): the same read, QEMU run bare on the host
    local q=$1 m=$2 bb=$R/bin/busybox
    [[ $q == "$QRV" ]] && bb=$RV/bin/busybox
    # QEMU runs od itself (a child would need binfmt_misc); the rest is the host's.
    "$q" ${m:+-cpu "$m"} "$bb" od -An -tx8 -w16 /proc/self/auxv 2>&1 | grep -E "^ 0{14}(10|1a) " | tr -s " " |
        paste -sd" " -
}
HW_N1=$(oracle "$Q" neoverse-n1)
HW_MAX=$(oracle "$Q" max)
HW_DEF=$(oracle "$Q" "")
HW_A53=$(oracle "$Q" cortex-a53)
HW_NOSVE=$(oracle "$Q" max,sve=off)
note "AT_HWCAP/AT_HWCAP2 from bare $Q: neoverse-n1 '$HW_N1', max '$HW_MAX', QEMU's default '$HW_DEF', cortex-a53 '$HW_A53', max,sve=off '$HW_NOSVE'"
[[ -n $HW_N1 && $HW_N1 != "$HW_MAX" && $HW_A53 != "$HW_N1" && $HW_NOSVE != "$HW_MAX" ]] ||
    bail_out "the models' AT_HWCAP do not tell them apart here: nothing below could show which ran"

# --- the launcher itself -----------------------------------------------------------------
# Its own mount namespace with a tmpfs over /dev: ACCEL_DIR (/dev/.emu-run-accel) is made
# there, with a table and a "qemu" that prints what it was given.
launch() { # TABLE(- for none) ENV... -- ARGS...: run the launcher; OUT ERR RC
    local table=$1
    shift
    printf '%s' "$table" >"$WORK/table"
    cat >"$WORK/fakeqemu" <<'EOF'
#!/bin/sh
printf '[%s]\n' "$0" "$@"
env | grep '^QEMU_CPU=' || true
EOF
    chmod 755 "$WORK/fakeqemu"
    run unshare --user --map-root-user --mount --propagation private -- env W="$WORK" L="$L" NOTABLE="$([[ $table == - ]] && echo 1)" bash -c '
        mount -t tmpfs none /dev || exit 99
        mkdir /dev/.emu-run-accel
        [[ -n $NOTABLE ]] || cp "$W/table" /dev/.emu-run-accel/tools
        cp "$W/fakeqemu" /dev/.emu-run-accel/fakeqemu
        e=(); while [[ $1 != -- ]]; do e+=("$1"); shift; done; shift
        exec env -i "${e[@]}" "$L" "$@"' launch "$@"
}
TQ=$'qemu\t/dev/.emu-run-accel/fakeqemu\n'
launch - -- "/x y/prog" "my argv0" a
t_is "launcher without its table: 126, one line naming the table" "$RC|$OUT|$ERR" \
    "126||emu-run-accel: /dev/.emu-run-accel/tools: No such file or directory (the launcher of emu-run's private binfmt_misc entry)"
launch $'cpu\tcortex-a53\n' -- "/x y/prog" "my argv0" a
t_is "launcher with a table without a qemu line: 126, one line" "$RC|$OUT|$ERR" \
    "126||emu-run-accel: /dev/.emu-run-accel/tools: no qemu line: Invalid argument (the launcher of emu-run's private binfmt_misc entry)"
launch "$TQ" -- "/x y/prog"
t_is "launcher run without the P flag's three arguments: 126, one line" "$RC|$OUT|$ERR" \
    "126||emu-run-accel: run by emu-run's binfmt_misc entry only: Invalid argument (the launcher of emu-run's private binfmt_misc entry)"
launch $'qemu\t/dev/.emu-run-accel/gone\ncpu\tcortex-a53\n' -- "/x y/prog" "my argv0" a
t_is "launcher whose QEMU is missing: 126, one line naming it" "$RC|$OUT|$ERR" \
    "126||emu-run-accel: /dev/.emu-run-accel/gone: No such file or directory (the launcher of emu-run's private binfmt_misc entry)"
launch "$TQ"$'cpu\tcortex-a53\n' -- "/x y/prog" "my argv0" "a b" "" c
t_is "launcher with a cpu line: QEMU -cpu MODEL -0 ARGV0 FILE ARGS (spaces, empty argument kept), no QEMU_CPU" \
    "$RC|$(paste -sd' ' <<<"$OUT")|$ERR" \
    "0|[/dev/.emu-run-accel/fakeqemu] [-cpu] [cortex-a53] [-0] [my argv0] [/x y/prog] [a b] [] [c]|"
launch "$TQ"$'cpu\tcortex-a53\n' QEMU_CPU=max -- "/x y/prog" "my argv0" a
t_is "launcher, the exec's environment has QEMU_CPU: no -cpu (QEMU reads it), the environment passed on" \
    "$RC|$(paste -sd' ' <<<"$OUT")" "0|[/dev/.emu-run-accel/fakeqemu] [-0] [my argv0] [/x y/prog] [a] QEMU_CPU=max"
launch "$TQ" -- "/x y/prog" "my argv0" a
t_is "launcher with no cpu line: QEMU -0 ARGV0 FILE ARGS" "$RC|$(paste -sd' ' <<<"$OUT")" \
    "0|[/dev/.emu-run-accel/fakeqemu] [-0] [my argv0] [/x y/prog] [a]"
# As many arguments as a RUN step may pass (the kernel's limit is the stack's quarter).
launch "$TQ"$'cpu\tmax\n' -- "/x y/prog" a0 $(seq 1 100000)
t_is "launcher with 100000 arguments: all passed on, in order" \
    "$RC|$(wc -l <<<"$OUT")|$(sed -n '6p;$p' <<<"$OUT" | paste -sd' ')" "0|100006|[/x y/prog] [100000]"

# --- the default for arm64, through emu-run ---------------------------------------------
emu --verbose "${A[@]}" --shell "$HW"
t_is "arm64 --rootfs, no --cpu: the step runs on neoverse-n1 (AT_HWCAP as bare QEMU's -cpu neoverse-n1)" \
    "$OUT|$RC" "$HW_N1|0"
t_isnt "... which is not QEMU's max" "$OUT" "$HW_MAX"
t_ok "--verbose names the model, that it is the default, and how it is passed" has "$ERR" \
    "emu-run: cpu: neoverse-n1 (emu-run's default for this target; --cpu max for QEMU's own), passed by the launcher as -cpu: the step's environment has no QEMU_CPU"
t_like "--verbose: the private entry's interpreter is the launcher (flags PF)" "$ERR" \
    "registered: :qemu-aarch64:M::.*:/dev/.emu-run-accel/launcher:PF"

# The environment: exactly the documented BuildKit set, whatever the model.
ENV_KEYS="BUILDARCH BUILDOS BUILDPLATFORM BUILDVARIANT HOME PATH TARGETARCH TARGETOS TARGETPLATFORM TARGETVARIANT"
emu "${A[@]}" -- env
env_def=$(sort <<<"$OUT")
t_is "the step's environment under the default: the BuildKit variables only (no QEMU_CPU)" \
    "$(sed 's/=.*//' <<<"$env_def" | paste -sd' ' -)|$RC" "$ENV_KEYS|0"
emu "${A[@]}" --cpu cortex-a53 -- env
t_is "--cpu cortex-a53: the same environment, byte for byte" "$(sort <<<"$OUT")|$RC" "$env_def|0"
emu "${A[@]}" --cpu max -- env
t_is "--cpu max: the same environment, byte for byte" "$(sort <<<"$OUT")|$RC" "$env_def|0"

# --- --cpu MODEL[,properties] ---------------------------------------------------------------
emu --verbose "${A[@]}" --cpu cortex-a53 --shell "$HW"
t_is "--cpu cortex-a53: the step runs on it" "$OUT|$RC" "$HW_A53|0"
t_ok "--verbose: --cpu's model, passed by the launcher" has "$ERR" \
    "emu-run: cpu: cortex-a53 (--cpu), passed by the launcher as -cpu"
emu "${A[@]}" --cpu max --shell "$HW"
t_is "--cpu max (the compatibility choice): QEMU's max" "$OUT|$RC" "$HW_MAX|0"
emu "${A[@]}" --cpu max,sve=off --shell "$HW"
t_is "--cpu max,sve=off: the properties reach QEMU (SVE's bit gone)" "$OUT|$RC" "$HW_NOSVE|0"
emu "${A[@]}" --cpu $'max\tsve=off' --shell 'touch /ran-ctl; echo ran'
t_is "--cpu with a control character: 125, one line, nothing run" "$RC|$OUT|$ERR|$([[ -e $R/ran-ctl ]] && echo ran)" \
    "125||emu-run: --cpu: a model name of 1 to 200 bytes without control characters is expected (see: $Q -cpu help)|"

# --- the step's own QEMU_CPU ------------------------------------------------------------------
emu --verbose "${A[@]}" -e QEMU_CPU=cortex-a53 --shell "$HW; echo \$QEMU_CPU"
t_is "-e QEMU_CPU=cortex-a53: QEMU reads it (the launcher passes no -cpu), and the step sees its own variable" \
    "$(paste -sd'|' <<<"$OUT")|$RC" "$HW_A53|cortex-a53|0"
t_ok "--verbose says the step's QEMU_CPU chooses" has "$ERR" "emu-run: cpu: the step's own QEMU_CPU"
emu "${A[@]}" --shell "QEMU_CPU=cortex-a53 sh -c '$HW'; $HW"
t_is "a step that sets QEMU_CPU for one child: that child on cortex-a53, the next on the default" \
    "$(paste -sd'|' <<<"$OUT")|$RC" "$HW_A53|$HW_N1|0"

# --- argv through the launcher (binfmt_misc's P flag) ----------------------------------------
emu "${A[@]}" --shell 'exec -a "my name" "/a b/bb"'
t_is "argv[0] is the step's own ('my name'), not the path: busybox says so, 127" "$OUT|$ERR|$RC" \
    "|my name: applet not found|127"
emu "${A[@]}" --shell 'exec -a echo "/a b/bb" "x  y" "" z'
t_is "a program at a path with a space, run as 'echo' with spaced and empty arguments" "$OUT|$RC" "x  y  z|0"

# --- where no launcher can be used -------------------------------------------------------------
emu --verbose --arch arm64 --qemu "$Q" -- "$R/bin/busybox" sh -c "${HW//od /$R/bin/busybox od }"
t_is "a host command (no --rootfs), no --cpu: QEMU's default, not emu-run's" "$OUT|$RC" "$HW_DEF|0"
t_ok "--verbose says why" has "$ERR" "emu-run: cpu: QEMU's default: emu-run's default neoverse-n1 is for --rootfs and --image steps"
emu --verbose --arch arm64 --qemu "$Q" --cpu cortex-a53 -- "$R/bin/busybox" sh -c "${HW//od /$R/bin/busybox od }; echo \$QEMU_CPU"
t_is "a host command with --cpu cortex-a53: QEMU_CPU in its environment, and QEMU runs that model" \
    "$(paste -sd'|' <<<"$OUT")|$RC" "$HW_A53|cortex-a53|0"
# The host's registration (path 2): a user namespace whose own instance, mounted at the
# usual place, is the "host's" (as in 80-emu-run-options.sh), with an entry for $Q with
# flags FP, as binfmt --install registers (without P, busybox's applets, which exec
# /proc/self/exe with the applet's name as argv[0], lose it).
export MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
export MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' HOSTQEMU=$Q
visible() {
    unshare --user --map-root-user --mount --propagation private -- bash -c '
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 99
        printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:$HOSTQEMU:FP" >/proc/sys/fs/binfmt_misc/register || exit 98
        "$@"' visible "$@"
}
run visible env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --verbose "${A[@]}" --cpu cortex-a53 --shell "$HW; echo \$QEMU_CPU"
t_is "the host's registration with --cpu cortex-a53: QEMU_CPU in the step's environment, and that model runs" \
    "$(paste -sd'|' <<<"$OUT")|$RC|$(grep -o '(path [0-9])' <<<"$ERR")" "$HW_A53|cortex-a53|0|(path 2)"
run visible env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --verbose "${A[@]}" --shell "$HW; echo \"[\$QEMU_CPU]\""
t_is "the host's registration, no --cpu: QEMU's default and no QEMU_CPU (a default never leaks into the environment)" \
    "$(paste -sd'|' <<<"$OUT")|$RC" "$HW_DEF|[]|0"

# The launcher cannot be registered (faked: tests/faults/errno_shim.c fails emu-run's
# second write to its private instance's register file, the launcher's, with EACCES; the
# kernel's own answer for an interpreter it cannot execute): emu-run says so and falls back.
SHIM=$BUILD/tests/errno_shim.so
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
if [[ -f $SHIM ]]; then
    ERRNO_SHIM_REGISTER=EACCES@2 LD_PRELOAD=$SHIM emu --verbose "${A[@]}" --cpu cortex-a53 --shell "$HW; echo \$QEMU_CPU"
    t_is "launcher not registered, --cpu cortex-a53: that model through QEMU_CPU in the step's environment" \
        "$(paste -sd'|' <<<"$OUT")|$RC" "$HW_A53|cortex-a53|0"
    t_ok "...and --verbose says why and how" has2 "$ERR" \
        "emu-run: accel: no launcher to pass the CPU model: the kernel cannot open interpreter /dev/.emu-run-accel/launcher" \
        "emu-run: cpu: cortex-a53 (--cpu), as QEMU_CPU in the step's environment: no launcher"
    ERRNO_SHIM_REGISTER=EACCES@2 LD_PRELOAD=$SHIM emu --verbose "${A[@]}" --shell "$HW; echo \"[\$QEMU_CPU]\""
    t_is "launcher not registered, no --cpu: QEMU's default, nothing in the environment, and --verbose says so" \
        "$(paste -sd'|' <<<"$OUT")|$RC|$(grep -o 'emu-run: cpu: .*' <<<"$ERR")" \
        "$HW_DEF|[]|0|emu-run: cpu: QEMU's default: emu-run's default neoverse-n1 needs the launcher of its private binfmt_misc instance"
    # The QEMU entry cannot be put back either (every register write from the second
    # on fails): no step of this target could run, so it is refused, with both reasons.
    ERRNO_SHIM_REGISTER=EACCES@2+ LD_PRELOAD=$SHIM emu --verbose "${A[@]}" --shell "echo ran"
    t_is "launcher and QEMU entry both unregistrable: the step is refused (125), never run, both reasons named" \
        "$RC|$OUT|$(grep -c 'the kernel cannot open interpreter /dev/.emu-run-accel/launcher.*; and the QEMU entry could not be put back: .*/dev/.emu-run-accel/qemu' <<<"$ERR")" "125||1"
else
    skip "$SHIM not built (make unit)" 4
fi

# --- riscv64: rva23u64 where the QEMU has it, QEMU's own where it does not --------------------
# Debian 12's QEMU 7.2 has no RISC-V profiles: the default is not used there.
# (The listing read whole: grep -q would stop early, and pipefail count QEMU's SIGPIPE.)
if grep -qx '  rva23u64' <<<"$("$QRV" -cpu help 2>/dev/null)"; then
    t_fail "Debian's $QRV lists rva23u64: this point expects a QEMU without it (7.2)"
else
    emu --verbose --arch riscv64 --rootfs "$RV" --qemu "$QRV" --shell "$HW"
    t_is "riscv64 on a QEMU without rva23u64 (Debian 12's 7.2): QEMU's own default, and --verbose says why" \
        "$OUT|$RC|$(grep -o 'emu-run: cpu: .*' <<<"$ERR")" \
        "$(oracle "$QRV" "")|0|emu-run: cpu: QEMU's default: emu-run's default rva23u64 is not used: this QEMU does not list it (-cpu help)"
fi
# The staged payload (QEMU 10.0) has it. Which model ran: the isa line of /proc/cpuinfo,
# which QEMU builds from the emulated CPU (AT_HWCAP has only the single-letter
# extensions, the same for max and rva23u64).
QRV10=$BUILD/qemu/qemu-riscv64
ISA='grep -m1 "^isa" /proc/cpuinfo'
if [[ -x $QRV10 ]] && grep -qx '  rva23u64' <<<"$("$QRV10" -cpu help 2>/dev/null)"; then
    isa_rva23=$("$QRV10" -cpu rva23u64 "$RV/bin/busybox" grep -m1 '^isa' /proc/cpuinfo 2>&1)
    isa_max=$("$QRV10" -cpu max "$RV/bin/busybox" grep -m1 '^isa' /proc/cpuinfo 2>&1)
    emu --verbose --arch riscv64 --rootfs "$RV" --qemu "$QRV10" --shell "$ISA"
    t_is "riscv64 on the staged payload, no --cpu: rva23u64 (its isa line, as bare QEMU's -cpu rva23u64), not max" \
        "$OUT|$RC|$([[ $isa_rva23 != "$isa_max" ]] && echo differs)" "$isa_rva23|0|differs"
    t_ok "... and --verbose names it as the default" has "$ERR" \
        "emu-run: cpu: rva23u64 (emu-run's default for this target; --cpu max for QEMU's own), passed by the launcher"
else
    skip "no staged payload QEMU with rva23u64 at $QRV10 (make qemu)" 2
fi

# --- trixie roots: the same bytes under the default as under max ---------------------------
# Which model ran is told apart by the isa line of /proc/cpuinfo (QEMU builds it from the
# emulated CPU, for arm64 its Features line; 7.2 passes the host's through on arm64, so
# AT_HWCAP there). QEMU: emu-run's default choice (the staged payload, else Debian's).
STEP='cd /tmp && printf "%s\n" "#include <stdio.h>" "static int f(int x) { return x * 3 + 1; }" \
    "int main(void) { for (int i = 0; i < 5; i++) printf(\"%d\\n\", f(i)); return 0; }" >h.c &&
    gcc -O2 -c h.c -o h.o && sha256sum h.o && gcc -o h h.o && ./h | paste -sd, - &&
    dpkg -l | sha256sum && gzip -9c /usr/bin/dpkg | sha256sum &&
    perl -e "my \$s = 0; \$s += \$_ * \$_ for 1 .. 100000; print \"\$s\n\"" &&
    sort -r /var/lib/dpkg/status | sha256sum && echo "$(ls /usr/lib/*-linux-gnu | wc -l) libs"'
CPUID='{ od -An -tx8 -w16 /proc/self/auxv | grep -E "^ 0{14}10 "; grep -m1 -E "^(isa|Features)" /proc/cpuinfo; }'
trixie_same() { # ARCH NAME DEFAULT
    local a=$1 name=$2 model=$3 T=$WORK/$2 tar=$FIXTURES/debian/$2.tar def out_def
    if ((EUID != 0)); then
        skip "not root: the $name root is unpacked with its owners" 3
        return
    elif [[ ! -s $tar ]]; then
        skip "no $name root cached in $FIXTURES/debian (run tests/fixtures/debian-roots.sh as root)" 3
        return
    fi
    mkdir -p "$T" && tar -C "$T" -xpf "$tar" --exclude='./dev/*'
    emu --verbose --arch "$a" --rootfs "$T" --accel off -- sh -c "$CPUID"
    def=$OUT
    if ! has "$ERR" "emu-run: cpu: $model (emu-run's default"; then
        skip "$name: the QEMU emu-run takes here does not list $model: $(grep -o 'emu-run: cpu: .*' <<<"$ERR") (make qemu)" 3
        return
    fi
    emu --arch "$a" --rootfs "$T" --accel off --cpu max -- sh -c "$CPUID"
    t_isnt "$name: the default ($model) and max are different CPUs there, so the comparison below means something" \
        "$def" "$OUT"
    emu --arch "$a" --rootfs "$T" --accel off -- sh -c "$STEP"
    out_def="$OUT|$ERR|$RC"
    note "$name step under the default: $OUT"
    emu --arch "$a" --rootfs "$T" --accel off --cpu max -- sh -c "$STEP"
    t_is "$name step (gcc -O2, dpkg -l, gzip -9, perl, sort): exit 0" "$RC" 0
    t_is "... the same output, errors and exit status under the default ($model) as under --cpu max" \
        "$out_def" "$OUT|$ERR|$RC"
}
trixie_same arm64 trixie-arm64-gcc neoverse-n1
trixie_same riscv64 trixie-riscv64-gcc rva23u64

emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"
