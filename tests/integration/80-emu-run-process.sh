#!/bin/bash
# emu-run as a process and a command line: exit statuses (125/126/127, 128+N),
# every forwarded signal, the step dying with emu-run, zombies reaped by its pid 1,
# a terminal passing through, option parsing, --verbose, --qemu/--cpu, the three
# emulation paths (private instance; the host's F registration, tested inside a
# user namespace whose binfmt_misc instance is mounted at the usual place; neither:
# exit 125 and how to fix it), commands from the host's filesystem, native runs.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
plan 34

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80p.XXXXXX")
on_exit rm -rf "$WORK"
host_before=$(host_listing)
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
A=(--arch arm64 --rootfs "$R")
BB=$FIXTURES/busybox/arm64/busybox
BB_ARMHF=$FIXTURES/busybox/armhf/busybox
QEMU_A64=/usr/bin/qemu-aarch64-static
AARCH64_MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

# --- exit statuses ----------------------------------------------------------------------
emu "${A[@]}" -- no-such-command
t_is "command not found: 127" "$RC|$ERR" "127|emu-run: no-such-command: command not found in PATH"
emu "${A[@]}" -- /etc/passwd
t_is "found but not executable: 126" "$RC|$ERR" "126|emu-run: /etc/passwd: Permission denied"
emu "${A[@]}" -- /bin/nothing
t_is "no such file: 127" "$RC" "127"
emu "${A[@]}" --shell 'kill -KILL $$'
t_is "killed by SIGKILL: 137" "$RC" "137"
emu "${A[@]}" --shell 'kill -USR2 $$'
t_is "killed by SIGUSR2: 140" "$RC" "140"

# --- signals: forwarded, and the step dies with emu-run -----------------------------------
sigs=""
for sig in INT TERM HUP QUIT USR1 USR2; do
    # A script's background jobs start with SIGINT and SIGQUIT ignored, which
    # exec (and so emu-run) keeps: start this one with default dispositions.
    # The step says "ready" once its trap is set: only then is the signal sent (emu-run
    # blocks the forwarded signals before its first child, init.c, so a signal that
    # comes early waits for the loop that forwards it; the step's trap is what needs
    # to be in place).
    env --default-signal=INT,QUIT "$EMU" "${A[@]}" --shell \
        "trap 'echo got-$sig; exit 7' $sig; echo ready; while :; do sleep 0.05; done" \
        >"$WORK/out-$sig" 2>&1 &
    pid=$!
    # A file of its own: one left from an earlier round would say ready too soon.
    emu_until "$EMU_DEADLINE" grep -qx ready "$WORK/out-$sig" || diag "$sig: the step never said ready"
    kill -"$sig" "$pid"
    wait "$pid"
    sigs+="$sig:$?:$(paste -sd, "$WORK/out-$sig") "
done
t_is "INT TERM HUP QUIT USR1 USR2 reach the step's handler" "$sigs" \
    "INT:7:ready,got-INT TERM:7:ready,got-TERM HUP:7:ready,got-HUP QUIT:7:ready,got-QUIT USR1:7:ready,got-USR1 USR2:7:ready,got-USR2 "

marker="emu-80p-kill-$$-$RANDOM"
# The step sleeps for an hour, past the wait below: gone means killed with emu-run.
"$EMU" "${A[@]}" --shell "sleep 3600; echo $marker" >/dev/null 2>&1 &
pid=$!
emu_wait_pgrep "qemu.*$marker|/bin/sh -c sleep 3600; echo $marker" || diag "the step never showed up"
{ kill -KILL "$pid" && wait "$pid"; } 2>/dev/null # bash reports the kill otherwise
if emu_gone "$marker"; then t_pass "SIGKILL to emu-run: the step and its children die too"; else
    t_fail "SIGKILL to emu-run: the step and its children die too"
    diag "left: $(pgrep -fa -- "$marker")"
    emu_kill_left "$marker"
fi

