# shellcheck shell=bash
# Tiny TAP library for the integration tests. Source it, do not run it:
#
#   . "$(dirname "$0")/lib.sh"
#   require_private_binfmt            # skip everything when private instances are impossible
#   plan 3
#   t_ok   "registers"   in_private_binfmt sh -c 'echo ":x:E::x::/bin/true:" >"$BM/register"'
#   t_is   "version"     "$("$BINFMT" --version)" "binfmt 0.1.0"
#   t_like "lists"       "$out" '^qemu-aarch64'
#
# Reporting:  plan N | t_ok DESC CMD... | t_nok DESC CMD... | t_is DESC GOT EXPECTED |
#             t_isnt DESC GOT UNEXPECTED | t_like DESC GOT ERE | t_unlike DESC GOT ERE |
#             t_pass DESC | t_fail DESC | skip REASON [COUNT] | skip_all REASON |
#             bail_out REASON | diag TEXT... (stderr) | note TEXT... (stdout) | done_testing
# Environment: ROOT (repo), BINFMT, FIXTURES, BUSYBOX_<arch> via busybox_path ARCH.
# Isolation:  in_private_binfmt CMD... runs CMD with $BM = a fresh, empty binfmt_misc
#             instance (new user + mount namespace); require_private_binfmt skips the
#             script when that is not possible (kernel < 6.7, user namespaces off).
# Cleanup:    on_exit CMD... registers a command run when the script exits.
#
# Assertions return 1 on failure (so `t_ok ... || bail_out ...` works): do not use
# `set -e` in test scripts, or the first failure ends the script. Do not wrap a
# function that itself reports test points in t_ok (its TAP lines would be captured);
# call it directly, e.g. `in_private_binfmt my_checks`.
#
# Counters live in a state file, so test points reported from subshells and from
# in_private_binfmt children are numbered and counted correctly. The script exits
# non-zero when any test failed or the plan was not met.

