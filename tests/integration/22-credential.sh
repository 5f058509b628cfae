#!/bin/bash
# The C flag (issue 20, docs/security.md section 4): --credential without F is a
# usage error and registers nothing; an entry with C that was not asked for (what
# tonistiigi/binfmt registers: "POCF") never counts as serving its platform:
# --install all (and the boot unit's --install all --quiet) report it as a
# conflict naming the entry, what C does and the fix, --force replaces it with our
# flags, and the status and --inspect warn about it. Real entries registered by
# hand in private binfmt_misc instances; the host's registry is checked untouched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
for q in aarch64 riscv64; do
    [[ -x /usr/bin/qemu-$q-static ]] || skip_all "Debian's qemu-user-static is not installed"
done
[[ $(uname -m) == x86_64 ]] || skip_all "expects an x86_64 host (arm64 must be foreign here)"
plan 31

export QEMU_BINARY_PATH=/usr/bin NL=$'\n'
A64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export A64_MAGIC MASK
# tonistiigi/binfmt's entry for arm64: F, P and C (the kernel adds O).
export TONI=":qemu-aarch64:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:POCF"
export TONI_OTHER=":aarch64-tonistiigi:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:POCF"
RISK="has the C flag: setuid foreign binaries run as their owner inside QEMU, which was never designed to run setuid (a local user can turn its bugs into root)"
export CONFLICT="installing: linux/arm64 (qemu-aarch64) CONFLICT: entry qemu-aarch64 (/usr/bin/qemu-aarch64-static) $RISK; left alone ('binfmt --install qemu-aarch64 --force' replaces it with one without C)"
export WARNING="binfmt: warning: entry qemu-aarch64 (/usr/bin/qemu-aarch64-static) $RISK; 'binfmt --install qemu-aarch64 --force' replaces it with one without C"
export REPLACED="installing: linux/arm64 (qemu-aarch64) OK (replaced: entry qemu-aarch64 (/usr/bin/qemu-aarch64-static) $RISK)"

host_before=$(host_listing)

reg() { printf '%s' "$1" >"$BM/register"; }
reset() { echo -1 >"$BM/status"; }
# has_line TEXT LINE: how many lines of TEXT are exactly LINE.
has_line() { grep -Fxc -- "$2" <<<"$1"; }
flags_of() { sed -n 's/^flags: //p' "$BM/$1"; }
# inspect_arm64: "flags|warning" of linux/arm64, then whether any other platform has a warning.
inspect_summary() {
    python3 -c '
import json, sys
ps = json.load(sys.stdin)["platforms"]
a = [p for p in ps if p["platform"] == "linux/arm64"][0]
print("%s|%s" % (a["flags"], a.get("warning")))
print(" ".join(p["platform"] for p in ps if p["platform"] != "linux/arm64" and "warning" in p) or "none")' <<<"$1"
}

