#!/bin/bash
# The vanishing-registration trap inside a user namespace (issue 12), the rootless
# engine's case: since Linux 6.7 a user namespace has its own binfmt_misc instance,
# which lives only while one of its mounts does, and a mount made in a private mount
# namespace dies with it. Each case gets a user namespace of its own (a "rootless
# engine": a bash that lives on) and checks the result from that bash after binfmt
# has exited, as a user would:
#  A. binfmt as the only visible process of a private mount + pid namespace (a rootless
#     container without --pid=host): exit 3, the fix named, nothing registered or left;
#  B. the same without the pid namespace (the issue's command): the engine's bash can be
#     seen, so binfmt mounts the instance in its mount namespace too: the entry is there
#     afterwards and a foreign binary runs;
#  C. binfmt run in the engine's own mount namespace: stays, and says what it lasts as;
#  D. `unshare --mount --fork`: a parent sharing binfmt's mount namespace that exits
#     right after it does not count; the entry still survives in the engine's;
#  E. binfmt as the user namespace's first and only process: nothing outlives it, exit 3.
# Then B as an ordinary user (nobody). Never touches the host's registry.
# shellcheck disable=SC2016 # single-quoted code runs in the namespaces, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
BB=$(busybox_path arm64) || skip_all "arm64 busybox fixture missing (tests/fixtures/fetch.sh)"
SHIM=$(dirname "$(dirname "$BINFMT")")/tests/errno_shim.so
[[ -f $SHIM ]] || skip_all "$SHIM not built (make unit)"
plan 27

host_before=$(host_listing)
export BINFMT BB SHIM QEMU_BINARY_PATH=/usr/bin
# A sanitized binfmt refuses a preload that is not its runtime unless told.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# engine CODE: CODE in a fresh user + mount namespace whose bash (the "engine")
# outlives what it runs. $D is a fresh directory there.
engine() {
    unshare --user --map-root-user --mount --propagation private \
        bash -c 'D=$(mktemp -d); trap "umount -l \$D 2>/dev/null; rmdir \$D" EXIT; '"$1" 2>&1
}
# What the engine sees at $D once binfmt has exited: "mounted" or "not mounted",
# then the instance's files (a fresh mount of it when nothing is mounted there).
after='echo "rc=$rc"
    if [ "$(findmnt -rn -o FSTYPE -M "$D")" = binfmt_misc ]; then echo "after: mounted"; else echo "after: not mounted"; mount -t binfmt_misc binfmt_misc "$D"; fi
    echo "files:" $(ls "$D")
    cat "$D/qemu-aarch64" 2>/dev/null | sed -n "s/^flags: /flags /p"
    echo "runs: $("$BB" uname -m 2>&1)"
    echo "engine=$$"'