# An orphan (the subshell's background sleep, reparented to the sandbox's pid 1) that
# has exited must be reaped: the step waits until its /proc entry is gone (reaped; a
# zombie keeps it), up to about 60 s, then counts zombies. An orphan never reaped stays
# a zombie, so the count is 1 after the wait, whatever the machine's speed.
emu "${A[@]}" --shell '(sleep 0.1 & echo $! >/dev/shm/orphan); p=$(cat /dev/shm/orphan); i=0
while [ -e /proc/$p ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
cat /proc/[0-9]*/stat | grep -c ") Z "; true'
t_is "pid 1 reaps orphans: no zombies" "$OUT|$RC" "0|0"

# --- a terminal passes through ---------------------------------------------------------
if command -v script >/dev/null; then
    OUT=$(script -qec "$(printf '%q ' "$EMU" "${A[@]}" --shell 'test -t 0 && test -t 1 && echo tty:$(tty)')" /dev/null </dev/null 2>&1)
    t_like "a terminal passes through (and ttyname works)" "$OUT" "tty:/dev/console"
else
    skip "script(1) not installed"
fi

# --- options --------------------------------------------------------------------------
emu "${A[@]}" ls -d /bin
t_is "options end at the command (its -d is its own)" "$OUT|$RC" "/bin|0"
emu "${A[@]}" -- sh -c 'echo "$0 $1"' zero one
t_is "-- and the command's arguments" "$OUT" "zero one"
emu "${A[@]}" --shell 'echo "$0|$1|$#"' a0 a1
t_is "--shell STEP ARG...: /bin/sh -c STEP ARG..." "$OUT" "a0|a1|1"
emu --help
t_like "--help" "$RC|$OUT" "^0\|Usage:.*--arch PLATFORM.*Exit status"
emu --version
t_like "--version" "$RC|$OUT" "^0\|emu-run from binfmt-installer [0-9]"
usage=""
for bad in "" "--arch nonsense" "--arch windows/amd64" "--arch arm64 --overlay" "--arch arm64 --network bridge" \
    "--arch arm64 --bind nodest" "--arch arm64 --bogus"; do
    # shellcheck disable=SC2086 # word splitting intended
    emu $bad -- true
    usage+="$RC "
done
t_is "usage errors exit 125 (no --arch, unknown or non-Linux arch, --overlay without --rootfs, bad --network, bad --bind, unknown option)" \
    "$usage" "125 125 125 125 125 125 125 "
emu --arch arm64
t_is "no command: 125" "$RC|$ERR" "125|emu-run: no command given
Try 'emu-run --help' for more information."

names=""
for n in aarch64 linux/arm64 qemu-aarch64 ARM64 arm64/v8; do
    emu --arch "$n" --rootfs "$R" -- uname -m
    names+="$OUT "
done
t_is "every name binfmt accepts for arm64" "$names" "aarch64 aarch64 aarch64 aarch64 aarch64 "

# --- --verbose, --qemu, --cpu ------------------------------------------------------------
emu "${A[@]}" --verbose --qemu "$QEMU_A64" -- true
t_like "--verbose: path 1" "$ERR" "emulation: private binfmt_misc instance \(path 1\)"
t_like "--verbose: which QEMU and its version" "$ERR" "QEMU: $QEMU_A64 \([0-9]+\.[0-9]+\.[0-9]+\)"
t_like "--verbose: the registration, flags F and P only" "$ERR" \
    "registered: :qemu-aarch64:M::(\\\\x[0-9a-f]{2}){20}:(\\\\x[0-9a-f]{2}){20}:$QEMU_A64:PF($|"$'\n'")"
emu "${A[@]}" --qemu "$WORK/nothing" -- true
t_is "--qemu that does not exist: 125" "$RC" "125"
emu "${A[@]}" --cpu cortex-a53 --shell 'echo "[$QEMU_CPU]"'
t_is "--cpu: not in the step's environment (the launcher passes it: 80-emu-run-cpu.sh)" "$OUT|$RC" "[]|0"
emu "${A[@]}" --cpu no-such-cpu -- true
t_like "--cpu reaches QEMU (an unknown model fails the step)" "$RC|$ERR" "^[1-9][0-9]*\|.*no-such-cpu"

# --- without --rootfs: the host's filesystem --------------------------------------------------
emu --arch arm64 -- "$BB" sh -c "$BB uname -m; $BB echo \$\$"
t_is "without --rootfs: a foreign program and its foreign children, in a pid namespace" "$(emu_words "$OUT")|$RC" \
    "aarch64 2|0"
emu --arch arm64 -- "$BB" ls /proc/self/fd
t_is "without --rootfs: no descriptor leaks either" "$(emu_words "$OUT")|$RC" "0 1 2 3|0"
emu --arch arm64 -- "$BB_ARMHF" true
t_is "only the asked-for target is registered (armhf under --arch arm64: 126)" "$RC" "126"

# --- native ---------------------------------------------------------------------------
if [[ $(uname -m) == x86_64 ]]; then
    emu --arch amd64 --verbose --qemu "$WORK/nothing" -- /bin/true
    t_is "native --arch amd64 runs /bin/true without QEMU" "$RC|$ERR" "0|emu-run: linux/amd64 runs natively here: no emulation"
    emu --arch 386 --verbose -- /bin/true
    # 386 is native only where this kernel runs 32-bit code (lib.sh's I386_NATIVE).
    if [[ -n $I386_NATIVE ]]; then
        t_is "native: --arch 386 on amd64 too, once its probe ran (80-emu-run-native.sh)" "$RC|$ERR" \
            "0|emu-run: 386 runs natively here (probe ran)"
    else
        t_is "--arch 386 where 32-bit code does not run: its probe failed, so it is emulated (80-emu-run-native.sh)" \
            "$RC|$(head -1 <<<"$ERR")" "0|emu-run: 386 does not run natively here (probe: exec format error): emulating"
    fi
else
    skip "not an x86_64 host" 2
fi

# --- path 2: the host's registration with F ------------------------------------------------
# Inside a user namespace with its own instance mounted at /proc/sys/fs/binfmt_misc,
# that instance is the "host's" registry emu-run sees and falls back to.
path2() { # FLAGS CMD...: register aarch64 with FLAGS in a fresh visible instance, then run CMD
    unshare --user --map-root-user --mount --propagation private -- bash -c '
        flags=$1; shift
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 99
        if [[ -n $flags ]]; then
            printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:$QEMU:$flags" >/proc/sys/fs/binfmt_misc/register || exit 98
        fi
        "$@"' path2 "$@"
}
export MAGIC=$AARCH64_MAGIC MASK=$AARCH64_MASK QEMU=$QEMU_A64
run path2 F env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" --verbose "${A[@]}" -- uname -m
t_is "path 2: the host's F registration runs the step" "$OUT|$RC" "aarch64|0"
t_like "path 2: and says so" "$ERR" "note: no private binfmt_misc instance \(EMU_RUN_NO_PRIVATE_BINFMT is set\): using the host's registration qemu-aarch64.*path 2"
run path2 P env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" "${A[@]}" -- uname -m
t_like "path 2 needs F: an entry without it is not used (125)" "$RC|$ERR" "^125\|.*host entry qemu-aarch64 has no F flag"

# --- path 3: neither -------------------------------------------------------------------------
run path2 "" env EMU_RUN_NO_PRIVATE_BINFMT=1 "$EMU" "${A[@]}" -- uname -m
t_is "path 3: no private instance, no host registration: 125" "$RC|$OUT" "125|"
t_like "path 3: one line naming the fixes" "$ERR" \
    "^emu-run: cannot run linux/arm64 code: .*Linux >= 6\.7.*user\.max_user_namespaces.*kernel\.unprivileged_userns_clone.*kernel\.apparmor_restrict_unprivileged_userns.*binfmt --install arm64$"

emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"
