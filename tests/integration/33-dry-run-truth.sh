#!/bin/bash
# The dry run tells the truth (issue 20, item 7): an entry whose register string
# cannot be formatted (a newline in the emulators' path; a QEMU_BINARY_PREFIX and
# path that together hold every delimiter) fails the plan, so --dry-run, the real
# run and --export all fail the same way up front: exit 2, the same one line,
# nothing registered or written. Private binfmt_misc instance; host checked untouched.
# shellcheck disable=SC2016 # single-quoted code runs in the private instance, on purpose
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_private_binfmt
[[ -x /usr/bin/qemu-aarch64-static ]] || skip_all "Debian's qemu-user-static is not installed"
plan 11

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-33-dry-run.XXXXXX")
on_exit rm -rf "$WORK"
export NL=$'\n' WORK
export NLDIR="$WORK/nl${NL}dir" SEMI="$WORK/semi;colon" PREFIX=':|!@%,=+~^#'
mkdir -p "$NLDIR" "$SEMI" "$WORK/out"
cp /usr/bin/qemu-aarch64-static "$NLDIR/qemu-aarch64"
cp /usr/bin/qemu-aarch64-static "$SEMI/${PREFIX}qemu-aarch64"

host_before=$(host_listing)

# same DESC ERE ARGS...: the dry run and the real run of binfmt ARGS... agree
# (exit 2, one line matching ERE plus nothing else), registry unchanged. 3 points.
same() {
    local desc=$1 ere=$2 before dry
    shift 2
    before=$(snapshot)
    run "$@" --dry-run
    dry="$RC|$OUT|$ERR"
    t_like "$desc: --dry-run exits 2 with one line naming the problem" "$dry" "^2\\|\\|binfmt: [^$NL]*($ere)[^$NL]*\$"
    run "$@"
    t_is "$desc: the real run says and does exactly the same" "$RC|$OUT|$ERR" "$dry"
    t_is "$desc: registry unchanged" "$(snapshot)" "$before"
}

checks() {
    printf '%s' ':WSLInterop:E::wsl::/bin/true:' >"$BM/register"
    same "emulator path with a newline" \
        "entry qemu-aarch64 cannot be registered: interpreter path $WORK/nl\\\\x0adir/qemu-aarch64 has a control character" \
        "$BINFMT" --mount "$BM" --qemu-path "$NLDIR" --install arm64
    same "install all from that path" "control character" \
        env QEMU_BINARY_PATH="$NLDIR" "$BINFMT" --mount "$BM" --install all
    same "prefix and path holding every delimiter" "every delimiter a register string can use" \
        env QEMU_BINARY_PREFIX="$PREFIX" "$BINFMT" --mount "$BM" --qemu-path "$SEMI" --install arm64
    run "$BINFMT" --qemu-path "$NLDIR" --install arm64 --export "$WORK/out"
    t_like "--export fails the same way, no file written" "$RC|$(ls "$WORK/out")|$ERR" \
        "^2\\|\\|binfmt: entry qemu-aarch64 cannot be registered: interpreter path [^$NL]* has a control character[^$NL]*\$"
}

in_private_binfmt checks
rc=$?
((rc != 125)) || t_fail "private binfmt_misc instance"
t_is "host $HOST_BM state identical before and after" "$(host_listing)" "$host_before"
