#!/bin/bash
# Faults, each in a private binfmt_misc instance, each asserting every exit code
# and the registry left behind (docs/security.md explains the decisions):
#
#  - 16 concurrent `binfmt --install all` into one instance: all exit 0, each entry
#    registered exactly once (the others truthfully say "already registered"),
#    the registry complete and identical to what one run would leave;
#  - install racing uninstall: the registry ends in one of the two consistent
#    states (all there, or none), and each run's report matches it;
#  - binfmt_misc switched off (echo 0 > status): install refuses with 3 and
#    changes nothing; uninstall works; status warns; switched on, install works;
#  - an entry disabled by hand: install re-enables it, status and --inspect say so,
#    someone else's disabled entry is a conflict (4), uninstall removes ours;
#  - the interpreter deleted or replaced after an F registration: the pinned
#    file keeps running, --inspect says the path no longer shows it; without F a
#    deleted interpreter is ENOENT at exec time;
#  - kernel errors: EROFS (read-only bind mount), EACCES (register not writable;
#    noexec emulator with F), ENOENT (emulator deleted just before the write),
#    EEXIST (a concurrent registrant, identical or not) are produced for real;
#    EPERM, EINVAL and a failing removal are faked with tests/faults/errno_shim.c,
#    because binfmt checks CAP_SYS_ADMIN before writing and never writes a string
#    the kernel rejects (fuzz_register checks that), so the kernel cannot be made
#    to say them here.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
BUILD_DIR=$(dirname "$(dirname "$BINFMT")")
SHIM=$BUILD_DIR/tests/errno_shim.so
[[ -x /usr/bin/qemu-aarch64-static && -x /usr/bin/qemu-riscv64-static ]] ||
    skip_all "Debian's qemu-user-static is not installed"
[[ -x $FIXTURES/busybox/arm64/busybox ]] || skip_all "busybox for arm64 not cached (run tests/fixtures/fetch.sh)"
[[ -f $SHIM ]] || skip_all "$SHIM not built (make unit)"
[[ -x $BUILD_DIR/tests/fake-emu-exit3 ]] || skip_all "fake emulators not built (make unit)"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) needed"
plan 82

export QEMU_BINARY_PATH=/usr/bin SHIM BB=$FIXTURES/busybox/arm64/busybox FAKE3=$BUILD_DIR/tests/fake-emu-exit3
# A sanitized binfmt refuses a preload that is not its runtime unless told.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-95-faults.XXXXXX")
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
export WORK
host_before=$(host_listing)

# What one run of --install all registers here (QEMU_BINARY_PATH=/usr/bin): lib.sh's
# expected_install_all, from the target list and this machine, not binfmt's dry run.
expected_all() { expected_install_all /usr/bin; }
entries() { find "$BM" -mindepth 1 -maxdepth 1 ! -name register ! -name status -printf '%f\n' | LC_ALL=C sort | paste -sd' ' -; }
inspect_of() { # PLATFORM -> "status|supported|qemu_version|reason"
    "$BINFMT" --mount "$BM" --inspect 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["platforms"]:
    if p["platform"] == sys.argv[1]:
        print("%s|%s|%s|%s" % (p["status"], str(p["supported"]).lower(), p["qemu_version"], p["reason"] or ""))' "$1"
}
emulators() { "$BINFMT" --mount "$BM" 2>/dev/null | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["emulators"]))'; }
# make valgrind-check sets BINFMT_VALGRIND: valgrind 3.19 ends a probe child whose
# execve fails with status 101, so failed probes are not told apart there.
probe_classes() { [[ -z ${BINFMT_VALGRIND:-} ]]; }
NO_CLASSES="under valgrind a failed probe reads exit-code (docs/security.md)"
export -f expected_all entries inspect_of emulators probe_classes
export NO_CLASSES

