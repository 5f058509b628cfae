#!/bin/bash
# emu-run's -e and --env-file through the real program: command-line order, a later
# value for a KEY replacing the earlier one at the position of its first occurrence
# (the base variables included), KEY alone passing emu-run's own value (dropped when
# unset), invalid lines naming the file and line; and a 100000-variable --env-file with
# repeated keys whose resulting environment is compared entry by entry with the one
# computed here by awk. Nothing here measures time.
# shellcheck disable=SC2016 # single-quoted steps are expanded by the foreign shell
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/helpers/emu-lib.sh
. "$ROOT/tests/helpers/emu-lib.sh"

emu_require
plan 9

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emu-run-80e.XXXXXX")
on_exit rm -rf "$WORK"
R=$WORK/root
emu_make_rootfs "$R" arm64 || bail_out "cannot build the arm64 rootfs"
A=(--arch arm64 --rootfs "$R")

# --- order and replacement ------------------------------------------------------------
# Order is checked natively: QEMU 7.2 (Debian 12's qemu-user-static) hands a foreign
# program its environment in reverse order, whatever emu-run passed. The root for
# that: the host's /usr bound read-only, with the merged-/usr links.
printf '%s\n' '# comment' '' 'B=file' '  C=from file' 'PATH=/file/bin:/bin' 'EMU_T_HOST' 'EMU_T_NONE' >"$WORK/a.env"
unset EMU_T_NONE
ENV_ARGS=(-e A=1 -e B=1 --env-file "$WORK/a.env" -e A=2 -e EMU_T_NONE=kept -e EMU_T_NONE --cpu max)
if [[ $(uname -m) == x86_64 && -d /usr/bin && -L /bin ]]; then
    N=$WORK/native-root
    mkdir -p "$N/usr" && ln -s usr/bin "$N/bin" && ln -s usr/lib "$N/lib" && ln -s usr/lib64 "$N/lib64"
    EMU_T_HOST=host-value emu --arch amd64 --rootfs "$N" --bind /usr:/usr:ro "${ENV_ARGS[@]}" -- env
    t_is "order: base (PATH replaced in place), then -e/--env-file by first occurrence with the last value; --cpu adds nothing (native: no QEMU)" \
        "$(grep -v '^\(HOME\|TARGET\|BUILD\)' <<<"$OUT" | paste -sd'|')|$RC" \
        "PATH=/file/bin:/bin|A=2|B=file|C=from file|EMU_T_HOST=host-value|EMU_T_NONE=kept|0"
    t_is "...and the base variables keep their places" "$(cut -d= -f1 <<<"$OUT" | paste -sd' ')" \
        "PATH HOME TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT A B C EMU_T_HOST EMU_T_NONE"
else
    skip "order is checked natively, on x86_64 with a merged /usr" 2
fi
EMU_T_HOST=host-value emu "${A[@]}" "${ENV_ARGS[@]}" -- env
t_is "the same in an arm64 RUN step (as a set: QEMU may reorder); --cpu max goes on QEMU's command line, not here" \
    "$(grep -v '^\(HOME\|TARGET\|BUILD\)' <<<"$OUT" | sort | paste -sd'|')|$RC" \
    "A=2|B=file|C=from file|EMU_T_HOST=host-value|EMU_T_NONE=kept|PATH=/file/bin:/bin|0"

# --- errors -----------------------------------------------------------------------------
printf '%s\n' 'A=1' '# x' '' 'NOT VALID=1' >"$WORK/bad.env"
emu "${A[@]}" --env-file "$WORK/bad.env" -- true
t_is "an invalid line: 125, naming the file and the line" "$RC|$ERR" \
    "125|emu-run: --env-file $WORK/bad.env line 4: invalid variable 'NOT VALID=1'
Try 'emu-run --help' for more information."
printf 'A=1\n=nokey\n' >"$WORK/bad2.env"
emu "${A[@]}" --env-file "$WORK/bad2.env" -- true
t_like "an empty key is invalid too" "$RC|$ERR" "^125\|.*bad2\.env line 2: invalid variable '=nokey'"
emu "${A[@]}" --env-file "$WORK/none.env" -- true
t_like "a missing file: 125" "$RC|$ERR" "^125\|emu-run: --env-file $WORK/none\.env: No such file or directory"

# --- 100000 variables with repeated keys --------------------------------------------
# Every variable, then every 7th again (newest first), PATH half-way, then 500 new
# ones and V0 once more. The expected environment, by awk in one pass with a hash.
awk 'BEGIN {
    n = 100000
    for (i = 0; i < n; i++) print "V" i "=a" i
    for (i = n - 1; i >= 0; i -= 7) { print "V" i "=b" i; if (i <= 50000 && !p) { print "PATH=/mid:/usr/bin:/bin"; p = 1 } }
    for (j = 0; j < 500; j++) print "W" j "=c" j
    print "V0=z"
}' >"$WORK/big.env"
expected() {
    awk -F= '{ k = $1; v = substr($0, length(k) + 2)
               if (!(k in val)) order[++n] = k
               val[k] = v }
         END { for (i = 1; i <= n; i++) print order[i] "=" val[order[i]] }' "$@"
}
t_is "the generated file has 100000 distinct keys plus 500 and PATH, and repeats" \
    "$(wc -l <"$WORK/big.env")|$(expected "$WORK/big.env" | wc -l)" "114788|100501"
# Natively (amd64 on this x86-64 host, no QEMU) and without --rootfs: the step is the
# host's env(1), whose environment is emu-run's own (just PATH) plus the file's. The
# stack limit is raised so that 1.6 MB of environment fits in the exec. (Not under
# QEMU: qemu-user's own environment handling takes half a minute for 100000.)
if [[ $(uname -m) == x86_64 ]]; then
    OUT=$(ulimit -s 65536 && env -i PATH=/usr/bin:/bin "$EMU" --arch amd64 --env-file "$WORK/big.env" -- /usr/bin/env)
    RC=$?
    t_is "100000 variables natively: exit 0" "$RC" 0
    { echo "PATH=/usr/bin:/bin"; cat "$WORK/big.env"; } >"$WORK/big.all"
    if [[ $OUT == "$(expected "$WORK/big.all")" ]]; then t_pass "...every variable in place with its last value"; else
        t_fail "...every variable in place with its last value"
        diag "$(diff <(expected "$WORK/big.all") <(printf '%s\n' "$OUT") | head -10)"
    fi
else
    skip "not an x86_64 host" 2
fi
