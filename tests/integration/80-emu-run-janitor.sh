#!/bin/bash
# emu-run SIGKILLed in the middle of a step: the placeholders the sandbox created in
# the rootfs (a --bind onto a path that does not exist, /proc, /dev, /sys, /etc/hosts,
# /etc/resolv.conf of a bare busybox root) are removed all the same, by the janitor
# emu-run forks when there are placeholders; the rootfs is otherwise as it was and no
# process is left. The janitor survives the signals a terminal or a supervisor sends
# to the process group, holds only its three descriptors, leaks none into the step,
# and is not forked at all when nothing was created (--overlay).
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
plan 16

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80j.XXXXXX")
chmod 755 "$WORK" # the unprivileged caller walks through it
on_exit rm -rf "$WORK"
host_before=$(host_listing)
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
mkdir "$WORK/src" && echo from-host >"$WORK/src/file"
names_before=$(emu_names "$R")
tree_before=$(emu_tree "$R")
NOBODY=65534

# start_step TOKEN [EMU ARGS...]: emu-run in the background with a step that sleeps for
# an hour (past every wait below, so that "gone" means killed, never finished) and
# whose command line carries TOKEN; sets PID once the step runs and emu-run waits for
# it, and JANITOR: emu-run's children but the sandbox (the one with children of its
# own), "" when there is none, "unnamed:PID" when one never names itself
# emu-run-janitor (it does so after setting its signals, janitor.c).
start_step() {
    local token=$1 c
    shift
    "$@" --shell "sleep 3600; : $token" >"$WORK/out" 2>&1 &
    PID=$!
    emu_wait_pgrep "qemu.*sleep 3600; : $token" || diag "the step never showed up"
    # The janitor is forked after the sandbox's report, so possibly after the step
    # started: wait until emu-run is in its wait for the sandbox, past that fork.
    emu_until "$EMU_DEADLINE" emu_in_wait "$PID" || diag "emu-run never reached its wait: $(cat "/proc/$PID/syscall" 2>&1)"
    JANITOR=""
    for c in $(pgrep -P "$PID"); do
        [[ -n $(pgrep -P "$c") ]] || JANITOR+="${JANITOR:+ }$c"
    done
    if [[ -n $JANITOR && $JANITOR != *" "* ]] && ! emu_until "$EMU_DEADLINE" is_janitor "$JANITOR"; then
        diag "emu-run's child $JANITOR is $(cat "/proc/$JANITOR/comm" 2>&1), not emu-run-janitor"
        JANITOR=unnamed:$JANITOR
    fi
}
is_janitor() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == emu-run-janitor ]]; }

