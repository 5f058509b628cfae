#!/bin/bash
# Tests the test runner itself (tests/run, issue 17): a suite must not pass by not
# testing. Fake TAP scripts in a temporary directory: one passes, one skips whole
# (its `plan 7` is counted as 7 points not run), one skips 2 of its 3 points. The
# final line counts all of that; every skip is listed with its reason; a skip in a
# test that the must-run list says must run on this machine fails the run, with
# the reason; a test file with no plan and no points fails.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

plan 9

WORK=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-runner.XXXXXX")
on_exit rm -rf "$WORK"
cat >"$WORK/a-pass.sh" <<EOF2
#!/bin/bash
. "$ROOT/tests/integration/lib.sh"
plan 2
t_is one 1 1
t_is two 2 2
EOF2
cat >"$WORK/b-skip-all.sh" <<EOF2
#!/bin/bash
. "$ROOT/tests/integration/lib.sh"
skip_all "no widget here"
plan 7
EOF2
cat >"$WORK/c-skip-two.sh" <<EOF2
#!/bin/bash
. "$ROOT/tests/integration/lib.sh"
plan 3
t_is three 3 3
skip "no gadget" 2
EOF2
printf '#!/bin/bash\necho "# nothing at all"\n' >"$WORK/d-no-plan.sh"
chmod +x "$WORK"/*.sh
: >"$WORK/none"
printf '%s\n' '# test' "*/b-skip-all.sh always" "*/c-skip-two.sh never-holds-here root" >"$WORK/must-b"
# The condition "root" alone does not make c must-run here unless all hold: the
# unknown one never does (and is reported).

runner() { # MUSTRUN TESTS...
    local m=$1
    shift
    OUT=$(TESTS_MUST_RUN=$m "$ROOT/tests/run" "$@" 2>&1)
    RC=$?
}

runner "$WORK/none" "$WORK/a-pass.sh" "$WORK/b-skip-all.sh" "$WORK/c-skip-two.sh"
t_is "passes, skips and points not run: the final line" "$RC|$(tail -1 <<<"$OUT")" \
    "0|3 passed, 0 failed, 3 skipped (9 test points not run)"
t_like "...the whole-file skip listed with its reason" "$OUT" "skipped: $WORK/b-skip-all.sh: no widget here"
t_is "...each skipped point listed" "$(grep -c "skipped: $WORK/c-skip-two.sh: ok [23]: no gadget" <<<"$OUT")" 2

runner "$WORK/must-b" "$WORK/a-pass.sh" "$WORK/b-skip-all.sh" "$WORK/c-skip-two.sh"
t_is "a must-run test that skips fails the run" "$RC|$(tail -1 <<<"$OUT")" \
    "1|3 passed, 1 failed, 3 skipped (9 test points not run)"
t_like "...naming the test, the conditions and the reason" "$OUT" \
    "tests/run: $WORK/b-skip-all.sh must run on this machine \\(tests/must-run: always hold\\) but skipped 1:.*no widget here"
t_unlike "...not the test whose conditions do not all hold here" "$OUT" "c-skip-two.sh must run"
t_like "...an unknown condition is reported" "$OUT" "unknown condition 'never-holds-here'"

runner "$WORK/none" "$WORK/a-pass.sh" "$WORK/d-no-plan.sh"
t_is "a test with no plan and no points fails" "$RC|$(tail -1 <<<"$OUT")" "1|2 passed, 1 failed"

runner "$WORK/none" "$WORK/b-skip-all.sh"
t_is "only skips: no test point ran, the run fails" "$RC|$(tail -1 <<<"$OUT")" \
    "1|0 passed, 0 failed, 1 skipped (7 test points not run)"