# --- 1-6: 16 concurrent --install all ---------------------------------------------
concurrent_install() {
    local i rcs out dup
    EXPECTED_ALL=$(expected_all)
    for i in $(seq 1 16); do
        ("$BINFMT" --mount "$BM" --install all >"$WORK/c$i.out" 2>"$WORK/c$i.err"; echo $? >"$WORK/c$i.rc") &
    done
    wait
    rcs=""
    for i in $(seq 1 16); do rcs+="$(cat "$WORK/c$i.rc") "; done
    t_is "16 concurrent --install all: every run exits 0" "$rcs" "$(printf '0 %.0s' $(seq 1 16))" ||
        for i in $(seq 1 16); do
            [[ $(cat "$WORK/c$i.rc") == 0 ]] || diag "run $i:" "$(cat "$WORK/c$i.err")"
        done
    t_is "...the registry is complete" "$(entries)" "$EXPECTED_ALL"
    out=$(cat "$WORK"/c*.err | grep -E '^installing: .* OK$' | sed 's/^installing: //' | LC_ALL=C sort)
    dup=$(uniq -d <<<"$out")
    t_is "...each entry was registered by exactly one run" "$(wc -l <<<"$out") ${dup:-no duplicates}" \
        "$(wc -w <<<"$EXPECTED_ALL") no duplicates"
    t_unlike "...no run failed, conflicted or rolled back" "$(cat "$WORK"/c*.err)" 'FAILED|CONFLICT|rolled back|rollback'
    t_is "...the other runs said 'already registered' for every entry" \
        "$(cat "$WORK"/c*.err | grep -c 'OK (already registered)$')" "$((15 * $(wc -w <<<"$EXPECTED_ALL")))"
    bf --install all
    t_is "...and one more run finds nothing to do: every entry is what it registers" "$RC|$(grep -cv -e 'already registered' -e 'skipped' <<<"$ERR")" "0|0"
}
export -f concurrent_install
in_private_binfmt concurrent_install
(($? != 125)) || bail_out "private instance"

# --- 7-12: install racing uninstall -----------------------------------------------
race_rounds() {
    local round set="arm64,riscv64,s390x,ppc64le" full="qemu-aarch64 qemu-ppc64le qemu-riscv64 qemu-s390x"
    local bad_state="" bad_report="" bad_rc="" states="" ri ru st
    EXPECTED_ALL=$(expected_all)
    for round in 1 2 3 4 5 6; do
        bf --install "$set" >/dev/null
        if ((round % 2)); then
            ("$BINFMT" --mount "$BM" --install "$set" >/dev/null 2>"$WORK/ri.err"; echo $? >"$WORK/ri.rc") &
            ("$BINFMT" --mount "$BM" --uninstall all >/dev/null 2>"$WORK/ru.err"; echo $? >"$WORK/ru.rc") &
        else
            ("$BINFMT" --mount "$BM" --uninstall all >/dev/null 2>"$WORK/ru.err"; echo $? >"$WORK/ru.rc") &
            ("$BINFMT" --mount "$BM" --install "$set" >/dev/null 2>"$WORK/ri.err"; echo $? >"$WORK/ri.rc") &
        fi
        wait
        ri=$(cat "$WORK/ri.rc") ru=$(cat "$WORK/ru.rc") st=$(entries)
        [[ $ri == 0 && $ru == 0 ]] || bad_rc+="round $round: install $ri, uninstall $ru; "
        case $st in
        "$full") # uninstall first (removed the 4), then install registered all 4
            states+="installed "
            [[ $(grep -c ' OK$' "$WORK/ri.err") == 4 && $(grep -c ' OK$' "$WORK/ru.err") == 4 ]] ||
                bad_report+="round $round: $(cat "$WORK/ri.err" "$WORK/ru.err"); " ;;
        "") # install first (all 4 already there), then uninstall removed them
            states+="removed "
            [[ $(grep -c 'OK (already registered)$' "$WORK/ri.err") == 4 && $(grep -c ' OK$' "$WORK/ru.err") == 4 ]] ||
                bad_report+="round $round: $(cat "$WORK/ri.err" "$WORK/ru.err"); " ;;
        *) bad_state+="round $round: '$st'; " ;;
        esac
    done
    t_is "install racing uninstall, 6 rounds: both exit 0 every time" "$bad_rc" ""
    t_is "...the registry always ends all there or all gone" "$bad_state" ""
    t_is "...and the reports match what happened" "$bad_report" ""
    note "outcomes: $states"
    # The same with everything: --install all against --uninstall all.
    ("$BINFMT" --mount "$BM" --install all >/dev/null 2>&1; echo $? >"$WORK/ri.rc") &
    ("$BINFMT" --mount "$BM" --uninstall all >/dev/null 2>&1; echo $? >"$WORK/ru.rc") &
    wait
    st=$(entries)
    t_is "--install all racing --uninstall all: both exit 0" "$(cat "$WORK/ri.rc") $(cat "$WORK/ru.rc")" "0 0"
    t_ok "...and the registry is complete or empty (got ${st:0:60}...)" test "$st" = "$EXPECTED_ALL" -o -z "$st"
    bf --uninstall all
    t_is "...cleaned up" "$RC|$(entries)" "0|"
}
export -f race_rounds
in_private_binfmt race_rounds

