#!/bin/bash
# emu-run under abuse (issue 7; docs/security.md section 13), as RUN steps in an arm64
# busybox root: argument and environment lists near and past the kernel's limit, a step
# that forks thousands of children that its pid 1 must reap, a step killed in the middle
# of writing, emu-run itself killed, and /etc/passwd as a FIFO, a symlink to a device,
# or over the size limit. Every case asserts emu-run's exit status, that nothing of the
# step is left running, the root as it was (placeholders removed), and the host's
# registry untouched. The hostile-symlink cases are in 80-emu-run-rootfs.sh; the parsers
# of passwd/group, --env-file and in-root paths are fuzzed by tests/fuzz/fuzz_emu.c.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
command -v python3 >/dev/null || skip_all "python3 needed"
plan 23

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-95-emu.XXXXXX")
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
host_before=$(host_listing)
names_before=$(emu_names "$R")
TOKEN=faults-$$-$RANDOM
# No process whose command line carries TOKEN: nothing of the step survives. Waited
# for up to EMU_DEADLINE (60 s): what the cases below leave behind when they fail
# (infinite loops, hour-long sleeps) would outlive that on its own.
step_gone() { emu_gone "$TOKEN"; }

# --- 1-4: argument and environment lists ------------------------------------------
emu --arch arm64 --rootfs "$R" -- /bin/sh -c 'echo $#' sh $(seq 1 30000)
t_is "30000 arguments reach the step" "$RC|$OUT" "0|30000"
# The kernel's limit on arguments + environment is a quarter of the stack rlimit
# (8 MiB by default: 2 MiB), which emu-run inherits from this shell: sizes are
# taken from it (getconf ARG_MAX, the same rlimit), 60% and 140% of it.
ARGMAX=$(getconf ARG_MAX)
NMID=$((ARGMAX * 6 / 10 / 4010)) NBIG=$((ARGMAX * 14 / 10 / 4010))
python3 -c 'import sys
for i in range(int(sys.argv[1])): print("VAR%d=%s" % (i, "x" * 4000))' "$NMID" >"$WORK/mid.env"
emu --arch arm64 --rootfs "$R" --env-file "$WORK/mid.env" -- /bin/sh -c 'env | grep -c ^VAR'
t_is "60% of ARG_MAX ($ARGMAX) as environment (--env-file) reaches the step" "$RC|$OUT" "0|$NMID"
python3 -c 'import sys
for i in range(int(sys.argv[1])): print("VAR%d=%s" % (i, "x" * 4000))' "$NBIG" >"$WORK/big.env"
emu --arch arm64 --rootfs "$R" --env-file "$WORK/big.env" -- /bin/sh -c 'echo ran'
t_is "140% of ARG_MAX as environment: the step cannot be executed (126), it never ran" "$RC|$OUT" "126|"
t_like "...and emu-run says why" "$ERR" 'Argument list too long'

# --- 5-8: a step that forks 1500 children, orphaned to the sandbox's pid 1 ------------
SECONDS=0 # for the note below only: how long it takes is no assertion
emu --arch arm64 --rootfs "$R" --shell ": $TOKEN; i=0; while [ \$i -lt 1500 ]; do (true &); i=\$((i+1)); done; echo forked"
t_is "1500 orphaned children: the step ends normally" "$RC|$OUT" "0|forked"
note "1500 forks under QEMU took ${SECONDS} s"
t_ok "...every child reaped: nothing of the step is left" step_gone
t_is "...the root is as it was" "$(emu_names "$R")" "$names_before"
# The children sleep for an hour (past the wait), with a length of their own to find
# them by: gone means ended with the step, not finished.
NAP=3600.$$
emu --arch arm64 --rootfs "$R" --shell ": $TOKEN; (sleep $NAP &); (sleep $NAP &); echo left"
t_is "children still running when the step exits are ended with it" \
    "$RC|$OUT|$(step_gone && emu_gone "sleep $NAP" && echo gone)" "0|left|gone" ||
    { diag "left: $(pgrep -fa -- "$TOKEN|sleep $NAP")"; emu_kill_left "sleep $NAP"; }

# --- 9-14: the step killed in the middle of writing ---------------------------------------
"$EMU" --arch arm64 --rootfs "$R" --shell ": $TOKEN; while :; do echo 0123456789 >>/out; done" \
    >/dev/null 2>"$WORK/kill.err" &
