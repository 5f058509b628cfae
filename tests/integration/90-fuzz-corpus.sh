#!/bin/bash
# Replays every committed fuzz corpus (tests/fuzz/corpus/<target>: seeds and the
# regress-* reproducers of past findings) through the fuzz targets built as plain
# programs (fuzz-replay-<target>, make unit), so make check and the SANITIZE and
# valgrind runs re-check every finding without libFuzzer. Then checks the fuzzers'
# kernel model (tests/fuzz/kmodel.c) against the real kernel: every register
# corpus input, raw and as binfmt formats it, written to a private instance must
# get the model's answer and, when registered, the model's entry file.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BUILD_DIR=$(dirname "$(dirname "$BINFMT")")
CORPUS=$ROOT/tests/fuzz/corpus
TARGETS="register entry platform cli elf emu emucli image" # every FUZZ_TARGETS of the Makefile
for t in $TARGETS; do
    [[ -x $BUILD_DIR/tests/fuzz-replay-$t ]] || skip_all "fuzz-replay-$t not built (make unit)"
done
plan 10

for t in $TARGETS; do
    n=$(find "$CORPUS/$t" -type f | wc -l)
    out=$("$BUILD_DIR/tests/fuzz-replay-$t" "$CORPUS/$t" 2>&1 >/dev/null)
    rc=$?
    if ((rc == 0)); then
        t_pass "corpus $t: $n inputs replay cleanly ($(find "$CORPUS/$t" -name 'regress-*' | wc -l) reproducers)"
    else
        t_fail "corpus $t: replay failed (exit $rc)"
        diag "$(grep -v -e '^binfmt: ' -e "^Try 'binfmt" -e 'unrecognized option' -e 'invalid option' \
            -e 'requires an argument' -e "doesn't allow an argument" -e 'is ambiguous' <<<"$out" | tail -40)"
    fi
done

t_ok "every regression reproducer is committed next to the seeds" \
    test "$(find "$CORPUS" -name 'regress-*' | wc -l)" -ge 5

kernel_check() {
    FUZZ_KERNEL_BINFMT=$BM "$BUILD_DIR/tests/fuzz-replay-register" "$CORPUS/register" >/dev/null
}
export -f kernel_check
export BUILD_DIR CORPUS
if in_private_binfmt true 2>/dev/null; then
    out=$(in_private_binfmt kernel_check 2>&1)
    rc=$?
    t_is "the kernel model agrees with the kernel on every register corpus input" "$rc" 0 || diag "$out"
else
    skip "no private binfmt_misc instance here"
fi