# --- 13-22: binfmt_misc switched off ------------------------------------------------
status_disabled() {
    bf --install arm64
    echo 0 >"$BM/status"
    t_is "status file says disabled" "$(cat "$BM/status")" "disabled"
    t_like "an arm64 binary no longer runs (exec format error)" "$("$BB" uname -m 2>&1)" 'Exec format error'
    local before
    before=$(snapshot)
    bf --install riscv64
    t_is "install with binfmt_misc disabled: exit 3" "$RC" 3
    t_like "...says why and how to enable it" "$ERR" 'binfmt_misc is disabled .*nothing was changed.*echo 1 > .*/status'
    t_is "...nothing changed (status still disabled, no riscv64)" "$(snapshot)" "$before"
    bf --install riscv64 --dry-run
    t_is "dry run predicts the same: exit 3, no register string" "$RC|$OUT" "3|"
    bf
    t_like "status: exit 0, warns that binfmt_misc is disabled" "$RC|$ERR" '^0\|binfmt: binfmt_misc is disabled'
    if [[ -n ${BINFMT_VALGRIND:-} ]]; then
        t_is "...supported: arm64 does not run" "$(inspect_of linux/arm64 | cut -d'|' -f2)" "false"
    else
        t_is "...supported: arm64 does not run (no handler)" "$(inspect_of linux/arm64 | cut -d'|' -f1,2)" "no-handler|false"
    fi
    bf --uninstall arm64
    t_is "uninstall still works while disabled: exit 0, entry gone, still disabled" "$RC|$(entries)|$(cat "$BM/status")" "0||disabled"
    echo 1 >"$BM/status"
    bf --install arm64
    t_is "enabled again: install exit 0, and arm64 runs" "$RC|$("$BB" uname -m 2>&1)" "0|aarch64"
    bf --uninstall all
}
export -f status_disabled
in_private_binfmt status_disabled

# --- 23-32: an entry disabled by hand -------------------------------------------------
entry_disabled() {
    bf --install arm64
    echo 0 >"$BM/qemu-aarch64"
    t_like "qemu-aarch64 disabled by hand: arm64 binaries stop running" "$("$BB" uname -m 2>&1)" 'Exec format error'
    t_is "status: disabled entry is not in emulators" "$(emulators)" ""
    if probe_classes; then
        t_like "--inspect: the reason says the entry is disabled" "$(inspect_of linux/arm64)" '^no-handler\|false\|.*\|entry qemu-aarch64 is disabled$'
    else
        skip "$NO_CLASSES"
    fi
    bf --install arm64
    t_is "install re-enables it: exit 0, one line saying so" "$RC|$ERR" \
        "0|installing: linux/arm64 (qemu-aarch64) OK (re-enabled: it was disabled)"
    t_is "...enabled, and arm64 runs again" "$(head -1 "$BM/qemu-aarch64")|$("$BB" uname -m 2>&1)" "enabled|aarch64"
    echo 0 >"$BM/qemu-aarch64"
    bf --install all
    t_is "install all re-enables it too (exit 0)" "$RC|$(head -1 "$BM/qemu-aarch64")" "0|enabled"
    bf --uninstall all
    # Someone else's disabled handler claiming the same binaries.
    printf '%s' ':other-arm64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/bin/true:' >"$BM/register"
    echo 0 >"$BM/other-arm64"
    local before
    before=$(snapshot)
    bf --install arm64
    t_is "someone else's disabled entry for arm64: exit 4, a CONFLICT line" "$RC|$(grep -c CONFLICT <<<"$ERR")" "4|1"
    t_is "...left alone (still disabled, nothing added)" "$(snapshot)" "$before"
    bf --uninstall other-arm64
    t_is "it is removed only by its exact name: exit 0, registry empty" "$RC|$(entries)" "0|"
    bf --install arm64
    echo 0 >"$BM/qemu-aarch64"
    bf --uninstall arm64
    t_is "uninstall removes a disabled entry of ours: exit 0, gone" "$RC|$(entries)" "0|"
}
export -f entry_disabled
in_private_binfmt entry_disabled

