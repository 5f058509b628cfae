#!/bin/bash
# binfmt against a registry that already holds entries: identical entries kept,
# conflicting ones left alone (exit 4) or replaced with --force, real kernel
# failures rolled back (exit 1) so the registry ends exactly as it began, other
# tools' entries (WSLInterop, python3.11) spared by "all", QEMU_BINARY_PREFIX.
# All in private binfmt_misc instances; the host's registry is checked untouched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
# shellcheck disable=SC2012,SC2010 # the registry listing is what `ls` shows, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
[[ -x $FIXTURES/busybox/arm64/busybox ]] ||
    skip_all "busybox for arm64 not cached in $FIXTURES (run tests/fixtures/fetch.sh)"
for q in aarch64 riscv64 s390x; do
    [[ -x /usr/bin/qemu-$q-static ]] || skip_all "Debian's qemu-user-static is not installed"
done
plan 48

export QEMU_BINARY_PATH=/usr/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-20-conflicts.XXXXXX")
on_exit rm -rf "$WORK"
export WORK BB_ARM64=$FIXTURES/busybox/arm64/busybox

# Register strings as binfmt writes them (literal \x escapes: the kernel decodes).
A64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
RV64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export A64_MAGIC RV64_MAGIC MASK NL=$'\n'
export A64_PF=":qemu-aarch64:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:PF"
export A64_F=":qemu-aarch64:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:F"
export A64_OTHER=":aarch64-other:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:F"
export RV64_F=":qemu-riscv64:M::$RV64_MAGIC:$MASK:/usr/bin/qemu-riscv64-static:F"
export WSL=':WSLInterop:E::wsl::/bin/true:'
export PY=':python3.11:M::\xa7\x0d\x0d\x0a::/usr/bin/python3.11:'

# --- host registry snapshot ----------------------------------------------------------
host_before=$(host_listing)

# --- helpers (run inside the private instance) -----------------------------------------
reg() { local s; for s in "$@"; do printf '%s' "$s" >"$BM/register" || return 1; done; }
reset() { echo -1 >"$BM/status"; }
emulators() { python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["emulators"]))' <<<"$1"; }