[[ -n ${_TAP_LIB_LOADED:-} && ${_TAP_PID:-} == "$$" ]] && return 0
_TAP_LIB_LOADED=1

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# As tests/run does: BUILD (relative to ROOT, or absolute) names the build to test,
# so `BUILD=build-x bash tests/integration/X.sh` runs build-x's programs.
case ${BUILD:-build} in
/*) BINFMT=${BINFMT:-$BUILD/bin/binfmt} ;;
*) BINFMT=${BINFMT:-$ROOT/${BUILD:-build}/bin/binfmt} ;;
esac
FIXTURES=${BINFMT_TEST_CACHE:-/var/cache/binfmt-installer-tests}
export ROOT BINFMT FIXTURES

# --- state ------------------------------------------------------------------

if [[ -z ${_TAP_STATE:-} || ! -f ${_TAP_STATE:-} ]]; then
    _TAP_STATE=$(mktemp "${TMPDIR:-/tmp}/tap-state.XXXXXX")
    _TAP_PID=$$
    printf '0 0 -1\n' >"$_TAP_STATE" # run failed planned
    export _TAP_STATE _TAP_PID
fi
_TAP_CLEANUPS=()

_tap_get() { read -r _tap_run _tap_failed _tap_planned <"$_TAP_STATE"; }
_tap_put() { printf '%s %s %s\n' "$_tap_run" "$_tap_failed" "$_tap_planned" >"$_TAP_STATE"; }

# _tap_result OK(0|1) DESC [DIRECTIVE]
_tap_result() {
    local status=$1 desc=$2 directive=${3:-}
    desc=${desc//$'\n'/ }
    desc=${desc//\#/\\#}
    _tap_get
    _tap_run=$((_tap_run + 1))
    local word=ok
    if ((status != 0)); then
        word="not ok"
        _tap_failed=$((_tap_failed + 1))
    fi
    printf '%s %d%s%s\n' "$word" "$_tap_run" "${desc:+ - $desc}" "${directive:+ # $directive}"
    _tap_put
    return "$status"
}

# --- output -----------------------------------------------------------------

# diag/note TEXT...: each argument (and each line in it) becomes a "# " line.
_tap_comment() { local a l; for a in "$@"; do while IFS= read -r l; do printf '# %s\n' "$l"; done <<<"$a"; done; }
diag() { _tap_comment "$@" >&2; }
note() { _tap_comment "$@"; }

plan() {
    _tap_get
    _tap_planned=$1
    _tap_put
    printf '1..%d\n' "$1"
}

done_testing() {
    _tap_get
    if ((_tap_planned < 0)); then
        _tap_planned=$_tap_run
        _tap_put
        printf '1..%d\n' "$_tap_run"
    fi
}

skip_all() {
    printf '1..0 # SKIP %s\n' "${1:-}"
    _tap_get
    _tap_planned=0
    _tap_put
    exit 0
}

bail_out() {
    printf 'Bail out! %s\n' "${1:-}"
    exit 255
}

# --- assertions -------------------------------------------------------------

t_pass() { _tap_result 0 "$1"; }
t_fail() { _tap_result 1 "$1"; }

# skip REASON [COUNT]
skip() {
    local i
    for ((i = 0; i < ${2:-1}; i++)); do _tap_result 0 "" "SKIP ${1:-}"; done
}

# t_ok DESC CMD [ARGS...]: passes when CMD exits 0; output is shown only on failure.
t_ok() {
    local desc=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then
        _tap_result 0 "$desc"
    else
        _tap_result 1 "$desc" || true
        diag "command: $*" "exit status: $rc"
        [[ -z $out ]] || diag "output:" "$out"
        return 1
    fi
}

# t_nok DESC CMD [ARGS...]: passes when CMD exits non-zero.
t_nok() {
    local desc=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc != 0)); then
        _tap_result 0 "$desc"
    else
        _tap_result 1 "$desc" || true
        diag "command unexpectedly succeeded: $*"
        [[ -z $out ]] || diag "output:" "$out"
        return 1
    fi
}

t_is() {
    if [[ $2 == "$3" ]]; then
        _tap_result 0 "$1"
    else
        _tap_result 1 "$1" || true
        diag "     got: '$2'" "expected: '$3'"
        return 1
    fi
}

t_isnt() {
    if [[ $2 != "$3" ]]; then
        _tap_result 0 "$1"
    else
        _tap_result 1 "$1" || true
        diag "     got: '$2'" "expected anything else"
        return 1
    fi
}

t_like() {
    if [[ $2 =~ $3 ]]; then
        _tap_result 0 "$1"
    else
        _tap_result 1 "$1" || true
        diag "                  '$2'" "doesn't match '$3'"
        return 1
    fi
}

t_unlike() {
    if ! [[ $2 =~ $3 ]]; then
        _tap_result 0 "$1"
    else
        _tap_result 1 "$1" || true
        diag "                  '$2'" "      matches '$3'"
        return 1
    fi
}

# --- fixtures ---------------------------------------------------------------

# busybox_path ARCH: the cached foreign busybox (tests/fixtures/fetch.sh) or fail.
busybox_path() {
    local p=$FIXTURES/busybox/$1/busybox
    [[ -x $p ]] || { echo "busybox for $1 not cached at $p (run tests/fixtures/fetch.sh)" >&2; return 1; }
    printf '%s\n' "$p"
}

# --- private binfmt_misc instances --------------------------------------------

# Runs inside the new namespaces: mount a fresh instance at $BM, refuse to go on
# unless it is empty (i.e. certainly not the host's), run the command, unmount.
_binfmt_private_inner() {
    local rc=0 extra
    BM=$(mktemp -d "${TMPDIR:-/tmp}/binfmt-private.XXXXXX") || return 125
    if ! mount -t binfmt_misc binfmt_misc "$BM"; then
        rmdir "$BM"
        echo "in_private_binfmt: cannot mount binfmt_misc inside a user namespace" \
            "(needs Linux >= 6.7; running $(uname -r))" >&2
        return 125
    fi
    local f
    extra=""
    for f in "$BM"/* "$BM"/.[!.]*; do
        [[ -e $f ]] || continue
        case ${f##*/} in register | status) ;; *) extra+="${f##*/} " ;; esac
    done
    if [[ ! -e $BM/register || -n $extra ]]; then
        echo "in_private_binfmt: $BM is not a fresh private instance (entries: ${extra:-no register file}); refusing" >&2
        umount "$BM" 2>/dev/null || true
        rmdir "$BM" 2>/dev/null || true
        return 125
    fi
    export BM
    "$@" || rc=$?
    umount "$BM" 2>/dev/null || umount -l "$BM" 2>/dev/null || true
    rmdir "$BM" 2>/dev/null || true
    return "$rc"
}

# in_private_binfmt CMD [ARGS...]: CMD may be a program or a shell function defined
# in the test script (all functions are passed on; variables must be exported).
# Exit status is CMD's, or 125 when the private instance could not be set up.
in_private_binfmt() {
    command -v unshare >/dev/null 2>&1 || { echo "in_private_binfmt: unshare(1) not found" >&2; return 125; }
    unshare --user --map-root-user --mount --propagation private -- \
        bash -c "$(declare -f); _binfmt_private_inner \"\$@\"" in_private_binfmt "$@"
}