# --- 33-42: the interpreter deleted or replaced after registration ---------------------
pinned_interpreter() {
    local d=$WORK/emu
    mkdir -p "$d" && cp /usr/bin/qemu-aarch64-static "$d/qemu-aarch64" && chmod 755 "$d/qemu-aarch64"
    bf --qemu-path "$d" --install arm64
    t_is "F registration from a private copy: exit 0" "$RC|$(grep '^flags' "$BM/qemu-aarch64")" "0|flags: PF"
    rm -f "$d/qemu-aarch64"
    t_is "copy deleted: arm64 still runs on the pinned file" "$("$BB" uname -m 2>&1)" "aarch64"
    t_like "--inspect: supported, version unknown, the reason says the file was deleted" "$(inspect_of linux/arm64)" \
        "^ok\|true\|None\|interpreter $d/qemu-aarch64 was deleted after entry qemu-aarch64 was registered"
    bf --qemu-path "$d" --install arm64
    t_is "install from the now empty directory: exit 3, entry untouched" "$RC|$(entries)" "3|qemu-aarch64"
    bf --uninstall arm64
    cp /usr/bin/qemu-aarch64-static "$d/qemu-aarch64" && chmod 755 "$d/qemu-aarch64"
    bf --qemu-path "$d" --install arm64
    sleep 0.05
    # A package upgrade renames a new file over the old path: here a different
    # (static, root-owned) program, so we can tell which one runs.
    cp "$FAKE3" "$d/.new" && chmod 755 "$d/.new" && mv -f "$d/.new" "$d/qemu-aarch64"
    t_is "path replaced by another program: the pinned emulator still runs" "$("$BB" uname -m 2>&1)" "aarch64"
    t_like "--inspect: supported, version unknown, the reason says it was replaced" "$(inspect_of linux/arm64)" \
        "^ok\|true\|None\|interpreter $d/qemu-aarch64 was replaced or changed after entry qemu-aarch64 was registered"
    bf --uninstall arm64
    bf --qemu-path "$d" --install arm64
    local rc=0
    "$BB" uname -m >/dev/null 2>&1 || rc=$?
    t_is "re-registered: now the new file runs (the fake exits 3)" "$RC|$rc" "0|3"
    bf --uninstall arm64
    # Without F the path is looked up at every exec.
    cp /usr/bin/qemu-aarch64-static "$d/qemu-aarch64"
    bf --qemu-path "$d" --flags P --install arm64
    rm -f "$d/qemu-aarch64"
    t_like "without F, a deleted interpreter: exec fails with ENOENT" "$("$BB" uname -m 2>&1)" "No such file or directory|required file not found"
    if probe_classes; then
        t_like "...and --inspect says it is missing" "$(inspect_of linux/arm64)" "^not-found\|false\|.*is missing"
    else
        skip "$NO_CLASSES"
    fi
    bf --uninstall all
    t_is "cleaned up" "$RC|$(entries)" "0|"
}
export -f pinned_interpreter
in_private_binfmt pinned_interpreter