checks() {
    local before

    # --- 1-6: --credential without F refused, nothing registered ---
    reg "$TONI"
    before=$(snapshot)
    bf --flags P --credential --install riscv64
    t_is "--flags P --credential: exit 2 (usage)" "$RC" 2
    t_is "--flags P --credential: one line naming the problem and the fix" "$ERR" \
        "binfmt: --credential needs the F flag (--flags 'P' has none): without it an image could supply the emulator that runs setuid; add F to --flags${NL}Try 'binfmt --help' for more information."
    t_is "--flags P --credential: nothing on stdout, registry unchanged" "$OUT$(snapshot)" "$before"
    bf --flags OP --credential --install riscv64 --dry-run
    t_is "--flags OP --credential --dry-run: refused too (exit 2, the same message, nothing printed)" \
        "$RC|$OUT|$(head -n1 <<<"$ERR")" \
        "2||binfmt: --credential needs the F flag (--flags 'OP' has none): without it an image could supply the emulator that runs setuid; add F to --flags"
    bf --flags FP --credential --install riscv64
    t_is "--flags FP --credential: accepted, registered with POCF" "$RC|$(flags_of qemu-riscv64)" "0|POCF"
    t_is "the pre-registered C entry is untouched by all this" "$(flags_of qemu-aarch64)" "POCF"

    # --- 7-12: --install all does not count a C entry as serving arm64 ---
    reset
    reg "$TONI"
    bf --install all
    t_is "install all over a POCF qemu-aarch64: exit 4 (left alone)" "$RC" 4
    t_is "install all: the CONFLICT line names the entry, what C does and the fix" \
        "$(has_line "$ERR" "$CONFLICT")" 1
    t_is "install all: the C entry is left as it was" "$(flags_of qemu-aarch64)" "POCF"
    t_is "install all: the rest is done (qemu-riscv64 registered with PF)" "$(flags_of qemu-riscv64)" "PF"
    t_is "install all: the status after it warns on stderr" "$(has_line "$ERR" "$WARNING")" 1
    bf --install all --quiet
    t_is "install all --quiet (the boot unit): exit 4, only the CONFLICT line" "$RC|$ERR" "4|$CONFLICT"

    # --- 13-16: named explicitly, and the dry run, say the same ---
    before=$(snapshot)
    bf --install arm64
    t_is "install arm64 over the POCF entry: exit 4, the same CONFLICT line" \
        "$RC|$(has_line "$ERR" "$CONFLICT")" "4|1"
    bf --install all --dry-run
    t_is "install all --dry-run: exit 4, the same CONFLICT line" "$RC|$(has_line "$ERR" "$CONFLICT")" "4|1"
    t_unlike "install all --dry-run: no register string for qemu-aarch64" "$OUT" ':qemu-aarch64:'
    t_is "registry unchanged by both" "$(snapshot)" "$before"

    # --- 17-21: the status and --inspect warn ---
    bf
    t_is "status: exit 0, the warning line on stderr" "$RC|$(has_line "$ERR" "$WARNING")" "0|1"
    t_like "status: arm64 still listed as supported (it runs)" "$OUT" '"linux/arm64"'
    bf --inspect
    t_is "--inspect: exit 0, the warning line on stderr" "$RC|$(has_line "$ERR" "$WARNING")" "0|1"
    t_is "--inspect: linux/arm64 carries the warning" "$(inspect_summary "$OUT" | sed -n 1p)" \
        "POCF|${WARNING#binfmt: warning: }"
    t_is "--inspect: no other platform has a warning (qemu-riscv64 is PF)" \
        "$(inspect_summary "$OUT" | sed -n 2p)" "none"

    # --- 22-25: --force replaces it with our own flags ---
    bf --install all --force
    t_is "install all --force: exit 0" "$RC" 0
    t_is "install all --force: qemu-aarch64 replaced, saying why" "$(has_line "$ERR" "$REPLACED")" 1
    t_is "install all --force: qemu-aarch64 now has PF, no warning left" \
        "$(flags_of qemu-aarch64)|$(grep -c 'warning' <<<"$ERR")" "PF|0"
    bf --inspect
    t_is "--inspect after --force: no warning" "$(inspect_summary "$OUT" | tr '\n' ' ')|$ERR" "PF|None none |"

    # --- 26-29: under another name, beside a working entry without C ---
    reset
    reg ":aarch64-other:M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:F"
    reg "$TONI_OTHER"
    before=$(snapshot)
    bf --install all
    t_is "another name with C beside an F entry: exit 4, not 'already served'" \
        "$RC|$(grep -c 'already served' <<<"$ERR")" "4|0"
    t_like "the CONFLICT line names the C entry" "$ERR" \
        "(^|$NL)installing: linux/arm64 \\(qemu-aarch64\\) CONFLICT: entry aarch64-tonistiigi \\(/usr/bin/qemu-aarch64-static\\) has the C flag: "
    t_is "left alone: registry unchanged but for the other platforms" \
        "$(sed -n '/^== aarch64-/,/^mask/p' <<<"$(snapshot)")" "$(sed -n '/^== aarch64-/,/^mask/p' <<<"$before")"
    bf --install all --force
    t_is "--force: both replaced by qemu-aarch64 with PF" \
        "$RC|$([[ -e $BM/aarch64-tonistiigi || -e $BM/aarch64-other ]] && echo left || echo gone)|$(flags_of qemu-aarch64)" \
        "0|gone|PF"

    # --- 30: C asked for: an identical C entry is ours ---
    reset
    reg "$TONI"
    bf --credential --install arm64
    t_is "--credential over the identical POCF entry: already registered, exit 0" "$RC|$(head -n1 <<<"$ERR")" \
        "0|installing: linux/arm64 (qemu-aarch64) OK (already registered)"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"

# --- 31: host untouched ---
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"