# --- A: a rootless container without --pid=host ---------------------------------
out=$(engine 'unshare --mount --pid --fork --mount-proc --propagation private "$BINFMT" --mount "$D" --install arm64 >/dev/null
    rc=$?; '"$after")
t_like "A: no visible keeper: exit 3" "$out" $'\nrc=3\n' || diag "$out"
t_like "A: the message says the registrations would vanish" "$out" "would vanish when binfmt exits"
t_like "A: ... and names the fixes (podman unshare, rootless Docker's nsenter, --pid=host)" "$out" \
    "podman unshare mount -t binfmt_misc binfmt_misc .*nsenter -U --preserve-credentials -m -t .*--pid=host"
t_unlike "A: no success line" "$out" "installing: .* OK"
t_like "A: nothing registered in the user namespace's instance" "$out" $'files: register status\n'
t_like "A: the engine's foreign binaries still do not run" "$out" $'runs: [^\n]*(Exec format error|cannot execute)'
# A again with the fine clock 60 ms ahead of the coarse one the kernel stamps the
# instance's inodes with (errno_shim's ERRNO_SHIM_CLOCK_LEAD, a VM like CI's): the
# fresh instance must still be recognised, or binfmt says OK and the entry vanishes.
out=$(engine 'ERRNO_SHIM_CLOCK_LEAD=60 LD_PRELOAD=$SHIM \
    unshare --mount --pid --fork --mount-proc --propagation private "$BINFMT" --mount "$D" --install arm64 >/dev/null
    rc=$?; '"$after")
t_like "A, coarse clock 60 ms behind: still exit 3" "$out" $'\nrc=3\n' || diag "$out"
t_like "A, coarse clock 60 ms behind: nothing registered" "$out" $'files: register status\n'

# --- B: the issue's command: a private mount namespace, the engine visible -------
out=$(engine 'unshare --mount "$BINFMT" --mount "$D" --install arm64 >/dev/null; rc=$?; '"$after")
engine_pid=$(sed -n 's/^engine=//p' <<<"$out")
t_like "B: exit 0 with OK" "$out" $'installing: linux/arm64 \\(qemu-aarch64\\) OK\n(.*\n)*rc=0\n' || diag "$out"
t_like "B: the note says what they last as long as: the mount in the engine's namespace" "$out" \
    "note: these registrations are private to this user namespace and last as long as the mount at [^ ]+ binfmt made in the mount namespace of pid $engine_pid \\(bash\\), its oldest process"
t_like "B: after binfmt exited, the engine has binfmt_misc mounted at the path" "$out" $'after: mounted\n'
t_like "B: ... with the entry (F: the emulator opened at registration)" "$out" $'files: qemu-aarch64 register status\nflags [A-Z]*F'
t_like "B: ... and a foreign binary runs in the engine" "$out" $'runs: aarch64\n'

# --- C: binfmt in the engine's own mount namespace --------------------------------
out=$(engine '"$BINFMT" --mount "$D" --install arm64 >/dev/null; rc=$?; '"$after")
engine_pid=$(sed -n 's/^engine=//p' <<<"$out")
t_like "C: exit 0" "$out" $'\nrc=0\n' || diag "$out"
t_like "C: the note names the mount namespace it shares with the engine" "$out" \
    "last as long as its mount at [^ ]+ in this mount namespace, which pid $engine_pid \\(bash\\) shares"
t_like "C: the entry is there after binfmt exited, its mount too" "$out" $'after: mounted\nfiles: qemu-aarch64 register status\n'
t_like "C: a foreign binary runs" "$out" $'runs: aarch64\n'

# --- D: unshare --fork: the parent shares binfmt's mount namespace, then exits ----
out=$(engine 'unshare --mount --fork --propagation private "$BINFMT" --mount "$D" --install arm64 >/dev/null; rc=$?; '"$after")
engine_pid=$(sed -n 's/^engine=//p' <<<"$out")
t_like "D: exit 0, the engine (pid $engine_pid), not unshare's parent, keeps it" "$out" \
    "mount namespace of pid $engine_pid \\(bash\\)"$'(.*\n)*rc=0\n' || diag "$out"
t_like "D: the entry survived both" "$out" $'files: qemu-aarch64 register status\n'
t_like "D: a foreign binary runs" "$out" $'runs: aarch64\n'

# --- E: binfmt is the user namespace's only process ------------------------------
D=$(mktemp -d)
err=$(unshare --user --map-root-user --mount --propagation private "$BINFMT" --mount "$D" --install arm64 2>&1 >/dev/null)
rc=$?
rmdir "$D"
t_is "E: binfmt alone in its user namespace: exit 3" "$rc" 3
t_unlike "E: no success line" "$err" "installing: .* OK"

# --- status and dry runs are readers: they never fail on this -------------------
out=$(engine 'unshare --mount --pid --fork --mount-proc --propagation private "$BINFMT" --mount "$D" >/dev/null; rc=$?
    unshare --mount --pid --fork --mount-proc --propagation private "$BINFMT" --mount "$D" --install arm64 --dry-run >/dev/null; rc="$rc,$?"; '"$after")
t_like "status and --dry-run in A's container: exit 0, nothing registered" "$out" $'rc=0,0\n(.*\n)*files: register status\n'

# --- B as an ordinary user --------------------------------------------------------
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups env BINFMT="$BINFMT" BB="$BB" \
        QEMU_BINARY_PATH=/usr/bin TMPDIR=/tmp bash -c "$(declare -f engine); engine \"\$1\"" _ \
        'unshare --mount "$BINFMT" --mount "$D" --install arm64 >/dev/null; rc=$?; '"$after")
    t_like "as nobody, B: exit 0" "$out" $'\nrc=0\n' || diag "$out"
    t_like "as nobody, B: the entry is in the engine's namespace afterwards" "$out" \
        $'after: mounted\nfiles: qemu-aarch64 register status\n'
    t_like "as nobody, B: a foreign binary runs" "$out" $'runs: aarch64\n'
else
    skip "no nobody user or setpriv" 3
fi

t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"