# --- 43-70: errors from the kernel ------------------------------------------------------
kernel_errors() {
    local before ro=$WORK/ro d
    # EROFS, real: a read-only bind mount of the instance.
    bf --install arm64
    mkdir -p "$ro" && mount --bind "$BM" "$ro" && mount -o remount,ro,bind "$ro"
    before=$(snapshot)
    run "$BINFMT" --mount "$ro" --install riscv64
    t_is "EROFS (read-only mount, real): install exits 3" "$RC" 3
    t_like "...says read-only" "$ERR" 'read-only'
    run "$BINFMT" --mount "$ro" --uninstall all
    t_is "...uninstall exits 3 too, registry unchanged" "$RC|$(snapshot)" "3|$before"
    run "$BINFMT" --mount "$ro"
    t_like "...status still works there (exit 0, lists qemu-aarch64)" "$RC|$OUT" '^0\|.*"qemu-aarch64"'
    umount "$ro"

    # EACCES, real: register not writable, and no DAC override to get past it.
    chmod 000 "$BM/register"
    run setpriv --bounding-set=-dac_override,-dac_read_search "$BINFMT" --mount "$BM" --install riscv64
    chmod 200 "$BM/register"
    t_is "EACCES on register (real): exit 3, registry unchanged" "$RC|$(snapshot)" "3|$before"
    t_like "...names the cause" "$ERR" 'cannot write .*/register: Permission denied'

    # EACCES, real: with F the kernel opens the emulator, which sits on a noexec mount.
    d=$WORK/noexec
    mkdir -p "$d" && mount -t tmpfs -o noexec,mode=755 tmpfs "$d" && cp /usr/bin/qemu-aarch64-static "$d/qemu-aarch64"
    bf --uninstall all
    run "$BINFMT" --mount "$BM" --qemu-path "$d:/usr/bin" --install riscv64,arm64
    t_is "EACCES opening a noexec emulator for F (real): exit 1, riscv64 rolled back, nothing left" "$RC|$(entries)" "1|"
    t_like "...arm64 FAILED with the reason, riscv64 not done" "$ERR" \
        'riscv64 \(qemu-riscv64\) not done \(rolled back\).*arm64 \(qemu-aarch64\) FAILED: the kernel cannot open interpreter .*noexec'
    umount "$d"

    # ENOENT, real: the emulator vanishes between binfmt's checks and the write.
    d=$WORK/vanish
    mkdir -p "$d" && cp /usr/bin/qemu-aarch64-static "$d/qemu-aarch64"
    ERRNO_SHIM_RACE=unlink LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --qemu-path "$d" --install arm64
    t_is "ENOENT: emulator deleted just before the write (real kernel errno): exit 1, nothing registered" "$RC|$(entries)" "1|"
    t_like "...the message names the interpreter and ENOENT" "$ERR" "cannot open interpreter $d/qemu-aarch64: No such file or directory"
    run "$BINFMT" --mount "$BM" --qemu-path "$d" --install arm64
    t_is "...and with no emulator at all binfmt refuses first: exit 3" "$RC|$(entries)" "3|"

    # EEXIST, real: a concurrent registrant writes the identical entry first.
    ERRNO_SHIM_RACE=twice LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "EEXIST from an identical concurrent registration (real): exit 0, already registered" "$RC|$ERR" \
        "0|installing: linux/arm64 (qemu-aarch64) OK (already registered)"
    t_is "...exactly one entry, ours" "$(entries)|$(grep interpreter "$BM/qemu-aarch64")" \
        "qemu-aarch64|interpreter /usr/bin/qemu-aarch64-static"
    bf --uninstall all
    # EEXIST, real: a concurrent registrant writes a different entry of that name.
    local other=':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/bin/true:P'
    ERRNO_SHIM_RACE="other:$other" LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64,riscv64
    t_is "EEXIST from a different concurrent registration (real): exit 4" "$RC" 4
    t_like "...a CONFLICT line that says it appeared meanwhile" "$ERR" \
        'arm64 \(qemu-aarch64\) CONFLICT: entry qemu-aarch64 was registered meanwhile by another process, with interpreter /bin/true'
    t_is "...the other entry left alone, riscv64 done" "$(entries)|$(grep interpreter "$BM/qemu-aarch64")" \
        "qemu-aarch64 qemu-riscv64|interpreter /bin/true"
    bf --uninstall all

    # Faked: binfmt checks CAP_SYS_ADMIN and its strings first, so the kernel's
    # EPERM and EINVAL cannot be provoked for real.
    ERRNO_SHIM_REGISTER=EPERM@2 LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64,riscv64
    t_is "EPERM on the 2nd register write (faked): exit 1, the 1st rolled back, nothing left" "$RC|$(entries)" "1|"
    t_like "...the failing item says FAILED, the other 'rolled back'" "$ERR" \
        'arm64 \(qemu-aarch64\) not done \(rolled back\).*riscv64 \(qemu-riscv64\) FAILED: '
    # ...and the rollback itself failing (faked EIO on removing the 1st): the report
    # must not say "rolled back" of an entry still there (it did, issue 17).
    ERRNO_SHIM_REGISTER=EPERM@2 ERRNO_SHIM_ENTRY=EIO@1 LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64,riscv64
    t_is "...and the rollback failing too (faked EIO removing the 1st): exit 1, the 1st left" "$RC|$(entries)" "1|qemu-aarch64"
    t_like "...which the report says of it, and 'rollback incomplete' naming it" "$ERR" \
        "arm64 \\(qemu-aarch64\\) NOT rolled back: left registered.*riscv64 \\(qemu-riscv64\\) FAILED: .*binfmt: rollback incomplete: could not remove entry qemu-aarch64: .*Input/output error; the registry is not as it was"
    bf --uninstall all
    # The lock (issue 17): bfs_lock reported success on any flock error but
    # EWOULDBLOCK, so a run went on unserialized. ENOLCK: exit 3, nothing done;
    # a filesystem without locks (EOPNOTSUPP): nothing to serialize with, it goes on.
    ERRNO_SHIM_FLOCK=ENOLCK LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "flock fails with ENOLCK (faked): exit 3, nothing registered" "$RC|$(entries)" "3|"
    t_like "...one line naming it" "$ERR" "^binfmt: cannot lock $BM: No locks available"
    ERRNO_SHIM_FLOCK=EOPNOTSUPP LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "flock unsupported (faked EOPNOTSUPP): registered without a lock" "$RC|$(entries)" "0|qemu-aarch64"
    bf --uninstall all
    ERRNO_SHIM_REGISTER=EINVAL LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "EINVAL from the kernel (faked): exit 1, nothing registered" "$RC|$(entries)" "1|"
    t_like "...says the kernel rejected it" "$ERR" 'the kernel rejected the registration of qemu-aarch64 \(invalid argument\)'
    ERRNO_SHIM_REGISTER=EROFS LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "EROFS on the write itself (faked: remounted read-only after the check): exit 1" "$RC|$(entries)" "1|"
    # A removal that fails halfway: what was removed comes back, as it was.
    bf --install arm64,riscv64,s390x
    echo 0 >"$BM/qemu-riscv64"
    before=$(snapshot)
    ERRNO_SHIM_ENTRY=EROFS@3 LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --uninstall arm64,riscv64,s390x
    t_is "a removal failing halfway (faked EROFS on the 3rd): exit 1" "$RC" 1
    t_is "...the two removed entries are restored exactly (riscv64 still disabled)" "$(snapshot)" "$before"
    t_like "...and the report says which failed and what was rolled back" "$ERR" \
        'uninstalling: linux/arm64 \(qemu-aarch64\) not done \(rolled back\).*s390x \(qemu-s390x\) FAILED: remove: .*read-only'
    # A removal racing someone else's: ENOENT means it is gone, which was the point.
    ERRNO_SHIM_ENTRY=ENOENT LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --uninstall arm64
    t_is "ENOENT removing (removed meanwhile by someone else, faked): exit 0, not installed" "$RC|$ERR" \
        "0|uninstalling: linux/arm64 (qemu-aarch64) OK (not installed)"
    bf --uninstall all
    t_is "cleaned up" "$RC|$(entries)" "0|"

    # Unprivileged (CAP_SYS_ADMIN dropped): refused before anything is opened for writing.
    run setpriv --bounding-set=-sys_admin "$BINFMT" --mount "$BM" --install arm64
    t_is "without CAP_SYS_ADMIN: install exits 3, nothing registered" "$RC|$(entries)" "3|"
    t_like "...and says what is needed" "$ERR" 'needs CAP_SYS_ADMIN'
    run setpriv --bounding-set=-sys_admin "$BINFMT" --mount "$BM"
    t_is "...status still works (exit 0)" "$RC" 0
}
export -f kernel_errors
in_private_binfmt kernel_errors

