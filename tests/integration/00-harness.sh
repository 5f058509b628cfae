#!/bin/bash
# Tests the integration-test harness itself (lib.sh): TAP helpers, private
# binfmt_misc instances, a real qemu registration inside one, and that the host's
# registry is never touched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
plan 23

QEMU_AARCH64=${QEMU_AARCH64:-/usr/bin/qemu-aarch64-static}
BB_ARM64=$FIXTURES/busybox/arm64/busybox
export QEMU_AARCH64 BB_ARM64

# The same rule Debian's qemu-user-static uses for aarch64, with flags F only.
AARCH64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export AARCH64_RULE=":qemu-aarch64:M::$AARCH64_MAGIC:$AARCH64_MASK:$QEMU_AARCH64:F"

# Host registry snapshot: whether it is mounted, its entries, and each file's text.
host_before=$(host_listing)
note "host $HOST_BM: $(head -n1 <<<"$host_before"), $(grep -c '^== ' <<<"$host_before") files"

# --- 1-5: the TAP helpers, via a throw-away script with its own state -----------
sub=$(mktemp "${TMPDIR:-/tmp}/harness-sub.XXXXXX")
on_exit rm -f "$sub"
run_sub() { # BODY -> prints "rc=N" then the sub-script's stdout
    printf '#!/bin/bash\n. %q\n%s\n' "$ROOT/tests/integration/lib.sh" "$1" >"$sub"
    local out rc=0
    out=$(env -u _TAP_STATE -u _TAP_PID bash "$sub" 2>/dev/null) || rc=$?
    printf 'rc=%s\n%s\n' "$rc" "$out"
}
t_is "passing script: TAP output and exit 0" \
    "$(run_sub 'plan 4; t_ok "a" true; t_is "b" x x; t_like "c" abc "^a.c$"; t_nok "d" false')" \
    $'rc=0\n1..4\nok 1 - a\nok 2 - b\nok 3 - c\nok 4 - d'
t_is "failing assertions: not ok and exit status = failures" \
    "$(run_sub 'plan 3; t_ok "a" false; t_is "b" x y; t_pass "c"')" \
    $'rc=2\n1..3\nnot ok 1 - a\nnot ok 2 - b\nok 3 - c'
t_is "plan mismatch exits non-zero" \
    "$(run_sub 'plan 2; t_pass "only one"')" $'rc=255\n1..2\nok 1 - only one'
t_is "skip_all prints a skip plan" \
    "$(run_sub 'skip_all "no reason"; t_fail "never"')" $'rc=0\n1..0 # SKIP no reason'
t_is "skip and done_testing; '#' in descriptions escaped" \
    "$(run_sub 'skip "later" 2; t_pass "a # b"; done_testing')" \
    $'rc=0\nok 1 # SKIP later\nok 2 # SKIP later\nok 3 - a \\# b\n1..3'

# --- 6-10: a private instance is fresh, empty and goes away ------------------------
inside=$(in_private_binfmt sh -c 'echo "$BM"; ls -A "$BM" | sort | paste -sd, -; cat "$BM/status"')
rc=$?
t_is "in_private_binfmt runs the command" "$rc" 0
{ read -r bm_path; read -r bm_entries; read -r bm_status; } <<<"$inside"
t_is "private instance holds only register and status" "$bm_entries" "register,status"
t_is "private instance is enabled" "$bm_status" "enabled"
t_ok "its mount point is gone afterwards ($bm_path)" \
    sh -c '[ -n "$1" ] && [ ! -e "$1" ] && ! grep -qF " $1 " /proc/self/mountinfo' _ "$bm_path"

t_is "exit status of the command is passed on" "$(in_private_binfmt sh -c 'exit 7'; echo $?)" 7

# --- 11-20: a real registration inside a private instance -------------------------
if [[ ! -x $QEMU_AARCH64 || ! -x $BB_ARM64 ]]; then
    skip "needs $QEMU_AARCH64 and $BB_ARM64 (make fixtures)" 10
else
    registered_checks() { # runs in the private instance; reports test points itself
        local out rc=0
        out=$("$BB_ARM64" uname -m 2>&1) || rc=$?
        t_isnt "arm64 busybox does not run before registering (exit status $rc)" "$out" "aarch64"
        note "unregistered: $out"
        t_ok "register qemu-aarch64 with flags F" sh -c 'printf "%s" "$AARCH64_RULE" >"$BM/register"'
        t_ok "entry file appears" test -f "$BM/qemu-aarch64"
        local entry
        entry=$(cat "$BM/qemu-aarch64" 2>&1)
        t_like "entry is enabled" "$entry" $'(^|\n)enabled(\n|$)'
        t_like "entry has the interpreter" "$entry" $'(^|\n)interpreter '"$QEMU_AARCH64"$'(\n|$)'
        t_like "entry has flags F" "$entry" $'(^|\n)flags: F(\n|$)'
        t_like "entry has the magic" "$entry" $'(^|\n)offset 0\nmagic 7f454c460201010000000000000000000200b700(\n|$)'
        t_is "arm64 busybox: uname -m" "$("$BB_ARM64" uname -m 2>&1)" "aarch64"
        t_is "arm64 busybox: echo through an applet" "$("$BB_ARM64" sh -c 'echo $((6*7))' 2>&1)" "42"
        t_ok "entry can be removed" sh -c 'echo -1 >"$BM/qemu-aarch64" && [ ! -e "$BM/qemu-aarch64" ]'
    }
    in_private_binfmt registered_checks
    rc=$?
    ((rc != 125)) || t_fail "private instance for registration checks"
fi

# --- 21-23: nothing leaked ---------------------------------------------------------
t_is "a second private instance is empty again" \
    "$(in_private_binfmt sh -c 'ls -A "$BM" | sort | paste -sd, -')" "register,status"
t_unlike "no binfmt-private temp mounts left in this namespace" \
    "$(cat /proc/self/mountinfo)" 'binfmt-private\.'
host_after=$(host_listing)
t_is "host $HOST_BM listing identical before and after" "$host_after" "$host_before"