# janitor_fds: what the janitor's descriptors point to, sorted, on one line.
janitor_fds() {
    local f
    for f in /proc/"$JANITOR"/fd/*; do readlink "$f"; done | sed 's/:\[[0-9]*\]$//' | sort | paste -sd' '
}

# kill_wait SIG: send SIG to emu-run and return its exit status (bash's "Killed"
# report of the background job silenced).
kill_wait() {
    local rc
    { kill -"$1" "$PID" && wait "$PID"; } 2>/dev/null
    rc=$?
    return $rc
}

# root_restored: the root is as it was (names, types, sizes, modes). Waited for with
# emu_until: the janitor removes the placeholders after the sandbox is gone, in its
# own time; placeholders nobody removes stay, and the wait fails.
root_restored() { [[ $(emu_names "$R") == "$names_before" ]]; }

# proc_state PID: the state letter in /proc/PID/stat ("" once the process is reaped).
proc_state() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    printf '%s' "${s%% *}"
}
stopped_or_dead() { [[ $(proc_state "$1") == [TtZX] || -z $(proc_state "$1") ]]; }

# --- SIGKILL: the janitor removes the placeholders ---------------------------------------
T=janitor-$$-$RANDOM
start_step "$T" "$EMU" --arch arm64 --rootfs "$R" --bind "$WORK/src:/mnt/deep/target:ro"
t_is "during the step: the --bind target and /proc exist as placeholders in the root" \
    "$(cd "$R" && for p in mnt/deep/target proc etc/hosts; do [[ -e $p ]] && echo "$p"; done | paste -sd' ')" \
    "mnt/deep/target proc etc/hosts"
t_like "a janitor process stands by (a child of emu-run)" "$JANITOR" "^[0-9]+$"
# Right after its fork the janitor still holds emu-run's descriptors; it closes them
# before it waits: wait for that, then compare (one that keeps more fails the wait).
emu_until "$EMU_DEADLINE" eval '[[ $(janitor_fds) == "$R anon_inode:[pidfd] socket" ]]'
fds=$(janitor_fds)
t_is "...holding only the root, the sandbox's pidfd and its lifeline (no stdio, no pipes)" "$fds" \
    "$R anon_inode:[pidfd] socket"
kill_wait KILL
rc=$?
t_is "emu-run SIGKILLed: 137" "$rc" 137
if emu_until "$EMU_DEADLINE" root_restored; then t_pass "every placeholder is gone: the root is as it was"; else
    t_fail "every placeholder is gone: the root is as it was"
    diag "$(diff <(printf '%s\n' "$names_before") <(emu_names "$R"))"
fi
t_is "...the files of the root are untouched (sizes, modes, times of files)" \
    "$(emu_tree "$R" | grep -v ' d ')" "$(grep -v ' d ' <<<"$tree_before")"
if emu_gone "$T"; then t_pass "...and no process is left: step, sandbox, janitor"; else
    t_fail "...and no process is left: step, sandbox, janitor"
    diag "left: $(pgrep -fa -- "$T")"
    emu_kill_left "$T"
fi
t_is "...the bind source on the host is untouched" "$(cat "$WORK/src/file")|$(ls "$WORK/src")" "from-host|file"

# --- the janitor ignores what the whole process group gets -----------------------------
T=janitor-sig-$$-$RANDOM
start_step "$T" "$EMU" --arch arm64 --rootfs "$R" --bind "$WORK/src:/mnt/deep/target"
alive=""
for sig in INT TERM HUP QUIT USR1 USR2 PIPE; do
    kill -"$sig" "$JANITOR" 2>/dev/null
    # A barrier instead of a pause: SIGSTOP is taken after every pending signal with a
    # lower number (all of these), so once the janitor shows as stopped, SIG has been
    # dealt with; one that SIG killed shows as a zombie (emu-run has not reaped it) or
    # is gone instead. (kill -0 alone cannot tell: it succeeds on a zombie.)
    kill -STOP "$JANITOR" 2>/dev/null
    emu_until "$EMU_DEADLINE" stopped_or_dead "$JANITOR"
    [[ $(proc_state "$JANITOR") == [Tt] ]] && alive+="$sig "
    kill -CONT "$JANITOR" 2>/dev/null
done
t_is "the janitor survives SIGINT SIGTERM SIGHUP SIGQUIT SIGUSR1 SIGUSR2 SIGPIPE" "$alive" \
    "INT TERM HUP QUIT USR1 USR2 PIPE "
kill_wait KILL
if emu_until "$EMU_DEADLINE" root_restored && emu_gone "$T"; then
    t_pass "...and still cleans up after emu-run's SIGKILL"
else
    t_fail "...and still cleans up after emu-run's SIGKILL"
    diag "$(diff <(printf '%s\n' "$names_before") <(emu_names "$R"))" "left: $(pgrep -fa -- "$T")"
    emu_kill_left "$T"
fi

# --- a normal end: emu-run removes them itself and dismisses the janitor -------------------
T=janitor-term-$$-$RANDOM
start_step "$T" "$EMU" --arch arm64 --rootfs "$R" --bind "$WORK/src:/mnt/deep/target"
kill_wait TERM
rc=$?
t_is "SIGTERM: 143, placeholders removed by emu-run, the janitor reaped (nothing left)" \
    "$rc|$(emu_names "$R" | diff - <(printf '%s\n' "$names_before") >/dev/null && echo same)|$(pgrep -f -- "$T")" \
    "143|same|"
emu --arch arm64 --rootfs "$R" --bind "$WORK/src:/mnt/deep/target" --shell 'ls /proc/self/fd; cat /mnt/deep/target/file'
t_is "no descriptor of emu-run or the janitor leaks into the step" "$(emu_words "$OUT")|$RC" "0 1 2 3 from-host|0"
t_is "...and the root is as it was" "$(emu_names "$R")" "$names_before"

# --- nothing to clean: no janitor ------------------------------------------------------------
T=janitor-none-$$-$RANDOM
start_step "$T" "$EMU" --arch arm64 --rootfs "$R" --overlay
t_is "--overlay creates nothing in the root: no janitor is forked" "$JANITOR" ""
kill_wait KILL
emu_gone "$T" || { diag "left: $(pgrep -fa -- "$T")"; emu_kill_left "$T"; }

# --- an unprivileged caller's janitor -----------------------------------------------------------
U=$WORK/nobody-root
cp -a "$R" "$U" && chown -R "$NOBODY:$NOBODY" "$U"
u_before=$(emu_names "$U")
T=janitor-nobody-$$-$RANDOM
start_step "$T" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$EMU" --arch arm64 --rootfs "$U" \
    --bind "$WORK/src:/opt/new"
[[ -d $U/opt/new ]] || diag "no placeholder /opt/new during the unprivileged step"
kill_wait KILL
emu_until "$EMU_DEADLINE" eval '[[ $(emu_names "$U") == "$u_before" ]]'
t_is "unprivileged caller (uid $NOBODY) SIGKILLed: its janitor removes the placeholders too" \
    "$(emu_names "$U")|$(emu_gone "$T" && echo nothing-left)" "$u_before|nothing-left"
emu_kill_left "$T"

emu_host_unchanged "the host's binfmt_misc registry is unchanged" "$host_before"