# require_private_binfmt: skip the whole script unless in_private_binfmt works here.
require_private_binfmt() {
    local err
    if ! err=$(in_private_binfmt true 2>&1); then
        err=${err//$'\n'/; }
        skip_all "private binfmt_misc instance unavailable on $(uname -r) (needs Linux >= 6.7 and user namespaces): ${err:-unknown error}"
    fi
}

# --- exit handling ------------------------------------------------------------

on_exit() { _TAP_CLEANUPS+=("$(printf '%q ' "$@")"); }

_tap_exit() {
    local rc=$? c
    # Only the process that created the state cleans up, reports and removes it.
    [[ $$ == "$_TAP_PID" && $BASHPID == "$_TAP_PID" ]] || return "$rc"
    for c in "${_TAP_CLEANUPS[@]}"; do eval "$c" || true; done
    _tap_get
    rm -f "$_TAP_STATE"
    if ((rc == 0)); then
        if ((_tap_planned >= 0 && _tap_planned != _tap_run)); then
            diag "planned $_tap_planned tests but ran $_tap_run"
            rc=255
        elif ((_tap_failed > 0)); then
            diag "failed $_tap_failed of $_tap_run tests"
            rc=$((_tap_failed > 254 ? 254 : _tap_failed))
        elif ((_tap_planned < 0)); then
            diag "no plan (call plan N or done_testing)"
            rc=255
        fi
    fi
    exit "$rc"
}
trap _tap_exit EXIT

# in_binfmt_env CMD...: run CMD the way $BINFMT runs: under $BINFMT_WRAPPER when the
# suite runs binfmt through one (make valgrind-check: valgrind, whose synthetic CPUID
# is not the host's), directly otherwise. Expectations that depend on the machine
# (the CPU levels binfmt reports) come from helpers run through this, never from
# the test shell's own view (issue 11). Sanitized builds need nothing here: their
# helpers are built with the same runtime as binfmt.
in_binfmt_env() { ${BINFMT_WRAPPER:+"$BINFMT_WRAPPER"} "$@"; }
if [[ -n ${BINFMT_VALGRIND:-} && -z ${BINFMT_WRAPPER:-} ]]; then
    echo "Bail out! BINFMT_VALGRIND is set but BINFMT_WRAPPER is not: expectations would come from the wrong CPU view (make valgrind-check sets both)"
    exit 255
fi

# cpuinfo_amd64_levels: the levels from the kernel's /proc/cpuinfo (the native view,
# independent of binfmt's CPUID code), for the cross-check in 70-detect.sh and for
# programs that run natively whatever wraps binfmt (its probe children).
cpuinfo_amd64_levels() {
    [[ $(uname -m) == x86_64 ]] || return 0
    local flags out=""
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    _has() { local x; for x; do [[ $flags == *" $x "* ]] || return 1; done; }
    # The kernel hides avx when the OS does not enable its state (XCR0).
    _has pni ssse3 sse4_1 sse4_2 popcnt cx16 lahf_lm && out="linux/amd64/v2" &&
        _has avx avx2 bmi1 bmi2 f16c fma abm movbe xsave && out+=" linux/amd64/v3" &&
        _has avx512f avx512bw avx512cd avx512dq avx512vl && out+=" linux/amd64/v4"
    printf '%s' "$out"
}

# What binfmt itself sees of this machine's own code, from the $BUILD/tests/cpu-view
# helper (its own CPUID code, libgcc's, and a real i386 exec in an empty binfmt_misc
# instance) run in binfmt's environment (in_binfmt_env):
#   AMD64_LEVELS       the x86-64 levels beyond v1 ("linux/amd64/v2 linux/amd64/v3";
#                      empty on other machines or v1 CPUs)
#   I386_NATIVE        "linux/386" when 32-bit x86 code runs without an emulator, else ""
#   NATIVE_PLATFORMS   "linux/amd64 $AMD64_LEVELS" on x86-64: the head of every
#                      "supported" list (linux/386 goes in BuildKit's order, after s390x)
# Without the helper the suite cannot know, and says so (Bail out).
case ${BUILD:-build} in
/*) CPU_VIEW=${CPU_VIEW:-$BUILD/tests/cpu-view} ;;
*) CPU_VIEW=${CPU_VIEW:-$ROOT/${BUILD:-build}/tests/cpu-view} ;;
esac
# Computed once per suite environment (scripts re-run lib.sh in namespace children).
if [[ ${_CPU_VIEW_FOR:-} != "${BINFMT_WRAPPER:-}|$CPU_VIEW" ]]; then
    _cv=$(in_binfmt_env "$CPU_VIEW") || {
        echo "Bail out! ${BINFMT_WRAPPER:+$BINFMT_WRAPPER }$CPU_VIEW failed (make unit builds it): what binfmt should report as native is unknown"
        exit 255
    }
    AMD64_LEVELS=$(sed -n 's/^levels: *//p' <<<"$_cv")
    I386_NATIVE=""
    [[ $(sed -n 's/^i386: *//p' <<<"$_cv") == native ]] && I386_NATIVE=linux/386
    CPU_VIEW_REPORT=$(paste -sd';' <<<"$_cv")
    unset _cv
    _CPU_VIEW_FOR="${BINFMT_WRAPPER:-}|$CPU_VIEW"
    export _CPU_VIEW_FOR AMD64_LEVELS I386_NATIVE CPU_VIEW_REPORT
fi
NATIVE_PLATFORMS=""
[[ $(uname -m) == x86_64 ]] && NATIVE_PLATFORMS="linux/amd64${AMD64_LEVELS:+ $AMD64_LEVELS}"
export NATIVE_PLATFORMS

# Every QEMU linux-user target binfmt knows (targets.c order), written out here,
# not asked of binfmt, so that a target binfmt forgets is a failure.
QEMU_CPUS="i386 i486 x86_64 alpha arm armeb sparc sparc32plus sparc64 ppc ppc64 ppc64le m68k
mips mipsel mipsn32 mipsn32el mips64 mips64el sh4 sh4eb s390x aarch64 aarch64_be hppa riscv32
riscv64 xtensa xtensaeb microblaze microblazeel or1k hexagon loongarch64"
export QEMU_CPUS

# expected_install_all [DIR]: the entries "binfmt --install all" registers on this
# x86-64 machine with the emulators of DIR (default /usr/bin), sorted, one line: one
# qemu-CPU per qemu-CPU-static there, less what runs natively (x86_64; i386 and
# i486 where 32-bit code runs, I386_NATIVE). Computed from the list above and the
# machine, never from binfmt's own --dry-run (issue 17: that checked binfmt
# against itself, so a target dropped from both passed).
expected_install_all() {
    local dir=${1:-/usr/bin} cpu native="x86_64" out=""
    [[ -n $I386_NATIVE ]] && native="i386 i486 x86_64"
    for cpu in $QEMU_CPUS; do
        [[ " $native " == *" $cpu "* ]] && continue
        [[ -x $dir/qemu-$cpu-static ]] && out+="qemu-$cpu"$'\n'
    done
    printf '%s' "$out" | LC_ALL=C sort | paste -sd' ' -
}
export -f expected_install_all

# status_json "SUPPORTED..." "EMULATORS...": binfmt's status JSON for these two lists
# (space-separated, in order), byte for byte as binfmt prints it (jansson, indent 2),
# for golden comparisons whose machine-dependent part (what runs natively) comes
# from the lists above and the rest stays exact.
_json_list() {
    (($#)) || { printf '[]'; return; }
    local x sep=""
    printf '['
    for x; do printf '%s\n    "%s"' "$sep" "$x"; sep=,; done
    printf '\n  ]'
}
# shellcheck disable=SC2086 # the lists are space-separated on purpose
status_json() {
    printf '{\n  "supported": %s,\n  "emulators": %s\n}' "$(_json_list $1)" "$(_json_list $2)"
}

# --- shared helpers for tests of binfmt ----------------------------------------
# The host's registry, to compare before and after a script: mounted or not, and
# every entry's text. Tests never change it (private instances do the work).
HOST_BM=/proc/sys/fs/binfmt_misc
host_listing() {
    local f
    if mountpoint -q "$HOST_BM" 2>/dev/null; then echo "mounted"; else echo "not mounted"; fi
    [[ -d $HOST_BM ]] || { echo "no $HOST_BM"; return 0; }
    for f in "$HOST_BM"/* "$HOST_BM"/.[!.]*; do
        [[ -e $f ]] || continue
        echo "== ${f##*/}"
        [[ ${f##*/} == register ]] || cat "$f" 2>&1
    done
}

# run CMD...: sets OUT (stdout), ERR (stderr minus binfmt's user-namespace note)
# and RC, for checking each separately.
run() {
    local ef
    ef=$(mktemp "${TMPDIR:-/tmp}/binfmt-err.XXXXXX")
    OUT=$("$@" 2>"$ef")
    RC=$?
    # -a: a message with bytes that are not UTF-8 is text still, never "binary file matches".
    ERR=$(grep -av '^binfmt: note: these registrations are private to this user namespace' "$ef")
    rm -f "$ef"
}

# Inside a private instance ($BM): bf ARGS... runs binfmt on it (sets OUT ERR RC);
# listing: its file names on one line; snapshot: every entry's name and text
# (register excluded: write-only), to compare before and after.
bf() { run "$BINFMT" --mount "$BM" "$@"; }
listing() { ls "$BM" | paste -sd' ' -; }
snapshot() {
    local f
    for f in "$BM"/*; do
        [[ ${f##*/} == register ]] && continue
        printf '== %s\n%s\n' "${f##*/}" "$(cat "$f")"
    done
}