pid=$!
# Killed while it writes: once 100 lines are there (not after a pause, which a slow
# machine may spend before the first line).
emu_until "$EMU_DEADLINE" eval '[[ $(wc -l 2>/dev/null <"$R/out") -ge 100 ]]' || diag "the step wrote $(wc -l 2>&1 <"$R/out") lines"
# The step is the process the kernel started through QEMU (its argv carries TOKEN),
# not emu-run or the sandbox's pid 1 (whose argv carries it too): kill it by pid.
# (QEMU as the kernel runs it, or as emu-run's launcher does: /dev/.emu-run-accel/qemu.)
steppids=$(pgrep -f -- "(qemu-aarch64[^ ]*|/dev/[.]emu-run-accel/qemu) .*$TOKEN")
# Not found: emu-run itself is killed, so the points below fail instead of waiting forever.
[[ -n $steppids ]] || { diag "no step process found"; steppids=$pid; }
# shellcheck disable=SC2086 # a list of pids
kill -KILL $steppids
wait "$pid" 2>/dev/null
rc=$?
t_is "step killed by SIGKILL mid-write: emu-run exits 137" "$rc" 137
t_ok "...nothing of the step is left" step_gone
t_is "...every line written is whole (appends are atomic)" \
    "$(grep -cvx 0123456789 "$R/out")|$([[ $(wc -l <"$R/out") -gt 0 ]] && echo some)" "0|some"
rm -f "$R/out"
t_is "...and the root is as it was" "$(emu_names "$R")" "$names_before"

"$EMU" --arch arm64 --rootfs "$R" --shell ": $TOKEN; while :; do echo 0123456789 >>/out2; done" \
    >/dev/null 2>&1 &
pid=$!
emu_until "$EMU_DEADLINE" test -s "$R/out2" || diag "the step wrote nothing"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
rc=$?
t_is "emu-run itself killed by SIGKILL: exit 137" "$rc" 137
t_ok "...the step dies with it (nothing left running)" step_gone
rm -f "$R/out2"
# The janitor emu-run forked removes the placeholders once the sandbox is gone.
emu_until "$EMU_DEADLINE" eval '[[ $(emu_names "$R") == "$names_before" ]]'
t_is "...and its janitor removes the placeholders: the root is as it was" "$(emu_names "$R")" "$names_before"

# --- 15-20: hostile /etc/passwd ---------------------------------------------------------------
cp "$R/etc/passwd" "$WORK/passwd.orig"
rm -f "$R/etc/passwd" && mkfifo "$R/etc/passwd"
# Instead of hanging: no time limit, but the hang guard (emu_t: timeout 300 s), which
# ends a hang with 124 (137 after -k), never 125. A FIFO with no writer, or /dev/zero,
# would block or read for ever.
emu_t --arch arm64 --rootfs "$R" -u builder -- /bin/true
t_is "/etc/passwd is a FIFO: -u builder fails (125) instead of hanging" "$RC" "125"
# The step must not read the FIFO itself (id(1) would, and wait for a writer).
emu_t --arch arm64 --rootfs "$R" -u 1000 -- /bin/grep ^Uid: /proc/self/status
t_like "...a numeric user still runs" "$RC|$OUT" "^0[|]Uid:[[:space:]]+1000[[:space:]]"
rm -f "$R/etc/passwd" && ln -s /dev/zero "$R/etc/passwd"
emu_t --arch arm64 --rootfs "$R" -u builder -- /bin/true
t_is "/etc/passwd -> /dev/zero: -u builder fails (125) instead of reading for ever" "$RC" "125"
rm -f "$R/etc/passwd"
{ cat "$WORK/passwd.orig"; head -c $((5 << 20)) /dev/zero | tr '\0' 'a'; echo; } >"$R/etc/passwd"
emu --arch arm64 --rootfs "$R" -u builder -- /bin/true
t_is "a 5 MB /etc/passwd is refused (over the limit): -u builder fails (125)" "$RC" 125
emu --arch arm64 --rootfs "$R" -u 0 -- /bin/grep ^Uid: /proc/self/status
t_like "...a numeric user still runs" "$RC|$OUT" "^0[|]Uid:[[:space:]]+0[[:space:]]"
cp "$WORK/passwd.orig" "$R/etc/passwd"
emu --arch arm64 --rootfs "$R" -u builder -- /bin/id -u
t_is "with the real /etc/passwd back, -u builder works" "$RC|$OUT" "0|1000"

# --- 21-22 ------------------------------------------------------------------------------------
t_is "the root is as it was" "$(emu_names "$R" | grep -v ' etc/passwd ')" "$(grep -v ' etc/passwd ' <<<"$names_before")"
emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"