# --- the lock: a run waits while another holds it, and gives up after 60 s -------------
# The holder is flock(1) on the instance's directory, as binfmt takes it. binfmt
# sleeps only while the lock is taken; the shim's ERRNO_SHIM_SLEEP_MARK says when
# it began to, so the holder lets go only once binfmt is really waiting.
wait_for() { # FILE: until it exists (60 s at most)
    local i
    for ((i = 0; i < 1200; i++)); do [[ -e $1 ]] && return 0; sleep 0.05; done
    return 1
}
lock_wait() {
    local m=$WORK/lock-mark h=$WORK/lock-held log=$WORK/lock.log holder
    rm -f "$m" "$h" "$log"
    flock "$BM" -c "touch '$h'; for i in \$(seq 1 1200); do [ -e '$m' ] && exit 0; sleep 0.05; done" &
    holder=$!
    wait_for "$h" || diag "the lock holder did not start"
    ERRNO_SHIM_SLEEP_MARK=$m LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    wait "$holder"
    t_is "the lock held by another run: binfmt waited for it (slept), then registered (exit 0)" \
        "$([[ -e $m ]] && echo waited)|$RC|$(entries)" "waited|0|qemu-aarch64"
    bf --uninstall all

    # The 60 s timeout, on the shim's clock (ERRNO_SHIM_SLEEP=fast): binfmt counts
    # the time it asks to sleep, which then passes at once; the holder is real.
    rm -f "$m" "$h"
    flock "$BM" -c "touch '$h'; for i in \$(seq 1 1200); do [ -e '$m' ] && exit 0; sleep 0.05; done" &
    holder=$!
    wait_for "$h" || diag "the lock holder did not start"
    ERRNO_SHIM_SLEEP=fast ERRNO_SHIM_LOG=$log LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --install arm64
    t_is "the lock held for longer than 60 s: exit 3 after 60000 ms of waiting, nothing registered" \
        "$RC|$(sed -n 's/^slept //p' "$log")|$(entries)" "3|60000|"
    t_is "...one line saying so and what to do" "$ERR" \
        "binfmt: another binfmt has been changing $BM for 60 s: try again when it is done"
    # The holder still holds it (it waits for the mark, which nothing made yet).
    ERRNO_SHIM_SLEEP=fast ERRNO_SHIM_SLEEP_MARK=$m LD_PRELOAD=$SHIM run "$BINFMT" --mount "$BM" --dry-run --install arm64
    t_is "...while --dry-run, which changes nothing, does not wait for it (exit 0, never slept)" \
        "$RC|$([[ -e $m ]] && echo slept)|$(kill -0 "$holder" 2>/dev/null && echo held)" "0||held"
    touch "$m"
    wait "$holder"
}
export -f wait_for lock_wait
in_private_binfmt lock_wait

# --- 71: the shim logs what binfmt writes: one write per entry, as the kernel needs ----
one_write() {
    ERRNO_SHIM_LOG=$WORK/writes LD_PRELOAD=$SHIM "$BINFMT" --mount "$BM" --install arm64,riscv64 >/dev/null 2>&1
    t_is "one write(2) per registration, nothing else written to binfmt_misc" \
        "$(cut -d: -f1 "$WORK/writes" | paste -sd' ' -)|$(grep -c '^register: :qemu-' "$WORK/writes")" "register register|2"
}
export -f one_write
in_private_binfmt one_write

# --- 72: host untouched ---------------------------------------------------------------------
t_is "host registry identical before and after" "$(host_listing)" "$host_before"
