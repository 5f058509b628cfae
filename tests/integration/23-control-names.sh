#!/bin/bash
# Entries other tools registered under names (and interpreter paths) with control
# characters, C1 controls and bytes that are not UTF-8 (issue 20, item 6): binfmt
# lists them like any other, so they count as conflicts, "--uninstall all"
# removes them, --inspect and the status JSON name them (every key present, the
# output valid UTF-8), and the terminal never gets their raw bytes: they show
# as \xNN. All in private binfmt_misc instances; the host's registry is untouched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
# shellcheck disable=SC2012 # the registry listing is what `ls` shows, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
for q in aarch64 riscv64; do
    [[ -x /usr/bin/qemu-$q-static ]] || skip_all "Debian's qemu-user-static is not installed"
done
command -v python3 >/dev/null || skip_all "needs python3 (to check the JSON)"
plan 20

export QEMU_BINARY_PATH=/usr/bin
unset QEMU_BINARY_PREFIX
WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-23-control-names.XXXXXX")
on_exit rm -rf "$WORK"
# A path with a C1 control (0x9b, CSI), an invalid byte (0xff) and ESC.
ODD_DIR="$WORK/"$'d\x9b\xff\x1b[31m'
mkdir "$ODD_DIR"
cp /usr/bin/qemu-riscv64-static "$ODD_DIR/qemu-riscv64-static"
A64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
RV64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
export A64_TAB=":qemu-aarch64"$'\t'":M::$A64_MAGIC:$MASK:/usr/bin/qemu-aarch64-static:F"
export RV64_ODD=":qemu-riscv64"$'\x9b\xff'":M::$RV64_MAGIC:$MASK:$ODD_DIR/qemu-riscv64-static:F"
export WORK ODD_DIR

host_before=$(host_listing)

# raw_controls TEXT: the bytes of TEXT a terminal would act on (controls but
# newline, DEL, and every byte >= 0x80: binfmt's own messages are ASCII), as hex.
raw_controls() { printf '%s' "$1" | LC_ALL=C tr -d '\n' | LC_ALL=C tr -d '\040-\176' | od -An -tx1 | tr -d ' \n'; }
export -f raw_controls
# json_field EXPR <JSON: EXPR evaluated on the JSON on stdin (d), which must be
# strict UTF-8 (a decoding error fails the comparison it feeds).
json_field() { python3 -c '
import json, sys
raw = sys.stdin.buffer.read()
d = json.loads(raw.decode("utf-8", errors="strict"))
print(eval(sys.argv[1], {"d": d}))' "$1"; }
export -f json_field

checks() {
    if ! printf '%s' "$A64_TAB" >"$BM/register" || ! printf '%s' "$RV64_ODD" >"$BM/register"; then
        t_fail "registering the odd entries"
        return
    fi
    t_is "the kernel holds both odd entries" "$(ls "$BM" | LC_ALL=C sort | od -An -c | tr -s ' \n' ' ')" \
        "$(printf '%s\n' qemu-aarch64$'\t' qemu-riscv64$'\x9b\xff' register status | LC_ALL=C sort | od -An -c | tr -s ' \n' ' ')"

    # --- 2-5: they count as conflicts ---
    bf --install arm64
    t_is "install arm64 beside qemu-aarch64<TAB>: exit 4 (conflict)" "$RC" 4
    t_like "the conflict names the entry, escaped" "$ERR" 'CONFLICT: .*qemu-aarch64\\x09'
    bf --install riscv64
    t_like "install riscv64 beside the 0x9b 0xff entry: conflict naming it escaped" "$RC|$ERR" \
        '^4\|.*CONFLICT: .*qemu-riscv64\\x9b\\xff'
    t_is "no raw control or non-ASCII byte on the terminal from either install" \
        "$(raw_controls "$(bf --install arm64; echo "$OUT$ERR"; bf --install riscv64; echo "$OUT$ERR")")" ""

    # --- 6-11: the JSON names them, valid UTF-8, no key dropped ---
    bf
    t_is "status: exit 0" "$RC" 0
    t_is "status: both odd names in emulators, escaped" \
        "$(json_field 'sorted(d["emulators"])' <<<"$OUT" 2>&1)" \
        "['qemu-aarch64\\\\x09', 'qemu-riscv64\\\\x9b\\\\xff']"
    bf --inspect
    t_is "--inspect: exit 0" "$RC" 0
    t_is "--inspect arm64: entry named (escaped), every key present" \
        "$(json_field '[(p["entry"], sorted(p)) for p in d["platforms"] if p["platform"] == "linux/arm64"][0]' \
            <<<"$OUT" 2>&1)" \
        "('qemu-aarch64\\\\x09', ['entry', 'flags', 'interpreter', 'ms', 'platform', 'qemu_version', 'reason', 'status', 'supported'])"
    t_is "--inspect riscv64: entry and interpreter present, escaped, valid UTF-8" \
        "$(json_field '[(p["entry"], p["interpreter"]) for p in d["platforms"] if p["platform"] == "linux/riscv64"][0]' \
            <<<"$OUT" 2>&1)" \
        "('qemu-riscv64\\\\x9b\\\\xff', '$WORK/d\\\\x9b\\\\xff\\\\x1b[31m/qemu-riscv64-static')"
    t_is "--inspect: no raw control or non-ASCII byte in its output" "$(raw_controls "$OUT$ERR")" ""

    # --- 12-14: --uninstall all removes them ---
    bf --uninstall all
    t_is "--uninstall all: exit 0" "$RC" 0
    t_is "--uninstall all: both odd entries gone" "$(ls "$BM" | paste -sd' ' -)" "register status"
    t_is "--uninstall all: no raw control or non-ASCII byte on the terminal" "$(raw_controls "$OUT$ERR")" ""

    # --- 15: then arm64 installs without a conflict ---
    bf --install arm64
    t_is "install arm64 after that: exit 0, registered" "$RC|$(ls "$BM" | paste -sd' ' -)" \
        "0|qemu-aarch64 register status"
}
export -f checks
in_private_binfmt checks

# Names given on the command line reach the terminal escaped too (issue 17: the
# usage-error printers were separate copies that wrote them raw).
run "$BINFMT" --install $'arm\x1b[31m64\x9b'
t_is "a usage error naming an argument with ESC and CSI: exit 2, no raw control byte" \
    "$RC|$(raw_controls "$ERR")" "2|"
t_like "...the argument shown as \\xNN" "$ERR" "^binfmt: --install: unknown architecture 'arm\\\\x1b\\[31m64\\\\x9b'"
# From BUILD, not beside BINFMT: valgrind-check's BINFMT is a wrapper in $BUILD/valgrind.
case ${BUILD:-build} in
/*) EMU_RUN=$BUILD/bin/emu-run ;;
*) EMU_RUN=$ROOT/${BUILD:-build}/bin/emu-run ;;
esac
run "$EMU_RUN" --arch $'arm\x1b[31m64' -- true
t_is "emu-run's usage error too: exit 125, no raw control byte, shown as \\xNN" \
    "$RC|$(raw_controls "$ERR")|${ERR%%;*}" "125||emu-run: unknown architecture 'arm\\x1b[31m64'"
run "$EMU_RUN" --arch arm64 --rootfs "$ODD_DIR/missing" -- true
t_is "...and its errors naming a path with them: exit 125, no raw control byte" \
    "$RC|$(raw_controls "$ERR")" "125|"

t_is "host registry unchanged" "$(host_listing)" "$host_before"