checks() {
    local before entry

    # --- 1-3: an identical entry is kept ---
    reg "$A64_PF"
    before=$(snapshot)
    bf --install arm64
    t_is "identical pre-registered entry: exit 0" "$RC" 0
    t_is "identical pre-registered entry: already registered" "$ERR" \
        "installing: linux/arm64 (qemu-aarch64) OK (already registered)"
    t_is "identical pre-registered entry: registry unchanged" "$(snapshot)" "$before"

    # --- 4-9: same name, other flags: CONFLICT, exit 4, the rest done ---
    reset
    reg "$A64_F"
    entry=$(cat "$BM/qemu-aarch64")
    bf --install arm64,riscv64
    t_is "qemu-aarch64 with flags F only: exit 4" "$RC" 4
    t_like "CONFLICT line names the entry, the difference and --force" "$ERR" \
        "(^|$NL)installing: linux/arm64 \\(qemu-aarch64\\) CONFLICT: entry qemu-aarch64 exists with flags 'F', wanted 'PF'; left alone \\(--force replaces it\\)($NL|$)"
    t_like "the other item is still installed" "$ERR" \
        "(^|$NL)installing: linux/riscv64 \\(qemu-riscv64\\) OK($NL|$)"
    t_is "conflicting entry left unchanged" "$(cat "$BM/qemu-aarch64")" "$entry"
    t_is "registry: old qemu-aarch64 and new qemu-riscv64" "$(listing)" "qemu-aarch64 qemu-riscv64 register status"
    t_is "status JSON printed after a partial run" "$(emulators "$OUT")" "qemu-aarch64 qemu-riscv64"

    # --- 10-12: --force replaces it ---
    bf --force --install arm64
    t_is "--force: exit 0" "$RC" 0
    t_like "--force: replaced, with the reason" "$ERR" \
        "^installing: linux/arm64 \\(qemu-aarch64\\) OK \\(replaced: entry qemu-aarch64 exists with flags 'F', wanted 'PF'\\)$"
    t_like "--force: entry now has flags PF" "$(cat "$BM/qemu-aarch64")" $'\nflags: PF\n'

    # --- 13-14: same name, other interpreter ---
    reset
    mkdir -p "$WORK/alt"
    cp /usr/bin/qemu-aarch64-static "$WORK/alt/qemu-aarch64-static"
    reg ":qemu-aarch64:M::$A64_MAGIC:$MASK:$WORK/alt/qemu-aarch64-static:PF"
    before=$(snapshot)
    bf --install arm64
    t_is "qemu-aarch64 with another interpreter: exit 4, entry unchanged" "$RC|$(snapshot)" "4|$before"
    t_like "CONFLICT names both interpreters" "$ERR" \
        "CONFLICT: entry qemu-aarch64 exists with interpreter $WORK/alt/qemu-aarch64-static, wanted /usr/bin/qemu-aarch64-static"

    # --- 15-21: another name, same magic ---
    reset
    reg "$A64_OTHER"
    before=$(snapshot)
    bf --install arm64
    t_is "another entry with the same magic: exit 4" "$RC" 4
    t_like "CONFLICT names the other entry" "$ERR" \
        "^installing: linux/arm64 \\(qemu-aarch64\\) CONFLICT: entry aarch64-other \\(/usr/bin/qemu-aarch64-static\\) already claims these binaries; left alone \\(--force replaces it\\)$"
    t_is "another entry with the same magic: registry unchanged" "$(snapshot)" "$before"
    bf --install all
    t_is "install all: exit 0 (a working F entry already serves arm64)" "$RC" 0
    t_like "install all: arm64 skipped, already served by aarch64-other" "$ERR" \
        "(^|$NL)installing: linux/arm64 \\(qemu-aarch64\\) skipped: already served by entry aarch64-other \\(/usr/bin/qemu-aarch64-static\\)($NL|$)"
    t_is "install all: aarch64-other unchanged, no qemu-aarch64" \
        "$(cat "$BM/aarch64-other")|$([[ -e $BM/qemu-aarch64 ]] && echo present || echo absent)" \
        "$(sed -n '/^== aarch64-other$/,/^== /{/^== /d;p}' <<<"$before")|absent"
    bf --force --install arm64
    t_is "--force over another name: aarch64-other replaced by qemu-aarch64" \
        "$RC|$([[ -e $BM/aarch64-other ]] && echo present || echo absent)|$(grep -c . "$BM/qemu-aarch64")" "0|absent|6"

    # --- 22-26: a real kernel failure rolls the whole run back ---
    # A tmpfs mounted noexec: the emulator passes every check, but the kernel's
    # open for F fails (EACCES) when riscv64 is registered, after arm64 was.
    reset
    mkdir -p "$WORK/nx"
    mount -t tmpfs -o noexec,mode=0755 tmpfs "$WORK/nx" || { t_fail "mount a noexec tmpfs"; return; }
    cp /usr/bin/qemu-riscv64-static "$WORK/nx/" && chmod 0755 "$WORK/nx/qemu-riscv64-static"
    reg "$WSL" "$PY" ":qemu-s390x:M::\\x7f\\x45\\x4c\\x46\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x16:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff:/usr/bin/qemu-s390x-static:PF"
    before=$(snapshot)
    bf --qemu-path "$WORK/nx:/usr/bin" --install arm64,riscv64
    t_is "kernel refuses riscv64 (noexec emulator): exit 1" "$RC" 1
    t_like "arm64 reported rolled back" "$ERR" \
        "(^|$NL)installing: linux/arm64 \\(qemu-aarch64\\) not done \\(rolled back\\)($NL|$)"
    t_like "riscv64 reported FAILED" "$ERR" "(^|$NL)installing: linux/riscv64 \\(qemu-riscv64\\) FAILED: "
    t_is "after the rollback the registry is identical to before" "$(snapshot)" "$before"
    t_like "the FAILED reason names the emulator the kernel could not open, not the registry's permissions" \
        "$(grep FAILED <<<"$ERR")" "FAILED: .*$WORK/nx/qemu-riscv64-static"

    # --- 27-28: --uninstall X --install X re-registers X ---
    reset
    reg "$A64_PF"
    bf --uninstall arm64 --install arm64
    t_is "--uninstall arm64 --install arm64: exit 0" "$RC" 0
    t_is "--uninstall arm64 --install arm64: qemu-aarch64 is registered afterwards" \
        "$(listing)" "qemu-aarch64 register status"

    # --- 29-34: --force whose new registration fails restores the old entry ---
    reset
    reg "$RV64_F"
    before=$(snapshot)
    bf --force --qemu-path "$WORK/nx" --install riscv64
    t_is "--force, new registration refused: exit 1" "$RC" 1
    t_is "--force, new registration refused: old entry restored exactly" "$(snapshot)" "$before"
    echo 0 >"$BM/qemu-riscv64"
    before=$(snapshot)
    bf --force --qemu-path "$WORK/nx" --install riscv64
    t_is "--force over a disabled entry, refused: exit 1" "$RC" 1
    t_is "--force over a disabled entry, refused: old entry restored disabled" "$(snapshot)" "$before"
    reset
    # The kernel accepts offset + magic up to 256 bytes (5.1+); binfmt writes <= 128.
    reg ':qemu-riscv64:M:200:\x7f\x45\x4c\x46\x02\x01::/usr/bin/qemu-riscv64-static:F'
    before=$(snapshot)
    bf --force --qemu-path "$WORK/nx" --install riscv64
    t_is "--force over an entry at offset 200, refused: exit 1" "$RC" 1
    t_is "--force over an entry at offset 200, refused: old entry restored" "$(snapshot)" "$before"
    umount "$WORK/nx"

    # --- 35-41: other tools' entries ---
    reset
    reg "$WSL" "$PY"
    bf --install arm64,riscv64
    before=$(snapshot)
    bf --uninstall all
    t_is "uninstall all: exit 0" "$RC" 0
    t_is "uninstall all: WSLInterop and python3.11 left" "$(listing)" "WSLInterop python3.11 register status"
    t_is "uninstall all: their content unchanged" "$(snapshot)" \
        "$(sed '/^== qemu-/,/^mask /d' <<<"$before")"
    t_is "status JSON does not count them as emulators" "$(emulators "$OUT")" ""
    bf --uninstall WSLInterop
    t_is "--uninstall WSLInterop (exact name): exit 0" "$RC|$ERR" \
        "0|uninstalling: WSLInterop OK"
    t_is "--uninstall WSLInterop: only python3.11 left" "$(listing)" "python3.11 register status"
    bf --uninstall python3.11
    t_is "--uninstall python3.11 (exact name): exit 0, gone" \
        "$RC|$([[ -e $BM/python3.11 ]] && echo present || echo absent)" "0|absent"

    # --- 42-47: QEMU_BINARY_PREFIX ---
    reset
    mkdir -p "$WORK/bk"
    cp /usr/bin/qemu-aarch64-static "$WORK/bk/buildkit-qemu-aarch64"
    chmod 0755 "$WORK/bk/buildkit-qemu-aarch64"
    run env QEMU_BINARY_PREFIX=buildkit- QEMU_BINARY_PATH="$WORK/bk" "$BINFMT" --mount "$BM" --install arm64
    t_is "prefix buildkit-: exit 0, entry buildkit-qemu-aarch64" "$RC|$ERR|$(listing)" \
        "0|installing: linux/arm64 (buildkit-qemu-aarch64) OK|buildkit-qemu-aarch64 register status"
    t_like "prefix buildkit-: interpreter is the prefixed file, flags PF" "$(cat "$BM/buildkit-qemu-aarch64")" \
        $'^enabled\ninterpreter '"$WORK"$'/bk/buildkit-qemu-aarch64\nflags: PF\n'
    t_is "prefix buildkit-: arm64 busybox runs" "$("$BB_ARM64" uname -m 2>&1)" "aarch64"
    t_is "prefix buildkit-: status lists the prefixed emulator" "$(emulators "$OUT")" "buildkit-qemu-aarch64"
    run env QEMU_BINARY_PREFIX=buildkit- "$BINFMT" --mount "$BM" --uninstall all
    t_is "prefix buildkit-: uninstall all removes it" "$RC|$ERR|$(listing)" \
        "0|uninstalling: linux/arm64 (buildkit-qemu-aarch64) OK|register status"
    run env QEMU_BINARY_PREFIX=buildkit- QEMU_BINARY_PATH="$WORK/bk" "$BINFMT" --mount "$BM" --install arm64
    run env QEMU_BINARY_PREFIX=buildkit- "$BINFMT" --mount "$BM" --uninstall arm64
    t_is "prefix buildkit-: uninstall arm64 removes buildkit-qemu-aarch64" "$RC|$(listing)" "0|register status"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

# --- 48: host untouched ---------------------------------------------------------------
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"
